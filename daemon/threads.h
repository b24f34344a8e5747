/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Which process a thread belongs to. A request names the calling thread, and
 * tokens belong to processes (the Rust jobserver crate reads in a helper
 * thread). Asking /proc/TID/status costs three system calls; a cached guess
 * is checked with one, and a thread blocked in our request cannot exit
 * meanwhile. Main threads are not cached: they are their own process.
 */

#include <stddef.h>
#include <sys/types.h>

#define THREAD_CACHE_MAX 4096

typedef struct ThreadCache {
        void *tree;             /* tsearch() tree of (tid, tgid), by tid */
        size_t n;
} ThreadCache;

/* The process of thread tid; -ESRCH when there is no such thread. */
int thread_cache_owner(ThreadCache *c, pid_t tid, pid_t *ret);
void thread_cache_clear(ThreadCache *c);
