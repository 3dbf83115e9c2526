/*
 * flow.h: the workflow file, an INI file (parsed with libinih) whose
 * sections configure the stages of a run:
 *
 *   [data] [clean] [features] [augment] [split] [model] [train] [search]
 *   [notify]
 *
 * Every key is described once in the key table in flow.c (name, type,
 * default, range, help); parsing, validation, --set overrides, printing
 * and the man page all follow that table.  A jm_flow always holds every
 * key: defaults first, then the file, then overrides.
 *
 *   text ──jm_flow_parse──▶ jm_flow ──jm_flow_set (--set a.b=v)──▶ jm_flow
 *                                   ──jm_flow_format──▶ canonical text
 *   text + edited jm_flow ──jm_flow_edit (flow_edit.c)──▶ text, changed only
 *                                   where the values changed
 *
 * jm_flow_format() output parsed again gives an identical jm_flow; that is
 * what the store keeps with each run, so `--rerun` replays it exactly.
 * Errors name the file, line, section and key, and suggest the closest
 * valid key on a typo:
 *   fmnist.flow:12: [train] lr: expected a number > 0, got "fast"
 *   fmnist.flow:7: [train] unknown key "epoch" (did you mean "epochs"?)
 */
#ifndef JM_FLOW_H
#define JM_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define JM_FLOW_MAX_HIDDEN 16
#define JM_FLOW_MAX_KEYS 192 /* room in key_line for every table key */
#define JM_FLOW_MAX_SEARCHED 32 /* searched keys in [search] */
/* [train] batch = auto tries this batch first, then halves it until the
 * buffers fit (pipeline/runner.c; the key's help and jianmo(1) say 1024) */
#define JM_FLOW_BATCH_AUTO_MAX 1024

typedef struct jm_flow {
	char *path; /* file it came from, or NULL */

	struct {
		char *source;      /* "fashion-mnist" (default) | "idx:DIR" */
		char *dir;         /* IDX directory; default per source */
		char *normalize;   /* "standard" (default) | "unit" | "none" */
		int64_t limit;     /* use the first N training samples; 0 = all */
		int64_t test_limit;/* the first N test samples; 0 = all */
		/* a CSV source (see jm_flow_is_tabular); keep these last:
		 * flow.c tells them by their offset */
		char *sha256;      /* expected SHA-256 of the file; "" = unchecked */
		char *delimiter;   /* "" (sniff) | one character | comma, tab, ... */
		char *na_values;   /* more missing-value tokens: "?, -" */
		char *comment;     /* "" (none) | one character | hash, ... */
		char *target;      /* the column to predict */
		char *task;        /* "auto" (default) | "classification" | "regression" */
	} data;

	/* [clean] and [features]: each value is handed, clause by clause
	 * (clauses are separated by ';'), to jm_clean_parse or
	 * jm_features_parse under the key's name; "" = no such rule.  Walk
	 * them with jm_flow_key_info/jm_flow_get (section "clean" or
	 * "features") rather than by field. */
	struct {
		char *drop_columns, *duplicates, *dates, *booleans, *missing, *outliers;
	} clean;
	struct {
		char *dates, *lag, *rolling, *products, *ratios, *poly2, *log1p, *bins,
			*onehot, *ordinal, *minmax, *standardize, *drop, *missing,
			*plugin; /* a feature plugin: "NAME(k=v): columns" */
	} features;

	struct {
		double cutmix;        /* CutMix Beta alpha; 0 = off */
		double mixup;         /* MixUp Beta alpha; 0 = off */
		double cutmix_minmax[2]; /* box side range (fractions); 0,0 = unset */
		double prob;          /* chance a batch (pair, sample) is mixed (1) */
		double switch_prob;   /* key "switch": chance of CutMix when both (0.5) */
		char *mode;           /* "batch" (default) | "pair" | "elem" */
		int correct_lam;      /* lambda from the clipped box area (1) */
		double label_smoothing; /* of mixed targets; NaN = [train]'s */
		double hflip;         /* horizontal flip probability (0) */
		int64_t crop_padding; /* random crop after padding N pixels (0) */
		char *padding_mode;   /* "zero" (default) | "reflect" */
		double erasing;       /* random erasing probability (0) */
		double erasing_area[2];   /* erased fraction of the area (0.02, 1/3) */
		double erasing_aspect[2]; /* aspect ratio range (0.3, 1/0.3) */
		char *erasing_mode;   /* "const" (default) | "rand" | "pixel" */
	} augment;

	struct {
		double val;       /* validation fraction carved from train (0.1;
				     0.15 of a CSV's rows unless given) */
		double test;      /* test fraction when the data has no test set (0.15) */
		int stratify;     /* 1 (default) */
	} split;

	struct {
		char *type;       /* "linear" | "logistic" | "mlp" (default) | "cnn" */
		int hidden[JM_FLOW_MAX_HIDDEN]; /* mlp hidden sizes: "256,128" */
		int n_hidden;
		char *act;        /* "relu" (default) | "gelu" | "tanh" | "sigmoid" | "silu"
				     | "plugin:NAME(k=v)" (a plugin layer) */
		double dropout;   /* mlp dropout after each hidden layer (0) */
		char *norm;       /* mlp: "none" (default) | "batch" | "layer" */
		char *layers;     /* cnn layer string */
		int batchnorm;    /* cnn: batch norm after each conv (1) */
	} model;

	struct {
		int64_t epochs;       /* 5 */
		int64_t batch;        /* 128; 0: auto (JM_FLOW_BATCH_AUTO_MAX and halves) */
		char *optimizer;      /* "adamw" (default) | "adam" | "sgd" */
		double lr;            /* 1e-3 */
		double momentum;      /* sgd (0.9) */
		int nesterov;         /* sgd (0) */
		double beta1, beta2, eps;  /* adam: 0.9, 0.999, 1e-8 */
		double weight_decay;  /* 0 */
		char *schedule;       /* "constant" (default) | "step" | "cosine" | "onecycle" */
		double warmup;        /* warmup fraction of all steps, cosine (0) */
		int64_t step_epochs;  /* step schedule: decay every N epochs (10) */
		double gamma;         /* step schedule factor (0.1) */
		double pct_start;     /* onecycle rising fraction (0.3) */
		double min_lr;        /* floor for cosine (0) */
		double clip;          /* global-norm clip threshold; 0 = off */
		char *clip_mode;      /* "fixed" (default) | "adaptive" */
		double clip_percentile; /* adaptive: percentile of recent norms (90) */
		int64_t clip_window;  /* adaptive: how many recent norms (200) */
		int64_t accumulate;   /* micro-batches per optimizer step (1) */
		int64_t patience;     /* early stopping patience in epochs; 0 = off */
		char *monitor;        /* "val_acc" (default) | "val_loss" */
		double label_smoothing; /* 0 */
		int64_t log_every;    /* steps between step-loss points (50) */
		int64_t checkpoint_every; /* epochs between checkpoints (1) */
		int64_t threads;      /* BLAS threads (1) */
		char *device;         /* "auto" (default) | "cpu" | "cuda" | "cuda:N" */
		char *precision;      /* "auto" (default) | "fp32" | "tf32" | "bf16" | "fp16" */
		int64_t seed;         /* 1 */
	} train;

	/* [search]: the fixed keys, then the searched ones ("train.lr =
	 * loguniform(1e-5, 1e-2)"), in file order.  A flow with trials > 0
	 * is a search: each trial is this flow with the proposed values set
	 * and the search stripped (jm_flow_search_strip). */
	struct {
		int64_t trials;       /* 0 (default): not a search */
		char *metric;         /* "auto" (default: val_acc, or val_loss for a
					 regression) | "val_acc" | "val_r2" | ... */
		char *direction;      /* "auto" (default: from the metric) | "max" | "min" */
		char *method;         /* "bayes" (default) | "random" | "grid" */
		int64_t workers;      /* trials at once (1) */
		char *prune;          /* "none" (default) | "median" | "asha" */
		int64_t seed;         /* seed of the proposals (1) */
		int n_params;
		struct jm_flow_searched {
			char *key;    /* "train.lr", a key of the table */
			char *spec;   /* "loguniform(1e-05, 0.01)", as written */
			int line;     /* where it was set, as key_line */
		} params[JM_FLOW_MAX_SEARCHED];
	} search;

	struct {
		char *url;            /* POST a JSON summary here when done; "" = off */
		int64_t timeout;      /* seconds per attempt (10) */
	} notify;

	/* Bookkeeping, private to flow.c: the name used in messages (path,
	 * or the name given to jm_flow_parse) and where each key of the table
	 * was set (see jm_flow_line). */
	char *name;
	int key_line[JM_FLOW_MAX_KEYS];
} jm_flow;

/* Defaults only. */
jm_flow *jm_flow_new(void);
void jm_flow_free(jm_flow *f); /* accepts NULL */

/* Parse text (name is used in messages, e.g. the file name) over the
 * defaults.  Validation is complete on return: every key known, typed and
 * in range, cross-key rules checked (e.g. cnn needs layers).  Missing
 * files referenced by the flow (data dir) are checked by
 * jm_flow_check_files, not here, so a flow can be parsed anywhere. */
int jm_flow_parse(jm_flow **out, const char *text, const char *name, jm_err *err);
/* path "-" reads standard input, and names the flow "stdin". */
int jm_flow_load(jm_flow **out, const char *path, jm_err *err);

/* Apply one override "section.key=value" (from --set); errors as above,
 * located as "--set train.lr=fast".  The value is read as in a file
 * (surrounding blanks and a " ; comment" dropped).  Each key is checked
 * on its own; rules between keys are checked by jm_flow_validate, once
 * every override is in (an override may need the next one to be valid:
 * --set model.type=cnn --set model.layers=...).  Setting [data] source
 * to a new value makes [data] dir follow it unless dir was itself set by
 * --set. */
int jm_flow_set(jm_flow *f, const char *assignment, jm_err *err);

/* The rules between keys (cnn needs layers, val + test < 1, ...), located
 * at the line (or --set) of the key at fault.  jm_flow_parse runs it;
 * call it after the last jm_flow_set (jm_flow_check_files also does).  In
 * a search, a rule that reads a searched key is skipped: the search
 * replaces that value, and each trial's flow (the search stripped, the
 * proposed values set) is checked in full instead. */
int jm_flow_validate(const jm_flow *f, jm_err *err);

/* jm_flow_validate, then check that the files and directories the flow
 * names exist: the data directory and its four IDX files (the message
 * names the Debian package for the default directory). */
int jm_flow_check_files(const jm_flow *f, jm_err *err);

/* Canonical INI text of every section and key; malloc'd. */
char *jm_flow_format(const jm_flow *f);

/* ---- editing a flow file in place (flow_edit.c) ----------------------------
 *
 * jm_flow_edit: text (a flow file as someone wrote it; NULL or "" for a new
 * one) changed so that it says f, and nothing else changed.  Into *out,
 * malloc'd (the caller frees it); NULL on failure.
 *
 *   - A line whose key keeps its value stays byte for byte, and so do
 *     comments, blank lines, the order of lines and sections, a BOM, CRLF
 *     ends, indentation, "key: value", and spellings that read the same
 *     ("yes" for true, "Cosine", "3e-3").
 *   - A key the text sets whose value changed gets the new value in its
 *     line; the key, the blanks around '=' or ':' and a trailing comment
 *     stay (the comment is dropped only when the line would grow past the
 *     parser's line limit).  Set back to its default it keeps its line,
 *     with the default written out: the author wrote that line, perhaps
 *     with a comment, and the value stays explicit.  A key f no longer
 *     sets (jm_flow_line 0: [data] dir following source again) is written
 *     as its default ("dir =") when that reads back the same.
 *   - A key the text does not set is added only when f's value differs
 *     from what the edited text gives without it: its default, or for
 *     [data] dir and [split] val what follows from source (so they are
 *     never pinned by an edit of source).  It goes after the last key of
 *     the section's last block, indented and spaced as that key is; a
 *     missing section is added at the end, after a blank line, sections
 *     and keys in table order.  So from "" the result holds exactly the
 *     keys that differ from the defaults.
 *   - Searched keys ([search] train.lr = ...): a changed spec replaces the
 *     value, a new one goes at the end of [search], and one f no longer
 *     has loses its line (the only lines ever removed).  When f's order
 *     of the kept ones differs from the text's, all of them are written
 *     anew at the end of [search].
 *   - Added lines end as the text's first line does (CRLF or LF); a last
 *     line without an end gets one when a line is added after it.
 *
 * text must parse (jm_flow_parse; its error otherwise, under f's name).
 * When f is valid (jm_flow_validate), the result is parsed again and must
 * equal f (jm_flow_equal), else -1 with JM_EXIT_FAIL saying which key
 * differs: never a file that says something else.  An invalid f is
 * edited all the same but not checked (the wizard's Review shows it). */
int jm_flow_edit(const char *text, const jm_flow *f, char **out, jm_err *err);

/* A flow file's text as jm_flow_load reads it (at most 1 MiB, no NUL
 * byte; "-": standard input, which must not be empty): *text malloc'd,
 * NULL on failure. */
int jm_flow_read_text(const char *path, char **text, jm_err *err);

/* jm_flow_load that also hands back the text it parsed (for jm_flow_edit):
 * on success *out and *text are the caller's; both NULL on failure. */
int jm_flow_load_text(jm_flow **out, char **text, const char *path, jm_err *err);

/* Call fn for every key as ("section.key", "value as text"), in table
 * order; used to store params. */
void jm_flow_foreach(const jm_flow *f,
		     void (*fn)(const char *key, const char *value, void *ctx),
		     void *ctx);

/* Where "section.key" was set: its line in the file (> 0), -1 for
 * --set, 0 for the default (or an unknown key). */
int jm_flow_line(const jm_flow *f, const char *key);

/* Where "section.key" was set, as messages begin: "house.flow:7",
 * "--set data.target" or "house.flow" (a default); into buf. */
void jm_flow_locate(const jm_flow *f, const char *key, char *buf, size_t n);

/* The value of "section.key" as text (malloc'd), or NULL if unknown. */
char *jm_flow_get(const jm_flow *f, const char *key);

/* A deep copy (e.g. one per trial of a search); never NULL. */
jm_flow *jm_flow_dup(const jm_flow *f);

/* Make f a plain run: no searched keys, trials = 0 (a search's trial). */
void jm_flow_search_strip(jm_flow *f);

/* 1 if the search maximises its metric: direction, or for auto the
 * metric's own (jm_flow_metric_maximize; metric auto: val_acc unless
 * jm_flow_task says regression). */
int jm_flow_search_maximize(const jm_flow *f);

/* 1 if higher is better for a [search] metric: *_acc and *_r2. */
int jm_flow_metric_maximize(const char *metric);

/* 1 if the runs of a task (regression 1, classification 0) log the
 * [search] metric: *_loss both, *_acc a classification, *_rmse, *_mae and
 * *_r2 a regression; auto is always 1. */
int jm_flow_metric_logged(const char *metric, int regression);

/* The task of f's runs as the flow alone tells it: 0 for images (always
 * classified), [data] task for a CSV; -1 when only the data can tell (a
 * CSV with task = auto) or the search replaces source or task. */
int jm_flow_task(const jm_flow *f);

/* Settle [search] metric for trials of a known task (regression 1,
 * classification 0): auto becomes val_loss or val_acc (where the key was
 * set is kept); a metric the task never logs is an input error at the
 * key's line, because (e.g. "[data] task = auto, from the target
 * \"y\""; NULL: from the flow, as jm_flow_task) saying how the task was
 * known:
 *   house.flow:9: [search] metric: a regression ([data] task = regression)
 *   logs no val_acc; choose val_loss, val_rmse, val_mae or val_r2, or leave
 *   metric out (auto: val_loss)
 * jm_flow_validate runs the check (not the change) when jm_flow_task
 * knows the task. */
int jm_flow_search_metric_settle(jm_flow *f, int regression, const char *because, jm_err *err);

/* 1 if every key holds the same value in both (doubles bit for bit). */
int jm_flow_equal(const jm_flow *a, const jm_flow *b);

/* 1 when [data] source names a CSV (anything but fashion-mnist and
 * idx:DIR): a path, archive.zip:member.csv, a .gz, or an http(s) URL. */
int jm_flow_is_tabular(const jm_flow *f);

/* 0 when "section.key" cannot change what f's runs do, as its entry in
 * jianmo-flow(5) says: sgd's momentum under adamw, step's gamma under
 * cosine, CutMix's options with CutMix off, the image keys of a CSV
 * source, an mlp's keys in a cnn.  Runs and trials record only the keys
 * that matter as params, so show and compare list what tells runs apart
 * (the whole flow is stored anyway).  1 for any other key. */
int jm_flow_key_matters(const jm_flow *f, const char *dotted);

/* 1 when [augment] mixes samples in pairs (CutMix or MixUp on, mode pair
 * or elem), which needs an even [train] batch. */
int jm_flow_mixes_pairs(const jm_flow *f);

/* [data] delimiter or comment as a byte: 0 for "", the character itself,
 * or the byte a name stands for (comma, semicolon, tab, pipe, space,
 * colon, hash, percent: ';' and '#' would read as a comment in a flow). */
char jm_flow_char(const char *v);

/* The key table, for help screens, the TUI's forms and the man page. */
typedef struct jm_flow_keyinfo {
	const char *section; /* "train" */
	const char *key;     /* "lr" */
	const char *type;    /* "integer", "number", "boolean", "string",
				"choice", "integer list", "number pair" */
	const char *def;     /* default as text ("" when none or derived) */
	const char *choices; /* "adamw|adam|sgd" for choices, else NULL */
	char range[96];      /* "> 0", "[0, 1)", "" when unbounded */
	const char *help;    /* one line */
} jm_flow_keyinfo;

int jm_flow_key_count(void);
/* Fill *out for key i (0 <= i < jm_flow_key_count()), in table order. */
void jm_flow_key_info(int i, jm_flow_keyinfo *out);

#endif
