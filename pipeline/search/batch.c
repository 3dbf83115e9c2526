/*
 * batch.c: a hyperparameter search under `jianmo --batch`.  The parent
 * process proposes, the trials train in child processes, and the store is
 * where they meet:
 *
 *   [search] ──space──▶ jm_search (sampler.h)
 *       │ propose; the points of trials still running are pending
 *       ▼
 *   trial record: kind trial, parent = the search, status queued, its
 *   flow = the search's flow with the values set (as --set does) and the
 *   search stripped, so `--rerun TRIAL` replays it as a plain run
 *       │ fork + exec `jianmo --batch --trial ID`, up to `workers` at once
 *       ▼
 *   the child trains; after each epoch it asks jm_prune_should_stop() over
 *   its siblings' histories in the store (jm_trial_pruner) ──▶ done,
 *   pruned or failed
 *       │ waitpid
 *       ▼
 *   the parent reads the status and the metric from the store ──tell──▶
 *
 * Before anything is stored, [search] metric is settled against the
 * trials' task (settle_metric): auto becomes val_acc or val_loss, and a
 * metric the task never logs is refused, so no trial trains for a number
 * it will not record.  With [data] task = auto that reads the table once.
 *
 * A trial is a whole process (exec, not a bare fork): a crash, an abort or
 * a leak in one never reaches the search, which records it as failed with
 * the reason and goes on.  A stop (SIGINT/SIGTERM) is passed to the
 * children as SIGTERM; they checkpoint and end `stopped`, and so does the
 * search.  If the parent dies, the kernel sends its children SIGTERM
 * (PR_SET_PDEATHSIG), so none trains on unwatched.  `--resume SEARCH` tells
 * the sampler every finished trial again, resumes stopped or crashed
 * trials from their checkpoints (starts them again without one) and goes
 * on to `trials`.
 *
 * On a machine with several GPUs, a search whose [train] device is cuda or
 * auto starts each trial with --device cuda:K, K the GPU with the fewest of
 * its trials running (the lowest such K): with workers = the GPU count,
 * one trial on each.
 *
 * Tests stop the parent at a known point with JIANMO_FAULT_SEARCH=N:SIG
 * (TERM, INT or KILL): it sends itself SIG once it has recorded N trials.
 */
#include "pipeline/search/batch.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/source.h"
#include "engine/backend.h"
#include "pipeline/notify.h"
#include "pipeline/report.h"
#include "pipeline/search/prune.h"
#include "pipeline/search/sampler.h"
#include "pipeline/search/space.h"
#include "pipeline/tabular.h"
#include "store/metric_writer.h"
#include "util/json.h"
#include "util/signals.h"
#include "util/strbuf.h"

typedef struct trial {
	int64_t run;
	int number;        /* its number in the search, as the store gave it
	                    * (kept when other trials are deleted) */
	pid_t pid;         /* the child while it runs, else 0 */
	int gpu;           /* its place in gpus[] when started, -1: its flow's device */
	int resume;        /* start it with --resume (it has a checkpoint) */
	double *x;         /* its point, space->n values */
} trial;

typedef struct search {
	const jm_batch_opts *o;
	jm_flow *flow;
	jm_store *store;
	jm_space *space;
	jm_search *sampler;
	jm_metric_writer *mw;
	jm_report rep;
	FILE *log;
	int64_t run;         /* the search run */
	char *name;          /* its flow's name, for the trials' records */
	char exe[4096];      /* this jianmo, for the children */
	int ngpu;            /* GPUs to share out (0: trials take the flow's device) */
	int gpus[64];        /* their device numbers (jm_backend_cuda_gpus) */
	int maximize;

	trial *trials;       /* every trial record, in order */
	int ntrials, cap;
	int *queue;          /* indices of trials to (re)start, oldest first */
	int nqueue;
	int running;
	int exhausted;       /* a finite space has no point left */

	int told;            /* results told in this process */
	int ndone, npruned, nfailed;
	int best;            /* index of the best trial, -1: none */
	double best_value;

	int stopping;        /* the children have been sent SIGTERM */
	int64_t fault_after; /* JIANMO_FAULT_SEARCH */
	int fault_signal;
} search;

/* ---- messages ------------------------------------------------------------ */

static void search_log(void *ctx, const char *msg)
{
	search *s = ctx;
	if (!strncmp(msg, "search: ", 8))
		msg += 8; /* said below with the search's id */
	if (s->log) {
		/* as jm_report's log lines: local time, then the line */
		char when[32];
		time_t now = time(NULL);
		struct tm tm;
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
		fprintf(s->log, "%s %s\n", when, msg);
		fflush(s->log);
	}
	fprintf(stderr, "jianmo: search %lld: %s\n", (long long)s->run, msg);
}

/* "train.lr=0.0003 train.batch=64" */
static void point_text(const search *s, const double *x, jm_buf *b)
{
	char v[128];
	for (int i = 0; i < s->space->n; i++) {
		jm_space_format(s->space, i, x[i], v, sizeof v);
		jm_buf_printf(b, "%s%s=%s", i ? " " : "", s->space->p[i].name, v);
	}
}

/* {"train.lr":0.0003,"model.act":"gelu"} */
static void point_json(const search *s, const double *x, jm_buf *b)
{
	char v[128];
	jm_buf_addch(b, '{');
	for (int i = 0; i < s->space->n; i++) {
		const jm_param *p = &s->space->p[i];
		jm_buf_addstr(b, i ? "," : "");
		jm_json_add_str(b, p->name, 0);
		jm_buf_addch(b, ':');
		if (p->kind == JM_PARAM_CHOICE && !p->numbers) {
			jm_space_format(s->space, i, x[i], v, sizeof v);
			jm_json_add_str(b, v, 0);
		} else {
			jm_json_add_num(b, p->kind == JM_PARAM_CHOICE ? p->numbers[(int)x[i]] : x[i], 0);
		}
	}
	jm_buf_addch(b, '}');
}

/* ---- the store ------------------------------------------------------------- */

static int sql_fail(search *s, jm_err *err)
{
	return jm_err_set(err, JM_EXIT_FAIL, "store: %s", sqlite3_errmsg(jm_store_db(s->store)));
}

typedef struct outcome {
	char status[16];
	char error[1024];
	double best, last;   /* of the metric; NaN when it has none */
	int64_t epochs;
} outcome;

static int read_outcome(search *s, int64_t run, outcome *out, jm_err *err)
{
	sqlite3 *db = jm_store_db(s->store);
	sqlite3_stmt *st = NULL;
	memset(out, 0, sizeof *out);
	out->best = out->last = NAN;
	if (sqlite3_prepare_v2(db, "SELECT status, IFNULL(error, ''), "
				   "(SELECT min FROM metric_summary WHERE run = ?1 AND key = ?2), "
				   "(SELECT max FROM metric_summary WHERE run = ?1 AND key = ?2), "
				   "(SELECT last FROM metric_summary WHERE run = ?1 AND key = ?2), "
				   "(SELECT last FROM metric_summary WHERE run = ?1 AND key = 'epoch') "
				   "FROM runs WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
		return sql_fail(s, err);
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_text(st, 2, s->flow->search.metric, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return jm_err_set(err, JM_EXIT_FAIL, "search %lld: trial run %lld is gone",
				  (long long)s->run, (long long)run);
	}
	snprintf(out->status, sizeof out->status, "%s", sqlite3_column_text(st, 0));
	snprintf(out->error, sizeof out->error, "%s", sqlite3_column_text(st, 1));
	int c = s->maximize ? 3 : 2;
	if (sqlite3_column_type(st, c) != SQLITE_NULL)
		out->best = sqlite3_column_double(st, c);
	if (sqlite3_column_type(st, 4) != SQLITE_NULL)
		out->last = sqlite3_column_double(st, 4);
	out->epochs = sqlite3_column_int64(st, 5);
	sqlite3_finalize(st);
	return 0;
}

static int run_has_checkpoint(search *s, int64_t run)
{
	char path[4096];
	struct stat sb;
	snprintf(path, sizeof path, "%s/runs/%lld/checkpoint.safetensors", jm_store_home(s->store),
		 (long long)run);
	return stat(path, &sb) == 0;
}

/* ---- the trials ------------------------------------------------------------ */

static trial *trial_add(search *s, int64_t run, int number, const double *x)
{
	if (s->ntrials == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->trials = jm_xrealloc(s->trials, (size_t)s->cap * sizeof *s->trials);
		s->queue = jm_xrealloc(s->queue, (size_t)s->cap * sizeof *s->queue);
	}
	trial *t = &s->trials[s->ntrials++];
	memset(t, 0, sizeof *t);
	t->run = run;
	t->number = number;
	t->x = jm_xmalloc((size_t)s->space->n * sizeof *t->x);
	memcpy(t->x, x, (size_t)s->space->n * sizeof *t->x);
	return t;
}

/* The trial's flow: the search's, with x set as --set would, the search
 * stripped and no notification (the search sends one).  NULL with err
 * (the values break a rule between keys, say min_lr > lr). */
static jm_flow *trial_flow(search *s, const double *x, jm_err *err)
{
	jm_flow *f = jm_flow_dup(s->flow);
	jm_flow_search_strip(f);
	char v[128];
	int rc = jm_flow_set(f, "notify.url=", err);
	for (int i = 0; rc == 0 && i < s->space->n; i++) {
		jm_space_format(s->space, i, x[i], v, sizeof v);
		char *set = jm_xasprintf("%s=%s", s->space->p[i].name, v);
		rc = jm_flow_set(f, set, err);
		free(set);
	}
	if (rc == 0)
		rc = jm_flow_validate(f, err);
	if (rc < 0) {
		jm_flow_free(f);
		return NULL;
	}
	return f;
}

typedef struct param_ctx {
	jm_store *store;
	int64_t run;
	const jm_flow *flow;   /* the trial's */
	const jm_space *space; /* the searched keys */
} param_ctx;

/* A trial's params are a plain run's (the keys with a value that matter
 * to it, jm_flow_key_matters), and every searched key whatever its value:
 * a resumed search reads its trials' points back from them. */
static void store_param(const char *key, const char *value, void *ctx)
{
	param_ctx *p = ctx;
	int searched = 0;
	for (int i = 0; i < p->space->n && !searched; i++)
		searched = !strcmp(p->space->p[i].name, key);
	if (!searched && (!value[0] || !strncmp(key, "search.", 7) ||
			  !jm_flow_key_matters(p->flow, key)))
		return;
	jm_store_param_set(p->store, p->run, key, value, NULL);
}

/* Record a new trial at x, queued (or failed at once when its flow is
 * invalid: *why says so). */
static int trial_create(search *s, const double *x, int64_t *run, char *why, size_t n,
			jm_err *err)
{
	jm_err ferr = {0};
	jm_flow *f = trial_flow(s, x, &ferr);
	char *text = jm_flow_format(f ? f : s->flow);
	int64_t flow_id = 0;
	int rc = jm_store_flow_put(s->store, s->name, text, &flow_id, err);
	free(text);
	jm_run_spec spec = {
		.kind = "trial",
		.parent = s->run,
		.flow_id = flow_id,
		.seed = (uint64_t)s->flow->train.seed,
		.device = "cpu",
	};
	if (rc == 0)
		rc = jm_store_run_create(s->store, &spec, run, err);
	if (rc == 0 && f) {
		param_ctx pc = {s->store, *run, f, s->space};
		jm_flow_foreach(f, store_param, &pc);
		rc = jm_store_run_set_status(s->store, *run, JM_RUN_QUEUED, NULL, err);
	} else if (rc == 0) {
		/* no flow to take params from: the searched values at least */
		char v[128];
		for (int i = 0; i < s->space->n; i++) {
			jm_space_format(s->space, i, x[i], v, sizeof v);
			jm_store_param_set(s->store, *run, s->space->p[i].name, v, NULL);
		}
		snprintf(why, n, "%s", ferr.msg);
		rc = jm_store_run_set_status(s->store, *run, JM_RUN_FAILED, ferr.msg, err);
	}
	why[0] = f || rc < 0 ? '\0' : why[0];
	jm_flow_free(f);
	return rc;
}

/* fork + exec `jianmo --home HOME --batch --trial|--resume ID`, its output
 * to runs/ID/output.txt. */
/* The GPU with the fewest trials running on it (the lowest such), as its
 * place in gpus[], or -1 when the trials keep the flow's device: no GPU to
 * share out, or only cuda:0, which the flow's device means already. */
static int pick_gpu(const search *s)
{
	if (s->ngpu == 0 || (s->ngpu == 1 && s->gpus[0] == 0))
		return -1;
	int best = 0, best_n = INT32_MAX;
	for (int k = 0; k < s->ngpu; k++) {
		int n = 0;
		for (int i = 0; i < s->ntrials; i++)
			n += s->trials[i].pid > 0 && s->trials[i].gpu == k;
		if (n < best_n)
			best = k, best_n = n;
	}
	return best;
}

static int trial_spawn(search *s, trial *t, jm_err *err)
{
	char id[32], out[4096], device[32];
	snprintf(id, sizeof id, "%lld", (long long)t->run);
	char *dir = jm_store_run_dir(s->store, t->run, err);
	if (!dir)
		return -1;
	snprintf(out, sizeof out, "%s/output.txt", dir);
	free(dir);
	t->gpu = pick_gpu(s);
	snprintf(device, sizeof device, "cuda:%d", t->gpu >= 0 ? s->gpus[t->gpu] : 0);
	char *argv[] = {s->exe, "--home", (char *)jm_store_home(s->store), "--batch",
			t->resume ? "--resume" : "--trial", id,
			t->gpu >= 0 ? "--device" : NULL, device, NULL};
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return jm_err_set(err, JM_EXIT_FAIL, "cannot start trial %d: fork: %s", t->number,
				  strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		int in = open("/dev/null", O_RDONLY);
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (in >= 0)
			dup2(in, STDIN_FILENO);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execv(s->exe, argv);
		fprintf(stderr, "jianmo: cannot run %s: %s\n", s->exe, strerror(errno));
		_exit(127);
	}
	t->pid = pid;
	s->running++;
	return 0;
}

static void trial_started(search *s, const trial *t)
{
	jm_buf b = JM_BUF_INIT;
	if (s->o->json) {
		jm_buf_printf(&b, "\"search\":%lld,\"trial\":%d,\"trials\":%lld,\"run\":%lld,"
			      "\"resumed\":%s,\"params\":", (long long)s->run, t->number,
			      (long long)s->flow->search.trials, (long long)t->run,
			      t->resume ? "true" : "false");
		point_json(s, t->x, &b);
		jm_report_json(&s->rep, "trial_start", jm_buf_str(&b));
	} else {
		point_text(s, t->x, &b);
		jm_report_msg(&s->rep, "trial %d/%lld (run %lld)%s: %s", t->number,
			      (long long)s->flow->search.trials, (long long)t->run,
			      t->resume ? " resumed" : "", jm_buf_str(&b));
	}
	jm_buf_release(&b);
}

/* The trial's result, told to the sampler and reported. */
static int trial_finished(search *s, trial *t, const outcome *oc, jm_err *err)
{
	jm_trial_state state = JM_TRIAL_FAILED;
	double value = NAN;
	const char *status = oc->status, *why = oc->error;
	char buf[600];
	if (!strcmp(status, JM_RUN_DONE)) {
		state = JM_TRIAL_COMPLETE;
		value = oc->best;
		if (isnan(value)) {
			snprintf(buf, sizeof buf, "no %s recorded", s->flow->search.metric);
			why = buf;
			state = JM_TRIAL_FAILED;
		}
	} else if (!strcmp(status, JM_RUN_PRUNED)) {
		state = JM_TRIAL_PRUNED;
		value = oc->last;
	}
	if (jm_search_tell(s->sampler, t->x, value, state, err) < 0)
		return -1;
	s->told++;
	if (state == JM_TRIAL_COMPLETE) {
		s->ndone++;
		int better = s->best < 0 || (s->maximize ? value > s->best_value : value < s->best_value);
		if (better) {
			s->best = (int)(t - s->trials);
			s->best_value = value;
			/* step: trials finished, this session's and earlier ones */
			jm_metric_log(s->mw, s->run, s->flow->search.metric,
				      s->ndone + s->npruned + s->nfailed, value);
			jm_metric_writer_flush(s->mw, NULL);
		}
	} else if (state == JM_TRIAL_PRUNED) {
		s->npruned++;
	} else {
		s->nfailed++;
	}

	const char *metric = s->flow->search.metric;
	const trial *b = s->best >= 0 ? &s->trials[s->best] : NULL;
	jm_buf m = JM_BUF_INIT;
	if (s->o->json) {
		jm_buf_printf(&m, "\"search\":%lld,\"trial\":%d,\"trials\":%lld,\"run\":%lld,"
			      "\"status\":\"%s\",\"epochs\":%lld,\"value\":", (long long)s->run,
			      t->number, (long long)s->flow->search.trials, (long long)t->run,
			      state == JM_TRIAL_COMPLETE ? "done" : state == JM_TRIAL_PRUNED ? "pruned"
											       : "failed",
			      (long long)oc->epochs);
		jm_json_add_num(&m, value, 0);
		jm_buf_addstr(&m, ",\"error\":");
		jm_json_add_str(&m, state == JM_TRIAL_FAILED ? why : NULL, 0);
		jm_buf_addstr(&m, ",\"best\":");
		jm_json_add_num(&m, b ? s->best_value : NAN, 0);
		jm_buf_printf(&m, ",\"best_run\":%lld", b ? (long long)b->run : 0LL);
		jm_report_json(&s->rep, "trial_end", jm_buf_str(&m));
	} else {
		char bests[128] = "no complete trial yet";
		if (b)
			snprintf(bests, sizeof bests, "best %s %.4f (run %lld)", metric, s->best_value,
				 (long long)b->run);
		if (state == JM_TRIAL_COMPLETE)
			jm_report_msg(&s->rep, "trial %d/%lld (run %lld) done: %s %.4f; %s", t->number,
				      (long long)s->flow->search.trials, (long long)t->run, metric,
				      value, bests);
		else if (state == JM_TRIAL_PRUNED)
			jm_report_msg(&s->rep, "trial %d/%lld (run %lld) pruned after %lld epoch%s: "
				      "%s %.4f; %s", t->number, (long long)s->flow->search.trials,
				      (long long)t->run, (long long)oc->epochs,
				      oc->epochs == 1 ? "" : "s", metric, value, bests);
		else
			jm_report_msg(&s->rep, "trial %d/%lld (run %lld) failed: %s; %s", t->number,
				      (long long)s->flow->search.trials, (long long)t->run,
				      why[0] ? why : "no reason recorded", bests);
	}
	jm_buf_release(&m);
	if (s->fault_signal && s->told == s->fault_after)
		raise(s->fault_signal);
	return 0;
}

/* The last "jianmo: ..." line the trial's process wrote (its error, when
 * it failed before the run was its own: a bad device, say) into buf,
 * without the prefix; "" when there is none. */
static void last_error_line(search *s, int64_t run, char *buf, size_t n)
{
	buf[0] = '\0';
	char *dir = jm_store_run_dir(s->store, run, NULL);
	if (!dir)
		return;
	char path[4096], tail[4096];
	snprintf(path, sizeof path, "%s/output.txt", dir);
	free(dir);
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return;
	long size = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
	long from = size > (long)sizeof tail - 1 ? size - (long)sizeof tail + 1 : 0;
	size_t got = size >= 0 && fseek(fp, from, SEEK_SET) == 0
			     ? fread(tail, 1, sizeof tail - 1, fp) : 0;
	fclose(fp);
	tail[got] = '\0';
	for (char *line = tail, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!strncmp(line, "jianmo: ", 8))
			snprintf(buf, n, "%s", line + 8);
	}
}

/* A child has ended: see what it left in the store. */
static int trial_reap(search *s, trial *t, int wstatus, jm_err *err)
{
	outcome oc;
	t->pid = 0;
	s->running--;
	if (read_outcome(s, t->run, &oc, err) < 0)
		return -1;
	int alive_status = !strcmp(oc.status, JM_RUN_RUNNING) || !strcmp(oc.status, JM_RUN_QUEUED);
	if (s->stopping && (alive_status || !strcmp(oc.status, JM_RUN_STOPPED))) {
		/* stopped with the search: resumed with it, from its checkpoint
		 * if it got that far, else from the start */
		if (alive_status)
			return jm_store_metrics_truncate(s->store, t->run, -1, err) < 0 ? -1 :
			       jm_store_run_set_status(s->store, t->run, JM_RUN_QUEUED, NULL, err);
		return 0;
	}
	if (alive_status || !strcmp(oc.status, JM_RUN_STOPPED)) {
		char why[sizeof oc.error], said[512];
		if (WIFSIGNALED(wstatus))
			snprintf(why, sizeof why, "the trial's process was killed by signal %d (%s)",
				 WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
		else if (!strcmp(oc.status, JM_RUN_STOPPED))
			snprintf(why, sizeof why, "stopped outside its search");
		else if (last_error_line(s, t->run, said, sizeof said), said[0])
			snprintf(why, sizeof why, "the trial's process exited with status %d: %s",
				 WEXITSTATUS(wstatus), said);
		else
			snprintf(why, sizeof why, "the trial's process exited with status %d (see "
				 "runs/%lld/output.txt)", WEXITSTATUS(wstatus), (long long)t->run);
		if (jm_store_run_set_status(s->store, t->run, JM_RUN_FAILED, why, err) < 0)
			return -1;
		snprintf(oc.status, sizeof oc.status, "%s", JM_RUN_FAILED);
		snprintf(oc.error, sizeof oc.error, "%s", why);
	}
	return trial_finished(s, t, &oc, err);
}

/* ---- the loop ---------------------------------------------------------------- */

static int start_next(search *s, jm_err *err)
{
	trial *t;
	if (s->nqueue > 0) {
		t = &s->trials[s->queue[0]];
		memmove(s->queue, s->queue + 1, (size_t)--s->nqueue * sizeof *s->queue);
	} else {
		int n = s->space->n, np = 0;
		double *pending = jm_xmalloc((size_t)(s->running ? s->running : 1) * (size_t)n *
					     sizeof *pending);
		double *x = jm_xmalloc((size_t)n * sizeof *x);
		for (int i = 0; i < s->ntrials; i++)
			if (s->trials[i].pid)
				memcpy(pending + (size_t)np++ * (size_t)n, s->trials[i].x,
				       (size_t)n * sizeof *x);
		int rc = jm_search_propose(s->sampler, pending, np, x, err);
		free(pending);
		if (rc != 0) {
			free(x);
			if (rc > 0) {
				s->exhausted = 1;
				jm_report_msg(&s->rep, "search %lld: every point of the space has been "
					      "tried", (long long)s->run);
				return 0;
			}
			return -1;
		}
		int64_t run;
		int number = 0;
		char why[1024] = "";
		if (trial_create(s, x, &run, why, sizeof why, err) < 0 ||
		    jm_store_trial_number(s->store, run, &number, err) < 0) {
			free(x);
			return -1;
		}
		t = trial_add(s, run, number, x);
		free(x);
		if (why[0]) {
			outcome oc = {.best = NAN, .last = NAN};
			snprintf(oc.status, sizeof oc.status, "%s", JM_RUN_FAILED);
			snprintf(oc.error, sizeof oc.error, "%s", why);
			return trial_finished(s, t, &oc, err);
		}
	}
	trial_started(s, t);
	return trial_spawn(s, t, err);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int search_loop(search *s, jm_err *err)
{
	int64_t budget = s->flow->search.trials;
	int workers = (int)s->flow->search.workers;
	for (;;) {
		if (jm_signals_stop_requested() && !s->stopping) {
			s->stopping = 1;
			for (int i = 0; i < s->ntrials; i++)
				if (s->trials[i].pid)
					kill(s->trials[i].pid, SIGTERM);
		}
		while (!s->stopping && s->running < workers &&
		       (s->nqueue > 0 || (!s->exhausted && s->ntrials < budget)))
			if (start_next(s, err) < 0)
				return -1;
		if (s->running == 0)
			return 0;
		int wstatus;
		pid_t pid = waitpid(-1, &wstatus, WNOHANG);
		if (pid < 0 && errno != EINTR)
			return jm_err_set(err, JM_EXIT_FAIL, "waitpid: %s", strerror(errno));
		if (pid <= 0) {
			sleep_ms(50);
			continue;
		}
		for (int i = 0; i < s->ntrials; i++)
			if (s->trials[i].pid == pid && trial_reap(s, &s->trials[i], wstatus, err) < 0)
				return -1;
	}
}

/* ---- setting up: a new search, or one resumed ------------------------------------ */

/* A search's params: its [search] keys, each searched key as its range,
 * and the other keys as a run keeps them (a value, and they matter). */
static void store_search_param(const char *key, const char *value, void *ctx)
{
	search *s = ctx;
	int searched = 0;
	for (int i = 0; i < s->flow->search.n_params; i++)
		if (!strcmp(s->flow->search.params[i].key, key)) {
			value = s->flow->search.params[i].spec;
			searched = 1;
		}
	if (!searched && strncmp(key, "search.", 7) &&
	    (!value[0] || !jm_flow_key_matters(s->flow, key)))
		return;
	jm_store_param_set(s->store, s->run, key, value, NULL);
}

static int search_create(search *s, jm_err *err)
{
	char *text = jm_flow_format(s->flow);
	const char *path = s->o->flow_path ? s->o->flow_path : s->flow->name;
	const char *base = strrchr(path, '/');
	int64_t flow_id = 0;
	s->name = jm_xstrdup(base ? base + 1 : path);
	int rc = jm_store_flow_put(s->store, s->name, text, &flow_id, err);
	free(text);
	if (rc < 0)
		return -1;
	jm_run_spec spec = {
		.kind = "search",
		.flow_id = flow_id,
		.name = s->name,
		.seed = (uint64_t)s->flow->search.seed,
		.device = "cpu",
	};
	if (jm_store_run_create(s->store, &spec, &s->run, err) < 0)
		return -1;
	jm_flow_foreach(s->flow, store_search_param, s);
	return 0;
}

/* Wait for trials still running from before (orphans of a dead parent get
 * SIGTERM and are stopping); mark those whose process is gone crashed. */
static int wait_orphans(search *s, jm_err *err)
{
	sqlite3 *db = jm_store_db(s->store);
	for (int tries = 0; tries < 1200; tries++) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(db, "SELECT id, pid FROM runs WHERE parent = ? AND status = "
					   "'running'", -1, &st, NULL) != SQLITE_OK)
			return sql_fail(s, err);
		sqlite3_bind_int64(st, 1, s->run);
		int alive = 0;
		while (sqlite3_step(st) == SQLITE_ROW) {
			int64_t run = sqlite3_column_int64(st, 0);
			pid_t pid = (pid_t)sqlite3_column_int64(st, 1);
			if (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM))
				alive++;
			else
				jm_store_run_set_status(s->store, run, JM_RUN_CRASHED, NULL, NULL);
		}
		sqlite3_finalize(st);
		if (!alive)
			return 0;
		if (tries == 0)
			jm_report_msg(&s->rep, "search %lld: waiting for %d trial%s of the last "
				      "session to stop", (long long)s->run, alive, alive == 1 ? "" : "s");
		sleep_ms(100);
	}
	return jm_err_set(err, JM_EXIT_INPUT, "search %lld: trials of the last session are still "
			  "running", (long long)s->run);
}

static int search_resume(search *s, int64_t run, jm_err *err)
{
	sqlite3 *db = jm_store_db(s->store);
	sqlite3_stmt *st = NULL;
	s->run = run;
	if (sqlite3_prepare_v2(db, "SELECT IFNULL(name, '') FROM runs WHERE id = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return sql_fail(s, err);
	sqlite3_bind_int64(st, 1, run);
	s->name = jm_xstrdup(sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0)
							   : "");
	sqlite3_finalize(st);
	if (jm_store_run_reopen(s->store, run, NULL, err) < 0 || wait_orphans(s, err) < 0)
		return -1;

	if (sqlite3_prepare_v2(db, "SELECT id, status, IFNULL(number, 0) FROM runs WHERE parent = ? "
			       "ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return sql_fail(s, err);
	sqlite3_bind_int64(st, 1, run);
	int n = s->space->n, rc = 0, again = 0;
	double *x = jm_xmalloc((size_t)n * sizeof *x);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		char status[16];
		snprintf(status, sizeof status, "%s", sqlite3_column_text(st, 1));
		/* the trial's point from its params */
		for (int i = 0; rc == 0 && i < n; i++) {
			sqlite3_stmt *p = NULL;
			sqlite3_prepare_v2(db, "SELECT value FROM params WHERE run = ? AND key = ?", -1,
					   &p, NULL);
			sqlite3_bind_int64(p, 1, id);
			sqlite3_bind_text(p, 2, s->space->p[i].name, -1, SQLITE_STATIC);
			const char *v = sqlite3_step(p) == SQLITE_ROW ? (const char *)sqlite3_column_text(p, 0)
								      : "";
			rc = jm_space_parse_value(s->space, i, v, &x[i], err);
			sqlite3_finalize(p);
		}
		if (rc < 0) {
			jm_err_prefix(err, "search %lld: trial run %lld", (long long)run, (long long)id);
			break;
		}
		trial *t = trial_add(s, id, sqlite3_column_int(st, 2), x);
		outcome oc;
		if (!strcmp(status, JM_RUN_DONE) || !strcmp(status, JM_RUN_PRUNED) ||
		    !strcmp(status, JM_RUN_FAILED)) {
			/* told quietly: the table is in `jianmo show` */
			rc = read_outcome(s, id, &oc, err);
			int state = !strcmp(status, JM_RUN_DONE) && !isnan(oc.best) ? JM_TRIAL_COMPLETE
				    : !strcmp(status, JM_RUN_PRUNED)                  ? JM_TRIAL_PRUNED
											: JM_TRIAL_FAILED;
			double v = state == JM_TRIAL_COMPLETE ? oc.best : oc.last;
			if (rc == 0)
				rc = jm_search_tell(s->sampler, t->x, v, (jm_trial_state)state, err);
			if (state == JM_TRIAL_COMPLETE &&
			    (s->best < 0 || (s->maximize ? v > s->best_value : v < s->best_value))) {
				s->best = s->ntrials - 1;
				s->best_value = v;
			}
			s->ndone += state == JM_TRIAL_COMPLETE;
			s->npruned += state == JM_TRIAL_PRUNED;
			s->nfailed += state == JM_TRIAL_FAILED;
			continue;
		}
		/* queued, stopped or crashed: on again, from the checkpoint if any */
		t->resume = strcmp(status, JM_RUN_QUEUED) && run_has_checkpoint(s, id);
		if (!t->resume && strcmp(status, JM_RUN_QUEUED))
			rc = jm_store_metrics_truncate(s->store, id, -1, err) < 0 ? -1 :
			     jm_store_run_set_status(s->store, id, JM_RUN_QUEUED, NULL, err);
		s->queue[s->nqueue++] = s->ntrials - 1;
		again++;
	}
	sqlite3_finalize(st);
	free(x);
	if (rc == 0)
		jm_report_msg(&s->rep, "search %lld: resuming: %d of %lld trials recorded (%d done, "
			      "%d pruned, %d failed), %d to continue", (long long)run, s->ntrials,
			      (long long)s->flow->search.trials, s->ndone, s->npruned, s->nfailed,
			      again);
	return rc;
}

static int open_log(search *s, jm_err *err)
{
	char *dir = jm_store_run_dir(s->store, s->run, err);
	if (!dir)
		return -1;
	char *path = jm_xasprintf("%s/log.txt", dir);
	free(dir);
	s->log = fopen(path, "ae"); /* not inherited by the trials */
	int rc = s->log ? 0 : jm_err_set(err, JM_EXIT_FAIL, "%s: %s", path, strerror(errno));
	free(path);
	if (rc == 0)
		jm_report_set_log(&s->rep, s->log);
	return rc;
}

/* ---- the metric: one the trials log -------------------------------------------- */

/* Is a key of one of the blank-separated sections ("data clean") searched? */
static int searches_in(const jm_flow *f, const char *sections)
{
	for (int i = 0; i < f->search.n_params; i++) {
		const char *key = f->search.params[i].key;
		size_t len = strcspn(key, ".");
		for (const char *p = sections; *p;) {
			size_t n = strcspn(p, " ");
			if (n == len && !strncmp(p, key, len))
				return 1;
			p += n + (p[n] == ' ');
		}
	}
	return 0;
}

/* The trials' task when a CSV's [data] task is auto and the search
 * leaves [data] alone: the table read as a trial reads it (once, before
 * the first trial).  1 regression, 0 classification; -1 (why says so) when
 * the table loads only with values the search replaces; -2 with err when
 * no trial could load it. */
static int table_task(search *s, char *why, size_t n, jm_err *err)
{
	const jm_flow *f = s->flow;
	jm_tabular tb;
	jm_dataset *train = NULL, *test = NULL;
	jm_err lerr = {0};
	int rc = jm_tabular_load(&tb, f, NULL, s->o->json ? NULL : jm_source_progress_print, NULL,
				 &train, &test, &lerr);
	int task = rc < 0 ? -1 : tb.regression;
	jm_dataset_free(train);
	jm_dataset_free(test);
	jm_tabular_free(&tb);
	if (rc == 0)
		return task;
	if (!searches_in(f, "clean features split")) {
		/* every trial would load the same table the same way */
		*err = lerr;
		return -2;
	}
	snprintf(why, n, "the table loads only with values the search replaces (%s)", lerr.msg);
	return -1;
}

/* Make [search] metric one the trials log, before anything is stored:
 * auto becomes the task's (val_acc, or val_loss for a regression), and a
 * metric the task never logs (val_acc of a regression) is refused at its
 * line, rather than found missing after every trial has trained.  When the
 * task cannot be told up front, a named metric is left to each trial to
 * check (jm_trial_pruner_attach), and auto is refused. */
static int settle_metric(search *s, jm_err *err)
{
	jm_flow *f = s->flow;
	const char *m = f->search.metric;
	int task = jm_flow_task(f);
	if (task >= 0)
		return jm_flow_search_metric_settle(f, task, NULL, err);
	/* a loss is logged by both: nothing to tell */
	if (strcmp(m, "auto") && jm_flow_metric_logged(m, 0) && jm_flow_metric_logged(m, 1))
		return 0;
	char why[1200];
	if (jm_flow_is_tabular(f) && !searches_in(f, "data")) {
		task = table_task(s, why, sizeof why, err);
		if (task == -2)
			return -1;
		char because[300];
		snprintf(because, sizeof because, "[data] task = auto, from the target \"%s\"",
			 f->data.target);
		if (task >= 0)
			return jm_flow_search_metric_settle(f, task, because, err);
	} else {
		snprintf(why, sizeof why, "the search replaces [data] keys that decide it");
	}
	if (strcmp(m, "auto"))
		return 0;
	char loc[300];
	jm_flow_locate(f, "search.metric", loc, sizeof loc);
	return jm_err_set(err, JM_EXIT_INPUT, "%s: [search] metric: auto follows the task, and %s: "
			  "name the metric (val_loss is logged by both)", loc, why);
}

/* A direction against the metric's own finds the worst trials: taken as
 * written (it is what the flow says), but said at the start. */
static void warn_direction(search *s)
{
	const jm_flow *f = s->flow;
	int own = jm_flow_metric_maximize(f->search.metric);
	if (!strcmp(f->search.direction, "auto") || s->maximize == own)
		return;
	char loc[300];
	jm_flow_locate(f, "search.direction", loc, sizeof loc);
	jm_report_msg(&s->rep, "warning: %s: [search] direction = %s: the trial with the %s %s "
		      "counts as the best (auto: %s)", loc, f->search.direction,
		      s->maximize ? "highest" : "lowest", f->search.metric, own ? "max" : "min");
}

static int build_sampler(search *s, jm_err *err)
{
	const jm_flow *f = s->flow;
	s->space = jm_space_new();
	for (int i = 0; i < f->search.n_params; i++)
		if (jm_space_add(s->space, f->search.params[i].key, f->search.params[i].spec, NULL,
				 err) < 0)
			return -1; /* flow.c checked them: not reached */
	jm_search_method method = JM_SEARCH_BAYES;
	jm_search_method_parse(f->search.method, &method);
	s->sampler = jm_search_new(s->space, method, (uint64_t)f->search.seed, err);
	if (!s->sampler)
		return jm_err_prefix(err, "%s: [search]", f->name);
	s->maximize = jm_flow_search_maximize(f);
	jm_search_set_direction(s->sampler, s->maximize);
	jm_search_set_log(s->sampler, search_log, s);
	return 0;
}

static void read_fault(search *s)
{
	const char *v = getenv("JIANMO_FAULT_SEARCH");
	char *end;
	if (!v || !*v)
		return;
	long long n = strtoll(v, &end, 10);
	if (*end != ':' || n <= 0)
		return;
	static const struct { const char *name; int sig; } sigs[] = {
		{"TERM", SIGTERM}, {"INT", SIGINT}, {"KILL", SIGKILL},
	};
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
		if (!strcmp(end + 1, sigs[i].name)) {
			s->fault_after = n;
			s->fault_signal = sigs[i].sig;
		}
}

/* The end: the best trial, the status, the JSON line, the notification. */
static int search_end(search *s, const char *status, const char *error)
{
	jm_buf b = JM_BUF_INIT;
	const trial *best = s->best >= 0 ? &s->trials[s->best] : NULL;
	const char *metric = s->flow->search.metric;
	if (s->o->json) {
		jm_buf_printf(&b, "\"run\":%lld,\"status\":\"%s\",\"trials\":%d,\"done\":%d,"
			      "\"pruned\":%d,\"failed\":%d,\"metric\":\"%s\",\"best\":",
			      (long long)s->run, status, s->ntrials, s->ndone, s->npruned, s->nfailed,
			      metric);
		jm_json_add_num(&b, best ? s->best_value : NAN, 0);
		jm_buf_printf(&b, ",\"best_run\":%lld,\"best_params\":", best ? (long long)best->run : 0LL);
		if (best)
			point_json(s, best->x, &b);
		else
			jm_buf_addstr(&b, "null");
		jm_report_json(&s->rep, "end", jm_buf_str(&b));
	} else {
		jm_report_msg(&s->rep, "search %lld %s: %d trial%s (%d done, %d pruned, %d failed)",
			      (long long)s->run, status, s->ntrials, s->ntrials == 1 ? "" : "s",
			      s->ndone, s->npruned, s->nfailed);
		if (best) {
			point_text(s, best->x, &b);
			jm_report_msg(&s->rep, "best: run %lld (trial %d), %s %.4f: %s",
				      (long long)best->run, best->number, metric, s->best_value,
				      jm_buf_str(&b));
		}
		if (!strcmp(status, JM_RUN_STOPPED))
			jm_report_msg(&s->rep, "continue it with: jianmo --batch --resume %lld",
				      (long long)s->run);
	}
	jm_buf_release(&b);
	jm_err serr = {0};
	if (jm_store_run_set_status(s->store, s->run, status, error, &serr) < 0) {
		jm_err_print(&serr);
		return -1;
	}
	const char *url = s->flow->notify.url;
	if (url && *url) {
		jm_buf n = JM_BUF_INIT;
		jm_buf_printf(&n, "{\"run\":%lld,\"kind\":\"search\",\"status\":\"%s\",\"trials\":%d,"
			      "\"best_run\":%lld,\"best\":", (long long)s->run, status, s->ntrials,
			      best ? (long long)best->run : 0LL);
		jm_json_add_num(&n, best ? s->best_value : NAN, 0);
		jm_buf_addch(&n, '}');
		if (jm_notify_post(url, jm_buf_str(&n), (long)s->flow->notify.timeout, &serr) < 0)
			jm_report_msg(&s->rep, "warning: %s", serr.msg);
		jm_buf_release(&n);
	}
	return 0;
}

int jm_search_batch(const jm_batch_opts *o, jm_flow *flow, jm_store **store,
		    int64_t resume_run, const char *home)
{
	search ss = {.o = o, .flow = flow, .best = -1}, *s = &ss;
	jm_err err = {0};
	int rc = JM_EXIT_FAIL;
	jm_report_init(&s->rep, o->json, 0);
	read_fault(s);

	ssize_t len = readlink("/proc/self/exe", s->exe, sizeof s->exe - 1);
	if (len <= 0) {
		jm_err_set(&err, JM_EXIT_FAIL, "cannot find this program (/proc/self/exe): %s",
			   strerror(errno));
		goto input_error;
	}
	s->exe[len] = '\0';
	if (settle_metric(s, &err) < 0 || build_sampler(s, &err) < 0)
		goto input_error;
	if (!strcmp(flow->train.device, "cuda") || !strcmp(flow->train.device, "auto")) {
		int max = (int)(sizeof s->gpus / sizeof s->gpus[0]);
		s->ngpu = jm_backend_cuda_gpus(s->gpus, max);
		s->ngpu = s->ngpu < max ? s->ngpu : max;
	}
	jm_signals_install();
	if (!*store && jm_store_open(store, home, 0, &err) < 0)
		goto input_error;
	s->store = *store;
	if (resume_run ? search_resume(s, resume_run, &err) < 0 : search_create(s, &err) < 0) {
		if (!s->run)
			goto input_error;
		goto failed;
	}
	if (open_log(s, &err) < 0 || jm_metric_writer_open(&s->mw, s->store, 0, 0, &err) < 0)
		goto failed;
	if (!resume_run) {
		jm_buf b = JM_BUF_INIT;
		for (int i = 0; i < s->space->n; i++)
			jm_buf_printf(&b, "%s%s = %s", i ? ", " : "", s->space->p[i].name,
				      flow->search.params[i].spec);
		jm_report_msg(&s->rep, "search %lld: %lld trials, %s, %lld at a time, %s %s%s%s: %s",
			      (long long)s->run, (long long)flow->search.trials, flow->search.method,
			      (long long)flow->search.workers, s->maximize ? "maximise" : "minimise",
			      flow->search.metric, strcmp(flow->search.prune, "none") ? ", prune: " : "",
			      strcmp(flow->search.prune, "none") ? flow->search.prune : "",
			      jm_buf_str(&b));
		jm_buf_release(&b);
		warn_direction(s);
		/* trials beyond the GPUs share them: each its own context, copy
		 * of the data and part of the time (and batch = auto sees the
		 * memory the others hold) */
		if (s->ngpu > 0 && flow->search.workers > s->ngpu)
			jm_report_msg(&s->rep, "search %lld: %lld trials at a time share %d GPU%s",
				      (long long)s->run, (long long)flow->search.workers, s->ngpu,
				      s->ngpu == 1 ? "" : "s");
	}
	if (o->json) {
		jm_buf f = JM_BUF_INIT;
		jm_buf_printf(&f, "\"run\":%lld,\"kind\":\"search\",\"trials\":%lld,\"home\":",
			      (long long)s->run, (long long)flow->search.trials);
		jm_json_add_str(&f, jm_store_home(s->store), 0);
		jm_report_json(&s->rep, "start", jm_buf_str(&f));
		jm_buf_release(&f);
	}

	if (search_loop(s, &err) < 0)
		goto failed;
	if (s->stopping) {
		int sig = jm_signals_stop_requested();
		rc = search_end(s, JM_RUN_STOPPED, NULL) < 0 ? JM_EXIT_FAIL : 128 + (sig ? sig : SIGTERM);
	} else if (s->ndone == 0) {
		jm_err_set(&err, JM_EXIT_FAIL, "no trial completed");
		fprintf(stderr, "jianmo: search %lld failed: %s\n", (long long)s->run, err.msg);
		search_end(s, JM_RUN_FAILED, err.msg);
		rc = JM_EXIT_FAIL;
	} else {
		rc = search_end(s, JM_RUN_DONE, NULL) < 0 ? JM_EXIT_FAIL : JM_EXIT_OK;
	}
	goto out;

failed:
	/* stop what runs, record why */
	for (int i = 0; i < s->ntrials; i++)
		if (s->trials[i].pid) {
			kill(s->trials[i].pid, SIGTERM);
			waitpid(s->trials[i].pid, NULL, 0);
		}
	if (s->run)
		jm_store_run_set_status(s->store, s->run, JM_RUN_FAILED, err.msg, NULL);
	jm_report_clear(&s->rep);
	jm_err_print(&err);
	rc = err.code ? err.code : JM_EXIT_FAIL;
	goto out;
input_error:
	jm_err_print(&err);
	rc = err.code ? err.code : JM_EXIT_FAIL;
out:
	jm_metric_writer_close(s->mw, NULL);
	for (int i = 0; i < s->ntrials; i++)
		free(s->trials[i].x);
	free(s->trials);
	free(s->queue);
	free(s->name);
	jm_search_free(s->sampler);
	jm_space_free(s->space);
	if (s->log)
		fclose(s->log);
	return rc;
}

/* ---- the trial's side: should it be pruned? ----------------------------------------- */

struct jm_trial_pruner {
	int64_t search;
	jm_prune_opts opts;
	const char *metric;
};

static int prune_hook(jm_trainer *t, void *ctx, jm_err *err)
{
	jm_trial_pruner *p = ctx;
	sqlite3 *db = jm_store_db(t->store);
	sqlite3_stmt *st = NULL;
	if (jm_metric_writer_flush(t->mw, err) < 0)
		return -1;
	/* every sibling's history: (run, status, value) in run, step order */
	if (sqlite3_prepare_v2(db, "SELECT r.id, r.status, m.value, m.step FROM runs r LEFT JOIN metrics m "
				   "ON m.run = r.id AND m.key = ?2 WHERE r.parent = ?1 "
				   "ORDER BY r.id, m.step", -1, &st, NULL) != SQLITE_OK)
		return jm_err_set(err, JM_EXIT_FAIL, "store: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, p->search);
	sqlite3_bind_text(st, 2, p->metric, -1, SQLITE_STATIC);
	jm_prune_trial *trials = NULL;
	double **values = NULL;
	int n = 0, cap = 0, which = -1;
	int64_t last = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		if (!n || id != last) {
			if (n == cap) {
				cap = cap ? 2 * cap : 16;
				trials = jm_xrealloc(trials, (size_t)cap * sizeof *trials);
				values = jm_xrealloc(values, (size_t)cap * sizeof *values);
			}
			const char *status = (const char *)sqlite3_column_text(st, 1);
			trials[n] = (jm_prune_trial){
				.state = !strcmp(status, JM_RUN_DONE) ? JM_PRUNE_COMPLETE
					 : (!strcmp(status, JM_RUN_PRUNED) || !strcmp(status, JM_RUN_FAILED) ||
					    !strcmp(status, JM_RUN_CRASHED)) ? JM_PRUNE_PRUNED
									      : JM_PRUNE_RUNNING,
			};
			values[n] = NULL;
			if (id == t->run)
				which = n;
			last = id;
			n++;
		}
		jm_prune_trial *tr = &trials[n - 1];
		if (sqlite3_column_type(st, 3) == SQLITE_NULL)
			continue; /* the LEFT JOIN's row for a trial with no point yet */
		values[n - 1] = jm_xrealloc(values[n - 1], (size_t)(tr->nvalues + 1) * sizeof **values);
		values[n - 1][tr->nvalues++] = sqlite3_column_type(st, 2) == SQLITE_NULL
						       ? NAN : sqlite3_column_double(st, 2);
	}
	sqlite3_finalize(st);
	for (int i = 0; i < n; i++)
		trials[i].values = values[i];
	int stop = 0;
	if (which >= 0 && trials[which].nvalues >= t->st.epoch)
		stop = jm_prune_should_stop(&p->opts, trials, n, which, (int)t->st.epoch);
	for (int i = 0; i < n; i++)
		free(values[i]);
	free(values);
	free(trials);
	return stop;
}

int jm_trial_pruner_attach(jm_trainer *t, jm_trial_pruner **out, jm_err *err)
{
	*out = NULL;
	sqlite3 *db = jm_store_db(t->store);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT IFNULL(parent, 0) FROM runs WHERE id = ? AND kind = "
				   "'trial'", -1, &st, NULL) != SQLITE_OK)
		return jm_err_set(err, JM_EXIT_FAIL, "store: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, t->run);
	int64_t parent = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (!parent)
		return 0;
	/* the search could not tell every trial's task (it searches [data]
	 * keys): one whose task never logs the metric would train for
	 * nothing, then count as failed */
	const char *metric = t->flow->search.metric;
	if (!jm_flow_metric_logged(metric, t->regression))
		return jm_err_set(err, JM_EXIT_INPUT, "[search] metric: this trial is a %s, which "
				  "logs no %s (its target \"%s\")",
				  t->regression ? "regression" : "classification", metric,
				  t->flow->data.target);
	jm_prune_method method = JM_PRUNE_NONE;
	if (jm_prune_method_parse(t->flow->search.prune, &method) < 0 || method == JM_PRUNE_NONE)
		return 0;
	jm_trial_pruner *p = jm_xcalloc(1, sizeof *p);
	p->search = parent;
	p->metric = t->flow->search.metric;
	jm_prune_opts_default(&p->opts, method, jm_flow_search_maximize(t->flow));
	t->epoch_hook = prune_hook;
	t->epoch_hook_ctx = p;
	*out = p;
	return 0;
}

void jm_trial_pruner_free(jm_trial_pruner *p)
{
	free(p);
}
