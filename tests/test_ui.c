/*
 * test_ui.c: the workbench's screens without a terminal.  Each test builds
 * a store through the store API (runs, params, metrics, logs, artifacts),
 * opens the app on it, feeds keys with jm_app_key and renders frames into
 * canvases of 80x24 and 200x50, then checks the text at rows and columns
 * and the attributes (the selection in reverse, marks, headings).  Charts
 * and images are checked on known inputs; the wizard's forms are checked
 * against the flow key table, and Save against the file it edits (a flow
 * written by hand keeps its bytes where nothing changed).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flow.h"
#include "store/metric_writer.h"
#include "store/store.h"
#include "testutil.h"
#include "ui/app.h"
#include "ui/canvas.h"
#include "ui/chart.h"
#include "ui/line.h"

static char *dir, *home, *oldcwd;
static pid_t child = -1; /* a stand-in run process, killed at the end */

static void setup(void)
{
	dir = jt_tmpdir();
	home = jm_xasprintf("%s/.jianmo", dir);
	oldcwd = getcwd(NULL, 0);
	cr_assert_eq(chdir(dir), 0);
}

static void teardown(void)
{
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		child = -1;
	}
	if (chdir(oldcwd) != 0)
		perror("chdir");
	jt_rm_rf(dir);
	free(dir);
	free(home);
	free(oldcwd);
}

TestSuite(ui, .init = setup, .fini = teardown, .timeout = 60);

/* ---- building stores ------------------------------------------------------------- */

typedef struct run_def {
	const char *name, *status;
	const char *lr, *epochs;  /* params train.lr, train.epochs */
	double val_acc;           /* final; a curve rises to it */
	double loss;
} run_def;

static int64_t add_run(jm_store *s, jm_metric_writer *w, const run_def *d)
{
	jm_err err = {0};
	int64_t flow = 0, run = 0;
	char *text = jm_xasprintf("[train]\nepochs = %s\nlr = %s\n", d->epochs, d->lr);
	cr_assert_eq(jm_store_flow_put(s, d->name, text, &flow, &err), 0, "%s", err.msg);
	free(text);
	jm_run_spec spec = {.kind = "run", .flow_id = flow, .seed = 1, .device = "cpu"};
	cr_assert_eq(jm_store_run_create(s, &spec, &run, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_store_param_set(s, run, "train.lr", d->lr, &err), 0);
	cr_assert_eq(jm_store_param_set(s, run, "train.epochs", d->epochs, &err), 0);
	cr_assert_eq(jm_store_param_set(s, run, "model.type", "mlp", &err), 0);
	for (int e = 1; e <= 4; e++) {
		jm_metric_log(w, run, "val_acc", e * 100, d->val_acc - 0.1 * (4 - e));
		jm_metric_log(w, run, "loss", e * 100, d->loss + 0.5 * (4 - e));
		jm_metric_log(w, run, "epoch", e * 100, e);
	}
	cr_assert_eq(jm_metric_writer_flush(w, &err), 0, "%s", err.msg);
	if (strcmp(d->status, JM_RUN_RUNNING))
		cr_assert_eq(jm_store_run_set_status(s, run, d->status,
						     !strcmp(d->status, "failed") ? "diverged" : NULL,
						     &err), 0);
	return run;
}

static const run_def three_runs[] = {
	{"alpha.flow", "done", "0.001", "5", 0.85, 0.30},
	{"beta.flow", "failed", "0.01", "5", 0.70, 0.60},
	{"gamma.flow", "done", "0.003", "5", 0.90, 0.25},
};

/* Runs 1..n from defs; returns their ids in ids (may be NULL). */
static void make_store(const run_def *defs, int n, int64_t *ids)
{
	jm_store *s = NULL;
	jm_metric_writer *w = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_store_open(&s, home, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_metric_writer_open(&w, s, 0, 0, &err), 0, "%s", err.msg);
	for (int i = 0; i < n; i++) {
		int64_t id = add_run(s, w, &defs[i]);
		if (ids)
			ids[i] = id;
	}
	jm_metric_writer_close(w, NULL);
	jm_store_close(s);
}

static jm_app *open_app(void)
{
	jm_err err = {0};
	jm_app_opts o = {.home = home, .exe = jt_bin(), .utf8 = 1};
	jm_app *app = jm_app_new(&o, &err);
	cr_assert_not_null(app, "%s", err.msg);
	return app;
}

static jm_canvas *frame(jm_app *app, int w, int h)
{
	jm_canvas *c = jm_canvas_new(w, h, 1);
	jm_app_draw(app, c);
	return c;
}

static void keys(jm_app *app, const char *s)
{
	for (; *s; s++)
		jm_app_key(app, *s == '\n' ? JM_KEY_ENTER : (unsigned char)*s);
}

static int has(const jm_canvas *c, const char *text)
{
	return jm_canvas_find(c, text, NULL, NULL);
}

static void dump_on_fail(const jm_canvas *c)
{
	jm_canvas_dump(c, stderr);
}

#define ASSERT_HAS(c, text)                                                   \
	do {                                                                  \
		if (!has(c, text))                                            \
			dump_on_fail(c);                                      \
		cr_assert(has(c, text), "screen lacks \"%s\"", text);         \
	} while (0)
#define ASSERT_LACKS(c, text)                                                 \
	do {                                                                  \
		if (has(c, text))                                             \
			dump_on_fail(c);                                      \
		cr_assert(!has(c, text), "screen shows \"%s\"", text);        \
	} while (0)

/* The row holding text, or -1. */
static int row_of(const jm_canvas *c, const char *text)
{
	int y = -1;
	return jm_canvas_find(c, text, NULL, &y) ? y : -1;
}

/* The first row from y0 whose text starts (after the margin column) with
 * prefix, or -1. */
static int row_starting(const jm_canvas *c, int y0, int h, const char *prefix)
{
	int found = -1;
	for (int r = y0; r < h && found < 0; r++) {
		char *row = jm_canvas_row(c, r);
		if (!strncmp(row + 1, prefix, strlen(prefix)))
			found = r;
		free(row);
	}
	return found;
}

static int cell_attr(const jm_canvas *c, int x, int y)
{
	const jm_cell *cell = jm_canvas_cell(c, x, y);
	return cell ? cell->attr : 0;
}

/* ---- canvas, line editor ----------------------------------------------------------- */

Test(ui, canvas_clips_with_an_ellipsis_and_keeps_wide_glyphs)
{
	jm_canvas *c = jm_canvas_new(20, 3, 1);
	cr_assert_eq(jm_canvas_text(c, 0, 0, 8, "abcdefghijkl", JM_A_BOLD, 0), 8);
	char *r = jm_canvas_row(c, 0);
	cr_assert_str_eq(r, "abcdefg…");
	free(r);
	cr_assert(cell_attr(c, 3, 0) & JM_A_BOLD);
	jm_canvas_text(c, 0, 1, -1, "建模 ok", 0, 0);
	r = jm_canvas_row(c, 1);
	cr_assert_str_eq(r, "建模 ok");
	free(r);
	int x = -1, y = -1;
	cr_assert(jm_canvas_find(c, "ok", &x, &y));
	cr_assert_eq(x, 5, "a wide glyph takes two columns");
	cr_assert_eq(y, 1);
	jm_canvas_text(c, 18, 2, -1, "xyz", 0, 0); /* clipped at the edge */
	r = jm_canvas_row(c, 2);
	cr_assert_str_eq(r, "                  x…");
	free(r);
	jm_canvas_free(c);

	jm_canvas *a = jm_canvas_new(10, 1, 0);
	jm_canvas_text(a, 0, 0, 10, "é-ok", 0, 0);
	r = jm_canvas_row(a, 0);
	cr_assert_str_eq(r, "?-ok", "an ASCII canvas never holds UTF-8");
	free(r);
	jm_canvas_free(a);
}

Test(ui, line_editor_edits_utf8_text)
{
	jm_line l;
	jm_line_set(&l, "lr");
	const int ks[] = {' ', '=', ' ', 0x00e9, JM_KEY_BACKSPACE, '3', JM_KEY_HOME, JM_KEY_DELETE,
			  JM_KEY_END, JM_CTRL('w'), 'x'};
	for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
		jm_line_key(&l, ks[i]);
	cr_assert_str_eq(l.buf, "r = x");
}

/* ---- charts and images ------------------------------------------------------------- */

static int is_braille(const char *g)
{
	unsigned cp;
	jm_utf8_next(g, &cp);
	return cp >= 0x2800 && cp <= 0x28FF;
}

static int braille_bits(const char *g)
{
	unsigned cp;
	jm_utf8_next(g, &cp);
	return cp >= 0x2800 && cp <= 0x28FF ? (int)(cp - 0x2800) : -1;
}

Test(ui, chart_draws_a_rising_line_in_braille_with_labels)
{
	double x[11], y[11];
	for (int i = 0; i <= 10; i++)
		x[i] = i, y[i] = i / 10.0;
	jm_series s = {"acc", x, y, 11};
	jm_canvas *c = jm_canvas_new(30, 10, 1);
	jm_chart_draw(c, 0, 0, 30, 10, "accuracy", &s, 1);
	char *top = jm_canvas_row(c, 0);
	cr_assert(strstr(top, "accuracy") && strstr(top, "acc"), "title and legend: %s", top);
	free(top);
	/* labels: max on the first plot row, min on the last */
	char *r1 = jm_canvas_row(c, 1), *r8 = jm_canvas_row(c, 8), *r9 = jm_canvas_row(c, 9);
	cr_assert(!strncmp(r1, "  1", 3), "%s", r1);
	cr_assert(!strncmp(r8, "  0", 3), "%s", r8);
	cr_assert(strstr(r9, "10"), "x range: %s", r9);
	free(r1), free(r8), free(r9);
	/* plot area starts after "lab│": the first point bottom-left, the last top-right */
	int px = 4, pw = 30 - 4;
	const jm_cell *bl = jm_canvas_cell(c, px, 8), *tr = jm_canvas_cell(c, px + pw - 1, 1);
	cr_assert(is_braille(bl->g) && braille_bits(bl->g) & 0x40, "bottom-left dot: %s", bl->g);
	cr_assert(is_braille(tr->g) && braille_bits(tr->g) & 0x08, "top-right dot: %s", tr->g);
	cr_assert_eq(tr->col, jm_chart_series_colour(0));
	/* a rising line never has a dot above the diagonal's cell at the left */
	cr_assert_str_eq(jm_canvas_cell(c, px, 1)->g, " ");
	jm_canvas_free(c);
}

Test(ui, chart_ascii_fallback_marks_each_series_and_skips_nan)
{
	double x[4] = {0, 1, 2, 3}, a[4] = {1, 1, 1, 1}, b[4] = {0, NAN, 2, 2};
	jm_series s[2] = {{"a", x, a, 4}, {"b", x, b, 4}};
	jm_canvas *c = jm_canvas_new(24, 8, 0);
	jm_chart_draw(c, 0, 0, 24, 8, "t", s, 2);
	int stars = 0, pluses = 0;
	for (int y = 1; y < 7; y++)
		for (int x0 = 0; x0 < 24; x0++) {
			const char *g = jm_canvas_cell(c, x0, y)->g;
			stars += !strcmp(g, "*");
			pluses += !strcmp(g, "+");
			cr_assert(!is_braille(g));
		}
	cr_assert_gt(stars, 5, "series a drawn with *");
	cr_assert_gt(pluses, 2, "series b drawn with +");
	jm_canvas_free(c);

	c = jm_canvas_new(24, 8, 1);
	jm_chart_draw(c, 0, 0, 24, 8, "empty", NULL, 0);
	ASSERT_HAS(c, "no data yet");
	jm_canvas_free(c);
}

Test(ui, image_is_braille_dots_where_pixels_are_light)
{
	uint8_t img[8 * 8];
	for (int y = 0; y < 8; y++)
		for (int x = 0; x < 8; x++)
			img[y * 8 + x] = x < 4 ? 255 : 0; /* left half white */
	jm_canvas *c = jm_canvas_new(4, 2, 1);
	jm_image_draw(c, 0, 0, img, 8, 8);
	for (int y = 0; y < 2; y++) {
		cr_assert_eq(braille_bits(jm_canvas_cell(c, 0, y)->g), 0xFF);
		cr_assert_eq(braille_bits(jm_canvas_cell(c, 3, y)->g), 0x00);
	}
	jm_canvas_free(c);
	c = jm_canvas_new(4, 2, 0);
	jm_image_draw(c, 0, 0, img, 8, 8);
	cr_assert_str_eq(jm_canvas_cell(c, 0, 0)->g, "#");
	cr_assert_str_eq(jm_canvas_cell(c, 3, 0)->g, " ");
	jm_canvas_free(c);
}

/* ---- Home ------------------------------------------------------------------------- */

static void check_home(int w, int h)
{
	make_store(three_runs, 3, NULL);
	jt_write(dir, "saved.flow", "[train]\nepochs = 2\n");
	jm_app *app = open_app();
	jm_canvas *c = frame(app, w, h);
	ASSERT_HAS(c, "Home");
	ASSERT_HAS(c, "saved.flow");
	ASSERT_HAS(c, "Runs (3)");
	/* newest first: run 3 above run 2 above run 1 */
	int y3 = row_of(c, "gamma.flow"), y2 = row_of(c, "beta.flow"), y1 = row_of(c, "alpha.flow");
	cr_assert(y3 > 0 && y3 < y2 && y2 < y1, "order %d %d %d", y3, y2, y1);
	ASSERT_HAS(c, "val_acc 0.9000");
	ASSERT_HAS(c, "failed");
	/* the cursor (reverse) is on the newest run, across the width */
	cr_assert(cell_attr(c, 2, y3) & JM_A_REVERSE);
	cr_assert(cell_attr(c, w - 1, y3) & JM_A_REVERSE);
	cr_assert(!(cell_attr(c, 2, y2) & JM_A_REVERSE));
	/* the status line shows the key hints */
	char *last = jm_canvas_row(c, h - 1);
	cr_assert(strstr(last, "n new") && strstr(last, "? help"), "%s", last);
	free(last);
	jm_canvas_free(c);

	keys(app, "j ");  /* down, mark run 2 (the cursor moves on to run 1) */
	c = frame(app, w, h);
	cr_assert(cell_attr(c, 2, y1) & JM_A_REVERSE, "cursor on run 1");
	cr_assert_str_eq(jm_canvas_cell(c, 0, y2)->g, "●", "run 2 marked");
	ASSERT_HAS(c, "1 marked");
	jm_canvas_free(c);
	jm_app_free(app);
}

Test(ui, home_lists_runs_newest_first_80x24) { check_home(80, 24); }
Test(ui, home_lists_runs_newest_first_200x50) { check_home(200, 50); }

Test(ui, home_filter_uses_the_query_language_and_esc_clears_it)
{
	make_store(three_runs, 3, NULL);
	jm_app *app = open_app();
	keys(app, "/status = failed\n");
	jm_canvas *c = frame(app, 80, 24);
	ASSERT_HAS(c, "beta.flow");
	ASSERT_LACKS(c, "alpha.flow");
	ASSERT_HAS(c, "filter: status = failed");
	jm_canvas_free(c);

	keys(app, "/"); /* the editor opens on the current filter */
	jm_app_key(app, JM_CTRL('u'));
	keys(app, "val_acc >");
	jm_app_key(app, JM_KEY_ENTER);
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "filter: column"); /* the message, the editor still open */
	char *last = jm_canvas_row(c, 23);
	cr_assert(!strncmp(last, "/val_acc >", 10), "editor kept: %s", last);
	free(last);
	jm_canvas_free(c);
	jm_app_key(app, JM_KEY_ESC); /* leave the editor */
	jm_app_key(app, JM_KEY_ESC); /* clear the filter */
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "alpha.flow");
	ASSERT_HAS(c, "Runs (3)");
	jm_canvas_free(c);
	jm_app_free(app);
}

Test(ui, help_lists_every_key_of_the_screen)
{
	make_store(three_runs, 1, NULL);
	jm_app *app = open_app();
	keys(app, "?");
	jm_canvas *c = frame(app, 200, 50);
	ASSERT_HAS(c, "Keys on Home");
	static const char *const expect[] = {"new flow", "compare the marked runs", "mark or unmark",
					     "stop the run", "next row", "last row", "filter",
					     "command line", ":compare"};
	for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
		ASSERT_HAS(c, expect[i]);
	jm_canvas_free(c);
	/* 80x24: it scrolls */
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "Keys on Home");
	jm_canvas_free(c);
	keys(app, "G");
	c = frame(app, 80, 24);
	ASSERT_LACKS(c, "Keys on Home");
	ASSERT_HAS(c, ":help");
	jm_canvas_free(c);
	jm_app_key(app, JM_KEY_ESC);
	c = frame(app, 80, 24);
	ASSERT_LACKS(c, "Keys on Home");
	jm_canvas_free(c);
	cr_assert_eq(jm_app_key(app, 'q'), 1, "q on Home quits");
	jm_app_free(app);
}

Test(ui, command_line_opens_screens_and_reports_unknown_commands)
{
	make_store(three_runs, 3, NULL);
	jm_app *app = open_app();
	keys(app, ":show 2\n");
	cr_assert_str_eq(jm_app_screen_name(app), "Run");
	keys(app, ":compare 1 3\n");
	cr_assert_str_eq(jm_app_screen_name(app), "Compare");
	keys(app, ":frobnicate\n");
	jm_canvas *c = frame(app, 80, 24);
	ASSERT_HAS(c, "unknown command \":frobnicate\"");
	jm_canvas_free(c);
	keys(app, ":show x\n");
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "\"x\" is not a run id");
	jm_canvas_free(c);
	keys(app, ":home\n");
	cr_assert_str_eq(jm_app_screen_name(app), "Home");
	jm_app_free(app);
}

/* `:show` of a run that is not there stays where it was, with the message,
 * as `:compare 1 abc` does, instead of an empty Run screen. */
Test(ui, show_of_a_missing_run_stays_put)
{
	make_store(three_runs, 3, NULL);
	jm_app *app = open_app();
	keys(app, ":show 999\n");
	cr_expect_str_eq(jm_app_screen_name(app), "Home");
	jm_canvas *c = frame(app, 80, 24);
	ASSERT_HAS(c, "no run \"999\"");
	jm_canvas_free(c);
	keys(app, ":compare 1 3\n:show 999\n");
	cr_expect_str_eq(jm_app_screen_name(app), "Compare");
	keys(app, ":show 2\n");
	cr_expect_str_eq(jm_app_screen_name(app), "Run");
	jm_app_free(app);
}

/* `:run FILE` and r on a flow check it as --batch would before they start
 * anything: a flow that cannot start says why in the message line and the
 * screen stays (no "starting run (pid N)" before a failure screen). */
Test(ui, run_of_a_flow_that_cannot_start_says_why_and_starts_nothing)
{
	free(jt_write(dir, "bad.flow", "[train]\nepoch = 2\n"));
	free(jt_write(dir, "nodata.flow", "[data]\nsource = idx:/nonexistent/mnist\n"));
	free(jt_write(dir, "nocsv.flow", "[data]\nsource = nothere.csv\ntarget = y\n"));
	jm_app *app = open_app();
	keys(app, ":run bad.flow\n");
	cr_assert_str_eq(jm_app_screen_name(app), "Home");
	jm_canvas *c = frame(app, 120, 24);
	ASSERT_HAS(c, "not started: bad.flow:2: [train] unknown key \"epoch\" (did you mean "
		      "\"epochs\"?)");
	jm_canvas_free(c);
	keys(app, ":run nodata.flow\n");
	cr_assert_str_eq(jm_app_screen_name(app), "Home");
	c = frame(app, 120, 24);
	ASSERT_HAS(c, "not started: nodata.flow:2: [data] source: ");
	jm_canvas_free(c);
	keys(app, ":run nocsv.flow\n");
	cr_assert_str_eq(jm_app_screen_name(app), "Home");
	c = frame(app, 120, 24);
	ASSERT_HAS(c, "not started: nocsv.flow:2: [data] source: \"nothere.csv\": No such file "
		      "or directory");
	jm_canvas_free(c);
	keys(app, ":run missing.flow\n");
	c = frame(app, 120, 24);
	ASSERT_HAS(c, "not started: cannot open \"missing.flow\"");
	jm_canvas_free(c);
	/* r on the flow in Home's list: the same check */
	jm_app_tick(app);
	keys(app, "gr");
	cr_assert_str_eq(jm_app_screen_name(app), "Home");
	c = frame(app, 120, 24);
	ASSERT_HAS(c, "not started: ");
	jm_canvas_free(c);
	jm_app_free(app);
}

/* R resumes a stopped or crashed run that has a checkpoint; on any other
 * run it says why not.  r on a run R could resume asks first, saying that
 * R resumes it. */
Test(ui, resume_says_why_a_run_cannot_resume_and_r_on_a_stopped_run_offers_it)
{
	static const run_def runs[] = {
		{"alpha.flow", "done", "0.001", "5", 0.85, 0.30},
		{"beta.flow", "failed", "0.01", "5", 0.70, 0.60},
		{"gamma.flow", "stopped", "0.003", "5", 0.90, 0.25},
		{"delta.flow", "stopped", "0.003", "5", 0.90, 0.25},
		{"eps.flow", "crashed", "0.003", "5", 0.90, 0.25},
	};
	make_store(runs, 5, NULL);
	for (int id = 3; id <= 5; id += 2) {
		char *rd = jm_xasprintf("%s/runs/%d", home, id);
		free(jt_write(rd, "checkpoint.safetensors", "x"));
		free(rd);
	}
	jm_store *s = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_store_open(&s, home, 0, &err), 0, "%s", err.msg);
	jm_run_spec ps = {.kind = "search", .seed = 1, .device = "cpu"};
	int64_t search = 0, trial = 0;
	cr_assert_eq(jm_store_run_create(s, &ps, &search, &err), 0);
	jm_run_spec ts = {.kind = "trial", .parent = search, .seed = 1, .device = "cpu"};
	cr_assert_eq(jm_store_run_create(s, &ts, &trial, &err), 0);
	cr_assert_eq(jm_store_run_set_status(s, trial, JM_RUN_STOPPED, NULL, &err), 0);
	cr_assert_eq(jm_store_run_set_status(s, search, JM_RUN_STOPPED, NULL, &err), 0);
	jm_store_close(s);

	jm_app *app = open_app();
	jm_canvas *c = frame(app, 80, 24);
	ASSERT_HAS(c, "R resume"); /* the key hints */
	jm_canvas_free(c);
	keys(app, ":show 5\nr");
	c = frame(app, 120, 24);
	ASSERT_HAS(c, "run 5 is crashed: R resumes it; rerun it from the start? (y/n)");
	jm_canvas_free(c);
	keys(app, "n"); /* one key answers */
	c = frame(app, 120, 24);
	ASSERT_HAS(c, "not rerun: R resumes run 5");
	jm_canvas_free(c);
	cr_assert_str_eq(jm_app_screen_name(app), "Run");

	static const struct {
		const char *cmd, *says;
	} refused[] = {
		{":show 1\n", "run 1 is done: nothing to resume (r reruns it)"},
		{":show 2\n", "run 2 failed: only a stopped or crashed run resumes (r reruns it)"},
		{":show 4\n", "run 4 has no checkpoint to resume from (it ended before its first): "
			      "r reruns it"},
		{":show 7\n", "run 7 is a trial of search 6: R on the search resumes it"},
		{":monitor 1\n", "run 1 is done: nothing to resume"},
	};
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		keys(app, refused[i].cmd);
		keys(app, "R");
		c = frame(app, 120, 24);
		ASSERT_HAS(c, refused[i].says);
		ASSERT_LACKS(c, "resuming run"); /* nothing launched */
		jm_canvas_free(c);
	}
	keys(app, ":show 3\n?");
	c = frame(app, 120, 40);
	ASSERT_HAS(c, "resume the stopped or crashed run from its checkpoint");
	jm_canvas_free(c);
	jm_app_free(app);
}

/* ---- Compare ---------------------------------------------------------------------- */

/* A plain run keeps only the keys with a value; a search's trial keeps
 * every key, the empty ones and the [search] block included.  Compare
 * marks only what was trained differently (as `jianmo compare` does). */
Test(ui, compare_of_a_trial_and_a_plain_run_marks_only_real_differences)
{
	make_store(three_runs, 1, NULL); /* run 1: train.lr 0.001, epochs 5, model mlp */
	jm_store *s = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_store_open(&s, home, 0, &err), 0, "%s", err.msg);
	int64_t search = 0, trial = 0, trial2 = 0;
	jm_run_spec sp = {.kind = "search", .name = "sweep.flow", .seed = 1, .device = "cpu"};
	cr_assert_eq(jm_store_run_create(s, &sp, &search, &err), 0, "%s", err.msg);
	jm_run_spec tp = {.kind = "trial", .parent = search, .seed = 1, .device = "cpu"};
	cr_assert_eq(jm_store_run_create(s, &tp, &trial, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_store_run_create(s, &tp, &trial2, &err), 0, "%s", err.msg);
	static const char *const kv[] = {"train.lr", "0.02", "train.epochs", "5",
					 "model.type", "mlp", "features.onehot", "",
					 "data.comment", "", "search.trials", "0",
					 "search.method", "bayes", NULL};
	for (const char *const *p = kv; *p; p += 2) {
		cr_assert_eq(jm_store_param_set(s, trial, p[0], p[1], &err), 0);
		cr_assert_eq(jm_store_param_set(s, trial2, p[0],
						 !strcmp(p[0], "search.method") ? "random" : p[1],
						 &err), 0);
	}
	jm_store_close(s);
	jm_app *app = open_app();
	char cmd[64];
	snprintf(cmd, sizeof cmd, ":compare 1 %lld\n", (long long)trial);
	keys(app, cmd);
	cr_assert_str_eq(jm_app_screen_name(app), "Compare");
	jm_canvas *c = frame(app, 200, 50);
	ASSERT_HAS(c, "1 params differ");
	ASSERT_HAS(c, "lr");
	ASSERT_LACKS(c, "onehot");
	ASSERT_LACKS(c, "method");
	jm_canvas_free(c);
	keys(app, "="); /* the equal ones too: still no column for the empty keys */
	c = frame(app, 200, 50);
	ASSERT_HAS(c, "method");
	ASSERT_LACKS(c, "onehot");
	ASSERT_LACKS(c, "comment");
	jm_canvas_free(c);
	/* two trials of searches set up differently: search.method is marked */
	snprintf(cmd, sizeof cmd, ":compare 1 %lld %lld\n", (long long)trial, (long long)trial2);
	keys(app, cmd);
	c = frame(app, 200, 50);
	ASSERT_HAS(c, "2 params differ");
	ASSERT_HAS(c, "method");
	jm_canvas_free(c);
	jm_app_free(app);
}

static jm_app *compare_marked(void)
{
	make_store(three_runs, 3, NULL);
	jm_app *app = open_app();
	keys(app, "   c"); /* mark runs 3, 2, 1 (Space moves down), compare */
	return app;
}

static void check_compare(int w, int h)
{
	jm_app *app = compare_marked();
	cr_assert_str_eq(jm_app_screen_name(app), "Compare");
	jm_canvas *c = frame(app, w, h);
	ASSERT_HAS(c, "3 of 3 runs");
	ASSERT_HAS(c, "1 params differ");
	ASSERT_HAS(c, "lr");         /* differs */
	ASSERT_LACKS(c, "epochs");   /* equal: hidden */
	ASSERT_HAS(c, "val_acc");
	ASSERT_HAS(c, "last");
	ASSERT_HAS(c, "best");
	jm_canvas_free(c);
	keys(app, "=");
	c = frame(app, w, h);
	ASSERT_HAS(c, "epochs");
	jm_canvas_free(c);
	jm_app_free(app);
}

Test(ui, compare_shows_differing_params_first_80x24) { check_compare(80, 24); }
Test(ui, compare_shows_differing_params_first_200x50) { check_compare(200, 50); }

/* The ids in display order (the first number of the table rows, after
 * the mark column). */
static void ids_shown(const jm_canvas *c, int *out, int n)
{
	int y0 = row_of(c, "STATUS") + 2;
	for (int i = 0; i < n; i++) {
		char *r = jm_canvas_row(c, y0 + i);
		out[i] = atoi(r + strcspn(r, "0123456789"));
		free(r);
	}
}

Test(ui, compare_sorts_by_any_column_and_filters)
{
	jm_app *app = compare_marked();
	int ids[3];
	jm_canvas *c = frame(app, 200, 50);
	ids_shown(c, ids, 3);
	cr_assert(ids[0] == 3 && ids[1] == 2 && ids[2] == 1, "newest first: %d %d %d", ids[0], ids[1],
		  ids[2]);
	jm_canvas_free(c);
	keys(app, "s"); /* column cursor on train.lr: ascending numbers */
	c = frame(app, 200, 50);
	ids_shown(c, ids, 3);
	cr_assert(ids[0] == 1 && ids[1] == 3 && ids[2] == 2, "by lr: %d %d %d", ids[0], ids[1], ids[2]);
	ASSERT_HAS(c, "lr▲");
	jm_canvas_free(c);
	keys(app, "s");
	c = frame(app, 200, 50);
	ids_shown(c, ids, 3);
	cr_assert(ids[0] == 2 && ids[2] == 1, "reversed: %d %d %d", ids[0], ids[1], ids[2]);
	jm_canvas_free(c);
	/* metrics: loss last (column 1 is loss last after lr... find by moving) */
	keys(app, "lllll"); /* lr, val_acc last/best, loss last/best... cursor to loss best */
	keys(app, "s");
	c = frame(app, 200, 50);
	cr_assert(has(c, "▲") || has(c, "▼"));
	jm_canvas_free(c);

	keys(app, "/val_acc > 0.8\n");
	c = frame(app, 200, 50);
	ASSERT_HAS(c, "2 of 3 runs");
	ASSERT_LACKS(c, "beta.flow");
	jm_canvas_free(c);
	jm_app_key(app, JM_KEY_ESC);
	c = frame(app, 200, 50);
	ASSERT_HAS(c, "3 of 3 runs");
	jm_canvas_free(c);
	jm_app_free(app);
}

Test(ui, compare_exports_csv_overlays_curves_and_diffs_flows)
{
	jm_app *app = compare_marked();
	keys(app, "e");
	jm_canvas *c = frame(app, 80, 24);
	ASSERT_HAS(c, "(3 runs)");
	jm_canvas_free(c);
	/* the file is in the current directory */
	char *out = NULL;
	cr_assert_eq(jt_sh(dir, &out, NULL, "cat compare-*.csv"), 0);
	cr_assert(!strncmp(out, "id,status,name,model.type,train.epochs,train.lr,val_acc,best_val_acc",
			   67), "%s", out);
	cr_assert(strstr(out, "\r\n3,done,gamma.flow,mlp,5,0.003,0.9"), "%s", out);
	cr_assert(strstr(out, "\r\n2,failed,beta.flow,mlp,5,0.01,"), "%s", out);
	free(out);

	keys(app, "v");
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "run 3");
	ASSERT_HAS(c, "run 2");
	int braille = 0;
	for (int y = 0; y < 24; y++)
		for (int x = 0; x < 80; x++)
			braille += is_braille(jm_canvas_cell(c, x, y)->g);
	cr_assert_gt(braille, 5, "curves drawn");
	jm_canvas_free(c);
	keys(app, "v");

	keys(app, "D"); /* cursor on run 3, next is run 2 */
	cr_assert_str_eq(jm_app_screen_name(app), "Diff 3 2");
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "- lr = 0.003");
	ASSERT_HAS(c, "+ lr = 0.01");
	ASSERT_HAS(c, "  epochs = 5");
	jm_canvas_free(c);
	jm_app_free(app);
}

/* ---- Run detail ------------------------------------------------------------------- */

Test(ui, run_detail_tabs_show_params_metrics_confusion_and_log)
{
	int64_t ids[1];
	make_store(three_runs, 1, ids);
	char *rd = jm_xasprintf("%s/runs/%lld", home, (long long)ids[0]);
	jt_write(rd, "confusion.csv",
		 "true\\predicted,\"cat\",\"dog\"\n\"cat\",8,2\n\"dog\",1,9\n");
	jt_write(rd, "log.txt", "line one\nloaded 1000 images\nthe last line\n");
	free(rd);
	jm_app *app = open_app();
	keys(app, ":show 1\n");
	for (int size = 0; size < 2; size++) {
		int w = size ? 200 : 80, h = size ? 50 : 24;
		keys(app, "1");
		jm_canvas *c = frame(app, w, h);
		ASSERT_HAS(c, "run 1  run  done");
		ASSERT_HAS(c, "train.lr");
		ASSERT_HAS(c, "0.001");
		cr_assert(cell_attr(c, 2, 1) & JM_A_REVERSE, "the current tab in reverse");
		jm_canvas_free(c);
		keys(app, "2");
		c = frame(app, w, h);
		ASSERT_HAS(c, "METRIC");
		ASSERT_HAS(c, "val_acc");
		ASSERT_HAS(c, "0.8500");
		jm_canvas_free(c);
		keys(app, "3");
		c = frame(app, w, h);
		ASSERT_HAS(c, "recall");
		ASSERT_HAS(c, "0 cat");
		ASSERT_HAS(c, "80.0%");
		ASSERT_HAS(c, "90.0%");
		jm_canvas_free(c);
		keys(app, "5");
		c = frame(app, w, h);
		ASSERT_HAS(c, "the last line");
		jm_canvas_free(c);
	}
	jm_app_free(app);
}

/* Compare follows the store: a compared run that ends shows its status and
 * metrics (Ctrl-L at once, else within the poll), and the cursor's run,
 * the sort and the marks stay. */
Test(ui, compare_refreshes_when_a_compared_run_changes)
{
	static const run_def defs[] = {
		{"alpha.flow", "done", "0.001", "5", 0.85, 0.30},
		{"beta.flow", "running", "0.01", "5", 0.70, 0.60},
		{"gamma.flow", "done", "0.003", "5", 0.90, 0.25},
	};
	make_store(defs, 3, NULL);
	jm_app *app = open_app();
	keys(app, ":compare 1 2 3\n");
	keys(app, "s"); /* by train.lr: runs 1, 3, 2 */
	keys(app, "g "); /* mark run 1; the cursor moves to run 3 */
	jm_canvas *c = frame(app, 200, 50);
	int ids[3];
	ids_shown(c, ids, 3);
	cr_assert(ids[0] == 1 && ids[1] == 3 && ids[2] == 2, "by lr: %d %d %d", ids[0], ids[1],
		  ids[2]);
	ASSERT_HAS(c, "running");
	jm_canvas_free(c);

	/* run 2 ends elsewhere */
	jm_store *s = NULL;
	jm_metric_writer *w = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_store_open(&s, home, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_metric_writer_open(&w, s, 0, 0, &err), 0, "%s", err.msg);
	jm_metric_log(w, 2, "val_acc", 500, 0.9512);
	cr_assert_eq(jm_metric_writer_flush(w, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_store_run_set_status(s, 2, JM_RUN_DONE, NULL, &err), 0, "%s", err.msg);

	jm_app_key(app, JM_CTRL('l'));
	c = frame(app, 200, 50);
	ASSERT_LACKS(c, "running");
	ASSERT_HAS(c, "0.9512");
	ids_shown(c, ids, 3);
	cr_assert(ids[0] == 1 && ids[1] == 3 && ids[2] == 2, "still by lr: %d %d %d", ids[0],
		  ids[1], ids[2]);
	int y1 = row_of(c, "alpha.flow"), y3 = row_of(c, "gamma.flow");
	cr_assert(cell_attr(c, 2, y3) & JM_A_REVERSE, "the cursor stays on run 3");
	cr_assert_str_eq(jm_canvas_cell(c, 0, y1)->g, "●", "run 1 stays marked");
	jm_canvas_free(c);

	/* and without Ctrl-L: the screen polls */
	jm_metric_log(w, 1, "val_acc", 500, 0.8765);
	cr_assert_eq(jm_metric_writer_flush(w, &err), 0, "%s", err.msg);
	jm_metric_writer_close(w, NULL);
	jm_store_close(s);
	usleep(1100000);
	jm_app_tick(app);
	c = frame(app, 200, 50);
	ASSERT_HAS(c, "0.8765");
	y3 = row_of(c, "gamma.flow");
	cr_assert(cell_attr(c, 2, y3) & JM_A_REVERSE, "the cursor stays on run 3");
	jm_canvas_free(c);
	jm_app_free(app);
}

/* ---- Monitor --------------------------------------------------------------------- */

Test(ui, monitor_shows_progress_curves_and_log)
{
	jm_store *s = NULL;
	jm_metric_writer *w = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_store_open(&s, home, 0, &err), 0);
	cr_assert_eq(jm_metric_writer_open(&w, s, 0, 0, &err), 0);
	run_def d = {"live.flow", JM_RUN_RUNNING, "0.001", "4", 0.8, 0.4};
	int64_t run = add_run(s, w, &d);
	jm_metric_writer_close(w, NULL);
	jm_store_close(s);
	char *rd = jm_xasprintf("%s/runs/%lld", home, (long long)run);
	jt_write(rd, "log.txt", "run 1: mlp\ndata: 900 train, 100 validation, 0 test; 800 steps of 8\n"
				"epoch 1/4 done\n");
	free(rd);

	jm_app *app = open_app();
	keys(app, ":monitor 1\n");
	for (int size = 0; size < 2; size++) {
		int cw = size ? 200 : 80, ch = size ? 50 : 24;
		jm_canvas *c = frame(app, cw, ch);
		ASSERT_HAS(c, "running");
		ASSERT_HAS(c, "step 400/800");
		ASSERT_HAS(c, "50%");
		ASSERT_HAS(c, "epoch 4/4");
		ASSERT_HAS(c, "epoch 1/4 done");
		ASSERT_HAS(c, "on cpu");
		int bars = 0, braille = 0, py = row_of(c, "step 400/800");
		for (int x = 0; x < cw; x++)
			bars += !strcmp(jm_canvas_cell(c, x, py)->g, "█");
		for (int y = 0; y < ch; y++)
			for (int x = 0; x < cw; x++)
				braille += is_braille(jm_canvas_cell(c, x, y)->g);
		cr_assert_gt(bars, 3, "progress bar");
		cr_assert_gt(braille, 5, "curves");
		jm_canvas_free(c);
	}
	jm_app_free(app);
}

/* The progress line names the epoch in progress from 1, as --batch's lines
 * and the log do ("epoch 1/2" in the first epoch, not "epoch 0/2"); the
 * "epoch" metric counts the epochs that ended. */
Test(ui, monitor_counts_epochs_from_1_as_batch_does)
{
	jm_store *s = NULL;
	jm_metric_writer *w = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_store_open(&s, home, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(jm_metric_writer_open(&w, s, 0, 0, &err), 0, "%s", err.msg);
	static const struct {
		const char *epochs;
		int nloss, ended; /* loss points every 100 steps; epochs ended */
		const char *log;
	} defs[] = {
		{"2", 2, 0, "data: 900 train, 100 validation, 0 test; 800 steps of 8\n"},
		{"4", 3, 1, "data: 900 train, 100 validation, 0 test; 800 steps of 8\n"},
	};
	for (int i = 0; i < 2; i++) {
		jm_run_spec spec = {.kind = "run", .seed = 1, .device = "cpu", .name = "e.flow"};
		int64_t run = 0;
		cr_assert_eq(jm_store_run_create(s, &spec, &run, &err), 0, "%s", err.msg);
		cr_assert_eq(jm_store_param_set(s, run, "train.epochs", defs[i].epochs, &err), 0);
		for (int k = 1; k <= defs[i].nloss; k++)
			jm_metric_log(w, run, "loss", k * 100, 1.0 / k);
		if (defs[i].ended)
			jm_metric_log(w, run, "epoch", 200, defs[i].ended);
		cr_assert_eq(jm_metric_writer_flush(w, &err), 0, "%s", err.msg);
		char *rd = jm_xasprintf("%s/runs/%lld", home, (long long)run);
		free(jt_write(rd, "log.txt", defs[i].log));
		free(rd);
	}
	jm_metric_writer_close(w, NULL);
	jm_store_close(s);

	jm_app *app = open_app();
	keys(app, ":monitor 1\n");
	jm_canvas *c = frame(app, 120, 30);
	ASSERT_HAS(c, "epoch 1/2  step 200/800");
	jm_canvas_free(c);
	keys(app, ":monitor 2\n");
	c = frame(app, 120, 30);
	ASSERT_HAS(c, "epoch 2/4  step 300/800");
	jm_canvas_free(c);
	jm_app_free(app);
}

/* Identical flow texts are stored once, under the first file's name; the
 * run's details name the file the run itself came from. */
Test(ui, run_summary_names_the_runs_own_flow_file)
{
	jm_store *s = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_store_open(&s, home, 0, &err), 0, "%s", err.msg);
	const char *text = "[train]\nepochs = 2\n";
	static const char *const names[] = {"a.flow", "b.flow"};
	int64_t flow[2] = {0, 0};
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(jm_store_flow_put(s, names[i], text, &flow[i], &err), 0, "%s", err.msg);
		jm_run_spec spec = {.kind = "run", .flow_id = flow[i], .name = names[i], .seed = 1,
				    .device = "cpu"};
		int64_t run = 0;
		cr_assert_eq(jm_store_run_create(s, &spec, &run, &err), 0, "%s", err.msg);
		cr_assert_eq(jm_store_run_set_status(s, run, JM_RUN_DONE, NULL, &err), 0);
	}
	cr_assert_eq(flow[0], flow[1], "the same text is stored once");
	jm_store_close(s);

	jm_app *app = open_app();
	keys(app, ":show 2\n");
	jm_canvas *c = frame(app, 100, 30);
	ASSERT_HAS(c, "flow      b.flow");
	ASSERT_LACKS(c, "a.flow");
	jm_canvas_free(c);
	keys(app, ":show 1\n");
	c = frame(app, 100, 30);
	ASSERT_HAS(c, "flow      a.flow");
	jm_canvas_free(c);
	jm_app_free(app);
}

/* A stand-in run process: a child that creates a running run (so the crash
 * check leaves it) and waits for a signal; the run's id comes back. */
static int64_t running_child(void)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	child = fork();
	if (child == 0) {
		jm_store *s = NULL;
		jm_run_spec spec = {.kind = "run", .seed = 1, .device = "cpu", .name = "live.flow"};
		int64_t id = 0;
		if (jm_store_open(&s, home, 0, NULL) < 0 || jm_store_run_create(s, &spec, &id, NULL) < 0)
			_exit(1);
		jm_store_close(s);
		if (write(fds[1], &id, sizeof id) != sizeof id)
			_exit(1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	int64_t run = 0;
	cr_assert_eq(read(fds[0], &run, sizeof run), (ssize_t)sizeof run);
	close(fds[0]);
	return run;
}

/* 1 when the stand-in run process got SIGTERM within secs (reaped). */
static int child_terminated(double secs)
{
	int status = 0;
	for (int i = 0; i < (int)(secs * 100); i++) {
		pid_t p = waitpid(child, &status, WNOHANG);
		if (p == child) {
			child = -1;
			return WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM;
		}
		usleep(10000);
	}
	return 0;
}

/* s asks; one key answers (no Enter: at 2 a.m. "s y" and walking away
 * stops the run); a key that is no answer keeps asking. */
Test(ui, monitor_stop_asks_then_y_alone_sends_sigterm_to_the_run)
{
	make_store(three_runs, 1, NULL);
	int64_t run = running_child();
	jm_app *app = open_app();
	char cmd[64];
	snprintf(cmd, sizeof cmd, ":monitor %lld\n", (long long)run);
	keys(app, cmd);
	keys(app, "s");
	jm_canvas *c = frame(app, 80, 24);
	ASSERT_HAS(c, "stop run 2? (y/n)");
	jm_canvas_free(c);
	keys(app, "x");
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "stop run 2? (y/n)");
	ASSERT_HAS(c, "press y or n");
	jm_canvas_free(c);
	keys(app, "n");
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "not stopped");
	ASSERT_LACKS(c, "(y/n)");
	jm_canvas_free(c);
	cr_assert_str_eq(jm_app_screen_name(app), "Monitor", "n stays on the monitor");
	keys(app, "s");
	jm_app_key(app, JM_KEY_ESC);
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "not stopped");
	jm_canvas_free(c);
	cr_assert(!child_terminated(0.2), "n and Esc leave the run alone");
	keys(app, "sy");
	cr_assert(child_terminated(5), "y alone stops the run");
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "stopping run 2");
	jm_canvas_free(c);
	jm_app_free(app);

	/* a run that is not running cannot be stopped */
	app = open_app();
	keys(app, ":monitor 1\ns");
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "stop: run 1 is done, not running");
	jm_canvas_free(c);
	jm_app_free(app);
}

/* Home's s asks as the monitor's does. */
Test(ui, home_stop_asks_first_as_the_monitor_does)
{
	make_store(three_runs, 1, NULL);
	running_child();
	jm_app *app = open_app();
	jm_canvas *c = frame(app, 80, 24);
	ASSERT_HAS(c, "live.flow");
	jm_canvas_free(c);
	keys(app, "gs"); /* the newest run: run 2, running */
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "stop run 2? (y/n)");
	jm_canvas_free(c);
	cr_assert(!child_terminated(0.2), "s alone only asks");
	keys(app, "n");
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "not stopped");
	jm_canvas_free(c);
	keys(app, "sY");
	cr_assert(child_terminated(5), "Y stops the run");
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "stopping run 2");
	jm_canvas_free(c);
	jm_app_free(app);
}

/* A search started from the workbench stores its queued trials with its
 * own pid: the monitor follows the search, not its newest trial. */
Test(ui, monitor_of_a_launched_search_follows_the_search_not_a_queued_trial)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	child = fork();
	if (child == 0) {
		jm_store *s = NULL;
		jm_run_spec ps = {.kind = "search", .seed = 1, .device = "cpu", .name = "srch.flow"};
		int64_t search = 0, trial = 0;
		if (jm_store_open(&s, home, 0, NULL) < 0 || jm_store_run_create(s, &ps, &search, NULL) < 0)
			_exit(1);
		for (int i = 0; i < 2; i++) {
			jm_run_spec ts = {.kind = "trial", .parent = search, .seed = 1, .device = "cpu"};
			if (jm_store_run_create(s, &ts, &trial, NULL) < 0 ||
			    jm_store_run_set_status(s, trial, "queued", NULL, NULL) < 0)
				_exit(1);
		}
		jm_store_close(s);
		if (write(fds[1], &search, sizeof search) != sizeof search)
			_exit(1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	int64_t search = 0;
	cr_assert_eq(read(fds[0], &search, sizeof search), (ssize_t)sizeof search);
	close(fds[0]);
	cr_assert_eq(search, 1);
	jm_app *app = open_app();
	jm_app_push(app, jm_monitor_new_pending(app, child, "launch.log", 0));
	jm_canvas *c = frame(app, 120, 30);
	ASSERT_HAS(c, "run 1  running  srch.flow");
	ASSERT_LACKS(c, "trial of");
	ASSERT_HAS(c, "Trials (2)");
	jm_canvas_free(c);
	jm_app_free(app);
}

/* R on a run that first started long ago: the process takes it over
 * (jm_store_run_reopen keeps its first start), and the monitor finds it. */
Test(ui, monitor_finds_a_resumed_run_that_started_long_ago)
{
	static const run_def old[] = {{"old.flow", "stopped", "0.001", "5", 0.8, 0.4}};
	make_store(old, 1, NULL);
	jm_store *s = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_store_open(&s, home, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(sqlite3_exec(jm_store_db(s), "UPDATE runs SET created = created - 86400, "
				  "started = started - 86400, ended = ended - 80000", NULL, NULL,
				  NULL), SQLITE_OK);
	jm_store_close(s);
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	child = fork();
	if (child == 0) {
		char ok = 1;
		if (jm_store_open(&s, home, 0, NULL) < 0 || jm_store_run_reopen(s, 1, "cpu", NULL) < 0)
			ok = 0;
		jm_store_close(s);
		if (write(fds[1], &ok, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	char ok = 0;
	cr_assert_eq(read(fds[0], &ok, 1), 1);
	close(fds[0]);
	cr_assert(ok, "the stand-in process took run 1 over");
	jm_app *app = open_app();
	jm_app_push(app, jm_monitor_new_pending(app, child, "launch.log", 1));
	jm_canvas *c = frame(app, 120, 30);
	ASSERT_HAS(c, "run 1  running");
	ASSERT_LACKS(c, "resuming run 1");
	jm_canvas_free(c);
	jm_app_free(app);
}

Test(ui, monitor_of_a_search_shows_trials_and_best_so_far)
{
	jm_store *s = NULL;
	jm_metric_writer *w = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_store_open(&s, home, 0, &err), 0);
	cr_assert_eq(jm_metric_writer_open(&w, s, 0, 0, &err), 0);
	jm_run_spec ps = {.kind = "search", .seed = 1, .device = "cpu", .name = "lr search"};
	int64_t parent = 0;
	cr_assert_eq(jm_store_run_create(s, &ps, &parent, &err), 0);
	static const char *const lrs[] = {"0.1", "0.01", "0.001"};
	static const double accs[] = {0.6, 0.88, 0.8};
	for (int i = 0; i < 3; i++) {
		jm_run_spec ts = {.kind = "trial", .parent = parent, .seed = 1, .device = "cpu"};
		int64_t t = 0;
		cr_assert_eq(jm_store_run_create(s, &ts, &t, &err), 0);
		jm_store_param_set(s, t, "train.lr", lrs[i], &err);
		jm_store_param_set(s, t, "train.epochs", "3", &err);
		jm_metric_log(w, t, "val_acc", 10, accs[i]);
		jm_metric_writer_flush(w, &err);
		jm_store_run_set_status(s, t, "done", NULL, &err);
	}
	jm_metric_writer_close(w, NULL);
	jm_store_close(s);
	jm_app *app = open_app();
	keys(app, ":monitor 1\n");
	jm_canvas *c = frame(app, 200, 50);
	ASSERT_HAS(c, "Trials (3)");
	ASSERT_HAS(c, "objective val_acc (max)");
	ASSERT_HAS(c, "lr=0.01");
	ASSERT_LACKS(c, "epochs=3"); /* the same in every trial */
	ASSERT_HAS(c, "0.8800");
	ASSERT_HAS(c, "best so far");
	jm_canvas_free(c);
	keys(app, "j\n"); /* open the second trial */
	cr_assert_str_eq(jm_app_screen_name(app), "Monitor");
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "run 3");
	jm_canvas_free(c);
	jm_app_free(app);
}

/* ---- Wizard ----------------------------------------------------------------------- */

static jm_app *wizard_app(void)
{
	jm_app *app = open_app();
	keys(app, "n");
	cr_assert_str_eq(jm_app_screen_name(app), "Wizard");
	return app;
}

/* Step to the stage titled t (Tab until the step bar shows it current). */
static void goto_step(jm_app *app, int n)
{
	for (int i = 0; i < 20; i++)
		jm_app_key(app, JM_KEY_BTAB);
	for (int i = 0; i < n; i++)
		jm_app_key(app, JM_KEY_TAB);
}

Test(ui, wizard_forms_hold_every_key_of_the_table)
{
	jm_app *app = wizard_app();
	const char *stages[] = {"data", "clean", "features", "augment", "split", "model", "search",
				"train"};
	for (int st = 0; st < 8; st++) {
		goto_step(app, st);
		jm_canvas *c = frame(app, 200, 50);
		int n = 0;
		for (int i = 0; i < jm_flow_key_count(); i++) {
			jm_flow_keyinfo ki;
			jm_flow_key_info(i, &ki);
			if (strcmp(ki.section, stages[st]))
				continue;
			n++;
			char pat[80];
			snprintf(pat, sizeof pat, " %s ", ki.key);
			/* keys past the form's page are reached by scrolling */
			if (n <= 38)
				ASSERT_HAS(c, pat);
		}
		if (!n)
			ASSERT_HAS(c, "has no keys in this");
		else
			ASSERT_HAS(c, stages[st]);
		jm_canvas_free(c);
	}
	jm_app_free(app);
}

Test(ui, wizard_edits_through_the_flow_module_and_previews_the_model)
{
	jm_app *app = wizard_app();
	goto_step(app, 5); /* Model */
	jm_canvas *c = frame(app, 80, 24);
	ASSERT_HAS(c, "[model]");
	ASSERT_HAS(c, "Linear(784, 256)  256  200,960");
	ASSERT_HAS(c, "total 235,146 parameters");
	int y = row_of(c, " type ");
	cr_assert(cell_attr(c, 2, y) & JM_A_REVERSE, "cursor on the first key");
	jm_canvas_free(c);

	keys(app, "j\n"); /* hidden: edit */
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "model.hidden = 256,128");
	jm_canvas_free(c);
	jm_app_key(app, JM_CTRL('u'));
	keys(app, "64\n");
	c = frame(app, 200, 50);
	ASSERT_HAS(c, "Linear(784, 64)");
	ASSERT_HAS(c, "total 50,890 parameters");
	ASSERT_HAS(c, "(not saved)");
	jm_canvas_free(c);

	/* a bad value keeps the editor open with the flow module's message */
	goto_step(app, 7); /* Train */
	keys(app, "jjj\n"); /* lr */
	jm_app_key(app, JM_CTRL('u'));
	keys(app, "fast\n");
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "[train] lr: expected a number > 0, got \"fast\"");
	ASSERT_HAS(c, "train.lr = fast");
	jm_canvas_free(c);
	jm_app_key(app, JM_CTRL('u'));
	keys(app, "0.01\n");
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "0.01");
	jm_canvas_free(c);

	/* choices cycle; cnn without layers does not build */
	goto_step(app, 5);
	keys(app, "gl");
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "cnn");
	ASSERT_HAS(c, "Model does not build");
	jm_canvas_free(c);
	jm_app_free(app);
}

Test(ui, wizard_saves_what_batch_reads_and_reopens_unchanged)
{
	jm_app *app = wizard_app();
	goto_step(app, 7); /* Train: epochs */
	keys(app, "\n");
	jm_app_key(app, JM_CTRL('u'));
	keys(app, "2\nw");
	jm_app_key(app, JM_CTRL('u'));
	keys(app, "mine\n");
	jm_canvas *c = frame(app, 80, 24);
	ASSERT_HAS(c, "saved mine.flow");
	jm_canvas_free(c);
	size_t n1 = 0;
	char *saved = jt_read("mine.flow", &n1);
	cr_assert_not_null(saved);
	jm_flow *f = NULL;
	jm_err err = {0};
	cr_assert_eq(jm_flow_parse(&f, saved, "mine.flow", &err), 0, "%s", err.msg);
	cr_assert_eq(f->train.epochs, 2);
	jm_flow *defaults = jm_flow_new();
	cr_assert_eq(jm_flow_set(defaults, "train.epochs=2", &err), 0);
	cr_assert(jm_flow_equal(f, defaults), "the file reads as the wizard's flow");
	jm_flow_free(defaults);
	/* a flow says only what differs (README) */
	cr_assert_str_eq(saved, "[train]\nepochs = 2\n");
	jm_flow_free(f);
	jm_app_free(app);

	/* reopen, save under another name: the same bytes */
	app = open_app();
	keys(app, ":open mine.flow\n");
	cr_assert_str_eq(jm_app_screen_name(app), "Wizard");
	keys(app, "w");
	jm_app_key(app, JM_CTRL('u'));
	keys(app, "again.flow\n");
	size_t n2 = 0;
	char *again = jt_read("again.flow", &n2);
	cr_assert_not_null(again);
	cr_assert_eq(n1, n2);
	cr_assert_eq(memcmp(saved, again, n1), 0, "reopened and saved: the same bytes");
	free(saved);
	free(again);

	/* Review shows the file as Save writes it, and the verdict */
	goto_step(app, 20);
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "valid: w saves it");
	ASSERT_HAS(c, "[train]");
	ASSERT_HAS(c, "epochs = 2");
	jm_canvas_free(c);
	jm_app_free(app);
}

Test(ui, wizard_refuses_to_save_an_invalid_flow)
{
	jm_app *app = wizard_app();
	goto_step(app, 5);
	keys(app, "gl"); /* cnn with no layers */
	keys(app, "w\n");
	jm_canvas *c = frame(app, 80, 24);
	ASSERT_HAS(c, "not saved:");
	ASSERT_HAS(c, "layers");
	jm_canvas_free(c);
	struct stat st;
	cr_assert_neq(stat("untitled.flow", &st), 0);
	jm_app_free(app);
}

/* A tiny IDX data set: 12 images 8x8 (image i has i light rows), labels i%3. */
static void write_idx(const char *d)
{
	mkdir(d, 0755);
	static const char *const names[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
					    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
	for (int f = 0; f < 4; f++) {
		char *p = jm_xasprintf("%s/%s", d, names[f]);
		FILE *fp = fopen(p, "wb");
		free(p);
		int images = f % 2 == 0, n = 12;
		unsigned char head[16] = {0, 0, 8, images ? 3 : 1, 0, 0, 0, (unsigned char)n};
		if (images)
			head[11] = 8, head[15] = 8;
		fwrite(head, 1, images ? 16 : 8, fp);
		for (int i = 0; i < n; i++) {
			if (!images) {
				fputc(i % 3, fp);
				continue;
			}
			for (int px = 0; px < 64; px++)
				fputc(px / 8 < i % 8 ? 255 : 0, fp);
		}
		fclose(fp);
	}
}

Test(ui, wizard_data_preview_draws_the_samples_and_labels)
{
	char *idx = jm_xasprintf("%s/tiny", dir);
	write_idx(idx);
	jm_app *app = wizard_app();
	keys(app, "\n"); /* source */
	jm_app_key(app, JM_CTRL('u'));
	char *v = jm_xasprintf("idx:%s\n", idx);
	keys(app, v);
	free(v);
	jm_canvas *c = NULL;
	for (int i = 0; i < 200; i++) { /* the loader runs on its own thread */
		jm_canvas_free(c);
		c = frame(app, 80, 24);
		if (has(c, "8x8 images"))
			break;
		usleep(10000);
	}
	ASSERT_HAS(c, "8x8 images, 3 classes");
	ASSERT_HAS(c, "the first 12 training samples");
	int lab = row_of(c, "0    1    2");
	cr_assert_gt(lab, 0, "labels under the images");
	/* image 1 has one light row: dots only in the top braille row */
	int x = 0;
	char *row = jm_canvas_row(c, lab);
	jm_canvas_find(c, "0    1    2", &x, NULL);
	free(row);
	int bits = braille_bits(jm_canvas_cell(c, x + 5, lab - 2)->g);
	cr_assert_eq(bits, 0x09, "one light pixel row: the top two dots (got %x)", bits);
	jm_canvas_free(c);
	jm_app_free(app);
	free(idx);
}

/* Draw frames until text shows (the previews load on their own thread). */
static jm_canvas *frame_until(jm_app *app, int w, int h, const char *text)
{
	jm_canvas *c = NULL;
	for (int i = 0; i < 300; i++) {
		jm_canvas_free(c);
		c = frame(app, w, h);
		if (has(c, text))
			break;
		usleep(10000);
	}
	return c;
}

/* Set section.key through the wizard's `:`-less path: step, row, Enter. */
static void wizard_set(jm_app *app, int step, int row, const char *value)
{
	goto_step(app, step);
	keys(app, "g");
	for (int i = 0; i < row; i++)
		keys(app, "j");
	keys(app, "\n");
	jm_app_key(app, JM_CTRL('u'));
	char *v = jm_xasprintf("%s\n", value);
	keys(app, v);
	free(v);
}

/* The row of key `key` in the form of section (table order). */
static int key_row(const char *section, const char *key)
{
	int row = 0;
	for (int i = 0; i < jm_flow_key_count(); i++) {
		jm_flow_keyinfo ki;
		jm_flow_key_info(i, &ki);
		if (strcmp(ki.section, section))
			continue;
		if (!strcmp(ki.key, key))
			return row;
		row++;
	}
	cr_assert_fail("no key %s.%s", section, key);
	return -1;
}

/* q with unsaved changes asks; one key answers: n stays, y leaves. */
Test(ui, wizard_leave_asks_and_one_key_answers)
{
	jm_app *app = wizard_app();
	wizard_set(app, 7, key_row("train", "epochs"), "4");
	keys(app, "q");
	jm_canvas *c = frame(app, 120, 24);
	ASSERT_HAS(c, "leave without saving? (y/n)");
	jm_canvas_free(c);
	keys(app, "e"); /* no answer: still asked, the form untouched */
	c = frame(app, 120, 24);
	ASSERT_HAS(c, "leave without saving? (y/n)");
	ASSERT_HAS(c, "press y or n");
	jm_canvas_free(c);
	keys(app, "n");
	cr_assert_str_eq(jm_app_screen_name(app), "Wizard");
	c = frame(app, 120, 24);
	ASSERT_LACKS(c, "(y/n)");
	jm_canvas_free(c);
	keys(app, "qy");
	cr_assert_str_eq(jm_app_screen_name(app), "Home", "y alone leaves");
	jm_app_free(app);
}

/* ---- Augment preview ------------------------------------------------------------- */

/* The wizard on the tiny IDX set, on the Augment step. */
static jm_app *augment_app(void)
{
	char *idx = jm_xasprintf("%s/tiny", dir);
	write_idx(idx);
	jm_app *app = wizard_app();
	char *v = jm_xasprintf("idx:%s", idx);
	wizard_set(app, 0, key_row("data", "source"), v);
	free(v);
	free(idx);
	goto_step(app, 3);
	return app;
}

/* "Kind  lambda L": L, and the label line "a 0 + b 1" under the pair. */
static double shown_lambda(const jm_canvas *c, const char *kind)
{
	char pat[32];
	snprintf(pat, sizeof pat, "%s  lambda ", kind);
	int x = 0, y = 0;
	cr_assert(jm_canvas_find(c, pat, &x, &y), "no \"%s\"", pat);
	char *row = jm_canvas_row(c, y);
	char *at = strstr(row, pat);
	double lam = strtod(at + strlen(pat), NULL);
	free(row);
	return lam;
}

static void check_augment(int w, int h)
{
	jm_app *app = augment_app();
	jm_canvas *c = frame_until(app, w, h, "CutMix  lambda");
	if (getenv("JT_DUMP"))
		jm_canvas_dump(c, stderr);
	ASSERT_HAS(c, "[augment]");
	ASSERT_HAS(c, "mixing is off in this flow");
	ASSERT_HAS(c, "per image: off");
	ASSERT_HAS(c, "training samples 0 and 1, seed 1");
	/* CutMix: lambda is the box's share of the image (correct_lam), and
	 * the first image's label is lambda of its class, 1 - lambda of the
	 * other's */
	double lam = shown_lambda(c, "CutMix");
	cr_assert(lam > 0 && lam < 1, "lambda %g", lam);
	int x = 0, y = 0;
	cr_assert(jm_canvas_find(c, "box ", &x, &y));
	char *row = jm_canvas_row(c, y);
	int bh = 0, bw = 0;
	cr_assert_eq(sscanf(strstr(row, "box ") + 4, "%dx%d", &bh, &bw), 2, "%s", row);
	free(row);
	cr_assert(fabs(lam - (1.0 - bh * bw / 64.0)) < 0.006, "lambda %g, box %dx%d", lam, bh, bw);
	cr_assert(cell_attr(c, x, y) & JM_A_BOLD, "panel titles are bold");
	char a[48], b[48];
	snprintf(a, sizeof a, "%.2f 0 + %.2f 1", lam, 1 - lam);
	snprintf(b, sizeof b, "%.2f 1 + %.2f 0", 1 - lam, lam);
	cr_assert(has(c, a) || has(c, b), "CutMix label line \"%s\"", a);
	/* MixUp on 80x24 is reached with z when it does not fit beside the form */
	if (!has(c, "MixUp  lambda")) {
		ASSERT_HAS(c, "z: all of it, full width");
		keys(app, "z");
		jm_canvas_free(c);
		c = frame(app, w, h);
	}
	double mix = shown_lambda(c, "MixUp");
	cr_assert(mix > 0 && mix < 1, "lambda %g", mix);
	snprintf(a, sizeof a, "%.2f 0 + %.2f 1", mix, 1 - mix);
	snprintf(b, sizeof b, "%.2f 1 + %.2f 0", 1 - mix, mix);
	cr_assert(has(c, a) || has(c, b), "MixUp label line \"%s\"", a);
	/* the same seed draws the same preview */
	double again = shown_lambda(c, "CutMix");
	cr_assert_eq(again, lam);
	jm_canvas_free(c);
	jm_app_free(app);
}

Test(ui, wizard_augment_preview_mixes_two_samples_80x24) { check_augment(80, 24); }
Test(ui, wizard_augment_preview_mixes_two_samples_200x50) { check_augment(200, 50); }

Test(ui, wizard_augment_preview_follows_the_flow)
{
	jm_app *app = augment_app();
	wizard_set(app, 3, key_row("augment", "cutmix"), "0.5");
	wizard_set(app, 3, key_row("augment", "hflip"), "0.5");
	wizard_set(app, 3, key_row("augment", "crop_padding"), "2");
	jm_canvas *c = frame_until(app, 200, 50, "CutMix  lambda");
	ASSERT_HAS(c, "cutmix 0.5");
	ASSERT_LACKS(c, "mixing is off");
	ASSERT_HAS(c, "per image: hflip 0.5, crop padding 2 (zero), erasing 0 (const)");
	/* the sources are drawn: image 1 has one light pixel row */
	int x = 0, y = 0;
	cr_assert(jm_canvas_find(c, "the two samples", &x, &y));
	int bits = braille_bits(jm_canvas_cell(c, x + 4 + 1, y + 1)->g);
	cr_assert_eq(bits, 0x09, "image 1's top row (got %x)", bits);
	cr_assert_eq(braille_bits(jm_canvas_cell(c, x, y + 1)->g), 0, "image 0 is black");
	double lam = shown_lambda(c, "CutMix");
	/* the per-image settings drawn on the same two samples, with what
	 * each plan did to them */
	if (getenv("JT_DUMP"))
		jm_canvas_dump(c, stderr);
	cr_assert(jm_canvas_find(c, "per image  step ", &x, &y));
	cr_assert(cell_attr(c, x, y) & JM_A_BOLD, "panel titles are bold");
	cr_assert(has(c, "flipped") || has(c, "shifted"), "a plan that changes something");
	jm_canvas_free(c);
	wizard_set(app, 3, key_row("augment", "erasing"), "1");
	c = frame_until(app, 200, 50, "erased");
	ASSERT_HAS(c, "per image: hflip 0.5, crop padding 2 (zero), erasing 1 (const)");
	ASSERT_HAS(c, "erased");
	jm_canvas_free(c);
	wizard_set(app, 3, key_row("augment", "erasing"), "0");
	/* another seed, another draw */
	wizard_set(app, 7, key_row("train", "seed"), "7");
	goto_step(app, 3);
	c = frame_until(app, 200, 50, "seed 7");
	cr_assert_neq(shown_lambda(c, "CutMix"), lam);
	jm_canvas_free(c);
	jm_app_free(app);
}

/* ---- Data and Clean previews of a CSV source ---------------------------------------- */

static char *write_csv(void)
{
	char *path = jm_xasprintf("%s/small.csv", dir);
	FILE *fp = fopen(path, "w");
	cr_assert_not_null(fp);
	fputs("a,b,city,y\n1,2.5,x,0\n,3.5,y,1\n3,,x,0\n100,4.5,,1\n", fp);
	fclose(fp);
	return path;
}

static jm_app *csv_app(const char *source)
{
	jm_app *app = wizard_app();
	wizard_set(app, 0, key_row("data", "source"), source);
	goto_step(app, 0);
	return app;
}

static void check_csv_data(int w, int h)
{
	char *csv = write_csv();
	jm_app *app = csv_app(csv);
	keys(app, "z"); /* the whole width: every statistic fits at 80 */
	jm_canvas *c = frame_until(app, w, h, "4 rows, 4 columns");
	ASSERT_HAS(c, "small.csv: 4 rows, 4 columns");
	int y = row_of(c, "missing");
	cr_assert_gt(y, 0);
	char *head = jm_canvas_row(c, y);
	cr_assert(strstr(head, "type") && strstr(head, "mean") && strstr(head, "min") &&
		  strstr(head, "max"), "%s", head);
	free(head);
	cr_assert(cell_attr(c, 1, y) & JM_A_BOLD, "the heading is bold");
	/* a: 1, -, 3, 100 */
	int ya = row_starting(c, y + 1, h, "a ");
	cr_assert_gt(ya, 0);
	char *row = jm_canvas_row(c, ya);
	cr_assert(strstr(row, " 1 ") && strstr(row, "34.67") && strstr(row, " 100"), "%s", row);
	free(row);
	ASSERT_HAS(c, "city");
	jm_canvas_free(c);
	jm_app_free(app);
	free(csv);
}

Test(ui, wizard_data_preview_of_a_csv_shows_column_statistics_80x24) { check_csv_data(80, 24); }
Test(ui, wizard_data_preview_of_a_csv_shows_column_statistics_200x50) { check_csv_data(200, 50); }

static void check_clean(int w, int h)
{
	char *csv = write_csv();
	jm_app *app = csv_app(csv);
	goto_step(app, 1);
	jm_canvas *c = frame_until(app, w, h, "no [clean] rules");
	ASSERT_HAS(c, "no [clean] rules: the data goes");
	jm_canvas_free(c);
	wizard_set(app, 1, key_row("clean", "missing"), "median");
	keys(app, "z");
	c = frame_until(app, w, h, "changed,");
	if (getenv("JT_DUMP"))
		jm_canvas_dump(c, stderr);
	ASSERT_HAS(c, "4 rows → 4, 4 columns → 4");
	ASSERT_HAS(c, "missing median: 2 changed, 0 rows dropped");
	/* a: the median 3 fills row 2, so the mean goes 34.67 → 26.75 */
	ASSERT_HAS(c, "1→0");
	ASSERT_HAS(c, "34.67→26.75");
	int x = 0, y = 0;
	cr_assert(jm_canvas_find(c, "34.67→26.75", &x, &y));
	cr_assert(cell_attr(c, 1, y) & JM_A_BOLD, "a changed column is bold");
	jm_canvas_free(c);
	/* drop the rows instead */
	wizard_set(app, 1, key_row("clean", "missing"), "drop"); /* still zoomed */
	c = frame_until(app, w, h, "4 rows → 1");
	ASSERT_HAS(c, "4 rows → 1");
	ASSERT_HAS(c, "3 rows dropped");
	jm_canvas_free(c);
	jm_app_free(app);
	free(csv);
}

Test(ui, wizard_clean_preview_shows_before_and_after_80x24) { check_clean(80, 24); }
Test(ui, wizard_clean_preview_shows_before_and_after_200x50) { check_clean(200, 50); }

static void check_features(int w, int h)
{
	char *csv = write_csv();
	jm_app *app = csv_app(csv);
	wizard_set(app, 0, key_row("data", "target"), "y");
	goto_step(app, 2);
	keys(app, "z");
	/* no steps: a and b go in; the text column city is left out, noted */
	jm_canvas *c = frame_until(app, w, h, "2 inputs");
	if (getenv("JT_DUMP"))
		jm_canvas_dump(c, stderr);
	ASSERT_HAS(c, "2 inputs, y: 2 classes");
	ASSERT_HAS(c, "no [features] steps");
	ASSERT_HAS(c, "city");
	int y = row_of(c, "input  missing");
	cr_assert_gt(y, 0);
	char *head = jm_canvas_row(c, y);
	cr_assert(strstr(head, "missing") && strstr(head, "mean") && strstr(head, "max"), "%s",
		  head);
	free(head);
	jm_canvas_free(c);
	/* one-hot city: two new inputs, marked; b standardized */
	wizard_set(app, 2, key_row("features", "onehot"), "city");
	wizard_set(app, 2, key_row("features", "standardize"), "b");
	c = frame_until(app, w, h, "4 inputs");
	if (getenv("JT_DUMP"))
		jm_canvas_dump(c, stderr);
	ASSERT_HAS(c, "4 inputs, y: 2 classes");
	ASSERT_HAS(c, "fitted on all rows read");
	int x = 0;
	cr_assert(jm_canvas_find(c, "city_x", &x, &y));
	cr_assert(cell_attr(c, x, y) & JM_A_BOLD, "a column the steps made is bold");
	cr_assert(jm_canvas_find(c, "a ", &x, &y));
	/* b: 2.5, -, 3.5, 4.5 standardized: mean 0 (printed to 4 digits) */
	int yb = row_starting(c, 0, h, "b ");
	cr_assert_gt(yb, 0);
	char *row = jm_canvas_row(c, yb);
	cr_assert(strstr(row, " 0 ") || strstr(row, "e-"), "b standardized: %s", row);
	free(row);
	jm_canvas_free(c);
	/* a step on a column the file lacks */
	wizard_set(app, 2, key_row("features", "standardize"), "nosuch");
	c = frame_until(app, w, h, "do not apply");
	ASSERT_HAS(c, "The features do not apply");
	ASSERT_HAS(c, "nosuch");
	jm_canvas_free(c);
	jm_app_free(app);
	free(csv);
	/* an image source: Features says where they apply */
	app = wizard_app();
	goto_step(app, 2);
	c = frame(app, w, h);
	ASSERT_HAS(c, "Features work on a CSV source");
	jm_canvas_free(c);
	jm_app_free(app);
}

Test(ui, wizard_features_preview_shows_the_inputs_80x24) { check_features(80, 24); }
Test(ui, wizard_features_preview_shows_the_inputs_200x50) { check_features(200, 50); }

Test(ui, wizard_csv_previews_show_errors_as_messages)
{
	/* a missing file: the source module's message, located at the key */
	jm_app *app = csv_app("nosuch.csv");
	jm_canvas *c = frame_until(app, 200, 50, "No data");
	ASSERT_HAS(c, "No data");
	ASSERT_HAS(c, "[data] source");
	ASSERT_HAS(c, "nosuch.csv");
	jm_canvas_free(c);
	jm_app_free(app);

	/* a rule on a column the file lacks */
	char *csv = write_csv();
	app = csv_app(csv);
	wizard_set(app, 1, key_row("clean", "missing"), "median: nosuch");
	c = frame_until(app, 200, 50, "do not apply");
	ASSERT_HAS(c, "The rules do not apply");
	ASSERT_HAS(c, "[clean]");
	ASSERT_HAS(c, "nosuch");
	jm_canvas_free(c);
	/* a rule the flow module refuses never reaches the preview */
	wizard_set(app, 1, key_row("clean", "missing"), "avg");
	c = frame(app, 200, 50);
	ASSERT_HAS(c, "[clean] missing");
	ASSERT_HAS(c, "avg");
	jm_canvas_free(c);
	jm_app_key(app, JM_KEY_ESC);
	/* an image source: Clean says where it applies */
	jm_app_free(app);
	app = wizard_app();
	goto_step(app, 1);
	c = frame(app, 80, 24);
	ASSERT_HAS(c, "Cleaning works on a CSV source");
	jm_canvas_free(c);
	jm_app_free(app);
	free(csv);
}

/* ---- Compare: every column sorts -------------------------------------------------- */

static void check_compare_fixed_sort(int w, int h)
{
	jm_app *app = compare_marked();
	int ids[3];
	/* the cursor starts on the first param; h goes left over NAME, STATUS, ID */
	keys(app, "h");
	jm_canvas *c = frame(app, w, h);
	int x = 0, y = 0;
	cr_assert(jm_canvas_find(c, "NAME", &x, &y));
	cr_assert(cell_attr(c, x, y) & JM_A_REVERSE, "the cursor on NAME");
	jm_canvas_free(c);
	keys(app, "s");
	c = frame(app, w, h);
	ids_shown(c, ids, 3);
	cr_assert(ids[0] == 1 && ids[1] == 2 && ids[2] == 3, "by name: %d %d %d", ids[0], ids[1],
		  ids[2]);
	ASSERT_HAS(c, "NAME▲");
	ASSERT_HAS(c, "sorted by name, ascending");
	jm_canvas_free(c);
	keys(app, "s");
	c = frame(app, w, h);
	ids_shown(c, ids, 3);
	cr_assert(ids[0] == 3 && ids[2] == 1, "by name, reversed: %d %d %d", ids[0], ids[1], ids[2]);
	ASSERT_HAS(c, "NAME▼");
	jm_canvas_free(c);
	keys(app, "hs"); /* STATUS: done before failed; ties newest first */
	c = frame(app, w, h);
	ids_shown(c, ids, 3);
	cr_assert(ids[0] == 3 && ids[1] == 1 && ids[2] == 2, "by status: %d %d %d", ids[0], ids[1],
		  ids[2]);
	ASSERT_HAS(c, "STATUS▲");
	cr_assert(jm_canvas_find(c, "STATUS", &x, &y));
	cr_assert(cell_attr(c, x, y) & JM_A_REVERSE, "the cursor on STATUS");
	jm_canvas_free(c);
	keys(app, "hhs"); /* ID (the leftmost; h stays): newest first */
	c = frame(app, w, h);
	ids_shown(c, ids, 3);
	cr_assert(ids[0] == 3 && ids[1] == 2 && ids[2] == 1, "by id: %d %d %d", ids[0], ids[1], ids[2]);
	ASSERT_HAS(c, "ID▼");
	jm_canvas_free(c);
	keys(app, "llls"); /* back to the params: lr */
	c = frame(app, w, h);
	ids_shown(c, ids, 3);
	cr_assert(ids[0] == 1 && ids[1] == 3 && ids[2] == 2, "by lr: %d %d %d", ids[0], ids[1], ids[2]);
	jm_canvas_free(c);
	jm_app_free(app);
}

Test(ui, compare_sorts_by_status_and_name_80x24) { check_compare_fixed_sort(80, 24); }
Test(ui, compare_sorts_by_status_and_name_200x50) { check_compare_fixed_sort(200, 50); }

/* Saving a flow written by hand keeps it: comments, blank lines, order,
 * "key: value", spacing and trailing comments stay byte for byte; a
 * changed value changes in its line, a key set away from its default goes
 * at the end of its section (a new section at the end), and no key left to
 * its default is written ([data] dir is not pinned).  The open file is
 * saved without a question; another file that exists, or the open one
 * changed on disk since it was read, asks first, and no keeps the file. */
Test(ui, wizard_save_keeps_a_hand_written_flow)
{
	const char *hand = "; my notes\n"
			   "[data]\n"
			   "source = fashion-mnist   ; the packaged set\n"
			   "\n"
			   "[train]\n"
			   "epochs = 2   ; quick\n"
			   "# the rate that worked\n"
			   "lr: 0.01\n";
	free(jt_write(dir, "hand.flow", hand));
	jm_app *app = open_app();
	keys(app, ":open hand.flow\n");
	cr_assert_str_eq(jm_app_screen_name(app), "Wizard");
	keys(app, "w\n"); /* save as: hand.flow, nothing changed */
	jm_canvas *c = frame(app, 120, 24);
	ASSERT_HAS(c, "saved hand.flow");
	jm_canvas_free(c);
	size_t n = 0;
	char *now = jt_read("hand.flow", &n);
	cr_assert_str_eq(now, hand, "saved unchanged: the same bytes");
	free(now);

	wizard_set(app, 7, key_row("train", "epochs"), "3");
	wizard_set(app, 7, key_row("train", "batch"), "64");
	wizard_set(app, 5, key_row("model", "hidden"), "32");
	keys(app, "w\n");
	c = frame(app, 120, 24);
	ASSERT_HAS(c, "saved hand.flow");
	jm_canvas_free(c);
	now = jt_read("hand.flow", &n);
	cr_assert_str_eq(now, "; my notes\n"
			      "[data]\n"
			      "source = fashion-mnist   ; the packaged set\n"
			      "\n"
			      "[train]\n"
			      "epochs = 3   ; quick\n"
			      "# the rate that worked\n"
			      "lr: 0.01\n"
			      "batch: 64\n"
			      "\n"
			      "[model]\n"
			      "hidden = 32\n");
	free(now);

	/* Review shows those bytes */
	goto_step(app, 20);
	c = frame(app, 120, 40);
	ASSERT_HAS(c, "epochs = 3   ; quick");
	ASSERT_HAS(c, "batch: 64");
	ASSERT_LACKS(c, "dir =");
	jm_canvas_free(c);

	/* changed on disk since it was read: asked; no keeps the file */
	const char *theirs = "[train]\nepochs = 9\n";
	free(jt_write(dir, "hand.flow", theirs));
	wizard_set(app, 7, key_row("train", "epochs"), "4");
	keys(app, "w\n");
	c = frame(app, 120, 24);
	ASSERT_HAS(c, "hand.flow changed on disk since it was read: replace it? (y/n)");
	jm_canvas_free(c);
	keys(app, "n");
	now = jt_read("hand.flow", &n);
	cr_assert_str_eq(now, theirs, "no keeps the file");
	free(now);
	keys(app, "w\ny");
	now = jt_read("hand.flow", &n);
	cr_assert(strstr(now, "; my notes\n") && strstr(now, "epochs = 4   ; quick\n"), "%s", now);
	free(now);

	/* save as another file that exists */
	free(jt_write(dir, "other.flow", "[train]\nepochs = 9\n"));
	keys(app, "w");
	jm_app_key(app, JM_CTRL('u'));
	keys(app, "other.flow\n");
	c = frame(app, 120, 24);
	ASSERT_HAS(c, "other.flow exists: replace it? (y/n)");
	jm_canvas_free(c);
	keys(app, "n");
	now = jt_read("other.flow", &n);
	cr_expect_str_eq(now, "[train]\nepochs = 9\n");
	free(now);
	jm_app_free(app);
}
