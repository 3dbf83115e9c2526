/*
 * screen_text.c: a scrollable text view (a flow diff, a help page): the
 * title in the breadcrumbs, j/k/PgUp/PgDn/g/G to scroll.
 */
#include <stdlib.h>
#include <string.h>

#include "ui/app.h"
#include "ui/doc.h"

typedef struct textview {
	jm_screen base;
	jm_screen_class cls; /* per instance: the title is the class name */
	char *title;
	jm_doc doc;
	jm_list scroll;
} textview;

static jm_list *text_list(jm_screen *s)
{
	return &((textview *)s)->scroll;
}

static const jm_binding text_bindings[] = {
	JM_NAV_BINDINGS,
	{{0}, NULL, NULL, NULL, NULL},
};

static void text_draw(jm_screen *s, jm_app *app, jm_canvas *c, int y0, int h)
{
	(void)app;
	textview *t = (textview *)s;
	/* scrolling moves the top line: cur is the top */
	t->scroll.page = 1;
	t->scroll.n = t->doc.n - h + 1 > 1 ? t->doc.n - h + 1 : 1;
	jm_list_clamp(&t->scroll);
	jm_doc_draw(&t->doc, c, 1, y0, c->w - 2, h, t->scroll.cur);
}

static void text_free(jm_screen *s)
{
	textview *t = (textview *)s;
	jm_doc_clear(&t->doc);
	free(t->title);
	free(t);
}

jm_screen *jm_text_new(jm_app *app, char *title, char *text)
{
	(void)app;
	textview *t = jm_xcalloc(1, sizeof *t);
	t->cls = (jm_screen_class){
		.name = title,
		.list = text_list,
		.bindings = text_bindings,
		.draw = text_draw,
		.free = text_free,
	};
	t->title = title;
	t->base.cls = &t->cls;
	/* diff lines: "-" and "+" in colour, headings ("@") bold */
	const char *p = text;
	while (p && *p) {
		size_t len = strcspn(p, "\n");
		int attr = 0, col = JM_COL_NONE;
		if (p[0] == '-' && len > 0)
			col = JM_COL_BAD;
		else if (p[0] == '+' && len > 0)
			col = JM_COL_OK, attr = JM_A_BOLD;
		else if (p[0] == '@')
			attr = JM_A_BOLD, col = JM_COL_ACCENT;
		jm_doc_add(&t->doc, attr, col, "%.*s", (int)len, p[0] == '@' ? p + 1 : p);
		p += len + (p[len] == '\n');
	}
	free(text);
	return &t->base;
}
