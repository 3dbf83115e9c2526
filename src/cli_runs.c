/*
 * cli_runs.c: the subcommands that read and prune the store:
 *
 *   jianmo runs [--filter EXPR] [--sort KEY] [--limit N] [--json|--csv]
 *   jianmo show RUN                       one run in full
 *   jianmo compare RUN RUN...             params and metrics side by side
 *   jianmo rm [--yes] RUN...              delete runs (and their trials)
 *   jianmo tag|untag RUN TAG...           add or remove a run's tags
 *
 *   argv ──options──▶ store (jm_store_open) ──query.c──▶ run ids
 *        ──run_load / params / metric_summary──▶ table | JSON | CSV on stdout
 *
 * Output rules: a table for people (colour only on a terminal without
 * NO_COLOR), JSON (--json, global or per command) and CSV for programs;
 * errors as "jianmo: ..." on stderr with exit 2 (usage, input) or 1 (I/O).
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "data/frame.h" /* jm_csv_write_field */
#include "store/query.h"
#include "store/store.h"
#include "util/err.h"
#include "util/fmt.h"
#include "util/json.h"

/* ---- small helpers ------------------------------------------------------ */

static int fail(jm_err *err)
{
	jm_err_print(err);
	return err->code ? err->code : JM_EXIT_FAIL;
}

static int input_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int input_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("jianmo: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return JM_EXIT_INPUT;
}

static double now_seconds(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static jm_store *open_store(const jm_cli *cli, jm_err *err)
{
	jm_store *s = NULL;
	jm_store_open(&s, cli->home, JM_STORE_NOCREATE, err);
	return s;
}

/* ---- display width and colour ------------------------------------------ */

/* Code points drawn two columns wide (CJK, Hangul, full-width forms). */
static int cp_wide(unsigned cp)
{
	static const unsigned ranges[][2] = {
		{0x1100, 0x115F}, {0x2E80, 0xA4CF}, {0xAC00, 0xD7A3}, {0xF900, 0xFAFF},
		{0xFE30, 0xFE4F}, {0xFF00, 0xFF60}, {0xFFE0, 0xFFE6}, {0x1F300, 0x1FAFF},
		{0x20000, 0x3FFFD},
	};
	for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
		if (cp >= ranges[i][0] && cp <= ranges[i][1])
			return 1;
	return 0;
}

/* Decode one UTF-8 sequence at s; returns its length (1 for a stray byte). */
static int utf8_next(const char *s, unsigned *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	int len = u[0] < 0x80 ? 1 : u[0] >= 0xF0 ? 4 : u[0] >= 0xE0 ? 3 : u[0] >= 0xC0 ? 2 : 1;
	unsigned v = len == 1 ? u[0] : u[0] & (0x3F >> (len - 1));
	for (int i = 1; i < len; i++) {
		if ((u[i] & 0xC0) != 0x80) {
			*cp = u[0];
			return 1;
		}
		v = (v << 6) | (u[i] & 0x3F);
	}
	*cp = v;
	return len;
}

static int text_width(const char *s)
{
	int w = 0;
	unsigned cp;
	while (*s) {
		s += utf8_next(s, &cp);
		w += cp_wide(cp) ? 2 : 1;
	}
	return w;
}

static int use_colour(const jm_cli *cli)
{
	const char *no = getenv("NO_COLOR"), *term = getenv("TERM");
	return cli->is_tty && !(no && *no) && !(term && !strcmp(term, "dumb"));
}

static const char *status_colour(const char *status)
{
	static const struct {
		const char *status, *sgr;
	} colours[] = {
		{JM_RUN_DONE, "32"},    {JM_RUN_FAILED, "31"}, {JM_RUN_CRASHED, "31;1"},
		{JM_RUN_RUNNING, "36"}, {JM_RUN_STOPPED, "33"}, {JM_RUN_PRUNED, "35"},
		{JM_RUN_QUEUED, "34"},
	};
	for (size_t i = 0; i < sizeof colours / sizeof colours[0]; i++)
		if (!strcmp(colours[i].status, status))
			return colours[i].sgr;
	return NULL;
}

/* s as a terminal may show it: control characters (a newline in a file
 * name, an escape sequence) written as \n, \t or \xNN, so they neither
 * break a table's rows nor reach the terminal.  s itself when it has
 * none, else buf (cut to cap). */
static const char *term_safe(const char *s, char *buf, size_t cap)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (u[i] && u[i] >= 0x20 && u[i] != 0x7f)
		i++;
	if (!u[i])
		return s;
	size_t n = 0;
	for (i = 0; u[i] && n + 5 < cap; i++) {
		if (u[i] >= 0x20 && u[i] != 0x7f)
			buf[n++] = (char)u[i];
		else if (u[i] == '\n' || u[i] == '\t')
			n += (size_t)snprintf(buf + n, cap - n, "\\%c", u[i] == '\n' ? 'n' : 't');
		else
			n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", u[i]);
	}
	buf[n] = '\0';
	return buf;
}

/* Print s in a cell of width columns (cut with "~" when longer), padded on
 * the left when right is set, in colour sgr (NULL: none). */
static void put_cell(const char *s, int width, int right, const char *sgr)
{
	char cut[512], safe[512];
	s = term_safe(s, safe, sizeof safe);
	if (text_width(s) > width) {
		size_t n = 0;
		int w = 0;
		unsigned cp;
		while (s[n] && n < sizeof cut - 4) {
			int len = utf8_next(s + n, &cp);
			int cw = cp_wide(cp) ? 2 : 1;
			if (w + cw > width - 1)
				break;
			w += cw;
			n += (size_t)len;
		}
		memcpy(cut, s, n);
		strcpy(cut + n, "~");
		s = cut;
	}
	int pad = width - text_width(s);
	if (right)
		printf("%*s", pad, "");
	if (sgr)
		printf("\033[%sm%s\033[0m", sgr, s);
	else
		fputs(s, stdout);
	if (!right)
		printf("%*s", pad, "");
}

/* ---- formatting values ------------------------------------------------- */

static void fmt_metric(char *out, size_t cap, double v, int present)
{
	if (!present)
		snprintf(out, cap, "-");
	else if (isnan(v))
		snprintf(out, cap, "nan");
	else if (isinf(v))
		snprintf(out, cap, v > 0 ? "inf" : "-inf");
	else if (v == 0 || (fabs(v) >= 1e-3 && fabs(v) < 1e3))
		snprintf(out, cap, "%.4f", v);
	else if (fabs(v) >= 1e3 && fabs(v) < 1e7)
		snprintf(out, cap, "%.1f", v);
	else
		snprintf(out, cap, "%.3e", v);
}

static void fmt_time(char *out, size_t cap, double t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

static void fmt_bytes(char *out, size_t cap, int64_t n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof units / sizeof units[0])
		v /= 1024, u++;
	if (u == 0)
		snprintf(out, cap, "%lld B", (long long)n);
	else
		snprintf(out, cap, "%.1f %s", v, units[u]);
}

/* ---- JSON and CSV ------------------------------------------------------ */

/* One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF. */
static void csv_field(const char *s, int first)
{
	if (!first)
		fputc(',', stdout);
	if (s)
		jm_csv_write_field(stdout, s);
}

/* A number as JSON writes it, but inf as inf; empty when absent or NaN. */
static void csv_num(double v, int present)
{
	char b[JM_JSON_NUM_MAX] = "";
	if (present && isinf(v))
		strcpy(b, v > 0 ? "inf" : "-inf");
	else if (present && !isnan(v))
		jm_json_fmt_num(b, v, 0);
	csv_field(b, 0);
}

/* ---- loading runs ------------------------------------------------------ */

typedef struct run_info {
	int64_t id, parent; /* parent 0: none */
	char *kind, *status, *name, *flow, *device, *host, *error, *flow_text;
	uint64_t seed;
	double started, ended, created;
	double resumed, prior; /* the latest segment's start; seconds run before */
	int has_started, has_ended, has_resumed;
	int number;       /* a trial's number in its search, 0: none */
	int64_t children; /* how many runs have this one as parent */
} run_info;

static void run_info_free(run_info *r)
{
	free(r->kind), free(r->status), free(r->name), free(r->flow), free(r->device);
	free(r->host), free(r->error), free(r->flow_text);
	memset(r, 0, sizeof *r);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return t ? jm_xstrdup(t) : NULL;
}

static int sql_fail(sqlite3 *db, jm_err *err)
{
	return jm_err_set(err, JM_EXIT_FAIL, "store: %s", sqlite3_errmsg(db));
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql, jm_err *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		sql_fail(db, err);
	return st;
}

/* The run's flow is the file it was started from (JM_RUN_FLOW_NAME_SQL). */
static int run_load(sqlite3 *db, int64_t id, run_info *r, jm_err *err)
{
	memset(r, 0, sizeof *r);
	sqlite3_stmt *st = prep(db,
				"SELECT r.id, r.kind, IFNULL(r.parent, 0), r.status, r.name, "
				JM_RUN_FLOW_NAME_SQL ", "
				"r.seed, r.device, r.host, r.started, r.ended, r.created, r.error, "
				"f.text, (SELECT count(*) FROM runs c WHERE c.parent = r.id), "
				"r.resumed, r.prior, IFNULL(r.number, 0) "
				"FROM runs r LEFT JOIN flows f ON f.id = r.flow_id WHERE r.id = ?",
				err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return rc == SQLITE_DONE ? jm_err_set(err, JM_EXIT_INPUT, "no run \"%lld\"", (long long)id)
					 : sql_fail(db, err);
	}
	r->id = sqlite3_column_int64(st, 0);
	r->kind = col_dup(st, 1);
	r->parent = sqlite3_column_int64(st, 2);
	r->status = col_dup(st, 3);
	r->name = col_dup(st, 4);
	r->flow = col_dup(st, 5);
	r->seed = (uint64_t)sqlite3_column_int64(st, 6);
	r->device = col_dup(st, 7);
	r->host = col_dup(st, 8);
	r->has_started = sqlite3_column_type(st, 9) != SQLITE_NULL;
	r->started = sqlite3_column_double(st, 9);
	r->has_ended = sqlite3_column_type(st, 10) != SQLITE_NULL;
	r->ended = sqlite3_column_double(st, 10);
	r->created = sqlite3_column_double(st, 11);
	r->error = col_dup(st, 12);
	r->flow_text = col_dup(st, 13);
	r->children = sqlite3_column_int64(st, 14);
	r->has_resumed = sqlite3_column_type(st, 15) != SQLITE_NULL;
	r->resumed = sqlite3_column_double(st, 15);
	r->prior = sqlite3_column_double(st, 16);
	r->number = sqlite3_column_int(st, 17);
	sqlite3_finalize(st);
	return 0;
}

/* The time the run ran, across --resume segments (JM_RUN_DURATION_SQL). */
static int run_duration(const run_info *r, double *secs)
{
	if (!r->has_started)
		return 0;
	*secs = r->prior + (r->has_ended ? r->ended : now_seconds()) -
		(r->has_resumed ? r->resumed : r->started);
	return 1;
}

/* What argv[i] is to a subcommand taking run ids: 1 an option
 * (jm_cli_is_option), 0 an operand, -1 the "--" that ends the options
 * (*ended is set: everything after it is an operand). */
static int is_option_at(char **argv, int i, int *ended)
{
	if (*ended)
		return 0;
	if (!strcmp(argv[i], "--")) {
		*ended = 1;
		return -1; /* skip it */
	}
	return jm_cli_is_option(argv[i]);
}

/* A string list (keys of params or metrics). */
typedef struct strlist {
	char **v;
	size_t n, cap;
} strlist;

static void strlist_add_unique(strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = jm_xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = jm_xstrdup(s);
}

static void strlist_free(strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The distinct keys of table (params, metric_summary, or a subquery of
 * (run, key) rows) over these runs, sorted. */
static int keys_of(sqlite3 *db, const char *table, const int64_t *ids, size_t n, strlist *out,
		   jm_err *err)
{
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT key FROM %s WHERE run = ?", table);
	sqlite3_stmt *st = prep(db, sql, err);
	if (!st)
		return -1;
	int rc = SQLITE_DONE;
	for (size_t i = 0; i < n && rc == SQLITE_DONE; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, ids[i]);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			strlist_add_unique(out, (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_fail(db, err);
	if (out->n)
		qsort(out->v, out->n, sizeof *out->v, cmp_str);
	return 0;
}


typedef struct summary {
	int present;
	double last, min, max; /* NaN where NULL */
	int64_t last_step, count;
} summary;

static double col_real(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static summary summary_get(sqlite3 *db, int64_t run, const char *key)
{
	summary s = {0};
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT last, min, max, last_step, count FROM metric_summary "
				   "WHERE run = ? AND key = ?", -1, &st, NULL) != SQLITE_OK)
		return s;
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		s.present = 1;
		s.last = col_real(st, 0);
		s.min = col_real(st, 1);
		s.max = col_real(st, 2);
		s.last_step = sqlite3_column_int64(st, 3);
		s.count = sqlite3_column_int64(st, 4);
	}
	sqlite3_finalize(st);
	return s;
}

/* The JSON of a run's fields, params, metric summaries and tags (no
 * closing brace, so callers can add members). */
static int json_run_open(sqlite3 *db, const run_info *r, jm_err *err)
{
	printf("{\"id\": %lld, \"kind\": ", (long long)r->id);
	jm_json_str(stdout, r->kind);
	fputs(", \"parent\": ", stdout);
	if (r->parent)
		printf("%lld", (long long)r->parent);
	else
		fputs("null", stdout);
	fputs(", \"trial\": ", stdout);
	if (r->number)
		printf("%d", r->number);
	else
		fputs("null", stdout);
	fputs(", \"status\": ", stdout);
	jm_json_str(stdout, r->status);
	fputs(", \"name\": ", stdout);
	jm_json_str(stdout, r->name);
	fputs(", \"flow\": ", stdout);
	jm_json_str(stdout, r->flow);
	printf(", \"seed\": %" PRIu64 ", \"device\": ", r->seed);
	jm_json_str(stdout, r->device);
	fputs(", \"host\": ", stdout);
	jm_json_str(stdout, r->host);
	fputs(", \"started\": ", stdout);
	jm_json_write_num(stdout, r->has_started ? r->started : NAN, 0);
	fputs(", \"ended\": ", stdout);
	jm_json_write_num(stdout, r->has_ended ? r->ended : NAN, 0);
	fputs(", \"created\": ", stdout);
	jm_json_write_num(stdout, r->created, 0);
	double d = 0;
	int has_d = run_duration(r, &d);
	fputs(", \"duration\": ", stdout);
	jm_json_write_num(stdout, has_d ? d : NAN, 0);
	fputs(", \"error\": ", stdout);
	jm_json_str(stdout, r->error);
	printf(", \"children\": %lld", (long long)r->children);

	sqlite3_stmt *st = prep(db, "SELECT key, value FROM params WHERE run = ? ORDER BY key", err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, r->id);
	fputs(",\n  \"params\": {", stdout);
	for (int n = 0; sqlite3_step(st) == SQLITE_ROW; n++) {
		fputs(n ? ", " : "", stdout);
		jm_json_str(stdout, (const char *)sqlite3_column_text(st, 0));
		fputs(": ", stdout);
		jm_json_str(stdout, (const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	if (!(st = prep(db, "SELECT key, last, last_step, min, max, count FROM metric_summary "
			    "WHERE run = ? ORDER BY key", err)))
		return -1;
	sqlite3_bind_int64(st, 1, r->id);
	fputs("},\n  \"metrics\": {", stdout);
	for (int n = 0; sqlite3_step(st) == SQLITE_ROW; n++) {
		fputs(n ? ", " : "", stdout);
		jm_json_str(stdout, (const char *)sqlite3_column_text(st, 0));
		fputs(": {\"last\": ", stdout);
		jm_json_write_num(stdout, col_real(st, 1), 0);
		printf(", \"last_step\": %lld, \"min\": ", (long long)sqlite3_column_int64(st, 2));
		jm_json_write_num(stdout, col_real(st, 3), 0);
		fputs(", \"max\": ", stdout);
		jm_json_write_num(stdout, col_real(st, 4), 0);
		printf(", \"count\": %lld}", (long long)sqlite3_column_int64(st, 5));
	}
	sqlite3_finalize(st);
	if (!(st = prep(db, "SELECT tag FROM tags WHERE run = ? ORDER BY tag", err)))
		return -1;
	sqlite3_bind_int64(st, 1, r->id);
	fputs("},\n  \"tags\": [", stdout);
	for (int n = 0; sqlite3_step(st) == SQLITE_ROW; n++) {
		fputs(n ? ", " : "", stdout);
		jm_json_str(stdout, (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	fputs("]", stdout);
	return 0;
}

/* ---- jianmo runs ------------------------------------------------------- */

/* Print the expression with a caret under column col (1-based characters),
 * indented by two spaces; tabs are kept so the caret lines up. */
static void print_caret(const char *expr, int col)
{
	fputs("  ", stderr);
	for (const char *p = expr; *p; p++)
		fputc(*p == '\n' || *p == '\r' ? ' ' : *p, stderr);
	fputs("\n  ", stderr);
	int c = 1;
	unsigned cp;
	for (const char *p = expr; *p && c < col; c++) {
		int len = utf8_next(p, &cp);
		fputs(*p == '\t' ? "\t" : cp_wide(cp) ? "  " : " ", stderr);
		p += len;
	}
	fputs("^\n", stderr);
}

static int compile_or_report(const char *what, const char *text, enum jm_query_kind kind,
			     jm_query **q)
{
	jm_err err = {0};
	int col = 0;
	if (jm_query_parse(text, kind, q, &col, &err) == 0)
		return 0;
	jm_err_prefix(&err, "%s", what);
	jm_err_print(&err);
	if (col > 0)
		print_caret(text, col);
	return -1;
}

/* The metric columns of the table: those of these names that some listed
 * run has, at most three. */
static const char *const table_metrics[] = {"test_acc", "test_r2", "val_acc", "loss",
					    "val_loss", "train_loss"};

static void runs_table(sqlite3 *db, const jm_cli *cli, const int64_t *ids, size_t n)
{
	const char *shown[3];
	int nshown = 0;
	for (size_t k = 0; k < sizeof table_metrics / sizeof table_metrics[0] && nshown < 3; k++)
		for (size_t i = 0; i < n; i++)
			if (summary_get(db, ids[i], table_metrics[k]).present) {
				shown[nshown++] = table_metrics[k];
				break;
			}
	int colour = use_colour(cli);
	int name_w = 4;
	run_info *rows = jm_xcalloc(n ? n : 1, sizeof *rows);
	char **names = jm_xcalloc(n ? n : 1, sizeof *names);
	for (size_t i = 0; i < n; i++) {
		if (run_load(db, ids[i], &rows[i], NULL) < 0)
			continue;
		const run_info *r = &rows[i];
		names[i] = r->name     ? jm_xstrdup(r->name)
			   : r->parent ? jm_xasprintf("(trial of %lld)", (long long)r->parent)
			   : r->flow   ? jm_xstrdup(r->flow)
				       : jm_xstrdup("-");
		int w = text_width(names[i]);
		name_w = w > name_w ? (w > 28 ? 28 : w) : name_w;
	}
	printf("%-5s %-6s %-8s ", "ID", "KIND", "STATUS");
	put_cell("NAME", name_w, 0, NULL);
	for (int k = 0; k < nshown; k++) {
		char head[32];
		snprintf(head, sizeof head, "%s", shown[k]);
		for (char *p = head; *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		printf(" ");
		put_cell(head, 10, 1, NULL);
	}
	printf(" %8s %5s\n", "DURATION", "AGE");
	double now = now_seconds();
	for (size_t i = 0; i < n; i++) {
		const run_info *r = &rows[i];
		if (!r->kind)
			continue;
		char b[64];
		printf("%-5lld %-6s ", (long long)r->id, r->kind);
		put_cell(r->status, 8, 0, colour ? status_colour(r->status) : NULL);
		printf(" ");
		put_cell(names[i], name_w, 0, NULL);
		for (int k = 0; k < nshown; k++) {
			summary s = summary_get(db, r->id, shown[k]);
			fmt_metric(b, sizeof b, s.last, s.present);
			printf(" ");
			put_cell(b, 10, 1, NULL);
		}
		double d;
		if (run_duration(r, &d))
			jm_fmt_duration(b, sizeof b, d);
		else
			snprintf(b, sizeof b, "-");
		printf(" %8s", b);
		jm_fmt_age(b, sizeof b, now - r->created);
		printf(" %5s\n", b);
	}
	for (size_t i = 0; i < n; i++) {
		run_info_free(&rows[i]);
		free(names[i]);
	}
	free(rows);
	free(names);
}

int jm_runs_json_array(sqlite3 *db, const int64_t *ids, size_t n, jm_err *err)
{
	fputs("[", stdout);
	for (size_t i = 0; i < n; i++) {
		run_info r;
		if (run_load(db, ids[i], &r, err) < 0)
			return -1;
		fputs(i ? ",\n " : "\n ", stdout);
		int rc = json_run_open(db, &r, err);
		run_info_free(&r);
		if (rc < 0)
			return -1;
		fputs("}", stdout);
	}
	fputs(n ? "\n]" : "]", stdout);
	return 0;
}

static int runs_json(sqlite3 *db, const int64_t *ids, size_t n, jm_err *err)
{
	if (jm_runs_json_array(db, ids, n, err) < 0)
		return -1;
	fputs("\n", stdout);
	return 0;
}

/* Fields, then one column per param key, then one per metric (its last
 * value); CRLF line ends as RFC 4180 says. */
static int runs_csv(sqlite3 *db, const int64_t *ids, size_t n, jm_err *err)
{
	static const char *const head[] = {"id", "kind", "parent", "status", "name", "flow",
					   "seed", "device", "host", "started", "ended", "created",
					   "duration", "error"};
	strlist params = {0}, metrics = {0};
	int rc = -1;
	if (keys_of(db, "params", ids, n, &params, err) < 0 ||
	    keys_of(db, "metric_summary", ids, n, &metrics, err) < 0)
		goto out;
	for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
		csv_field(head[i], i == 0);
	for (size_t i = 0; i < params.n; i++)
		csv_field(params.v[i], 0);
	for (size_t i = 0; i < metrics.n; i++)
		csv_field(metrics.v[i], 0);
	fputs("\r\n", stdout);
	for (size_t i = 0; i < n; i++) {
		run_info r;
		char b[64];
		if (run_load(db, ids[i], &r, err) < 0)
			goto out;
		snprintf(b, sizeof b, "%lld", (long long)r.id);
		csv_field(b, 1);
		csv_field(r.kind, 0);
		snprintf(b, sizeof b, "%lld", (long long)r.parent);
		csv_field(r.parent ? b : "", 0);
		csv_field(r.status, 0);
		csv_field(r.name, 0);
		csv_field(r.flow, 0);
		snprintf(b, sizeof b, "%" PRIu64, r.seed);
		csv_field(b, 0);
		csv_field(r.device, 0);
		csv_field(r.host, 0);
		csv_num(r.started, r.has_started);
		csv_num(r.ended, r.has_ended);
		csv_num(r.created, 1);
		double d = 0;
		int has_d = run_duration(&r, &d);
		csv_num(d, has_d);
		csv_field(r.error, 0);
		for (size_t k = 0; k < params.n; k++) {
			char *v = jm_store_param_read(db, r.id, params.v[k]);
			csv_field(v ? v : "", 0);
			free(v);
		}
		for (size_t k = 0; k < metrics.n; k++) {
			summary s = summary_get(db, r.id, metrics.v[k]);
			csv_num(s.last, s.present);
		}
		fputs("\r\n", stdout);
		run_info_free(&r);
	}
	rc = 0;
out:
	strlist_free(&params);
	strlist_free(&metrics);
	return rc;
}

int jm_cmd_runs(int argc, char **argv, const jm_cli *cli)
{
	const char *filter = NULL, *sort = NULL;
	long limit = 0;
	int json = cli->json, csv = 0;
	for (int i = 1; i < argc; i++) {
		const char *v;
		int missing;
		if ((v = jm_cli_opt_value(argc, argv, &i, "--filter", &missing)) || missing) {
			if (missing)
				return input_error("runs: --filter needs an expression");
			filter = v;
		} else if ((v = jm_cli_opt_value(argc, argv, &i, "--sort", &missing)) || missing) {
			if (missing)
				return input_error("runs: --sort needs a key");
			sort = v;
		} else if ((v = jm_cli_opt_value(argc, argv, &i, "--limit", &missing)) || missing) {
			char *end;
			errno = 0;
			limit = missing ? 0 : strtol(v, &end, 10);
			if (missing || !*v || *end || errno || limit < 1)
				return input_error("runs: --limit: expected a number >= 1, got \"%s\"",
						   missing ? "" : v);
		} else if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--csv")) {
			csv = 1;
		} else {
			input_error("runs: unexpected argument \"%s\"", argv[i]);
			return jm_cmd_usage("runs");
		}
	}
	if (json && csv)
		return input_error("runs: --json and --csv exclude each other");
	jm_query *fq = NULL, *sq = NULL;
	jm_err err = {0};
	jm_store *s = NULL;
	int64_t *ids = NULL;
	size_t n = 0;
	int rc = JM_EXIT_INPUT;
	if ((filter && compile_or_report("--filter", filter, JM_QUERY_FILTER, &fq) < 0) ||
	    (sort && compile_or_report("--sort", sort, JM_QUERY_SORT, &sq) < 0))
		goto out;
	if (!(s = open_store(cli, &err)) ||
	    jm_query_run_ids(jm_store_db(s), fq, sq, limit, &ids, &n, &err) < 0) {
		rc = fail(&err);
		goto out;
	}
	rc = JM_EXIT_OK;
	/* a misspelt metric or param matches nothing, silently: say so (on
	 * stderr, so --json and --csv stay what they are) */
	char unknown[512];
	if (jm_query_unknown(fq, jm_store_db(s), unknown, sizeof unknown) > 0)
		fprintf(stderr, "jianmo: note: --filter: %s\n", unknown);
	if (jm_query_unknown(sq, jm_store_db(s), unknown, sizeof unknown) > 0)
		fprintf(stderr, "jianmo: note: --sort: %s\n", unknown);
	if (json)
		rc = runs_json(jm_store_db(s), ids, n, &err) < 0 ? fail(&err) : JM_EXIT_OK;
	else if (csv)
		rc = runs_csv(jm_store_db(s), ids, n, &err) < 0 ? fail(&err) : JM_EXIT_OK;
	else
		runs_table(jm_store_db(s), cli, ids, n);
out:
	free(ids);
	jm_query_free(fq);
	jm_query_free(sq);
	jm_store_close(s);
	return rc;
}

/* ---- jianmo show ------------------------------------------------------- */

/* A small CSV file (the confusion matrix) printed as an aligned table. */
static void print_csv_matrix(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		printf("  (cannot read %s: %s)\n", path, strerror(errno));
		return;
	}
	char line[8192];
	char *cells[256][64];
	int rows = 0, cols = 0, width[64] = {0};
	while (rows < 256 && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		/* split on commas outside quotes; "" inside quotes is a quote */
		int c = 0;
		char *in = line;
		while (c < 64) {
			char cell[1024];
			size_t n = 0;
			int quoted = 0;
			for (; *in && (quoted || *in != ','); in++) {
				if (*in == '"' && quoted && in[1] == '"')
					in++;
				else if (*in == '"') {
					quoted = !quoted;
					continue;
				}
				if (n < sizeof cell - 1)
					cell[n++] = *in;
			}
			cell[n] = '\0';
			cells[rows][c] = jm_xstrdup(cell);
			int w = text_width(cell);
			width[c] = w > width[c] ? w : width[c];
			c++;
			if (*in != ',')
				break;
			in++;
		}
		for (int k = c; k < 64; k++)
			cells[rows][k] = NULL;
		cols = c > cols ? c : cols;
		rows++;
	}
	fclose(f);
	for (int r = 0; r < rows; r++) {
		printf(" ");
		for (int c = 0; c < cols; c++) {
			printf(" ");
			put_cell(cells[r][c] ? cells[r][c] : "", width[c], c > 0, NULL);
			free(cells[r][c]);
		}
		printf("\n");
	}
}

/* A table's data-quality report (runs/<id>/quality.txt), indented. */
static void print_quality(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	if (!f)
		return;
	printf("\ndata quality of the training rows (quality.txt)\n");
	while (getline(&line, &cap, f) > 0)
		printf("  %s", line);
	free(line);
	fclose(f);
}

static void show_field(const char *label, const char *value)
{
	char safe[2048];
	if (value && *value)
		printf("  %-9s %s\n", label, term_safe(value, safe, sizeof safe));
}

static int show_text(jm_store *s, const run_info *r, const jm_cli *cli, jm_err *err)
{
	sqlite3 *db = jm_store_db(s);
	char b[256], t[64];
	double now = now_seconds();
	printf("run %lld", (long long)r->id);
	if (r->parent && r->number)
		printf("  (%s %d of run %lld)", r->kind, r->number, (long long)r->parent);
	else if (r->parent)
		printf("  (%s of run %lld)", r->kind, (long long)r->parent);
	else if (strcmp(r->kind, "run"))
		printf("  (%s)", r->kind);
	printf("\n");
	printf("  %-9s ", "status");
	put_cell(r->status, text_width(r->status), 0,
		 use_colour(cli) ? status_colour(r->status) : NULL);
	printf("\n");
	show_field("name", r->name);
	show_field("flow", r->flow);
	snprintf(b, sizeof b, "%" PRIu64, r->seed);
	show_field("seed", b);
	show_field("device", r->device);
	show_field("host", r->host);
	char age[32];
	fmt_time(t, sizeof t, r->created);
	jm_fmt_age(age, sizeof age, now - r->created);
	snprintf(b, sizeof b, "%s (%s ago)", t, age);
	show_field("created", b);
	if (r->has_started) {
		fmt_time(b, sizeof b, r->started);
		show_field("started", b);
	}
	double d;
	if (run_duration(r, &d)) {
		jm_fmt_duration(t, sizeof t, d);
		if (r->has_ended) {
			char e[64];
			fmt_time(e, sizeof e, r->ended);
			snprintf(b, sizeof b, "%s (took %s)", e, t);
			show_field("ended", b);
		} else {
			snprintf(b, sizeof b, "%s so far", t);
			show_field("running", b);
		}
	}
	if (r->children) {
		snprintf(b, sizeof b, "%lld (jianmo runs --filter 'parent = %lld')",
			 (long long)r->children, (long long)r->id);
		show_field("children", b);
	}
	sqlite3_stmt *st = prep(db, "SELECT group_concat(tag, ', ') FROM (SELECT tag FROM tags "
				    "WHERE run = ? ORDER BY tag)", err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, r->id);
	if (sqlite3_step(st) == SQLITE_ROW)
		show_field("tags", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	show_field("error", r->error);
	if (!strcmp(r->kind, "search") && jm_show_search(db, r->id, r->flow_text, 0, err) < 0)
		return -1;

	/* params */
	if (!(st = prep(db, "SELECT key, value FROM params WHERE run = ? ORDER BY key", err)))
		return -1;
	sqlite3_bind_int64(st, 1, r->id);
	for (int n = 0; sqlite3_step(st) == SQLITE_ROW; n++) {
		if (!n)
			printf("\nparams\n");
		printf("  %-24s %s\n", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);

	/* metrics */
	if (!(st = prep(db, "SELECT key, last, min, max, count, last_step FROM metric_summary "
			    "WHERE run = ? ORDER BY key", err)))
		return -1;
	sqlite3_bind_int64(st, 1, r->id);
	for (int n = 0; sqlite3_step(st) == SQLITE_ROW; n++) {
		if (!n)
			printf("\nmetrics                         last        min        max  count  "
			       "last step\n");
		printf("  ");
		put_cell((const char *)sqlite3_column_text(st, 0), 24, 0, NULL);
		for (int c = 1; c <= 3; c++) {
			fmt_metric(b, sizeof b, col_real(st, c), 1);
			printf(" ");
			put_cell(b, 10, 1, NULL);
		}
		printf(" %6lld %10lld\n", (long long)sqlite3_column_int64(st, 4),
		       (long long)sqlite3_column_int64(st, 5));
	}
	sqlite3_finalize(st);

	/* artifacts */
	if (!(st = prep(db, "SELECT name, bytes, sha256, path FROM artifacts WHERE run = ? "
			    "ORDER BY name", err)))
		return -1;
	sqlite3_bind_int64(st, 1, r->id);
	char *confusion = NULL, *quality = NULL;
	for (int n = 0; sqlite3_step(st) == SQLITE_ROW; n++) {
		if (!n)
			printf("\nartifacts\n");
		const char *name = (const char *)sqlite3_column_text(st, 0);
		fmt_bytes(b, sizeof b, sqlite3_column_int64(st, 1));
		printf("  %-24s %10s  sha256 %.16s  %s\n", name, b, sqlite3_column_text(st, 2),
		       sqlite3_column_text(st, 3));
		if (!strcmp(name, "confusion.csv") && !confusion)
			confusion = jm_xasprintf("%s/%s", jm_store_home(s), sqlite3_column_text(st, 3));
		if (!strcmp(name, "quality.txt") && !quality)
			quality = jm_xasprintf("%s/%s", jm_store_home(s), sqlite3_column_text(st, 3));
	}
	sqlite3_finalize(st);
	if (confusion) {
		printf("\nconfusion matrix (confusion.csv)\n");
		print_csv_matrix(confusion);
		free(confusion);
	}
	if (quality) {
		print_quality(quality);
		free(quality);
	}
	if (r->flow_text) {
		char safe[1024];
		printf("\nflow%s%s%s\n", r->flow ? " (" : "",
		       r->flow ? term_safe(r->flow, safe, sizeof safe) : "", r->flow ? ")" : "");
		const char *p = r->flow_text;
		while (*p) {
			size_t len = strcspn(p, "\n");
			printf("  %.*s\n", (int)len, p);
			p += len + (p[len] == '\n');
		}
	}
	return 0;
}

static int show_json(jm_store *s, const run_info *r, jm_err *err)
{
	sqlite3 *db = jm_store_db(s);
	if (json_run_open(db, r, err) < 0)
		return -1;
	if (!strcmp(r->kind, "search") && jm_show_search(db, r->id, r->flow_text, 1, err) < 0)
		return -1;
	sqlite3_stmt *st = prep(db, "SELECT name, path, bytes, sha256, created FROM artifacts "
				    "WHERE run = ? ORDER BY name", err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, r->id);
	fputs(",\n  \"artifacts\": [", stdout);
	for (int n = 0; sqlite3_step(st) == SQLITE_ROW; n++) {
		fputs(n ? ", " : "", stdout);
		fputs("{\"name\": ", stdout);
		jm_json_str(stdout, (const char *)sqlite3_column_text(st, 0));
		fputs(", \"path\": ", stdout);
		jm_json_str(stdout, (const char *)sqlite3_column_text(st, 1));
		printf(", \"bytes\": %lld, \"sha256\": ", (long long)sqlite3_column_int64(st, 2));
		jm_json_str(stdout, (const char *)sqlite3_column_text(st, 3));
		fputs(", \"created\": ", stdout);
		jm_json_write_num(stdout, sqlite3_column_double(st, 4), 0);
		fputs("}", stdout);
	}
	sqlite3_finalize(st);
	fputs("],\n  \"flow_text\": ", stdout);
	jm_json_str(stdout, r->flow_text);
	fputs("}\n", stdout);
	return 0;
}

int jm_cmd_show(int argc, char **argv, const jm_cli *cli)
{
	int json = cli->json, ended = 0;
	const char *ref = NULL;
	for (int i = 1; i < argc; i++) {
		int opt = is_option_at(argv, i, &ended);
		if (opt < 0)
			continue;
		if (opt && !strcmp(argv[i], "--json"))
			json = 1;
		else if (opt || ref)
			return jm_cmd_usage("show");
		else
			ref = argv[i];
	}
	if (!ref)
		return jm_cmd_usage("show");
	jm_err err = {0};
	jm_store *s = open_store(cli, &err);
	int64_t id;
	run_info r = {0};
	int rc = JM_EXIT_OK;
	if (!s || jm_store_run_lookup(s, ref, &id, &err) < 0 ||
	    run_load(jm_store_db(s), id, &r, &err) < 0 ||
	    (json ? show_json(s, &r, &err) : show_text(s, &r, cli, &err)) < 0)
		rc = fail(&err);
	run_info_free(&r);
	jm_store_close(s);
	return rc;
}

/* ---- jianmo compare ---------------------------------------------------- */

/*
 * Which params differ.  A plain run keeps only the keys that have a value;
 * a search and its trials keep every key of the flow, the empty ones and
 * the [search] block included.  So that a trial compared with a plain run
 * shows only what was trained differently:
 *
 *   - an empty value is the same as no value (both print as "-");
 *   - search.* keys are compared only between runs that have [search]
 *     settings (searches and trials): a plain run has none, which says
 *     what kind of run it is, not how it trained.  Two trials of searches
 *     set up differently are still marked.
 *
 * ui/screen_compare.c marks differences by the same rule.
 */
typedef struct compare_ctx {
	sqlite3 *db;
	int64_t *ids;
	size_t n;
	strlist params, metrics;
	unsigned char *has_search; /* per run: it has search.* params */
} compare_ctx;

#define COMPARE_PARAMS "(SELECT run, key FROM params WHERE value != '')"

static int is_search_key(const char *key)
{
	return !strncmp(key, "search.", 7);
}

static void compare_find_searches(compare_ctx *c)
{
	c->has_search = jm_xcalloc(c->n, 1);
	for (size_t k = 0; k < c->params.n; k++) {
		if (!is_search_key(c->params.v[k]))
			continue;
		for (size_t i = 0; i < c->n; i++) {
			char *v = jm_store_param_read(c->db, c->ids[i], c->params.v[k]);
			if (v && *v)
				c->has_search[i] = 1;
			free(v);
		}
	}
}

/* values[i] of param key for each run (malloc'd strings, NULL when absent
 * or empty); returns whether they differ. */
static int param_row(compare_ctx *c, const char *key, char **values)
{
	int differs = 0, skip_plain = is_search_key(key);
	const char *first = NULL;
	int have_first = 0;
	for (size_t i = 0; i < c->n; i++) {
		values[i] = jm_store_param_read(c->db, c->ids[i], key);
		if (values[i] && !*values[i]) {
			free(values[i]);
			values[i] = NULL;
		}
		if (skip_plain && !c->has_search[i])
			continue;
		if (!have_first) {
			first = values[i];
			have_first = 1;
		} else if ((!values[i]) != (!first) || (first && strcmp(values[i], first))) {
			differs = 1;
		}
	}
	return differs;
}

/* The plain runs whose missing search.* params were not marked, for a
 * note under the params; 0 when there are none. */
static size_t plain_among_searches(const compare_ctx *c)
{
	size_t plain = 0, searches = 0;
	for (size_t i = 0; i < c->n; i++)
		c->has_search[i] ? searches++ : plain++;
	return searches ? plain : 0;
}

static void free_values(char **values, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(values[i]);
		values[i] = NULL;
	}
}

static double best_of(const summary *s, int maximize)
{
	return maximize ? s->max : s->min;
}

static void compare_text(compare_ctx *c, const jm_cli *cli)
{
	int label_w = 12, col_w = 10;
	for (size_t k = 0; k < c->params.n; k++) {
		int w = text_width(c->params.v[k]);
		label_w = w > label_w ? w : label_w;
	}
	for (size_t k = 0; k < c->metrics.n; k++) {
		int w = text_width(c->metrics.v[k]);
		label_w = w > label_w ? w : label_w;
	}
	label_w = label_w > 32 ? 32 : label_w;
	char **values = jm_xcalloc(c->n, sizeof *values);
	for (size_t k = 0; k < c->params.n; k++) {
		param_row(c, c->params.v[k], values);
		for (size_t i = 0; i < c->n; i++) {
			int w = values[i] ? text_width(values[i]) : 1;
			col_w = w > col_w ? (w > 24 ? 24 : w) : col_w;
		}
		free_values(values, c->n);
	}
	int colour = use_colour(cli);
	printf("%*s", label_w + 2, "");
	for (size_t i = 0; i < c->n; i++) {
		char head[32];
		snprintf(head, sizeof head, "run %lld", (long long)c->ids[i]);
		printf("  ");
		put_cell(head, i + 1 < c->n ? col_w : text_width(head), 0, NULL);
	}
	printf("\n");
	/* params: the differing ones first, marked with "*" */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t k = 0; k < c->params.n; k++) {
			int differs = param_row(c, c->params.v[k], values);
			if (differs == pass) {
				free_values(values, c->n);
				continue;
			}
			printf("%s ", differs ? "*" : " ");
			put_cell(c->params.v[k], label_w, 0, NULL);
			for (size_t i = 0; i < c->n; i++) {
				const char *v = values[i] ? values[i] : "-";
				int w = text_width(v);
				printf("  ");
				put_cell(v, i + 1 < c->n ? col_w : w, 0,
					 differs && colour ? "1" : NULL);
			}
			printf("\n");
			free_values(values, c->n);
		}
	}
	free(values);
	size_t plain = plain_among_searches(c);
	if (plain) {
		printf("  (search.* not marked for run");
		for (size_t i = 0, k = 0; i < c->n; i++)
			if (!c->has_search[i])
				printf("%s%lld", k++ ? ", " : plain > 1 ? "s " : " ", (long long)c->ids[i]);
		printf(": not %s search or trial)\n", plain > 1 ? "searches or trials" : "a");
	}
	static const char *const sections[] = {"final (last value)",
					       "best (max for acc/auc/f1-like, else min)"};
	for (int sec = 0; sec < 2 && c->metrics.n; sec++) {
		printf("\n%s\n", sections[sec]);
		for (size_t k = 0; k < c->metrics.n; k++) {
			const char *key = c->metrics.v[k];
			int maximize = jm_query_metric_maximize(key);
			/* the winner among the runs, marked */
			double win = NAN;
			summary *sum = jm_xcalloc(c->n, sizeof *sum);
			for (size_t i = 0; i < c->n; i++) {
				sum[i] = summary_get(c->db, c->ids[i], key);
				double v = sec ? best_of(&sum[i], maximize) : sum[i].last;
				if (sum[i].present && !isnan(v) &&
				    (isnan(win) || (maximize ? v > win : v < win)))
					win = v;
			}
			printf("  ");
			put_cell(key, label_w, 0, NULL);
			for (size_t i = 0; i < c->n; i++) {
				char b[64];
				double v = sec ? best_of(&sum[i], maximize) : sum[i].last;
				fmt_metric(b, sizeof b, v, sum[i].present);
				int is_win = sum[i].present && !isnan(v) && v == win && c->n > 1;
				if (is_win && !colour)
					strcat(b, " <");
				int w = text_width(b);
				printf("  ");
				put_cell(b, i + 1 < c->n ? col_w : w, 0,
					 is_win && colour ? "1;32" : NULL);
			}
			printf("\n");
			free(sum);
		}
	}
}

static void compare_json(compare_ctx *c)
{
	printf("{\"runs\": [");
	for (size_t i = 0; i < c->n; i++)
		printf("%s%lld", i ? ", " : "", (long long)c->ids[i]);
	printf("],\n \"params\": [");
	char **values = jm_xcalloc(c->n, sizeof *values);
	for (size_t k = 0; k < c->params.n; k++) {
		int differs = param_row(c, c->params.v[k], values);
		printf("%s\n  {\"key\": ", k ? "," : "");
		jm_json_str(stdout, c->params.v[k]);
		printf(", \"differs\": %s, \"values\": [", differs ? "true" : "false");
		for (size_t i = 0; i < c->n; i++) {
			fputs(i ? ", " : "", stdout);
			jm_json_str(stdout, values[i]);
		}
		printf("]}");
		free_values(values, c->n);
	}
	free(values);
	printf("],\n \"metrics\": [");
	for (size_t k = 0; k < c->metrics.n; k++) {
		const char *key = c->metrics.v[k];
		int maximize = jm_query_metric_maximize(key);
		printf("%s\n  {\"key\": ", k ? "," : "");
		jm_json_str(stdout, key);
		printf(", \"best_is\": \"%s\", \"last\": [", maximize ? "max" : "min");
		for (size_t i = 0; i < c->n; i++) {
			summary s = summary_get(c->db, c->ids[i], key);
			fputs(i ? ", " : "", stdout);
			jm_json_write_num(stdout, s.present ? s.last : NAN, 0);
		}
		printf("], \"best\": [");
		for (size_t i = 0; i < c->n; i++) {
			summary s = summary_get(c->db, c->ids[i], key);
			fputs(i ? ", " : "", stdout);
			jm_json_write_num(stdout, s.present ? best_of(&s, maximize) : NAN, 0);
		}
		printf("]}");
	}
	printf("]}\n");
}

int jm_cmd_compare(int argc, char **argv, const jm_cli *cli)
{
	int json = cli->json, ended = 0;
	const char **refs = jm_xcalloc((size_t)argc, sizeof *refs);
	size_t nrefs = 0;
	for (int i = 1; i < argc; i++) {
		int opt = is_option_at(argv, i, &ended);
		if (opt < 0)
			continue;
		if (opt && !strcmp(argv[i], "--json"))
			json = 1;
		else if (opt) {
			free(refs);
			return jm_cmd_usage("compare");
		} else
			refs[nrefs++] = argv[i];
	}
	if (nrefs < 2) {
		free(refs);
		input_error("compare: needs at least two runs");
		return jm_cmd_usage("compare");
	}
	jm_err err = {0};
	compare_ctx c = {.ids = jm_xcalloc(nrefs, sizeof *c.ids), .n = nrefs};
	jm_store *s = open_store(cli, &err);
	int rc = JM_EXIT_OK;
	if (!s) {
		rc = fail(&err);
		goto out;
	}
	c.db = jm_store_db(s);
	for (size_t i = 0; i < nrefs; i++)
		if (jm_store_run_lookup(s, refs[i], &c.ids[i], &err) < 0) {
			rc = fail(&err);
			goto out;
		}
	if (keys_of(c.db, COMPARE_PARAMS, c.ids, c.n, &c.params, &err) < 0 ||
	    keys_of(c.db, "metric_summary", c.ids, c.n, &c.metrics, &err) < 0) {
		rc = fail(&err);
		goto out;
	}
	compare_find_searches(&c);
	if (json)
		compare_json(&c);
	else
		compare_text(&c, cli);
out:
	strlist_free(&c.params);
	strlist_free(&c.metrics);
	free(c.has_search);
	free(c.ids);
	free(refs);
	jm_store_close(s);
	return rc;
}

/* ---- jianmo rm --------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* The runs to delete: the named ones and all their descendants, each once,
 * parents before children. */
static int rm_collect(sqlite3 *db, const int64_t *named, size_t n, int64_t **all, size_t *nall,
		      size_t *nnamed, jm_err *err)
{
	size_t cap = n + 16;
	*all = jm_xcalloc(cap, sizeof **all);
	*nall = 0;
	for (size_t i = 0; i < n; i++) {
		int dup = 0;
		for (size_t k = 0; k < *nall; k++)
			dup |= (*all)[k] == named[i];
		if (!dup)
			(*all)[(*nall)++] = named[i];
	}
	*nnamed = *nall;
	sqlite3_stmt *st = prep(db, "SELECT id FROM runs WHERE parent = ?", err);
	if (!st)
		return -1;
	for (size_t i = 0; i < *nall; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, (*all)[i]);
		while (sqlite3_step(st) == SQLITE_ROW) {
			int64_t kid = sqlite3_column_int64(st, 0);
			int dup = 0;
			for (size_t k = 0; k < *nall; k++)
				dup |= (*all)[k] == kid;
			if (dup)
				continue;
			if (*nall == cap)
				*all = jm_xrealloc(*all, (cap *= 2) * sizeof **all);
			(*all)[(*nall)++] = kid;
		}
	}
	sqlite3_finalize(st);
	return 0;
}

static int rm_confirm(const int64_t *named, size_t n, size_t extra)
{
	fprintf(stderr, "delete run%s ", n > 1 ? "s" : "");
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%s%lld", i ? ", " : "", (long long)named[i]);
	if (extra)
		fprintf(stderr, " (and %s %zu trial%s)", n > 1 ? "their" : "its", extra,
			extra > 1 ? "s" : "");
	fprintf(stderr, "? [y/N] ");
	fflush(stderr);
	char line[64];
	if (!fgets(line, sizeof line, stdin))
		return 0;
	return line[0] == 'y' || line[0] == 'Y';
}

int jm_cmd_rm(int argc, char **argv, const jm_cli *cli)
{
	int yes = 0, ended = 0;
	const char **refs = jm_xcalloc((size_t)argc, sizeof *refs);
	size_t nrefs = 0;
	for (int i = 1; i < argc; i++) {
		int opt = is_option_at(argv, i, &ended);
		if (opt < 0)
			continue;
		if (opt && (!strcmp(argv[i], "--yes") || !strcmp(argv[i], "-y")))
			yes = 1;
		else if (opt) {
			free(refs);
			return jm_cmd_usage("rm");
		} else
			refs[nrefs++] = argv[i];
	}
	if (!nrefs) {
		free(refs);
		return jm_cmd_usage("rm");
	}
	jm_err err = {0};
	int64_t *named = jm_xcalloc(nrefs, sizeof *named), *all = NULL;
	size_t nall = 0, nnamed = 0;
	int rc = JM_EXIT_OK;
	jm_store *s = open_store(cli, &err);
	sqlite3 *db = s ? jm_store_db(s) : NULL;
	if (!s) {
		rc = fail(&err);
		goto out;
	}
	for (size_t i = 0; i < nrefs; i++)
		if (jm_store_run_lookup(s, refs[i], &named[i], &err) < 0) {
			rc = fail(&err);
			goto out;
		}
	if (rm_collect(db, named, nrefs, &all, &nall, &nnamed, &err) < 0) {
		rc = fail(&err);
		goto out;
	}
	for (size_t i = 0; i < nall; i++) {
		run_info r;
		if (run_load(db, all[i], &r, &err) < 0) {
			rc = fail(&err);
			goto out;
		}
		int running = !strcmp(r.status, JM_RUN_RUNNING);
		run_info_free(&r);
		if (running) {
			rc = input_error("rm: run %lld is running (stop it first; a run whose "
					 "process died is marked crashed when the store is opened)",
					 (long long)all[i]);
			goto out;
		}
	}
	if (!yes) {
		if (!isatty(STDIN_FILENO)) {
			rc = input_error("rm: not deleting without confirmation: stdin is not a "
					 "terminal (add --yes)");
			goto out;
		}
		if (!rm_confirm(all, nnamed, nall - nnamed)) {
			fprintf(stderr, "jianmo: rm: nothing deleted\n");
			rc = JM_EXIT_OK;
			goto out;
		}
	}
	/* rows first (one transaction; children go by cascade), then folders */
	sqlite3_stmt *st = NULL;
	if (jm_store_check_writable(s, &err) < 0) {
		rc = fail(&err);
		goto out;
	}
	int ok = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK &&
		 (st = prep(db, "DELETE FROM runs WHERE id = ?", &err));
	for (size_t i = 0; ok && i < nall; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, all[i]);
		ok = sqlite3_step(st) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	if (!ok || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sql_fail(db, &err);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		rc = fail(&err);
		goto out;
	}
	for (size_t i = 0; i < nall; i++) {
		char *dir = jm_xasprintf("%s/runs/%lld", jm_store_home(s), (long long)all[i]);
		if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT) {
			fprintf(stderr, "jianmo: rm: %s: %s\n", dir, strerror(errno));
			rc = JM_EXIT_FAIL;
		}
		free(dir);
	}
	if (cli->json) {
		printf("{\"deleted\": [");
		for (size_t i = 0; i < nall; i++)
			printf("%s%lld", i ? ", " : "", (long long)all[i]);
		printf("]}\n");
	} else {
		printf("deleted run%s", nnamed > 1 ? "s" : "");
		for (size_t i = 0; i < nnamed; i++)
			printf("%s%lld", i ? ", " : " ", (long long)all[i]);
		if (nall > nnamed)
			printf(" (and %zu trial%s)", nall - nnamed, nall - nnamed > 1 ? "s" : "");
		printf("\n");
	}
out:
	free(named);
	free(all);
	free(refs);
	jm_store_close(s);
	return rc;
}

/* ---- jianmo tag / untag ------------------------------------------------ */

/* The run's tags after the change: "run 3: baseline, paper", or JSON. */
static int print_tags(sqlite3 *db, int64_t run, int json, jm_err *err)
{
	sqlite3_stmt *st = prep(db, "SELECT tag FROM tags WHERE run = ? ORDER BY tag", err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run);
	if (json)
		printf("{\"run\": %lld, \"tags\": [", (long long)run);
	else
		printf("run %lld: ", (long long)run);
	int n = 0, rc;
	for (; (rc = sqlite3_step(st)) == SQLITE_ROW; n++) {
		const char *tag = (const char *)sqlite3_column_text(st, 0);
		fputs(n ? ", " : "", stdout);
		if (json)
			jm_json_str(stdout, tag);
		else
			fputs(tag, stdout);
	}
	sqlite3_finalize(st);
	if (json)
		fputs("]}\n", stdout);
	else
		fputs(n ? "\n" : "no tags\n", stdout);
	return rc == SQLITE_DONE ? 0 : sql_fail(db, err);
}

/* `jianmo tag|untag RUN TAG...`: the tags are checked before the store is
 * opened, and all go on (or come off) in one transaction, or none. */
static int tag_command(int argc, char **argv, const jm_cli *cli, int add)
{
	const char *name = argv[0], *ref = NULL;
	const char **tags = jm_xcalloc((size_t)argc, sizeof *tags);
	size_t ntags = 0;
	int json = cli->json, ended = 0, rc = JM_EXIT_OK;
	jm_err err = {0};
	jm_store *s = NULL;
	for (int i = 1; i < argc; i++) {
		int opt = is_option_at(argv, i, &ended);
		if (opt < 0)
			continue;
		if (opt && !strcmp(argv[i], "--json")) {
			json = 1;
		} else if (opt) {
			input_error("%s: unexpected argument \"%s\"", name, argv[i]);
			rc = jm_cmd_usage(name);
			goto out;
		} else if (!ref) {
			ref = argv[i];
		} else {
			tags[ntags++] = argv[i];
		}
	}
	if (!ref || !ntags) {
		if (ref)
			input_error("%s: which tags? (give at least one)", name);
		rc = jm_cmd_usage(name);
		goto out;
	}
	for (size_t i = 0; add && i < ntags; i++)
		if (jm_store_tag_check(tags[i], &err) < 0) {
			rc = fail(&err);
			goto out;
		}
	int64_t run;
	if (!(s = open_store(cli, &err)) || jm_store_run_lookup(s, ref, &run, &err) < 0 ||
	    (add ? jm_store_tags_add(s, run, tags, ntags, &err)
		 : jm_store_tags_remove(s, run, tags, ntags, &err)) < 0 ||
	    print_tags(jm_store_db(s), run, json, &err) < 0)
		rc = fail(&err);
out:
	free(tags);
	jm_store_close(s);
	return rc;
}

int jm_cmd_tag(int argc, char **argv, const jm_cli *cli)
{
	return tag_command(argc, argv, cli, 1);
}

int jm_cmd_untag(int argc, char **argv, const jm_cli *cli)
{
	return tag_command(argc, argv, cli, 0);
}
