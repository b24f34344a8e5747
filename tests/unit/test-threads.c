/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
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

/* Whether this process's task tid leaves /proc within a minute. */
static bool task_is_reaped(pid_t tid) {
        char path[64];

        snprintf(path, sizeof path, "/proc/self/task/%d", (int) tid);
        for (int i = 0; i < 60000; i++) {
                if (access(path, F_OK) < 0)
                        return errno == ENOENT;
                usleep(1000);
        }
        return false;
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
        /* join returns once the kernel clears the thread's tid, which is
         * before the task is reaped: on a busy machine its /proc entry
         * outlives the join for a while. Wait for that, not for time. */
        CHECK(task_is_reaped(h.tid));
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

/* In a process of its own, which then stays out of the pid namespace it
 * makes: whether a child there is seen as in another namespace. 0: yes, 1:
 * no, 2: no namespace could be made (needs root). */
static int other_namespace_is_told(void) {
        pid_t parent = 0, child;
        int pipefd[2], status, seen;
        char go = 0;

        if (unshare(CLONE_NEWPID) < 0 || pipe(pipefd) < 0)
                return 2;
        child = fork();
        if (child == 0) {
                (void) !read(pipefd[0], &go, 1);
                _exit(0);
        }
        seen = child > 0 && !proc_in_our_pid_namespace(child) && proc_parent_of(child, &parent) == 0 &&
               parent == getpid();
        (void) !write(pipefd[1], &go, 1);
        if (child > 0)
                (void) waitpid(child, &status, 0);
        return seen ? 0 : 1;
}

/* The /proc readers that the loop uses about any process read status. */
TEST(parents_and_pid_namespaces_are_read_from_status) {
        pid_t parent = 0, helper;
        int status = 0;

        CHECK_EQ(proc_parent_of(getpid(), &parent), 0);
        CHECK_EQ(parent, getppid());
        CHECK(proc_in_our_pid_namespace(getpid()));
        CHECK(!proc_in_our_pid_namespace(0));
        CHECK_EQ(proc_parent_of(INT32_MAX, &parent), -ENOENT);

        helper = fork();
        if (helper == 0)
                _exit(other_namespace_is_told());
        CHECK_EQ(waitpid(helper, &status, 0), helper);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 1);
        if (WEXITSTATUS(status) == 2)
                printf("# no pid namespace of our own (not root): skipped that part\n");
}

int main(void) {
        return test_run_all();
}
