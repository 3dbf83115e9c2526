/* report.c: progress bar, plain lines and JSON lines for a run. */
#include "pipeline/report.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "util/json.h"

double jm_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double jm_cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double jm_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void jm_report_init(jm_report *r, int json, int tty)
{
	memset(r, 0, sizeof *r);
	r->json = json;
	r->tty = tty && !json;
	r->last_plain = jm_now();
}

void jm_report_set_log(jm_report *r, FILE *log)
{
	r->log = log;
}

void jm_report_clear(jm_report *r)
{
	if (r->bar_shown) {
		fputs("\r\033[K", stdout);
		r->bar_shown = 0;
	}
}

static void log_line(jm_report *r, const char *text)
{
	if (!r->log)
		return;
	time_t t = time(NULL);
	struct tm tm;
	char stamp[32];
	localtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(r->log, "%s %s\n", stamp, text);
	fflush(r->log);
}

void jm_report_json(jm_report *r, const char *event, const char *fields)
{
	if (!r->json)
		return;
	printf("{\"event\":\"%s\"%s%s}\n", event, fields && *fields ? "," : "", fields ? fields : "");
	fflush(stdout);
}

void jm_report_msg(jm_report *r, const char *fmt, ...)
{
	char text[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	log_line(r, text);
	if (r->json) {
		printf("{\"event\":\"log\",\"message\":");
		jm_json_str(stdout, text);
		printf("}\n");
	} else {
		jm_report_clear(r);
		printf("%s\n", text);
	}
	fflush(stdout);
}

static void fmt_duration(char *buf, size_t n, double s)
{
	if (s < 0 || s > 1e7) {
		snprintf(buf, n, "--:--");
		return;
	}
	long t = (long)(s + 0.5);
	if (t >= 3600)
		snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

/* Whether progress is shown now: the JSON line once a second, the bar at
 * 10 Hz (both also at an epoch's last step), a plain line every 10 s. */
static int progress_due(const jm_report *r, double now, int last_step)
{
	if (r->json)
		return last_step || now - r->last_json >= 1.0;
	if (r->tty)
		return last_step || now - r->last_json >= 0.1;
	return now - r->last_plain >= 10.0;
}

void jm_report_progress(jm_report *r, int64_t epoch, int64_t epochs, int64_t step,
			int64_t steps, double loss, double samples_per_s, double eta_s)
{
	double now = jm_now();
	if (!progress_due(r, now, step == steps)) /* every batch: nothing formatted */
		return;
	char eta[32], lj[32], lt[32];
	fmt_duration(eta, sizeof eta, eta_s);
	/* no loss yet (a device read every few batches): null, "-" */
	snprintf(lj, sizeof lj, isfinite(loss) ? "%.6g" : "null", loss);
	snprintf(lt, sizeof lt, isfinite(loss) ? "%.4f" : "-", loss);
	if (r->json) {
		r->last_json = now;
		printf("{\"event\":\"progress\",\"epoch\":%lld,\"epochs\":%lld,\"step\":%lld,"
		       "\"steps\":%lld,\"loss\":%s,\"samples_per_s\":%.1f,\"eta_s\":%.1f}\n",
		       (long long)epoch, (long long)epochs, (long long)step, (long long)steps,
		       lj, samples_per_s, eta_s);
		fflush(stdout);
		return;
	}
	if (r->tty) {
		r->last_json = now;
		int width = 24, fill = steps ? (int)(width * step / steps) : 0;
		char bar[64];
		for (int i = 0; i < width; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[width] = '\0';
		printf("\r\033[Kepoch %lld/%lld [%s] %3d%% loss %s  %.0f samples/s  ETA %s",
		       (long long)epoch, (long long)epochs, bar,
		       steps ? (int)(100 * step / steps) : 0, lt, samples_per_s, eta);
		fflush(stdout);
		r->bar_shown = 1;
		return;
	}
	r->last_plain = now;
	char text[256];
	snprintf(text, sizeof text, "epoch %lld/%lld step %lld/%lld loss %s %.0f samples/s ETA %s",
		 (long long)epoch, (long long)epochs, (long long)step, (long long)steps, lt,
		 samples_per_s, eta);
	printf("%s\n", text);
	fflush(stdout);
	log_line(r, text);
}
