/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <polkit/polkit.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "proc.h"

/* A polkitd that does not answer in this long has said no. */
#define CHECK_TIMEOUT_SECONDS 15

/* One check, handed to the worker and back. Only the main thread looks at
 * request; only the worker at the rest until the job comes back. */
typedef struct AuthJob {
        Auth *auth;
        AuthRequest *request;           /* NULL once cancelled */
        AuthAction action;
        uid_t uid;
        pid_t pid;
        uint64_t start_time;
        char *bus_name;
        bool interactive;
        AuthResult result;
        char *detail;                   /* why it failed, if it did */
        GCancellable *cancellable;
        GSource *timeout;
        struct AuthJob *next;           /* in the done queue */
        LIST_ENTRY(AuthJob) in_flight;
} AuthJob;

struct AuthRequest {
        Auth *auth;
        AuthJob *job;                   /* NULL for root, answered at once */
        AuthAction action;
        uid_t uid;
        char *who;
        AuthCallback callback;
        void *userdata;
        TAILQ_ENTRY(AuthRequest) link;  /* in immediate, while waiting for its turn */
};

struct Auth {
        sd_event_source *immediate_source, *done_source;
        TAILQ_HEAD(, AuthRequest) immediate;
        int eventfd;

        pthread_mutex_t lock;           /* guards the done queue */
        AuthJob *done_head, *done_tail;

        /* The worker's own: */
        GThread *thread;
        GMainContext *context;
        GMainLoop *loop;
        PolkitAuthority *authority;
        LIST_HEAD(, AuthJob) in_flight;
        bool stopping;
};

const char *auth_action_id(AuthAction action) {
        static const char *const ids[] = {
                [AUTH_CONFIGURE] = "org.steve.Jobserver.configure",
                [AUTH_MANAGE] = "org.steve.Jobserver.manage",
                [AUTH_INSPECT] = "org.steve.Jobserver.inspect",
        };
        return ids[action];
}

static const char *result_name(AuthResult result) {
        return result == AUTH_ALLOWED ? "allowed" : result == AUTH_CHALLENGE ? "needs authentication" : "denied";
}

static void job_free(AuthJob *job) {
        free(job->bus_name);
        free(job->detail);
        free(job);
}

/* Worker thread */

static void worker_finish(AuthJob *job, AuthResult result, const char *detail) {
        Auth *a = job->auth;
        uint64_t one = 1;

        job->result = result;
        job->detail = detail ? strdup(detail) : NULL;
        if (job->timeout) {
                g_source_destroy(job->timeout);
                g_source_unref(job->timeout);
        }
        g_clear_object(&job->cancellable);
        LIST_REMOVE(job, in_flight);

        pthread_mutex_lock(&a->lock);
        if (a->done_tail)
                a->done_tail->next = job;
        else
                a->done_head = job;
        a->done_tail = job;
        pthread_mutex_unlock(&a->lock);
        (void) !write(a->eventfd, &one, sizeof one);

        if (a->stopping && LIST_EMPTY(&a->in_flight))
                g_main_loop_quit(a->loop);
}

static void on_checked(GObject *source, GAsyncResult *res, gpointer userdata) {
        AuthJob *job = userdata;
        g_autoptr(GError) error = NULL;
        g_autoptr(PolkitAuthorizationResult) result =
                polkit_authority_check_authorization_finish(POLKIT_AUTHORITY(source), res, &error);

        if (!result)
                worker_finish(job, AUTH_DENIED, error ? error->message : "no answer");
        else if (polkit_authorization_result_get_is_authorized(result))
                worker_finish(job, AUTH_ALLOWED, NULL);
        else
                worker_finish(job, polkit_authorization_result_get_is_challenge(result)
                                   ? AUTH_CHALLENGE : AUTH_DENIED, NULL);
}

static gboolean on_check_timeout(gpointer userdata) {
        AuthJob *job = userdata;

        g_cancellable_cancel(job->cancellable);
        return G_SOURCE_REMOVE;
}

static gboolean worker_check(gpointer userdata) {
        AuthJob *job = userdata;
        Auth *a = job->auth;
        g_autoptr(GError) error = NULL;
        g_autoptr(PolkitSubject) subject = NULL;

        LIST_INSERT_HEAD(&a->in_flight, job, in_flight);
        if (a->stopping) {
                worker_finish(job, AUTH_DENIED, "steve is stopping");
                return G_SOURCE_REMOVE;
        }
        /* Connected lazily and again after failing: polkitd may come later. */
        if (!a->authority && !(a->authority = polkit_authority_get_sync(NULL, &error))) {
                worker_finish(job, AUTH_DENIED, error ? error->message : "polkit is unavailable");
                return G_SOURCE_REMOVE;
        }
        subject = job->bus_name ? polkit_system_bus_name_new(job->bus_name)
                                : polkit_unix_process_new_for_owner((gint) job->pid, job->start_time, (gint) job->uid);
        job->cancellable = g_cancellable_new();
        job->timeout = g_timeout_source_new_seconds(CHECK_TIMEOUT_SECONDS);
        g_source_set_callback(job->timeout, on_check_timeout, job, NULL);
        g_source_attach(job->timeout, a->context);
        polkit_authority_check_authorization(a->authority, subject, auth_action_id(job->action), NULL,
                                             job->interactive ? POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION
                                                              : POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE,
                                             job->cancellable, on_checked, job);
        return G_SOURCE_REMOVE;
}

static gboolean worker_stop(gpointer userdata) {
        Auth *a = userdata;
        AuthJob *job;

        a->stopping = true;
        LIST_FOREACH(job, &a->in_flight, in_flight)
                g_cancellable_cancel(job->cancellable);
        if (LIST_EMPTY(&a->in_flight))
                g_main_loop_quit(a->loop);
        return G_SOURCE_REMOVE;
}

static gpointer worker_main(gpointer userdata) {
        Auth *a = userdata;

        g_main_context_push_thread_default(a->context);
        g_main_loop_run(a->loop);
        g_clear_object(&a->authority);
        g_main_context_pop_thread_default(a->context);
        return NULL;
}

/* Main thread */

static void answer(AuthRequest *r, AuthResult result, const char *detail) {
        AuthCallback callback = r->callback;
        void *data = r->userdata;

        if (detail)
                log_warning("%s for uid %u, %s: polkit gave no answer (%s); denied", auth_action_id(r->action),
                            (unsigned) r->uid, r->who, detail);
        log_info("%s %s: uid %u, %s", auth_action_id(r->action), result_name(result), (unsigned) r->uid, r->who);
        free(r->who);
        free(r);
        callback(result, data);
}

static int on_immediate(sd_event_source *source, void *userdata) {
        Auth *a = userdata;
        AuthRequest *r;

        while ((r = TAILQ_FIRST(&a->immediate))) {
                TAILQ_REMOVE(&a->immediate, r, link);
                answer(r, AUTH_ALLOWED, NULL);
        }
        return 0;
}

static int on_done(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Auth *a = userdata;
        AuthJob *job, *next;
        uint64_t count;

        (void) !read(a->eventfd, &count, sizeof count);
        pthread_mutex_lock(&a->lock);
        job = a->done_head;
        a->done_head = a->done_tail = NULL;
        pthread_mutex_unlock(&a->lock);

        for (; job; job = next) {
                next = job->next;
                if (job->request)
                        answer(job->request, job->result, job->detail);
                job_free(job);
        }
        return 0;
}

/* Runs fn in the worker. (Not g_main_context_invoke(): while no thread owns
 * the context it would run fn right here, on the event loop.) */
static void worker_post(Auth *a, GSourceFunc fn, gpointer data) {
        GSource *source = g_idle_source_new();

        g_source_set_callback(source, fn, data, NULL);
        g_source_attach(source, a->context);
        g_source_unref(source);
}

/* On the first question: by then steve runs as the user it serves as, with
 * no_new_privs, and the thread inherits that. */
static void start_worker(Auth *a) {
        sigset_t all, saved;

        if (a->thread)
                return;
        /* Signals are the event loop's: the worker must never take one. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &saved);
        a->thread = g_thread_new("polkit", worker_main, a);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
}

int auth_new(sd_event *event, Auth **ret) {
        Auth *a = calloc(1, sizeof *a);
        int r;

        if (!a)
                return -ENOMEM;
        TAILQ_INIT(&a->immediate);
        LIST_INIT(&a->in_flight);
        pthread_mutex_init(&a->lock, NULL);
        a->eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (a->eventfd < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_defer(event, &a->immediate_source, on_immediate, a);
        if (r >= 0)
                r = sd_event_source_set_enabled(a->immediate_source, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_io(event, &a->done_source, a->eventfd, EPOLLIN, on_done, a);
        if (r < 0)
                goto fail;
        a->context = g_main_context_new();
        a->loop = g_main_loop_new(a->context, FALSE);
        *ret = a;
        return 0;
fail:
        auth_free(a);
        return r;
}

Auth *auth_free(Auth *a) {
        AuthRequest *r;

        if (!a)
                return NULL;
        if (a->thread) {
                worker_post(a, worker_stop, a);
                g_thread_join(a->thread);
        }
        /* Whatever came back after the loop stopped is dropped unanswered. */
        while ((r = TAILQ_FIRST(&a->immediate)))
                auth_cancel(r); // NOLINT(clang-analyzer-unix.Malloc): auth_cancel() unlinks r
        for (AuthJob *job = a->done_head, *next; job; job = next) {
                next = job->next;
                if (job->request)
                        auth_cancel(job->request);
                job_free(job);
        }
        if (a->loop)
                g_main_loop_unref(a->loop);
        if (a->context)
                g_main_context_unref(a->context);
        sd_event_source_disable_unref(a->immediate_source);
        sd_event_source_disable_unref(a->done_source);
        if (a->eventfd >= 0)
                close(a->eventfd);
        pthread_mutex_destroy(&a->lock);
        free(a);
        return NULL;
}

static char *describe(const AuthSubject *s) {
        char *who = NULL;

        int r = s->bus_name ? asprintf(&who, "%s (pid %d)", s->bus_name, (int) s->pid)
                            : asprintf(&who, "pid %d", (int) s->pid);

        return r < 0 ? NULL : who;
}

static AuthJob *job_new(Auth *a, AuthRequest *r, const AuthSubject *s, bool interactive) {
        AuthJob *job = calloc(1, sizeof *job);

        if (!job)
                return NULL;
        *job = (AuthJob) { .auth = a, .request = r, .action = r->action, .uid = s->uid, .pid = s->pid,
                           .interactive = interactive };
        /* With its start time, a recycled pid cannot borrow another's rights. */
        if (!s->bus_name && proc_start_time(s->pid, &job->start_time) < 0) {
                free(job);
                return NULL;
        }
        if (s->bus_name && !(job->bus_name = strdup(s->bus_name))) {
                free(job);
                return NULL;
        }
        return job;
}

int auth_check(Auth *a, AuthAction action, const AuthSubject *subject, bool interactive,
               AuthCallback callback, void *userdata, AuthRequest **ret) {
        AuthRequest *r = calloc(1, sizeof *r);

        if (!r)
                return -ENOMEM;
        *r = (AuthRequest) { .auth = a, .action = action, .uid = subject->uid, .callback = callback,
                             .userdata = userdata, .who = describe(subject) };
        if (!r->who) {
                free(r);
                return -ENOMEM;
        }
        if (subject->uid == 0) {
                TAILQ_INSERT_TAIL(&a->immediate, r, link);
                (void) sd_event_source_set_enabled(a->immediate_source, SD_EVENT_ONESHOT);
        } else {
                r->job = job_new(a, r, subject, interactive);
                if (!r->job) {
                        free(r->who);
                        free(r);
                        return -ESRCH;  /* the caller is gone, or out of memory */
                }
                start_worker(a);
                worker_post(a, worker_check, r->job);
        }
        if (ret)
                *ret = r;
        return 0;
}

void auth_cancel(AuthRequest *r) {
        if (!r)
                return;
        if (r->job)
                r->job->request = NULL;         /* freed when the worker hands it back */
        else
                TAILQ_REMOVE(&r->auth->immediate, r, link);
        free(r->who);
        free(r);
}
