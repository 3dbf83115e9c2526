/* hash.h: SHA-256 of buffers and files (through OpenSSL's libcrypto). */
#ifndef JM_HASH_H
#define JM_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* hex receives 64 hex digits and a NUL. */
void jm_sha256_hex(const void *data, size_t n, char hex[65]);
/* Hash a whole file; *bytes (if not NULL) receives its size. */
int jm_sha256_file(const char *path, char hex[65], int64_t *bytes, jm_err *err);

#endif
