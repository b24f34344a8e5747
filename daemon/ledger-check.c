/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The whole-ledger recount: O(processes + waiters + users), for tests, the
 * fuzzers and builds with -Dledger-checks=true, never the token path.
 */
#include <search.h>

#include "ledger-internal.h"

/* The invariant */

typedef struct Tally {
        const Ledger *l;
        bool ok;
        size_t n_user_parked, n_users;
} Tally;

static void check_user(const void *node, VISIT which, void *closure) {
        const LedgerUser *u = *(const LedgerUser *const *) node;
        Tally *tally = closure;
        const Ledger *l = tally->l;
        const LedgerProcess *p;
        const LedgerWaiter *w;
        int64_t held = 0;
        uint64_t lent = 0;
        uint32_t reserved = 0;
        size_t n = 0, queued = 0;

        if (which != postorder && which != leaf)
                return;
        tally->n_users++;
        TAILQ_FOREACH(p, &l->processes, process_link)
                if (p->user == u) {
                        held += p->held;
                        lent += p->lent;
                        reserved += p->reserved;
                        n++;
                }
        TAILQ_FOREACH(w, &l->waiters, queue_link)
                queued += w->process->user == u;
        TAILQ_FOREACH(w, &u->parked, queue_link) {
                if (w->place != PLACE_USER || w->process->user != u)
                        tally->ok = false;
                tally->n_user_parked++;
        }
        /* Parked only while as many of its waiters as it has room for are queued. */
        if (!TAILQ_EMPTY(&u->parked) && (int64_t) u->queued < user_room(l, u))
                tally->ok = false;
        if (held != u->held || lent != u->lent || reserved != u->reserved || n != u->n_processes ||
            queued != u->queued)
                tally->ok = false;
}

bool ledger_consistent(const Ledger *l) {
        const LedgerProcess *p;
        const LedgerWaiter *w;
        Tally t = { .l = l, .ok = true };
        int64_t held = 0;
        uint32_t reserved = 0;
        size_t n_processes = 0, n_waiters = 0, n_parked = 0, n_mine = 0;

        TAILQ_FOREACH(p, &l->processes, process_link) {
                if (p->held < 0 || p->n_jobs != (size_t) p->held)
                        return false;
                held += p->held;
                reserved += p->reserved;
                n_processes++;
                TAILQ_FOREACH(w, &p->parked, queue_link) {
                        /* Parked only while its process really is at its limit. */
                        if (w->place != PLACE_PROCESS || !process_at_limit(l, p))
                                return false;
                        n_parked++;
                }
                TAILQ_FOREACH(w, &p->waiters, process_link) {
                        if (w->process != p || !w->queued || w->place == PLACE_NONE)
                                return false;
                        n_mine++;
                }
        }
        TAILQ_FOREACH(w, &l->waiters, queue_link) {
                if (w->place != PLACE_QUEUE)
                        return false;
                n_waiters++;
        }
        twalk_r(l->users, check_user, &t);
        if (!t.ok || n_mine != n_waiters + n_parked + t.n_user_parked)
                return false;

        /* Nobody waits while a token lies free, unless the limits say so. */
        if (n_waiters > 0 && l->available > 0 && pool_open(l))
                return false;

        return groups_consistent(l) && held == l->held && reserved == l->reserved && n_processes == l->n_processes &&
               n_waiters == l->n_waiters && n_parked + t.n_user_parked == l->n_parked &&
               l->available + l->held + (int64_t) l->reserved == (int64_t) l->jobs;
}
