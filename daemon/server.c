/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <limits.h>
#include <poll.h>
#include <search.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "steve/steve-ioctl.h"

#include "event-util.h"
#include "ledger.h"
#include "log.h"
#include "proc.h"
#include "server.h"
#include "sysload.h"
#include "util.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

/* A process polling through several files (or threads) gets each woken. */
#define MAX_POLLHANDLES 8
#define CMDLINE_MAX 256
#define TOKEN_BYTE '+'

typedef struct PendingRead PendingRead;

typedef struct Client {
        LedgerProcess ledger;
        Server *server;
        pid_t pid;
        int pidfd;
        sd_event_source *exit_source;
        LedgerWaiter poll_waiter;
        struct fuse_pollhandle *pollhandles[MAX_POLLHANDLES];
        size_t n_pollhandles;
        TAILQ_HEAD(, PendingRead) reads;
} Client;

/* A blocking read with no token for it yet: the reply is deferred. */
struct PendingRead {
        LedgerWaiter waiter;
        fuse_req_t req;
        Client *client;                         /* NULL once interrupted */
        TAILQ_ENTRY(PendingRead) link;          /* in client->reads or server->interrupted */
};

/* An ioctl setter waiting for its authorization. */
typedef struct PendingSet {
        Server *server;
        fuse_req_t req;
        unsigned cmd;
        IoctlValue value;
        pid_t pid;
        AuthRequest *auth;
        TAILQ_ENTRY(PendingSet) link;
} PendingSet;

/* Which process a thread belongs to, as last seen. */
typedef struct ThreadOwner {
        pid_t tid, tgid;
} ThreadOwner;

#define THREAD_CACHE_MAX 4096

struct Server {
        sd_event *event;
        Ledger ledger;
        void *threads;                  /* tsearch() tree of ThreadOwner, by tid */
        size_t n_threads;
        Params params;
        Auth *auth;
        TAILQ_HEAD(, PendingSet) pending_sets;
        void (*observer)(void *userdata);
        void *observer_data;
        char *proc;
        uint64_t load_read_at;          /* when sysload was last read; 0: never */
        const char *over_limit;         /* the limit last found exceeded, for the log */
        sd_event_source *recheck_timer;
        void *clients;                          /* tsearch() tree, by pid */
        TAILQ_HEAD(, PendingRead) interrupted;
        sd_event_source *interrupt_source;
        sd_event_source *reservation_timer;
        bool shutting_down;
};

static uint64_t now_usec(Server *s) {
        uint64_t t = 0;
        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &t);
        return t;
}

static int client_compare(const void *a, const void *b) {
        pid_t x = ((const Client *) a)->pid, y = ((const Client *) b)->pid;
        return (x > y) - (x < y);
}

static Client *client_find(Server *s, pid_t pid) {
        Client key = { .pid = pid };
        Client **found = tfind(&key, &s->clients, client_compare);
        return found ? *found : NULL;
}

static void client_drop_pollhandles(Client *c, bool notify) {
        for (size_t i = 0; i < c->n_pollhandles; i++) {
                if (notify)
                        (void) fuse_lowlevel_notify_poll(c->pollhandles[i]);
                fuse_pollhandle_destroy(c->pollhandles[i]);
        }
        c->n_pollhandles = 0;
}

static void client_keep_pollhandle(Client *c, struct fuse_pollhandle *ph) {
        if (c->n_pollhandles == MAX_POLLHANDLES) {
                fuse_pollhandle_destroy(c->pollhandles[0]);
                memmove(c->pollhandles, c->pollhandles + 1, (MAX_POLLHANDLES - 1) * sizeof c->pollhandles[0]);
                c->n_pollhandles--;
        }
        c->pollhandles[c->n_pollhandles++] = ph;
}

static void pending_read_fail(Server *s, PendingRead *pr, int error) {
        ledger_cancel(&s->ledger, &pr->waiter);
        (void) fuse_reply_err(pr->req, error);
        free(pr);
}

static void client_free(Client *c) {
        Server *s = c->server;
        PendingRead *pr;

        /* The kernel keeps a dying reader waiting for our answer, so none should
         * be left; answer any that are rather than leak the requests. */
        while ((pr = TAILQ_FIRST(&c->reads))) {
                TAILQ_REMOVE(&c->reads, pr, link);
                pending_read_fail(s, pr, EIO);
        }
        ledger_process_exit(&s->ledger, &c->ledger, now_usec(s));
        client_drop_pollhandles(c, false);
        tdelete(c, &s->clients, client_compare);
        sd_event_source_disable_unref(c->exit_source);
        closep(&c->pidfd);
        free(c);
}

/* Reads the machine's load when a limit needs it and the last reading is
 * older than the recheck timeout (or always, when forced). */
static const char unreadable[] = "unreadable";

static void refresh_throttle(Server *s, bool force) {
        uint64_t now = now_usec(s);
        const char *over = NULL;
        SysLoad load;
        int r;

        if (!params_system_limits(&s->params)) {
                if (s->ledger.throttled)
                        ledger_set_throttled(&s->ledger, false, now);
                return;
        }
        if (!force && s->load_read_at != 0 && now - s->load_read_at < s->params.load_recheck_timeout)
                return;
        s->load_read_at = now;
        r = sysload_read(s->proc, &s->params, &load);
        if (r < 0) {
                /* Better to serve tokens than to stop every build on the machine. */
                if (s->over_limit != unreadable)
                        log_warning_errno(r, "Cannot read the system's load from %s, limits unchecked: %m", s->proc);
                s->over_limit = unreadable;
        } else {
                over = sysload_over_limit(&s->params, &load);
                if (over != s->over_limit)
                        log_info(over ? "%s over its limit: holding back tokens" : "load under the limits again",
                                 over);
                s->over_limit = over;
        }
        ledger_set_throttled(&s->ledger, over != NULL, now);
}

static void set_timer(sd_event_source *timer, uint64_t deadline) {
        if (deadline == UINT64_MAX) {
                (void) sd_event_source_set_enabled(timer, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(timer, deadline);
        (void) sd_event_source_set_enabled(timer, SD_EVENT_ONESHOT);
}

/* Timers run only while they have work: a reservation to expire, or a waiter
 * held back by a limit. An idle steve sets none. */
static void server_rearm(Server *s) {
        set_timer(s->reservation_timer, ledger_next_deadline(&s->ledger));
        set_timer(s->recheck_timer, ledger_held_back_by_throttle(&s->ledger)
                                    ? now_usec(s) + s->params.load_recheck_timeout : UINT64_MAX);
        if (s->observer)
                s->observer(s->observer_data);
}

static int on_recheck_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Server *s = userdata;

        refresh_throttle(s, true);
        server_rearm(s);
        return 0;
}

static int on_client_exit(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Client *c = userdata;
        Server *s = c->server;

        log_info("pid %d exited holding %" PRIi64 " token(s)", (int) c->pid, c->ledger.held);
        client_free(c);
        server_rearm(s);
        return 0;
}

static void log_new_client(pid_t pid) {
        _cleanup_free_ char *cmdline = NULL;

        if (log_get_max_level() < LOG_LEVEL_INFO)
                return;
        (void) proc_cmdline(pid, CMDLINE_MAX, &cmdline);
        log_info("pid %d connected: %s", (int) pid, cmdline ? cmdline : "?");
}

static int client_new(Server *s, pid_t pid, Client **ret) {
        _cleanup_free_ Client *c = NULL;
        int r;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->server = s;
        c->pid = pid;
        TAILQ_INIT(&c->reads);

        c->pidfd = pidfd_open_process(pid);
        if (c->pidfd < 0)
                return c->pidfd;
        r = sd_event_add_io(s->event, &c->exit_source, c->pidfd, EPOLLIN, on_client_exit, c);
        if (r < 0)
                goto fail;
        /* A reused pid must not inherit holdings: the exit of the old process is
         * handled before any request, which the new one can only send later. */
        r = sd_event_source_set_priority(c->exit_source, SD_EVENT_PRIORITY_IMPORTANT);
        if (r < 0)
                goto fail;
        if (!tsearch(c, &s->clients, client_compare)) {
                r = -ENOMEM;
                goto fail;
        }
        ledger_process_attach(&s->ledger, &c->ledger, pid);
        log_new_client(pid);
        *ret = TAKE_PTR(c);
        return 0;

fail:
        sd_event_source_disable_unref(c->exit_source);
        closep(&c->pidfd);
        return r;
}

static int thread_compare(const void *a, const void *b) {
        pid_t x = ((const ThreadOwner *) a)->tid, y = ((const ThreadOwner *) b)->tid;
        return (x > y) - (x < y);
}

static void thread_cache_clear(Server *s) {
        tdestroy(s->threads, free);
        s->threads = NULL;
        s->n_threads = 0;
}

/* The process of a thread that is not its process's main thread. Asking
 * /proc/TID/status every time costs three syscalls; a cached guess is checked
 * with one, and a thread blocked in our request cannot exit meanwhile. */
static int thread_owner(Server *s, pid_t tid, pid_t *ret) {
        ThreadOwner key = { .tid = tid }, **found = tfind(&key, &s->threads, thread_compare), *t;
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
        if (found) {
                (*found)->tgid = *ret;
                return 0;
        }
        if (*ret == tid)
                return 0;               /* a main thread: client_find() knows it once it is a client */
        if (s->n_threads >= THREAD_CACHE_MAX)
                thread_cache_clear(s);  /* stale entries of dead threads go too */
        t = malloc(sizeof *t);
        if (!t)
                return 0;               /* only the cache is lost */
        *t = (ThreadOwner) { .tid = tid, .tgid = *ret };
        if (tsearch(t, &s->threads, thread_compare))
                s->n_threads++;
        else
                free(t);
        return 0;
}

/* The process of thread tid: itself when it is a known client's main thread. */
static int process_of(Server *s, pid_t tid, pid_t *ret) {
        if (client_find(s, tid)) {
                *ret = tid;
                return 0;
        }
        return thread_owner(s, tid, ret);
}

/* The request context names a thread; tokens are accounted to its process. */
static int client_get(Server *s, fuse_req_t req, Client **ret) {
        pid_t tid = fuse_req_ctx(req)->pid, tgid;
        Client *c;
        int r;

        if (s->shutting_down)
                return -EIO;
        if (tid <= 0)
                return -EPERM;          /* from outside our pid namespace: cannot be tracked */

        /* One lookup on the hot path: a known client's main thread. */
        c = client_find(s, tid);
        if (c) {
                *ret = c;
                return 0;
        }
        r = thread_owner(s, tid, &tgid);
        if (r < 0)
                return r;
        c = tgid != tid ? client_find(s, tgid) : NULL;
        if (c) {
                *ret = c;
                return 0;
        }
        return client_new(s, tgid, ret);
}

static void reply_token(fuse_req_t req, pid_t pid) {
        static const char token = TOKEN_BYTE;
        int r;

        r = fuse_reply_buf(req, &token, 1);
        /* The reader is gone; its holdings come back when its exit is seen. */
        if (r < 0)
                log_debug("token for pid %d not delivered: %s", (int) pid, strerror(-r));
}

static void on_granted(LedgerWaiter *w, void *userdata) {
        PendingRead *pr = container_of(w, PendingRead, waiter);
        Client *c = pr->client;

        TAILQ_REMOVE(&c->reads, pr, link);
        log_debug("pid %d: waited read granted", (int) c->pid);
        reply_token(pr->req, c->pid);
        free(pr);
}

static void on_reserved(LedgerWaiter *w, void *userdata) {
        Client *c = container_of(w, Client, poll_waiter);

        log_debug("pid %d: token reserved, waking poller", (int) c->pid);
        client_drop_pollhandles(c, true);
}

static const LedgerCallbacks ledger_callbacks = {
        .granted = on_granted,
        .reserved = on_reserved,
};

static int on_reservation_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Server *s = userdata;

        ledger_expire_reservations(&s->ledger, now_usec(s));
        server_rearm(s);
        return 0;
}

/* Interrupt callbacks run inside libfuse's request processing, where replying
 * is not safe; the EINTR answers go out on the next loop iteration. */
static int on_interrupts(sd_event_source *source, void *userdata) {
        Server *s = userdata;
        PendingRead *pr;

        while ((pr = TAILQ_FIRST(&s->interrupted))) {
                TAILQ_REMOVE(&s->interrupted, pr, link);
                (void) fuse_reply_err(pr->req, EINTR);
                free(pr);
        }
        return 0;
}

static void on_interrupt(fuse_req_t req, void *userdata) {
        PendingRead *pr = userdata;
        Client *c = pr->client;
        Server *s;

        if (!c)
                return;
        s = c->server;
        log_debug("pid %d: waiting read interrupted", (int) c->pid);
        ledger_cancel(&s->ledger, &pr->waiter);
        TAILQ_REMOVE(&c->reads, pr, link);
        pr->client = NULL;
        TAILQ_INSERT_TAIL(&s->interrupted, pr, link);
        (void) sd_event_source_set_enabled(s->interrupt_source, SD_EVENT_ONESHOT);
}

static LedgerLimits ledger_limits(const Params *p) {
        return (LedgerLimits) {
                .min_jobs = p->min_jobs,
                .per_process_limit = p->per_process_limit,
                .paused = p->paused,
        };
}

int server_new(sd_event *event, const Params *params, const char *proc, Auth *auth, Server **ret) {
        LedgerLimits limits = ledger_limits(params);
        Server *s;
        int r;

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(event);
        s->params = *params;
        s->auth = auth;
        TAILQ_INIT(&s->interrupted);
        TAILQ_INIT(&s->pending_sets);
        ledger_init(&s->ledger, params->jobs, params->reservation_timeout, &ledger_callbacks, s);
        ledger_set_limits(&s->ledger, &limits, 0);
        s->proc = strdup(proc);
        if (!s->proc) {
                r = -ENOMEM;
                goto fail;
        }
        r = event_add_idle_timer(event, &s->recheck_timer, USEC_PER_SEC / 100, on_recheck_timer, s);
        if (r < 0)
                goto fail;
        r = event_add_idle_timer(event, &s->reservation_timer, USEC_PER_SEC / 1000, on_reservation_timer, s);
        if (r < 0)
                goto fail;
        r = sd_event_add_defer(event, &s->interrupt_source, on_interrupts, s);
        if (r < 0)
                goto fail;
        r = sd_event_source_set_enabled(s->interrupt_source, SD_EVENT_OFF);
        if (r < 0)
                goto fail;
        *ret = s;
        return 0;
fail:
        server_free(s);
        return r;
}

Server *server_free(Server *s) {
        LedgerProcess *p;

        if (!s)
                return NULL;
        /* ledger_process_exit(), in client_free(), unlinks each one. */
        while ((p = TAILQ_FIRST(&s->ledger.processes)))
                client_free(container_of(p, Client, ledger)); // NOLINT(clang-analyzer-unix.Malloc)
        thread_cache_clear(s);
        on_interrupts(NULL, s);
        sd_event_source_disable_unref(s->reservation_timer);
        sd_event_source_disable_unref(s->recheck_timer);
        sd_event_source_disable_unref(s->interrupt_source);
        sd_event_unref(s->event);
        free(s->proc);
        free(s);
        return NULL;
}

const Params *server_params(const Server *s) {
        return &s->params;
}

void server_stats(const Server *s, ServerStats *ret) {
        *ret = (ServerStats) {
                .available = s->ledger.available,
                .held = s->ledger.held,
                .reserved = s->ledger.reserved,
                .waiters = s->ledger.n_waiters + s->ledger.n_parked,
                .processes = s->ledger.n_processes,
        };
}

int server_foreach_holder(Server *s, ServerHolderFn fn, void *userdata) {
        LedgerProcess *p;
        int r;

        TAILQ_FOREACH(p, &s->ledger.processes, process_link)
                if (p->held > 0 && (r = fn(p->pid, p->held, p->jobs, p->n_jobs, userdata)) < 0)
                        return r;
        return 0;
}

int server_foreach_waiter(Server *s, ServerWaiterFn fn, void *userdata) {
        const LedgerProcess *p;
        const LedgerWaiter *w;
        int r;

        TAILQ_FOREACH(w, &s->ledger.waiters, queue_link)
                if ((r = fn(w->process->pid, w->kind, w->since, userdata)) < 0)
                        return r;
        TAILQ_FOREACH(p, &s->ledger.processes, process_link)
                TAILQ_FOREACH(w, &p->parked, queue_link)
                        if ((r = fn(p->pid, w->kind, w->since, userdata)) < 0)
                                return r;
        return 0;
}

int server_reclaim(Server *s, pid_t pid, uint64_t *ret) {
        Client *c = client_find(s, pid);

        if (!c)
                return -ESRCH;
        *ret = ledger_reclaim(&s->ledger, &c->ledger, now_usec(s));
        log_notice("took back %" PRIu64 " token(s) from pid %d", *ret, (int) pid);
        server_rearm(s);
        return 0;
}

uint64_t server_realtime_of(Server *s, uint64_t monotonic) {
        uint64_t mono_now = now_usec(s), real_now = 0;

        (void) sd_event_now(s->event, CLOCK_REALTIME, &real_now);
        return real_now - (mono_now - monotonic);
}

void server_set_observer(Server *s, void (*observer)(void *userdata), void *userdata) {
        s->observer = observer;
        s->observer_data = userdata;
}

int server_set_params(Server *s, const Params *p, const char **error) {
        LedgerLimits limits = ledger_limits(p);
        uint64_t now = now_usec(s);

        *error = params_invalid(p);
        if (!*error)
                *error = sysload_unsupported(s->proc, p);
        if (*error)
                return -EINVAL;

        s->params = *p;
        s->ledger.reservation_timeout = p->reservation_timeout;
        ledger_set_limits(&s->ledger, &limits, now);
        ledger_set_jobs(&s->ledger, p->jobs, now);
        refresh_throttle(s, true);
        server_rearm(s);
        return 0;
}

void server_shutdown(Server *s) {
        LedgerProcess *p;

        s->shutting_down = true;
        while (!TAILQ_EMPTY(&s->pending_sets)) {
                PendingSet *ps = TAILQ_FIRST(&s->pending_sets);

                TAILQ_REMOVE(&s->pending_sets, ps, link);
                auth_cancel(ps->auth);
                (void) fuse_reply_err(ps->req, EIO);
                free(ps);
        }
        TAILQ_FOREACH(p, &s->ledger.processes, process_link) {
                Client *c = container_of(p, Client, ledger);
                PendingRead *pr;

                while ((pr = TAILQ_FIRST(&c->reads))) {
                        TAILQ_REMOVE(&c->reads, pr, link);
                        pending_read_fail(s, pr, EIO);
                }
                client_drop_pollhandles(c, true);
        }
        on_interrupts(NULL, s);
}

static void format_duration(char *buf, size_t size, uint64_t usec) {
        snprintf(buf, size, "%" PRIu64 ".%01" PRIu64 "s", usec / USEC_PER_SEC,
                 usec % USEC_PER_SEC / (USEC_PER_SEC / 10));
}

static void report_process(Server *s, const Client *c, uint64_t now) {
        _cleanup_free_ char *cmdline = NULL;
        char jobs[512] = "", d[32];
        size_t len = 0;

        (void) proc_cmdline(c->pid, CMDLINE_MAX, &cmdline);
        for (size_t i = 0; i < c->ledger.n_jobs && len < sizeof jobs - 64; i++) {
                format_duration(d, sizeof d, now - c->ledger.jobs[i].started);
                len += (size_t) snprintf(jobs + len, sizeof jobs - len, "%sjob %" PRIu64 " for %s",
                                         i ? ", " : "", c->ledger.jobs[i].id, d);
        }
        log_notice("  pid %d holds %" PRIi64 "%s: %s%s%s", (int) c->pid, c->ledger.held,
                   c->ledger.reserved ? " (+1 reserved)" : "",
                   cmdline ? cmdline : "?", len ? "; " : "", jobs);
}

static int report_waiter(pid_t pid, LedgerWaitKind kind, uint64_t since, void *userdata) {
        _cleanup_free_ char *cmdline = NULL;
        uint64_t now = *(uint64_t *) userdata;
        char d[32];

        (void) proc_cmdline(pid, CMDLINE_MAX, &cmdline);
        format_duration(d, sizeof d, now - since);
        log_notice("  pid %d waits (%s) for %s: %s", (int) pid, kind == LEDGER_WAIT_READ ? "read" : "poll", d,
                   cmdline ? cmdline : "?");
        return 0;
}

void server_report(Server *s) {
        const Ledger *l = &s->ledger;
        const LedgerProcess *p;
        uint64_t now = now_usec(s);

        log_notice("%" PRIi64 "/%" PRIu32 " tokens available, %" PRIi64 " held, %" PRIu32
                   " reserved, %zu processes, %zu waiting",
                   l->available, l->jobs, l->held, l->reserved, l->n_processes, l->n_waiters + l->n_parked);
        TAILQ_FOREACH(p, &l->processes, process_link)
                if (p->held != 0 || p->reserved)
                        report_process(s, container_of(p, Client, ledger), now);
        (void) server_foreach_waiter(s, report_waiter, &now);
}

void server_open(Server *s, fuse_req_t req, struct fuse_file_info *fi) {
        /* FUSE would otherwise serve reads from the page cache. */
        fi->direct_io = 1;
        fi->nonseekable = 1;
        fi->keep_cache = 0;
        (void) fuse_reply_open(req, fi);
}

void server_release(Server *s, fuse_req_t req, struct fuse_file_info *fi) {
        /* Closing returns nothing: make closes on SIGINT while its children may
         * still run, and tokens come back when a process exits. */
        (void) fuse_reply_err(req, 0);
}

static void read_blocking(Server *s, Client *c, fuse_req_t req) {
        PendingRead *pr;
        int r;

        pr = calloc(1, sizeof *pr);
        if (!pr) {
                (void) fuse_reply_err(req, ENOMEM);
                return;
        }
        pr->req = req;
        pr->client = c;
        r = ledger_acquire(&s->ledger, &c->ledger, &pr->waiter, now_usec(s));
        if (r != LEDGER_QUEUED) {
                free(pr);
                if (r == LEDGER_GRANTED)
                        reply_token(req, c->pid);
                else
                        (void) fuse_reply_err(req, r < 0 ? -r : EIO);
                return;
        }
        TAILQ_INSERT_TAIL(&c->reads, pr, link);
        log_debug("pid %d: read waits", (int) c->pid);
        /* Runs on_interrupt at once if the signal came first. */
        fuse_req_interrupt_func(req, on_interrupt, pr);
}

void server_read(Server *s, fuse_req_t req, size_t size, struct fuse_file_info *fi) {
        Client *c;
        int r;

        r = client_get(s, req, &c);
        if (r < 0) {
                (void) fuse_reply_err(req, -r);
                return;
        }
        refresh_throttle(s, false);
        if (size == 0)
                (void) fuse_reply_buf(req, NULL, 0);
        else if (!(fi->flags & O_NONBLOCK))
                read_blocking(s, c, req);
        else {
                r = ledger_acquire(&s->ledger, &c->ledger, NULL, now_usec(s));
                if (r == LEDGER_GRANTED)
                        reply_token(req, c->pid);
                else
                        (void) fuse_reply_err(req, r == LEDGER_WOULD_BLOCK ? EAGAIN : -r);
        }
        server_rearm(s);
}

void server_write(Server *s, fuse_req_t req, size_t size, struct fuse_file_info *fi) {
        Client *c;
        int r;

        r = client_get(s, req, &c);
        if (r < 0) {
                (void) fuse_reply_err(req, -r);
                return;
        }
        r = ledger_release(&s->ledger, &c->ledger, size, now_usec(s));
        if (r == LEDGER_NOT_HELD) {
                log_info("pid %d returned %zu token(s) holding %" PRIi64, (int) c->pid, size,
                         c->ledger.held);
                (void) fuse_reply_err(req, ENOSPC);
        } else
                (void) fuse_reply_write(req, size);
        server_rearm(s);
}

void server_poll(Server *s, fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph) {
        unsigned events = POLLOUT | POLLWRNORM;
        Client *c;
        int r;

        r = client_get(s, req, &c);
        if (r < 0) {
                fuse_pollhandle_destroy(ph);
                (void) fuse_reply_err(req, -r);
                return;
        }
        refresh_throttle(s, false);
        r = ledger_poll(&s->ledger, &c->ledger, ph ? &c->poll_waiter : NULL, now_usec(s));
        if (r == LEDGER_QUEUED)
                client_keep_pollhandle(c, ph);
        else {
                fuse_pollhandle_destroy(ph);
                if (r == LEDGER_GRANTED)
                        events |= POLLIN | POLLRDNORM;
        }
        (void) fuse_reply_poll(req, events);
        server_rearm(s);
}

/* How many bytes an ioctl moves each way. FIONREAD predates the size
 * encoding; ours are well-formed _IOR/_IOW numbers. */
static void ioctl_sizes(unsigned cmd, size_t *in, size_t *out) {
        size_t size = _IOC_SIZE(cmd);

        if (cmd == FIONREAD) {
                *in = 0;
                *out = sizeof(int);
                return;
        }
        *in = (_IOC_DIR(cmd) & _IOC_WRITE) ? size : 0;
        *out = (_IOC_DIR(cmd) & _IOC_READ) ? size : 0;
}

/* CUSE passes unrestricted ioctls without data at first: ask the kernel to
 * retry with the buffers the number implies. false when the request is done. */
static bool ioctl_have_buffers(fuse_req_t req, unsigned cmd, void *arg, unsigned flags,
                               size_t in_bufsz, size_t out_bufsz) {
        struct iovec in_iov = { .iov_base = arg }, out_iov = { .iov_base = arg };
        size_t in, out;

        ioctl_sizes(cmd, &in, &out);
        if (in_bufsz >= in && out_bufsz >= out)
                return true;
        if (!(flags & FUSE_IOCTL_UNRESTRICTED)) {
                (void) fuse_reply_err(req, EINVAL);
                return false;
        }
        in_iov.iov_len = in;
        out_iov.iov_len = out;
        (void) fuse_reply_ioctl_retry(req, in ? &in_iov : NULL, in ? 1 : 0, out ? &out_iov : NULL, out ? 1 : 0);
        return false;
}


static bool ioctl_get(const Server *s, unsigned cmd, IoctlValue *v) {
        const ParamInfo *info = param_by_ioctl_get(cmd);

        if (info)
                param_get(&s->params, info, v);
        else if (cmd == STEVE_IOC_GET_VERSION)
                v->u32 = STEVE_IOCTL_VERSION;
        else if (cmd == STEVE_IOC_GET_TOKENS)
                v->i64 = s->ledger.available;
        else
                return false;
        return true;
}

/* Applies v to the parameters as they are now; an errno for the caller. */
static int ioctl_commit(Server *s, unsigned cmd, const IoctlValue *v, pid_t pid) {
        Params p = s->params;
        const char *error = NULL;

        if (!params_apply_ioctl(cmd, v, &p) || server_set_params(s, &p, &error) < 0) {
                log_info("pid %d: ioctl 0x%x refused: %s", (int) pid, cmd, error ? error : "invalid value");
                return EINVAL;
        }
        log_info("pid %d changed parameters with ioctl 0x%x", (int) pid, cmd);
        return 0;
}

static void on_set_authorized(AuthResult result, void *userdata) {
        PendingSet *ps = userdata;
        Server *s = ps->server;
        int error = result == AUTH_ALLOWED ? ioctl_commit(s, ps->cmd, &ps->value, ps->pid) : EPERM;

        TAILQ_REMOVE(&s->pending_sets, ps, link);
        if (error)
                (void) fuse_reply_err(ps->req, error);
        else
                (void) fuse_reply_ioctl(ps->req, 0, NULL, 0);
        free(ps);
        server_rearm(s);
}

static void ioctl_set(Server *s, fuse_req_t req, unsigned cmd, const void *in_buf, size_t in_bufsz) {
        const struct fuse_ctx *ctx = fuse_req_ctx(req);
        const ParamInfo *info = param_by_ioctl_set(cmd);
        Params p = s->params;
        PendingSet *ps;
        IoctlValue v = {};
        AuthSubject subject = { .uid = ctx->uid, .pid = ctx->pid };
        pid_t tgid;
        int r;

        if (!info) {
                (void) fuse_reply_err(req, ENOTTY);
                return;
        }
        memcpy(&v, in_buf, in_bufsz < sizeof v ? in_bufsz : sizeof v);
        /* Nonsense is refused before anyone is asked. */
        if (!param_set(&p, info, &v) || params_invalid(&p) || sysload_unsupported(s->proc, &p)) {
                (void) fuse_reply_err(req, EINVAL);
                return;
        }
        if (process_of(s, ctx->pid, &tgid) >= 0)
                subject.pid = tgid;
        ps = calloc(1, sizeof *ps);
        if (!ps) {
                (void) fuse_reply_err(req, ENOMEM);
                return;
        }
        *ps = (PendingSet) { .server = s, .req = req, .cmd = cmd, .value = v, .pid = subject.pid };
        TAILQ_INSERT_TAIL(&s->pending_sets, ps, link);
        r = auth_check(s->auth, info->manage ? AUTH_MANAGE : AUTH_CONFIGURE, &subject, false,
                       on_set_authorized, ps, &ps->auth);
        if (r < 0) {
                TAILQ_REMOVE(&s->pending_sets, ps, link);
                free(ps);
                (void) fuse_reply_err(req, -r);
        }
}

static void ioctl_fionread(Server *s, fuse_req_t req) {
        uint64_t n;
        int value;
        Client *c;
        int r;

        r = client_get(s, req, &c);
        if (r < 0) {
                (void) fuse_reply_err(req, -r);
                return;
        }
        refresh_throttle(s, false);
        n = ledger_available_to(&s->ledger, &c->ledger);
        value = n > INT_MAX ? INT_MAX : (int) n;
        (void) fuse_reply_ioctl(req, 0, &value, sizeof value);
}

void server_ioctl(Server *s, fuse_req_t req, unsigned int cmd, void *arg, struct fuse_file_info *fi,
                  unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz) {
        IoctlValue v = {};

        if (flags & FUSE_IOCTL_COMPAT) {
                (void) fuse_reply_err(req, ENOSYS);
                return;
        }
        if (cmd != FIONREAD && _IOC_TYPE(cmd) != STEVE_IOC_MAGIC) {
                (void) fuse_reply_err(req, ENOTTY);
                return;
        }
        if (!ioctl_have_buffers(req, cmd, arg, flags, in_bufsz, out_bufsz))
                return;

        if (cmd == FIONREAD)
                ioctl_fionread(s, req);
        else if (_IOC_DIR(cmd) == _IOC_READ && ioctl_get(s, cmd, &v))
                (void) fuse_reply_ioctl(req, 0, &v, _IOC_SIZE(cmd));
        else if (_IOC_DIR(cmd) == _IOC_WRITE)
                ioctl_set(s, req, cmd, in_buf, in_bufsz);
        else
                (void) fuse_reply_err(req, ENOTTY);
        server_rearm(s);
}
