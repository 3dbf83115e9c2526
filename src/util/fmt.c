/* fmt.c: durations and ages for the run tables (fmt.h). */
#include "util/fmt.h"

#include <math.h>
#include <stdio.h>

/* Whole units, rounded down as an age is: a run that ran 6.6 s of the
 * 6.9 s since it started reads 6s and 6s, never 7s beside 6s. */
void jm_fmt_duration(char *out, size_t cap, double secs)
{
	long s = secs < 0 ? 0 : (long)secs;
	if (s < 60)
		snprintf(out, cap, "%lds", s);
	else if (s < 3600)
		snprintf(out, cap, "%ldm%02lds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, cap, "%ldh%02ldm", s / 3600, s % 3600 / 60);
	else
		snprintf(out, cap, "%ldd%02ldh", s / 86400, s % 86400 / 3600);
}

void jm_fmt_age(char *out, size_t cap, double secs)
{
	static const struct {
		double unit, below;
		const char *suffix;
	} steps[] = {{1, 60, "s"}, {60, 3600, "m"}, {3600, 86400, "h"}, {86400, 86400 * 14, "d"},
		     {86400 * 7, INFINITY, "w"}};
	if (secs < 0)
		secs = 0;
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
		if (secs < steps[i].below) {
			snprintf(out, cap, "%.0f%s", floor(secs / steps[i].unit), steps[i].suffix);
			return;
		}
}
