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

#define BUILD_SEARCH_DEPTH 64

/* The build c belongs to: its top-most ancestor that is a client too (the
 * top-level make or cargo), walking through processes that are not (the
 * shells make runs recipes in); itself when none is. memo holds, during one
 * listing, the top-most client at or above each pid walked, 0 for none. */
static pid_t build_of(Server *s, const Client *c, PidMap *memo) {
        pid_t chain[BUILD_SEARCH_DEPTH], pid = c->stat.ppid, top = 0;
        size_t n = 0;

        while (n < BUILD_SEARCH_DEPTH && pid > 1) {
                Client *a;

                if (pid_map_get(memo, pid, &top))
                        break;
                chain[n++] = pid;
                a = client_find(s, pid);
                if (a)
                        pid = a->stat.ppid;
                /* /proc/PID/stat takes no lock of the process's: safe on the loop. */
                else if (proc_parent_of(pid, &pid) < 0)
                        break;
        }
        /* From the top down: the highest client found so far is the top. */
        while (n-- > 0) {
                if (top == 0 && client_find(s, chain[n]))
                        top = chain[n];
                if (pid_map_put(memo, chain[n], top) < 0)
                        break;
        }
        return top ? top : c->pid;
}

/* Listing every process */

typedef struct ProcessWalk {
        Server *server;
        ServerProcessFn fn;
        void *userdata;
        PidMap memo;
} ProcessWalk;

static int note_waiter(const LedgerWaiter *w, void *userdata) {
        Server *s = userdata;
        Client *c = container_of(ledger_waiter_process(w), Client, ledger);
        uint64_t since = ledger_waiter_since(w);

        if (c->listed_in != s->listing || since < c->waiting_since) {
                c->listed_in = s->listing;
                c->waiting_since = since;
        }
        return 0;
}

static int visit_process(const LedgerProcess *p, void *userdata) {
        ProcessWalk *walk = userdata;
        Client *c = container_of(p, Client, ledger);
        ServerProcess sp;

        if (!c->unit_read) {
                c->unit_read = true;
                (void) proc_unit(c->pid, &c->unit);
        }
        sp = server_describe(p);
        sp.build = build_of(walk->server, c, &walk->memo);
        sp.unit = c->unit;
        sp.waiting = c->listed_in == walk->server->listing;
        sp.waiting_since = sp.waiting ? c->waiting_since : 0;
        return walk->fn(&sp, walk->userdata);
}

int server_foreach_process(Server *s, ServerProcessFn fn, void *userdata) {
        ProcessWalk walk = { .server = s, .fn = fn, .userdata = userdata };
        int r;

        /* Each waiter marks its process for this listing, with its earliest wait. */
        s->listing++;
        r = ledger_foreach_waiter(s->ledger, note_waiter, s);
        if (r >= 0)
                r = ledger_foreach_process(s->ledger, visit_process, &walk);
        pid_map_clear(&walk.memo);
        return r;
}
