/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define USEC_PER_SEC UINT64_C(1000000)

/* CLOCK_MONOTONIC in usec, off the event loop (threads, flushes, notices). */
static inline uint64_t now_monotonic_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* A few uids in an array, in no order: whose readers are stuck (cmdline.c, proc.c). */
static inline bool uid_listed(const uid_t *uids, unsigned n, uid_t uid) {
        for (unsigned i = 0; i < n; i++)
                if (uids[i] == uid)
                        return true;
        return false;
}

static inline void uid_unlist(uid_t *uids, unsigned *n, uid_t uid) {
        for (unsigned i = 0; i < *n; i++)
                if (uids[i] == uid) {
                        uids[i] = uids[--*n];
                        return;
                }
}

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

/* Hands ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })
