/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <unistd.h>

#include "test.h"
#include "threads.h"

typedef struct Helper {
        pid_t tid;
        sem_t started, finish;
} Helper;

static void *helper_main(void *userdata) {
        Helper *h = userdata;

        h->tid = gettid();
        sem_post(&h->started);
        sem_wait(&h->finish);
        return NULL;
}

TEST(a_helper_thread_belongs_to_its_process_and_is_cached) {
        ThreadCache cache = {};
        Helper h = {};
        pthread_t thread;
        pid_t owner = 0;

        sem_init(&h.started, 0, 0);
        sem_init(&h.finish, 0, 0);
        CHECK_EQ(pthread_create(&thread, NULL, helper_main, &h), 0);
        sem_wait(&h.started);

        CHECK_EQ(thread_cache_owner(&cache, h.tid, &owner), 0);
        CHECK_EQ(owner, getpid());
        CHECK_EQ(cache.n, 1);
        owner = 0;
        CHECK_EQ(thread_cache_owner(&cache, h.tid, &owner), 0);      /* from the cache, checked */
        CHECK_EQ(owner, getpid());
        CHECK_EQ(cache.n, 1);

        sem_post(&h.finish);
        pthread_join(thread, NULL);
        /* The thread is gone: the cached guess no longer holds. */
        CHECK_EQ(thread_cache_owner(&cache, h.tid, &owner), -ESRCH);
        thread_cache_clear(&cache);
        CHECK_EQ(cache.n, 0);
}

TEST(a_main_thread_is_its_own_process_and_not_cached) {
        ThreadCache cache = {};
        pid_t owner = 0;

        CHECK_EQ(thread_cache_owner(&cache, getpid(), &owner), 0);
        CHECK_EQ(owner, getpid());
        CHECK_EQ(cache.n, 0);
}

int main(void) {
        return test_run_all();
}
