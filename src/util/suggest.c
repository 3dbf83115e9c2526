/*
 * suggest.c: the closest known name to a misspelt one.
 */
#include "util/suggest.h"

#include <ctype.h>
#include <string.h>

int jm_edit_distance(const char *a, const char *b)
{
	enum { M = 40 };
	size_t la = strlen(a), lb = strlen(b);
	if (la >= M || lb >= M)
		return 99;
	int d[M + 1][M + 1];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
			int v = d[i - 1][j - 1] + (ca != cb);
			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[la][lb];
}

void jm_suggest_consider(const char *word, const char *cand, const char **best, int *best_d)
{
	size_t len = strlen(cand);
	int limit = len <= 3 ? 1 : len <= 6 ? 2 : 3;
	int d = jm_edit_distance(word, cand);
	if (d <= limit && d < *best_d) {
		*best = cand;
		*best_d = d;
	}
}

const char *jm_suggest(const char *word, const char *const *names, int n)
{
	const char *best = NULL;
	int best_d = 99;
	for (int i = 0; i < n; i++)
		jm_suggest_consider(word, names[i], &best, &best_d);
	return best;
}
