/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * LD_PRELOAD library for the out-of-memory test: once the file named by
 * FAILMALLOC_ARM exists, every FAILMALLOC_EVERY-th malloc, calloc or realloc
 * fails with ENOMEM. Arming by file lets the daemon start normally first.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

static atomic_ulong calls;
static unsigned long every;
static const char *arm;

static int should_fail(void) {
        static __thread int inside;
        int fail = 0;

        if (inside)
                return 0;
        inside = 1;
        if (!arm) {
                const char *e = getenv("FAILMALLOC_EVERY");
                every = e ? strtoul(e, NULL, 10) : 0;
                arm = getenv("FAILMALLOC_ARM");
                if (!arm)
                        arm = "";
        }
        if (every > 0 && *arm && (atomic_fetch_add(&calls, 1) + 1) % every == 0 && access(arm, F_OK) == 0)
                fail = 1;
        inside = 0;
        return fail;
}

void *malloc(size_t size) {
        static void *(*real)(size_t);
        if (!real)
                real = (void *(*)(size_t)) dlsym(RTLD_NEXT, "malloc");
        if (should_fail()) {
                errno = ENOMEM;
                return NULL;
        }
        return real(size);
}

void *calloc(size_t n, size_t size) {
        static void *(*real)(size_t, size_t);
        /* dlsym() may calloc: serve that first call from a static buffer. */
        static char bootstrap[256];
        static int booting;
        if (!real) {
                if (booting)
                        return bootstrap;
                booting = 1;
                real = (void *(*)(size_t, size_t)) dlsym(RTLD_NEXT, "calloc");
                booting = 0;
        }
        if (should_fail()) {
                errno = ENOMEM;
                return NULL;
        }
        return real(n, size);
}

void *realloc(void *p, size_t size) {
        static void *(*real)(void *, size_t);
        if (!real)
                real = (void *(*)(void *, size_t)) dlsym(RTLD_NEXT, "realloc");
        if (should_fail()) {
                errno = ENOMEM;
                return NULL;
        }
        return real(p, size);
}
