/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Which process a thread belongs to. A request names the calling thread, and
 * tokens belong to processes (the Rust jobserver crate reads in a helper
 * thread). Asking /proc/TID/status costs three system calls; a cached guess
 * is checked with one, and a thread blocked in our request cannot exit
 * meanwhile. Main threads are not cached: they are their own process.
 */

#include <sys/types.h>

#include "pidmap.h"

#define THREAD_CACHE_MAX 4096

typedef PidMap ThreadCache;             /* tid to tgid */

/* The process of thread tid; -ESRCH when there is no such thread. */
int thread_cache_owner(ThreadCache *c, pid_t tid, pid_t *ret);
void thread_cache_clear(ThreadCache *c);
