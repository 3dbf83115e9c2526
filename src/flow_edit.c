/*
 * flow_edit.c: a flow file edited in place (see jm_flow_edit in flow.h).
 * The wizard's Save goes through here, so a flow written by hand keeps its
 * comments, blank lines, order and spelling: only the values that changed
 * are touched.
 *
 *   text ──jm_flow_parse──▶ was (what the text says)
 *        ──scan──▶ lines: section headers, "key = value" pairs with the
 *                  byte span of each value (comments and blanks around it
 *                  excluded, as inih and flow.c read it)
 *   for each key, in table order, f against was:
 *        set in the text, value changed   ─▶ the value's span replaced
 *        not in the text, f differs from
 *        what the text gives without it   ─▶ a line after the section's
 *                                            last key (or a new section
 *                                            at the end)
 *        searched keys ([search] train.lr = ...): replaced, added, or
 *        their line removed (the only lines ever removed)
 *   lines ──assemble──▶ new text ──jm_flow_parse──▶ must equal f
 *
 * "What the text gives without it" is a flow that follows the edits
 * (after: was, then each edit through jm_flow_set), so a key whose value
 * follows another one ([data] dir and [split] val follow source) is not
 * pinned when it only followed.  The last check makes any disagreement
 * between this scanner and the parser an error instead of a wrong file.
 */
#include "flow.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"


/* ---- inih's line limit (as flow.c: ask the linked library) ---------------- */

static int line_max;
static pthread_once_t line_max_once = PTHREAD_ONCE_INIT;

static char *probe_reader(char *buf, int num, void *stream)
{
	(void)buf;
	*(int *)stream = num - 3; /* room for "\r\n" and the NUL */
	return NULL;
}

static int probe_handler(void *user, const char *section, const char *name, const char *value)
{
	(void)user, (void)section, (void)name, (void)value;
	return 1;
}

static void line_max_probe(void)
{
	ini_parse_stream(probe_reader, &line_max, probe_handler, NULL);
}

/* The longest line body (leading blanks and the end of line not counted)
 * that jm_flow_parse reads. */
static size_t body_max(void)
{
	pthread_once(&line_max_once, line_max_probe);
	return line_max > 0 ? (size_t)line_max : 0;
}

/* ---- the text as lines ---------------------------------------------------------- */

enum line_kind { L_OTHER, L_SECTION, L_PAIR };

typedef struct line {
	const char *at;      /* first byte (a BOM included on line 1) */
	size_t len;          /* bytes, the end of line included */
	size_t end;          /* bytes before the end of line ("\n", "\r\n", "\r\r\n") */
	size_t lead;         /* bytes before what the reader keeps (BOM, blanks) */
	enum line_kind kind;
	int header;          /* the line of the section header above, -1: none */
	/* L_SECTION: the name; L_PAIR: the key, the delimiter and the value
	 * (offsets from at; value_at == value_end for an empty value) */
	size_t name_at, name_len, delim_at, value_at, value_end;
} line;

/* Lines of text, as flow.c's reader and inih see them: a BOM on line 1 and
 * leading blanks skipped, "[" opens a section (the reader's test), ";" and
 * "#" start a comment line, else "key = value" or "key: value" (the first
 * '=' or ':'), the value cut at an inline comment (';' after a blank for
 * inih; ';' or '#' at its start or after a blank for flow.c) and trimmed. */
static void scan_line(line *l, int is_first)
{
	const char *s = l->at, *e = l->at + l->end;
	if (is_first && l->end >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
		s += 3;
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	l->lead = (size_t)(s - l->at);
	l->kind = L_OTHER;
	if (s < e && *s == '[') {
		const char *close = memchr(s, ']', (size_t)(e - s));
		if (!close)
			return;
		const char *n = s + 1, *ne = close;
		while (n < ne && (*n == ' ' || *n == '\t'))
			n++;
		while (ne > n && isspace((unsigned char)ne[-1]))
			ne--;
		l->kind = L_SECTION;
		l->name_at = (size_t)(n - l->at);
		l->name_len = (size_t)(ne - n);
		return;
	}
	const char *body_end = e;
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	if (s == e || *s == ';' || *s == '#' || *s == '[')
		return;
	const char *d = s;
	int was_space = 0;
	while (d < e && *d != '=' && *d != ':' && !(was_space && *d == ';')) {
		was_space = isspace((unsigned char)*d);
		d++;
	}
	if (d == e || *d == ';')
		return; /* not a pair: jm_flow_parse refuses such a text */
	const char *ne = d;
	while (ne > s && isspace((unsigned char)ne[-1]))
		ne--;
	/* inih's inline comment, then its trims; an empty value starts after
	 * the blanks that follow the delimiter, so a value put there later
	 * keeps them before it */
	const char *v = d + 1, *cut = v;
	was_space = 0;
	while (cut < body_end && !(was_space && *cut == ';')) {
		was_space = isspace((unsigned char)*cut);
		cut++;
	}
	const char *vs = v, *ve = cut;
	while (vs < ve && isspace((unsigned char)*vs))
		vs++;
	while (ve > vs && isspace((unsigned char)ve[-1]))
		ve--;
	/* flow.c's cut_comment and trim */
	for (const char *p = vs; p < ve; p++)
		if ((*p == ';' || *p == '#') && (p == vs || p[-1] == ' ' || p[-1] == '\t')) {
			ve = p;
			break;
		}
	while (ve > vs && isspace((unsigned char)ve[-1]))
		ve--;
	l->kind = L_PAIR;
	l->name_at = (size_t)(s - l->at);
	l->name_len = (size_t)(ne - s);
	l->delim_at = (size_t)(d - l->at);
	l->value_at = (size_t)(vs - l->at);
	l->value_end = (size_t)(ve - l->at);
}

static line *scan(const char *text, int *n_out)
{
	int n = 0, cap = 16, header = -1;
	line *ls = jm_xmalloc((size_t)cap * sizeof *ls);
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p), end = len;
		while (end && (p[end - 1] == '\n' || p[end - 1] == '\r'))
			end--;
		if (n == cap)
			ls = jm_xrealloc(ls, (size_t)(cap *= 2) * sizeof *ls);
		line *l = &ls[n];
		memset(l, 0, sizeof *l);
		l->at = p;
		l->len = len;
		l->end = end;
		scan_line(l, n == 0);
		if (l->kind == L_SECTION)
			header = n;
		l->header = header;
		n++;
		p += len;
	}
	*n_out = n;
	return ls;
}

static int name_is(const line *l, const char *name)
{
	size_t n = strlen(name);
	return l->name_len == n && !memcmp(l->at + l->name_at, name, n);
}

/* The section a line belongs to is name. */
static int in_section(const line *ls, const line *l, const char *name)
{
	return l->header >= 0 && name_is(&ls[l->header], name);
}

/* ---- the edit -------------------------------------------------------------------- */

typedef struct added {
	const char *section;  /* the table's, static */
	char *text;           /* "key = value", no end of line */
} added;

typedef struct editor {
	const char *text;
	line *ls;
	int n;
	char **value;         /* per line: the new value, or NULL */
	char *removed;        /* per line: 1 when the line goes */
	added *add;           /* new lines, in the order they were decided */
	int nadd, capadd;
	const char *eol;      /* "\n" or "\r\n", as the text's first line ends */
	jm_flow *after;       /* the text's flow as edited so far */
} editor;

/* The line setting key of section sec ("train", "lr"; a searched
 * "train.lr" in "search"), or -1.  The last one: a key is set once, but
 * "dir =" (follow source) sets nothing and may come again before it. */
static int line_of(const editor *ed, const char *sec, const char *key)
{
	for (int i = ed->n - 1; i >= 0; i--)
		if (ed->ls[i].kind == L_PAIR && in_section(ed->ls, &ed->ls[i], sec) &&
		    name_is(&ed->ls[i], key))
			return i;
	return -1;
}

static void add_line(editor *ed, const char *section, char *text)
{
	if (ed->nadd == ed->capadd) {
		ed->capadd = ed->capadd ? 2 * ed->capadd : 8;
		ed->add = jm_xrealloc(ed->add, (size_t)ed->capadd * sizeof *ed->add);
	}
	ed->add[ed->nadd++] = (added){section, text};
}

static void set_value(editor *ed, int i, const char *v)
{
	free(ed->value[i]);
	ed->value[i] = jm_xstrdup(v);
}

/* Follow an edit in ed->after; 0, or -1 when the flow module refuses the
 * value (f's own value: a bug, or a plugin gone since f was read). */
static int follow(editor *ed, const char *dotted, const char *v, jm_err *err)
{
	char *a = jm_xasprintf("%s=%s", dotted, v);
	int rc = jm_flow_set(ed->after, a, err);
	free(a);
	return rc;
}

/* One key of the table: its line's value replaced, or a line added. */
static int edit_key(editor *ed, const jm_flow *was, const jm_flow *f,
		    const jm_flow_keyinfo *ki, jm_err *err)
{
	char dotted[128];
	snprintf(dotted, sizeof dotted, "%s.%s", ki->section, ki->key);
	char *want = jm_flow_get(f, dotted);
	int at = line_of(ed, ki->section, ki->key), rc = 0;
	if (at >= 0) {
		char *had = jm_flow_get(was, dotted);
		if (strcmp(had, want)) {
			const char *w = want;
			/* a key f no longer sets ([data] dir following source
			 * again) reads back the same written as its default */
			if (jm_flow_line(f, dotted) == 0 && strcmp(ki->def, want)) {
				jm_flow *t = jm_flow_dup(ed->after);
				char *a = jm_xasprintf("%s=%s", dotted, ki->def), *got = NULL;
				if (jm_flow_set(t, a, NULL) == 0 && (got = jm_flow_get(t, dotted)) &&
				    !strcmp(got, want))
					w = ki->def;
				free(got);
				free(a);
				jm_flow_free(t);
			}
			set_value(ed, at, w);
			rc = follow(ed, dotted, w, err);
		}
		free(had);
	} else {
		char *now = jm_flow_get(ed->after, dotted);
		if (strcmp(now, want)) {
			add_line(ed, ki->section, jm_xasprintf("%s = %s", ki->key, want));
			rc = follow(ed, dotted, want, err);
		}
		free(now);
	}
	free(want);
	return rc;
}

static int searched_in(const jm_flow *f, const char *key)
{
	for (int i = 0; i < f->search.n_params; i++)
		if (!strcmp(f->search.params[i].key, key))
			return i;
	return -1;
}

/* [search]'s searched keys: f's, in f's order.  Kept ones keep their line
 * (the spec replaced when it changed) as long as that keeps f's order;
 * else every one is written anew at the end of [search]. */
static void edit_searched(editor *ed, const jm_flow *was, const jm_flow *f)
{
	int in_order = 1, last = -1, fresh = 0;
	for (int i = 0; i < f->search.n_params && in_order; i++) {
		int at = searched_in(was, f->search.params[i].key) >= 0
				 ? line_of(ed, "search", f->search.params[i].key) : -1;
		if (at >= 0) {
			in_order = !fresh && at > last;
			last = at;
		} else {
			fresh = 1;
		}
	}
	for (int i = 0; i < was->search.n_params; i++) {
		const char *key = was->search.params[i].key;
		int at = line_of(ed, "search", key);
		if (at >= 0 && (!in_order || searched_in(f, key) < 0))
			ed->removed[at] = 1;
	}
	for (int i = 0; i < f->search.n_params; i++) {
		const struct jm_flow_searched *p = &f->search.params[i];
		int j = searched_in(was, p->key);
		int at = j >= 0 && in_order ? line_of(ed, "search", p->key) : -1;
		if (at < 0)
			add_line(ed, "search", jm_xasprintf("%s = %s", p->key, p->spec));
		else if (strcmp(was->search.params[j].spec, p->spec))
			set_value(ed, at, p->spec);
	}
}

/* ---- writing the lines back ------------------------------------------------------- */

/* Where lines added to section sec go: after the last key of its last
 * block, else after its header; -1 when the text has no such section. */
static int anchor_of(const editor *ed, const char *sec)
{
	int header = -1, last = -1;
	for (int i = 0; i < ed->n; i++) {
		const line *l = &ed->ls[i];
		if (l->kind == L_SECTION && name_is(l, sec))
			header = i, last = i;
		else if (header >= 0 && l->header == header && l->kind == L_PAIR && !ed->removed[i])
			last = i;
	}
	return last;
}

/* An added "key = value" in the way the anchor line writes its keys:
 * its indent, and blanks around its '=' or ':'. */
static void add_styled(jm_buf *b, const line *anchor, const char *kv)
{
	const char *eq = strstr(kv, " = ");
	if (!anchor || anchor->kind != L_PAIR || !eq) {
		if (eq && !eq[3]) { /* an empty value: no blank at the end */
			jm_buf_add(b, kv, (size_t)(eq - kv));
			jm_buf_addstr(b, " =");
		} else {
			jm_buf_addstr(b, kv);
		}
		return;
	}
	/* a pair is never on line 1 (a section comes first): no BOM here */
	const char *a = anchor->at;
	size_t lead = anchor->lead;
	int before = anchor->delim_at > anchor->name_at + anchor->name_len;
	int after = anchor->value_at > anchor->delim_at + 1 || (anchor->value_at ==
		    anchor->value_end && before);
	char delim = anchor->at[anchor->delim_at];
	const char *value = eq + 3;
	size_t start = b->len;
	jm_buf_add(b, a, lead);
	jm_buf_add(b, kv, (size_t)(eq - kv));
	if (before)
		jm_buf_addch(b, ' ');
	jm_buf_addch(b, delim);
	if (*value) {
		if (after)
			jm_buf_addch(b, ' ');
		jm_buf_addstr(b, value);
	}
	/* the reader strips the indent before it counts */
	if (b->len - start - lead > body_max() && body_max()) {
		b->len = start;
		b->s[b->len] = '\0';
		jm_buf_addstr(b, kv);
	}
}

/* A line whose value is replaced: what precedes the value (key, delimiter,
 * blanks) and what follows it (blanks, a comment, the end of line) stay.
 * A comment that would now touch the value gets a blank before it; a line
 * grown past the parser's limit loses its comment. */
static void add_replaced(jm_buf *b, const line *l, const char *v)
{
	const char *tail = l->at + l->value_end;
	size_t tail_body = l->end - l->value_end;
	/* emptied: one blank, not two, between "key =" and a comment */
	if (!*v && l->value_at > l->delim_at + 1)
		while (tail_body && (*tail == ' ' || *tail == '\t'))
			tail++, tail_body--;
	int gap = *v && tail_body && !isspace((unsigned char)*tail);
	size_t head = l->value_at; /* and no blank left at the end of a line */
	while (!*v && !tail_body && head > l->delim_at + 1 && isspace((unsigned char)l->at[head - 1]))
		head--;
	/* a value put where there was none: "key =" gets its blank back */
	int lead_gap = *v && l->value_at == l->value_end && head == l->delim_at + 1 &&
		       l->delim_at > l->name_at + l->name_len;
	size_t body = head - l->lead + (size_t)lead_gap + strlen(v) + (size_t)gap + tail_body;
	jm_buf_add(b, l->at, head);
	if (lead_gap)
		jm_buf_addch(b, ' ');
	jm_buf_addstr(b, v);
	if (body_max() && body > body_max()) {
		jm_buf_add(b, l->at + l->end, l->len - l->end);
		return;
	}
	if (gap)
		jm_buf_addch(b, ' ');
	jm_buf_add(b, tail, (size_t)(l->at + l->len - tail));
}

/* The last line of b (which ends with an end of line) is blank, or b is
 * empty. */
static int last_line_blank(const jm_buf *b)
{
	if (!b->len)
		return 1;
	size_t stop = b->len - 1; /* the '\n' */
	if (stop && b->s[stop - 1] == '\r')
		stop--;
	size_t i = stop;
	while (i && b->s[i - 1] != '\n')
		i--;
	for (size_t k = i; k < stop; k++)
		if (!isspace((unsigned char)b->s[k]))
			return 0;
	return 1;
}

static char *assemble(const editor *ed)
{
	jm_buf b = JM_BUF_INIT;
	int *anchor = jm_xmalloc(((size_t)ed->nadd + 1) * sizeof *anchor);
	for (int k = 0; k < ed->nadd; k++)
		anchor[k] = anchor_of(ed, ed->add[k].section);
	for (int i = 0; i < ed->n; i++) {
		const line *l = &ed->ls[i];
		if (!ed->removed[i]) {
			if (ed->value[i])
				add_replaced(&b, l, ed->value[i]);
			else
				jm_buf_add(&b, l->at, l->len);
		}
		/* only '\n' ends a line for the reader: a last "\r" does not */
		int ended = ed->removed[i] || l->at[l->len - 1] == '\n';
		for (int k = 0; k < ed->nadd; k++) {
			if (anchor[k] != i)
				continue;
			if (!ended)
				jm_buf_addstr(&b, ed->eol), ended = 1;
			add_styled(&b, l->kind == L_PAIR ? l : NULL, ed->add[k].text);
			jm_buf_addstr(&b, ed->eol);
		}
	}
	/* sections the text lacks, in the order their keys came (table order) */
	for (int k = 0; k < ed->nadd; k++) {
		if (anchor[k] >= 0)
			continue;
		const char *sec = ed->add[k].section;
		int first = 1;
		for (int j = 0; j < k && first; j++)
			first = anchor[j] >= 0 || strcmp(ed->add[j].section, sec);
		if (!first)
			continue;
		if (b.len && b.s[b.len - 1] != '\n')
			jm_buf_addstr(&b, ed->eol);
		if (!last_line_blank(&b))
			jm_buf_addstr(&b, ed->eol);
		jm_buf_printf(&b, "[%s]%s", sec, ed->eol);
		for (int j = k; j < ed->nadd; j++)
			if (anchor[j] < 0 && !strcmp(ed->add[j].section, sec)) {
				add_styled(&b, NULL, ed->add[j].text);
				jm_buf_addstr(&b, ed->eol);
			}
	}
	free(anchor);
	return jm_buf_detach(&b, NULL);
}

/* ---- the check ------------------------------------------------------------------- */

/* The edited text must read back as f: else say which key differs. */
static int check(const char *out, const jm_flow *f, jm_err *err)
{
	jm_flow *g = NULL;
	jm_err why = {0};
	if (jm_flow_parse(&g, out, f->name ? f->name : "flow", &why) < 0)
		return jm_err_set(err, JM_EXIT_FAIL, "the edited flow does not read back: %s",
				  why.msg);
	int rc = 0;
	if (!jm_flow_equal(g, f)) {
		rc = jm_err_set(err, JM_EXIT_FAIL, "the edited flow reads back different: the "
				"searched keys");
		for (int i = 0; i < jm_flow_key_count(); i++) {
			jm_flow_keyinfo ki;
			jm_flow_key_info(i, &ki);
			char dotted[128];
			snprintf(dotted, sizeof dotted, "%s.%s", ki.section, ki.key);
			char *a = jm_flow_get(g, dotted), *b = jm_flow_get(f, dotted);
			int differ = strcmp(a, b);
			if (differ)
				jm_err_set(err, JM_EXIT_FAIL, "the edited flow reads back different: "
					   "%s = \"%s\", not \"%s\"", dotted, a, b);
			free(a);
			free(b);
			if (differ)
				break;
		}
	}
	jm_flow_free(g);
	return rc;
}

int jm_flow_edit(const char *text, const jm_flow *f, char **out, jm_err *err)
{
	editor ed = {.text = text ? text : ""};
	jm_flow *was = NULL;
	int rc = -1;

	*out = NULL;
	if (jm_flow_parse(&was, ed.text, f->name ? f->name : "flow", err) < 0)
		return -1;
	ed.ls = scan(ed.text, &ed.n);
	ed.value = jm_xcalloc((size_t)ed.n + 1, sizeof *ed.value);
	ed.removed = jm_xcalloc((size_t)ed.n + 1, 1);
	const char *nl = strchr(ed.text, '\n');
	ed.eol = nl && nl > ed.text && nl[-1] == '\r' ? "\r\n" : "\n";
	ed.after = jm_flow_dup(was);

	int nkeys = jm_flow_key_count();
	for (int i = 0; i < nkeys; i++) {
		jm_flow_keyinfo ki, next;
		jm_flow_key_info(i, &ki);
		if (edit_key(&ed, was, f, &ki, err) < 0)
			goto done;
		/* the searched keys close [search] */
		if (i + 1 < nkeys)
			jm_flow_key_info(i + 1, &next);
		if (!strcmp(ki.section, "search") && (i + 1 == nkeys || strcmp(next.section, "search")))
			edit_searched(&ed, was, f);
	}
	*out = assemble(&ed);
	/* an invalid f (the wizard's Review shows it beside the error) reads
	 * back as nothing: only a valid one is checked */
	if (jm_flow_validate(f, NULL) == 0 && check(*out, f, err) < 0) {
		free(*out);
		*out = NULL;
		goto done;
	}
	rc = 0;
done:
	for (int i = 0; i < ed.n; i++)
		free(ed.value[i]);
	for (int k = 0; k < ed.nadd; k++)
		free(ed.add[k].text);
	free(ed.add);
	free(ed.value);
	free(ed.removed);
	free(ed.ls);
	jm_flow_free(ed.after);
	jm_flow_free(was);
	return rc;
}

/* ---- reading a file for editing ---------------------------------------------------- */

int jm_flow_load_text(jm_flow **out, char **text, const char *path, jm_err *err)
{
	*out = NULL;
	if (jm_flow_read_text(path, text, err) < 0)
		return -1;
	if (jm_flow_parse(out, *text, path, err) < 0) {
		free(*text);
		*text = NULL;
		return -1;
	}
	(*out)->path = jm_xstrdup(path);
	return 0;
}
