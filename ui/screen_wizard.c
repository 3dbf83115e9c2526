/*
 * screen_wizard.c: the guided workflow: one step per stage, each a form of
 * that section's keys with a live preview beside it, then Review.
 *
 *   steps: Data Clean Features Augment Split Model Search Train, then any
 *          other section of the key table (Notify), then Review
 *   form:  every key of the step's section from jm_flow_key_info (type,
 *          default, choices, range, help), in table order, so sections and
 *          keys other modules add appear here with no change to this file
 *   edit:  Enter opens the value in the line editor; the text goes through
 *          jm_flow_set, whose message (validation is the flow module's own)
 *          stays on screen until the value is right; h/l cycle a choice or
 *          flip a boolean; x restores the default
 *   save:  w writes the file after jm_flow_validate, through jm_flow_edit
 *          (flow_edit.c): the text as opened (or last saved) with only the
 *          changed values changed, so a flow written by hand keeps its
 *          comments and layout, and a new flow holds only the keys that
 *          differ from their defaults; r saves and launches the run
 *
 *   the document ──jm_flow_edit(text, flow)──▶ file ──▶ the document
 *
 * Saving asks first only where a file would be lost: another file that
 * exists (save as), or the open file changed on disk since it was read.
 * save(open(save(f))) == save(f) byte for byte (tested).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flow.h"
#include "ui/app.h"
#include "ui/preview.h"

#define MAX_STEPS 24

typedef struct step {
	const char *section;   /* NULL for Review */
	char title[24];
	int *keys;             /* key table indices */
	int nkeys;
} step;

typedef struct wizard {
	jm_screen base;
	jm_flow *flow;
	char *path;            /* where Save writes; NULL until named */
	step steps[MAX_STEPS];
	int nsteps, cur;
	jm_list form[MAX_STEPS];
	jm_preview_ctx *preview;
	int zoom;              /* preview over the whole width */
	int dirty;
	int run_after_save;
	char *overwrite;       /* a file the user agreed to replace, for the prompt */
	char *text;            /* the file as opened or last saved; NULL: new */
	char *whole;           /* a file to write whole (jm_flow_format): the edit
				  failed and the user agreed, for the prompt */
} wizard;

/* The stages in the order a workflow goes through them. */
static const char *const stage_order[] = {"data",   "clean", "features", "augment",
					  "split",  "model", "search",   "train"};

static void add_step(wizard *w, const char *section)
{
	if (w->nsteps >= MAX_STEPS - 1)
		return;
	step *s = &w->steps[w->nsteps++];
	s->section = section;
	snprintf(s->title, sizeof s->title, "%s", section ? section : "review");
	s->title[0] = (char)(s->title[0] - 32 * (s->title[0] >= 'a' && s->title[0] <= 'z'));
	if (!section)
		return;
	int n = jm_flow_key_count();
	s->keys = jm_xcalloc((size_t)n + 1, sizeof *s->keys);
	for (int i = 0; i < n; i++) {
		jm_flow_keyinfo ki;
		jm_flow_key_info(i, &ki);
		if (!strcmp(ki.section, section))
			s->keys[s->nkeys++] = i;
	}
	w->form[w->nsteps - 1].n = s->nkeys;
}

static void build_steps(wizard *w)
{
	size_t nstage = sizeof stage_order / sizeof stage_order[0];
	for (size_t i = 0; i < nstage; i++)
		add_step(w, stage_order[i]);
	/* sections of the key table that the order above does not name */
	int n = jm_flow_key_count();
	for (int i = 0; i < n; i++) {
		jm_flow_keyinfo ki;
		jm_flow_key_info(i, &ki);
		int known = 0;
		for (int k = 0; k < w->nsteps && !known; k++)
			known = !strcmp(w->steps[k].section, ki.section);
		if (!known)
			add_step(w, ki.section);
	}
	add_step(w, NULL);
}

static const step *cur_step(const wizard *w)
{
	return &w->steps[w->cur];
}

static int cur_key(const wizard *w, jm_flow_keyinfo *ki)
{
	const step *s = cur_step(w);
	const jm_list *l = &w->form[w->cur];
	if (!s->section || !s->nkeys)
		return -1;
	jm_flow_key_info(s->keys[l->cur], ki);
	return s->keys[l->cur];
}

/* Set section.key = value through the flow module; message on failure. */
static int set_value(wizard *w, jm_app *app, const jm_flow_keyinfo *ki, const char *value)
{
	jm_err err = {0};
	char *a = jm_xasprintf("%s.%s=%s", ki->section, ki->key, value);
	int rc = jm_flow_set(w->flow, a, &err);
	free(a);
	if (rc < 0) {
		/* "--set train.lr=fast: [train] lr: expected ..." reads as the form's */
		const char *m = strstr(err.msg, ": [");
		jm_app_message(app, 1, "%s", m ? m + 2 : err.msg);
		return -1;
	}
	w->dirty = 1;
	return 0;
}

/* ---- saving ------------------------------------------------------------------ */

static int write_file(const char *path, const char *text, jm_err *err)
{
	char *tmp = jm_xasprintf("%s.tmp%d", path, (int)getpid());
	FILE *fp = fopen(tmp, "w");
	int rc = -1;
	if (!fp) {
		jm_err_set(err, JM_EXIT_FAIL, "%s: %s", path, strerror(errno));
		goto out;
	}
	size_t n = strlen(text);
	int bad = fwrite(text, 1, n, fp) != n;
	bad |= fclose(fp) != 0;
	if (bad || rename(tmp, path) < 0) {
		jm_err_set(err, JM_EXIT_FAIL, "%s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	return rc;
}

static void launch_saved(wizard *w, jm_app *app)
{
	jm_app_run_flow(app, w->path);
}

/* Why writing path needs a yes first: NULL when nothing would be lost (no
 * such file, or the file open here as it was read); else why, for the
 * question.  Another file than the one open is replaced whole; the open
 * one, changed on disk since it was read, would lose those changes. */
static const char *ask_why(const wizard *w, const char *path)
{
	char *now = NULL;
	if (jm_flow_read_text(path, &now, NULL) < 0)
		return NULL; /* none, or unreadable: the write says why */
	const char *why = NULL;
	if (!w->path || strcmp(path, w->path))
		why = "exists";
	else if (!w->text || strcmp(now, w->text))
		why = "changed on disk since it was read";
	free(now);
	return why;
}

static int save_to(wizard *w, jm_app *app, const char *path);

/* The answer to "write it whole?" (the edit failed): yes writes
 * jm_flow_format's text, replacing the file without asking again. */
static void confirm_whole(jm_screen *s, jm_app *app, int yes)
{
	wizard *w = (wizard *)s;
	char *path = w->whole;
	if (path && yes) {
		free(w->overwrite);
		w->overwrite = jm_xstrdup(path); /* asked already */
		save_to(w, app, path);
		free(w->overwrite);
		w->overwrite = NULL;
	} else {
		w->run_after_save = 0;
		jm_app_message(app, 0, "not saved");
	}
	free(w->whole);
	w->whole = NULL;
}

static void confirm_overwrite(jm_screen *s, jm_app *app, int yes)
{
	wizard *w = (wizard *)s;
	char *path = w->overwrite;
	w->overwrite = NULL;
	if (path && yes) {
		w->overwrite = path; /* save_to asks no more for it */
		save_to(w, app, path); /* a failure is its message; the question is over */
		path = w->overwrite;
		w->overwrite = NULL;
	} else {
		w->run_after_save = 0;
		jm_app_message(app, 0, "not saved");
	}
	free(path);
}

static int save_to(wizard *w, jm_app *app, const char *path)
{
	jm_err err = {0};
	if (jm_flow_validate(w->flow, &err) < 0) {
		jm_app_message(app, 1, "not saved: %s", err.msg);
		return 0; /* the prompt closes: the flow, not the name, needs fixing */
	}
	const char *why;
	int agreed = w->overwrite && !strcmp(w->overwrite, path);
	if (!agreed && (why = ask_why(w, path))) {
		char q[400];
		snprintf(q, sizeof q, "%.300s %s: replace it?", path, why);
		free(w->overwrite);
		w->overwrite = jm_xstrdup(path);
		jm_app_confirm(app, q, confirm_overwrite);
		return 0;
	}
	char *text = NULL;
	if (w->whole && !strcmp(w->whole, path)) {
		text = jm_flow_format(w->flow);
	} else if (jm_flow_edit(w->text, w->flow, &text, &err) < 0) {
		/* never seen: the editor refuses rather than write a wrong file */
		char *again = jm_xstrdup(path); /* path may be w->overwrite */
		jm_app_message(app, 1, "%s: the layout cannot be kept: %s", path, err.msg);
		free(w->whole);
		w->whole = again;
		jm_app_confirm(app, "write the flow whole, in canonical form?", confirm_whole);
		return 0;
	}
	int rc = write_file(path, text, &err);
	if (rc < 0) {
		free(text);
		jm_app_message(app, 1, "%s", err.msg);
		return -1;
	}
	free(w->text);
	w->text = text;
	jm_preview_base(w->preview, w->text);
	if (path != w->path) {
		free(w->path);
		w->path = jm_xstrdup(path);
	}
	w->dirty = 0;
	jm_app_message(app, 0, "saved %s", path);
	if (w->run_after_save) {
		w->run_after_save = 0;
		launch_saved(w, app);
	}
	return 0;
}

static int prompt_save(jm_screen *s, jm_app *app, const char *text)
{
	wizard *w = (wizard *)s;
	if (!*text) {
		jm_app_message(app, 1, "save: give a file name, e.g. fmnist.flow");
		return -1;
	}
	char *path = strstr(text, ".flow") ? jm_xstrdup(text) : jm_xasprintf("%s.flow", text);
	int rc = save_to(w, app, path);
	free(path);
	return rc;
}

static void act_save(jm_screen *s, jm_app *app)
{
	wizard *w = (wizard *)s;
	jm_app_prompt(app, "save as: ", w->path ? w->path : "untitled.flow", prompt_save);
}

static void act_run(jm_screen *s, jm_app *app)
{
	wizard *w = (wizard *)s;
	if (w->path && !w->dirty) {
		launch_saved(w, app);
		return;
	}
	w->run_after_save = 1;
	act_save(s, app);
}

/* ---- editing ---------------------------------------------------------------- */

static int prompt_edit(jm_screen *s, jm_app *app, const char *text)
{
	wizard *w = (wizard *)s;
	jm_flow_keyinfo ki;
	if (cur_key(w, &ki) < 0)
		return 0;
	if (set_value(w, app, &ki, text) < 0)
		return -1;
	jm_app_message(app, 0, "%s.%s = %s", ki.section, ki.key, text);
	return 0;
}

static void act_edit(jm_screen *s, jm_app *app)
{
	wizard *w = (wizard *)s;
	jm_flow_keyinfo ki;
	if (cur_key(w, &ki) < 0)
		return;
	char dotted[128], label[160];
	snprintf(dotted, sizeof dotted, "%s.%s", ki.section, ki.key);
	char *v = jm_flow_get(w->flow, dotted);
	snprintf(label, sizeof label, "%s = ", dotted);
	jm_app_prompt(app, label, v ? v : "", prompt_edit);
	free(v);
}

/* Cycle a choice or flip a boolean by dir (+1 / -1). */
static void cycle(wizard *w, jm_app *app, int dir)
{
	jm_flow_keyinfo ki;
	if (cur_key(w, &ki) < 0)
		return;
	char dotted[128];
	snprintf(dotted, sizeof dotted, "%s.%s", ki.section, ki.key);
	char *v = jm_flow_get(w->flow, dotted);
	if (!strcmp(ki.type, "boolean")) {
		set_value(w, app, &ki, v && !strcmp(v, "true") ? "false" : "true");
	} else if (ki.choices) {
		char opts[16][32];
		int n = 0, at = 0;
		for (const char *p = ki.choices; *p && n < 16;) {
			size_t len = strcspn(p, "|");
			snprintf(opts[n], sizeof opts[n], "%.*s", (int)len, p);
			if (v && !strcmp(opts[n], v))
				at = n;
			n++;
			p += len + (p[len] == '|');
		}
		set_value(w, app, &ki, opts[(at + dir + n) % n]);
	} else {
		jm_app_message(app, 0, "%s is a%s %s: Enter edits it", ki.key,
			       strchr("aeiou", ki.type[0]) ? "n" : "", ki.type);
	}
	free(v);
}

static void act_next_choice(jm_screen *s, jm_app *app) { cycle((wizard *)s, app, 1); }
static void act_prev_choice(jm_screen *s, jm_app *app) { cycle((wizard *)s, app, -1); }

static void act_default(jm_screen *s, jm_app *app)
{
	wizard *w = (wizard *)s;
	jm_flow_keyinfo ki;
	if (cur_key(w, &ki) < 0)
		return;
	if (set_value(w, app, &ki, ki.def) == 0)
		jm_app_message(app, 0, "%s.%s back to its default%s%s", ki.section, ki.key,
			       ki.def[0] ? " " : "", ki.def);
}

static void act_next_step(jm_screen *s, jm_app *app)
{
	(void)app;
	wizard *w = (wizard *)s;
	if (w->cur < w->nsteps - 1)
		w->cur++;
}

static void act_prev_step(jm_screen *s, jm_app *app)
{
	(void)app;
	wizard *w = (wizard *)s;
	if (w->cur > 0)
		w->cur--;
}

static void act_zoom(jm_screen *s, jm_app *app)
{
	(void)app;
	wizard *w = (wizard *)s;
	w->zoom = !w->zoom;
}

static void confirm_leave(jm_screen *s, jm_app *app, int yes)
{
	(void)s;
	if (yes)
		jm_app_pop(app);
}

static void act_leave(jm_screen *s, jm_app *app)
{
	wizard *w = (wizard *)s;
	if (w->dirty)
		jm_app_confirm(app, "leave without saving?", confirm_leave);
	else
		jm_app_pop(app);
}

static int wizard_key(jm_screen *s, jm_app *app, int key)
{
	(void)app;
	wizard *w = (wizard *)s;
	if (key >= '1' && key <= '9' && key - '1' < w->nsteps) { /* jump to a step */
		w->cur = key - '1';
		return 1;
	}
	return 0;
}

static jm_list *wizard_list(jm_screen *s)
{
	wizard *w = (wizard *)s;
	return &w->form[w->cur];
}

static const jm_binding wizard_bindings[] = {
	{{JM_KEY_TAB, ']', 'n'}, "Tab/]/n", "next step", act_next_step, "next step"},
	{{JM_KEY_BTAB, '[', 'p'}, "S-Tab/[/p", "previous step", act_prev_step, NULL},
	{{JM_KEY_ENTER, '\n', 'e'}, "Enter/e", "edit the value (checked as you type it in)", act_edit, "edit"},
	{{'l', JM_KEY_RIGHT, ' '}, "l/Right/Space", "next choice; flip a boolean", act_next_choice, NULL},
	{{'h', JM_KEY_LEFT}, "h/Left", "previous choice; flip a boolean", act_prev_choice, NULL},
	{{'x', JM_KEY_DELETE}, "x/Del", "back to the default", act_default, NULL},
	{{'w', JM_CTRL('s')}, "w/Ctrl-S", "save the .flow file (only what changed changes in it)", act_save, "save"},
	{{'r'}, "r", "save and run it (detached), then watch", act_run, "run"},
	{{'z'}, "z", "preview over the whole width", act_zoom, NULL},
	{{'q', JM_KEY_ESC}, "q/Esc", "back to Home (asks first when not saved)", act_leave, NULL},
	/* documentation only: the digits go through wizard_key */
	{{0}, "1-9", "jump to step N", act_zoom, NULL},
	JM_NAV_BINDINGS,
	{{0}, NULL, NULL, NULL, NULL},
};

/* ---- drawing -------------------------------------------------------------------- */

static void draw_steps(wizard *w, jm_canvas *c, int y)
{
	int x = 1;
	for (int i = 0; i < w->nsteps; i++) {
		char t[32];
		if (c->w >= 100)
			snprintf(t, sizeof t, "%d %s", i + 1, w->steps[i].title);
		else /* narrow: names only */
			snprintf(t, sizeof t, "%s", w->steps[i].title);
		int attr = i == w->cur ? JM_A_REVERSE | JM_A_BOLD : i < w->cur ? 0 : JM_A_DIM;
		x += jm_canvas_text(c, x, y, c->w - x, t, attr, 0);
		if (i < w->nsteps - 1 && x < c->w - 1)
			x += jm_canvas_text(c, x, y, 1, " ", 0, 0);
	}
}

static void draw_form(wizard *w, jm_canvas *c, int x, int y, int fw, int h)
{
	const step *s = cur_step(w);
	jm_list *l = &w->form[w->cur];
	if (!s->nkeys) {
		jm_canvas_textf(c, x, y, fw, JM_A_BOLD, 0, "[%s]", s->section);
		jm_canvas_text(c, x, y + 2, fw, "This version of jianmo has no keys in this", JM_A_DIM, 0);
		jm_canvas_text(c, x, y + 3, fw, "section: the step is left empty. Tab goes on.",
			       JM_A_DIM, 0);
		return;
	}
	jm_canvas_textf(c, x, y, fw, JM_A_BOLD, JM_COL_ACCENT, "[%s]  %d keys", s->section, s->nkeys);
	int help_rows = 4, rows = h - 1 - help_rows;
	if (rows < 1)
		rows = h - 1, help_rows = 0;
	l->n = s->nkeys;
	l->page = rows;
	jm_list_clamp(l);
	int kw = 0;
	for (int i = 0; i < s->nkeys; i++) {
		jm_flow_keyinfo ki;
		jm_flow_key_info(s->keys[i], &ki);
		int kl = (int)strlen(ki.key);
		kw = kl > kw ? kl : kw;
	}
	if (kw > fw / 2)
		kw = fw / 2;
	for (int i = 0; i < rows && l->top + i < s->nkeys; i++) {
		int k = l->top + i, yy = y + 1 + i;
		jm_flow_keyinfo ki;
		jm_flow_key_info(s->keys[k], &ki);
		char dotted[128];
		snprintf(dotted, sizeof dotted, "%s.%s", ki.section, ki.key);
		char *v = jm_flow_get(w->flow, dotted);
		int changed = v && strcmp(v, ki.def) != 0 && ki.def[0];
		jm_canvas_text(c, x + 1, yy, kw, ki.key, 0, 0);
		char shown[256];
		snprintf(shown, sizeof shown, "%s%s", v && *v ? v : "(empty)",
			 ki.choices || !strcmp(ki.type, "boolean") ? (c->utf8 ? " ◂▸" : " <>") : "");
		jm_canvas_text(c, x + kw + 3, yy, fw - kw - 4, shown, changed ? JM_A_BOLD : 0,
			       changed ? JM_COL_WARN : 0);
		if (changed)
			jm_canvas_put(c, x + kw + 2, yy, "*", JM_A_BOLD, JM_COL_WARN);
		if (k == l->cur)
			jm_canvas_attr(c, x, yy, fw, JM_A_REVERSE, JM_COL_NONE);
		free(v);
	}
	if (!help_rows)
		return;
	jm_flow_keyinfo ki;
	cur_key(w, &ki);
	int hy = y + h - help_rows;
	jm_canvas_hline(c, x, hy, fw, JM_A_DIM);
	char what[256];
	snprintf(what, sizeof what, "%s: %s%s%s%s, default %s", ki.key, ki.type,
		 ki.choices ? " " : "", ki.choices ? ki.choices : "", ki.range[0] ? "" : "",
		 ki.def[0] ? ki.def : "(none)");
	if (ki.range[0]) {
		size_t n = strlen(what);
		snprintf(what + n, sizeof what - n, ", %s", ki.range);
	}
	jm_canvas_text(c, x, hy + 1, fw, what, JM_A_BOLD, 0);
	/* the help text, wrapped at word boundaries */
	const char *p = ki.help;
	for (int r = 2; r < help_rows && *p; r++) {
		int len = (int)strlen(p), cut = len;
		if (len > fw) {
			cut = fw;
			while (cut > 0 && p[cut] != ' ')
				cut--;
			if (cut == 0)
				cut = fw;
		}
		jm_canvas_textf(c, x, hy + r, fw, 0, 0, "%.*s", cut, p);
		p += cut;
		while (*p == ' ')
			p++;
	}
}

static void wizard_draw(jm_screen *s, jm_app *app, jm_canvas *c, int y0, int h)
{
	(void)app;
	wizard *w = (wizard *)s;
	draw_steps(w, c, y0);
	jm_canvas_textf(c, 1, y0 + 1, c->w - 2, JM_A_DIM, 0, "%s%s", w->path ? w->path : "new flow",
			w->dirty ? " (not saved)" : "");
	int top = y0 + 2, body = h - 2;
	const step *st = cur_step(w);
	const char *stage = st->section ? st->section : "review";
	if (!st->section) { /* Review: the flow over the whole width */
		jm_preview_draw(w->preview, stage, w->flow, c, 1, top, c->w - 2, body);
		return;
	}
	int has = jm_preview_has(stage);
	if (w->zoom && has) {
		jm_preview_draw(w->preview, stage, w->flow, c, 1, top, c->w - 2, body);
		return;
	}
	int fw = has ? (c->w >= 120 ? c->w / 2 - 2 : 42) : c->w - 2;
	if (fw > c->w - 2)
		fw = c->w - 2;
	draw_form(w, c, 1, top, fw, body);
	if (has) {
		jm_canvas_vline(c, fw + 2, top, body, JM_A_DIM);
		jm_preview_draw(w->preview, stage, w->flow, c, fw + 4, top, c->w - fw - 5, body);
	}
}

static void wizard_poll(jm_screen *s, jm_app *app)
{
	(void)s, (void)app; /* previews load on their own thread; a tick redraws */
}

static void wizard_free(jm_screen *s)
{
	wizard *w = (wizard *)s;
	for (int i = 0; i < w->nsteps; i++)
		free(w->steps[i].keys);
	jm_preview_free(w->preview);
	jm_flow_free(w->flow);
	free(w->path);
	free(w->overwrite);
	free(w->text);
	free(w->whole);
	free(w);
}

static const jm_screen_class wizard_class = {
	.name = "Wizard",
	.list = wizard_list,
	.bindings = wizard_bindings,
	.key = wizard_key,
	.draw = wizard_draw,
	.poll = wizard_poll,
	.free = wizard_free,
};

jm_screen *jm_wizard_new(jm_app *app, const char *path, jm_err *err)
{
	(void)app;
	jm_flow *f = NULL;
	char *text = NULL;
	if (path) {
		if (jm_flow_load_text(&f, &text, path, err) < 0)
			return NULL;
	} else {
		f = jm_flow_new();
	}
	wizard *w = jm_xcalloc(1, sizeof *w);
	w->base.cls = &wizard_class;
	w->flow = f;
	w->path = path ? jm_xstrdup(path) : NULL;
	w->text = text;
	w->preview = jm_preview_new();
	jm_preview_base(w->preview, w->text);
	build_steps(w);
	return &w->base;
}
