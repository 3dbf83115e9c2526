/*
 * app.c: the screen stack, the frame, the line editor, help, `:` commands
 * (see app.h).  Key dispatch, first match wins:
 *
 *   y/n question     ─▶ y/Y yes, n/N/q/Esc no, other keys ask again
 *   line editor open ─▶ editor keys, Enter submits, Esc cancels
 *   help open        ─▶ scroll / close
 *   top screen's binding table ─▶ global binding table ─▶ screen key()
 */
#include "ui/app.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include "flow.h"
#include "store/store.h"
#include "ui/launch.h"
#include "ui/line.h"
#include "ui/rundata.h"
#include "util/strbuf.h"

enum mode { MODE_NONE, MODE_FILTER, MODE_COMMAND, MODE_PROMPT, MODE_CONFIRM };

struct jm_app {
	char *home, *exe;
	jm_store *store;       /* read-only connection for polling */
	int utf8;
	jm_screen *top;
	int quit;

	enum mode mode;
	jm_line line;
	char label[512];
	jm_prompt_fn prompt_fn;
	jm_confirm_fn confirm_fn;
	jm_screen *prompt_screen; /* the screen that asked (prompt or question) */

	int help, help_top;
	char msg[512];
	int msg_error;
	int launches;
	int64_t rerun;         /* the run a rerun question is about */
	int64_t stop;          /* the run a stop question is about */
};

/* ---- stack and basics ------------------------------------------------------ */

sqlite3 *jm_app_db(jm_app *app) { return jm_store_db(app->store); }
const char *jm_app_home(const jm_app *app) { return app->home; }
int jm_app_utf8(const jm_app *app) { return app->utf8; }
jm_screen *jm_app_top(jm_app *app) { return app->top; }
void jm_app_quit(jm_app *app) { app->quit = 1; }

double jm_app_now(const jm_app *app)
{
	(void)app;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

const char *jm_app_screen_name(const jm_app *app)
{
	return app->top ? app->top->cls->name : "";
}

static void screen_free(jm_screen *s)
{
	free(s->filter);
	s->cls->free(s);
}

void jm_app_push(jm_app *app, jm_screen *s)
{
	if (!s)
		return;
	s->below = app->top;
	app->top = s;
	if (s->cls->poll)
		s->cls->poll(s, app);
}

void jm_app_pop(jm_app *app)
{
	jm_screen *s = app->top;
	if (!s)
		return;
	if (!s->below) {
		app->quit = 1;
		return;
	}
	app->top = s->below;
	screen_free(s);
	if (app->top->cls->poll)
		app->top->cls->poll(app->top, app);
}

void jm_app_message(jm_app *app, int error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(app->msg, sizeof app->msg, fmt, ap);
	va_end(ap);
	app->msg_error = error;
}

void jm_app_prompt(jm_app *app, const char *label, const char *initial, jm_prompt_fn fn)
{
	app->mode = MODE_PROMPT;
	snprintf(app->label, sizeof app->label, "%s", label);
	jm_line_set(&app->line, initial);
	app->prompt_fn = fn;
	app->prompt_screen = app->top;
}

void jm_app_confirm(jm_app *app, const char *question, jm_confirm_fn fn)
{
	app->mode = MODE_CONFIRM;
	snprintf(app->label, sizeof app->label, "%s (y/n) ", question);
	app->confirm_fn = fn;
	app->prompt_screen = app->top;
}

/* One key answers the question; keys that are no answer ask again (a
 * resize or Ctrl-L only redraws). */
static void confirm_key(jm_app *app, int key)
{
	int yes = key == 'y' || key == 'Y';
	if (!yes && key != 'n' && key != 'N' && key != 'q' && key != JM_KEY_ESC) {
		if (key != JM_KEY_RESIZE && key != JM_CTRL('l'))
			jm_app_message(app, 1, "press y or n");
		return;
	}
	app->mode = MODE_NONE; /* fn may ask again */
	app->msg[0] = '\0';
	if (app->confirm_fn && app->prompt_screen == app->top)
		app->confirm_fn(app->top, app, yes);
}

jm_app *jm_app_new(const jm_app_opts *o, jm_err *err)
{
	jm_app *app = jm_xcalloc(1, sizeof *app);
	app->home = jm_store_home_resolve(o->home);
	app->exe = jm_xstrdup(o->exe ? o->exe : "/proc/self/exe");
	app->utf8 = o->utf8;
	/* A writable open creates the store and marks dead runs crashed; the
	 * app then reads through a read-only connection. */
	jm_store *w = NULL;
	if (jm_store_open(&w, app->home, 0, err) < 0)
		goto fail;
	jm_store_close(w);
	if (jm_store_open(&app->store, app->home, JM_STORE_READONLY, err) < 0)
		goto fail;
	jm_app_push(app, jm_home_new(app));
	return app;
fail:
	jm_app_free(app);
	return NULL;
}

void jm_app_free(jm_app *app)
{
	if (!app)
		return;
	while (app->top) {
		jm_screen *s = app->top;
		app->top = s->below;
		screen_free(s);
	}
	jm_store_close(app->store);
	free(app->home);
	free(app->exe);
	free(app);
}

/* ---- launching ---------------------------------------------------------- */

/* Start jianmo --batch ARGS; the monitor follows the run it makes, or the
 * run it resumes (resuming: its id; 0 for a new run). */
static int launch(jm_app *app, const char *const *args, int nargs, int64_t resuming)
{
	jm_err err = {0};
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/launch", app->home);
	mkdir(dir, 0755);
	char *log = jm_xasprintf("%s/%lld-%d.log", dir, (long long)time(NULL), app->launches++);
	pid_t pid = 0;
	if (jm_launch(app->exe, app->home, args, nargs, log, &pid, &err) < 0) {
		jm_app_message(app, 1, "%s", err.msg);
		free(log);
		return -1;
	}
	jm_app_push(app, jm_monitor_new_pending(app, pid, log, resuming));
	free(log);
	return 0;
}

int jm_app_launch(jm_app *app, const char *const *args, int nargs)
{
	return launch(app, args, nargs, 0);
}

/* A CSV source that is a local file (or an archive's member) must be
 * there; a URL is fetched when the run starts, and so checked then. */
static int csv_source_check(const jm_flow *f, jm_err *err)
{
	const char *src = f->data.source;
	struct stat st;
	if (!jm_flow_is_tabular(f) || !strncmp(src, "http://", 7) || !strncmp(src, "https://", 8) ||
	    stat(src, &st) == 0)
		return 0;
	const char *colon = strrchr(src, ':');
	char *archive = colon ? jm_xasprintf("%.*s", (int)(colon - src), src) : NULL;
	int there = archive && stat(archive, &st) == 0;
	free(archive);
	if (there)
		return 0;
	char loc[300];
	jm_flow_locate(f, "data.source", loc, sizeof loc);
	return jm_err_set(err, JM_EXIT_INPUT, "%s: [data] source: \"%s\": %s", loc, src,
			  strerror(ENOENT));
}

int jm_app_run_flow(jm_app *app, const char *path)
{
	jm_flow *f = NULL;
	jm_err err = {0};
	int ok = jm_flow_load(&f, path, &err) == 0 && jm_flow_check_files(f, &err) == 0 &&
		 csv_source_check(f, &err) == 0;
	jm_flow_free(f);
	if (!ok) {
		jm_app_message(app, 1, "not started: %s", err.msg);
		return -1;
	}
	const char *args[] = {path};
	return launch(app, args, 1, 0);
}

/* ---- resuming and rerunning a run ------------------------------------------ */

int jm_app_resumable(jm_app *app, const jm_run_row *r, char *why, size_t n)
{
	long long id = (long long)r->id;
	int stopped = !strcmp(r->status, JM_RUN_STOPPED) || !strcmp(r->status, JM_RUN_CRASHED);
	if (r->parent)
		snprintf(why, n, "run %lld is a trial of search %lld: R on the search resumes it", id,
			 (long long)r->parent);
	else if (!strcmp(r->status, JM_RUN_RUNNING))
		snprintf(why, n, "run %lld is running: nothing to resume", id);
	else if (!strcmp(r->status, JM_RUN_DONE))
		snprintf(why, n, "run %lld is done: nothing to resume (r reruns it)", id);
	else if (!strcmp(r->status, JM_RUN_FAILED))
		snprintf(why, n, "run %lld failed: only a stopped or crashed run resumes (r reruns it)",
			 id);
	else if (!stopped)
		snprintf(why, n, "run %lld is %s: only a stopped or crashed run resumes (r reruns it)",
			 id, r->status);
	else if (!r->flow_id)
		snprintf(why, n, "run %lld has no flow to resume", id);
	else if (r->children || !strcmp(r->kind, "search"))
		return 1; /* a search resumes its trials, each from its own checkpoint */
	else {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof path, "%s/runs/%lld/checkpoint.safetensors",
			 jm_app_home(app), id);
		if (stat(path, &st) == 0)
			return 1;
		snprintf(why, n, "run %lld has no checkpoint to resume from (it ended before its "
			 "first): r reruns it", id);
	}
	return 0;
}

void jm_app_resume(jm_app *app, const jm_run_row *r)
{
	char why[256], id[32];
	if (!r) {
		jm_app_message(app, 1, "resume: select a run");
		return;
	}
	if (!jm_app_resumable(app, r, why, sizeof why)) {
		jm_app_message(app, 1, "%s", why);
		return;
	}
	snprintf(id, sizeof id, "%lld", (long long)r->id);
	const char *args[] = {"--resume", id};
	launch(app, args, 2, r->id);
}

static void rerun(jm_app *app, int64_t run)
{
	char id[32];
	snprintf(id, sizeof id, "%lld", (long long)run);
	const char *args[] = {"--rerun", id};
	launch(app, args, 2, 0);
}

static void confirm_rerun(jm_screen *s, jm_app *app, int yes)
{
	(void)s;
	if (yes)
		rerun(app, app->rerun);
	else
		jm_app_message(app, 0, "not rerun: R resumes run %lld", (long long)app->rerun);
}

void jm_app_rerun(jm_app *app, const jm_run_row *r)
{
	char why[256];
	if (!r)
		return;
	if (!jm_app_resumable(app, r, why, sizeof why)) {
		rerun(app, r->id);
		return;
	}
	/* at 2 a.m. r is what a person presses to go on: say that R does */
	char q[128];
	snprintf(q, sizeof q, "run %lld is %s: R resumes it; rerun it from the start?",
		 (long long)r->id, r->status);
	app->rerun = r->id;
	jm_app_confirm(app, q, confirm_rerun);
}

/* ---- stopping a run ----------------------------------------------------------- */

/* Yes: the run as the store has it now, so a run that ended while the
 * question was open (its pid perhaps another process's since) is left. */
static void confirm_stop(jm_screen *s, jm_app *app, int yes)
{
	(void)s;
	long long id = (long long)app->stop;
	jm_run_row r;
	jm_err err = {0};
	if (!yes) {
		jm_app_message(app, 0, "not stopped");
		return;
	}
	if (jm_rundata_run(jm_app_db(app), app->stop, &r, &err) < 0) {
		jm_app_message(app, 1, "%s", err.msg);
		return;
	}
	if (strcmp(r.status, JM_RUN_RUNNING))
		jm_app_message(app, 0, "run %lld is %s already: nothing to stop", id, r.status);
	else if (jm_launch_stop((pid_t)r.pid, &err) < 0)
		jm_app_message(app, 1, "%s", err.msg);
	else
		jm_app_message(app, 0, "stopping run %lld: it finishes the step and checkpoints", id);
	jm_run_row_clear(&r);
}

void jm_app_stop(jm_app *app, const jm_run_row *r)
{
	if (!r || strcmp(r->status, JM_RUN_RUNNING)) {
		if (r)
			jm_app_message(app, 1, "stop: run %lld is %s, not running", (long long)r->id,
				       r->status);
		else
			jm_app_message(app, 1, "stop: select a running run");
		return;
	}
	char q[64];
	snprintf(q, sizeof q, "stop run %lld?", (long long)r->id);
	app->stop = r->id;
	jm_app_confirm(app, q, confirm_stop);
}

/* ---- lists ---------------------------------------------------------------- */

void jm_list_clamp(jm_list *l)
{
	int page = l->page > 0 ? l->page : 1;
	if (l->cur >= l->n)
		l->cur = l->n - 1;
	if (l->cur < 0)
		l->cur = 0;
	if (l->top > l->cur)
		l->top = l->cur;
	if (l->cur >= l->top + page)
		l->top = l->cur - page + 1;
	if (l->top > l->n - page)
		l->top = l->n - page;
	if (l->top < 0)
		l->top = 0;
}

void jm_list_move(jm_list *l, int delta)
{
	l->cur += delta;
	jm_list_clamp(l);
}

static jm_list *nav_list(jm_screen *s)
{
	return s->cls->list ? s->cls->list(s) : NULL;
}

static int nav_page(jm_list *l)
{
	return l->page > 1 ? l->page - 1 : 1;
}

void jm_nav_down(jm_screen *s, jm_app *app) { (void)app; jm_list *l = nav_list(s); if (l) jm_list_move(l, 1); }
void jm_nav_up(jm_screen *s, jm_app *app) { (void)app; jm_list *l = nav_list(s); if (l) jm_list_move(l, -1); }
void jm_nav_pgdn(jm_screen *s, jm_app *app) { (void)app; jm_list *l = nav_list(s); if (l) jm_list_move(l, nav_page(l)); }
void jm_nav_pgup(jm_screen *s, jm_app *app) { (void)app; jm_list *l = nav_list(s); if (l) jm_list_move(l, -nav_page(l)); }
void jm_nav_first(jm_screen *s, jm_app *app) { (void)app; jm_list *l = nav_list(s); if (l) l->cur = 0, jm_list_clamp(l); }
void jm_nav_last(jm_screen *s, jm_app *app) { (void)app; jm_list *l = nav_list(s); if (l) l->cur = l->n - 1, jm_list_clamp(l); }

/* ---- `:` commands -------------------------------------------------------- */

static int cmd_quit(jm_app *app, const char *arg) { (void)arg; app->quit = 1; return 0; }

static int cmd_home(jm_app *app, const char *arg)
{
	(void)arg;
	while (app->top && app->top->below)
		jm_app_pop(app);
	return 0;
}

static int cmd_new(jm_app *app, const char *arg)
{
	jm_err err = {0};
	jm_screen *s = jm_wizard_new(app, arg && *arg ? arg : NULL, &err);
	if (!s) {
		jm_app_message(app, 1, "%s", err.msg);
		return -1;
	}
	jm_app_push(app, s);
	return 0;
}

static int cmd_run(jm_app *app, const char *arg)
{
	if (!arg || !*arg) {
		jm_app_message(app, 1, "run: name a flow file, e.g. :run fmnist.flow");
		return -1;
	}
	return jm_app_run_flow(app, arg);
}

/* Run ids from "3 5 7"; -1 on a word that is not one. */
static int parse_ids(jm_app *app, const char *arg, int64_t **ids, size_t *n)
{
	*ids = NULL;
	*n = 0;
	char *copy = jm_xstrdup(arg ? arg : ""), *save = NULL;
	for (char *t = strtok_r(copy, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
		char *end;
		long long v = strtoll(t, &end, 10);
		if (*end || v <= 0) {
			jm_app_message(app, 1, "\"%s\" is not a run id", t);
			free(copy);
			free(*ids);
			*ids = NULL;
			return -1;
		}
		*ids = jm_xrealloc(*ids, (*n + 1) * sizeof **ids);
		(*ids)[(*n)++] = v;
	}
	free(copy);
	return 0;
}

static int cmd_compare(jm_app *app, const char *arg)
{
	int64_t *ids;
	size_t n;
	if (arg && !strcmp(arg, "all"))
		arg = "";
	if (parse_ids(app, arg, &ids, &n) < 0)
		return -1;
	jm_app_push(app, jm_compare_new(app, ids, n));
	free(ids);
	return 0;
}

static int one_id(jm_app *app, const char *arg, const char *cmd, int64_t *id)
{
	int64_t *ids;
	size_t n;
	if (parse_ids(app, arg, &ids, &n) < 0)
		return -1;
	if (n != 1) {
		free(ids);
		jm_app_message(app, 1, "%s: name one run, e.g. :%s 12", cmd, cmd);
		return -1;
	}
	*id = ids[0];
	free(ids);
	return 0;
}

static int cmd_show(jm_app *app, const char *arg)
{
	int64_t id;
	if (one_id(app, arg, "show", &id) < 0)
		return -1;
	/* a run that is not there stays where we are, with the message, as
	 * :compare does: an empty Run screen would only have to be closed */
	jm_run_row row;
	jm_err err = {0};
	if (jm_rundata_run(jm_app_db(app), id, &row, &err) < 0) {
		jm_app_message(app, 1, "%s", err.msg);
		return -1;
	}
	jm_run_row_clear(&row);
	jm_app_push(app, jm_run_new(app, id));
	return 0;
}

static int cmd_monitor(jm_app *app, const char *arg)
{
	int64_t id;
	if (one_id(app, arg, "monitor", &id) < 0)
		return -1;
	jm_app_push(app, jm_monitor_new(app, id));
	return 0;
}

static int apply_filter(jm_app *app, const char *text);

static int cmd_filter(jm_app *app, const char *arg)
{
	return apply_filter(app, arg ? arg : "");
}

static int cmd_help(jm_app *app, const char *arg)
{
	(void)arg;
	app->help = 1;
	app->help_top = 0;
	return 0;
}

static const struct command {
	const char *name, *alias, *args, *help;
	int (*fn)(jm_app *app, const char *arg);
} commands[] = {
	{"quit", "q", "", "leave the workbench (runs go on)", cmd_quit},
	{"home", NULL, "", "back to Home", cmd_home},
	{"new", "open", "[FILE.flow]", "the guided workflow: a new flow, or open FILE", cmd_new},
	{"run", NULL, "FILE.flow", "start a run of FILE (detached) and watch it", cmd_run},
	{"compare", NULL, "[RUN...|all]", "compare runs (no ids: every run)", cmd_compare},
	{"show", NULL, "RUN", "the details of a run", cmd_show},
	{"monitor", "watch", "RUN", "watch a run live", cmd_monitor},
	{"filter", NULL, "EXPR", "filter this screen (as jianmo runs --filter)", cmd_filter},
	{"help", NULL, "", "the keys of this screen", cmd_help},
};

int jm_app_command(jm_app *app, const char *line)
{
	while (*line == ' ')
		line++;
	char name[64];
	size_t n = strcspn(line, " ");
	snprintf(name, sizeof name, "%.*s", (int)(n < 63 ? n : 63), line);
	const char *arg = line + n;
	while (*arg == ' ')
		arg++;
	if (!*name)
		return 0;
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(commands[i].name, name) ||
		    (commands[i].alias && !strcmp(commands[i].alias, name)))
			return commands[i].fn(app, arg);
	jm_app_message(app, 1, "unknown command \":%s\" (commands: quit home new run compare "
			       "show monitor filter help)", name);
	return -1;
}

/* ---- global keys ------------------------------------------------------------ */

static int apply_filter(jm_app *app, const char *text)
{
	jm_screen *s = app->top;
	jm_err err = {0};
	if (!s->cls->filter) {
		jm_app_message(app, 1, "%s has no filter", s->cls->name);
		return -1;
	}
	if (s->cls->filter(s, app, text, &err) < 0) {
		jm_app_message(app, 1, "filter: %s", err.msg);
		return -1;
	}
	free(s->filter);
	s->filter = *text ? jm_xstrdup(text) : NULL;
	app->msg[0] = '\0';
	return 0;
}

static void g_help(jm_screen *s, jm_app *app) { (void)s; cmd_help(app, NULL); }

static void g_command(jm_screen *s, jm_app *app)
{
	(void)s;
	app->mode = MODE_COMMAND;
	snprintf(app->label, sizeof app->label, ":");
	jm_line_set(&app->line, "");
}

static void g_filter(jm_screen *s, jm_app *app)
{
	if (!s->cls->filter) {
		jm_app_message(app, 1, "%s has no filter", s->cls->name);
		return;
	}
	app->mode = MODE_FILTER;
	snprintf(app->label, sizeof app->label, "/");
	jm_line_set(&app->line, s->filter ? s->filter : "");
}

static void g_back(jm_screen *s, jm_app *app)
{
	if (s->filter) { /* Esc first clears the filter */
		apply_filter(app, "");
		jm_app_message(app, 0, "filter cleared");
		return;
	}
	if (s->below)
		jm_app_pop(app);
}

static void g_quit(jm_screen *s, jm_app *app) { (void)s; jm_app_pop(app); }

static void g_redraw(jm_screen *s, jm_app *app) { (void)s, (void)app; }

static const jm_binding global_bindings[] = {
	{{'?', JM_KEY_F1}, "?", "help: the keys of this screen", g_help, "help"},
	{{':'}, ":", "command line (:help lists the commands)", g_command, NULL},
	{{'/'}, "/", "filter (the language of jianmo runs --filter)", g_filter, NULL},
	{{JM_KEY_ESC}, "Esc", "clear the filter, else back", g_back, NULL},
	{{'q'}, "q", "back; quit on Home (runs go on)", g_quit, "back/quit"},
	{{JM_CTRL('l'), JM_KEY_RESIZE}, "Ctrl-L", "redraw", g_redraw, NULL},
	{{0}, NULL, NULL, NULL, NULL},
};

static const jm_binding *binding_find(const jm_binding *b, int key)
{
	for (; b && b->fn; b++)
		for (int i = 0; i < 4 && b->keys[i]; i++)
			if (b->keys[i] == key)
				return b;
	return NULL;
}

static void line_submit(jm_app *app)
{
	char text[JM_LINE_MAX];
	snprintf(text, sizeof text, "%s", app->line.buf);
	enum mode m = app->mode;
	app->mode = MODE_NONE;
	int rc = 0;
	if (m == MODE_FILTER)
		rc = apply_filter(app, text);
	else if (m == MODE_COMMAND)
		rc = jm_app_command(app, text);
	else if (m == MODE_PROMPT && app->prompt_fn && app->prompt_screen == app->top)
		rc = app->prompt_fn(app->top, app, text);
	if (rc < 0 && m != MODE_COMMAND) { /* keep the line to correct it */
		app->mode = m;
	}
}

static int help_lines(const jm_app *app);

int jm_app_key(jm_app *app, int key)
{
	if (app->mode == MODE_CONFIRM) {
		confirm_key(app, key);
		return app->quit;
	}
	if (app->mode != MODE_NONE) {
		if (key == JM_KEY_ESC)
			app->mode = MODE_NONE, app->msg[0] = '\0';
		else if (key == JM_KEY_ENTER || key == '\n')
			line_submit(app);
		else
			jm_line_key(&app->line, key);
		return app->quit;
	}
	if (app->help) {
		int page = 10;
		if (key == JM_KEY_ESC || key == 'q' || key == '?' || key == JM_KEY_F1)
			app->help = 0;
		else if (key == 'j' || key == JM_KEY_DOWN)
			app->help_top++;
		else if (key == 'k' || key == JM_KEY_UP)
			app->help_top--;
		else if (key == JM_KEY_PGDN || key == ' ')
			app->help_top += page;
		else if (key == JM_KEY_PGUP)
			app->help_top -= page;
		else if (key == 'g' || key == JM_KEY_HOME)
			app->help_top = 0;
		else if (key == 'G' || key == JM_KEY_END)
			app->help_top = help_lines(app);
		if (app->help_top < 0)
			app->help_top = 0;
		return 0;
	}
	app->msg[0] = '\0';
	jm_screen *s = app->top;
	const jm_binding *b = binding_find(s->cls->bindings, key);
	if (!b)
		b = binding_find(global_bindings, key);
	if (b)
		b->fn(s, app);
	else if (s->cls->key)
		s->cls->key(s, app, key);
	return app->quit;
}

void jm_app_tick(jm_app *app)
{
	if (app->top && app->top->cls->poll)
		app->top->cls->poll(app->top, app);
}

/* ---- drawing --------------------------------------------------------------- */

static void key_label(const jm_binding *b, char *out, size_t n)
{
	snprintf(out, n, "%s", b->label);
}

void jm_app_hints(const jm_binding *b, jm_canvas *c, int y)
{
	int x = 0;
	for (int pass = 0; pass < 2; pass++)
		for (const jm_binding *p = pass ? global_bindings : b; p && p->fn; p++) {
			if (!p->hint)
				continue;
			char lab[32];
			key_label(p, lab, sizeof lab);
			const char *text = p->hint;
			int need = jm_text_width(lab) + 1 + jm_text_width(text) + 2;
			if (x + need > c->w)
				return;
			x += jm_canvas_text(c, x, y, -1, lab, JM_A_BOLD, JM_COL_NONE);
			x += jm_canvas_text(c, x + 1, y, -1, text, 0, JM_COL_NONE) + 3;
		}
}

static void draw_title(jm_app *app, jm_canvas *c)
{
	jm_canvas_fill(c, 0, 0, c->w, 1, " ", JM_A_REVERSE, JM_COL_NONE);
	/* breadcrumbs, bottom of the stack first */
	const char *names[16];
	int n = 0;
	for (jm_screen *s = app->top; s && n < 16; s = s->below)
		names[n++] = s->cls->name;
	jm_buf b = JM_BUF_INIT;
	jm_buf_addstr(&b, " jianmo ");
	for (int i = n - 1; i >= 0; i--)
		jm_buf_printf(&b, "%s %s", i == n - 1 ? (c->utf8 ? "│" : "|") : (c->utf8 ? " ›" : " >"),
			      names[i]);
	int x = jm_canvas_text(c, 0, 0, c->w, jm_buf_str(&b), JM_A_REVERSE | JM_A_BOLD, JM_COL_NONE);
	jm_buf_release(&b);
	char right[512];
	if (app->top && app->top->filter)
		snprintf(right, sizeof right, "filter: %s ", app->top->filter);
	else
		snprintf(right, sizeof right, "%s ", app->home);
	int rw = jm_text_width(right);
	if (rw > c->w - x - 2)
		rw = c->w - x - 2;
	if (rw > 4)
		jm_canvas_text_right(c, c->w - rw, 0, rw, right, JM_A_REVERSE, JM_COL_NONE);
}

static void draw_status(jm_app *app, jm_canvas *c)
{
	int y = c->h - 1;
	if (app->mode != MODE_NONE) {
		if (app->mode == MODE_CONFIRM)
			jm_canvas_text(c, 0, y, c->w, app->label, JM_A_BOLD, JM_COL_WARN);
		else
			jm_line_draw(&app->line, c, 0, y, c->w, app->label);
		if (app->msg[0] && c->h > 3) /* an error above the line being corrected */
			jm_canvas_text(c, 0, y - 1, c->w, app->msg, JM_A_BOLD,
				       app->msg_error ? JM_COL_BAD : JM_COL_NONE);
		return;
	}
	if (app->msg[0]) {
		jm_canvas_text(c, 0, y, c->w, app->msg, app->msg_error ? JM_A_BOLD : 0,
			       app->msg_error ? JM_COL_BAD : JM_COL_NONE);
		return;
	}
	jm_app_hints(app->top->cls->bindings, c, y);
}

/* Help text lines: the screen's bindings, then the global ones. */
static int help_text(const jm_app *app, jm_buf *out)
{
	int n = 0;
	jm_buf_printf(out, "Keys on %s\n", app->top->cls->name), n++;
	for (int pass = 0; pass < 2; pass++) {
		if (pass)
			jm_buf_addstr(out, "\nEverywhere\n"), n += 2;
		for (const jm_binding *p = pass ? global_bindings : app->top->cls->bindings;
		     p && p->fn; p++)
			jm_buf_printf(out, "  %-12s %s\n", p->label, p->help), n++;
	}
	jm_buf_addstr(out, "\nCommands (:)\n"), n += 2;
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		char head[64];
		snprintf(head, sizeof head, ":%s %s", commands[i].name, commands[i].args);
		jm_buf_printf(out, "  %-22s %s\n", head, commands[i].help), n++;
	}
	return n;
}

static int help_lines(const jm_app *app)
{
	jm_buf b = JM_BUF_INIT;
	int n = help_text(app, &b);
	jm_buf_release(&b);
	return n;
}

static void draw_help(jm_app *app, jm_canvas *c)
{
	int w = c->w - 4 < 78 ? c->w - 4 : 78, h = c->h - 4;
	int x0 = (c->w - w) / 2, y0 = 2;
	jm_canvas_fill(c, x0, y0, w, h, " ", 0, JM_COL_NONE);
	jm_canvas_hline(c, x0, y0, w, JM_A_BOLD);
	jm_canvas_hline(c, x0, y0 + h - 1, w, JM_A_BOLD);
	jm_canvas_vline(c, x0, y0 + 1, h - 2, JM_A_BOLD);
	jm_canvas_vline(c, x0 + w - 1, y0 + 1, h - 2, JM_A_BOLD);
	const jm_glyphs *g = jm_canvas_glyphs(c);
	jm_canvas_put(c, x0, y0, g->corner[0], JM_A_BOLD, 0);
	jm_canvas_put(c, x0 + w - 1, y0, g->corner[1], JM_A_BOLD, 0);
	jm_canvas_put(c, x0, y0 + h - 1, g->corner[2], JM_A_BOLD, 0);
	jm_canvas_put(c, x0 + w - 1, y0 + h - 1, g->corner[3], JM_A_BOLD, 0);
	jm_canvas_text(c, x0 + 2, y0, w - 4, " Help ", JM_A_BOLD | JM_A_REVERSE, JM_COL_NONE);
	jm_canvas_text(c, x0 + 2, y0 + h - 1, w - 4, " j/k scroll  Esc close ", JM_A_DIM,
		       JM_COL_NONE);
	jm_buf b = JM_BUF_INIT;
	int n = help_text(app, &b);
	if (app->help_top > n - (h - 2))
		app->help_top = n - (h - 2) > 0 ? n - (h - 2) : 0;
	const char *p = jm_buf_str(&b);
	for (int i = 0; *p; i++) {
		size_t len = strcspn(p, "\n");
		int row = i - app->help_top;
		if (row >= 0 && row < h - 2) {
			char line[256];
			snprintf(line, sizeof line, "%.*s", (int)(len < 255 ? len : 255), p);
			int heading = line[0] != ' ' && line[0];
			jm_canvas_text(c, x0 + 2, y0 + 1 + row, w - 4, line, heading ? JM_A_BOLD : 0,
				       heading ? JM_COL_ACCENT : JM_COL_NONE);
			if (!heading && line[0]) /* the key column in bold */
				jm_canvas_attr(c, x0 + 4, y0 + 1 + row,
					       (int)strcspn(line + 2, " ") , JM_A_BOLD, JM_COL_NONE);
		}
		p += len + (p[len] == '\n');
	}
	jm_buf_release(&b);
}

void jm_app_draw(jm_app *app, jm_canvas *c)
{
	jm_canvas_clear(c);
	if (!app->top)
		return;
	draw_title(app, c);
	int body = c->h - 2;
	app->top->page = body;
	app->top->width = c->w;
	if (body > 0)
		app->top->cls->draw(app->top, app, c, 1, body);
	draw_status(app, c);
	if (app->help)
		draw_help(app, c);
}
