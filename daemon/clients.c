/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Client processes (clients.h). What is known of one (name, parent, start
 * time) is read at once from /proc/PID/stat, which is safe while it is in a
 * request to steve (proc.h); its command line, which takes a lock of the
 * process's, is read off the loop (cmdline.h) when somebody wants it.
 */
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "clients.h"
#include "cmdline.h"
#include "log.h"
#include "threads.h"
#include "util.h"

struct Clients {
        void *tree;                             /* tsearch(), by pid */
        ThreadCache threads;
        CmdlineReader *cmdlines;
        unsigned cmdlines_in_flight, fetch_round;
        TAILQ_HEAD(, ClientsFetch) fetches;
        sd_event_source *fetch_source;          /* answers fetches when nothing is in flight */
};

/* Someone waiting for the command lines being read. */
struct ClientsFetch {
        Server *server;
        void (*done)(void *userdata);
        void *userdata;
        TAILQ_ENTRY(ClientsFetch) link;
};

static int client_compare(const void *a, const void *b) {
        pid_t x = ((const Client *) a)->pid, y = ((const Client *) b)->pid;
        return (x > y) - (x < y);
}

Client *client_find(Server *s, pid_t pid) {
        Client key = { .pid = pid };
        Client **found = tfind(&key, &s->clients->tree, client_compare);
        return found ? *found : NULL;
}

void client_drop_pollhandles(Client *c, bool notify) {
        if (c->n_pollhandles == 0)
                return;
        for (size_t i = 0; i < c->n_pollhandles; i++) {
                if (notify && c->pollhandles[i])
                        (void) fuse_lowlevel_notify_poll(c->pollhandles[i]);
                if (c->pollhandles[i])
                        fuse_pollhandle_destroy(c->pollhandles[i]);
        }
        c->n_pollhandles = 0;
        server_client_changed(c->server, c);
}

void client_keep_pollhandle(Client *c, struct fuse_pollhandle *ph, uint64_t kh) {
        if (c->n_pollhandles == MAX_POLLHANDLES) {
                if (c->pollhandles[0])
                        fuse_pollhandle_destroy(c->pollhandles[0]);
                memmove(c->pollhandles, c->pollhandles + 1, (MAX_POLLHANDLES - 1) * sizeof c->pollhandles[0]);
                memmove(c->poll_khs, c->poll_khs + 1, (MAX_POLLHANDLES - 1) * sizeof c->poll_khs[0]);
                c->n_pollhandles--;
        }
        c->pollhandles[c->n_pollhandles] = ph;
        c->poll_khs[c->n_pollhandles++] = kh;
        server_client_changed(c->server, c);
}

const char *client_label(const Client *c, bool cmdline) {
        return cmdline && c->cmdline && c->cmdline[0] ? c->cmdline : c->stat.comm;
}

/* Command lines */

static void cmdline_settled(Clients *cs) {
        if (--cs->cmdlines_in_flight == 0 && !TAILQ_EMPTY(&cs->fetches))
                (void) sd_event_source_set_enabled(cs->fetch_source, SD_EVENT_ONESHOT);
}

static void on_cmdline(const char *text, int error, void *userdata) {
        Client *c = userdata;
        bool first_look = !c->cmdline_tried;

        c->cmdline_request = NULL;
        /* Refused while its user's stall holds a reader: asked again at the next fetch. */
        if (error == -EBUSY) {
                cmdline_settled(c->server->clients);
                return;
        }
        c->cmdline_tried = true;
        if (text)
                c->cmdline = strdup(text);
        /* -v: the connection is told once its command line is known. */
        if (first_look)
                log_info("pid %d %s: %s", (int) c->pid, c->adopted ? "is the steve before's" : "connected",
                         client_label(c, true));
        cmdline_settled(c->server->clients);
}

static void want_cmdline(Client *c) {
        Clients *cs = c->server->clients;

        if (c->cmdline_tried || c->cmdline_request)
                return;
        if (cmdline_read(cs->cmdlines, c->pid, c->uid, c->stat.start_time, on_cmdline, c, &c->cmdline_request) < 0) {
                c->cmdline_tried = true;        /* its name will do */
                return;
        }
        cs->cmdlines_in_flight++;
}

static void want_cmdline_of(const void *node, VISIT which, void *closure) {
        if (which == postorder || which == leaf)
                want_cmdline(*(Client *const *) node);
}

/* Rounds of reading for processes that came while one was being read:
 * enough for a listing, bounded under churn. */
#define FETCH_ROUNDS 3

static int on_fetches(sd_event_source *source, void *userdata) {
        Clients *cs = userdata;
        ClientsFetch *f;

        if (cs->cmdlines_in_flight > 0)
                return 0;
        /* Whoever connected meanwhile is read too, a few rounds long. */
        if (++cs->fetch_round < FETCH_ROUNDS) {
                twalk_r(cs->tree, want_cmdline_of, NULL);
                if (cs->cmdlines_in_flight > 0)
                        return 0;
        }
        cs->fetch_round = 0;
        /* One answer a turn of the loop: a listing is the one costly thing
         * steve builds, and token requests take their turns between two
         * (same priority: sd-event serves the longest pending first). */
        f = TAILQ_FIRST(&cs->fetches);
        if (f) {
                TAILQ_REMOVE(&cs->fetches, f, link);
                f->done(f->userdata);
                free(f);
        }
        if (!TAILQ_EMPTY(&cs->fetches))
                (void) sd_event_source_set_enabled(cs->fetch_source, SD_EVENT_ONESHOT);
        return 0;
}

int clients_fetch_cmdlines(Server *s, void (*done)(void *userdata), void *userdata, ClientsFetch **ret) {
        Clients *cs = s->clients;
        ClientsFetch *f = calloc(1, sizeof *f);

        if (!f)
                return -ENOMEM;
        *f = (ClientsFetch) { .server = s, .done = done, .userdata = userdata };
        twalk_r(cs->tree, want_cmdline_of, NULL);
        TAILQ_INSERT_TAIL(&cs->fetches, f, link);
        if (cs->cmdlines_in_flight == 0)
                (void) sd_event_source_set_enabled(cs->fetch_source, SD_EVENT_ONESHOT);
        if (ret)
                *ret = f;
        return 0;
}

void clients_fetch_cancel(ClientsFetch *f) {
        if (f) {
                TAILQ_REMOVE(&f->server->clients->fetches, f, link);
                free(f);
        }
}

static void client_free(Client *c);

int clients_new(Server *s) {
        Clients *cs = calloc(1, sizeof *cs);
        int r;

        if (!cs)
                return -ENOMEM;
        s->clients = cs;
        TAILQ_INIT(&cs->fetches);
        r = cmdline_reader_new(s->event, &cs->cmdlines);
        if (r >= 0)
                r = sd_event_add_defer(s->event, &cs->fetch_source, on_fetches, cs);
        if (r >= 0)
                r = sd_event_source_set_enabled(cs->fetch_source, SD_EVENT_OFF);
        return r;
}

void clients_free(Server *s) {
        Clients *cs = s->clients;
        LedgerProcess *p;
        ClientsFetch *f;

        if (!cs)
                return;
        /* ledger_process_exit(), in client_free(), unlinks each one. */
        while ((p = ledger_first_process(s->ledger)))
                client_free(client_of(p)); // NOLINT(clang-analyzer-unix.Malloc)
        while ((f = TAILQ_FIRST(&cs->fetches)))
                clients_fetch_cancel(f); // NOLINT(clang-analyzer-unix.Malloc): it unlinks f
        sd_event_source_disable_unref(cs->fetch_source);
        cmdline_reader_free(cs->cmdlines);
        thread_cache_clear(&cs->threads);
        free(cs);
        s->clients = NULL;
}

/* Processes */

static Client *client_ancestor(Server *s, const Client *c, bool (*want)(const Client *a));

static bool lends_a_token(const Client *a) {
        return ledger_process_lent(&a->ledger) > 0;
}

static void client_free(Client *c) {
        Server *s = c->server;

        /* The kernel keeps a dying reader waiting for our answer, so none should
         * be left; whoever keeps any answers them now. */
        server_client_leaving(s, c);
        if (ledger_process_borrowed(&c->ledger)) {
                Client *lender = client_ancestor(s, c, lends_a_token);

                ledger_loan_ended(s->ledger, &c->ledger, lender ? &lender->ledger : NULL, server_now(s));
        }
        ledger_process_exit(s->ledger, &c->ledger, server_now(s));
        client_drop_pollhandles(c, false);
        server_client_gone(s, c);
        if (c->cmdline_request) {
                cmdline_cancel(c->cmdline_request);
                cmdline_settled(s->clients);
        }
        tdelete(c, &s->clients->tree, client_compare);
        sd_event_source_disable_unref(c->exit_source);
        closep(&c->pidfd);
        free(c->cmdline);
        free(c);
}

static int on_client_exit(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Client *c = userdata;

        log_info("pid %d exited holding %" PRIi64 " token(s)", (int) c->pid, ledger_process_held(&c->ledger));
        client_free(c);
        return 0;
}

/* Its exit, seen through its pidfd, ends it. */
static int client_watch(Client *c) {
        int r = sd_event_add_io(c->server->event, &c->exit_source, c->pidfd, EPOLLIN, on_client_exit, c);

        if (r < 0)
                return r;
        /* A reused pid must not inherit holdings: the exit of the old process is
         * handled before any request, which the new one can only send later. */
        return sd_event_source_set_priority(c->exit_source, SD_EVENT_PRIORITY_IMPORTANT);
}

/* Depth enough for make, sh -c, cc-rs, emerge's sandbox; a loop in a pid
 * namespace's /proc cannot keep us. */
#define ANCESTOR_SEARCH_DEPTH 16

/* The nearest ancestor of c that is a client and that want() takes, walking
 * through processes that are not clients (the shells make runs recipes in). */
static Client *client_ancestor(Server *s, const Client *c, bool (*want)(const Client *a)) {
        pid_t pid = c->stat.ppid;

        for (unsigned i = 0; i < ANCESTOR_SEARCH_DEPTH && pid > 1; i++) {
                Client *ancestor = client_find(s, pid);

                /* Started after c, it is a stranger that got a dead parent's pid. */
                if (ancestor && ancestor->stat.start_time > c->stat.start_time)
                        return NULL;
                if (ancestor && want(ancestor))
                        return ancestor;
                /* Not in a request to steve: its status, never its stat (proc.h). */
                if (ancestor)
                        pid = ancestor->stat.ppid;
                else if (proc_parent_of(pid, &pid) < 0)
                        return NULL;
        }
        return NULL;
}

static bool any_client(const Client *a) {
        return true;
}

static bool holds_a_token(const Client *a) {
        return ledger_process_held(&a->ledger) > 0;
}

Client *client_lender(Server *s, Client *c) {
        return client_ancestor(s, c, holds_a_token);
}

/* c joins the build of its nearest client ancestor, as a sub-build of it,
 * or leads a build of its own; its weight is its nice value's. */
static LedgerProcess *client_parent(Server *s, const Client *c) {
        Client *parent = client_ancestor(s, c, any_client);
        return parent ? &parent->ledger : NULL;
}

static int client_attach(Server *s, Client *c) {
        return ledger_process_attach_under(s->ledger, &c->ledger, c->pid, c->uid, client_parent(s, c),
                                           ledger_weight_of_nice(c->stat.nice));
}

/* pidfd: pid's, open already (it told us pid leads its thread group). */
static int client_new(Server *s, pid_t pid, uid_t uid, int pidfd, Client **ret) {
        _cleanup_free_ Client *c = NULL;
        int r;

        c = calloc(1, sizeof *c);
        if (!c) {
                close(pidfd);
                return -ENOMEM;
        }
        c->server = s;
        c->pid = pid;
        c->uid = uid;
        c->pidfd = pidfd;
        r = proc_stat(pid, &c->stat);
        if (r < 0)
                goto fail;
        r = client_watch(c);
        if (r < 0)
                goto fail;
        r = client_attach(s, c);
        if (r == -EUSERS)
                log_info("pid %d refused: uid %u has %" PRIu32 " processes in steve already", (int) pid,
                         (unsigned) uid, s->params.clients_per_user);
        if (r < 0)
                goto fail;
        if (!tsearch(c, &s->clients->tree, client_compare)) {
                /* What the parts made for it when the ledger took it goes too. */
                ledger_process_exit(s->ledger, &c->ledger, server_now(s));
                server_client_gone(s, c);
                r = -ENOMEM;
                goto fail;
        }
        server_client_changed(s, c);
        if (log_get_max_level() >= LOG_LEVEL_INFO)
                want_cmdline(c);
        *ret = TAKE_PTR(c);
        return 0;

fail:
        sd_event_source_disable_unref(c->exit_source);
        closep(&c->pidfd);
        return r == -ENOENT ? -ESRCH : r;
}

/* A recorded process is in no request to steve: its stat may wait for an
 * execve() for good (proc.h), and steve would never start. */
#define RESTORE_STAT_TIMEOUT (USEC_PER_SEC / 4)

/* The same process, or another that got its pid: that one inherits nothing. */
static int restored_stat(const StateProcess *p, ProcStat *ret) {
        int r = proc_stat_within(p->pid, p->uid, RESTORE_STAT_TIMEOUT, ret);

        if (r == -ETIMEDOUT || r == -EBUSY) {
                log_notice("pid %d does not answer for its /proc stat (in execve()?): kept as uid %u's, "
                           "its start time taken on trust", (int) p->pid, (unsigned) p->uid);
                return proc_stat_unverified(p->pid, p->uid, p->start_time, ret);
        }
        if (r >= 0 && ret->start_time != p->start_time)
                r = -ESRCH;
        return r;
}

int client_restore(Server *s, const StateProcess *p, Client **ret) {
        _cleanup_free_ Client *c = NULL;
        const LedgerJob *jobs = (const LedgerJob *) p->jobs;
        LedgerProcessState st = {
                .pid = p->pid, .uid = p->uid, .held = p->held,
                .absorb = p->absorb & STATE_ABSORB_MASK, .lent = p->absorb >> STATE_LENT_SHIFT,
                .ever_acquired = p->flags & STATE_EVER_ACQUIRED,
                .returned_implicit = p->flags & STATE_RETURNED_IMPLICIT,
                .borrowed = p->flags & STATE_BORROWED,
                .jobs = jobs, .n_jobs = p->n_jobs < STATE_JOBS ? p->n_jobs : STATE_JOBS,
                .weight = (p->flags >> STATE_WEIGHT_SHIFT) & STATE_WEIGHT_MASK,
        };
        int r;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->server = s;
        c->pid = p->pid;
        c->uid = p->uid;
        c->adopted = true;
        c->pidfd = -1;
        r = restored_stat(p, &c->stat);
        if (r >= 0)
                r = c->pidfd = pidfd_open_process(p->pid);
        if (r >= 0)
                r = client_watch(c);
        if (r >= 0) {
                /* Its parents were restored before it: the tree is found again. */
                st.parent = client_parent(s, c);
                if (st.weight == 0 || st.weight > LEDGER_WEIGHT_MAX)
                        st.weight = ledger_weight_of_nice(c->stat.nice);
                r = ledger_process_restore(s->ledger, &c->ledger, &st);
        }
        if (r < 0) {
                sd_event_source_disable_unref(c->exit_source);
                closep(&c->pidfd);
                return r;
        }
        if (!tsearch(c, &s->clients->tree, client_compare)) {
                ledger_process_exit(s->ledger, &c->ledger, server_now(s));
                server_client_gone(s, c);
                sd_event_source_disable_unref(c->exit_source);
                closep(&c->pidfd);
                return -ENOMEM;
        }
        /* Its pollers are woken to poll again: the handles to wake them by. */
        c->n_pollhandles = p->n_polls < MAX_POLLHANDLES ? p->n_polls : MAX_POLLHANDLES;
        memcpy(c->poll_khs, p->polls, c->n_pollhandles * sizeof c->poll_khs[0]);
        *ret = TAKE_PTR(c);
        return 0;
}

int client_set_weight(Server *s, pid_t pid, uint32_t weight) {
        Client *c = client_find(s, pid);
        int r;

        if (!c)
                return -ESRCH;
        r = ledger_process_set_weight(s->ledger, &c->ledger, weight);
        if (r < 0)
                return r;
        log_info("pid %d leads a build of weight %" PRIu32 " now", (int) pid, weight);
        server_client_changed(s, c);
        return 0;
}

int client_reclaim(Server *s, pid_t pid, uint64_t *ret) {
        Client *c = client_find(s, pid);

        if (!c)
                return -ESRCH;
        *ret = ledger_reclaim(s->ledger, &c->ledger, server_now(s));
        log_notice("took back %" PRIu64 " token(s) from pid %d", *ret, (int) pid);
        server_changed(s);
        return 0;
}

void clients_on_ledger_changed(LedgerProcess *p, void *userdata) {
        server_client_changed(userdata, client_of(p));
}

int client_process_of(Server *s, pid_t tid, pid_t *ret) {
        if (client_find(s, tid)) {
                *ret = tid;
                return 0;
        }
        return thread_cache_owner(&s->clients->threads, tid, ret);
}

int client_get(Server *s, pid_t tid, uid_t uid, Client **ret) {
        pid_t tgid;
        Client *c;
        int pidfd, r;

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
        /* A new process's main thread: pidfd_open() takes only a thread group's
         * leader, so it tells us that at once, and we need the pidfd anyway.
         * Another thread gets EINVAL (Linux 6.1) or ENOENT (6.18). */
        pidfd = pidfd_open_process(tid);
        if (pidfd >= 0)
                return client_new(s, tid, uid, pidfd, ret);
        if (pidfd != -EINVAL && pidfd != -ENOENT)
                return pidfd;
        r = thread_cache_owner(&s->clients->threads, tid, &tgid);
        if (r < 0)
                return r;
        c = client_find(s, tgid);
        if (c) {
                *ret = c;
                return 0;
        }
        pidfd = pidfd_open_process(tgid);
        if (pidfd < 0)
                return pidfd;
        return client_new(s, tgid, uid, pidfd, ret);
}
