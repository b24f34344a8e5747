/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Drives the ledger with random sequences of what clients and admins do:
 * processes come and go, read with and without waiting, poll, return tokens
 * (too many, too; their implicit slot, lent or not), get interrupted; time
 * passes; the pool is resized, paused, throttled, limited per process and per
 * user (three uids); tokens are reclaimed; processes join the builds of
 * others, weights change, the policy flips between fair and fifo. After every
 * step the ledger must be consistent (available + held + reserved == jobs,
 * nobody waiting while a token lies free, every build's counts what its
 * processes add up to), every callback must be for a waiter that was queued,
 * under the fair policy no build may be granted a token while another further
 * below its share waits, and at the end, with every process gone, the pool
 * is full.
 */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ledger.h"

#define PROCESSES 6
#define WAITERS 3               /* blocking reads per process */

typedef struct Sim {
        Ledger *ledger;
        LedgerProcess processes[PROCESSES];
        bool alive[PROCESSES];
        LedgerWaiter reads[PROCESSES][WAITERS];
        LedgerWaiter polls[PROCESSES];
        LedgerPolicy policy;
        uint64_t now;
        const uint8_t *data;
        size_t size;
} Sim;

static uint8_t next(Sim *s) {
        if (s->size == 0)
                return 0;
        s->size--;
        return *s->data++;
}

static void on_callback(LedgerWaiter *w, void *userdata) {
        /* Only queued waiters are ever served, and they leave the queue first. */
        assert(!ledger_waiter_queued(w));
        assert(ledger_waiter_process(w) != NULL);
        (void) userdata;
}

typedef struct Granted {
        const LedgerGroup *build;
        int64_t taken;                  /* before the grant */
} Granted;

/* No waiting build is further below its share than the one just granted
 * (each build's leader runs on a slot of its own: one more than it takes). */
static int check_not_further_below(const LedgerGroup *other, void *userdata) {
        const Granted *g = userdata;

        if (other != g->build && ledger_group_waiting(other) > 0)
                assert((g->taken + 1) * (int64_t) ledger_group_weight(other) <=
                       (ledger_group_taken(other) + 1) * (int64_t) ledger_group_weight(g->build));
        return 0;
}

static void on_granted(LedgerWaiter *w, void *userdata) {
        Sim *s = userdata;
        Granted g = { .build = ledger_process_build(ledger_waiter_process(w)) };

        on_callback(w, userdata);
        if (s->policy != LEDGER_POLICY_FAIR)
                return;
        g.taken = ledger_group_taken(g.build) - 1;
        (void) ledger_foreach_build(s->ledger, check_not_further_below, &g);
}

static const LedgerCallbacks callbacks = { .granted = on_granted, .reserved = on_callback };

/* Joins the build of an earlier process, or leads one, with some weight. */
static int attach(Sim *s, unsigned i, uint8_t arg) {
        uint8_t how = next(s);
        unsigned j = (how >> 4) % PROCESSES;
        LedgerProcess *parent = j != i && s->alive[j] && (how & 1) ? &s->processes[j] : NULL;
        uint32_t weight = how & 2 ? ledger_weight_of_nice((int) (how >> 2) % 40 - 20) : 0;

        return ledger_process_attach_under(s->ledger, &s->processes[i], (pid_t) (i + 1), 1000 + i % 3, parent,
                                           weight);
}

/* What clients.c does at a borrower's end: its nearest ancestor with a loan
 * out is told, here any live process (perhaps one that lent nothing), or none. */
static void end_loan(Sim *s, unsigned i, uint8_t arg) {
        unsigned j = (i + 1 + arg / 64) % PROCESSES;

        if (ledger_process_borrowed(&s->processes[i]))
                ledger_loan_ended(s->ledger, &s->processes[i], s->alive[j] && (arg & 0x10) ? &s->processes[j] : NULL,
                                  s->now);
}

static void step(Sim *s) {
        uint8_t op = next(s), arg = next(s);
        unsigned i = arg % PROCESSES, k = (arg / PROCESSES) % WAITERS;
        LedgerProcess *p = &s->processes[i];
        Ledger *l = s->ledger;

        if (!s->alive[i] && op % 13 < 7) {
                if (attach(s, i, arg) < 0)
                        return;
                memset(s->reads[i], 0, sizeof s->reads[i]);
                memset(&s->polls[i], 0, sizeof s->polls[i]);
                s->alive[i] = true;
                return;
        }
        switch (op % 13) {
        case 0: (void) ledger_acquire(l, p, NULL, s->now); break;
        case 1:
                if (!ledger_waiter_queued(&s->reads[i][k]))
                        (void) ledger_acquire(l, p, &s->reads[i][k], s->now);
                break;
        case 2: (void) ledger_poll(l, p, (arg & 0x80) ? &s->polls[i] : NULL, s->now); break;
        case 3:
                if (ledger_release(l, p, 1 + arg % 3, s->now) == LEDGER_IMPLICIT_SLOT) {
                        /* Lent by another process, or by nobody. */
                        unsigned j = (i + 1 + arg / 64) % PROCESSES;
                        (void) ledger_return_implicit(l, p, s->alive[j] && (arg & 0x20) ? &s->processes[j] : NULL,
                                                      s->now);
                }
                break;
        case 4: ledger_cancel(l, &s->reads[i][k]); break;
        case 5: ledger_cancel(l, &s->polls[i]); break;
        case 6: (void) ledger_reclaim(l, p, s->now); break;
        case 7:
                if (s->alive[i]) {
                        end_loan(s, i, arg);
                        ledger_process_exit(l, p, s->now);
                        s->alive[i] = false;
                }
                break;
        case 8:
                s->now += (uint64_t) arg * 10000;
                ledger_expire_reservations(l, s->now);
                break;
        case 9: ledger_set_jobs(l, 1 + arg % 16, s->now); break;
        case 10: {
                uint8_t more = next(s);
                LedgerLimits limits = { .min_jobs = arg % 4, .per_process_limit = (arg >> 2) % 4,
                                        .paused = (arg >> 4) % 5 == 0, .per_user_limit = more % 5,
                                        .policy = (more >> 3) % 4 == 0 ? LEDGER_POLICY_FIFO : LEDGER_POLICY_FAIR,
                                        .claim_timeout = (uint64_t) (more >> 5) * 100000,
                                        .processes_per_user = arg >> 6 };
                s->policy = limits.policy;
                ledger_set_limits(l, &limits, s->now);
                break;
        }
        case 11: ledger_set_throttled(l, arg & 1, s->now); break;
        case 12:
                if (s->alive[i])
                        (void) ledger_process_set_weight(l, p, (uint32_t) next(s) * 97 + arg % 2);
                break;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Sim s;
        LedgerLimits open = { .min_jobs = 1 };
        LedgerStats st;

        memset(&s, 0, sizeof s);
        s.data = data;
        s.size = size;
        if (ledger_new(4, 500000, &callbacks, &s, &s.ledger) < 0)
                return 0;
        while (s.size > 0) {
                step(&s);
                assert(ledger_consistent(s.ledger));
        }
        /* Everyone leaves; the pool must be whole again. */
        ledger_set_limits(s.ledger, &open, s.now);
        ledger_set_throttled(s.ledger, false, s.now);
        for (unsigned i = 0; i < PROCESSES; i++)
                if (s.alive[i]) {
                        end_loan(&s, i, (uint8_t) i);
                        ledger_process_exit(s.ledger, &s.processes[i], s.now);
                }
        ledger_stats(s.ledger, &st);
        assert(st.available == (int64_t) st.jobs);
        assert(st.held == 0 && st.reserved == 0 && st.waiters == 0 && st.processes == 0);
        s.ledger = ledger_free(s.ledger);
        return 0;
}
