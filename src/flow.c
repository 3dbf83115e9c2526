/*
 * flow.c: workflow files.  One table, keys[], says everything about every
 * key (section, name, type, where it lives in jm_flow, default, range,
 * help); each operation is a walk over it:
 *
 *   jm_flow_new     defaults ──assign──▶ jm_flow
 *   jm_flow_parse   text ──reader (lines, sections)──▶ inih ──on_pair──▶
 *                   apply ──assign──▶ jm_flow ──jm_flow_validate──▶ ok
 *   jm_flow_set     "train.lr=3e-4" ──apply──▶ jm_flow
 *   jm_flow_format  jm_flow ──type_ops.format──▶ "[train]\nlr = 0.0003\n"
 *
 * inih splits "key = value" and drops comments; everything else is ours.
 * Our reader feeds inih one line at a time, so it knows the line number,
 * reads section headers itself (an unknown or empty section is caught
 * even when no key follows), refuses lines too long for inih's buffer
 * instead of letting them be split, strips leading blanks (so indented
 * lines are never taken as inih "continuation" lines) and stops at the
 * first error.  That makes the behaviour the same whatever compile-time
 * options the system's libinih was built with.
 *
 * Numbers are read and written in the "C" locale: a TUI that calls
 * setlocale() must still read "0.001" and write it back the same.
 */
#include "flow.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data/dataset.h"
#include "pipeline/clean.h"
#include "pipeline/features.h"
#include "pipeline/search/space.h"
#include "plugin/plugin.h"
#include "util/suggest.h"

#define FLOW_MAX_FILE (1 << 20) /* a flow is a few hundred bytes */

/* ---- the key table ---------------------------------------------------- */

/* T_RULE: a [clean] or [features] rule, checked by jm_clean_parse or
 * jm_features_parse under the key's name.  T_RANGE: a pair of numbers. */
enum type { T_INT, T_FLOAT, T_BOOL, T_STRING, T_CHOICE, T_INTLIST, T_RULE, T_RANGE, T_COUNT };

typedef struct key {
	const char *section, *name;
	enum type type;
	size_t off;       /* the field in jm_flow */
	size_t off_count; /* T_INTLIST: the int count field */
	const char *def;  /* default, as text */
	char lo_b, hi_b;  /* '[' or '(' / ']' or ')'; 0: unbounded */
	double lo, hi;
	const char *choices; /* T_CHOICE: "a|b|c" (first match wins) */
	/* T_FLOAT: "" is allowed and reads as NaN ("unset"); T_RANGE: "" is
	 * allowed and reads as 0,0 */
	int empty_ok;
	/* T_INT: "auto" is allowed and reads as 0 (outside the key's range) */
	int auto_ok;
	/* T_STRING: extra rule; fills why with "expected ..." on failure.
	 * T_CHOICE: a "plugin:..." value is taken as written when check
	 * accepts it (a plugin layer in place of a built-in choice). */
	int (*check)(const char *v, char *why, size_t n);
	const char *help;
} key;

static int check_source(const char *v, char *why, size_t n);
static int check_device(const char *v, char *why, size_t n);
static int check_url(const char *v, char *why, size_t n);
static int check_sha256(const char *v, char *why, size_t n);
static int check_char(const char *v, char *why, size_t n);
static int check_plugin_layers(const char *v, char *why, size_t n);

#define F(field) offsetof(jm_flow, field)
#define GT(a) .lo_b = '(', .lo = (a)
#define GE(a) .lo_b = '[', .lo = (a)
#define LT(b) .hi_b = ')', .hi = (b)
#define LE(b) .hi_b = ']', .hi = (b)

/* Defaults of [augment] erasing_area and erasing_aspect: timm's 1/3 and
 * 1/0.3, written so they read back as exactly those doubles. */
#define ONE_THIRD "0.3333333333333333"
#define ONE_OVER_0_3 "3.3333333333333335"

static const key keys[] = {
	{"data", "source", T_STRING, F(data.source), .def = "fashion-mnist", .check = check_source,
	 .help = "where the data comes from: fashion-mnist, or idx:DIR for a directory of IDX files"},
	{"data", "dir", T_STRING, F(data.dir), .def = "",
	 .help = "directory holding the four IDX files; follows source when left out"},
	{"data", "normalize", T_CHOICE, F(data.normalize), .def = "standard",
	 .choices = "standard|unit|none",
	 .help = "input scaling: (x/255 - mean)/std of the training pixels, x/255, or raw bytes"},
	{"data", "limit", T_INT, F(data.limit), .def = "0", GE(0),
	 .help = "use only the first N training samples; 0 = all"},
	{"data", "test_limit", T_INT, F(data.test_limit), .def = "0", GE(0),
	 .help = "use only the first N test samples; 0 = all"},
	{"data", "sha256", T_STRING, F(data.sha256), .def = "", .check = check_sha256,
	 .help = "CSV: the file's expected SHA-256 (64 hex digits), checked on every read"},
	{"data", "delimiter", T_STRING, F(data.delimiter), .def = "", .check = check_char,
	 .help = "CSV: field separator, one character or comma, semicolon, tab, pipe; "
		 "empty = sniff"},
	{"data", "na_values", T_STRING, F(data.na_values), .def = "",
	 .help = "CSV: more tokens read as missing, comma-separated (pandas' are always missing)"},
	{"data", "comment", T_STRING, F(data.comment), .def = "", .check = check_char,
	 .help = "CSV: lines starting with this character (or hash, percent) are skipped"},
	{"data", "target", T_STRING, F(data.target), .def = "",
	 .help = "CSV: the column to predict"},
	{"data", "task", T_CHOICE, F(data.task), .def = "auto",
	 .choices = "auto|classification|regression",
	 .help = "CSV: classification or regression; auto: classification for text, bool "
		 "or integer targets with at most 20 values"},

#define CLEAN(k, field, h) {"clean", k, T_RULE, F(clean.field), .def = "", .help = h}
	CLEAN("drop_columns", drop_columns, "drop columns missing in more than this fraction of "
	      "the training rows"),
	CLEAN("duplicates", duplicates, "drop: remove repeated rows, keeping the first"),
	CLEAN("dates", dates, "text columns to read as dates: ts, other [format=%d/%m/%Y]"),
	CLEAN("booleans", booleans, "columns to read as true/false (true/t/yes/y/on/1, "
	      "false/f/no/n/off/0)"),
	CLEAN("missing", missing, "fill missing values: mean | median | most_frequent | "
	      "constant=VALUE | drop [: columns]; clauses joined by ;"),
	CLEAN("outliers", outliers, "sigma [K] | iqr [K], then clip | drop [: columns]"),
#undef CLEAN
#define FEAT(k, h) {"features", #k, T_RULE, F(features.k), .def = "", .help = h}
	FEAT(dates, "datetime columns to split: ts [parts=year,month,day,weekday,hour]"),
	FEAT(lag, "the value k rows earlier: amount k=1 [by=user] [order=ts]"),
	FEAT(rolling, "rolling window statistics: amount window=7 [by=user] [order=ts] "
	     "[stats=mean,std,min,max]"),
	FEAT(products, "pairwise products of these columns"),
	FEAT(ratios, "pairwise ratios a/b of these columns (x/0 is missing)"),
	FEAT(poly2, "degree-2 polynomial terms of these columns"),
	FEAT(log1p, "replace these columns by log(1 + x)"),
	FEAT(bins, "replace by the training-quantile bin: x [n=4]"),
	FEAT(onehot, "one 0/1 column per training category of these columns"),
	FEAT(ordinal, "replace by the index of the sorted training category"),
	FEAT(minmax, "scale to [0, 1] with the training min and max"),
	FEAT(standardize, "scale to mean 0, std 1 with the training mean and std; * = every "
	     "numeric column"),
	FEAT(drop, "columns that are not model inputs (ids, names)"),
	FEAT(missing, "missing model inputs: error, zero, or drop the row"),
	FEAT(plugin, "a feature plugin's operator: NAME(k=v, ...): columns (jianmo-plugin(7))"),
#undef FEAT

	{"augment", "cutmix", T_FLOAT, F(augment.cutmix), .def = "0", GE(0),
	 .help = "CutMix: alpha of the Beta(alpha, alpha) lambda; 0 = off"},
	{"augment", "mixup", T_FLOAT, F(augment.mixup), .def = "0", GE(0),
	 .help = "MixUp: alpha of the Beta(alpha, alpha) lambda; 0 = off"},
	{"augment", "cutmix_minmax", T_RANGE, F(augment.cutmix_minmax), .def = "", GT(0), LE(1),
	 .empty_ok = 1,
	 .help = "CutMix box sides drawn in [MIN, MAX) of the image sides instead of from lambda; turns CutMix on"},
	{"augment", "prob", T_FLOAT, F(augment.prob), .def = "1", GE(0), LE(1),
	 .help = "chance that a batch (pair, sample) is mixed at all"},
	{"augment", "switch", T_FLOAT, F(augment.switch_prob), .def = "0.5", GE(0), LE(1),
	 .help = "chance of CutMix rather than MixUp when both are on"},
	{"augment", "mode", T_CHOICE, F(augment.mode), .def = "batch", .choices = "batch|pair|elem",
	 .help = "one lambda per batch, per pair of samples, or per sample"},
	{"augment", "correct_lam", T_BOOL, F(augment.correct_lam), .def = "true",
	 .help = "CutMix: lambda from the area of the box after clipping to the image"},
	{"augment", "label_smoothing", T_FLOAT, F(augment.label_smoothing), .def = "", GE(0), LT(1),
	 .empty_ok = 1,
	 .help = "label smoothing of the mixed targets; empty = [train] label_smoothing"},
	{"augment", "hflip", T_FLOAT, F(augment.hflip), .def = "0", GE(0), LE(1),
	 .help = "chance of a horizontal flip of each image"},
	{"augment", "crop_padding", T_INT, F(augment.crop_padding), .def = "0", GE(0), LE(4096),
	 .help = "random crop back to the image size after padding each side by N pixels; 0 = off"},
	{"augment", "padding_mode", T_CHOICE, F(augment.padding_mode), .def = "zero",
	 .choices = "zero|reflect", .help = "crop padding: black pixels, or the image mirrored"},
	{"augment", "erasing", T_FLOAT, F(augment.erasing), .def = "0", GE(0), LE(1),
	 .help = "chance of erasing a random rectangle of each image"},
	{"augment", "erasing_area", T_RANGE, F(augment.erasing_area), .def = "0.02," ONE_THIRD,
	 GT(0), LE(1), .help = "erasing: the rectangle's share of the image area, MIN,MAX"},
	{"augment", "erasing_aspect", T_RANGE, F(augment.erasing_aspect),
	 .def = "0.3," ONE_OVER_0_3, GT(0), .help = "erasing: the rectangle's aspect ratio, MIN,MAX"},
	{"augment", "erasing_mode", T_CHOICE, F(augment.erasing_mode), .def = "const",
	 .choices = "const|rand|pixel",
	 .help = "erasing: fill with 0, one normal value per channel, or one per pixel"},

	{"split", "val", T_FLOAT, F(split.val), .def = "0.1", GE(0), LT(1),
	 .help = "fraction of the training set held out for validation"},
	{"split", "test", T_FLOAT, F(split.test), .def = "0.15", GE(0), LT(1),
	 .help = "fraction held out for testing when the data has no test set"},
	{"split", "stratify", T_BOOL, F(split.stratify), .def = "true",
	 .help = "keep every class's share the same in each part"},

	{"model", "type", T_CHOICE, F(model.type), .def = "mlp",
	 .choices = "linear|logistic|mlp|cnn",
	 .help = "model family: linear, logistic, mlp (hidden layers) or cnn (layers)"},
	{"model", "hidden", T_INTLIST, F(model.hidden), F(model.n_hidden), .def = "256,128",
	 GE(1), LE(65536), .help = "mlp hidden layer sizes, first to last"},
	{"model", "act", T_CHOICE, F(model.act), .def = "relu",
	 .choices = "relu|gelu|tanh|sigmoid|silu", .check = check_plugin_layers,
	 .help = "activation after each hidden layer or convolution, or a plugin layer: "
		 "plugin:NAME(k=v)"},
	{"model", "dropout", T_FLOAT, F(model.dropout), .def = "0", GE(0), LT(1),
	 .help = "mlp: dropout probability after each hidden layer"},
	{"model", "norm", T_CHOICE, F(model.norm), .def = "none", .choices = "none|batch|layer",
	 .help = "mlp: normalisation after each hidden layer"},
	{"model", "layers", T_STRING, F(model.layers), .def = "", .check = check_plugin_layers,
	 .help = "cnn: the layer string, e.g. c32 p c64 p gap fc10; plugin:NAME(k=v) for a "
		 "plugin layer"},
	{"model", "batchnorm", T_BOOL, F(model.batchnorm), .def = "true",
	 .help = "cnn: batch normalisation after each convolution"},

	{"train", "epochs", T_INT, F(train.epochs), .def = "5", GE(1), LE(1000000),
	 .help = "passes over the training set"},
	{"train", "batch", T_INT, F(train.batch), .def = "128", GE(1), LE(1048576), .auto_ok = 1,
	 .help = "samples per micro-batch; auto: the largest power of two up to 1024 "
		 "whose buffers fit in the device's memory"},
	{"train", "optimizer", T_CHOICE, F(train.optimizer), .def = "adamw",
	 .choices = "adamw|adam|sgd", .help = "update rule"},
	{"train", "lr", T_FLOAT, F(train.lr), .def = "0.001", GT(0),
	 .help = "learning rate (the peak for onecycle)"},
	{"train", "momentum", T_FLOAT, F(train.momentum), .def = "0.9", GE(0), LT(1),
	 .help = "sgd: momentum"},
	{"train", "nesterov", T_BOOL, F(train.nesterov), .def = "false",
	 .help = "sgd: Nesterov momentum"},
	{"train", "beta1", T_FLOAT, F(train.beta1), .def = "0.9", GE(0), LT(1),
	 .help = "adam, adamw: first-moment decay"},
	{"train", "beta2", T_FLOAT, F(train.beta2), .def = "0.999", GE(0), LT(1),
	 .help = "adam, adamw: second-moment decay"},
	{"train", "eps", T_FLOAT, F(train.eps), .def = "1e-08", GT(0),
	 .help = "adam, adamw: denominator epsilon"},
	{"train", "weight_decay", T_FLOAT, F(train.weight_decay), .def = "0", GE(0),
	 .help = "L2 penalty (sgd, adam) or decoupled decay (adamw)"},
	{"train", "schedule", T_CHOICE, F(train.schedule), .def = "constant",
	 .choices = "constant|step|cosine|onecycle", .help = "learning-rate schedule"},
	{"train", "warmup", T_FLOAT, F(train.warmup), .def = "0", GE(0), LT(1),
	 .help = "cosine: linear warmup, as a fraction of all steps"},
	{"train", "step_epochs", T_INT, F(train.step_epochs), .def = "10", GE(1), LE(1000000),
	 .help = "step: multiply the rate by gamma every N epochs"},
	{"train", "gamma", T_FLOAT, F(train.gamma), .def = "0.1", GT(0), LE(1),
	 .help = "step: decay factor"},
	{"train", "pct_start", T_FLOAT, F(train.pct_start), .def = "0.3", GT(0), LT(1),
	 .help = "onecycle: fraction of steps spent rising to lr"},
	{"train", "min_lr", T_FLOAT, F(train.min_lr), .def = "0", GE(0),
	 .help = "cosine: the rate at the end"},
	{"train", "clip", T_FLOAT, F(train.clip), .def = "0", GE(0),
	 .help = "clip the global gradient norm to this; 0 = off"},
	{"train", "clip_mode", T_CHOICE, F(train.clip_mode), .def = "fixed",
	 .choices = "fixed|adaptive",
	 .help = "fixed threshold, or a percentile of recent gradient norms"},
	{"train", "clip_percentile", T_FLOAT, F(train.clip_percentile), .def = "90", GT(0), LE(100),
	 .help = "adaptive: percentile of the recent norms used as threshold"},
	{"train", "clip_window", T_INT, F(train.clip_window), .def = "200", GE(1), LE(1000000),
	 .help = "adaptive: how many recent norms to keep"},
	{"train", "accumulate", T_INT, F(train.accumulate), .def = "1", GE(1), LE(65536),
	 .help = "micro-batches per optimizer step"},
	{"train", "patience", T_INT, F(train.patience), .def = "0", GE(0),
	 .help = "stop after N epochs without improvement; 0 = off"},
	{"train", "monitor", T_CHOICE, F(train.monitor), .def = "val_acc",
	 .choices = "val_acc|val_loss", .help = "metric for early stopping and the best checkpoint"},
	{"train", "label_smoothing", T_FLOAT, F(train.label_smoothing), .def = "0", GE(0), LT(1),
	 .help = "cross-entropy label smoothing"},
	{"train", "log_every", T_INT, F(train.log_every), .def = "50", GE(1),
	 .help = "steps between recorded training-loss points"},
	{"train", "checkpoint_every", T_INT, F(train.checkpoint_every), .def = "1", GE(1),
	 .help = "epochs between checkpoints"},
	{"train", "threads", T_INT, F(train.threads), .def = "1", GE(1), LE(1024),
	 .help = "CPU worker threads (layers split their work across them)"},
	{"train", "device", T_STRING, F(train.device), .def = "auto", .check = check_device,
	 .help = "auto (a GPU when there is one), cpu, cuda or cuda:N"},
	{"train", "precision", T_CHOICE, F(train.precision), .def = "auto",
	 .choices = "auto|fp32|tf32|bf16|fp16",
	 .help = "GPU GEMM precision: fp32, tf32, bf16 or fp16 inputs with fp32 sums and "
		 "weights (fp16 with dynamic loss scaling); auto: bf16 on GPUs that have it, "
		 "else fp32; the CPU runs fp32"},
	{"train", "seed", T_INT, F(train.seed), .def = "1", GE(0),
	 .help = "seed of every random choice (split, initialisation, batches)"},

	{"search", "trials", T_INT, F(search.trials), .def = "0", GE(0), LE(100000),
	 .help = "trials to run; 0 = not a search (the flow is one run)"},
	{"search", "metric", T_CHOICE, F(search.metric), .def = "auto",
	 .choices = "auto|val_acc|val_loss|val_rmse|val_mae|val_r2|train_acc|train_loss|"
		    "test_acc|test_loss|test_rmse|test_mae|test_r2",
	 .help = "what a trial is judged by: its best value over the epochs; auto: val_acc for "
		 "a classification, val_loss for a regression"},
	{"search", "direction", T_CHOICE, F(search.direction), .def = "auto",
	 .choices = "auto|max|min",
	 .help = "maximise or minimise the metric; auto: max for *_acc and *_r2, min for the "
		 "others"},
	{"search", "method", T_CHOICE, F(search.method), .def = "bayes",
	 .choices = "bayes|random|grid",
	 .help = "Gaussian-process Bayesian optimisation, random draws, or a grid"},
	{"search", "workers", T_INT, F(search.workers), .def = "1", GE(1), LE(256),
	 .help = "trials run at once, each in its own process"},
	{"search", "prune", T_CHOICE, F(search.prune), .def = "none",
	 .choices = "none|median|asha",
	 .help = "stop poor trials early: median of the others, or successive halving"},
	{"search", "seed", T_INT, F(search.seed), .def = "1", GE(0),
	 .help = "seed of the proposals (each trial keeps [train] seed)"},

	{"notify", "url", T_STRING, F(notify.url), .def = "", .check = check_url,
	 .help = "POST a JSON summary here when the run ends; empty = off"},
	{"notify", "timeout", T_INT, F(notify.timeout), .def = "10", GE(1), LE(3600),
	 .help = "seconds per attempt"},
};

#define NKEYS ((int)(sizeof keys / sizeof *keys))
_Static_assert(sizeof keys / sizeof *keys <= JM_FLOW_MAX_KEYS, "raise JM_FLOW_MAX_KEYS");

/* Sections in file order. */
static const struct section {
	const char *name;
} sections[] = {
	{"data"},  {"clean"}, {"features"}, {"augment"}, {"split"},
	{"model"}, {"train"}, {"search"},   {"notify"},
};
#define NSECTIONS ((int)(sizeof sections / sizeof *sections))

/* ---- numbers in the C locale ------------------------------------------ */

static locale_t c_loc;
static pthread_once_t c_loc_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
	c_loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static locale_t c_locale(void)
{
	pthread_once(&c_loc_once, c_locale_init);
	return c_loc;
}

static double strtod_c(const char *s, char **end)
{
	locale_t loc = c_locale();
	return loc ? strtod_l(s, end, loc) : strtod(s, end);
}

/* The shortest %g text that reads back as exactly v. */
static void fmt_double(char *buf, size_t n, double v)
{
	locale_t loc = c_locale(), old = loc ? uselocale(loc) : (locale_t)0;
	if (v == floor(v) && fabs(v) < 1e16 && (v != 0 || !signbit(v)))
		snprintf(buf, n, "%.0f", v); /* 1000000, not 1e+06 */
	else
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(buf, n, "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
	if (loc)
		uselocale(old);
}

/* ---- inih's line buffer ------------------------------------------------ */

/* The longest line (without its end) that the linked libinih reads whole:
 * it hands its buffer size to the reader, so ask it once. */
static int inih_max;
static pthread_once_t inih_once = PTHREAD_ONCE_INIT;

static char *probe_reader(char *buf, int num, void *stream)
{
	*(int *)stream = num - 3; /* room for "\r\n" and the NUL */
	return NULL;
}

static int probe_handler(void *user, const char *section, const char *name, const char *value)
{
	return 1;
}

static void inih_probe(void)
{
	ini_parse_stream(probe_reader, &inih_max, probe_handler, NULL);
}

static int inih_line_max(void)
{
	pthread_once(&inih_once, inih_probe);
	return inih_max;
}

/* ---- small text helpers ------------------------------------------------ */

static int key_index(const key *k)
{
	return (int)(k - keys);
}

static void *field(const jm_flow *f, const key *k)
{
	return (char *)f + k->off;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Cut an inline comment: ';' or '#' at the start of the value or after a
 * blank (inih may already have cut the ';' one, depending on how it was
 * built).  The canonical "key = value" puts a blank before every value,
 * so the start counts as after a blank. */
static void cut_comment(char *s)
{
	for (char *p = s; *p; p++)
		if ((*p == ';' || *p == '#') && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
}

static int has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static int section_index(const char *name)
{
	for (int i = 0; i < NSECTIONS; i++)
		if (!strcmp(sections[i].name, name))
			return i;
	return -1;
}

static const key *key_find(const char *section, const char *name)
{
	for (int i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

/* "train.lr" → its key. */
static const key *key_lookup(const char *dotted)
{
	const char *dot = strchr(dotted, '.');
	if (!dot || (size_t)(dot - dotted) >= 32)
		return NULL;
	char sec[32];
	memcpy(sec, dotted, (size_t)(dot - dotted));
	sec[dot - dotted] = '\0';
	return key_find(sec, dot + 1);
}

/* ---- types: parse, format, compare, free -------------------------------- */

/* " > 0", " in [0, 1)", "" */
static void range_text(const key *k, char *buf, size_t n)
{
	char lo[26], hi[26];
	fmt_double(lo, sizeof lo, k->lo);
	fmt_double(hi, sizeof hi, k->hi);
	if (k->lo_b && k->hi_b)
		snprintf(buf, n, " in %c%s, %s%c", k->lo_b, lo, hi, k->hi_b);
	else if (k->lo_b)
		snprintf(buf, n, " %s %s", k->lo_b == '(' ? ">" : ">=", lo);
	else if (k->hi_b)
		snprintf(buf, n, " %s %s", k->hi_b == ')' ? "<" : "<=", hi);
	else
		buf[0] = '\0';
}

static int in_range(const key *k, double v)
{
	if (k->lo_b && (k->lo_b == '(' ? !(v > k->lo) : !(v >= k->lo)))
		return 0;
	if (k->hi_b && (k->hi_b == ')' ? !(v < k->hi) : !(v <= k->hi)))
		return 0;
	return 1;
}

/* Read a decimal integer filling all of s. */
static int read_int(const char *s, long long *out)
{
	char *end;
	errno = 0;
	if (!*s || isspace((unsigned char)*s))
		return -1;
	*out = strtoll(s, &end, 10);
	return errno || *end ? -1 : 0;
}

static int parse_int(jm_flow *f, const key *k, const char *v, char *why, size_t n)
{
	long long x;
	char r[96];
	range_text(k, r, sizeof r);
	if (k->auto_ok && !strcasecmp(v, "auto")) {
		*(int64_t *)field(f, k) = 0;
		return 0;
	}
	if (read_int(v, &x) < 0) {
		/* past int64 (a seed of 2^64 - 1): the range has a top after all */
		if (errno == ERANGE && !k->hi_b)
			snprintf(r, sizeof r, " in %c%.0f, %lld]", k->lo_b ? k->lo_b : '[',
				 k->lo_b ? k->lo : (double)INT64_MIN, (long long)INT64_MAX);
		snprintf(why, n, "expected an integer%s%s, got \"%s\"", r, k->auto_ok ? " or auto" : "",
			 v);
		return -1;
	}
	if (!in_range(k, (double)x)) {
		snprintf(why, n, "expected an integer%s%s, got %s", r, k->auto_ok ? " or auto" : "", v);
		return -1;
	}
	*(int64_t *)field(f, k) = x;
	return 0;
}

static int parse_float(jm_flow *f, const key *k, const char *v, char *why, size_t n)
{
	char r[96], *end;
	range_text(k, r, sizeof r);
	if (!*v && k->empty_ok) {
		*(double *)field(f, k) = NAN;
		return 0;
	}
	errno = 0;
	double x = *v && !isspace((unsigned char)*v) ? strtod_c(v, &end) : 0;
	if (!*v || isspace((unsigned char)*v) || *end || !isfinite(x)) {
		snprintf(why, n, "expected a number%s, got \"%s\"", r, v);
		return -1;
	}
	if (!in_range(k, x)) {
		snprintf(why, n, "expected a number%s, got %s", r, v);
		return -1;
	}
	*(double *)field(f, k) = x;
	return 0;
}

static const struct {
	const char *word;
	int value;
} bool_words[] = {
	{"true", 1}, {"false", 0}, {"yes", 1}, {"no", 0}, {"on", 1}, {"off", 0}, {"1", 1}, {"0", 0},
};

static int parse_bool(jm_flow *f, const key *k, const char *v, char *why, size_t n)
{
	for (size_t i = 0; i < sizeof bool_words / sizeof *bool_words; i++)
		if (!strcasecmp(v, bool_words[i].word)) {
			*(int *)field(f, k) = bool_words[i].value;
			return 0;
		}
	snprintf(why, n, "expected true or false, got \"%s\"", v);
	return -1;
}

static void set_string(jm_flow *f, const key *k, const char *v)
{
	char **p = field(f, k);
	char *copy = jm_xstrdup(v);
	free(*p);
	*p = copy;
}

static int parse_string(jm_flow *f, const key *k, const char *v, char *why, size_t n)
{
	if (has_control(v)) {
		snprintf(why, n, "expected text without control characters");
		return -1;
	}
	if (k->check && k->check(v, why, n) < 0) {
		size_t len = strlen(why);
		snprintf(why + len, n - len, ", got \"%s\"", v);
		return -1;
	}
	set_string(f, k, v);
	return 0;
}

/* Each ';'-separated clause of v through the stage's own parser, on a
 * scratch rule set (the runner parses again when it runs the stage). */
static int parse_rule(jm_flow *f, const key *k, const char *v, char *why, size_t n)
{
	if (has_control(v)) {
		snprintf(why, n, "expected text without control characters");
		return -1;
	}
	jm_clean c;
	jm_features fs;
	jm_err err = {0};
	int clean = !strcmp(k->section, "clean"), rc = 0;
	jm_clean_init(&c);
	jm_features_init(&fs);
	char *copy = jm_xstrdup(v), *save = NULL;
	for (char *cl = strtok_r(copy, ";", &save); cl && rc == 0; cl = strtok_r(NULL, ";", &save)) {
		if (!*trim(cl))
			continue;
		rc = clean ? jm_clean_parse(&c, k->name, cl, &err) :
			     jm_features_parse(&fs, k->name, cl, &err);
	}
	free(copy);
	jm_clean_free(&c);
	jm_features_free(&fs);
	if (rc < 0) {
		/* the stage's message starts with the key, as ours will */
		size_t len = strlen(k->name);
		const char *msg = err.msg;
		if (!strncmp(msg, k->name, len) && !strncmp(msg + len, ": ", 2))
			msg += len + 2;
		snprintf(why, n, "%s", msg);
		return -1;
	}
	set_string(f, k, v);
	return 0;
}

static int parse_choice(jm_flow *f, const key *k, const char *v, char *why, size_t n)
{
	if (k->check && !strncmp(v, "plugin:", 7)) {
		if (k->check(v, why, n) < 0)
			return -1;
		set_string(f, k, v);
		return 0;
	}
	const char *c = k->choices;
	while (*c) {
		size_t len = strcspn(c, "|");
		if (strlen(v) == len && !strncasecmp(c, v, len)) {
			char word[64];
			snprintf(word, sizeof word, "%.*s", (int)len, c);
			set_string(f, k, word);
			return 0;
		}
		c += len + (c[len] == '|');
	}
	char list[256];
	size_t len = 0;
	for (c = k->choices; *c && len + 3 < sizeof list; c++) {
		if (*c == '|') {
			list[len++] = ',';
			list[len++] = ' ';
		} else {
			list[len++] = *c;
		}
	}
	list[len] = '\0';
	snprintf(why, n, "expected one of %s, got \"%s\"", list, v);
	return -1;
}

/* "256,128", "256 128" or "" (no hidden layers). */
static int parse_intlist(jm_flow *f, const key *k, const char *v, char *why, size_t n)
{
	int vals[JM_FLOW_MAX_HIDDEN], count = 0;
	char r[96];
	range_text(k, r, sizeof r);
	const char *p = v;
	for (;;) {
		p += strspn(p, ", \t");
		if (!*p)
			break;
		size_t len = strcspn(p, ", \t");
		char tok[32];
		long long x;
		if (len >= sizeof tok || (snprintf(tok, sizeof tok, "%.*s", (int)len, p),
					  read_int(tok, &x) < 0 || !in_range(k, (double)x))) {
			snprintf(why, n, "expected a list of integers%s such as 256,128, got \"%s\"", r, v);
			return -1;
		}
		if (count == JM_FLOW_MAX_HIDDEN) {
			snprintf(why, n, "expected at most %d sizes, got \"%s\"", JM_FLOW_MAX_HIDDEN, v);
			return -1;
		}
		vals[count++] = (int)x;
		p += len;
	}
	memcpy(field(f, k), vals, (size_t)count * sizeof *vals);
	*(int *)((char *)f + k->off_count) = count;
	return 0;
}

static char *format_int(const jm_flow *f, const key *k)
{
	int64_t v = *(const int64_t *)field(f, k);
	if (k->auto_ok && v == 0)
		return jm_xstrdup("auto");
	return jm_xasprintf("%lld", (long long)v);
}

static char *format_float(const jm_flow *f, const key *k)
{
	char buf[40];
	double v = *(const double *)field(f, k);
	if (isnan(v))
		return jm_xstrdup(""); /* only empty_ok keys hold NaN */
	fmt_double(buf, sizeof buf, v);
	return jm_xstrdup(buf);
}

/* "LO,HI" (blanks allowed around each), both in the key's range, LO <= HI;
 * "" as 0,0 where the key allows it. */
static int parse_range(jm_flow *f, const key *k, const char *v, char *why, size_t n)
{
	char r[96];
	double x[2];
	range_text(k, r, sizeof r);
	if (!*v && k->empty_ok) {
		memset(field(f, k), 0, sizeof x);
		return 0;
	}
	const char *p = v;
	int ok = 1;
	for (int i = 0; i < 2 && ok; i++) {
		char *end;
		p += strspn(p, " \t");
		ok = *p && !isspace((unsigned char)*p);
		x[i] = ok ? strtod_c(p, &end) : 0;
		ok = ok && end != p && isfinite(x[i]) && in_range(k, x[i]);
		if (ok) {
			p = end + strspn(end, " \t");
			ok = i == 0 ? *p++ == ',' : !*p;
		}
	}
	if (!ok || x[0] > x[1]) {
		snprintf(why, n, "expected two numbers MIN,MAX%s with MIN <= MAX%s, got \"%s\"", r,
			 k->empty_ok ? " (or nothing)" : "", v);
		return -1;
	}
	memcpy(field(f, k), x, sizeof x);
	return 0;
}

static char *format_range(const jm_flow *f, const key *k)
{
	const double *x = field(f, k);
	char a[40], b[40];
	if (k->empty_ok && x[0] == 0 && x[1] == 0)
		return jm_xstrdup("");
	fmt_double(a, sizeof a, x[0]);
	fmt_double(b, sizeof b, x[1]);
	return jm_xasprintf("%s,%s", a, b);
}

static char *format_bool(const jm_flow *f, const key *k)
{
	return jm_xstrdup(*(const int *)field(f, k) ? "true" : "false");
}

static char *format_string(const jm_flow *f, const key *k)
{
	const char *s = *(char *const *)field(f, k);
	return jm_xstrdup(s ? s : "");
}

static char *format_intlist(const jm_flow *f, const key *k)
{
	const int *v = field(f, k);
	int count = *(const int *)((const char *)f + k->off_count);
	char buf[JM_FLOW_MAX_HIDDEN * 12 + 1] = "";
	size_t len = 0;
	for (int i = 0; i < count; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%d", i ? "," : "", v[i]);
	return jm_xstrdup(buf);
}

static int equal_bytes(const jm_flow *a, const jm_flow *b, const key *k, size_t size)
{
	return !memcmp(field(a, k), field(b, k), size);
}

static int equal_int(const jm_flow *a, const jm_flow *b, const key *k)
{
	return equal_bytes(a, b, k, sizeof(int64_t));
}

static int equal_float(const jm_flow *a, const jm_flow *b, const key *k)
{
	return equal_bytes(a, b, k, sizeof(double));
}

static int equal_bool(const jm_flow *a, const jm_flow *b, const key *k)
{
	return equal_bytes(a, b, k, sizeof(int));
}

static int equal_string(const jm_flow *a, const jm_flow *b, const key *k)
{
	const char *x = *(char *const *)field(a, k), *y = *(char *const *)field(b, k);
	return !strcmp(x ? x : "", y ? y : "");
}

static int equal_range(const jm_flow *a, const jm_flow *b, const key *k)
{
	return equal_bytes(a, b, k, 2 * sizeof(double));
}

static int equal_intlist(const jm_flow *a, const jm_flow *b, const key *k)
{
	int na = *(const int *)((const char *)a + k->off_count);
	int nb = *(const int *)((const char *)b + k->off_count);
	return na == nb && equal_bytes(a, b, k, (size_t)na * sizeof(int));
}

static const struct type_ops {
	const char *name;
	int (*parse)(jm_flow *f, const key *k, const char *v, char *why, size_t n);
	char *(*format)(const jm_flow *f, const key *k);
	int (*equal)(const jm_flow *a, const jm_flow *b, const key *k);
	int owns_string; /* the field is a malloc'd char * */
} type_ops[T_COUNT] = {
	[T_INT] = {"integer", parse_int, format_int, equal_int, 0},
	[T_FLOAT] = {"number", parse_float, format_float, equal_float, 0},
	[T_BOOL] = {"boolean", parse_bool, format_bool, equal_bool, 0},
	[T_STRING] = {"string", parse_string, format_string, equal_string, 1},
	[T_CHOICE] = {"choice", parse_choice, format_string, equal_string, 1},
	[T_INTLIST] = {"integer list", parse_intlist, format_intlist, equal_intlist, 0},
	[T_RULE] = {"rule", parse_rule, format_string, equal_string, 1},
	[T_RANGE] = {"number pair", parse_range, format_range, equal_range, 0},
};

/* ---- string rules -------------------------------------------------------- */

static int check_source(const char *v, char *why, size_t n)
{
	int idx = !strncmp(v, "idx:", 4) && v[4];
	if (!strcmp(v, "fashion-mnist") || (idx && !isspace((unsigned char)v[4])))
		return 0;
	if (*v && strncmp(v, "idx:", 4) && strcmp(v, "mnist"))
		return 0; /* a CSV: opened (and its errors found) when the run starts */
	if (idx) {
		snprintf(why, n, "expected idx:DIR with no blank after \"idx:\"");
		return -1;
	}
	snprintf(why, n, "expected fashion-mnist or idx:DIR%s",
		 !strcmp(v, "mnist") ? " (MNIST is not packaged; use idx:DIR on its four files)"
				     : ", or a CSV file");
	return -1;
}

static int check_sha256(const char *v, char *why, size_t n)
{
	size_t len = strlen(v);
	if (!len || (len == 64 && strspn(v, "0123456789abcdefABCDEF") == 64))
		return 0;
	snprintf(why, n, "expected 64 hexadecimal digits, or nothing");
	return -1;
}

/* Bytes that a flow cannot hold as themselves (';' and '#' start a
 * comment, blanks are trimmed), by name. */
static const struct {
	const char *name;
	char c;
} char_names[] = {
	{"comma", ','}, {"semicolon", ';'}, {"tab", '\t'}, {"pipe", '|'}, {"space", ' '},
	{"colon", ':'}, {"hash", '#'}, {"percent", '%'},
};

char jm_flow_char(const char *v)
{
	if (!v || !*v)
		return 0;
	for (size_t i = 0; i < sizeof char_names / sizeof *char_names; i++)
		if (!strcasecmp(v, char_names[i].name))
			return char_names[i].c;
	return v[1] ? 0 : v[0];
}

static int check_char(const char *v, char *why, size_t n)
{
	if (!*v || jm_flow_char(v))
		return 0;
	snprintf(why, n, "expected one character, or comma, semicolon, tab, pipe, space, colon, "
		 "hash or percent");
	return -1;
}

int jm_flow_is_tabular(const jm_flow *f)
{
	return strcmp(f->data.source, "fashion-mnist") && strncmp(f->data.source, "idx:", 4);
}

int jm_flow_key_matters(const jm_flow *f, const char *dotted)
{
	const char *dot = strchr(dotted, '.');
	if (!dot)
		return 1;
	const char *k = dot + 1;
	int tab = jm_flow_is_tabular(f);
	if (!strncmp(dotted, "augment.", 8)) {
		const double cutmix = tab ? 0 : f->augment.cutmix, mixup = f->augment.mixup;
		const double erasing = tab ? 0 : f->augment.erasing;
		static const char *const image_only[] = {"cutmix", "hflip", "crop_padding", "erasing"};
		for (size_t i = 0; i < sizeof image_only / sizeof *image_only; i++)
			if (!strcmp(k, image_only[i]))
				return !tab;
		if (!strcmp(k, "cutmix_minmax") || !strcmp(k, "correct_lam"))
			return cutmix > 0;
		if (!strcmp(k, "switch"))
			return cutmix > 0 && mixup > 0;
		if (!strcmp(k, "prob") || !strcmp(k, "mode") || !strcmp(k, "label_smoothing"))
			return cutmix > 0 || mixup > 0;
		if (!strcmp(k, "padding_mode"))
			return !tab && f->augment.crop_padding > 0;
		if (!strncmp(k, "erasing_", 8))
			return erasing > 0;
		return 1;
	}
	if (!strncmp(dotted, "data.", 5)) {
		static const char *const image_only[] = {"dir", "normalize", "test_limit"};
		static const char *const csv_only[] = {"sha256", "delimiter", "na_values",
						       "comment", "target", "task"};
		for (size_t i = 0; i < sizeof image_only / sizeof *image_only; i++)
			if (!strcmp(k, image_only[i]))
				return !tab;
		for (size_t i = 0; i < sizeof csv_only / sizeof *csv_only; i++)
			if (!strcmp(k, csv_only[i]))
				return tab;
		return 1;
	}
	if (!strcmp(dotted, "notify.timeout"))
		return f->notify.url[0] != '\0';
	if (!strncmp(dotted, "model.", 6)) {
		int mlp = !strcmp(f->model.type, "mlp"), cnn = !strcmp(f->model.type, "cnn");
		if (!strcmp(k, "hidden") || !strcmp(k, "dropout") || !strcmp(k, "norm"))
			return mlp;
		if (!strcmp(k, "layers") || !strcmp(k, "batchnorm"))
			return cnn;
		if (!strcmp(k, "act"))
			return mlp || cnn;
		return 1;
	}
	if (strncmp(dotted, "train.", 6))
		return 1;
	/* keys of one optimizer or one schedule */
	static const struct {
		const char *key, *optimizer, *schedule;
	} only[] = {
		{"momentum", "sgd", NULL},      {"nesterov", "sgd", NULL},
		{"warmup", NULL, "cosine"},     {"min_lr", NULL, "cosine"},
		{"step_epochs", NULL, "step"}, {"gamma", NULL, "step"},
		{"pct_start", NULL, "onecycle"},
	};
	for (size_t i = 0; i < sizeof only / sizeof *only; i++)
		if (!strcmp(k, only[i].key))
			return only[i].optimizer ? !strcmp(f->train.optimizer, only[i].optimizer)
						 : !strcmp(f->train.schedule, only[i].schedule);
	if (!strcmp(k, "beta1") || !strcmp(k, "beta2") || !strcmp(k, "eps"))
		return strcmp(f->train.optimizer, "sgd") != 0;
	if (!strcmp(k, "clip_mode"))
		return f->train.clip > 0;
	if (!strcmp(k, "clip_percentile") || !strcmp(k, "clip_window"))
		return f->train.clip > 0 && !strcmp(f->train.clip_mode, "adaptive");
	return 1;
}

/* The plugin:NAME(...) tokens of a layer string (or [model] act): each
 * operator loaded, each argument declared and in range.  The rest of the
 * string is the model builder's to check. */
static int check_plugin_layers(const char *v, char *why, size_t n)
{
	if (!strstr(v, "plugin:"))
		return 0;
	char *copy = jm_xstrdup(v), *toks[256];
	int nt = jm_plugin_split_layers(copy, toks, 256), rc = 0;
	for (int i = 0; i < nt && rc == 0; i++) {
		char inner[900];
		if (jm_plugin_check_layer_token(toks[i], inner, sizeof inner) < 0) {
			if (nt == 1) /* [model] act, or a one-token string */
				snprintf(why, n, "%s", inner);
			else
				snprintf(why, n, "token %d \"%.60s\": %s", i + 1, toks[i], inner);
			rc = -1;
		}
	}
	free(copy);
	return rc;
}

static int check_device(const char *v, char *why, size_t n)
{
	long long gpu;
	if (!strcmp(v, "auto") || !strcmp(v, "cpu") || !strcmp(v, "cuda") ||
	    (!strncmp(v, "cuda:", 5) && read_int(v + 5, &gpu) == 0 && gpu >= 0 && gpu < 64))
		return 0;
	snprintf(why, n, "expected auto, cpu, cuda or cuda:N (N from 0 to 63)");
	return -1;
}

static int check_url(const char *v, char *why, size_t n)
{
	if (!*v || ((!strncmp(v, "http://", 7) || !strncmp(v, "https://", 8)) &&
		    !strpbrk(v, " \t") && strlen(v) > 8))
		return 0;
	snprintf(why, n, "expected an http:// or https:// URL, or nothing to turn it off");
	return -1;
}

/* ---- where a key came from ------------------------------------------------ */

/* [data] source and dir lead the table (test_flow checks it). */
#define K_SOURCE (&keys[0])
#define K_DIR (&keys[1])

/* "fmnist.flow:7", "--set train.lr" or "fmnist.flow" for a default. */
static void key_location(const jm_flow *f, const key *k, char *buf, size_t n)
{
	int line = f->key_line[key_index(k)];
	const char *name = f->name ? f->name : "flow";
	if (line > 0)
		snprintf(buf, n, "%s:%d", name, line);
	else if (line < 0)
		snprintf(buf, n, "--set %s.%s", k->section, k->name);
	else
		snprintf(buf, n, "%s", name);
}

/* [data] dir follows source unless it was given: idx:DIR → DIR,
 * fashion-mnist → the Debian package's directory. */
static void resolve(jm_flow *f)
{
	int *dl = &f->key_line[key_index(K_DIR)];
	if (!f->data.dir[0])
		*dl = 0; /* "dir =" says: follow source */
	const char *src = f->data.source;
	if (*dl == 0)
		set_string(f, K_DIR, !strncmp(src, "idx:", 4) ? src + 4 :
				     jm_flow_is_tabular(f) ? "" : JM_FMNIST_DIR);
	/* [split] val follows the source too unless given: a CSV, split
	 * three ways, keeps 0.15 of its rows for validation (the canonical
	 * form then says so, and replays the same split) */
	const key *val = key_find("split", "val");
	if (!f->key_line[key_index(val)])
		f->split.val = jm_flow_is_tabular(f) ? 0.15 : strtod_c(val->def, NULL);
}

/* ---- rules between keys ---------------------------------------------------- */

typedef struct rule {
	const char *key;   /* blamed: its line locates the message */
	const char *other; /* located here when key was not set */
	int (*broken)(const jm_flow *f, char *msg, size_t n);
	const char *reads; /* every key broken() reads, blank-separated */
} rule;

/* Is "section.key" one of the search's keys?  Its value in a search's
 * flow is one the search replaces, so a rule reading it proves nothing
 * there: each trial's flow, holding the proposed value, is checked in
 * full (batch.c, trial_flow), and a trial that breaks it fails at once. */
static int searched(const jm_flow *f, const char *dotted)
{
	for (int i = 0; i < f->search.n_params; i++)
		if (!strcmp(f->search.params[i].key, dotted))
			return 1;
	return 0;
}

/* Any of the blank-separated keys in list searched? */
static int any_searched(const jm_flow *f, const char *list)
{
	char name[64];
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, " ");
		snprintf(name, sizeof name, "%.*s", (int)len, p);
		if (searched(f, name))
			return 1;
		p += len + (p[len] == ' ');
	}
	return 0;
}

static int rule_cnn_layers(const jm_flow *f, char *msg, size_t n)
{
	if (strcmp(f->model.type, "cnn") || f->model.layers[0])
		return 0;
	snprintf(msg, n, "[model] type = cnn needs [model] layers (e.g. layers = c32 p c64 p gap fc10)");
	return 1;
}

static int rule_fractions(const jm_flow *f, char *msg, size_t n)
{
	if (f->split.val + f->split.test < 1)
		return 0;
	char a[40], b[40];
	fmt_double(a, sizeof a, f->split.val);
	fmt_double(b, sizeof b, f->split.test);
	snprintf(msg, n, "[split] val + test must be below 1, got %s + %s", a, b);
	return 1;
}

static int rule_min_lr(const jm_flow *f, char *msg, size_t n)
{
	if (strcmp(f->train.schedule, "cosine") || f->train.min_lr <= f->train.lr)
		return 0;
	char a[40], b[40];
	fmt_double(a, sizeof a, f->train.min_lr);
	fmt_double(b, sizeof b, f->train.lr);
	snprintf(msg, n, "[train] min_lr: must not exceed lr, got %s > %s", a, b);
	return 1;
}

static int rule_patience(const jm_flow *f, char *msg, size_t n)
{
	if (f->train.patience == 0 || f->split.val > 0)
		return 0;
	snprintf(msg, n, "[train] patience: early stopping needs a validation set ([split] val > 0)");
	return 1;
}

static int rule_nesterov(const jm_flow *f, char *msg, size_t n)
{
	if (!f->train.nesterov || (!strcmp(f->train.optimizer, "sgd") && f->train.momentum > 0))
		return 0;
	snprintf(msg, n, "[train] nesterov: needs optimizer = sgd and momentum > 0");
	return 1;
}

static int rule_idx_dir(const jm_flow *f, char *msg, size_t n)
{
	const char *src = f->data.source;
	if (strncmp(src, "idx:", 4) || !strcmp(src + 4, f->data.dir))
		return 0;
	snprintf(msg, n, "[data] dir: \"%s\" does not match source = %s (leave dir out)",
		 f->data.dir, src);
	return 1;
}

static int rule_target(const jm_flow *f, char *msg, size_t n)
{
	if (!jm_flow_is_tabular(f) || f->data.target[0])
		return 0;
	snprintf(msg, n, "[data] source = %s needs [data] target (the column to predict)",
		 f->data.source);
	return 1;
}
static int validate_search(const jm_flow *f, jm_err *err);
int jm_flow_mixes_pairs(const jm_flow *f)
{
	return (f->augment.cutmix > 0 || f->augment.mixup > 0 || f->augment.cutmix_minmax[1] > 0) &&
	       strcmp(f->augment.mode, "batch");
}

static int rule_mix_pairs(const jm_flow *f, char *msg, size_t n)
{
	if (!jm_flow_mixes_pairs(f) || f->train.batch % 2 == 0)
		return 0;
	snprintf(msg, n, "[augment] mode = %s mixes samples in pairs: it needs an even [train] "
		 "batch, got %lld", f->augment.mode, (long long)f->train.batch);
	return 1;
}

static const rule rules[] = {
	{"data.target", "data.source", rule_target, "data.source data.target"},
	{"model.type", "model.layers", rule_cnn_layers, "model.type model.layers"},
	{"split.val", "split.test", rule_fractions, "split.val split.test"},
	{"train.min_lr", "train.lr", rule_min_lr, "train.schedule train.min_lr train.lr"},
	{"train.patience", "split.val", rule_patience, "train.patience split.val"},
	{"train.nesterov", "train.optimizer", rule_nesterov,
	 "train.nesterov train.optimizer train.momentum"},
	{"data.dir", "data.source", rule_idx_dir, "data.source data.dir"},
	{"augment.mode", "train.batch", rule_mix_pairs,
	 "augment.mode augment.cutmix augment.mixup augment.cutmix_minmax train.batch"},
};

/* Keys that only a CSV source uses, set for images: name the first.  The
 * CSV keys of [data] are the fields from sha256 on (flow.h keeps them
 * last in the struct); task is a choice with a default, never "set". */
static int csv_only_keys(const jm_flow *f, jm_err *err)
{
	if (jm_flow_is_tabular(f) || searched(f, "data.source"))
		return 0;
	for (int i = 0; i < NKEYS; i++) {
		const key *k = &keys[i];
		int csv_only = k->type == T_RULE || (!strcmp(k->section, "data") && k->off >= F(data.sha256));
		const char *v = csv_only && k->type != T_CHOICE ? *(char *const *)field(f, k) : NULL;
		if (!v || !*v)
			continue;
		char loc[300];
		key_location(f, k, loc, sizeof loc);
		return jm_err_set(err, JM_EXIT_INPUT, "%s: [%s] %s: needs a CSV source ([data] source = "
				  "FILE.csv), not %s", loc, k->section, k->name, f->data.source);
	}
	return 0;
}

/* A CSV's rows are not images: of [augment], only MixUp applies to them
 * (on the numeric features).  Name the first image-only key that is on. */
static int image_only_augment(const jm_flow *f, jm_err *err)
{
	if (!jm_flow_is_tabular(f) || searched(f, "data.source"))
		return 0;
	const struct {
		const char *key;
		int on;
	} image_only[] = {
		{"augment.cutmix", f->augment.cutmix > 0},
		{"augment.cutmix_minmax", f->augment.cutmix_minmax[1] > 0},
		{"augment.hflip", f->augment.hflip > 0},
		{"augment.crop_padding", f->augment.crop_padding > 0},
		{"augment.erasing", f->augment.erasing > 0},
	};
	for (size_t i = 0; i < sizeof image_only / sizeof *image_only; i++) {
		if (!image_only[i].on || searched(f, image_only[i].key))
			continue;
		const key *k = key_lookup(image_only[i].key);
		char loc[300];
		key_location(f, k, loc, sizeof loc);
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: [augment] %s: works on images; a CSV source takes only mixup "
				  "(on its numeric features)", loc, k->name);
	}
	return 0;
}

int jm_flow_validate(const jm_flow *f, jm_err *err)
{
	if (csv_only_keys(f, err) < 0 || image_only_augment(f, err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
		char msg[512], loc[300];
		if (any_searched(f, rules[i].reads) || !rules[i].broken(f, msg, sizeof msg))
			continue;
		const key *k = key_lookup(rules[i].key), *o = key_lookup(rules[i].other);
		key_location(f, f->key_line[key_index(k)] || !f->key_line[key_index(o)] ? k : o,
			     loc, sizeof loc);
		return jm_err_set(err, JM_EXIT_INPUT, "%s: %s", loc, msg);
	}
	return validate_search(f, err);
}

/* ---- searched keys: "[search] train.lr = loguniform(1e-5, 1e-2)" ---------- */

/* Is DIST a distribution that key k can take?  Numbers take uniform,
 * loguniform and int over their range (integers only int); every key takes
 * choice, each option checked as the key itself would check it. */
static int check_dist(const key *k, const jm_param *p, char *why, size_t n)
{
	char r[96], a[40];
	range_text(k, r, sizeof r);
	if (p->kind == JM_PARAM_CHOICE) {
		jm_flow *scratch = jm_flow_new();
		int rc = 0;
		for (int i = 0; i < p->nchoices && rc == 0; i++) {
			char inner[400];
			if (type_ops[k->type].parse(scratch, k, p->choices[i], inner, sizeof inner) < 0) {
				snprintf(why, n, "option \"%s\": %s", p->choices[i], inner);
				rc = -1;
			}
		}
		jm_flow_free(scratch);
		return rc;
	}
	if (k->type != T_INT && k->type != T_FLOAT) {
		snprintf(why, n, "a %s key takes choice(...), not a range", type_ops[k->type].name);
		return -1;
	}
	if (k->type == T_INT && p->kind != JM_PARAM_INT) {
		snprintf(why, n, "an integer key takes int(lo, hi) or choice(...), not %s",
			 p->kind == JM_PARAM_LOGUNIFORM ? "loguniform" : "uniform");
		return -1;
	}
	const double ends[2] = {p->lo, p->hi};
	for (int i = 0; i < 2; i++)
		if (!in_range(k, ends[i])) {
			fmt_double(a, sizeof a, ends[i]);
			snprintf(why, n, "%s bound %s is out of range: expected %s%s", i ? "high" : "low",
				 a, k->type == T_INT ? "an integer" : "a number", r);
			return -1;
		}
	return 0;
}

/* Offer the closest "section.key" of the table for a misspelt one. */
static const char *closest_dotted(const char *name, char *buf, size_t n)
{
	const char *best = NULL;
	int best_d = 99;
	char names[JM_FLOW_MAX_KEYS][64];
	for (int i = 0; i < NKEYS; i++) {
		snprintf(names[i], sizeof names[i], "%s.%s", keys[i].section, keys[i].name);
		jm_suggest_consider(name, names[i], &best, &best_d);
	}
	if (!best)
		return NULL;
	snprintf(buf, n, "%s", best);
	return buf;
}

static int apply_searched(jm_flow *f, const char *name, const char *raw, const char *loc,
			  int origin, jm_err *err)
{
	const key *k = key_lookup(name);
	char why[512], sugg[64];
	if (!k) {
		if (closest_dotted(name, sugg, sizeof sugg))
			return jm_err_set(err, JM_EXIT_INPUT,
					  "%s: [search] unknown key \"%s\" (did you mean \"%s\"?)", loc,
					  name, sugg);
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: [search] unknown key \"%s\" (a searched key is section.key, "
				  "see jianmo-flow(5))", loc, name);
	}
	if (!strcmp(k->section, "search"))
		return jm_err_set(err, JM_EXIT_INPUT, "%s: [search] %s: the search's own keys "
				  "cannot be searched", loc, name);
	int slot = 0;
	while (slot < f->search.n_params && strcmp(f->search.params[slot].key, name))
		slot++;
	if (slot < f->search.n_params && origin > 0 && f->search.params[slot].line > 0)
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: [search] duplicate key \"%s\" (first set on line %d)", loc, name,
				  f->search.params[slot].line);
	if (slot == JM_FLOW_MAX_SEARCHED)
		return jm_err_set(err, JM_EXIT_INPUT, "%s: [search] %s: at most %d keys can be "
				  "searched", loc, name, JM_FLOW_MAX_SEARCHED);

	char *v = jm_xstrdup(raw);
	cut_comment(v);
	char *val = trim(v);
	jm_space *sp = jm_space_new();
	jm_err e = {0};
	int rc = -1;
	if (strlen(name) + 3 + strlen(val) > (size_t)inih_line_max()) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: [search] %s: value too long", loc, name);
	} else if (jm_space_add(sp, name, val, NULL, &e) < 0) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: [search] %s", loc, e.msg);
	} else if (check_dist(k, &sp->p[0], why, sizeof why) < 0) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: [search] %s: %s: %s", loc, name, val, why);
	} else {
		struct jm_flow_searched *p = &f->search.params[slot];
		if (slot == f->search.n_params) {
			f->search.n_params++;
			p->key = jm_xstrdup(name);
			p->spec = NULL;
		}
		free(p->spec);
		p->spec = jm_xstrdup(val);
		p->line = origin;
		rc = 0;
	}
	jm_space_free(sp);
	free(v);
	return rc;
}

void jm_flow_search_strip(jm_flow *f)
{
	for (int i = 0; i < f->search.n_params; i++) {
		free(f->search.params[i].key);
		free(f->search.params[i].spec);
	}
	f->search.n_params = 0;
	f->search.trials = 0;
	f->key_line[key_index(key_lookup("search.trials"))] = 0;
}

/* The metric's name after its part: "acc" of "val_acc". */
static const char *metric_kind(const char *metric)
{
	const char *u = strchr(metric, '_');
	return u ? u + 1 : metric;
}

int jm_flow_metric_maximize(const char *metric)
{
	const char *k = metric_kind(metric);
	return !strcmp(k, "acc") || !strcmp(k, "r2");
}

int jm_flow_metric_logged(const char *metric, int regression)
{
	const char *k = metric_kind(metric);
	if (!strcmp(metric, "auto") || !strcmp(k, "loss"))
		return 1;
	return regression ? strcmp(k, "acc") != 0 : !strcmp(k, "acc");
}

int jm_flow_task(const jm_flow *f)
{
	if (searched(f, "data.source") || searched(f, "data.task"))
		return -1;
	if (!jm_flow_is_tabular(f))
		return 0;
	return !strcmp(f->data.task, "regression") ? 1 :
	       !strcmp(f->data.task, "classification") ? 0 : -1;
}

int jm_flow_search_maximize(const jm_flow *f)
{
	if (strcmp(f->search.direction, "auto"))
		return !strcmp(f->search.direction, "max");
	if (!strcmp(f->search.metric, "auto"))
		return jm_flow_task(f) != 1;
	return jm_flow_metric_maximize(f->search.metric);
}

/* 0 when the runs of this task log f's metric; else an error at the
 * metric's line offering the ones of its part (val_, train_, test_) they
 * do log.  because: how the task is known (NULL: from the flow). */
static int metric_check(const jm_flow *f, int regression, const char *because, jm_err *err)
{
	const char *m = f->search.metric;
	if (jm_flow_metric_logged(m, regression))
		return 0;
	char said[300];
	if (!because && !jm_flow_is_tabular(f))
		snprintf(said, sizeof said, "the images of %s", f->data.source);
	else if (!because)
		snprintf(said, sizeof said, "[data] task = %s", f->data.task);
	else
		snprintf(said, sizeof said, "%s", because);
	static const char *const kinds[2][4] = {{"acc", "loss"}, {"loss", "rmse", "mae", "r2"}};
	char part[16], choose[128] = "", loc[300];
	snprintf(part, sizeof part, "%.*s", (int)(metric_kind(m) - m), m);
	/* training logs its loss, and a classification's accuracy */
	int n = !regression ? 2 : strcmp(part, "train_") ? 4 : 1;
	for (int i = 0; i < n; i++) {
		size_t len = strlen(choose);
		snprintf(choose + len, sizeof choose - len, "%s%s%s",
			 !i ? "" : i + 1 == n ? " or " : ", ", part, kinds[regression][i]);
	}
	key_location(f, key_lookup("search.metric"), loc, sizeof loc);
	return jm_err_set(err, JM_EXIT_INPUT, "%s: [search] metric: a %s (%s) logs no %s; choose %s, "
			  "or leave metric out (auto: %s)", loc,
			  regression ? "regression" : "classification", said, m, choose,
			  regression ? "val_loss" : "val_acc");
}

int jm_flow_search_metric_settle(jm_flow *f, int regression, const char *because, jm_err *err)
{
	if (metric_check(f, regression, because, err) < 0)
		return -1;
	/* set_string leaves where the key was set: "auto" was said there */
	if (!strcmp(f->search.metric, "auto"))
		set_string(f, key_lookup("search.metric"), regression ? "val_loss" : "val_acc");
	return 0;
}

/* The rules of a search, located at the key at fault: a search needs
 * something to search and a metric its trials log. */
static int validate_search(const jm_flow *f, jm_err *err)
{
	char loc[300];
	const key *trials = key_lookup("search.trials");
	const char *name = f->name ? f->name : "flow";
	int n = f->search.n_params;
	if (!f->search.trials && !n)
		return 0;
	if (!f->search.trials) {
		int line = f->search.params[0].line;
		if (line > 0)
			snprintf(loc, sizeof loc, "%s:%d", name, line);
		else
			snprintf(loc, sizeof loc, "--set search.%s", f->search.params[0].key);
		return jm_err_set(err, JM_EXIT_INPUT, "%s: [search] %s: searched keys need "
				  "[search] trials > 0", loc, f->search.params[0].key);
	}
	key_location(f, trials, loc, sizeof loc);
	if (!n)
		return jm_err_set(err, JM_EXIT_INPUT, "%s: [search] trials: nothing to search (add "
				  "a searched key, e.g. train.lr = loguniform(1e-5, 1e-2))", loc);
	const char *m = f->search.metric;
	int task = jm_flow_task(f);
	if (task >= 0) {
		/* the flow says the task: a metric it never logs is refused here */
		if (metric_check(f, task, NULL, err) < 0)
			return -1;
		if (!strcmp(m, "auto"))
			m = task ? "val_loss" : "val_acc";
	}
	if (strcmp(f->search.prune, "none") && !strncmp(m, "test_", 5)) {
		key_location(f, key_lookup("search.prune"), loc, sizeof loc);
		return jm_err_set(err, JM_EXIT_INPUT, "%s: [search] prune: needs a metric logged "
				  "every epoch (val_* or train_*), not %s", loc, m);
	}
	if ((!strncmp(m, "val_", 4) || !strcmp(m, "auto")) && !(f->split.val > 0) &&
	    !searched(f, "split.val")) {
		const key *mk = key_lookup("search.metric"), *vk = key_lookup("split.val");
		key_location(f, f->key_line[key_index(mk)] || !f->key_line[key_index(vk)] ? mk : vk,
			     loc, sizeof loc);
		return jm_err_set(err, JM_EXIT_INPUT, "%s: [search] metric: %s needs a validation "
				  "set ([split] val > 0)", loc,
				  strcmp(m, "auto") ? m : "auto (val_acc or val_loss, as the task)");
	}
	return 0;
}

/* ---- applying one "key = value" ------------------------------------------- */

/* Set section.name = raw (a file line when origin > 0, --set when -1);
 * loc prefixes messages. */
static int apply(jm_flow *f, int sec, const char *name, const char *raw, const char *loc,
		 int origin, jm_err *err)
{
	const char *sname = sections[sec].name;
	if (!strcmp(sname, "search") && strchr(name, '.'))
		return apply_searched(f, name, raw, loc, origin, err);
	const key *k = key_find(sname, name);
	if (!k) {
		const char *best = NULL, *elsewhere = NULL;
		int best_d = 99;
		for (int i = 0; i < NKEYS; i++) {
			if (!strcmp(keys[i].section, sname))
				jm_suggest_consider(name, keys[i].name, &best, &best_d);
			else if (!strcmp(keys[i].name, name))
				elsewhere = keys[i].section;
		}
		if (elsewhere)
			return jm_err_set(err, JM_EXIT_INPUT,
					  "%s: [%s] unknown key \"%s\" (it belongs in [%s])", loc, sname,
					  name, elsewhere);
		if (best)
			return jm_err_set(err, JM_EXIT_INPUT,
					  "%s: [%s] unknown key \"%s\" (did you mean \"%s\"?)", loc, sname,
					  name, best);
		return jm_err_set(err, JM_EXIT_INPUT, "%s: [%s] unknown key \"%s\" (see jianmo-flow(5))",
				  loc, sname, name);
	}
	int ki = key_index(k);
	if (origin > 0 && f->key_line[ki] > 0)
		return jm_err_set(err, JM_EXIT_INPUT, "%s: [%s] duplicate key \"%s\" (first set on line %d)",
				  loc, sname, name, f->key_line[ki]);

	char *v = jm_xstrdup(raw), why[512];
	cut_comment(v);
	char *val = trim(v);
	/* the canonical "name = value" line must fit inih's buffer too */
	size_t line_len = strlen(name) + 3 + strlen(val);
	if (line_len > (size_t)inih_line_max()) {
		free(v);
		return jm_err_set(err, JM_EXIT_INPUT,
				  "%s: [%s] %s: value too long (a \"%s = ...\" line holds at most %d "
				  "characters, this one %zu)", loc, sname, name, name, inih_line_max(),
				  line_len);
	}
	char *before = k == K_SOURCE ? jm_xstrdup(f->data.source) : NULL;
	int rc = type_ops[k->type].parse(f, k, val, why, sizeof why);
	free(v);
	if (rc < 0) {
		free(before);
		return jm_err_set(err, JM_EXIT_INPUT, "%s: [%s] %s: %s", loc, sname, name, why);
	}
	f->key_line[ki] = origin;
	/* a new source from --set takes dir with it, unless dir came from --set */
	if (before && origin < 0 && strcmp(before, f->data.source) &&
	    f->key_line[key_index(K_DIR)] > 0)
		f->key_line[key_index(K_DIR)] = 0;
	free(before);
	resolve(f);
	return 0;
}

/* ---- new, free, dup ------------------------------------------------------ */

jm_flow *jm_flow_new(void)
{
	jm_flow *f = jm_xcalloc(1, sizeof *f);
	char why[512];
	for (int i = 0; i < NKEYS; i++)
		if (type_ops[keys[i].type].parse(f, &keys[i], keys[i].def, why, sizeof why) < 0) {
			/* a broken default is a bug in the table; test_flow catches it */
			fprintf(stderr, "jianmo: bug: default of %s.%s: %s\n", keys[i].section,
				keys[i].name, why);
			abort();
		}
	resolve(f);
	return f;
}

void jm_flow_free(jm_flow *f)
{
	if (!f)
		return;
	for (int i = 0; i < NKEYS; i++)
		if (type_ops[keys[i].type].owns_string)
			free(*(char **)field(f, &keys[i]));
	jm_flow_search_strip(f);
	free(f->path);
	free(f->name);
	free(f);
}

jm_flow *jm_flow_dup(const jm_flow *f)
{
	jm_flow *d = jm_xmalloc(sizeof *d);
	memcpy(d, f, sizeof *d);
	for (int i = 0; i < NKEYS; i++)
		if (type_ops[keys[i].type].owns_string) {
			char **p = field(d, &keys[i]);
			*p = jm_xstrdup(*p ? *p : "");
		}
	for (int i = 0; i < f->search.n_params; i++) {
		d->search.params[i].key = jm_xstrdup(f->search.params[i].key);
		d->search.params[i].spec = jm_xstrdup(f->search.params[i].spec);
	}
	d->path = f->path ? jm_xstrdup(f->path) : NULL;
	d->name = f->name ? jm_xstrdup(f->name) : NULL;
	return d;
}

int jm_flow_equal(const jm_flow *a, const jm_flow *b)
{
	for (int i = 0; i < NKEYS; i++)
		if (!type_ops[keys[i].type].equal(a, b, &keys[i]))
			return 0;
	if (a->search.n_params != b->search.n_params)
		return 0;
	for (int i = 0; i < a->search.n_params; i++)
		if (strcmp(a->search.params[i].key, b->search.params[i].key) ||
		    strcmp(a->search.params[i].spec, b->search.params[i].spec))
			return 0;
	return 1;
}

/* ---- parsing text ---------------------------------------------------------- */

typedef struct pstate {
	jm_flow *f;
	const char *name;
	const char *pos;  /* the reader's place in the text */
	int line;         /* the line last handed to inih */
	int section;      /* index in sections[], -1 before the first */
	int failed;       /* line of the first error found by us, 0: none */
	jm_err *err;
} pstate;

static int fail(pstate *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(pstate *s, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	s->failed = s->line;
	return jm_err_set(s->err, JM_EXIT_INPUT, "%s:%d: %s", s->name, s->line, msg);
}

/* "[name]" possibly followed by a comment: make it the current section. */
static int section_line(pstate *s, char *line)
{
	char *close = strchr(line, ']');
	if (!close)
		return fail(s, "missing \"]\" in section header");
	char *rest = close + 1;
	rest += strspn(rest, " \t\r\n");
	if (*rest && *rest != ';' && *rest != '#')
		return fail(s, "unexpected text after \"]\": \"%s\"", trim(rest));
	*close = '\0';
	char name[64];
	snprintf(name, sizeof name, "%s", line + 1);
	*close = ']';
	char *t = trim(name);
	int sec = section_index(t);
	if (sec < 0) {
		const char *best = NULL;
		int best_d = 99;
		for (int i = 0; i < NSECTIONS; i++)
			jm_suggest_consider(t, sections[i].name, &best, &best_d);
		if (best)
			return fail(s, "unknown section [%s] (did you mean [%s]?)", t, best);
		return fail(s, "unknown section [%s] (sections: data, clean, features, augment, "
			       "split, model, train, search, notify)", t);
	}
	s->section = sec;
	return 0;
}

/* inih's line source: one line per call, checked before inih sees it. */
static char *reader(char *buf, int num, void *stream)
{
	pstate *s = stream;
	if (s->failed || !*s->pos)
		return NULL;
	const char *start = s->pos, *nl = strchr(start, '\n');
	size_t len = nl ? (size_t)(nl - start) + 1 : strlen(start);
	s->pos = start + len;
	s->line++;
	if (s->line == 1 && len >= 3 && !memcmp(start, "\xEF\xBB\xBF", 3))
		start += 3, len -= 3;
	while (len && (*start == ' ' || *start == '\t'))
		start++, len--;
	size_t body = len;
	while (body && (start[body - 1] == '\n' || start[body - 1] == '\r'))
		body--;
	if (num < 4 || body > (size_t)num - 3) {
		fail(s, "line too long (%zu characters; at most %d)", body, num - 3);
		return NULL;
	}
	memcpy(buf, start, body);
	buf[body] = '\n';
	buf[body + 1] = '\0';
	if (buf[0] == '[' && section_line(s, buf) < 0)
		return NULL;
	return buf;
}

static int on_pair(void *user, const char *inih_section, const char *name, const char *value)
{
	pstate *s = user;
	if (s->failed)
		return 0;
	if (!value || !*name)
		return fail(s, "expected \"key = value\" or \"[section]\""), 0;
	if (s->section < 0) {
		const char *home = NULL;
		for (int i = 0; i < NKEYS; i++)
			if (!strcmp(keys[i].name, name))
				home = keys[i].section;
		if (home)
			return fail(s, "\"%s\" is outside any section (put it under [%s])", name, home), 0;
		return fail(s, "\"%s\" is outside any section", name), 0;
	}
	char loc[300];
	snprintf(loc, sizeof loc, "%s:%d", s->name, s->line);
	if (apply(s->f, s->section, name, value, loc, s->line, s->err) < 0) {
		s->failed = s->line;
		return 0;
	}
	return 1;
}

int jm_flow_parse(jm_flow **out, const char *text, const char *name, jm_err *err)
{
	if (!name)
		name = "flow";
	jm_flow *f = jm_flow_new();
	f->name = jm_xstrdup(name);
	pstate s = {.f = f, .name = name, .pos = text, .section = -1, .err = err};

	*out = NULL;
	int ret = ini_parse_stream(reader, &s, on_pair, &s);
	if (ret > 0 && (!s.failed || ret < s.failed))
		jm_err_set(err, JM_EXIT_INPUT, "%s:%d: expected \"key = value\" or \"[section]\"",
			   name, ret);
	else if (ret == -2 && !s.failed)
		jm_err_set(err, JM_EXIT_FAIL, "%s: out of memory", name);
	if (ret != 0 || s.failed || jm_flow_validate(f, err) < 0) {
		jm_flow_free(f);
		return -1;
	}
	*out = f;
	return 0;
}

int jm_flow_read_text(const char *path, char **text, jm_err *err)
{
	/* "-": the flow comes on standard input, and is called stdin */
	int std = !strcmp(path, "-");
	FILE *fp = std ? stdin : fopen(path, "rb");
	char *t = NULL;
	int rc = -1;

	*text = NULL;
	if (std)
		path = "stdin";
	if (!fp)
		return jm_err_set(err, JM_EXIT_INPUT, "cannot open \"%s\": %s", path, strerror(errno));
	t = jm_xmalloc(FLOW_MAX_FILE + 1);
	size_t n = fread(t, 1, FLOW_MAX_FILE + 1, fp);
	if (ferror(fp)) {
		jm_err_set(err, JM_EXIT_INPUT, "cannot read \"%s\": %s", path, strerror(errno));
		goto done;
	}
	if (n > FLOW_MAX_FILE) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: too large for a flow file (over %d bytes)", path,
			   FLOW_MAX_FILE);
		goto done;
	}
	if (memchr(t, '\0', n)) {
		jm_err_set(err, JM_EXIT_INPUT, "%s: contains a NUL byte (not a text file?)", path);
		goto done;
	}
	if (std && n == 0) {
		/* an empty file is a flow of defaults; nothing piped in is a slip */
		jm_err_set(err, JM_EXIT_INPUT, "stdin: no flow on standard input");
		goto done;
	}
	t[n] = '\0';
	*text = jm_xrealloc(t, n + 1);
	t = NULL;
	rc = 0;
done:
	free(t);
	if (!std)
		fclose(fp);
	return rc;
}

int jm_flow_load(jm_flow **out, const char *path, jm_err *err)
{
	char *text = NULL;
	*out = NULL;
	if (jm_flow_read_text(path, &text, err) < 0)
		return -1;
	const char *name = strcmp(path, "-") ? path : "stdin";
	int rc = jm_flow_parse(out, text, name, err);
	if (rc == 0)
		(*out)->path = jm_xstrdup(name);
	free(text);
	return rc;
}

int jm_flow_set(jm_flow *f, const char *assignment, jm_err *err)
{
	char loc[300];
	snprintf(loc, sizeof loc, "--set %s", assignment);
	const char *eq = strchr(assignment, '=');
	const char *dot = eq ? memchr(assignment, '.', (size_t)(eq - assignment)) : NULL;
	if (!eq || !dot)
		return jm_err_set(err, JM_EXIT_INPUT, "%s: expected section.key=value", loc);

	char *lhs = jm_xasprintf("%.*s", (int)(eq - assignment), assignment);
	char *sec_name = trim(lhs);
	char *name = strchr(sec_name, '.');
	*name++ = '\0';
	sec_name = trim(sec_name);
	name = trim(name);
	int sec = section_index(sec_name), rc;
	if (sec < 0) {
		const char *best = NULL;
		int best_d = 99;
		for (int i = 0; i < NSECTIONS; i++)
			jm_suggest_consider(sec_name, sections[i].name, &best, &best_d);
		if (best)
			rc = jm_err_set(err, JM_EXIT_INPUT, "%s: unknown section [%s] (did you mean [%s]?)",
					loc, sec_name, best);
		else
			rc = jm_err_set(err, JM_EXIT_INPUT, "%s: unknown section [%s]", loc, sec_name);
	} else {
		rc = apply(f, sec, name, eq + 1, loc, -1, err);
	}
	free(lhs);
	return rc;
}

/* ---- checks on the files a flow names --------------------------------------- */

int jm_flow_check_files(const jm_flow *f, jm_err *err)
{
	char *paths[JM_IDX_NFILES];
	jm_err why = {0};
	char loc[300];

	if (jm_flow_validate(f, err) < 0)
		return -1;
	if (jm_flow_is_tabular(f))
		return 0; /* a CSV is opened, and checked, when the run loads it */
	if (jm_dataset_find(f->data.dir, paths, &why) == 0) {
		for (int i = 0; i < JM_IDX_NFILES; i++)
			free(paths[i]);
		return 0;
	}
	int dir_given = f->key_line[key_index(K_DIR)] != 0;
	int packaged = !strcmp(f->data.dir, JM_FMNIST_DIR);
	key_location(f, dir_given ? K_DIR : K_SOURCE, loc, sizeof loc);
	return jm_err_set(err, JM_EXIT_INPUT, "%s: [data] %s: %s%s", loc,
			  dir_given ? "dir" : "source", why.msg,
			  packaged ? "; install the Debian package " JM_FMNIST_PACKAGE
				     " (apt install " JM_FMNIST_PACKAGE ")" : "");
}

/* ---- writing ------------------------------------------------------------- */

char *jm_flow_format(const jm_flow *f)
{
	size_t cap = 4096, len = 0;
	char *out = jm_xmalloc(cap);
	const char *cur = NULL;
	out[0] = '\0';
	for (int i = 0; i < NKEYS; i++) {
		const key *k = &keys[i];
		char *v = type_ops[k->type].format(f, k);
		char *line = cur && !strcmp(cur, k->section)
				     ? jm_xasprintf("%s = %s\n", k->name, v)
				     : jm_xasprintf("%s[%s]\n%s = %s\n", cur ? "\n" : "", k->section,
						    k->name, v);
		cur = k->section;
		size_t n = strlen(line);
		while (len + n + 1 > cap)
			out = jm_xrealloc(out, cap *= 2);
		memcpy(out + len, line, n + 1);
		len += n;
		free(line);
		free(v);
		/* the searched keys close the [search] section */
		int last_of_search = !strcmp(k->section, "search") &&
				     (i + 1 == NKEYS || strcmp(keys[i + 1].section, "search"));
		for (int j = 0; last_of_search && j < f->search.n_params; j++) {
			line = jm_xasprintf("%s = %s\n", f->search.params[j].key,
					    f->search.params[j].spec);
			n = strlen(line);
			while (len + n + 1 > cap)
				out = jm_xrealloc(out, cap *= 2);
			memcpy(out + len, line, n + 1);
			len += n;
			free(line);
		}
	}
	return out;
}

void jm_flow_foreach(const jm_flow *f,
		     void (*fn)(const char *key, const char *value, void *ctx), void *ctx)
{
	for (int i = 0; i < NKEYS; i++) {
		char *v = type_ops[keys[i].type].format(f, &keys[i]);
		char *name = jm_xasprintf("%s.%s", keys[i].section, keys[i].name);
		fn(name, v, ctx);
		free(name);
		free(v);
	}
}

int jm_flow_line(const jm_flow *f, const char *dotted)
{
	const key *k = key_lookup(dotted);
	return k ? f->key_line[key_index(k)] : 0;
}

void jm_flow_locate(const jm_flow *f, const char *dotted, char *buf, size_t n)
{
	const key *k = key_lookup(dotted);
	if (k)
		key_location(f, k, buf, n);
	else
		snprintf(buf, n, "%s", f->name ? f->name : "flow");
}

char *jm_flow_get(const jm_flow *f, const char *dotted)
{
	const key *k = key_lookup(dotted);
	return k ? type_ops[k->type].format(f, k) : NULL;
}

int jm_flow_key_count(void)
{
	return NKEYS;
}

void jm_flow_key_info(int i, jm_flow_keyinfo *out)
{
	const key *k = &keys[i];
	memset(out, 0, sizeof *out);
	out->section = k->section;
	out->key = k->name;
	out->type = type_ops[k->type].name;
	out->def = k->def;
	out->choices = k->choices;
	range_text(k, out->range, sizeof out->range);
	/* drop the leading blank (and "in ") of the message form */
	char *r = out->range;
	size_t skip = !strncmp(r, " in ", 4) ? 4 : r[0] == ' ';
	memmove(r, r + skip, strlen(r + skip) + 1);
	if (k->auto_ok)
		snprintf(r + strlen(r), sizeof out->range - strlen(r), " or auto");
	out->help = k->help;
}
