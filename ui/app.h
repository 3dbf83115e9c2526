/*
 * app.h: the workbench as a stack of screens over one store, independent of
 * any terminal.  A screen is state + key bindings + draw; the app owns the
 * stack, the frame around the top screen (title bar, status line), the
 * line editor for `/` filters, `:` commands and prompts, and the help
 * overlay, which lists the top screen's binding table, so help always
 * names every key a screen has.
 *
 *   key ──jm_app_key──▶ line editor | help | global keys | screen bindings
 *   tick (a few Hz) ──jm_app_tick──▶ top screen's poll (short read
 *                                    transactions on the store)
 *   jm_app_draw ──▶ jm_canvas of any size ──▶ term.c (ncursesw) or a test
 *
 * Screens (home, wizard, monitor, compare, run detail, text) live in
 * ui/screen_*.c; each defines a const jm_screen_class.  A screen struct
 * starts with a jm_screen.  The app frees every screen on the stack.
 *
 * Runs are never run inside the app: jm_app_launch() starts `jianmo
 * --batch` as a detached process (launch.c) and screens follow runs through
 * the store, so closing the app never stops a run.
 */
#ifndef JM_UI_APP_H
#define JM_UI_APP_H

#include <sqlite3.h>
#include <stdint.h>
#include <sys/types.h>

#include "ui/canvas.h"
#include "util/err.h"

/* Keys: Unicode code points for text, control codes 1..31, and these. */
enum {
	JM_KEY_TAB = 9,
	JM_KEY_ENTER = 13,
	JM_KEY_ESC = 27,
	JM_KEY_SPECIAL = 0x200000,
	JM_KEY_UP,
	JM_KEY_DOWN,
	JM_KEY_LEFT,
	JM_KEY_RIGHT,
	JM_KEY_PGUP,
	JM_KEY_PGDN,
	JM_KEY_HOME,
	JM_KEY_END,
	JM_KEY_BACKSPACE,
	JM_KEY_DELETE,
	JM_KEY_BTAB,
	JM_KEY_RESIZE,
	JM_KEY_F1,
};
#define JM_CTRL(c) ((c) & 0x1f)

typedef struct jm_app jm_app;
typedef struct jm_screen jm_screen;

/* One key binding: up to four keys, the label and text help shows, and the
 * action.  Tables end with a binding whose fn is NULL. */
typedef struct jm_binding {
	int keys[4];
	const char *label; /* "j/Down" */
	const char *help;  /* "next run" */
	void (*fn)(jm_screen *s, jm_app *app);
	const char *hint;  /* a word for the status line's key hints, or NULL */
} jm_binding;

/* A cursor over n rows, page of them visible from top. */
typedef struct jm_list {
	int cur, top, n, page;
} jm_list;
/* Keep cur inside [0, n) and visible. */
void jm_list_clamp(jm_list *l);
void jm_list_move(jm_list *l, int delta);

typedef struct jm_screen_class {
	const char *name;            /* "Home", shown in the title bar */
	/* The list the navigation keys move (JM_NAV_BINDINGS); may be NULL. */
	jm_list *(*list)(jm_screen *s);
	const jm_binding *bindings;
	/* Keys no binding took (text entry); return 1 when handled.  May be NULL. */
	int (*key)(jm_screen *s, jm_app *app, int key);
	/* Draw into rows y0 .. y0+h-1 of the canvas (all columns). */
	void (*draw)(jm_screen *s, jm_app *app, jm_canvas *c, int y0, int h);
	/* Refresh from the store; called at a few Hz while on top.  May be NULL. */
	void (*poll)(jm_screen *s, jm_app *app);
	/* Apply a `/` filter ("" clears); 0, or -1 with err set.  NULL: none. */
	int (*filter)(jm_screen *s, jm_app *app, const char *text, jm_err *err);
	void (*free)(jm_screen *s);
} jm_screen_class;

struct jm_screen {
	const jm_screen_class *cls;
	jm_screen *below;  /* the stack */
	char *filter;      /* the applied `/` filter, or NULL */
	int page;          /* body rows at the last draw (for PgUp/PgDn) */
	int width;         /* canvas columns at the last draw */
};

typedef struct jm_app_opts {
	const char *home;  /* store home (NULL: JIANMO_HOME or ./.jianmo) */
	const char *exe;   /* the jianmo binary runs are launched with */
	int utf8;          /* the terminal takes UTF-8 */
} jm_app_opts;

/* Open (creating if needed) the store and start on Home.  NULL on failure
 * with err set. */
jm_app *jm_app_new(const jm_app_opts *o, jm_err *err);
void jm_app_free(jm_app *app); /* accepts NULL */

/* Feed one key; returns 1 when the app wants to quit. */
int jm_app_key(jm_app *app, int key);
/* Poll the top screen's data (call at a few Hz). */
void jm_app_tick(jm_app *app);
/* Render a whole frame. */
void jm_app_draw(jm_app *app, jm_canvas *c);
/* Name of the top screen's class ("Home"). */
const char *jm_app_screen_name(const jm_app *app);

/* ---- for screens --------------------------------------------------------- */

sqlite3 *jm_app_db(jm_app *app);          /* the read connection */
const char *jm_app_home(const jm_app *app);
int jm_app_utf8(const jm_app *app);
double jm_app_now(const jm_app *app);     /* Unix seconds */
void jm_app_push(jm_app *app, jm_screen *s);
void jm_app_pop(jm_app *app);             /* the last screen quits the app */
jm_screen *jm_app_top(jm_app *app);
void jm_app_quit(jm_app *app);
/* A message in the status line (errors in bold, coloured). */
void jm_app_message(jm_app *app, int error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Ask for a line of text; on Enter fn(s, app, text) runs and returns 0 to
 * close the prompt or -1 (with a message set) to keep it open.  Esc cancels. */
typedef int (*jm_prompt_fn)(jm_screen *s, jm_app *app, const char *text);
void jm_app_prompt(jm_app *app, const char *label, const char *initial, jm_prompt_fn fn);
/* Ask a yes/no question ("stop run 3?"; the status line adds "(y/n)"),
 * answered by one key, no Enter: y or Y runs fn(s, app, 1); n, N, q or Esc
 * runs fn(s, app, 0); any other key keeps asking and says "press y or n".
 * fn runs only while the screen that asked is on top; it may ask again. */
typedef void (*jm_confirm_fn)(jm_screen *s, jm_app *app, int yes);
void jm_app_confirm(jm_app *app, const char *question, jm_confirm_fn fn);
/* Run a `:` command line ("compare", "open x.flow"...); 0 or -1 (message set). */
int jm_app_command(jm_app *app, const char *line);

/* Start `jianmo --home HOME --batch ARGS...` detached (see launch.h); the
 * monitor of the new run goes on the stack. */
int jm_app_launch(jm_app *app, const char *const *args, int nargs);
/* Start a run of the flow file path, checked first as --batch would
 * (jm_flow_load, jm_flow_check_files, a CSV file that is not there), so a
 * flow that cannot start says why in the message line ("not started:
 * fmnist.flow:7: ...") and nothing is launched; 0, or -1. */
int jm_app_run_flow(jm_app *app, const char *path);

/* Resuming (R) and rerunning (r) a run of a screen's list (rundata.h). */
struct jm_run_row;
/* 1 when `jianmo --batch --resume` can continue r: stopped or crashed, not
 * a trial (its search resumes it), with a checkpoint (a search needs none:
 * its trials have theirs); else 0 and why, for the message line. */
int jm_app_resumable(jm_app *app, const struct jm_run_row *r, char *why, size_t n);
/* Resume r and watch it, or say why not (NULL: no run selected). */
void jm_app_resume(jm_app *app, const struct jm_run_row *r);
/* Rerun r from the start; a run R could resume asks first, saying so. */
void jm_app_rerun(jm_app *app, const struct jm_run_row *r);
/* Stop r (running) after asking "stop run N?"; yes sends SIGTERM to the
 * process the store then names for it (it finishes the step, checkpoints
 * and is `stopped`).  Home's and the monitor's `s`. */
void jm_app_stop(jm_app *app, const struct jm_run_row *r);

/* Screens (screen_*.c). */
jm_screen *jm_home_new(jm_app *app);
jm_screen *jm_wizard_new(jm_app *app, const char *path, jm_err *err); /* path NULL: new */
jm_screen *jm_monitor_new(jm_app *app, int64_t run);
/* A run being started by process pid (its output in launch_log); resuming:
 * the run it takes over (--resume), 0 for a new one. */
jm_screen *jm_monitor_new_pending(jm_app *app, pid_t pid, const char *launch_log,
				  int64_t resuming);
jm_screen *jm_compare_new(jm_app *app, const int64_t *ids, size_t n); /* n 0: all runs */
jm_screen *jm_run_new(jm_app *app, int64_t run);
/* A scrollable text (takes title and text). */
jm_screen *jm_text_new(jm_app *app, char *title, char *text);

/* The navigation keys every list screen shares. */
void jm_nav_down(jm_screen *s, jm_app *app);
void jm_nav_up(jm_screen *s, jm_app *app);
void jm_nav_pgdn(jm_screen *s, jm_app *app);
void jm_nav_pgup(jm_screen *s, jm_app *app);
void jm_nav_first(jm_screen *s, jm_app *app);
void jm_nav_last(jm_screen *s, jm_app *app);
#define JM_NAV_BINDINGS                                                                   \
	{{'j', JM_KEY_DOWN}, "j/Down", "next row", jm_nav_down, NULL},                     \
	{{'k', JM_KEY_UP}, "k/Up", "previous row", jm_nav_up, NULL},                       \
	{{JM_KEY_PGDN, JM_CTRL('f'), JM_CTRL('d')}, "PgDn", "next page", jm_nav_pgdn, NULL}, \
	{{JM_KEY_PGUP, JM_CTRL('b'), JM_CTRL('u')}, "PgUp", "previous page", jm_nav_pgup, NULL}, \
	{{'g', JM_KEY_HOME}, "g/Home", "first row", jm_nav_first, NULL},                   \
	{{'G', JM_KEY_END}, "G/End", "last row", jm_nav_last, NULL}

/* Draw a key-hint line for the bindings marked hint ("Enter open  r run"). */
void jm_app_hints(const jm_binding *b, jm_canvas *c, int y);

#endif
