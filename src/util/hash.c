/* hash.c: SHA-256 through libcrypto's EVP interface. */
#include "util/hash.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static void to_hex(const unsigned char *md, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
}

void jm_sha256_hex(const void *data, size_t n, char hex[65])
{
	unsigned char md[32];
	unsigned int len = 0;
	EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
	to_hex(md, hex);
}

int jm_sha256_file(const char *path, char hex[65], int64_t *bytes, jm_err *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return jm_err_set(err, JM_EXIT_FAIL, "%s: %s", path, strerror(errno));
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	unsigned char buf[1 << 16];
	int64_t total = 0;
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
		EVP_DigestUpdate(ctx, buf, n);
		total += (int64_t)n;
	}
	int bad = ferror(f);
	fclose(f);
	unsigned char md[32];
	unsigned int len = 0;
	EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	if (bad)
		return jm_err_set(err, JM_EXIT_FAIL, "%s: read error", path);
	to_hex(md, hex);
	if (bytes)
		*bytes = total;
	return 0;
}
