/*
 * fmt.h: durations and ages as the run tables show them (`jianmo runs`,
 * `jianmo show`, the workbench).
 */
#ifndef JM_FMT_H
#define JM_FMT_H

#include <stddef.h>

void jm_fmt_duration(char *out, size_t cap, double secs); /* 45s 3m05s 2h03m 3d04h */
void jm_fmt_age(char *out, size_t cap, double secs);      /* 5s 12m 3h 2d 5w: how long ago */

#endif
