/* line.c: the one-line editor (see line.h). */
#include "ui/line.h"

#include <string.h>

#include "ui/app.h"

void jm_line_set(jm_line *l, const char *text)
{
	snprintf(l->buf, sizeof l->buf, "%s", text ? text : "");
	l->len = l->cur = strlen(l->buf);
}

static size_t prev_boundary(const jm_line *l, size_t i)
{
	while (i > 0 && ((unsigned char)l->buf[--i] & 0xC0) == 0x80)
		;
	return i;
}

static size_t next_boundary(const jm_line *l, size_t i)
{
	unsigned cp;
	return i < l->len ? i + (size_t)jm_utf8_next(l->buf + i, &cp) : i;
}

static void delete_range(jm_line *l, size_t a, size_t b)
{
	memmove(l->buf + a, l->buf + b, l->len - b + 1);
	l->len -= b - a;
	l->cur = a;
}

static int insert_cp(jm_line *l, unsigned cp)
{
	char enc[4];
	size_t n;
	if (cp < 0x80)
		enc[0] = (char)cp, n = 1;
	else if (cp < 0x800)
		enc[0] = (char)(0xC0 | cp >> 6), enc[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
	else if (cp < 0x10000)
		enc[0] = (char)(0xE0 | cp >> 12), enc[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
		enc[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
	else
		enc[0] = (char)(0xF0 | cp >> 18), enc[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
		enc[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), enc[3] = (char)(0x80 | (cp & 0x3F)),
		n = 4;
	if (l->len + n >= sizeof l->buf)
		return 1;
	memmove(l->buf + l->cur + n, l->buf + l->cur, l->len - l->cur + 1);
	memcpy(l->buf + l->cur, enc, n);
	l->len += n, l->cur += n;
	return 1;
}

int jm_line_key(jm_line *l, int key)
{
	switch (key) {
	case JM_KEY_LEFT: l->cur = prev_boundary(l, l->cur); return 1;
	case JM_KEY_RIGHT: l->cur = next_boundary(l, l->cur); return 1;
	case JM_KEY_HOME: case JM_CTRL('a'): l->cur = 0; return 1;
	case JM_KEY_END: case JM_CTRL('e'): l->cur = l->len; return 1;
	case JM_KEY_BACKSPACE:
		if (l->cur > 0)
			delete_range(l, prev_boundary(l, l->cur), l->cur);
		return 1;
	case JM_KEY_DELETE: case JM_CTRL('d'):
		if (l->cur < l->len)
			delete_range(l, l->cur, next_boundary(l, l->cur));
		return 1;
	case JM_CTRL('u'): delete_range(l, 0, l->cur); return 1;
	case JM_CTRL('k'): l->buf[l->cur] = '\0', l->len = l->cur; return 1;
	case JM_CTRL('w'): {
		size_t i = l->cur;
		while (i > 0 && l->buf[i - 1] == ' ')
			i--;
		while (i > 0 && l->buf[i - 1] != ' ')
			i--;
		delete_range(l, i, l->cur);
		return 1;
	}
	}
	if (key >= 0x20 && key < JM_KEY_SPECIAL && key != 0x7F)
		return insert_cp(l, (unsigned)key);
	return 0;
}

void jm_line_draw(const jm_line *l, jm_canvas *c, int x, int y, int w, const char *label)
{
	int lw = jm_canvas_text(c, x, y, w, label, JM_A_BOLD, JM_COL_NONE);
	int room = w - lw - 1;
	if (room < 1)
		return;
	/* scroll: start far enough right that the cursor fits */
	char before[JM_LINE_MAX];
	memcpy(before, l->buf, l->cur);
	before[l->cur] = '\0';
	size_t start = 0;
	while (jm_text_width(before + start) > room - 1 && start < l->cur)
		start = next_boundary(l, start);
	int cx = x + lw + jm_text_width(before + start);
	jm_canvas_text(c, x + lw, y, room + 1, l->buf + start, 0, JM_COL_NONE);
	const jm_cell *under = jm_canvas_cell(c, cx, y);
	if (l->cur == l->len || !under)
		jm_canvas_put(c, cx, y, " ", JM_A_REVERSE, JM_COL_NONE);
	else
		jm_canvas_attr(c, cx, y, 1, JM_A_REVERSE, JM_COL_NONE);
}
