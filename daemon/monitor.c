/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a monitor sees (stevie --status and --top, desktop tools, over
 * D-Bus): why tokens are held back, a counter that moves whenever the
 * holders or waiters do, a short history of the pool's use, and every client
 * process with the build it belongs to and its systemd unit. Nothing here
 * runs while the pool is idle: the history records change points, at most
 * one a second, and builds and units are looked up only when listed.
 */
#include <stdio.h>

#include "server-internal.h"
#include "util.h"

/* Called after every request and timer (server_rearm()). */
void monitor_note(Server *s) {
        LedgerStats st;
        HistoryPoint *last = s->history_len ? &s->history[(s->history_start + s->history_len - 1) % HISTORY_MAX]
                                            : NULL;
        uint64_t now = server_now(s);
        uint32_t held, waiting;

        ledger_stats(s->ledger, &st);
        held = st.held > 0 ? (uint32_t) st.held : 0;
        waiting = (uint32_t) st.waiters;
        if (st.waiters != s->noted_waiters || st.processes != s->noted_processes)
                s->generation++;
        s->noted_waiters = st.waiters;
        s->noted_processes = st.processes;
        if (last && last->held == held && last->waiting == waiting)
                return;
        /* One point a second, the highest use in it. */
        if (last && now - last->at < USEC_PER_SEC) {
                last->held = last->held > held ? last->held : held;
                last->waiting = last->waiting > waiting ? last->waiting : waiting;
                return;
        }
        if (s->history_len == HISTORY_MAX)
                s->history_start = (s->history_start + 1) % HISTORY_MAX;
        else
                s->history_len++;
        s->history[(s->history_start + s->history_len - 1) % HISTORY_MAX] =
                (HistoryPoint) { .at = now, .held = held, .waiting = waiting };
}

void monitor_changed(Server *s) {
        s->generation++;
}

uint64_t server_generation(const Server *s) {
        return s->generation;
}

size_t server_history(Server *s, ServerPoint *out, size_t max) {
        size_t n = max < s->history_len ? max : s->history_len, skip = s->history_len - n;

        for (size_t i = 0; i < n; i++) {
                const HistoryPoint *p = &s->history[(s->history_start + skip + i) % HISTORY_MAX];

                out[i] = (ServerPoint) { .at = server_realtime_of(s, p->at), .held = p->held, .waiting = p->waiting };
        }
        return n;
}

uint64_t server_held_back_version(const Server *s) {
        return s->held_back_version;
}

void server_held_back(const Server *s, char *buf, size_t size) {
        char limit[96] = "";

        throttle_reason(s, limit, sizeof limit);
        snprintf(buf, size, "%s%s%s", s->params.paused ? "paused" : "", s->params.paused && limit[0] ? ", " : "",
                 limit);
}

/* Builds */

typedef struct BuildWalk {
        Server *server;
        ServerBuildFn fn;
        void *userdata;
} BuildWalk;

static int visit_build(const LedgerGroup *g, void *userdata) {
        BuildWalk *walk = userdata;
        ServerBuild b = {
                .leader = ledger_group_leader(g), .uid = ledger_group_uid(g), .weight = ledger_group_weight(g),
                .share = ledger_build_share(walk->server->ledger, g), .taken = ledger_group_taken(g),
        };
        return walk->fn(&b, walk->userdata);
}

int server_foreach_build(Server *s, ServerBuildFn fn, void *userdata) {
        BuildWalk walk = { s, fn, userdata };
        return ledger_foreach_build(s->ledger, visit_build, &walk);
}

/* Listing every process */

typedef struct ProcessWalk {
        Server *server;
        ServerProcessFn fn;
        void *userdata;
} ProcessWalk;

static int note_waiter(const LedgerWaiter *w, void *userdata) {
        Server *s = userdata;
        Client *c = container_of(ledger_waiter_process(w), Client, ledger);
        uint64_t since = ledger_waiter_since(w);

        if (c->listed_in != s->listing) {
                c->listed_in = s->listing;
                c->waiting_since = since;
                c->waiting_count = 0;
        } else if (since < c->waiting_since)
                c->waiting_since = since;
        c->waiting_count++;
        return 0;
}

static ServerProcess describe_listed(Server *s, const LedgerProcess *p) {
        Client *c = container_of(p, Client, ledger);
        ServerProcess sp;

        if (!c->unit_read) {
                c->unit_read = true;
                (void) proc_unit(c->pid, &c->unit);
        }
        sp = server_describe(p);
        sp.unit = c->unit;
        sp.waiting = c->listed_in == s->listing;
        sp.waiting_since = sp.waiting ? c->waiting_since : 0;
        sp.waiting_count = sp.waiting ? c->waiting_count : 0;
        return sp;
}

static int visit_process(const LedgerProcess *p, void *userdata) {
        ProcessWalk *walk = userdata;
        ServerProcess sp = describe_listed(walk->server, p);

        return walk->fn(&sp, walk->userdata);
}

/* Each waiter marks its process for this listing, with its earliest wait and
 * how many of its threads wait. */
static int mark_waiters(Server *s) {
        s->listing++;
        return ledger_foreach_waiter(s->ledger, note_waiter, s);
}

int server_foreach_process(Server *s, ServerProcessFn fn, void *userdata) {
        ProcessWalk walk = { .server = s, .fn = fn, .userdata = userdata };
        int r = mark_waiters(s);

        return r < 0 ? r : ledger_foreach_process(s->ledger, visit_process, &walk);
}

/* The second pass: a process at its first waiter, once. */
static int visit_first_waiter(const LedgerWaiter *w, void *userdata) {
        ProcessWalk *walk = userdata;
        const LedgerProcess *p = ledger_waiter_process(w);
        Client *c = container_of(p, Client, ledger);
        ServerProcess sp;

        if (c->shown_in == walk->server->listing)
                return 0;
        c->shown_in = walk->server->listing;
        sp = describe_listed(walk->server, p);
        return walk->fn(&sp, walk->userdata);
}

int server_foreach_waiting_process(Server *s, ServerProcessFn fn, void *userdata) {
        ProcessWalk walk = { .server = s, .fn = fn, .userdata = userdata };
        int r = mark_waiters(s);

        return r < 0 ? r : ledger_foreach_waiter(s->ledger, visit_first_waiter, &walk);
}
