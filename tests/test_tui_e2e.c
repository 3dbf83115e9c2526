/*
 * test_tui_e2e.c: the real binary's workbench driven through tmux, as a
 * person would: send-keys in, capture-pane out, assertions on the captured
 * screen text.  Each test has its own tmux server (-L socket) and store,
 * and kills the server at the end.  Runs use a tiny IDX data set made here
 * (8x8 images, 4 classes), so they take seconds; the wizard test walks the
 * real Fashion-MNIST preview and is skipped, loudly, without it.  Skipped,
 * loudly, when tmux is missing (tools/setup --test installs it).
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "util/err.h"

static char *dir;
static char sock[64];
static int server;

static void setup(void)
{
	dir = jt_tmpdir();
	snprintf(sock, sizeof sock, "jm-e2e-%d-%ld", (int)getpid(), (long)time(NULL));
	server = 0;
}

static void teardown(void)
{
	if (server)
		jt_sh(NULL, NULL, NULL, "tmux -L %s kill-server 2>/dev/null", sock);
	jt_rm_rf(dir);
	free(dir);
}

TestSuite(tui_e2e, .init = setup, .fini = teardown, .timeout = 90);

#define NEED_TMUX()                                                                     \
	do {                                                                            \
		if (jt_sh(NULL, NULL, NULL, "command -v tmux >/dev/null") != 0)           \
			cr_skip_test("SKIPPED: tmux is not installed (apt-get install tmux)"); \
	} while (0)

/* Kill the test's tmux server, if any, and move to a new socket: the old
 * server may take a moment to go away after kill-server returns, and a
 * new-session on its socket then fails. */
static void fresh_server(void)
{
	if (!server)
		return;
	jt_sh(NULL, NULL, NULL, "tmux -L %s kill-server 2>/dev/null", sock);
	server = 0;
	size_t n = strlen(sock);
	if (n + 1 < sizeof sock)
		snprintf(sock + n, sizeof sock - n, "b");
}

/* Start the workbench in dir at w x h; when it exits, the shell around it
 * prints its exit status on the screen it gets back. */
static void start_tui(int w, int h)
{
	/* a second start: a fresh server, as a new SSH session would be */
	fresh_server();
	int rc = jt_sh(dir, NULL, NULL,
		       "tmux -L %s -f /dev/null new-session -d -x %d -y %d "
		       "\"env LANG=C.UTF-8 LC_ALL=C.UTF-8 '%s' --home '%s/.jianmo'; "
		       "echo status=\\$?; sleep 30\"",
		       sock, w, h, jt_bin(), dir);
	cr_assert_eq(rc, 0, "tmux new-session failed");
	server = 1;
}

static void send(const char *keys)
{
	cr_assert_eq(jt_sh(NULL, NULL, NULL, "tmux -L %s send-keys %s", sock, keys), 0);
	usleep(60000);
}

/* Literal text (no key names). */
static void type(const char *text)
{
	cr_assert_eq(jt_sh(NULL, NULL, NULL, "tmux -L %s send-keys -l '%s'", sock, text), 0);
	usleep(60000);
}

static char *capture(void)
{
	char *out = NULL;
	jt_sh(NULL, &out, NULL, "tmux -L %s capture-pane -p", sock);
	return out ? out : jm_xstrdup("");
}

/* Wait (up to secs) for text on the screen; returns the capture. */
static char *wait_for(const char *text, double secs)
{
	char *s = NULL;
	for (int i = 0; i < (int)(secs * 10); i++) {
		free(s);
		s = capture();
		if (strstr(s, text))
			return s;
		usleep(100000);
	}
	cr_assert_fail("waited %.0f s for \"%s\"; the screen:\n%s", secs, text, s);
	return s;
}

/* The same for either of two texts (the screen may be mid-draw when the
 * first appears). */
static char *wait_for_either(const char *a, const char *b, double secs)
{
	char *s = NULL;
	for (int i = 0; i < (int)(secs * 10); i++) {
		free(s);
		s = capture();
		if (strstr(s, a) || strstr(s, b))
			return s;
		usleep(100000);
	}
	cr_assert_fail("waited %.0f s for \"%s\" or \"%s\"; the screen:\n%s", secs, a, b, s);
	return s;
}

static void expect(const char *text, double secs)
{
	free(wait_for(text, secs));
}

/* 3000 8x8 images of 4 classes (a light half: top, bottom, left, right). */
static void write_idx(void)
{
	char *d = jm_xasprintf("%s/idx", dir);
	mkdir(d, 0755);
	static const char *const names[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
					    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
	const int n = 3000;
	for (int f = 0; f < 4; f++) {
		char *p = jm_xasprintf("%s/%s", d, names[f]);
		FILE *fp = fopen(p, "wb");
		cr_assert_not_null(fp);
		free(p);
		int images = f % 2 == 0;
		unsigned char head[16] = {0, 0, 8, images ? 3 : 1, 0, 0, (unsigned char)(n >> 8),
					  (unsigned char)n, 0, 0, 0, 8, 0, 0, 0, 8};
		fwrite(head, 1, images ? 16 : 8, fp);
		for (int i = 0; i < n; i++) {
			int l = i % 4;
			if (!images) {
				fputc(l, fp);
				continue;
			}
			for (int px = 0; px < 64; px++) {
				int r = px / 8, c = px % 8;
				int on = (l == 0 && r < 4) || (l == 1 && r >= 4) || (l == 2 && c < 4) ||
					 (l == 3 && c >= 4);
				fputc(on ? 200 + (i * 7 + px) % 40 : (i * 13 + px) % 40, fp);
			}
		}
		fclose(fp);
	}
	free(d);
}

static void write_flow(const char *name, const char *lr, int epochs)
{
	char *text = jm_xasprintf("[data]\nsource = idx:%s/idx\ntest_limit = 200\n\n[model]\n"
				  "hidden = 32\n\n[train]\nepochs = %d\nbatch = 32\nlr = %s\n"
				  "log_every = 10\n", dir, epochs, lr);
	free(jt_write(dir, name, text));
	free(text);
}

Test(tui_e2e, runs_from_the_tui_outlive_it_and_show_live_when_reopened)
{
	NEED_TMUX();
	write_idx();
	write_flow("long.flow", "0.001", 1500); /* a few seconds */
	start_tui(80, 24);
	expect("long.flow", 10);
	send("r");
	expect("Monitor", 10);
	char *s = wait_for("running", 20);
	free(s);
	/* the log pane, once the layout has the terminal's full size (a
	 * capture on a loaded machine once came before it) */
	s = wait_for("Log", 10);
	cr_assert(strstr(s, "samples/s"), "%s", s);
	free(s);
	/* the SSH connection drops: the TUI dies with its terminal */
	fresh_server();
	start_tui(80, 24);
	s = wait_for_either("running", "done", 10); /* the run's row, not just the flow's */
	cr_assert(strstr(s, "long.flow"), "the run outlived the TUI:\n%s", s);
	free(s);
	send("Enter");
	s = wait_for("done", 60);
	cr_assert(strstr(s, "100%"), "the monitor shows it finished:\n%s", s);
	free(s);
	/* the store agrees */
	char *out = NULL;
	cr_assert_eq(jt_jianmo(dir, &out, NULL, "--home .jianmo runs --filter 'status = done'"), 0);
	cr_assert(strstr(out, "long.flow"), "%s", out);
	free(out);
}

/* The log of run id holds text (waits up to secs for it). */
static int log_has(int64_t id, const char *text, double secs)
{
	char *path = jm_xasprintf("%s/.jianmo/runs/%lld/log.txt", dir, (long long)id);
	int found = 0;
	for (int i = 0; i < (int)(secs * 10) && !found; i++) {
		char *t = jt_read(path, NULL);
		found = t && strstr(t, text);
		free(t);
		if (!found)
			usleep(100000);
	}
	free(path);
	return found;
}

/* At 2 a.m. a stopped run is continued, not started again: r on it says
 * that R resumes it (and no keeps it stopped); R takes the same run on
 * from its checkpoint; R on a done run says why not. */
Test(tui_e2e, R_resumes_a_stopped_run_and_r_says_so)
{
	NEED_TMUX();
	write_idx();
	write_flow("quick.flow", "0.001", 1);
	write_flow("long.flow", "0.001", 20000); /* minutes; stopped twice here */
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--home .jianmo --batch quick.flow"), 0);
	start_tui(100, 30);
	expect("Runs (1)", 10);
	send(":");
	type("run long.flow");
	send("Enter");
	expect("Monitor", 10);
	free(wait_for("running", 20));
	cr_assert(log_has(2, "epoch 1/", 20), "run 2 trains");
	send("s");
	expect("stop run 2? (y/n)", 5);
	send("y"); /* one key, no Enter: the run stops */
	free(wait_for("stopped", 30));
	cr_assert(log_has(2, "continue it with", 10), "run 2 stopped with a checkpoint");

	send("r");
	expect("run 2 is stopped: R resumes it; rerun it from the start? (y/n)", 5);
	send("n");
	expect("not rerun: R resumes run 2", 5);
	send("R");
	free(wait_for_either("resuming run 2", "running", 10));
	char *s = wait_for("running", 30);
	cr_assert(strstr(s, "run 2 "), "the same run goes on:\n%s", s);
	free(s);
	cr_assert(log_has(2, "run 2: resuming in epoch", 20), "run 2 resumed from its checkpoint");
	char *out = NULL;
	cr_assert_eq(jt_jianmo(dir, &out, NULL, "--home .jianmo runs"), 0);
	cr_assert(strstr(out, "long.flow") && !strstr(out, "\n3 ") && !strstr(out, " 3 "),
		  "no new run:\n%s", out);
	free(out);
	/* back on the monitor R was pressed in: it sees the run go on (an
	 * ended run's screen still looks every few seconds), and stops it */
	send("q");
	s = wait_for("running", 10);
	cr_assert(strstr(s, "Home › Monitor ") && !strstr(s, "Monitor › Monitor"), "%s", s);
	free(s);
	send("s");
	expect("stop run 2? (y/n)", 5);
	send("y");
	free(wait_for("stopped", 30));

	/* R on a done run: why not, in the message line, and nothing starts */
	send(":");
	type("show 1");
	send("Enter R");
	expect("run 1 is done: nothing to resume (r reruns it)", 5);
}

/* A search started here stores its queued trials with its own pid: the
 * monitor follows the search (its trials table), not a trial. */
Test(tui_e2e, a_search_started_here_is_watched_as_the_search)
{
	NEED_TMUX();
	write_idx();
	char *text = jm_xasprintf("[data]\nsource = idx:%s/idx\ntest_limit = 200\n\n[model]\n"
				  "hidden = 16\n\n[train]\nepochs = 40\nbatch = 32\n\n[search]\n"
				  "trials = 4\nworkers = 2\ntrain.lr = loguniform(1e-4, 1e-2)\n", dir);
	free(jt_write(dir, "srch.flow", text));
	free(text);
	start_tui(100, 30);
	expect("srch.flow", 10);
	send(":");
	type("run srch.flow");
	send("Enter");
	char *s = wait_for("Trials (", 30);
	cr_assert(strstr(s, "run 1 ") && !strstr(s, "trial of"), "the search, not a trial:\n%s", s);
	free(s);
	send("s");
	expect("stop run 1? (y/n)", 5);
	send("y");
	free(wait_for("stopped", 60));
}

Test(tui_e2e, compare_marked_runs_sort_filter_help_resize_quit)
{
	NEED_TMUX();
	write_idx();
	write_flow("slow.flow", "0.001", 2);
	write_flow("fast.flow", "0.01", 2);
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--home .jianmo --batch slow.flow"), 0);
	cr_assert_eq(jt_jianmo(dir, NULL, NULL, "--home .jianmo --batch fast.flow"), 0);
	start_tui(80, 24);
	expect("Runs (2)", 10);
	send("Space Space c");
	char *s = wait_for("2 of 2 runs", 10);
	cr_assert(strstr(s, "lr") && strstr(s, "val_acc"), "%s", s);
	free(s);
	send("s"); /* sort by lr, ascending: slow (0.001) first */
	s = wait_for("sorted by train.lr, ascending", 5);
	char *a = strstr(s, "slow.flow"), *b = strstr(s, "fast.flow");
	cr_assert(a && b && a < b, "slow above fast:\n%s", s);
	free(s);
	send("s");
	s = wait_for("descending", 5);
	a = strstr(s, "slow.flow"), b = strstr(s, "fast.flow");
	cr_assert(a && b && b < a, "fast above slow:\n%s", s);
	free(s);
	send("/");
	type("train.lr > 0.005");
	send("Enter");
	s = wait_for("1 of 2 runs", 5);
	cr_assert(!strstr(s, "slow.flow"), "%s", s);
	free(s);
	send("Escape");
	expect("2 of 2 runs", 5);
	send("?");
	s = wait_for("Keys on Compare", 5);
	cr_assert(strstr(s, "export the table as CSV"), "%s", s);
	free(s);
	send("Escape");
	/* resize: the table re-lays out to the new width */
	cr_assert_eq(jt_sh(NULL, NULL, NULL, "tmux -L %s resize-window -x 160 -y 40", sock), 0);
	usleep(400000);
	s = capture();
	char *first = strtok(s, "\n");
	cr_assert(first && strlen(first) > 100, "title bar across 160 columns: \"%s\"",
		  first ? first : "");
	free(s);
	send("q q");
	s = wait_for("status=0", 10);
	cr_assert(!strstr(s, "Compare"), "the screen is restored:\n%s", s);
	free(s);
}

Test(tui_e2e, wizard_on_fashion_mnist_saves_a_flow_batch_reads)
{
	NEED_TMUX();
	if (!jt_fmnist_dir())
		cr_skip_test("SKIPPED: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)");
	start_tui(80, 24);
	expect("Home", 10);
	send("n");
	expect("Wizard", 5);
	free(wait_for("28x28 images, 10 classes", 20));
	/* the labels under the first samples (an ankle boot, T-shirts, a
	 * dress), which may come a frame after the title on a busy machine */
	free(wait_for_either("Ankle boot", "T-shirt/top", 20));
	send("j j j Enter C-u"); /* limit */
	type("2000");
	send("Enter");
	expect("limit      *2000", 5);
	for (int i = 0; i < 5; i++)
		send("Tab");
	char *s = wait_for("Linear(784, 256)", 5); /* Model: the layer table */
	free(s);
	send("Tab Tab Enter C-u"); /* Train: epochs */
	type("1");
	send("Enter w C-u");
	type("e2e.flow");
	send("Enter");
	expect("saved e2e.flow", 5);
	char *path = jm_xasprintf("%s/e2e.flow", dir);
	char *text = jt_read(path, NULL);
	free(path);
	cr_assert_not_null(text);
	/* only what differs from the defaults (README) */
	cr_assert_str_eq(text, "[data]\nlimit = 2000\n\n[train]\nepochs = 1\n");
	free(text);
	/* --batch reads it as written: check it without training */
	char *err = NULL;
	int rc = jt_jianmo(dir, NULL, &err, "--home .jianmo --batch e2e.flow --set train.lr=fast");
	cr_assert_eq(rc, 2);
	cr_assert(strstr(err, "lr: expected a number > 0"), "%s", err);
	free(err);
}

Test(tui_e2e, a_dumb_terminal_gets_the_text_summary_not_the_workbench)
{
	NEED_TMUX();
	int rc = jt_sh(dir, NULL, NULL,
		       "tmux -L %s -f /dev/null new-session -d -x 80 -y 24 "
		       "\"env TERM=dumb '%s' --home '%s/.jianmo'; echo exit=\\$?; sleep 30\"",
		       sock, jt_bin(), dir);
	cr_assert_eq(rc, 0);
	server = 1;
	char *s = wait_for("exit=0", 10);
	cr_assert(strstr(s, "Recent runs:") && strstr(s, "Next:"), "%s", s);
	cr_assert(!strstr(s, "Flows ("), "no workbench on a dumb terminal:\n%s", s);
	free(s);
}

Test(tui_e2e, a_crash_signal_or_hangup_restores_the_terminal)
{
	NEED_TMUX();
	static const struct {
		const char *sig;
		int num;
	} sigs[] = {{"SEGV", 11}, {"HUP", 1}};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		fresh_server();
		/* a shell around the TUI prints its exit status on the screen it
		 * gets back */
		int rc = jt_sh(dir, NULL, NULL,
			       "tmux -L %s -f /dev/null new-session -d -x 80 -y 24 "
			       "\"env LANG=C.UTF-8 '%s' --home '%s/.jianmo'; echo status=\\$?; "
			       "sleep 30\"", sock, jt_bin(), dir);
		cr_assert_eq(rc, 0);
		server = 1;
		expect("Runs (0)", 10);
		char *on = NULL;
		jt_sh(NULL, &on, NULL, "tmux -L %s display-message -p '#{alternate_on}'", sock);
		cr_assert(on && on[0] == '1', "the workbench uses the alternate screen: %s", on);
		free(on);
		cr_assert_eq(jt_sh(NULL, NULL, NULL,
				   "kill -%s $(pgrep -P $(tmux -L %s display-message -p '#{pane_pid}'))",
				   sigs[i].sig, sock), 0);
		char want[32];
		snprintf(want, sizeof want, "status=%d", 128 + sigs[i].num);
		char *s = wait_for(want, 10);
		cr_assert(!strstr(s, "Runs ("), "the workbench is off the screen:\n%s", s);
		free(s);
		jt_sh(NULL, &on, NULL, "tmux -L %s display-message -p '#{alternate_on}'", sock);
		cr_assert(on && on[0] == '0', "the normal screen is back: %s", on);
		free(on);
	}
}
