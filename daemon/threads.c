/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proc.h"
#include "threads.h"

typedef struct ThreadOwner {
        pid_t tid, tgid;
} ThreadOwner;

static int thread_compare(const void *a, const void *b) {
        pid_t x = ((const ThreadOwner *) a)->tid, y = ((const ThreadOwner *) b)->tid;
        return (x > y) - (x < y);
}

void thread_cache_clear(ThreadCache *c) {
        tdestroy(c->tree, free);
        c->tree = NULL;
        c->n = 0;
}

static void remember(ThreadCache *c, pid_t tid, pid_t tgid) {
        ThreadOwner *t;

        if (c->n >= THREAD_CACHE_MAX)
                thread_cache_clear(c);  /* stale entries of dead threads go too */
        t = malloc(sizeof *t);
        if (!t)
                return;                 /* only the cache is lost */
        *t = (ThreadOwner) { .tid = tid, .tgid = tgid };
        if (tsearch(t, &c->tree, thread_compare))
                c->n++;
        else
                free(t);
}

int thread_cache_owner(ThreadCache *c, pid_t tid, pid_t *ret) {
        ThreadOwner key = { .tid = tid }, **found = tfind(&key, &c->tree, thread_compare);
        char path[64];
        int r;

        if (found) {
                snprintf(path, sizeof path, "/proc/%d/task/%d", (int) (*found)->tgid, (int) tid);
                if (access(path, F_OK) == 0) {
                        *ret = (*found)->tgid;
                        return 0;
                }
        }
        r = proc_tgid_of(tid, ret);
        if (r < 0)
                return r == -ENOENT ? -ESRCH : r;
        if (found)
                (*found)->tgid = *ret;
        else if (*ret != tid)
                remember(c, tid, *ret);
        return 0;
}
