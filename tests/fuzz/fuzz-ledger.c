/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Drives the ledger with random sequences of what clients and admins do:
 * processes come and go, read with and without waiting, poll, return tokens
 * (too many, too; their implicit slot, lent or not), get interrupted; time
 * passes; the pool is resized, paused, throttled, limited per process and per
 * user (three uids); tokens are reclaimed. After every step the
 * ledger must be consistent (available + held + reserved == jobs, nobody
 * waiting while a token lies free), every callback must be for a waiter that
 * was queued, and at the end, with every process gone, the pool is full.
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

static const LedgerCallbacks callbacks = { .granted = on_callback, .reserved = on_callback };

static void step(Sim *s) {
        uint8_t op = next(s), arg = next(s);
        unsigned i = arg % PROCESSES, k = (arg / PROCESSES) % WAITERS;
        LedgerProcess *p = &s->processes[i];
        Ledger *l = s->ledger;

        if (!s->alive[i] && op % 12 < 7) {
                if (ledger_process_attach(l, p, (pid_t) (i + 1), 1000 + i % 3) < 0)
                        return;
                memset(s->reads[i], 0, sizeof s->reads[i]);
                memset(&s->polls[i], 0, sizeof s->polls[i]);
                s->alive[i] = true;
                return;
        }
        switch (op % 12) {
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
                                        .paused = (arg >> 4) % 5 == 0, .per_user_limit = more % 5 };
                ledger_set_limits(l, &limits, s->now);
                break;
        }
        case 11: ledger_set_throttled(l, arg & 1, s->now); break;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Sim s;
        LedgerLimits open = { .min_jobs = 1 };
        LedgerStats st;

        memset(&s, 0, sizeof s);
        s.data = data;
        s.size = size;
        if (ledger_new(4, 500000, &callbacks, NULL, &s.ledger) < 0)
                return 0;
        while (s.size > 0) {
                step(&s);
                assert(ledger_consistent(s.ledger));
        }
        /* Everyone leaves; the pool must be whole again. */
        ledger_set_limits(s.ledger, &open, s.now);
        ledger_set_throttled(s.ledger, false, s.now);
        for (unsigned i = 0; i < PROCESSES; i++)
                if (s.alive[i])
                        ledger_process_exit(s.ledger, &s.processes[i], s.now);
        ledger_stats(s.ledger, &st);
        assert(st.available == (int64_t) st.jobs);
        assert(st.held == 0 && st.reserved == 0 && st.waiters == 0 && st.processes == 0);
        s.ledger = ledger_free(s.ledger);
        return 0;
}
