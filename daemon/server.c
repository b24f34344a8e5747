/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Server: the ledger with its parameters, the timers it needs, and what
 * the bus, the notifier and main() read and change. The kernel's requests
 * are served by requests.c and ioctl.c, client processes tracked by
 * clients.c, the load watched by throttle.c.
 */
#include <stdlib.h>
#include <string.h>

#include "event-util.h"
#include "log.h"
#include "proc.h"
#include "server-internal.h"
#include "sysload.h"
#include "util.h"

uint64_t server_now(Server *s) {
        uint64_t t = 0;
        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &t);
        return t;
}

/* Timers run only while they have work: a reservation to expire, or a waiter
 * held back by a limit. An idle steve sets none. */
void server_rearm(Server *s) {
        event_set_timer(s->reservation_timer, ledger_next_deadline(s->ledger));
        throttle_rearm(s);
        monitor_note(s);
        if (s->observer)
                s->observer(s->observer_data);
}

static LedgerLimits ledger_limits(const Params *p) {
        return (LedgerLimits) {
                .min_jobs = p->min_jobs,
                .per_process_limit = p->per_process_limit,
                .per_user_limit = p->per_user_limit,
                .paused = p->paused,
                .policy = (LedgerPolicy) p->policy,
                .claim_timeout = p->claim_timeout,
                .waiters_per_user = p->waiters_per_user,
                .processes_per_user = p->clients_per_user,
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
        s->configured = *params;
        s->auth = auth;
        TAILQ_INIT(&s->pending_sets);
        r = requests_init(s);
        if (r >= 0)
                r = throttle_init(s);
        if (r >= 0)
                r = clients_init(s);
        if (r >= 0)
                r = persist_init(s);
        if (r >= 0)
                r = ledger_new(params->jobs, params->reservation_timeout, &requests_ledger_callbacks, s, &s->ledger);
        if (r >= 0 && !(s->proc = strdup(proc)))
                r = -ENOMEM;
        if (r < 0) {
                server_free(s);
                return r;
        }
        ledger_set_limits(s->ledger, &limits, 0);
        *ret = s;
        return 0;
}

Server *server_free(Server *s) {
        LedgerProcess *p;

        if (!s)
                return NULL;
        /* ledger_process_exit(), in client_free(), unlinks each one. */
        while (s->ledger && (p = ledger_first_process(s->ledger)))
                client_free(container_of(p, Client, ledger)); // NOLINT(clang-analyzer-unix.Malloc)
        persist_done(s);
        s->ledger = ledger_free(s->ledger);
        clients_done(s);
        thread_cache_clear(&s->threads);
        requests_done(s);
        sd_event_source_disable_unref(s->recheck_timer);
        sd_event_unref(s->event);
        free(s->proc);
        free(s);
        return NULL;
}

const Params *server_params(const Server *s) {
        return &s->params;
}

void server_stats(const Server *s, LedgerStats *ret) {
        ledger_stats(s->ledger, ret);
}

ServerProcess server_describe(const LedgerProcess *p) {
        const Client *c = container_of(p, Client, ledger);
        ServerProcess sp = {
                .pid = c->pid, .ppid = c->stat.ppid, .uid = c->uid, .comm = c->stat.comm,
                .cmdline = c->cmdline_tried ? c->cmdline : NULL,
                .held = ledger_process_held(p), .reserved = ledger_process_reserved(p),
                .build = ledger_group_leader(ledger_process_build(p)),
                .weight = ledger_group_weight(ledger_process_build(p)),
        };

        sp.jobs = ledger_process_jobs(p, &sp.n_jobs);
        return sp;
}

typedef struct HolderWalk {
        ServerHolderFn fn;
        void *userdata;
} HolderWalk;

static int visit_holder(const LedgerProcess *p, void *userdata) {
        HolderWalk *walk = userdata;
        ServerProcess sp;

        if (ledger_process_held(p) <= 0 && !ledger_process_reserved(p))
                return 0;
        sp = server_describe(p);
        return walk->fn(&sp, walk->userdata);
}

int server_foreach_holder(Server *s, ServerHolderFn fn, void *userdata) {
        HolderWalk walk = { fn, userdata };
        return ledger_foreach_process(s->ledger, visit_holder, &walk);
}

typedef struct WaiterWalk {
        ServerWaiterFn fn;
        void *userdata;
} WaiterWalk;

static int visit_waiter(const LedgerWaiter *w, void *userdata) {
        WaiterWalk *walk = userdata;
        ServerProcess sp = server_describe(ledger_waiter_process(w));

        return walk->fn(&sp, ledger_waiter_kind(w), ledger_waiter_since(w), walk->userdata);
}

int server_foreach_waiter(Server *s, ServerWaiterFn fn, void *userdata) {
        WaiterWalk walk = { fn, userdata };
        return ledger_foreach_waiter(s->ledger, visit_waiter, &walk);
}

static int is_stranger(const LedgerProcess *p, void *userdata) {
        return ledger_process_uid(p) != *(uid_t *) userdata ? -1 : 0;
}

bool server_hides_pids(const Server *s) {
        return proc_hides_pids(s->proc);
}

bool server_others_present(Server *s, uid_t uid) {
        return ledger_foreach_process(s->ledger, is_stranger, &uid) < 0;
}

int server_fetch_cmdlines(Server *s, void (*done)(void *userdata), void *userdata, ServerFetch **ret) {
        return clients_fetch_cmdlines(s, done, userdata, ret);
}

void server_fetch_cancel(ServerFetch *f) {
        clients_fetch_cancel(f);
}

int server_reclaim(Server *s, pid_t pid, uint64_t *ret) {
        Client *c = client_find(s, pid);

        if (!c)
                return -ESRCH;
        *ret = ledger_reclaim(s->ledger, &c->ledger, server_now(s));
        log_notice("took back %" PRIu64 " token(s) from pid %d", *ret, (int) pid);
        server_rearm(s);
        return 0;
}

uint64_t server_realtime_of(Server *s, uint64_t monotonic) {
        uint64_t mono_now = server_now(s), real_now = 0;

        (void) sd_event_now(s->event, CLOCK_REALTIME, &real_now);
        return real_now - (mono_now - monotonic);
}

void server_set_observer(Server *s, void (*observer)(void *userdata), void *userdata) {
        s->observer = observer;
        s->observer_data = userdata;
}

void server_set_reexec(Server *s, void (*reexec)(void *userdata), void *userdata) {
        s->reexec = reexec;
        s->reexec_data = userdata;
}

void server_reexec(Server *s) {
        if (s->reexec)
                s->reexec(s->reexec_data);
}

int server_set_params(Server *s, const Params *p, const char **error) {
        LedgerLimits limits = ledger_limits(p);
        uint64_t now = server_now(s);

        *error = params_invalid(p);
        if (!*error)
                *error = sysload_unsupported(s->proc, p);
        if (*error)
                return -EINVAL;

        s->params = *p;
        persist_note_params(s);
        ledger_set_reservation_timeout(s->ledger, p->reservation_timeout);
        ledger_set_limits(s->ledger, &limits, now);
        ledger_set_jobs(s->ledger, p->jobs, now);
        throttle_refresh(s, true);
        server_rearm(s);
        return 0;
}

static int fail_client(const LedgerProcess *p, void *userdata) {
        Client *c = container_of(p, Client, ledger);

        requests_fail_reads(c->server, c, EIO);
        client_drop_pollhandles(c, true);
        return 0;
}

void server_shutdown(Server *s) {
        s->shutting_down = true;
        ioctl_fail_pending(s);
        (void) ledger_foreach_process(s->ledger, fail_client, NULL);
        requests_answer_interrupted(s);
}

void server_prepare_reexec(Server *s) {
        /* Interrupted reads want their EINTR from this steve; the rest waits. */
        requests_answer_interrupted(s);
        persist_flush(s);
}

void server_hand_over(Server *s) {
        /* What this iteration did goes in; from here on, nothing does, and
         * nothing is answered (persist.c), whatever tearing down does to the
         * ledger. */
        persist_flush(s);
        s->state = NULL;
        s->shutting_down = true;
        s->handing_over = true;
        ioctl_fail_pending(s);
}
