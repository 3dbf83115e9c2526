/*
 * suggest.h: "did you mean" for a misspelt name, as the flow parser and the
 * column checks of [data], [clean] and [features] offer it.
 */
#ifndef JM_SUGGEST_H
#define JM_SUGGEST_H

/* Optimal string alignment distance between a and b, ignoring ASCII case;
 * 99 for words of 40 bytes or more. */
int jm_edit_distance(const char *a, const char *b);

/* Keep cand in *best when it is close enough to word (1 edit for names of
 * up to 3 bytes, 2 up to 6, 3 beyond) and closer than *best_d.  Start with
 * *best = NULL and *best_d = 99. */
void jm_suggest_consider(const char *word, const char *cand, const char **best, int *best_d);

/* The name of names[0..n) closest to word, or NULL when none is close. */
const char *jm_suggest(const char *word, const char *const *names, int n);

#endif
