/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The core: the ledger with its parameters, and one list of observers told
 * what happened. A change made through any door is settled once, after the
 * loop iteration that made it (a post source): timers rearmed, the use
 * noted, the state file committed, monitors told, each by whoever
 * subscribed for it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"
#include "server-internal.h"
#include "sysload.h"

uint64_t server_now(Server *s) {
        uint64_t t = 0;
        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &t);
        return t;
}

void server_changed(Server *s) {
        s->unsettled = true;
}

/* Each listener of hook, in the order they subscribed. */
#define TELL(s, hook)                                                                   \
        for (size_t i_ = 0; i_ < (s)->listeners.n_##hook; i_++)                         \
                (s)->listeners.hook[i_].fn((s)->listeners.hook[i_].userdata)
#define TELL_OF(s, hook, c)                                                             \
        for (size_t i_ = 0; i_ < (s)->listeners.n_##hook; i_++)                         \
                (s)->listeners.hook[i_].fn((c), (s)->listeners.hook[i_].userdata)

void server_client_changed(Server *s, Client *c) {
        s->unsettled = true;
        TELL_OF(s, client_changed, c);
}

void server_client_leaving(Server *s, Client *c) {
        s->unsettled = true;
        TELL_OF(s, client_leaving, c);
}

void server_client_gone(Server *s, Client *c) {
        s->unsettled = true;
        TELL_OF(s, client_gone, c);
}

/* A settled hook that changes something again (an answer that frees a
 * token) is settled in the same iteration, a few rounds at most. */
#define SETTLE_ROUNDS 4

static void settle(Server *s) {
        for (unsigned round = 0; s->unsettled && round < SETTLE_ROUNDS; round++) {
                s->unsettled = false;
                TELL(s, settled);
        }
}

static int on_settle(sd_event_source *source, void *userdata) {
        settle(userdata);
        return 0;
}

#define LISTEN(s, o, userdata, hook)                                                                     \
        do {                                                                                             \
                if ((o)->hook)                                                                           \
                        (s)->listeners.hook[(s)->listeners.n_##hook++] = (typeof((s)->listeners.hook[0])) { \
                                (o)->hook, (userdata) };                                                 \
        } while (0)

int server_observe(Server *s, const ServerObserver *o, void *userdata) {
        if (s->n_observers == SERVER_OBSERVERS_MAX)
                return -ENOBUFS;
        LISTEN(s, o, userdata, client_changed);
        LISTEN(s, o, userdata, client_leaving);
        LISTEN(s, o, userdata, client_gone);
        LISTEN(s, o, userdata, params_changed);
        LISTEN(s, o, userdata, settled);
        LISTEN(s, o, userdata, stopping);
        return (int) s->n_observers++;
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

int server_new(sd_event *event, const Params *params, const char *proc, Auth *auth,
               const LedgerCallbacks *callbacks, Server **ret) {
        LedgerLimits limits = ledger_limits(params);
        Server *s;
        int r;

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(event);
        s->params = *params;
        s->auth = auth;
        r = ledger_new(params->jobs, params->reservation_timeout, callbacks, s, &s->ledger);
        if (r >= 0)
                r = sd_event_add_post(event, &s->settle_source, on_settle, s);
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
        if (!s)
                return NULL;
        s->ledger = ledger_free(s->ledger);
        sd_event_source_disable_unref(s->settle_source);
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

static int is_stranger(const LedgerProcess *p, void *userdata) {
        return ledger_process_uid(p) != *(uid_t *) userdata ? -1 : 0;
}

bool server_hides_pids(const Server *s) {
        return proc_hides_pids(s->proc);
}

bool server_others_present(Server *s, uid_t uid) {
        return ledger_foreach_process(s->ledger, is_stranger, &uid) < 0;
}

uint64_t server_realtime_of(Server *s, uint64_t monotonic) {
        uint64_t mono_now = server_now(s), real_now = 0;

        (void) sd_event_now(s->event, CLOCK_REALTIME, &real_now);
        return real_now - (mono_now - monotonic);
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
        ledger_set_reservation_timeout(s->ledger, p->reservation_timeout);
        ledger_set_limits(s->ledger, &limits, now);
        ledger_set_jobs(s->ledger, p->jobs, now);
        s->unsettled = true;
        TELL(s, params_changed);
        return 0;
}

void server_shutdown(Server *s) {
        s->shutting_down = true;
        TELL(s, stopping);
}

bool server_handing_over(const Server *s) {
        return s->handing_over;
}

void server_prepare_reexec(Server *s) {
        /* Interrupted reads want their EINTR from this steve; the rest waits. */
        s->unsettled = true;
        settle(s);
}

void server_hand_over(Server *s) {
        /* What this iteration did goes in; from here on, nothing does, and
         * nothing is answered (persist.c), whatever tearing down does to the
         * ledger. */
        server_prepare_reexec(s);
        s->handing_over = true;
        server_shutdown(s);
}
