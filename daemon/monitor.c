/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a monitor sees (monitor.h), as an observer of the core. Nothing here
 * runs while the pool is idle: the history records change points, at most
 * one a second, and units and waits are looked up only when listed.
 */
#include <stdio.h>
#include <stdlib.h>

#include "clients.h"
#include "monitor.h"
#include "throttle.h"
#include "util.h"

/* A client as listed: its unit, read when first listed, and whether and how
 * it waits, per listing. In its slot. */
typedef struct Listed {
        char *unit;
        bool unit_read;
        uint64_t listed_in, shown_in, waiting_since;
        unsigned waiting_count;
} Listed;

struct Monitor {
        int slot;
        uint64_t generation, listing;
        size_t noted_waiters, noted_processes;
        History history;
};

static void on_settled(void *userdata) {
        Server *s = userdata;
        Monitor *m = s->monitor;
        LedgerStats st;

        ledger_stats(s->ledger, &st);
        if (st.waiters != m->noted_waiters || st.processes != m->noted_processes)
                m->generation++;
        m->noted_waiters = st.waiters;
        m->noted_processes = st.processes;
        history_note(&m->history, server_now(s), st.held > 0 ? (uint32_t) st.held : 0, (uint32_t) st.waiters);
}

static void on_client_changed(Client *c, void *userdata) {
        Server *s = userdata;

        s->monitor->generation++;
}

static void on_client_gone(Client *c, void *userdata) {
        Server *s = userdata;
        Listed *l = client_part(c, s->monitor->slot);

        s->monitor->generation++;
        if (l) {
                free(l->unit);
                free(l);
                client_set_part(c, s->monitor->slot, NULL);
        }
}

static const ServerObserver monitor_observer = {
        .client_changed = on_client_changed,
        .client_gone = on_client_gone,
        .settled = on_settled,
};

int monitor_new(Server *s) {
        Monitor *m = calloc(1, sizeof *m);
        int r;

        if (!m)
                return -ENOMEM;
        s->monitor = m;
        r = server_observe(s, &monitor_observer, s);
        if (r >= 0)
                m->slot = r;
        return r;
}

void monitor_free(Server *s) {
        free(s->monitor);
        s->monitor = NULL;
}

uint64_t monitor_generation(const Server *s) {
        return s->monitor->generation;
}

size_t monitor_history(Server *s, HistoryPoint *out, size_t max) {
        size_t n = history_copy(&s->monitor->history, out, max);

        for (size_t i = 0; i < n; i++)
                out[i].at = server_realtime_of(s, out[i].at);
        return n;
}

uint64_t monitor_held_back_version(const Server *s) {
        return throttle_version(s);
}

void monitor_held_back(const Server *s, char *buf, size_t size) {
        char limit[96] = "";

        throttle_reason(s, limit, sizeof limit);
        snprintf(buf, size, "%s%s%s", s->params.paused ? "paused" : "", s->params.paused && limit[0] ? ", " : "",
                 limit);
}

/* Holders and waiters */

static MonitorProcess describe(const LedgerProcess *p) {
        const Client *c = client_of(p);
        MonitorProcess mp = {
                .pid = c->pid, .ppid = c->stat.ppid, .uid = c->uid, .comm = c->stat.comm,
                .cmdline = c->cmdline_tried ? c->cmdline : NULL,
                .held = ledger_process_held(p), .reserved = ledger_process_reserved(p),
                .build = ledger_group_leader(ledger_process_build(p)),
                .weight = ledger_group_weight(ledger_process_build(p)),
        };

        mp.jobs = ledger_process_jobs(p, &mp.n_jobs);
        return mp;
}

typedef struct HolderWalk {
        MonitorProcessFn fn;
        void *userdata;
} HolderWalk;

static int visit_holder(const LedgerProcess *p, void *userdata) {
        HolderWalk *walk = userdata;
        MonitorProcess mp;

        if (ledger_process_held(p) <= 0 && !ledger_process_reserved(p))
                return 0;
        mp = describe(p);
        return walk->fn(&mp, walk->userdata);
}

int monitor_foreach_holder(Server *s, MonitorProcessFn fn, void *userdata) {
        HolderWalk walk = { fn, userdata };
        return ledger_foreach_process(s->ledger, visit_holder, &walk);
}

typedef struct WaiterWalk {
        MonitorWaiterFn fn;
        void *userdata;
} WaiterWalk;

static int visit_waiter(const LedgerWaiter *w, void *userdata) {
        WaiterWalk *walk = userdata;
        MonitorProcess mp = describe(ledger_waiter_process(w));

        return walk->fn(&mp, ledger_waiter_kind(w), ledger_waiter_since(w), walk->userdata);
}

int monitor_foreach_waiter(Server *s, MonitorWaiterFn fn, void *userdata) {
        WaiterWalk walk = { fn, userdata };
        return ledger_foreach_waiter(s->ledger, visit_waiter, &walk);
}

/* Builds */

typedef struct BuildWalk {
        Server *server;
        MonitorBuildFn fn;
        void *userdata;
} BuildWalk;

static int visit_build(const LedgerGroup *g, void *userdata) {
        BuildWalk *walk = userdata;
        MonitorBuild b = {
                .leader = ledger_group_leader(g), .uid = ledger_group_uid(g), .weight = ledger_group_weight(g),
                .share = ledger_build_share(walk->server->ledger, g), .taken = ledger_group_taken(g),
        };
        return walk->fn(&b, walk->userdata);
}

int monitor_foreach_build(Server *s, MonitorBuildFn fn, void *userdata) {
        BuildWalk walk = { s, fn, userdata };
        return ledger_foreach_build(s->ledger, visit_build, &walk);
}

/* Listing every process */

typedef struct ProcessWalk {
        Server *server;
        MonitorProcessFn fn;
        void *userdata;
} ProcessWalk;

/* What monitoring keeps of c, made when it is first listed; NULL without memory. */
static Listed *listed(Server *s, Client *c) {
        Listed *l = client_part(c, s->monitor->slot);

        if (!l && (l = calloc(1, sizeof *l)))
                client_set_part(c, s->monitor->slot, l);
        return l;
}

static int note_waiter(const LedgerWaiter *w, void *userdata) {
        Server *s = userdata;
        Listed *l = listed(s, client_of(ledger_waiter_process(w)));
        uint64_t since = ledger_waiter_since(w);

        if (!l)
                return -ENOMEM;
        if (l->listed_in != s->monitor->listing) {
                l->listed_in = s->monitor->listing;
                l->waiting_since = since;
                l->waiting_count = 0;
        } else if (since < l->waiting_since)
                l->waiting_since = since;
        l->waiting_count++;
        return 0;
}

static int describe_listed(Server *s, const LedgerProcess *p, MonitorProcess *ret) {
        Client *c = client_of(p);
        Listed *l = listed(s, c);

        if (!l)
                return -ENOMEM;
        if (!l->unit_read) {
                l->unit_read = true;
                (void) proc_unit(c->pid, &l->unit);
        }
        *ret = describe(p);
        ret->unit = l->unit;
        ret->waiting = l->listed_in == s->monitor->listing;
        ret->waiting_since = ret->waiting ? l->waiting_since : 0;
        ret->waiting_count = ret->waiting ? l->waiting_count : 0;
        return 0;
}

static int visit_process(const LedgerProcess *p, void *userdata) {
        ProcessWalk *walk = userdata;
        MonitorProcess mp;
        int r = describe_listed(walk->server, p, &mp);

        return r < 0 ? r : walk->fn(&mp, walk->userdata);
}

/* Each waiter marks its process for this listing, with its earliest wait and
 * how many of its threads wait. */
static int mark_waiters(Server *s) {
        s->monitor->listing++;
        return ledger_foreach_waiter(s->ledger, note_waiter, s);
}

int monitor_foreach_process(Server *s, MonitorProcessFn fn, void *userdata) {
        ProcessWalk walk = { .server = s, .fn = fn, .userdata = userdata };
        int r = mark_waiters(s);

        return r < 0 ? r : ledger_foreach_process(s->ledger, visit_process, &walk);
}

/* The second pass: a process at its first waiter, once. */
static int visit_first_waiter(const LedgerWaiter *w, void *userdata) {
        ProcessWalk *walk = userdata;
        const LedgerProcess *p = ledger_waiter_process(w);
        Listed *l = listed(walk->server, client_of(p));
        MonitorProcess mp;
        int r;

        if (!l)
                return -ENOMEM;
        if (l->shown_in == walk->server->monitor->listing)
                return 0;
        l->shown_in = walk->server->monitor->listing;
        r = describe_listed(walk->server, p, &mp);
        return r < 0 ? r : walk->fn(&mp, walk->userdata);
}

int monitor_foreach_waiting_process(Server *s, MonitorProcessFn fn, void *userdata) {
        ProcessWalk walk = { .server = s, .fn = fn, .userdata = userdata };
        int r = mark_waiters(s);

        return r < 0 ? r : ledger_foreach_waiter(s->ledger, visit_first_waiter, &walk);
}
