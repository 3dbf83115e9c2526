/*
 * report.h: what a run tells the person (or program) watching it.
 *
 * Three forms, chosen once: a progress bar redrawn in place on a terminal;
 * plain lines (one per epoch, plus a progress line every 10 s) when stdout
 * is not a terminal; JSON lines (--json) for programs.  Every plain line
 * also goes to the run's log file, with a timestamp.
 */
#ifndef JM_REPORT_H
#define JM_REPORT_H

#include <stdint.h>
#include <stdio.h>

typedef struct jm_report {
	FILE *log;          /* the run's log.txt, or NULL */
	int json, tty;
	int bar_shown;      /* a progress bar is on the current line */
	double last_plain;  /* when the last plain progress line was printed */
	double last_json;   /* last JSON progress line or bar redraw */
} jm_report;

void jm_report_init(jm_report *r, int json, int tty);
void jm_report_set_log(jm_report *r, FILE *log);

/* A plain message ("loaded 60000 images"); JSON mode: {"event":"log",...}. */
void jm_report_msg(jm_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Progress within an epoch; rate-limited internally. */
void jm_report_progress(jm_report *r, int64_t epoch, int64_t epochs, int64_t step,
			int64_t steps, double loss, double samples_per_s, double eta_s);

/* One JSON event, e.g. jm_report_json(r, "epoch", "\"epoch\":3,\"val_acc\":0.91");
 * `fields` is a comma-separated list of already-encoded "key":value pairs. */
void jm_report_json(jm_report *r, const char *event, const char *fields);

/* Clear a progress bar before other output. */
void jm_report_clear(jm_report *r);

double jm_now(void); /* monotonic seconds */
double jm_cpu_now(void); /* this thread's CPU time, seconds */
double jm_wall(void); /* Unix time, seconds */

#endif
