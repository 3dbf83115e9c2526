/*
 * backend_load.c: picking the backend for a device name, and loading the
 * CUDA module.
 *
 *   "cpu"            jm_backend_cpu
 *   "cuda", "cuda:N" the module's table on device N (0), or an error
 *   "auto"           the module's table on the first GPU it can run on
 *                    (compute 8.0 and later) when it loads; otherwise
 *                    the CPU, with the reason
 *
 * The module (jianmo-cuda.so) is $JIANMO_CUDA_MODULE when that is set;
 * otherwise it is looked for beside the running binary (a build tree),
 * then in the installed package library directory; it is not loaded where
 * no NVIDIA driver is (jm_backend_has_driver).  The jianmo binary itself never
 * links cudart or cuBLAS: a machine without them runs on the CPU.  The
 * module is loaded once and stays loaded (its table lives as long as the
 * process).
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/backend.h"

#ifndef JM_PKGLIBDIR
#define JM_PKGLIBDIR "/usr/local/lib/jianmo"
#endif

#define JM_CUDA_ABI JM_BACKEND_ABI /* engine/backend.h */
#define MODULE_NAME "jianmo-cuda.so"

typedef int (*abi_fn)(void);
typedef int (*probe_fn)(char *buf, size_t n);
typedef int (*usable_fn)(int device, char *why, size_t n);
typedef const jm_backend *(*open_fn)(int device, char *why, size_t n);

static struct {
	pthread_mutex_t lock;
	int tried;
	void *so;
	char path[PATH_MAX + 32];
	char why[PATH_MAX + 512]; /* why the module is not there */
	probe_fn probe;
	usable_fn usable;
	open_fn open;
} mod = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Candidate i (0, 1, 2) into buf; 0 if there is one. */
static int candidate(int i, char *buf, size_t n)
{
	if (i == 0) {
		const char *e = getenv("JIANMO_CUDA_MODULE");
		if (!e || !*e)
			return -1;
		snprintf(buf, n, "%s", e);
		return 0;
	}
	if (i == 1) {
		char exe[PATH_MAX];
		ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
		if (len <= 0)
			return -1;
		exe[len] = '\0';
		if ((size_t)len + sizeof "/" MODULE_NAME > n)
			return -1;
		char *slash = strrchr(exe, '/');
		if (!slash)
			return -1;
		*slash = '\0';
		snprintf(buf, n, "%s/" MODULE_NAME, exe);
		return 0;
	}
	if (i == 2) {
		snprintf(buf, n, "%s/" MODULE_NAME, JM_PKGLIBDIR);
		return 0;
	}
	return -1;
}

/* Whether an NVIDIA driver is there to answer: its device node, its /proc
 * entry, or WSL's GPU device.  Without one the module is not loaded at
 * all: cudart and cuBLAS would map some 700 MB of address space into every
 * run (the CPU's too) only to learn that there is no GPU. */
int jm_backend_has_driver(void)
{
	static const char *const nodes[] = {"/dev/nvidiactl", "/proc/driver/nvidia/version",
					    "/dev/dxg"};
	for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
		if (access(nodes[i], F_OK) == 0)
			return 1;
	return 0;
}

static void load_locked(void)
{
	if (mod.tried)
		return;
	mod.tried = 1;
	char path[PATH_MAX + 32], first_err[PATH_MAX + 256] = "";
	int explicit_env = getenv("JIANMO_CUDA_MODULE") && *getenv("JIANMO_CUDA_MODULE");
	if (!explicit_env && !jm_backend_has_driver()) {
		snprintf(mod.why, sizeof mod.why, "no NVIDIA driver on this machine (no "
			 "/dev/nvidiactl, /proc/driver/nvidia or /dev/dxg)");
		return;
	}
	for (int i = 0; i < 3; i++) {
		if (candidate(i, path, sizeof path) < 0)
			continue;
		if (explicit_env && i > 0)
			break; /* the variable names the module: no other */
		if (access(path, F_OK) != 0) {
			if (i == 0)
				snprintf(first_err, sizeof first_err, "%s: %s", path, strerror(errno));
			continue;
		}
		void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!so) {
			const char *e = dlerror();
			if (!first_err[0])
				snprintf(first_err, sizeof first_err, "%s", e ? e : path);
			continue;
		}
		abi_fn abi = (abi_fn)dlsym(so, "jm_cuda_module_abi");
		probe_fn probe = (probe_fn)dlsym(so, "jm_cuda_probe");
		open_fn open = (open_fn)dlsym(so, "jm_cuda_open");
		usable_fn usable = (usable_fn)dlsym(so, "jm_cuda_usable");
		if (!abi || !probe || !open || !usable) {
			snprintf(first_err, sizeof first_err, "%s: not a jianmo CUDA module", path);
			dlclose(so);
			continue;
		}
		if (abi() != JM_CUDA_ABI) {
			snprintf(first_err, sizeof first_err,
				 "%s: built for backend ABI %d, this jianmo needs %d (rebuild it)",
				 path, abi(), JM_CUDA_ABI);
			dlclose(so);
			continue;
		}
		mod.so = so;
		mod.probe = probe;
		mod.usable = usable;
		mod.open = open;
		snprintf(mod.path, sizeof mod.path, "%s", path);
		return;
	}
	if (first_err[0])
		snprintf(mod.why, sizeof mod.why, "the CUDA module did not load: %s", first_err);
	else if (explicit_env)
		snprintf(mod.why, sizeof mod.why, "JIANMO_CUDA_MODULE: not found");
	else
		snprintf(mod.why, sizeof mod.why,
			 "this build has no CUDA backend module (" MODULE_NAME
			 " not beside jianmo nor in " JM_PKGLIBDIR ")");
}

static int load_module(void)
{
	pthread_mutex_lock(&mod.lock);
	load_locked();
	int ok = mod.so != NULL;
	pthread_mutex_unlock(&mod.lock);
	return ok ? 0 : -1;
}

/* "cuda" -> 0, "cuda:N" -> N; -1 if not a CUDA name. */
static int cuda_index(const char *device)
{
	if (!strcmp(device, "cuda"))
		return 0;
	if (strncmp(device, "cuda:", 5) != 0 || !device[5])
		return -1;
	char *end;
	long v = strtol(device + 5, &end, 10);
	return *end || v < 0 || v > 1024 ? -1 : (int)v;
}

/* cpu: 0 with *idx -1; auto, cuda, cuda:N: 0 with the CUDA index (auto and
 * cuda: 0); anything else: -1 with why. */
static int parse_device(const char *device, int *idx, char *why, size_t why_n)
{
	*idx = -1;
	if (!device || !strcmp(device, "cpu"))
		return 0;
	*idx = !strcmp(device, "auto") ? 0 : cuda_index(device);
	if (*idx >= 0)
		return 0;
	snprintf(why, why_n, "unknown device \"%s\" (expected cpu, cuda, cuda:N or auto)", device);
	return -1;
}

/* The GPUs the module sees (0: none), or why there are none in info. */
static int probe_count(char *info, size_t n)
{
	if (load_module() < 0) {
		snprintf(info, n, "%s", mod.why);
		return 0;
	}
	int count = mod.probe(info, n);
	return count > 0 ? count : 0;
}

/* The GPUs the module can run on, their numbers into idx (at most max;
 * idx may be NULL), and how many; with none, why not in info.  A GPU the
 * module has no code for is left out, and with every one left out info
 * names the last. */
static int usable_gpus(int *idx, int max, char *info, size_t n)
{
	int count = probe_count(info, n), found = 0;
	for (int d = 0; d < count; d++) {
		char why[512];
		if (mod.usable(d, why, sizeof why) != 1) {
			snprintf(info, n, "no GPU jianmo can run on: %s", why);
			continue;
		}
		if (idx && found < max)
			idx[found] = d;
		found++;
	}
	return found;
}

int jm_backend_for_device(const char *device, const jm_backend **out, char *note, size_t note_n,
			  char *why, size_t why_n)
{
	if (note && note_n)
		note[0] = '\0';
	int idx;
	if (parse_device(device, &idx, why, why_n) < 0)
		return -1;
	if (idx < 0) {
		*out = &jm_backend_cpu;
		return 0;
	}
	char reason[PATH_MAX + 600];
	const jm_backend *be = NULL;
	if (load_module() < 0) {
		snprintf(reason, sizeof reason, "%s", mod.why);
	} else if (!strcmp(device, "auto") && usable_gpus(&idx, 1, reason, sizeof reason) == 0) {
		/* reason says why none */
	} else {
		be = mod.open(idx, reason, sizeof reason);
	}
	if (be) {
		*out = be;
		return 0;
	}
	if (!strcmp(device, "auto")) {
		*out = &jm_backend_cpu;
		if (note && note_n)
			snprintf(note, note_n, "%s", reason);
		return 0;
	}
	snprintf(why, why_n, "device \"%s\": %s", device, reason);
	return -1;
}

int jm_backend_check_device(const char *device, char *why, size_t why_n)
{
	int idx;
	if (parse_device(device, &idx, why, why_n) < 0)
		return -1;
	if (idx < 0 || !strcmp(device, "auto"))
		return 0;
	char info[PATH_MAX + 512];
	int count = probe_count(info, sizeof info);
	if (count == 0) {
		snprintf(why, why_n, "device \"%s\": %s", device, info);
		return -1;
	}
	if (idx >= count) {
		snprintf(why, why_n, "device \"%s\": cuda:%d does not exist (%d device%s: cuda:0..cuda:%d)",
			 device, idx, count, count == 1 ? "" : "s", count - 1);
		return -1;
	}
	/* "cuda:N" must be a GPU the module runs on; bare "cuda" (a search
	 * shares out every such GPU) needs one of them */
	char no[512];
	if (strcmp(device, "cuda") ? mod.usable(idx, no, sizeof no) != 1
				   : usable_gpus(NULL, 0, no, sizeof no) == 0) {
		snprintf(why, why_n, "device \"%s\": %s", device, no);
		return -1;
	}
	return 0;
}

int jm_backend_cuda_gpus(int *idx, int max)
{
	char info[PATH_MAX + 512];
	return usable_gpus(idx, max, info, sizeof info);
}

void jm_backend_cuda_describe(char *buf, size_t n)
{
	if (load_module() < 0) {
		snprintf(buf, n, "not available: %s", mod.why);
		return;
	}
	char info[1024];
	int count = mod.probe(info, sizeof info);
	if (count <= 0)
		snprintf(buf, n, "not used: %s (module %s)", info, mod.path);
	else
		snprintf(buf, n, "%s (module %s)", info, mod.path);
}
