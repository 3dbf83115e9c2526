/*
 * strbuf.h: a growable byte buffer (jm_buf), after git's strbuf.
 *
 *     jm_buf b = JM_BUF_INIT;
 *     jm_buf_addstr(&b, "{\"n\": ");
 *     jm_buf_printf(&b, "%d}", n);
 *     size_t len;
 *     char *text = jm_buf_detach(&b, &len);  // now the caller's: free(text)
 *
 * Invariants.  b.s holds b.len bytes of content followed by a NUL, so b.s
 * is a C string whenever the content has no NUL inside (jm_buf_add copies
 * any bytes; the other adds never put a NUL in).  b.cap > b.len once
 * anything was added.  A buffer that never grew has b.s == NULL: read it
 * through jm_buf_str(), which gives "" then, or check b.len.
 *
 * Ownership.  The buffer owns b.s until jm_buf_detach() hands the string to
 * the caller, who frees it with free(), or jm_buf_release() frees it; both
 * leave the buffer empty and ready for reuse (JM_BUF_INIT again).  Any add
 * may move b.s: a pointer into the content stays valid only until the next
 * add, reset or release.  Allocation failure aborts with a message (through
 * jm_xrealloc, as for the other small bookkeeping allocations), so no
 * function here can fail and none takes a jm_err.
 */
#ifndef JM_STRBUF_H
#define JM_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct jm_buf {
	char *s;    /* the content and a NUL; NULL until something is added */
	size_t len; /* bytes of content, not counting the NUL */
	size_t cap; /* bytes allocated at s */
} jm_buf;

#define JM_BUF_INIT {NULL, 0, 0}

/* Make room for extra more bytes (and the NUL) without another allocation. */
void jm_buf_grow(jm_buf *b, size_t extra);
/* Append n bytes of data (any bytes, NULs included). */
void jm_buf_add(jm_buf *b, const void *data, size_t n);
/* Append the C string s. */
void jm_buf_addstr(jm_buf *b, const char *s);
/* Append one byte. */
void jm_buf_addch(jm_buf *b, char c);
/* Append printf-formatted text of any length. */
void jm_buf_printf(jm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jm_buf_vprintf(jm_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* The content as a C string: "" for a buffer that never grew.  Borrowed. */
const char *jm_buf_str(const jm_buf *b);
/* Empty the buffer but keep its memory for the next adds. */
void jm_buf_reset(jm_buf *b);
/* Hand the content to the caller (a malloc'd, NUL-terminated string, "" for
 * an empty buffer; *len, if len is not NULL, gets its length) and leave the
 * buffer empty. */
char *jm_buf_detach(jm_buf *b, size_t *len);
/* Free the content and leave the buffer empty; b may be NULL. */
void jm_buf_release(jm_buf *b);

#endif
