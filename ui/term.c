/*
 * term.c: the ncursesw driver, the only file that talks to the terminal.
 *
 *   loop: draw the app into a canvas the size of the terminal
 *         ──blit: only the cells that differ from the last frame──▶ ncurses
 *         ──doupdate──▶ terminal
 *         wait for a key (100 ms timeout) ──translate──▶ jm_app_key
 *         every 250 ms without keys: jm_app_tick (the screens poll the store)
 *
 * KEY_RESIZE re-lays out (the canvas follows LINES x COLS).  Colours are a
 * semantic table on top of attributes: with NO_COLOR, or a terminal without
 * colours, only bold/reverse/dim/underline carry meaning.  SIGSEGV, SIGABRT,
 * SIGBUS, SIGFPE, SIGTERM, SIGHUP, SIGINT and SIGQUIT restore the terminal
 * (endwin) and re-raise, so the shell is usable after any ending.
 */
#include "ui/ui.h"

#include <curses.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ui/app.h"

static volatile sig_atomic_t screen_open;

static void restore_and_reraise(int sig)
{
	if (screen_open) {
		screen_open = 0;
		endwin();
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static const int fatal_signals[] = {SIGSEGV, SIGABRT, SIGBUS, SIGFPE,
				    SIGTERM, SIGHUP,  SIGINT, SIGQUIT};

static void install_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = restore_and_reraise;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESETHAND;
	for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
		sigaction(fatal_signals[i], &sa, NULL);
}

static void restore_handlers(void)
{
	for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
		signal(fatal_signals[i], SIG_DFL);
}

int jm_ui_available(void)
{
	const char *term = getenv("TERM");
	return isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) && term && *term &&
	       strcmp(term, "dumb") != 0;
}

/* ---- keys ------------------------------------------------------------------- */

static const struct {
	int curses, key;
} key_table[] = {
	{KEY_UP, JM_KEY_UP},          {KEY_DOWN, JM_KEY_DOWN},     {KEY_LEFT, JM_KEY_LEFT},
	{KEY_RIGHT, JM_KEY_RIGHT},    {KEY_PPAGE, JM_KEY_PGUP},    {KEY_NPAGE, JM_KEY_PGDN},
	{KEY_HOME, JM_KEY_HOME},      {KEY_END, JM_KEY_END},       {KEY_BACKSPACE, JM_KEY_BACKSPACE},
	{KEY_DC, JM_KEY_DELETE},      {KEY_BTAB, JM_KEY_BTAB},     {KEY_RESIZE, JM_KEY_RESIZE},
	{KEY_ENTER, JM_KEY_ENTER},    {KEY_F(1), JM_KEY_F1},
};

static int translate(int rc, wint_t ch)
{
	if (rc == KEY_CODE_YES) {
		for (size_t i = 0; i < sizeof key_table / sizeof key_table[0]; i++)
			if (key_table[i].curses == (int)ch)
				return key_table[i].key;
		return 0;
	}
	if (ch == '\r' || ch == '\n')
		return JM_KEY_ENTER;
	if (ch == 127 || ch == 8)
		return JM_KEY_BACKSPACE;
	return (int)ch;
}

/* ---- drawing ------------------------------------------------------------------ */

static int colour_on;

static void colours_init(void)
{
	const char *no = getenv("NO_COLOR");
	colour_on = has_colors() && !(no && *no);
	if (!colour_on)
		return;
	start_color();
	use_default_colors();
	static const short fg[JM_COL_COUNT] = {
		[JM_COL_OK] = COLOR_GREEN,    [JM_COL_BAD] = COLOR_RED,
		[JM_COL_LIVE] = COLOR_CYAN,   [JM_COL_WARN] = COLOR_YELLOW,
		[JM_COL_OTHER] = COLOR_MAGENTA, [JM_COL_ACCENT] = COLOR_BLUE,
	};
	for (short i = 1; i < JM_COL_COUNT; i++)
		init_pair(i, fg[i], -1);
}

static attr_t curses_attr(const jm_cell *c)
{
	attr_t a = A_NORMAL;
	if (c->attr & JM_A_BOLD)
		a |= A_BOLD;
	if (c->attr & JM_A_REVERSE)
		a |= A_REVERSE;
	if (c->attr & JM_A_DIM)
		a |= A_DIM;
	if (c->attr & JM_A_UNDERLINE)
		a |= A_UNDERLINE;
	if (colour_on && c->col)
		a |= COLOR_PAIR(c->col);
	return a;
}

static int cell_same(const jm_cell *a, const jm_cell *b)
{
	return a->attr == b->attr && a->col == b->col && !strcmp(a->g, b->g);
}

/* Copy to ncurses the cells of c that differ from front (all when force). */
static void blit(const jm_canvas *c, jm_canvas *front, int force)
{
	for (int y = 0; y < c->h; y++)
		for (int x = 0; x < c->w; x++) {
			const jm_cell *cell = jm_canvas_cell(c, x, y);
			jm_cell *old = &front->cells[(size_t)y * front->w + x];
			if (!force && cell_same(cell, old))
				continue;
			*old = *cell;
			if (!cell->g[0])
				continue; /* the right half of a wide glyph */
			attrset(curses_attr(cell));
			/* the bottom-right cell: addstr would scroll; insert instead */
			if (y == c->h - 1 && x == c->w - 1)
				mvinsstr(y, x, cell->g);
			else
				mvaddstr(y, x, cell->g);
		}
	attrset(A_NORMAL);
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int jm_ui_run(const char *home, jm_err *err)
{
	setlocale(LC_CTYPE, "");
	int utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		snprintf(exe, sizeof exe, "/proc/self/exe");
	else
		exe[n] = '\0';
	jm_app_opts o = {.home = home, .exe = exe, .utf8 = utf8};
	jm_app *app = jm_app_new(&o, err);
	if (!app)
		return err && err->code ? err->code : JM_EXIT_FAIL;

	SCREEN *scr = newterm(NULL, stdout, stdin);
	if (!scr) {
		jm_app_free(app);
		return jm_err_set(err, JM_EXIT_FAIL, "cannot open the terminal \"%s\"",
				  getenv("TERM") ? getenv("TERM") : "");
	}
	screen_open = 1;
	install_handlers();
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	timeout(100);
	colours_init();

	jm_canvas *c = jm_canvas_new(COLS, LINES, utf8), *front = jm_canvas_new(COLS, LINES, utf8);
	int force = 1;
	double last_tick = mono_now();
	for (;;) {
		if (c->w != COLS || c->h != LINES) {
			jm_canvas_resize(c, COLS, LINES);
			jm_canvas_resize(front, COLS, LINES);
			clear();
			force = 1;
		}
		jm_app_draw(app, c);
		blit(c, front, force);
		force = 0;
		refresh();
		wint_t ch;
		int rc = get_wch(&ch);
		if (rc != ERR) {
			int key = translate(rc, ch);
			if (key == JM_CTRL('l'))
				force = 1, clearok(curscr, TRUE);
			if (key && jm_app_key(app, key))
				break;
		}
		if (mono_now() - last_tick >= 0.25) {
			jm_app_tick(app);
			last_tick = mono_now();
		}
	}
	jm_canvas_free(c);
	jm_canvas_free(front);
	screen_open = 0;
	endwin();
	delscreen(scr);
	restore_handlers();
	jm_app_free(app);
	return JM_EXIT_OK;
}
