/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "cmdline.h"
#include "event-util.h"
#include "log.h"
#include "proc.h"
#include "util.h"

typedef enum RequestState { REQUEST_QUEUED, REQUEST_READING, REQUEST_DONE } RequestState;

struct CmdlineRequest {
        CmdlineReader *reader;
        pid_t pid;
        uid_t uid;
        uint64_t start_time;
        CmdlineDone done;               /* NULL once cancelled or given up: dropped when it comes back */
        void *userdata;
        RequestState state;             /* under the lock */
        char *text;
        int error;
        TAILQ_ENTRY(CmdlineRequest) link;       /* in the queue or the done list */
};

typedef struct Worker {
        CmdlineReader *reader;
        CmdlineRequest *current;        /* under the lock */
        uint64_t started;               /* when it took current, CLOCK_MONOTONIC usec */
        bool abandoned;                 /* under the lock: finish, hand back, go */
        uid_t stuck_on;                 /* once abandoned: the owner of the process it reads */
} Worker;

struct CmdlineReader {
        sd_event *event;
        sd_event_source *done_source, *deadline_timer;
        int eventfd;
        pthread_mutex_t lock;
        pthread_cond_t wake, gone;
        TAILQ_HEAD(, CmdlineRequest) queue, done;
        Worker *worker;                 /* the one taking the queue; NULL until needed */
        pthread_t worker_thread;
        unsigned n_stuck;               /* given-up workers still reading */
        uid_t stuck_uids[CMDLINE_MAX_STUCK];    /* whose processes they read, n_stuck of them */
        bool stopping;
};

/* Under the lock. A user with a worker stuck on one of their processes gets
 * no other reads until it comes back: one user's stalls cost others nothing. */
static bool uid_stuck(const CmdlineReader *r, uid_t uid) {
        return uid_listed(r->stuck_uids, r->n_stuck, uid);
}

static void add_stuck(CmdlineReader *r, Worker *w, uid_t uid) {
        w->abandoned = true;
        w->stuck_on = uid;
        r->stuck_uids[r->n_stuck++] = uid;
}

static void remove_stuck(CmdlineReader *r, uid_t uid) {
        uid_unlist(r->stuck_uids, &r->n_stuck, uid);
}

/* Under the lock: answered -EBUSY on the loop, next time round. */
static void refuse(CmdlineReader *r, CmdlineRequest *req, int error) {
        uint64_t one = 1;

        req->error = error;
        req->state = REQUEST_DONE;
        TAILQ_INSERT_TAIL(&r->done, req, link);
        (void) !write(r->eventfd, &one, sizeof one);
}

/* The worker's own: may block for as long as the process wants. */
static int read_one(pid_t pid, uint64_t start_time, char **ret) {
        _cleanup_free_ char *text = NULL;
        uint64_t now_start;
        int r;

        r = proc_cmdline(pid, CMDLINE_MAX, &text);
        if (r < 0)
                return r == -ENOENT ? -ESRCH : r;
        /* The pid may have gone to another process meanwhile. */
        if (proc_start_time(pid, &now_start) < 0 || now_start != start_time)
                return -ESRCH;
        *ret = TAKE_PTR(text);
        return 0;
}

static void *worker_main(void *userdata) {
        Worker *w = userdata;
        CmdlineReader *r = w->reader;
        CmdlineRequest *req;
        uint64_t one = 1;
        bool abandoned;

        pthread_mutex_lock(&r->lock);
        for (;;) {
                while (!w->abandoned && !r->stopping && TAILQ_EMPTY(&r->queue))
                        pthread_cond_wait(&r->wake, &r->lock);
                if (w->abandoned || r->stopping)
                        break;
                req = TAILQ_FIRST(&r->queue);
                TAILQ_REMOVE(&r->queue, req, link);
                if (uid_stuck(r, req->uid)) {
                        refuse(r, req, -EBUSY);
                        continue;
                }
                req->state = REQUEST_READING;
                w->current = req;
                w->started = now_monotonic_usec();
                pthread_mutex_unlock(&r->lock);

                req->error = read_one(req->pid, req->start_time, &req->text);

                pthread_mutex_lock(&r->lock);
                w->current = NULL;
                req->state = REQUEST_DONE;
                TAILQ_INSERT_TAIL(&r->done, req, link);
                (void) !write(r->eventfd, &one, sizeof one);
        }
        abandoned = w->abandoned;
        if (abandoned) {
                remove_stuck(r, w->stuck_on);
                pthread_cond_broadcast(&r->gone);
                (void) !write(r->eventfd, &one, sizeof one);    /* room for a worker again */
        }
        pthread_mutex_unlock(&r->lock);
        /* A worker given up on frees itself; the one in service is joined. */
        if (abandoned)
                free(w);
        return NULL;
}

/* Under the lock. */
static int start_worker(CmdlineReader *r) {
        sigset_t all, saved;
        Worker *w;
        int r_;

        w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->reader = r;
        /* Signals are the event loop's: no worker may take one. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &saved);
        r_ = pthread_create(&r->worker_thread, NULL, worker_main, w);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (r_ != 0) {
                free(w);
                return -r_;
        }
        r->worker = w;
        return 0;
}

/* Under the lock: a worker for the queue, unless too many are stuck. */
static void serve_queue(CmdlineReader *r) {
        CmdlineRequest *req;

        if (r->worker || TAILQ_EMPTY(&r->queue))
                return;
        if (r->n_stuck < CMDLINE_MAX_STUCK && start_worker(r) >= 0)
                return;
        while ((req = TAILQ_FIRST(&r->queue))) {
                TAILQ_REMOVE(&r->queue, req, link);
                refuse(r, req, -EBUSY);
        }
}

/* Under the lock: a look at the worker when its read is due, or, while it
 * has yet to take the next request (it runs on its own), a while from now. */
static void rearm_deadline(CmdlineReader *r) {
        Worker *w = r->worker;

        if (w && w->current)
                event_set_timer(r->deadline_timer, w->started + CMDLINE_DEADLINE_USEC);
        else if (!TAILQ_EMPTY(&r->queue))
                event_set_timer(r->deadline_timer, now_monotonic_usec() + CMDLINE_DEADLINE_USEC);
        else
                event_set_timer(r->deadline_timer, UINT64_MAX);
}

static int on_deadline(sd_event_source *source, uint64_t usec, void *userdata) {
        CmdlineReader *r = userdata;
        CmdlineDone done = NULL;
        void *done_data = NULL;
        pid_t pid = 0;
        Worker *w;

        pthread_mutex_lock(&r->lock);
        w = r->worker;
        if (w && w->current && now_monotonic_usec() - w->started >= CMDLINE_DEADLINE_USEC) {
                /* It is stuck in the kernel on that process's lock: leave it. */
                done = w->current->done;
                done_data = w->current->userdata;
                pid = w->current->pid;
                w->current->done = NULL;
                add_stuck(r, w, w->current->uid);
                pthread_detach(r->worker_thread);
                r->worker = NULL;
                serve_queue(r);
        }
        rearm_deadline(r);
        pthread_mutex_unlock(&r->lock);
        if (pid > 0)
                log_warning("Reading the command line of pid %d takes too long (it holds its own memory "
                            "map lock?); given up", (int) pid);
        if (done)
                done(NULL, -ETIMEDOUT, done_data);
        return 0;
}

static void request_free(CmdlineRequest *req) {
        free(req->text);
        free(req);
}

static int on_done(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        CmdlineReader *r = userdata;
        TAILQ_HEAD(, CmdlineRequest) done = TAILQ_HEAD_INITIALIZER(done);
        CmdlineRequest *req;
        uint64_t count;

        (void) !read(r->eventfd, &count, sizeof count);
        pthread_mutex_lock(&r->lock);
        TAILQ_CONCAT(&done, &r->done, link);
        serve_queue(r);
        rearm_deadline(r);
        pthread_mutex_unlock(&r->lock);

        while ((req = TAILQ_FIRST(&done))) {
                TAILQ_REMOVE(&done, req, link);
                if (req->done)
                        req->done(req->text, req->error, req->userdata);
                request_free(req);
        }
        return 0;
}

int cmdline_reader_new(sd_event *event, CmdlineReader **ret) {
        CmdlineReader *r = calloc(1, sizeof *r);
        int e;

        if (!r)
                return -ENOMEM;
        r->event = sd_event_ref(event);
        TAILQ_INIT(&r->queue);
        TAILQ_INIT(&r->done);
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->wake, NULL);
        pthread_cond_init(&r->gone, NULL);
        r->eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        e = r->eventfd < 0 ? -errno : 0;
        if (e >= 0)
                e = sd_event_add_io(event, &r->done_source, r->eventfd, EPOLLIN, on_done, r);
        if (e >= 0)
                e = event_add_idle_timer(event, &r->deadline_timer, USEC_PER_SEC / 100, on_deadline, r);
        if (e < 0) {
                cmdline_reader_free(r);
                return e;
        }
        *ret = r;
        return 0;
}

/* How long steve's exit waits for readers stuck on a process's lock. */
#define STUCK_WAIT_SECONDS 1

CmdlineReader *cmdline_reader_free(CmdlineReader *r) {
        CmdlineRequest *req;
        struct timespec until;
        Worker *idle = NULL;
        bool left_behind;

        if (!r)
                return NULL;
        pthread_mutex_lock(&r->lock);
        r->stopping = true;
        pthread_cond_broadcast(&r->wake);
        if (r->worker && r->worker->current) {
                /* Reading: perhaps stuck, and nobody waits on a stuck one.
                 * (A worker starts only with room for one more stuck.) */
                add_stuck(r, r->worker, r->worker->current->uid);
                pthread_detach(r->worker_thread);
        } else
                idle = r->worker;
        r->worker = NULL;
        pthread_mutex_unlock(&r->lock);
        if (idle) {
                pthread_join(r->worker_thread, NULL);
                free(idle);
        }
        pthread_mutex_lock(&r->lock);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += STUCK_WAIT_SECONDS;
        while (r->n_stuck > 0 && pthread_cond_timedwait(&r->gone, &r->lock, &until) == 0)
                ;
        left_behind = r->n_stuck > 0;
        while ((req = TAILQ_FIRST(&r->queue))) {
                TAILQ_REMOVE(&r->queue, req, link);
                request_free(req);
        }
        while ((req = TAILQ_FIRST(&r->done))) {
                TAILQ_REMOVE(&r->done, req, link);
                request_free(req);
        }
        pthread_mutex_unlock(&r->lock);
        sd_event_source_disable_unref(r->done_source);
        sd_event_source_disable_unref(r->deadline_timer);
        r->done_source = r->deadline_timer = NULL;
        if (left_behind) {
                /* A stuck worker still holds r: it goes when the process does. */
                log_warning("%u command line reader(s) still stuck on a process's lock at exit", r->n_stuck);
                return NULL;
        }
        if (r->eventfd >= 0)
                close(r->eventfd);
        sd_event_unref(r->event);
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->wake);
        pthread_cond_destroy(&r->gone);
        free(r);
        return NULL;
}

int cmdline_read(CmdlineReader *r, pid_t pid, uid_t uid, uint64_t start_time, CmdlineDone done, void *userdata,
                 CmdlineRequest **ret) {
        CmdlineRequest *req = calloc(1, sizeof *req);

        if (!req)
                return -ENOMEM;
        *req = (CmdlineRequest) { .reader = r, .pid = pid, .uid = uid, .start_time = start_time, .done = done,
                                  .userdata = userdata, .state = REQUEST_QUEUED };
        pthread_mutex_lock(&r->lock);
        TAILQ_INSERT_TAIL(&r->queue, req, link);
        pthread_cond_signal(&r->wake);
        serve_queue(r);
        rearm_deadline(r);
        pthread_mutex_unlock(&r->lock);
        if (ret)
                *ret = req;
        return 0;
}

void cmdline_cancel(CmdlineRequest *req) {
        CmdlineReader *r;

        if (!req)
                return;
        r = req->reader;
        pthread_mutex_lock(&r->lock);
        req->done = NULL;
        if (req->state == REQUEST_QUEUED) {
                TAILQ_REMOVE(&r->queue, req, link);
                request_free(req);
        }
        /* Otherwise it is dropped when it comes back. */
        pthread_mutex_unlock(&r->lock);
}
