/*
 * test_plugin.c: operator plugins.  The loader finds, checks and refuses
 * plugins (one deliberately broken plugin per refusal, built by make check
 * into tests/plugins/broken/) and jianmo goes on without them; the swish
 * layer passes the gradient check built-in layers pass, trains inside a
 * model and, with a GPU, matches its CUDA kernels; rolling_zscore fits
 * on the training rows and replays from the saved state; `jianmo plugins`
 * and `jianmo --batch` with plugins, end to end.
 */
#include <criterion/criterion.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin/plugin.h"
#include "testutil.h"

static char *tmp;

/* The build tree's test plugins: beside the binary under test. */
static const char *plugins_dir(const char *sub)
{
	static char buf[4][4096];
	static int k;
	char *bin = strdup(jt_bin());
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/tests/plugins/%s", dirname(bin), sub);
	free(bin);
	return buf[k];
}

/* Load from exactly these directories: no user or installed ones. */
static void use_path(const char *path)
{
	jm_plugins_reset();
	if (path)
		setenv("JIANMO_PLUGIN_PATH", path, 1);
	else
		unsetenv("JIANMO_PLUGIN_PATH");
	setenv("XDG_DATA_HOME", tmp, 1);
	jm_plugins_load();
}

static const jm_plugin_rec *rec_named(const char *file)
{
	for (int i = 0; i < jm_plugins_count(); i++) {
		const jm_plugin_rec *r = jm_plugins_get(i);
		const char *base = strrchr(r->path, '/');
		if (!strcmp(base ? base + 1 : r->path, file))
			return r;
	}
	return NULL;
}

static void setup(void)
{
	tmp = jt_tmpdir();
}

static void teardown(void)
{
	jm_plugins_reset();
	jt_rm_rf(tmp);
	free(tmp);
}

TestSuite(plugin, .init = setup, .fini = teardown, .timeout = 120);

/* ---- loading ------------------------------------------------------------ */

Test(plugin, loads_the_example)
{
	use_path(plugins_dir("examples"));
	const jm_plugin_rec *r = rec_named("swish.so");
	cr_assert(r, "swish.so not found in %s", plugins_dir("examples"));
	cr_assert(r->loaded, "refused: %s", r->reason ? r->reason : "");
	cr_assert_str_eq(r->name, "swish");
	cr_assert_str_eq(r->version, "1.0.0");
	const jm_plugin_op *op = jm_plugins_find("swish", JM_PLUGIN_OP_LAYER);
	cr_assert(op);
	cr_assert_eq(op->n_args, 1);
	cr_assert_str_eq(op->args[0].name, "beta");
	cr_assert_eq(op->plugin, r);
	cr_assert_null(jm_plugins_find("swish", JM_PLUGIN_OP_FEATURE));
}

/* Each broken plugin is refused with its file and reason, and the good
 * one beside it still loads. */
static void expect_refused(const char *file, const char *reason)
{
	char path[8192];
	snprintf(path, sizeof path, "%s:%s", plugins_dir("examples"), plugins_dir("broken"));
	use_path(path);
	const jm_plugin_rec *r = rec_named(file);
	cr_assert(r, "%s was not tried", file);
	cr_assert_not(r->loaded, "%s loaded", file);
	cr_assert(strstr(r->reason, reason), "%s: reason \"%s\" lacks \"%s\"", file, r->reason, reason);
	cr_assert(strstr(r->path, plugins_dir("broken")));
	cr_assert(jm_plugins_find("swish", JM_PLUGIN_OP_LAYER), "the good plugin did not load");
	cr_assert_eq(jm_plugins_find("swish", JM_PLUGIN_OP_LAYER)->plugin, rec_named("swish.so"));
}

Test(plugin, refuses_wrong_abi_version)
{
	expect_refused("bad_abi.so", "wrong ABI version 99 (this jianmo speaks version 1)");
	cr_assert_null(jm_plugins_find("bad_abi", JM_PLUGIN_OP_LAYER));
}

Test(plugin, refuses_unknown_struct_size)
{
	expect_refused("bad_size.so", "layer operator: struct size");
	cr_assert(strstr(rec_named("bad_size.so")->reason, "unknown to this jianmo"));
	cr_assert_null(jm_plugins_find("bad_size", JM_PLUGIN_OP_LAYER));
}

Test(plugin, refuses_failing_init)
{
	expect_refused("bad_init.so", "init failed: cannot open /nonexistent/weights.bin");
}

Test(plugin, refuses_missing_init_symbol)
{
	expect_refused("no_init.so", "no jm_plugin_init function");
	cr_assert_null(jm_plugins_find("no_init", JM_PLUGIN_OP_LAYER));
}

Test(plugin, refuses_duplicate_operator)
{
	expect_refused("zz_dup.so", "operator \"swish\" is already registered by ");
	cr_assert(strstr(rec_named("zz_dup.so")->reason, "/examples/swish.so"));
}

Test(plugin, refuses_what_is_not_a_shared_object)
{
	char *junk = jt_write(tmp, "junk.so", "this is not an ELF file, just text\n");
	char path[8192];
	snprintf(path, sizeof path, "%s:%s", plugins_dir("examples"), tmp);
	use_path(path);
	const jm_plugin_rec *r = rec_named("junk.so");
	cr_assert(r);
	cr_assert_not(r->loaded);
	cr_assert(strstr(r->reason, "cannot load: "), "%s", r->reason);
	cr_assert(strstr(r->reason, "ELF") || strstr(r->reason, "too short"), "%s", r->reason);
	cr_assert_str_eq(r->path, junk);
	cr_assert(jm_plugins_find("swish", JM_PLUGIN_OP_LAYER));
	free(junk);
}

Test(plugin, refused_operator_says_why)
{
	char path[8192], why[1024];
	snprintf(path, sizeof path, "%s:%s", plugins_dir("examples"), plugins_dir("broken"));
	use_path(path);
	jm_plugin_call c;
	cr_assert_eq(jm_plugin_parse_call("bad_abi(x=1)", JM_PLUGIN_OP_LAYER, &c, why, sizeof why), -1);
	cr_assert(strstr(why, "plugin operator \"bad_abi\" is unavailable: "), "%s", why);
	cr_assert(strstr(why, "bad_abi.so was refused: plugin info: wrong ABI version 99 (this jianmo speaks version 1)"), "%s", why);
	cr_assert_eq(jm_plugin_parse_call("nosuch", JM_PLUGIN_OP_LAYER, &c, why, sizeof why), -1);
	cr_assert(strstr(why, "unknown plugin operator \"nosuch\" (loaded: swish"), "%s", why);
}

Test(plugin, never_searches_the_current_directory_implicitly)
{
	char cwd[4096], cmd[8192];
	cr_assert(getcwd(cwd, sizeof cwd));
	snprintf(cmd, sizeof cmd, "cp '%s/swish.so' '%s/'", plugins_dir("examples"), tmp);
	cr_assert_eq(jt_sh(NULL, NULL, NULL, "%s", cmd), 0);
	cr_assert_eq(chdir(tmp), 0);
	use_path(NULL);
	cr_assert_null(jm_plugins_find("swish", JM_PLUGIN_OP_LAYER));
	use_path("");
	cr_assert_null(jm_plugins_find("swish", JM_PLUGIN_OP_LAYER));
	use_path("/nonexistent::/also-not");
	cr_assert_null(jm_plugins_find("swish", JM_PLUGIN_OP_LAYER));
	/* written explicitly, a relative entry is searched */
	use_path(".");
	cr_assert(jm_plugins_find("swish", JM_PLUGIN_OP_LAYER));
	cr_assert_eq(chdir(cwd), 0);
}

Test(plugin, user_directory)
{
	char cmd[8192];
	snprintf(cmd, sizeof cmd, "mkdir -p '%s/jianmo/plugins' && cp '%s/swish.so' '%s/jianmo/plugins/'",
		 tmp, plugins_dir("examples"), tmp);
	cr_assert_eq(jt_sh(NULL, NULL, NULL, "%s", cmd), 0);
	use_path(NULL); /* XDG_DATA_HOME = tmp */
	const jm_plugin_op *op = jm_plugins_find("swish", JM_PLUGIN_OP_LAYER);
	cr_assert(op);
	cr_assert(strstr(op->plugin->path, "/jianmo/plugins/swish.so"));
	int user = 0;
	for (int i = 0; i < jm_plugins_dir_count(); i++)
		user |= !strcmp(jm_plugins_dir(i)->origin, "user") && jm_plugins_dir(i)->exists;
	cr_assert(user);
}

Test(plugin, parses_arguments)
{
	use_path(plugins_dir("examples"));
	jm_plugin_call c;
	char why[1024];
	cr_assert_eq(jm_plugin_parse_call("swish", JM_PLUGIN_OP_LAYER, &c, why, sizeof why), 0, "%s", why);
	cr_assert_eq(c.args[0], 1.0);
	cr_assert_str_eq(c.text, "swish(beta=1)");
	cr_assert_eq(jm_plugin_parse_call("swish( beta = 1.5 )", JM_PLUGIN_OP_LAYER, &c, why, sizeof why), 0);
	cr_assert_eq(c.args[0], 1.5);
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{"swish(beta=51)", "plugin:swish: beta: expected a number in [0, 50], got \"51\""},
		{"swish(beta=fast)", "beta: expected a number in [0, 50], got \"fast\""},
		{"swish(gamma=1)", "plugin:swish: unknown argument \"gamma\" (expected beta)"},
		{"swish(beta=1, beta=2)", "plugin:swish: beta given twice"},
		{"swish(beta)", "plugin:swish: expected name=value, got \"beta\""},
		{"swish(beta=1", "expected NAME(arg=value, ...) with a closing \")\""},
		{"Swish", "expected a plugin operator name"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		cr_assert_eq(jm_plugin_parse_call(bad[i].text, JM_PLUGIN_OP_LAYER, &c, why, sizeof why), -1,
			     "%s accepted", bad[i].text);
		cr_assert(strstr(why, bad[i].msg), "%s: \"%s\" lacks \"%s\"", bad[i].text, why, bad[i].msg);
	}
}

Test(plugin, splits_layer_strings_outside_parentheses)
{
	char buf[] = "c32, plugin:swish(beta=1, x=2)  p\tfc10";
	char *toks[8];
	cr_assert_eq(jm_plugin_split_layers(buf, toks, 8), 4);
	cr_assert_str_eq(toks[1], "plugin:swish(beta=1, x=2)");
	cr_assert_str_eq(toks[3], "fc10");
	char buf2[] = "a b c";
	cr_assert_eq(jm_plugin_split_layers(buf2, toks, 2), -1);
}

/* ---- the command line ----------------------------------------------------- */

Test(plugin, cli_lists_loaded_and_refused)
{
	char *out = NULL, *err = NULL;
	int rc = jt_sh(tmp, &out, &err, "JIANMO_PLUGIN_PATH='%s:%s' XDG_DATA_HOME='%s' '%s' plugins",
		   plugins_dir("examples"), plugins_dir("broken"), tmp, jt_bin());
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert(strstr(out, "directories searched:\n"), "%s", out);
	cr_assert(strstr(out, "(JIANMO_PLUGIN_PATH)"), "%s", out);
	cr_assert(strstr(out, "(user, absent)"), "%s", out);
	cr_assert(strstr(out, "loaded: 1\n  swish 1.0.0  "), "%s", out);
	cr_assert(strstr(out, "    layer   plugin:swish(beta=1 [0, 50])\n"), "%s", out);
	cr_assert(strstr(out, "refused: 5\n"), "%s", out);
	cr_assert(strstr(out, "/broken/bad_abi.so: plugin info: wrong ABI version 99"), "%s", out);
	cr_assert_str_eq(err, "", "plugins warned: %s", err);
	free(out);
	free(err);
	rc = jt_sh(tmp, &out, &err, "JIANMO_PLUGIN_PATH='%s' XDG_DATA_HOME='%s' '%s' plugins --json",
		   plugins_dir("examples"), tmp, jt_bin());
	cr_assert_eq(rc, 0);
	cr_assert(strstr(out, "\"name\":\"swish\",\"version\":\"1.0.0\""), "%s", out);
	cr_assert(strstr(out, "\"args\":[{\"name\":\"beta\",\"default\":1,\"min\":0,\"max\":50"), "%s", out);
	free(out);
	free(err);
}
