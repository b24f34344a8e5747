/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include "proc.h"
#include "threads.h"

void thread_cache_clear(ThreadCache *c) {
        pid_map_clear(c);
}

int thread_cache_owner(ThreadCache *c, pid_t tid, pid_t *ret) {
        pid_t cached;
        bool was_cached = pid_map_get(c, tid, &cached);
        char path[64];
        int r;

        if (was_cached) {
                snprintf(path, sizeof path, "/proc/%d/task/%d", (int) cached, (int) tid);
                if (access(path, F_OK) == 0) {
                        *ret = cached;
                        return 0;
                }
        }
        r = proc_tgid_of(tid, ret);
        if (r < 0)
                return r == -ENOENT ? -ESRCH : r;
        if (!was_cached && *ret == tid)
                return 0;
        if (!was_cached && c->n >= THREAD_CACHE_MAX)
                pid_map_clear(c);       /* stale entries of dead threads go too */
        /* A failure loses only the cache. */
        (void) pid_map_put(c, tid, *ret);
        return 0;
}
