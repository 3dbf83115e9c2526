/*
 * notify.h: [notify] url — POST a JSON summary when a run ends (libcurl).
 * Each attempt has a timeout; two retries with a short back-off.  A failed
 * notification is reported through err for the run's log and never fails
 * the run.
 */
#ifndef JM_NOTIFY_H
#define JM_NOTIFY_H

#include "util/err.h"

/* POST json (Content-Type: application/json) to url; 0 on a 2xx answer. */
int jm_notify_post(const char *url, const char *json, long timeout_s, jm_err *err);

#endif
