/*
 * fake_cuda.c: a stand-in for jianmo-cuda.so, for the tests on machines
 * without a GPU.  It loads as the real module does (the same entry points,
 * the same ABI number) and reports JIANMO_FAKE_GPUS devices (2 unless set),
 * but opens none: jm_cuda_open fails, naming the device it was asked for.
 * So a search's placement of trials on GPUs can be watched where there is
 * no GPU: each trial fails at once, saying which one it was sent to.
 * JIANMO_FAKE_OLD lists devices (",0,2,") of a compute capability the
 * module has no code for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT int jm_cuda_module_abi(void)
{
	return JM_BACKEND_ABI;
}

static int count(void)
{
	const char *v = getenv("JIANMO_FAKE_GPUS");
	return v && *v ? atoi(v) : 2;
}

EXPORT int jm_cuda_probe(char *buf, size_t n)
{
	int c = count();
	if (c <= 0) {
		snprintf(buf, n, "fake driver, no usable GPU (0 devices)");
		return -1;
	}
	snprintf(buf, n, "fake driver, %d fake device%s", c, c == 1 ? "" : "s");
	return c;
}

EXPORT int jm_cuda_usable(int device, char *why, size_t n)
{
	const char *old = getenv("JIANMO_FAKE_OLD");
	char key[16];
	snprintf(key, sizeof key, ",%d,", device);
	if (!old || !strstr(old, key))
		return 1;
	snprintf(why, n, "cuda:%d (fake, compute 7.0): jianmo-cuda.so is built for compute 8.0 "
		 "and later", device);
	return 0;
}

EXPORT const jm_backend *jm_cuda_open(int device, char *why, size_t n)
{
	snprintf(why, n, "fake GPU cuda:%d runs nothing (the tests' stand-in module)", device);
	return NULL;
}
