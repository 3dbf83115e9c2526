/* notify.c: webhook POST with timeouts and retries, through libcurl. */
#include "pipeline/notify.h"

#include <curl/curl.h>
#include <string.h>
#include <unistd.h>

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p, (void)ctx;
	return size * n;
}

static int post_once(const char *url, const char *json, long timeout_s, char *why, size_t why_n)
{
	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(why, why_n, "libcurl could not start");
		return -1;
	}
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	char curl_err[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "jianmo");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		snprintf(why, why_n, "%s", curl_err[0] ? curl_err : curl_easy_strerror(rc));
		return -1;
	}
	if (status < 200 || status >= 300) {
		snprintf(why, why_n, "HTTP status %ld", status);
		return -1;
	}
	return 0;
}

int jm_notify_post(const char *url, const char *json, long timeout_s, jm_err *err)
{
	char why[CURL_ERROR_SIZE + 64] = "";
	for (int attempt = 0; attempt < 3; attempt++) {
		if (attempt)
			sleep((unsigned)attempt); /* 1 s, then 2 s */
		if (post_once(url, json, timeout_s, why, sizeof why) == 0)
			return 0;
	}
	return jm_err_set(err, JM_EXIT_FAIL, "notify: POST to \"%s\" failed after 3 attempts: %s",
			  url, why);
}
