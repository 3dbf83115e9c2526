/*
 * test_flow.c: workflow files: defaults, parsing, every kind of error with
 * its message and exit code, --set overrides, the canonical form and its
 * round trip, the data-file check, the man page against the key table, and
 * the editor that saves a flow in place (jm_flow_edit): the same bytes for
 * an unchanged flow, one line for one key, a result that reads back.
 */
#include <criterion/criterion.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data/dataset.h"
#include "flowtest.h"
#include "testutil.h"


Test(flow, defaults_match_the_header)
{
	jm_flow *f = jm_flow_new();
	cr_assert_str_eq(f->data.source, "fashion-mnist");
	cr_assert_str_eq(f->data.dir, JM_FMNIST_DIR);
	cr_assert_str_eq(f->data.normalize, "standard");
	cr_assert_eq(f->data.limit, 0);
	cr_assert_eq(f->split.val, 0.1);
	cr_assert_eq(f->split.test, 0.15);
	cr_assert_eq(f->split.stratify, 1);
	cr_assert_str_eq(f->model.type, "mlp");
	cr_assert_eq(f->model.n_hidden, 2);
	cr_assert_eq(f->model.hidden[0], 256);
	cr_assert_eq(f->model.hidden[1], 128);
	cr_assert_str_eq(f->model.act, "relu");
	cr_assert_str_eq(f->model.norm, "none");
	cr_assert_str_eq(f->model.layers, "");
	cr_assert_eq(f->model.batchnorm, 1);
	cr_assert_eq(f->train.epochs, 5);
	cr_assert_eq(f->train.batch, 128);
	cr_assert_str_eq(f->train.optimizer, "adamw");
	cr_assert_eq(f->train.lr, 1e-3);
	cr_assert_eq(f->train.momentum, 0.9);
	cr_assert_eq(f->train.nesterov, 0);
	cr_assert_eq(f->train.beta1, 0.9);
	cr_assert_eq(f->train.beta2, 0.999);
	cr_assert_eq(f->train.eps, 1e-8);
	cr_assert_eq(f->train.weight_decay, 0);
	cr_assert_str_eq(f->train.schedule, "constant");
	cr_assert_eq(f->train.step_epochs, 10);
	cr_assert_eq(f->train.gamma, 0.1);
	cr_assert_eq(f->train.pct_start, 0.3);
	cr_assert_eq(f->train.clip, 0);
	cr_assert_str_eq(f->train.clip_mode, "fixed");
	cr_assert_eq(f->train.clip_percentile, 90);
	cr_assert_eq(f->train.clip_window, 200);
	cr_assert_eq(f->train.accumulate, 1);
	cr_assert_eq(f->train.patience, 0);
	cr_assert_str_eq(f->train.monitor, "val_acc");
	cr_assert_eq(f->train.log_every, 50);
	cr_assert_eq(f->train.checkpoint_every, 1);
	cr_assert_eq(f->train.threads, 1);
	cr_assert_str_eq(f->train.device, "auto");
	cr_assert_eq(f->train.seed, 1);
	cr_assert_str_eq(f->notify.url, "");
	cr_assert_eq(f->notify.timeout, 10);
	cr_assert_null(f->path);
	cr_assert_eq(jm_flow_line(f, "train.lr"), 0);
	cr_assert_eq(jm_flow_validate(f, NULL), 0);
	jm_flow_free(f);
	jm_flow_free(NULL);
}

Test(flow, key_table_is_consistent)
{
	jm_flow_keyinfo ki;
	int n = jm_flow_key_count();
	cr_assert_gt(n, 40);
	cr_assert_leq(n, JM_FLOW_MAX_KEYS);
	/* flow.c relies on these two leading the table */
	jm_flow_key_info(0, &ki);
	cr_assert_str_eq(ki.section, "data");
	cr_assert_str_eq(ki.key, "source");
	jm_flow_key_info(1, &ki);
	cr_assert_str_eq(ki.key, "dir");
	jm_flow *f = jm_flow_new();
	for (int i = 0; i < n; i++) {
		jm_flow_key_info(i, &ki);
		cr_assert(ki.help && *ki.help, "%s.%s has no help", ki.section, ki.key);
		/* each default, set explicitly, changes nothing */
		char set[256];
		snprintf(set, sizeof set, "%s.%s=%s", ki.section, ki.key, ki.def);
		jm_flow *g = jm_flow_dup(f);
		jm_err err = {0};
		cr_assert_eq(jm_flow_set(g, set, &err), 0, "%s: %s", set, err.msg);
		cr_assert(jm_flow_equal(f, g), "%s", set);
		jm_flow_free(g);
		for (int j = 0; j < i; j++) {
			jm_flow_keyinfo kj;
			jm_flow_key_info(j, &kj);
			cr_assert(strcmp(ki.section, kj.section) || strcmp(ki.key, kj.key),
				  "%s.%s twice", ki.section, ki.key);
		}
	}
	jm_flow_key_info(jm_flow_key_count() - 1, &ki);
	jm_flow_free(f);
}

Test(flow, keyinfo_describes_ranges_and_choices)
{
	jm_flow_keyinfo ki;
	int found = 0;
	for (int i = 0; i < jm_flow_key_count(); i++) {
		jm_flow_key_info(i, &ki);
		if (!strcmp(ki.key, "lr")) {
			cr_assert_str_eq(ki.range, "> 0");
			cr_assert_str_eq(ki.type, "number");
			found++;
		} else if (!strcmp(ki.section, "split") && !strcmp(ki.key, "val")) {
			cr_assert_str_eq(ki.range, "[0, 1)");
			found++;
		} else if (!strcmp(ki.key, "optimizer")) {
			cr_assert_str_eq(ki.choices, "adamw|adam|sgd");
			cr_assert_str_eq(ki.type, "choice");
			found++;
		}
	}
	cr_assert_eq(found, 3);
}

Test(flow, parses_values_of_every_type)
{
	jm_flow *f = parse_ok("; a comment\n"
			      "# another\n"
			      "[data]\n"
			      "limit = 1000\n"
			      "[split]\n"
			      "val = 0.2\n"
			      "stratify = no\n"
			      "[model]\n"
			      "type = MLP\n"
			      "hidden = 512, 256 64\n"
			      "dropout = 0.25\n"
			      "[train]\n"
			      "lr = 3e-4\n"
			      "optimizer = SGD\n"
			      "nesterov = on\n"
			      "device = cuda:1\n"
			      "[notify]\n"
			      "url = https://example.org/hook?a=b\n");
	cr_assert_eq(f->data.limit, 1000);
	cr_assert_eq(f->split.val, 0.2);
	cr_assert_eq(f->split.stratify, 0);
	cr_assert_str_eq(f->model.type, "mlp", "choices are stored as the table spells them");
	cr_assert_eq(f->model.n_hidden, 3);
	cr_assert_eq(f->model.hidden[2], 64);
	cr_assert_eq(f->model.dropout, 0.25);
	cr_assert_eq(f->train.lr, 3e-4);
	cr_assert_str_eq(f->train.optimizer, "sgd");
	cr_assert_eq(f->train.nesterov, 1);
	cr_assert_str_eq(f->train.device, "cuda:1");
	cr_assert_str_eq(f->notify.url, "https://example.org/hook?a=b");
	cr_assert_eq(jm_flow_line(f, "train.lr"), 13);
	cr_assert_eq(jm_flow_line(f, "data.limit"), 4);
	cr_assert_eq(jm_flow_line(f, "train.epochs"), 0);
	cr_assert_eq(jm_flow_line(f, "train.nope"), 0);
	char *v = jm_flow_get(f, "model.hidden");
	cr_assert_str_eq(v, "512,256,64");
	free(v);
	cr_assert_null(jm_flow_get(f, "model.nope"));
	jm_flow_free(f);
}

Test(flow, comments_blanks_indentation_bom_crlf)
{
	jm_flow *f = parse_ok("\xEF\xBB\xBF[train]\r\n"
			      "   epochs = 7   ; seven\r\n"
			      "\tlr = 0.01 # inline hash comment\r\n"
			      "\r\n"
			      "  ; indented comment\n"
			      "  [model]  ; a comment after a section\n"
			      "    layers = c8 p fc10\n"
			      "    type = cnn\n");
	cr_assert_eq(f->train.epochs, 7);
	cr_assert_eq(f->train.lr, 0.01);
	cr_assert_str_eq(f->model.layers, "c8 p fc10");
	cr_assert_eq(jm_flow_line(f, "model.type"), 8);
	jm_flow_free(f);
}

Test(flow, empty_text_and_empty_later_sections_are_fine)
{
	jm_flow *f = parse_ok("");
	jm_flow *d = jm_flow_new();
	cr_assert(jm_flow_equal(f, d));
	jm_flow_free(f);
	f = parse_ok("[clean]\n[features]\n; later\n[augment]\n[search]\n");
	cr_assert(jm_flow_equal(f, d));
	jm_flow_free(f);
	jm_flow_free(d);
}

/* ---- errors, each with its exact message ---- */

Test(flow, unknown_key_suggests_the_closest)
{
	assert_msg(parse_fail("[train]\n\nepochs = 3\n\n\n\nepoch = 4\n"),
		   "fmnist.flow:7: [train] unknown key \"epoch\" (did you mean \"epochs\"?)");
	assert_msg(parse_fail("[train]\nLR = 1\n"),
		   "fmnist.flow:2: [train] unknown key \"LR\" (did you mean \"lr\"?)");
	assert_msg(parse_fail("[train]\nweight_dacay = 1\n"),
		   "fmnist.flow:2: [train] unknown key \"weight_dacay\" (did you mean \"weight_decay\"?)");
	assert_msg(parse_fail("[train]\nzzzzzz = 1\n"),
		   "fmnist.flow:2: [train] unknown key \"zzzzzz\" (see jianmo-flow(5))");
	assert_msg(parse_fail("[train]\ndropout = 0.5\n"),
		   "fmnist.flow:2: [train] unknown key \"dropout\" (it belongs in [model])");
}

/* An integer past int64 names the top of the range, not only ">= 0": the
 * largest seed is 2^63 - 1, and 2^64 - 1 (a plausible uint64 seed) is not. */
Test(flow, integer_past_int64_says_the_range)
{
	assert_msg(parse_fail("[train]\nseed = 18446744073709551615\n"),
		   "fmnist.flow:2: [train] seed: expected an integer in [0, 9223372036854775807], "
		   "got \"18446744073709551615\"");
	assert_msg(parse_fail("[search]\nseed = 9223372036854775808\n"),
		   "fmnist.flow:2: [search] seed: expected an integer in [0, 9223372036854775807], "
		   "got \"9223372036854775808\"");
	assert_msg(parse_fail("[data]\nlimit = -99999999999999999999\n"),
		   "fmnist.flow:2: [data] limit: expected an integer in [0, 9223372036854775807], "
		   "got \"-99999999999999999999\"");
	/* within int64 the message is as before, and the top itself is a seed */
	assert_msg(parse_fail("[train]\nseed = -1\n"),
		   "fmnist.flow:2: [train] seed: expected an integer >= 0, got -1");
	jm_flow *f = parse_ok("[train]\nseed = 9223372036854775807\n");
	cr_expect_eq(f->train.seed, INT64_MAX);
	jm_flow_free(f);
}

Test(flow, unknown_section_suggests_the_closest)
{
	assert_msg(parse_fail("[trian]\n"),
		   "fmnist.flow:1: unknown section [trian] (did you mean [train]?)");
	assert_msg(parse_fail("[data]\n[modle]\ntype = mlp\n"),
		   "fmnist.flow:2: unknown section [modle] (did you mean [model]?)");
	assert_msg(parse_fail("[xyzzy-things]\n"),
		   "fmnist.flow:1: unknown section [xyzzy-things] (sections: data, clean, "
		   "features, augment, split, model, train, search, notify)");
}

Test(flow, wrong_types)
{
	assert_msg(parse_fail("[train]\nlr = fast\n"),
		   "fmnist.flow:2: [train] lr: expected a number > 0, got \"fast\"");
	assert_msg(parse_fail("[train]\nepochs = 2.5\n"),
		   "fmnist.flow:2: [train] epochs: expected an integer in [1, 1000000], got \"2.5\"");
	assert_msg(parse_fail("[train]\nepochs =\n"),
		   "fmnist.flow:2: [train] epochs: expected an integer in [1, 1000000], got \"\"");
	assert_msg(parse_fail("[train]\nlr = nan\n"),
		   "fmnist.flow:2: [train] lr: expected a number > 0, got \"nan\"");
	assert_msg(parse_fail("[train]\nlr = inf\n"),
		   "fmnist.flow:2: [train] lr: expected a number > 0, got \"inf\"");
	assert_msg(parse_fail("[train]\nseed = 99999999999999999999\n"),
		   "fmnist.flow:2: [train] seed: expected an integer in [0, 9223372036854775807], "
		   "got \"99999999999999999999\"");
	assert_msg(parse_fail("[split]\nstratify = maybe\n"),
		   "fmnist.flow:2: [split] stratify: expected true or false, got \"maybe\"");
	assert_msg(parse_fail("[train]\ndevice = gpu\n"),
		   "fmnist.flow:2: [train] device: expected auto, cpu, cuda or cuda:N (N from 0 "
		   "to 63), got \"gpu\"");
	assert_msg(parse_fail("[notify]\nurl = ftp://x\n"),
		   "fmnist.flow:2: [notify] url: expected an http:// or https:// URL, or nothing "
		   "to turn it off, got \"ftp://x\"");
	assert_msg(parse_fail("[data]\nsource = idx: /data\n"),
		   "fmnist.flow:2: [data] source: expected idx:DIR with no blank after \"idx:\", "
		   "got \"idx: /data\"");
	assert_msg(parse_fail("[data]\nsource = mnist\n"),
		   "fmnist.flow:2: [data] source: expected fashion-mnist or idx:DIR (MNIST is not "
		   "packaged; use idx:DIR on its four files), got \"mnist\"");
}

Test(flow, out_of_range)
{
	assert_msg(parse_fail("[split]\nval = 1.5\n"),
		   "fmnist.flow:2: [split] val: expected a number in [0, 1), got 1.5");
	assert_msg(parse_fail("[train]\nlr = 0\n"),
		   "fmnist.flow:2: [train] lr: expected a number > 0, got 0");
	assert_msg(parse_fail("[train]\nbatch = 0\n"),
		   "fmnist.flow:2: [train] batch: expected an integer in [1, 1048576] or auto, got 0");
	assert_msg(parse_fail("[train]\nbatch = big\n"),
		   "fmnist.flow:2: [train] batch: expected an integer in [1, 1048576] or auto, got "
		   "\"big\"");
	/* auto belongs to batch alone */
	assert_msg(parse_fail("[train]\nepochs = auto\n"),
		   "fmnist.flow:2: [train] epochs: expected an integer in [1, 1000000], got \"auto\"");
	assert_msg(parse_fail("[data]\nlimit = -1\n"),
		   "fmnist.flow:2: [data] limit: expected an integer >= 0, got -1");
	assert_msg(parse_fail("[train]\ngamma = 1.01\n"),
		   "fmnist.flow:2: [train] gamma: expected a number in (0, 1], got 1.01");
}

Test(flow, bad_choice)
{
	assert_msg(parse_fail("[train]\noptimizer = adagrad\n"),
		   "fmnist.flow:2: [train] optimizer: expected one of adamw, adam, sgd, got \"adagrad\"");
	assert_msg(parse_fail("[model]\ntype = rnn\n"),
		   "fmnist.flow:2: [model] type: expected one of linear, logistic, mlp, cnn, got \"rnn\"");
}

Test(flow, bad_int_list)
{
	assert_msg(parse_fail("[model]\nhidden = 256,abc\n"),
		   "fmnist.flow:2: [model] hidden: expected a list of integers in [1, 65536] such "
		   "as 256,128, got \"256,abc\"");
	assert_msg(parse_fail("[model]\nhidden = 0\n"),
		   "fmnist.flow:2: [model] hidden: expected a list of integers in [1, 65536] such "
		   "as 256,128, got \"0\"");
	assert_msg(parse_fail("[model]\nhidden = 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n"),
		   "fmnist.flow:2: [model] hidden: expected at most 16 sizes, got \"1 2 3 4 5 6 7 "
		   "8 9 10 11 12 13 14 15 16 17\"");
	jm_flow *f = parse_ok("[model]\nhidden =\n");
	cr_assert_eq(f->model.n_hidden, 0);
	jm_flow_free(f);
}

Test(flow, duplicate_key)
{
	assert_msg(parse_fail("[train]\nlr = 1\nepochs = 2\n[data]\n[train]\nlr = 2\n"),
		   "fmnist.flow:6: [train] duplicate key \"lr\" (first set on line 2)");
}

Test(flow, misplaced_and_unknown_section_keys)
{
	assert_msg(parse_fail("[data]\n\n\n\n\n\n\n[features]\nscale = x\n"),
		   "fmnist.flow:9: [features] unknown key \"scale\" (see jianmo-flow(5))");
	assert_msg(parse_fail("[clean]\ndrop = x\n"),
		   "fmnist.flow:2: [clean] unknown key \"drop\" (it belongs in [features])");
}

Test(flow, syntax_errors)
{
	assert_msg(parse_fail("[train]\nlr = 1\njust some words\n"),
		   "fmnist.flow:3: expected \"key = value\" or \"[section]\"");
	assert_msg(parse_fail("[train]\n= 3\n"),
		   "fmnist.flow:2: expected \"key = value\" or \"[section]\"");
	assert_msg(parse_fail("[train\nlr = 1\n"), "fmnist.flow:1: missing \"]\" in section header");
	assert_msg(parse_fail("[train] extra\n"),
		   "fmnist.flow:1: unexpected text after \"]\": \"extra\"");
	assert_msg(parse_fail("epochs = 3\n"),
		   "fmnist.flow:1: \"epochs\" is outside any section (put it under [train])");
	assert_msg(parse_fail("color = red\n"), "fmnist.flow:1: \"color\" is outside any section");
	assert_msg(parse_fail("[train]\nepochs = 3\x01\n"),
		   "fmnist.flow:2: [train] epochs: expected an integer in [1, 1000000], got \"3\x01\"");
	assert_msg(parse_fail("[data]\ndir = /tmp/a\x01\n"),
		   "fmnist.flow:2: [data] dir: expected text without control characters");
}

Test(flow, the_first_error_in_the_file_wins)
{
	/* inih's own error (no '=') comes before ours */
	assert_msg(parse_fail("[train]\nlr = 1\nnonsense\nepoch = 3\n"),
		   "fmnist.flow:3: expected \"key = value\" or \"[section]\"");
	/* ours comes first; inih's later error must not replace it */
	assert_msg(parse_fail("[train]\nepoch = 3\nnonsense\n"),
		   "fmnist.flow:2: [train] unknown key \"epoch\" (did you mean \"epochs\"?)");
}

Test(flow, long_lines_are_refused_not_split)
{
	char text[2048];
	char pad[1200];
	memset(pad, 'x', sizeof pad - 1);
	pad[sizeof pad - 1] = '\0';
	snprintf(text, sizeof text, "[train]\nlr = 1\n[data]\ndir = /tmp/%s\n", pad);
	const char *msg = parse_fail(text);
	cr_assert(strstr(msg, "fmnist.flow:4: line too long (1210 characters; at most "),
		  "got: %s", msg);
	/* a line just within the limit parses whole */
	int limit = atoi(strstr(msg, "at most ") + 8);
	cr_assert_gt(limit, 100);
	int keep = limit - (int)strlen("dir = /tmp/");
	snprintf(text, sizeof text, "[data]\ndir = /tmp/%.*s\n", keep, pad);
	jm_flow *f = parse_ok(text);
	cr_assert_eq((int)strlen(f->data.dir), keep + 5);

	/* --set refuses what the canonical form could not hold */
	jm_err err = {0};
	char set[2048];
	snprintf(set, sizeof set, "data.dir=/tmp/%.*sy", keep, pad);
	cr_assert_eq(jm_flow_set(f, set, &err), -1);
	char want[4096];
	snprintf(want, sizeof want, "--set %s: [data] dir: value too long (a \"dir = ...\" line "
		 "holds at most %d characters, this one %d)", set, limit, limit + 1);
	assert_msg(err.msg, want);
	cr_assert_eq((int)strlen(f->data.dir), keep + 5, "unchanged");
	jm_flow_free(f);
}

Test(flow, a_comment_may_start_the_value)
{
	jm_flow *f = parse_ok("[model]\nlayers =; nothing\n[notify]\nurl = http://h/#frag ; a comment\n");
	cr_assert_str_eq(f->model.layers, "");
	cr_assert_str_eq(f->notify.url, "http://h/#frag");
	cr_assert_eq(jm_flow_set(f, "model.layers=#x", NULL), 0);
	cr_assert_str_eq(f->model.layers, "", "as in a file, where \"layers = #x\" is a comment");
	jm_flow_free(f);
}

Test(flow, rules_between_keys)
{
	assert_msg(parse_fail("[model]\ntype = cnn\n"),
		   "fmnist.flow:2: [model] type = cnn needs [model] layers (e.g. layers = c32 p "
		   "c64 p gap fc10)");
	assert_msg(parse_fail("[split]\nval = 0.5\ntest = 0.5\n"),
		   "fmnist.flow:2: [split] val + test must be below 1, got 0.5 + 0.5");
	/* blamed on the other key's line when the first was left at its default */
	assert_msg(parse_fail("[split]\n\ntest = 0.9\n"),
		   "fmnist.flow:3: [split] val + test must be below 1, got 0.1 + 0.9");
	assert_msg(parse_fail("[train]\nschedule = cosine\nlr = 0.01\nmin_lr = 0.1\n"),
		   "fmnist.flow:4: [train] min_lr: must not exceed lr, got 0.1 > 0.01");
	assert_msg(parse_fail("[split]\nval = 0\n[train]\npatience = 3\n"),
		   "fmnist.flow:4: [train] patience: early stopping needs a validation set ([split] "
		   "val > 0)");
	assert_msg(parse_fail("[train]\nnesterov = true\n"),
		   "fmnist.flow:2: [train] nesterov: needs optimizer = sgd and momentum > 0");
	assert_msg(parse_fail("[data]\nsource = idx:/a\ndir = /b\n"),
		   "fmnist.flow:3: [data] dir: \"/b\" does not match source = idx:/a (leave dir out)");
	/* min_lr above lr is fine when the schedule ignores it */
	jm_flow *f = parse_ok("[train]\nlr = 0.01\nmin_lr = 0.1\n");
	jm_flow_free(f);
}

Test(flow, data_dir_follows_source)
{
	jm_flow *f = parse_ok("[data]\nsource = idx:/srv/digits\n");
	cr_assert_str_eq(f->data.dir, "/srv/digits");
	cr_assert_eq(jm_flow_line(f, "data.dir"), 0);
	jm_flow_free(f);
	f = parse_ok("[data]\ndir = /home/me/fmnist\n");
	cr_assert_str_eq(f->data.dir, "/home/me/fmnist");
	cr_assert_eq(jm_flow_line(f, "data.dir"), 2);
	/* a new source from --set takes dir with it */
	jm_err err = {0};
	cr_assert_eq(jm_flow_set(f, "data.source=idx:/x", &err), 0, "%s", err.msg);
	cr_assert_str_eq(f->data.dir, "/x");
	cr_assert_eq(jm_flow_validate(f, &err), 0, "%s", err.msg);
	/* but not when dir itself came from --set */
	cr_assert_eq(jm_flow_set(f, "data.dir=/y", &err), 0);
	cr_assert_eq(jm_flow_set(f, "data.source=idx:/z", &err), 0);
	cr_assert_str_eq(f->data.dir, "/y");
	cr_assert_eq(jm_flow_validate(f, &err), -1);
	assert_msg(err.msg,
		   "--set data.dir: [data] dir: \"/y\" does not match source = idx:/z (leave dir out)");
	cr_assert_eq(err.code, JM_EXIT_INPUT);
	/* "dir =" (empty) goes back to following the source */
	cr_assert_eq(jm_flow_set(f, "data.dir=", &err), 0);
	cr_assert_str_eq(f->data.dir, "/z");
	cr_assert_eq(jm_flow_set(f, "data.source=fashion-mnist", &err), 0);
	cr_assert_str_eq(f->data.dir, JM_FMNIST_DIR);
	jm_flow_free(f);
}

/* ---- --set ---- */

Test(flow, set_overrides_and_reports)
{
	jm_flow *f = jm_flow_new();
	jm_err err = {0};
	cr_assert_eq(jm_flow_set(f, "train.lr=3e-4", &err), 0);
	cr_assert_eq(f->train.lr, 3e-4);
	cr_assert_eq(jm_flow_line(f, "train.lr"), -1);
	cr_assert_eq(jm_flow_set(f, " train.epochs = 12 ", &err), 0);
	cr_assert_eq(f->train.epochs, 12);
	cr_assert_eq(jm_flow_set(f, "train.lr=1e-2", &err), 0, "a second --set of a key wins");
	cr_assert_eq(f->train.lr, 1e-2);
	cr_assert_eq(jm_flow_set(f, "model.hidden=64,32", &err), 0);
	cr_assert_eq(f->model.n_hidden, 2);
	cr_assert_eq(f->model.hidden[0], 64);

	struct {
		const char *set, *msg;
	} bad[] = {
		{"train.lr=fast", "--set train.lr=fast: [train] lr: expected a number > 0, got \"fast\""},
		{"train.lr", "--set train.lr: expected section.key=value"},
		{"lr=3", "--set lr=3: expected section.key=value"},
		{"trian.lr=3", "--set trian.lr=3: unknown section [trian] (did you mean [train]?)"},
		{"qqqq.lr=3", "--set qqqq.lr=3: unknown section [qqqq]"},
		{"train.epoch=3",
		 "--set train.epoch=3: [train] unknown key \"epoch\" (did you mean \"epochs\"?)"},
		{"augment.cutmix=-1",
		 "--set augment.cutmix=-1: [augment] cutmix: expected a number >= 0, got -1"},
		{"split.val=1", "--set split.val=1: [split] val: expected a number in [0, 1), got 1"},
	};
	jm_flow *before = jm_flow_dup(f);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		memset(&err, 0, sizeof err);
		cr_assert_eq(jm_flow_set(f, bad[i].set, &err), -1, "%s", bad[i].set);
		assert_msg(err.msg, bad[i].msg);
		cr_assert_eq(err.code, JM_EXIT_INPUT);
		cr_assert(jm_flow_equal(f, before), "a failed --set changed the flow");
	}
	jm_flow_free(before);

	/* rules between keys wait for jm_flow_validate: cnn then layers */
	cr_assert_eq(jm_flow_set(f, "model.type=cnn", &err), 0);
	cr_assert_eq(jm_flow_validate(f, &err), -1);
	assert_msg(err.msg, "--set model.type: [model] type = cnn needs [model] layers (e.g. "
			    "layers = c32 p c64 p gap fc10)");
	cr_assert_eq(jm_flow_set(f, "model.layers=c16 p fc10", &err), 0);
	cr_assert_eq(jm_flow_validate(f, &err), 0, "%s", err.msg);
	jm_flow_free(f);
}

/* ---- canonical form ---- */

static void assert_round_trip(const jm_flow *f)
{
	char *text = jm_flow_format(f);
	jm_flow *g = parse_ok(text);
	cr_assert(jm_flow_equal(f, g), "round trip changed the flow:\n%s", text);
	/* field by field through the public getter too */
	for (int i = 0; i < jm_flow_key_count(); i++) {
		jm_flow_keyinfo ki;
		jm_flow_key_info(i, &ki);
		char name[64];
		snprintf(name, sizeof name, "%s.%s", ki.section, ki.key);
		char *a = jm_flow_get(f, name), *b = jm_flow_get(g, name);
		cr_assert_str_eq(a, b, "%s", name);
		free(a);
		free(b);
	}
	char *again = jm_flow_format(g);
	cr_assert_str_eq(text, again, "format is not a fixed point");
	free(again);
	free(text);
	jm_flow_free(g);
}

Test(flow, format_is_canonical_and_round_trips)
{
	jm_flow *f = jm_flow_new();
	char *text = jm_flow_format(f);
	cr_assert(strstr(text, "[data]\nsource = fashion-mnist\ndir = " JM_FMNIST_DIR "\n"), "%s", text);
	cr_assert(strstr(text, "\n[train]\nepochs = 5\nbatch = 128\noptimizer = adamw\nlr = 0.001\n"),
		  "%s", text);
	cr_assert(strstr(text, "hidden = 256,128\n"));
	cr_assert(strstr(text, "eps = 1e-08\n"));
	cr_assert(strstr(text, "\n[search]\ntrials = 0\n"), "%s", text);
	cr_assert(strstr(text, "\n[augment]\ncutmix = 0\nmixup = 0\ncutmix_minmax = \nprob = 1\n"),
		  "%s", text);
	cr_assert(strstr(text, "label_smoothing = \n"), "unset is written empty:\n%s", text);
	cr_assert(strstr(text, "erasing_area = 0.02,0.3333333333333333\n"), "%s", text);
	/* every key once */
	for (int i = 0; i < jm_flow_key_count(); i++) {
		jm_flow_keyinfo ki;
		jm_flow_key_info(i, &ki);
		char pat[64];
		snprintf(pat, sizeof pat, "\n%s = ", ki.key);
		cr_assert(strstr(text, pat), "%s missing", ki.key);
	}
	free(text);
	assert_round_trip(f);

	/* awkward doubles survive exactly */
	const char *sets[] = {
		"train.lr=0.30000000000000004", "train.eps=4.9e-324",    "train.weight_decay=1e300",
		"split.val=0.1234567890123456789", "train.momentum=0.7",  "train.min_lr=2.2250738585072014e-308",
		"model.hidden=", "notify.url=http://h:8080/x?y=1",       "data.source=idx:/d i r",
		"train.seed=9223372036854775807", "model.layers=c32 c32 p c64 gap d0.2 fc10",
	};
	for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) {
		jm_err err = {0};
		cr_assert_eq(jm_flow_set(f, sets[i], &err), 0, "%s: %s", sets[i], err.msg);
		assert_round_trip(f);
	}
	cr_assert_eq(f->train.lr, 0.1 + 0.2);
	cr_assert_eq(f->train.eps, 4.9e-324);
	jm_flow_free(f);
}

Test(flow, examples_parse_and_round_trip)
{
	const char *names[] = {"fmnist-mlp.flow", "fmnist-cnn.flow"};
	for (int i = 0; i < 2; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/examples/%s", jt_srcdir(), names[i]);
		jm_flow *f = NULL;
		jm_err err = {0};
		cr_assert_eq(jm_flow_load(&f, path, &err), 0, "%s", err.msg);
		cr_assert_str_eq(f->path, path);
		cr_assert_str_eq(f->train.optimizer, "adamw");
		cr_assert_str_eq(f->train.schedule, "onecycle");
		cr_assert_eq(f->train.pct_start, 0.1);
		cr_assert_eq(f->train.weight_decay, 5e-4);
		if (i == 0) {
			cr_assert_str_eq(f->model.type, "mlp");
			cr_assert_eq(f->model.n_hidden, 2);
			cr_assert_eq(f->model.hidden[0], 256);
			cr_assert_eq(f->model.hidden[1], 128);
			cr_assert_eq(f->train.lr, 1e-3);
			cr_assert_eq(f->train.batch, 128);
			cr_assert_eq(f->train.epochs, 5);
		} else {
			cr_assert_str_eq(f->model.type, "cnn");
			cr_assert_str_eq(f->model.layers, "c32 c32 p c64 c64 p c128 gap d0.2 fc10");
			cr_assert_eq(f->train.lr, 3e-3);
			cr_assert_eq(f->train.batch, 256);
			cr_assert_eq(f->train.epochs, 15);
		}
		assert_round_trip(f);
		jm_flow_free(f);
	}
}

static void count_key(const char *key, const char *value, void *ctx)
{
	int *n = ctx;
	(*n)++;
	cr_assert(strchr(key, '.'), "%s", key);
	cr_assert_not_null(value);
}

static void find_lr(const char *key, const char *value, void *ctx)
{
	if (!strcmp(key, "train.lr"))
		snprintf(ctx, 64, "%s", value);
}

Test(flow, foreach_visits_every_key)
{
	jm_flow *f = jm_flow_new();
	int n = 0;
	jm_flow_foreach(f, count_key, &n);
	cr_assert_eq(n, jm_flow_key_count());
	char lr[64] = "";
	jm_flow_set(f, "train.lr=2.5e-4", NULL);
	jm_flow_foreach(f, find_lr, lr);
	cr_assert_str_eq(lr, "0.00025");
	jm_flow_free(f);
}

Test(flow, dup_is_deep)
{
	jm_flow *f = parse_ok("[train]\nlr = 0.5\n");
	jm_flow *g = jm_flow_dup(f);
	cr_assert(jm_flow_equal(f, g));
	cr_assert_str_eq(g->name, "fmnist.flow");
	cr_assert_eq(jm_flow_line(g, "train.lr"), 2);
	jm_flow_set(g, "train.optimizer=sgd", NULL);
	cr_assert_str_eq(f->train.optimizer, "adamw");
	cr_assert_not(jm_flow_equal(f, g));
	jm_flow_free(f);
	jm_flow_free(g);
}

Test(flow, numbers_ignore_the_process_locale)
{
	const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "ru_RU.UTF-8"};
	const char *got = NULL;
	for (size_t i = 0; i < sizeof names / sizeof *names && !got; i++)
		got = setlocale(LC_NUMERIC, names[i]);
	if (!got)
		cr_skip_test("no locale with a decimal comma installed (tried de_DE, fr_FR, ru_RU)");
	jm_flow *f = parse_ok("[train]\nlr = 0.001\n");
	cr_assert_eq(f->train.lr, 0.001);
	char *text = jm_flow_format(f);
	cr_assert(strstr(text, "lr = 0.001\n"), "%s", text);
	free(text);
	jm_flow_free(f);
	setlocale(LC_NUMERIC, "C");
}

/* ---- files ---- */

Test(flow, load_errors)
{
	char *dir = jt_tmpdir();
	jm_flow *f = (jm_flow *)1;
	jm_err err = {0};
	char path[4200];
	snprintf(path, sizeof path, "%s/missing.flow", dir);
	cr_assert_eq(jm_flow_load(&f, path, &err), -1);
	cr_assert_null(f);
	char want[4400];
	snprintf(want, sizeof want, "cannot open \"%s\": No such file or directory", path);
	assert_msg(err.msg, want);
	cr_assert_eq(err.code, JM_EXIT_INPUT);

	snprintf(path, sizeof path, "%s/nul.flow", dir);
	FILE *fp = fopen(path, "wb");
	fwrite("[train]\n\0x", 1, 10, fp);
	fclose(fp);
	cr_assert_eq(jm_flow_load(&f, path, &err), -1);
	snprintf(want, sizeof want, "%s: contains a NUL byte (not a text file?)", path);
	assert_msg(err.msg, want);

	char *p = jt_write(dir, "typo.flow", "[train]\nepoch = 3\n");
	cr_assert_eq(jm_flow_load(&f, p, &err), -1);
	snprintf(want, sizeof want, "%s:2: [train] unknown key \"epoch\" (did you mean \"epochs\"?)", p);
	assert_msg(err.msg, want);
	free(p);
	jt_rm_rf(dir);
	free(dir);
}

/* Write a minimal valid IDX pair (n samples of 2x2) as NAME[.gz]. */
static void write_idx(const char *dir, const char *name, int images, int gz)
{
	unsigned char buf[64];
	int n = 3, len = 0;
	buf[len++] = 0, buf[len++] = 0, buf[len++] = 8, buf[len++] = images ? 3 : 1;
	unsigned dims[3] = {3, 2, 2};
	for (int d = 0; d < (images ? 3 : 1); d++)
		for (int b = 3; b >= 0; b--)
			buf[len++] = (unsigned char)(dims[d] >> (8 * b));
	for (int i = 0; i < (images ? n * 4 : n); i++)
		buf[len++] = (unsigned char)(i % 10);
	char path[4200];
	snprintf(path, sizeof path, "%s/%s%s", dir, name, gz ? ".gz" : "");
	if (gz) {
		gzFile g = gzopen(path, "wb");
		gzwrite(g, buf, (unsigned)len);
		gzclose(g);
	} else {
		FILE *fp = fopen(path, "wb");
		fwrite(buf, 1, (size_t)len, fp);
		fclose(fp);
	}
}

Test(flow, check_files)
{
	char *dir = jt_tmpdir();
	jm_err err = {0};
	char set[4200], want[4400];
	jm_flow *f = jm_flow_new();

	/* the default directory: present, or the message names the package */
	int rc = jm_flow_check_files(f, &err);
	if (jt_fmnist_dir()) {
		cr_assert_eq(rc, 0, "%s", err.msg);
	} else {
		cr_assert_eq(rc, -1);
		cr_assert(strstr(err.msg, "install the Debian package dataset-fashion-mnist"), "%s",
			  err.msg);
	}

	snprintf(set, sizeof set, "data.dir=%s/none", dir);
	jm_flow_set(f, set, NULL);
	cr_assert_eq(jm_flow_check_files(f, &err), -1);
	snprintf(want, sizeof want, "--set data.dir: [data] dir: \"%s/none\": No such file or directory",
		 dir);
	assert_msg(err.msg, want);
	cr_assert_eq(err.code, JM_EXIT_INPUT);

	snprintf(set, sizeof set, "data.source=idx:%s", dir);
	jm_flow_set(f, "data.dir=", NULL);
	jm_flow_set(f, set, NULL);
	cr_assert_eq(jm_flow_check_files(f, &err), -1);
	snprintf(want, sizeof want,
		 "--set data.source: [data] source: \"%s\" has no train-images-idx3-ubyte or "
		 "train-images-idx3-ubyte.gz", dir);
	assert_msg(err.msg, want);

	write_idx(dir, "train-images-idx3-ubyte", 1, 1);
	write_idx(dir, "train-labels-idx1-ubyte", 0, 0);
	write_idx(dir, "t10k-images-idx3-ubyte", 1, 0);
	cr_assert_eq(jm_flow_check_files(f, &err), -1);
	cr_assert(strstr(err.msg, "has no t10k-labels-idx1-ubyte or t10k-labels-idx1-ubyte.gz"),
		  "%s", err.msg);
	write_idx(dir, "t10k-labels-idx1-ubyte", 0, 1);
	cr_assert_eq(jm_flow_check_files(f, &err), 0, "%s", err.msg);

	/* check_files runs the rules between keys first */
	jm_flow_set(f, "model.type=cnn", NULL);
	cr_assert_eq(jm_flow_check_files(f, &err), -1);
	cr_assert(strstr(err.msg, "needs [model] layers"), "%s", err.msg);
	jm_flow_free(f);
	jt_rm_rf(dir);
	free(dir);
}

/* The man page documents every key with its default. */
Test(flow, man_page_covers_every_key)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/man/jianmo-flow.5", jt_srcdir());
	char *man = jt_read(path, NULL);
	cr_assert_not_null(man, "cannot read %s", path);
	for (int i = 0; i < jm_flow_key_count(); i++) {
		jm_flow_keyinfo ki;
		jm_flow_key_info(i, &ki);
		char pat[256];
		/* keys are listed as .TP/.B "name = default" under their section */
		snprintf(pat, sizeof pat, ".TP\n.B \"%s = %s\"", ki.key, ki.def);
		const char *sec;
		char sec_pat[64];
		snprintf(sec_pat, sizeof sec_pat, ".SS [%s]", ki.section);
		sec = strstr(man, sec_pat);
		cr_assert_not_null(sec, "no section %s", sec_pat);
		const char *at = strstr(sec, pat);
		const char *next = strstr(sec + 1, ".SS ");
		cr_assert(at && (!next || at < next), "man page lacks %s.%s as: %s", ki.section,
			  ki.key, pat);
	}
	free(man);
}

/* ---- [augment] ---- */

Test(flow, augment_keys)
{
	jm_flow *d = jm_flow_new();
	cr_assert_eq(d->augment.cutmix, 0.0);
	cr_assert_eq(d->augment.mixup, 0.0);
	cr_assert_eq(d->augment.prob, 1.0);
	cr_assert_eq(d->augment.switch_prob, 0.5);
	cr_assert_str_eq(d->augment.mode, "batch");
	cr_assert(d->augment.correct_lam);
	cr_assert(isnan(d->augment.label_smoothing), "unset: [train]'s applies");
	cr_assert_eq(d->augment.cutmix_minmax[0], 0.0);
	cr_assert_eq(d->augment.cutmix_minmax[1], 0.0);
	cr_assert_eq(d->augment.erasing_area[0], 0.02);
	cr_assert_eq(d->augment.erasing_area[1], 1.0 / 3.0, "timm's max_area, to the bit");
	cr_assert_eq(d->augment.erasing_aspect[0], 0.3);
	cr_assert_eq(d->augment.erasing_aspect[1], 1 / 0.3, "timm's 1/min_aspect, to the bit");
	cr_assert_str_eq(d->augment.padding_mode, "zero");
	cr_assert_str_eq(d->augment.erasing_mode, "const");
	jm_flow_free(d);

	jm_flow *f = parse_ok("[augment]\n"
			      "cutmix = 1.0\n"
			      "mixup = 0.8\n"
			      "switch = 0.6\n"
			      "prob = 0.9\n"
			      "mode = pair\n"
			      "correct_lam = false\n"
			      "cutmix_minmax = 0.2 , 0.8\n"
			      "label_smoothing = 0.1\n"
			      "hflip = 0.5\n"
			      "crop_padding = 4\n"
			      "padding_mode = reflect\n"
			      "erasing = 0.25\n"
			      "erasing_area = 0.05,0.2\n"
			      "erasing_aspect = 0.5,2\n"
			      "erasing_mode = pixel\n");
	cr_assert_eq(f->augment.cutmix, 1.0);
	cr_assert_eq(f->augment.mixup, 0.8);
	cr_assert_eq(f->augment.switch_prob, 0.6);
	cr_assert_eq(f->augment.prob, 0.9);
	cr_assert_str_eq(f->augment.mode, "pair");
	cr_assert_not(f->augment.correct_lam);
	cr_assert_eq(f->augment.cutmix_minmax[0], 0.2);
	cr_assert_eq(f->augment.cutmix_minmax[1], 0.8);
	cr_assert_eq(f->augment.label_smoothing, 0.1);
	cr_assert_eq(f->augment.hflip, 0.5);
	cr_assert_eq(f->augment.crop_padding, 4);
	cr_assert_str_eq(f->augment.padding_mode, "reflect");
	cr_assert_eq(f->augment.erasing, 0.25);
	cr_assert_eq(f->augment.erasing_area[1], 0.2);
	cr_assert_eq(f->augment.erasing_aspect[0], 0.5);
	cr_assert_str_eq(f->augment.erasing_mode, "pixel");
	char *v = jm_flow_get(f, "augment.cutmix_minmax");
	cr_assert_str_eq(v, "0.2,0.8");
	free(v);
	assert_round_trip(f);
	/* an empty value unsets the optional ones again */
	jm_err err = {0};
	cr_assert_eq(jm_flow_set(f, "augment.cutmix_minmax=", &err), 0, "%s", err.msg);
	cr_assert_eq(jm_flow_set(f, "augment.label_smoothing=", &err), 0, "%s", err.msg);
	cr_assert_eq(f->augment.cutmix_minmax[1], 0.0);
	cr_assert(isnan(f->augment.label_smoothing));
	assert_round_trip(f);
	jm_flow_free(f);
}

Test(flow, augment_bad_values)
{
	assert_msg(parse_fail("[augment]\nmixup = 1\n\ncutmix_minmax = 0.8,0.2\n"),
		   "fmnist.flow:4: [augment] cutmix_minmax: expected two numbers MIN,MAX in (0, 1] "
		   "with MIN <= MAX (or nothing), got \"0.8,0.2\"");
	assert_msg(parse_fail("[augment]\ncutmix_minmax = 0.3\n"),
		   "fmnist.flow:2: [augment] cutmix_minmax: expected two numbers MIN,MAX in (0, 1] "
		   "with MIN <= MAX (or nothing), got \"0.3\"");
	assert_msg(parse_fail("[augment]\ncutmix_minmax = 0,0.5\n"),
		   "fmnist.flow:2: [augment] cutmix_minmax: expected two numbers MIN,MAX in (0, 1] "
		   "with MIN <= MAX (or nothing), got \"0,0.5\"");
	assert_msg(parse_fail("[augment]\nerasing_area = 0.1,0.2,0.3\n"),
		   "fmnist.flow:2: [augment] erasing_area: expected two numbers MIN,MAX in (0, 1] "
		   "with MIN <= MAX, got \"0.1,0.2,0.3\"");
	assert_msg(parse_fail("[augment]\nerasing_aspect =\n"),
		   "fmnist.flow:2: [augment] erasing_aspect: expected two numbers MIN,MAX > 0 "
		   "with MIN <= MAX, got \"\"");
	assert_msg(parse_fail("[augment]\nswitch = 1.5\n"),
		   "fmnist.flow:2: [augment] switch: expected a number in [0, 1], got 1.5");
	assert_msg(parse_fail("[augment]\nmode = halves\n"),
		   "fmnist.flow:2: [augment] mode: expected one of batch, pair, elem, got \"halves\"");
	assert_msg(parse_fail("[augment]\nlabel_smoothing = 1\n"),
		   "fmnist.flow:2: [augment] label_smoothing: expected a number in [0, 1), got 1");
	assert_msg(parse_fail("[augment]\npadding_mode = edge\n"),
		   "fmnist.flow:2: [augment] padding_mode: expected one of zero, reflect, got \"edge\"");
	assert_msg(parse_fail("[augment]\ncrop_padding = -1\n"),
		   "fmnist.flow:2: [augment] crop_padding: expected an integer in [0, 4096], got -1");
	assert_msg(parse_fail("[augment]\ncutmx = 1\n"),
		   "fmnist.flow:2: [augment] unknown key \"cutmx\" (did you mean \"cutmix\"?)");
}

/* Pair and elem modes mix samples i and B-1-i: an odd batch is refused
 * when the flow is read, located at the mode (or the batch when only it
 * was given). */
Test(flow, augment_pairs_need_an_even_batch)
{
	assert_msg(parse_fail("[augment]\nmixup = 1\nmode = elem\n[train]\nbatch = 63\n"),
		   "fmnist.flow:3: [augment] mode = elem mixes samples in pairs: it needs an even "
		   "[train] batch, got 63");
	jm_flow *f = parse_ok("[augment]\nmixup = 1\nmode = pair\n[train]\nbatch = 64\n");
	jm_err err = {0};
	cr_assert_eq(jm_flow_set(f, "train.batch=33", &err), 0);
	cr_assert_eq(jm_flow_validate(f, &err), -1);
	assert_msg(err.msg, "fmnist.flow:3: [augment] mode = pair mixes samples in pairs: it needs "
			    "an even [train] batch, got 33");
	jm_flow_free(f);
	/* batch mode, or no mixing at all, takes any batch */
	jm_flow_free(parse_ok("[augment]\nmixup = 1\n[train]\nbatch = 63\n"));
	jm_flow_free(parse_ok("[augment]\nmode = pair\nhflip = 0.5\n[train]\nbatch = 63\n"));
}

/* batch = auto reads as 0, writes back as auto, and passes the rule on
 * pairs (the runner halves it in powers of two, never below 2 there). */
Test(flow, batch_auto_round_trips)
{
	jm_flow *f = parse_ok("[augment]\nmixup = 1\nmode = pair\n[train]\nbatch = AUTO\n");
	cr_assert_eq(f->train.batch, 0);
	char *text = jm_flow_format(f);
	cr_assert(strstr(text, "\nbatch = auto\n"), "%s", text);
	jm_flow *g = parse_ok(text);
	cr_assert(jm_flow_equal(f, g));
	jm_err err = {0};
	cr_assert_eq(jm_flow_set(g, "train.batch=96", &err), 0, "%s", err.msg);
	cr_assert_eq(g->train.batch, 96);
	cr_assert_eq(jm_flow_set(g, "train.batch=auto", &err), 0, "%s", err.msg);
	cr_assert_eq(g->train.batch, 0);
	free(text);
	jm_flow_free(f);
	jm_flow_free(g);
}

/* ---- editing in place (flow_edit.c) ---- */

/* Texts written by hand in every way the format allows: comments of both
 * kinds, trailing ones, blank lines, "key: value", indents, CRLF, a BOM,
 * a repeated section, spellings that read the same, [search]'s searched
 * keys, an empty value, a CSV source. */
static const char *const hand_flows[] = {
	"; my notes\n[train]\nepochs = 2   ; quick\n# the rate\nlr: 0.01\n",
	"\xEF\xBB\xBF[data]\r\nlimit = 100\r\n\r\n[train]\r\n  epochs: 3 ; short\r\n"
	"schedule = Cosine\r\n",
	"[model]\ntype = mlp\n\n[train]\nepochs=4\n[model]\nhidden = 64 32  # two\n"
	"[split]\nstratify = no\n",
	"[data]\nsource = idx:/srv/mnist\ndir =   ; follows\n[train]\n\tbatch = auto\n",
	"[data]\nsource = data.csv\ntarget = y ; the label\n[split]\ntest = 0.2\n",
	"[search]\ntrials = 4\ntrain.lr = loguniform(1e-5, 1e-2)  ; wide\n"
	"model.dropout = uniform(0, 0.5)\n[train]\nepochs = 2\n",
	"[augment]\nlabel_smoothing =\nerasing_area = 0.1, 0.2\n",
};

/* Each flow of examples/ and tests/data (those needing a plugin that is
 * not installed are skipped, named in the log), then hand_flows. */
static int edit_corpus(char ***texts)
{
	int n = 0;
	*texts = jm_xcalloc(64 + sizeof hand_flows / sizeof *hand_flows, sizeof **texts);
	const char *dirs[] = {"examples", "tests/data"};
	for (int d = 0; d < 2; d++) {
		char *ls = NULL;
		jt_sh(jt_srcdir(), &ls, NULL, "ls %s/*.flow 2>/dev/null", dirs[d]);
		for (char *save = NULL, *p = strtok_r(ls, "\n", &save); p && n < 64;
		     p = strtok_r(NULL, "\n", &save)) {
			char *path = jm_xasprintf("%s/%s", jt_srcdir(), p), *text = NULL;
			jm_flow *f = NULL;
			jm_err err = {0};
			if (jm_flow_load_text(&f, &text, path, &err) == 0)
				(*texts)[n++] = text;
			else if (strstr(err.msg, "plugin"))
				cr_log_info("%s: skipped: %s", p, err.msg);
			else
				cr_assert_fail("%s: %s", p, err.msg);
			jm_flow_free(f);
			free(path);
		}
		free(ls);
	}
	cr_assert_geq(n, 5, "the examples are found");
	for (size_t i = 0; i < sizeof hand_flows / sizeof *hand_flows; i++)
		(*texts)[n++] = jm_xstrdup(hand_flows[i]);
	return n;
}

static char *edited(const char *text, const jm_flow *f)
{
	char *out = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_flow_edit(text, f, &out, &err), 0, "%s\n--\n%s", err.msg, text);
	return out;
}

/* Lines in [p, e): ends counted, and a last line without one. */
static int count_lines(const char *p, const char *e)
{
	int n = 0;
	for (const char *q = p; q < e; q++)
		n += *q == '\n';
	return n + (e > p && e[-1] != '\n');
}

/* Lines of a and b outside their common first and last lines: *gone of
 * a's, *came of b's (whole lines, their ends included). */
static void line_diff(const char *a, const char *b, int *gone, int *came)
{
	const char *pa = a, *pb = b;
	for (;;) {
		const char *na = strchr(pa, '\n'), *nb = strchr(pb, '\n');
		if (!na || !nb || na - pa != nb - pb || memcmp(pa, pb, (size_t)(na - pa)))
			break;
		pa = na + 1, pb = nb + 1;
	}
	const char *ea = a + strlen(a), *eb = b + strlen(b);
	while (ea > pa && eb > pb) {
		const char *sa = ea - 1, *sb = eb - 1;
		while (sa > pa && sa[-1] != '\n')
			sa--;
		while (sb > pb && sb[-1] != '\n')
			sb--;
		if (ea - sa != eb - sb || memcmp(sa, sb, (size_t)(ea - sa)))
			break;
		ea = sa, eb = sb;
	}
	*gone = count_lines(pa, ea);
	*came = count_lines(pb, eb);
}

Test(flow, edit_of_an_unchanged_flow_gives_the_same_bytes)
{
	char **texts;
	int n = edit_corpus(&texts);
	for (int i = 0; i < n; i++) {
		jm_flow *f = parse_ok(texts[i]);
		char *out = edited(texts[i], f);
		cr_assert_str_eq(out, texts[i], "edited to its own flow, the text changed");
		free(out);
		/* from nothing: reads back as the same flow */
		out = edited("", f);
		jm_flow *g = parse_ok(out);
		cr_assert(jm_flow_equal(f, g), "%s", out);
		jm_flow_free(g);
		free(out);
		jm_flow_free(f);
		free(texts[i]);
	}
	free(texts);
}

/* A value for key i other than f's that keeps f valid, as "k=v" into buf;
 * 0 when none of the candidates (its choices, else a few of each type)
 * does. */
static int other_value(const jm_flow *f, int i, char *buf, size_t n)
{
	static const char *const cands[] = {"3", "2", "0.5", "0.25", "0.05", "7", "true", "false",
					    "auto", "1e-4", "64,32", "0.1,0.2", "x", "y.csv"};
	jm_flow_keyinfo ki;
	jm_flow_key_info(i, &ki);
	char dotted[128], v[64];
	snprintf(dotted, sizeof dotted, "%s.%s", ki.section, ki.key);
	char *had = jm_flow_get(f, dotted);
	const char *c = ki.choices;
	int found = 0;
	for (size_t k = 0; !found; k++) {
		if (ki.choices) {
			if (!*c)
				break;
			snprintf(v, sizeof v, "%.*s", (int)strcspn(c, "|"), c);
			c += strcspn(c, "|");
			c += *c == '|';
		} else if (k < sizeof cands / sizeof *cands) {
			snprintf(v, sizeof v, "%s", cands[k]);
		} else {
			break;
		}
		jm_flow *g = jm_flow_dup(f);
		snprintf(buf, n, "%s=%s", dotted, v);
		char *now = NULL;
		found = jm_flow_set(g, buf, NULL) == 0 && (now = jm_flow_get(g, dotted)) &&
			strcmp(now, had) && jm_flow_validate(g, NULL) == 0;
		free(now);
		jm_flow_free(g);
	}
	free(had);
	return found;
}

/* A text's own section header for sec ("[ train ]" too). */
static int has_section(const char *text, const char *sec)
{
	char pat[64];
	snprintf(pat, sizeof pat, "[%s]", sec);
	return strstr(text, pat) != NULL;
}

/* For every text and every key that has another valid value: the edit
 * reads back as the edited flow, changes that key's line alone (or adds
 * one line: with a new section, its header and a blank line before it),
 * and editing the result again to the same flow changes nothing. */
Test(flow, edit_of_one_key_changes_one_line_and_reads_back)
{
	char **texts;
	int n = edit_corpus(&texts), tried = 0;
	for (int t = 0; t < n; t++) {
		jm_flow *f = parse_ok(texts[t]);
		for (int i = 0; i < jm_flow_key_count(); i++) {
			char set[256];
			if (!other_value(f, i, set, sizeof set))
				continue;
			jm_flow *g = jm_flow_dup(f);
			jm_err err = {0};
			cr_assert_eq(jm_flow_set(g, set, &err), 0, "%s", err.msg);
			char *out = edited(texts[t], g);
			jm_flow *back = parse_ok(out);
			cr_assert(jm_flow_equal(back, g), "%s:\n%s", set, out);
			jm_flow_free(back);
			int gone, came;
			line_diff(texts[t], out, &gone, &came);
			jm_flow_keyinfo ki;
			jm_flow_key_info(i, &ki);
			char dotted[128];
			snprintf(dotted, sizeof dotted, "%s.%s", ki.section, ki.key);
			int in_text = jm_flow_line(f, dotted) > 0 ||
				      (!strcmp(dotted, "data.dir") && strstr(texts[t], "dir ="));
			if (in_text)
				cr_assert(gone == 1 && came == 1, "%s: %d lines went, %d came:\n%s--\n%s",
					  set, gone, came, texts[t], out);
			else if (has_section(texts[t], ki.section))
				cr_assert(gone == 0 && came == 1, "%s: %d lines went, %d came:\n%s--\n%s",
					  set, gone, came, texts[t], out);
			else
				cr_assert(gone == 0 && came >= 2 && came <= 3,
					  "%s: %d lines went, %d came:\n%s--\n%s", set, gone, came,
					  texts[t], out);
			char *again = edited(out, g);
			cr_assert_str_eq(again, out, "%s: a second edit changed the text", set);
			free(again);
			free(out);
			jm_flow_free(g);
			tried++;
		}
		jm_flow_free(f);
		free(texts[t]);
	}
	free(texts);
	cr_assert_gt(tried, n * 60, "keys tried: %d", tried);
}

/* f edited from text by the --set assignments in sets (NULL-ended). */
static char *edit_with(const char *text, const char *const *sets)
{
	jm_flow *f = parse_ok(text);
	jm_err err = {0};
	for (; *sets; sets++)
		cr_assert_eq(jm_flow_set(f, *sets, &err), 0, "%s: %s", *sets, err.msg);
	char *out = edited(text, f);
	jm_flow *back = parse_ok(out);
	cr_assert(jm_flow_equal(back, f), "%s", out);
	jm_flow_free(back);
	jm_flow_free(f);
	return out;
}

Test(flow, edit_changes_values_in_their_lines_and_adds_keys_to_their_section)
{
	const char *sets[] = {"train.epochs=3", "train.lr=0.02", "train.batch=64",
			      "model.hidden=32", "data.limit=100", NULL};
	char *out = edit_with("; my notes\n"
			      "[data]\n"
			      "source = fashion-mnist   ; the packaged set\n"
			      "\n"
			      "[train]\n"
			      "  epochs = 2   ; quick\n"
			      "# the rate that worked\n"
			      "  lr: 0.01\n"
			      "; about the model\n"
			      "\n"
			      "[split]\n"
			      "val = 0.2\n",
			      sets);
	assert_msg(out, "; my notes\n"
			"[data]\n"
			"source = fashion-mnist   ; the packaged set\n"
			"limit = 100\n"
			"\n"
			"[train]\n"
			"  epochs = 3   ; quick\n"
			"# the rate that worked\n"
			"  lr: 0.02\n"
			"  batch: 64\n"
			"; about the model\n"
			"\n"
			"[split]\n"
			"val = 0.2\n"
			"\n"
			"[model]\n"
			"hidden = 32\n");
	free(out);

	/* CRLF and a BOM kept, added lines end in CRLF; a last line without
	 * an end gets one when a line follows it */
	const char *crlf[] = {"train.seed=7", "data.test_limit=50", NULL};
	out = edit_with("\xEF\xBB\xBF[data]\r\nlimit = 9\r\n[train]\r\nepochs = 2", crlf);
	assert_msg(out, "\xEF\xBB\xBF[data]\r\nlimit = 9\r\ntest_limit = 50\r\n[train]\r\n"
			"epochs = 2\r\nseed = 7\r\n");
	free(out);

	/* a text ending in a blank line gets no second one before a new
	 * section */
	const char *blank[] = {"model.hidden=32", NULL};
	out = edit_with("[train]\nepochs = 2\n\n", blank);
	assert_msg(out, "[train]\nepochs = 2\n\n[model]\nhidden = 32\n");
	free(out);

	/* a repeated section gets its new keys in its last block; a key of
	 * an earlier block changes there */
	const char *rep[] = {"model.act=gelu", "model.hidden=64", NULL};
	out = edit_with("[model]\nhidden = 32\n[train]\nepochs = 1\n[model]\nnorm = batch\n", rep);
	assert_msg(out, "[model]\nhidden = 64\n[train]\nepochs = 1\n[model]\nnorm = batch\n"
			"act = gelu\n");
	free(out);

	/* a value set back to its default keeps its line (and its comment) */
	const char *reset[] = {"train.lr=0.001", "train.epochs=5", NULL};
	out = edit_with("[train]\nepochs = 9 ; long\nlr = 0.1\n", reset);
	assert_msg(out, "[train]\nepochs = 5 ; long\nlr = 0.001\n");
	free(out);

	/* an emptied value, and one put where there was none */
	const char *empty[] = {"augment.label_smoothing=", "augment.cutmix_minmax=0.2,0.8", NULL};
	out = edit_with("[augment]\nlabel_smoothing = 0.1 ; mixed\ncutmix_minmax =\n", empty);
	assert_msg(out, "[augment]\nlabel_smoothing = ; mixed\ncutmix_minmax = 0.2,0.8\n");
	free(out);

	/* "dir =" sets nothing (dir follows source), so it may come twice:
	 * the last one is the line that counts (found by the fuzzer) */
	const char *twice[] = {"data.dir=/x", NULL};
	out = edit_with("[data]\ndir =\ndir = ; again\n", twice);
	assert_msg(out, "[data]\ndir =\ndir = /x ; again\n");
	free(out);

	/* a lone "\r" does not end a line: the line added after it gets its
	 * own end first (found by the fuzzer) */
	const char *cr[] = {"train.seed=7", NULL};
	out = edit_with("[train]\nepochs = 4 ;x\r", cr);
	assert_msg(out, "[train]\nepochs = 4 ;x\r\nseed = 7\n");
	free(out);

	/* a comment right after "=" stays a comment */
	const char *touch[] = {"notify.url=http://h/x", NULL};
	out = edit_with("[notify]\nurl =;later\n", touch);
	assert_msg(out, "[notify]\nurl = http://h/x ;later\n");
	free(out);
}

/* The README's promise: a flow says only what differs.  [data] dir and
 * [split] val follow source: an edit of source pins neither. */
Test(flow, edit_from_nothing_writes_only_what_differs)
{
	const char *sets[] = {"train.epochs=1", "data.limit=2000", "notify.timeout=5",
			      "model.hidden=256,128", NULL};
	char *out = edit_with("", sets);
	assert_msg(out, "[data]\nlimit = 2000\n\n[train]\nepochs = 1\n\n[notify]\ntimeout = 5\n");
	free(out);

	const char *csv[] = {"data.source=x.csv", "data.target=y", NULL};
	out = edit_with("", csv);
	assert_msg(out, "[data]\nsource = x.csv\ntarget = y\n");
	free(out);
	const char *idx[] = {"data.source=idx:/srv/mnist", NULL};
	out = edit_with("[train]\nepochs = 2\n", idx);
	assert_msg(out, "[train]\nepochs = 2\n\n[data]\nsource = idx:/srv/mnist\n");
	free(out);

	/* a dir written out follows source again, as dir = */
	const char *back[] = {"data.source=fashion-mnist", NULL};
	out = edit_with("[data]\nsource = idx:/srv/mnist\ndir = /srv/mnist   ; the copy\n", back);
	assert_msg(out, "[data]\nsource = fashion-mnist\ndir = ; the copy\n");
	free(out);

	/* the wizard's x on a key the file does not set writes nothing */
	const char *same[] = {"train.lr=0.01", "train.lr=0.001", NULL};
	out = edit_with("[train]\nepochs = 2\n", same);
	assert_msg(out, "[train]\nepochs = 2\n");
	free(out);
}

Test(flow, edit_of_searched_keys)
{
	const char *text = "[search]\ntrials = 4\ntrain.lr = loguniform(1e-5, 1e-2)  ; wide\n"
			   "model.dropout = uniform(0, 0.5)\n\n[train]\nepochs = 2\n";
	const char *spec[] = {"search.train.lr=loguniform(1e-4, 1e-2)",
			      "search.train.batch=choice(32, 64)", NULL};
	char *out = edit_with(text, spec);
	assert_msg(out, "[search]\ntrials = 4\ntrain.lr = loguniform(1e-4, 1e-2)  ; wide\n"
			"model.dropout = uniform(0, 0.5)\ntrain.batch = choice(32, 64)\n\n"
			"[train]\nepochs = 2\n");
	free(out);

	/* a search made a plain run: the searched lines go, trials changes */
	jm_flow *f = parse_ok(text);
	jm_flow_search_strip(f);
	out = edited(text, f);
	assert_msg(out, "[search]\ntrials = 0\n\n[train]\nepochs = 2\n");
	jm_flow *g = parse_ok(out);
	cr_assert(jm_flow_equal(f, g));
	jm_flow_free(g);
	free(out);
	jm_flow_free(f);
}

Test(flow, edit_refuses_text_that_does_not_parse_and_keeps_lines_parseable)
{
	jm_flow *f = jm_flow_new();
	char *out = (char *)1;
	jm_err err = {0};
	cr_assert_eq(jm_flow_edit("[train]\nepoch = 2\n", f, &out, &err), -1);
	cr_assert_null(out);
	cr_assert(strstr(err.msg, "unknown key \"epoch\""), "%s", err.msg);
	jm_flow_free(f);

	/* a longer value would push the comment past the parser's line
	 * limit: the comment goes, the line reads */
	char text[512], set[300];
	snprintf(text, sizeof text, "[data]\nsource = x.csv\ntarget = y\nna_values = ?   ; %0170d\n",
		 0);
	char *v = jm_xasprintf("%0150d", 7);
	snprintf(set, sizeof set, "data.na_values=%s", v);
	const char *sets[] = {set, NULL};
	out = edit_with(text, sets);
	char *want = jm_xasprintf("[data]\nsource = x.csv\ntarget = y\nna_values = %s\n", v);
	assert_msg(out, want);
	free(want);
	free(out);
	free(v);
}
