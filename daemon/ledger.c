/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ledger.h"

/* The whole-ledger walk is O(processes + waiters): on every operation only in
 * builds that ask for it (-Dledger-checks=true: the tests' sanitizer build,
 * the fuzzers), never on the token path of a default or distribution build. */
#if STEVE_LEDGER_CHECKS
#define check_invariant(l) assert(ledger_consistent(l))
#else
#define check_invariant(l) ((void) 0)
#endif

struct Ledger {
        uint32_t jobs;
        int64_t available;              /* negative while returning holders owe the pool */
        int64_t held;
        uint32_t reserved;
        uint64_t reservation_timeout;
        uint64_t next_job_id;
        size_t n_processes, n_waiters, n_parked;
        LedgerLimits limits;
        bool throttled;                 /* the system is busy: only min_jobs */

        TAILQ_HEAD(, LedgerWaiter) waiters;
        TAILQ_HEAD(, LedgerProcess) reservations;       /* deadline order */
        TAILQ_HEAD(, LedgerProcess) processes;

        const LedgerCallbacks *callbacks;
        void *userdata;
};

int ledger_new(uint32_t jobs, uint64_t reservation_timeout, const LedgerCallbacks *callbacks, void *userdata,
               Ledger **ret) {
        Ledger *l = malloc(sizeof *l);

        if (!l)
                return -ENOMEM;
        *l = (Ledger) {
                .jobs = jobs,
                .available = jobs,
                .reservation_timeout = reservation_timeout,
                .next_job_id = 1,
                .limits = { .min_jobs = 1 },
                .callbacks = callbacks,
                .userdata = userdata,
        };
        TAILQ_INIT(&l->waiters);
        TAILQ_INIT(&l->reservations);
        TAILQ_INIT(&l->processes);
        *ret = l;
        return 0;
}

Ledger *ledger_free(Ledger *l) {
        if (l)
                assert(TAILQ_EMPTY(&l->processes));
        free(l);
        return NULL;
}

void ledger_process_attach(Ledger *l, LedgerProcess *p, pid_t pid) {
        *p = (LedgerProcess) { .pid = pid };
        TAILQ_INIT(&p->parked);
        TAILQ_INIT(&p->waiting);
        TAILQ_INSERT_TAIL(&l->processes, p, process_link);
        l->n_processes++;
}

/* Room for every token p could come to hold through its queued reads, so that
 * serving a waiter later never needs memory. */
static int reserve_job_slots(LedgerProcess *p, size_t extra) {
        size_t need = p->n_jobs + p->n_read_waiters + extra;
        LedgerJob *jobs;
        size_t n;

        if (need <= p->n_jobs_allocated)
                return 0;
        n = need < 4 ? 4 : need * 2;
        jobs = realloc(p->jobs, n * sizeof(LedgerJob));
        if (!jobs)
                return -ENOMEM;
        p->jobs = jobs;
        p->n_jobs_allocated = n;
        return 0;
}

static void give_token(Ledger *l, LedgerProcess *p, uint64_t now) {
        /* A process that owes its implicit slot gets it back first, no job record. */
        if (p->held >= 0) {
                assert(p->n_jobs < p->n_jobs_allocated);
                p->jobs[p->n_jobs++] = (LedgerJob) { .id = l->next_job_id++, .started = now };
        }
        p->held++;
        p->ever_acquired = true;
        l->held++;
}

static void drop_reservation(Ledger *l, LedgerProcess *p) {
        assert(p->reserved);
        TAILQ_REMOVE(&l->reservations, p, reservation_link);
        p->reserved = false;
        l->reserved--;
}

static void reserve_token(Ledger *l, LedgerProcess *p, uint64_t now) {
        l->available--;
        l->reserved++;
        p->reserved = true;
        p->reservation_deadline = now + l->reservation_timeout;
        TAILQ_INSERT_TAIL(&l->reservations, p, reservation_link);
}

static bool process_at_limit(const Ledger *l, const LedgerProcess *p) {
        return l->limits.per_process_limit > 0 &&
               p->held + (int64_t) p->reserved >= (int64_t) l->limits.per_process_limit;
}

/* Whether the pool hands out tokens at all right now, limits considered. */
static bool pool_open(const Ledger *l) {
        return !l->limits.paused &&
               (!l->throttled || l->held + (int64_t) l->reserved < (int64_t) l->limits.min_jobs);
}

static bool can_take_now(const Ledger *l, const LedgerProcess *p) {
        return l->available > 0 && TAILQ_EMPTY(&l->waiters) && pool_open(l) && !process_at_limit(l, p);
}

static void dequeue(Ledger *l, LedgerWaiter *w) {
        if (w->parked) {
                TAILQ_REMOVE(&w->process->parked, w, queue_link);
                l->n_parked--;
        } else {
                TAILQ_REMOVE(&l->waiters, w, queue_link);
                TAILQ_REMOVE(&w->process->waiting, w, process_link);
                l->n_waiters--;
        }
        w->queued = w->parked = false;
        if (w->kind == LEDGER_WAIT_READ)
                w->process->n_read_waiters--;
}

static void append(Ledger *l, LedgerWaiter *w, bool parked) {
        w->queued = true;
        w->parked = parked;
        if (parked) {
                TAILQ_INSERT_TAIL(&w->process->parked, w, queue_link);
                l->n_parked++;
        } else {
                TAILQ_INSERT_TAIL(&l->waiters, w, queue_link);
                TAILQ_INSERT_TAIL(&w->process->waiting, w, process_link);
                l->n_waiters++;
        }
        if (w->kind == LEDGER_WAIT_READ)
                w->process->n_read_waiters++;
}

static void enqueue(Ledger *l, LedgerWaiter *w, LedgerWaitKind kind, LedgerProcess *p, uint64_t now) {
        w->kind = kind;
        w->process = p;
        w->since = now;
        append(l, w, process_at_limit(l, p));
}

/* p dropped below its limit (or the limit changed): its waiters queue again. */
static void unpark(Ledger *l, LedgerProcess *p) {
        LedgerWaiter *w;

        while ((w = TAILQ_FIRST(&p->parked))) {
                dequeue(l, w);
                append(l, w, false);
        }
}

/* Hands free tokens to waiters in the order they came. */
static void serve_waiters(Ledger *l, uint64_t now) {
        LedgerWaiter *w;

        while (l->available > 0 && pool_open(l) && (w = TAILQ_FIRST(&l->waiters))) {
                LedgerProcess *p = w->process;

                dequeue(l, w);
                if (process_at_limit(l, p)) {
                        append(l, w, true);
                        continue;
                }
                if (w->kind == LEDGER_WAIT_READ) {
                        l->available--;
                        give_token(l, p, now);
                        l->callbacks->granted(w, l->userdata);
                } else {
                        /* A process polling on two files needs only one reservation. */
                        if (!p->reserved)
                                reserve_token(l, p, now);
                        l->callbacks->reserved(w, l->userdata);
                }
        }
        check_invariant(l);
}

int ledger_acquire(Ledger *l, LedgerProcess *p, LedgerWaiter *w, uint64_t now) {
        int r;

        r = reserve_job_slots(p, 1);
        if (r < 0)
                return r;

        if (p->reserved) {
                drop_reservation(l, p);
                give_token(l, p, now);
        } else if (can_take_now(l, p)) {
                l->available--;
                give_token(l, p, now);
        } else if (w) {
                enqueue(l, w, LEDGER_WAIT_READ, p, now);
                check_invariant(l);
                return LEDGER_QUEUED;
        } else
                return LEDGER_WOULD_BLOCK;

        check_invariant(l);
        return LEDGER_GRANTED;
}

int ledger_poll(Ledger *l, LedgerProcess *p, LedgerWaiter *w, uint64_t now) {
        if (p->reserved)
                return LEDGER_GRANTED;
        if (can_take_now(l, p)) {
                reserve_token(l, p, now);
                check_invariant(l);
                return LEDGER_GRANTED;
        }
        if (!w)
                return LEDGER_WOULD_BLOCK;
        /* A poller polling again keeps its place in the queue. */
        if (!w->queued)
                enqueue(l, w, LEDGER_WAIT_POLL, p, now);
        return LEDGER_QUEUED;
}

void ledger_cancel(Ledger *l, LedgerWaiter *w) {
        if (w->queued)
                dequeue(l, w);
}

static void return_jobs(LedgerProcess *p, uint64_t n) {
        /* Which job ended is unknown; the oldest is the best guess. */
        uint64_t k = n < p->n_jobs ? n : p->n_jobs;

        memmove(p->jobs, p->jobs + k, (p->n_jobs - k) * sizeof(LedgerJob));
        p->n_jobs -= k;
}

int ledger_release(Ledger *l, LedgerProcess *p, uint64_t n, uint64_t now) {
        if (n == 0)
                return 0;

        uint64_t held = p->held > 0 ? (uint64_t) p->held : 0;

        if (held < n && held + p->reclaimed >= n) {
                /* The rest was reclaimed already: take it, change nothing else. */
                p->reclaimed -= n - held;
                n = held;
        }
        if (held >= n) {
                return_jobs(p, n);
                p->held -= (int64_t) n;
        } else if (n == 1 && p->held == 0 && !p->ever_acquired && !p->returned_implicit) {
                /* nasm-rs and cc-rs release their implicit slot before acquiring
                 * anything. Tolerated once: the process owes the pool one token. */
                p->returned_implicit = true;
                p->held = -1;
        } else
                return LEDGER_NOT_HELD;

        l->held -= (int64_t) n;
        l->available += (int64_t) n;
        unpark(l, p);
        serve_waiters(l, now);
        return 0;
}

uint64_t ledger_reclaim(Ledger *l, LedgerProcess *p, uint64_t now) {
        uint64_t n = p->held > 0 ? (uint64_t) p->held : 0;

        if (n == 0)
                return 0;
        return_jobs(p, n);
        p->held = 0;
        p->reclaimed += n;
        l->held -= (int64_t) n;
        l->available += (int64_t) n;
        unpark(l, p);
        serve_waiters(l, now);
        return n;
}

void ledger_process_exit(Ledger *l, LedgerProcess *p, uint64_t now) {
        LedgerWaiter *w;

        while ((w = TAILQ_FIRST(&p->waiting)))
                dequeue(l, w);
        while ((w = TAILQ_FIRST(&p->parked)))
                dequeue(l, w);

        if (p->reserved) {
                drop_reservation(l, p);
                l->available++;
        }

        /* A debtor (held == -1) takes its token back out of the pool here. */
        l->available += p->held;
        l->held -= p->held;
        p->held = 0;

        free(p->jobs);
        p->jobs = NULL;
        p->n_jobs = p->n_jobs_allocated = 0;

        TAILQ_REMOVE(&l->processes, p, process_link);
        l->n_processes--;

        serve_waiters(l, now);
}

void ledger_expire_reservations(Ledger *l, uint64_t now) {
        LedgerProcess *p;

        while ((p = TAILQ_FIRST(&l->reservations)) && p->reservation_deadline <= now) {
                drop_reservation(l, p);
                l->available++;
                unpark(l, p);
        }
        serve_waiters(l, now);
}

uint64_t ledger_next_deadline(const Ledger *l) {
        const LedgerProcess *p = TAILQ_FIRST(&l->reservations);

        return p ? p->reservation_deadline : UINT64_MAX;
}

uint64_t ledger_available_to(const Ledger *l, const LedgerProcess *p) {
        uint64_t n = 0;

        if (TAILQ_EMPTY(&l->waiters) && l->available > 0 && pool_open(l)) {
                n = (uint64_t) l->available;
                if (l->throttled) {
                        int64_t below_floor = (int64_t) l->limits.min_jobs - l->held - (int64_t) l->reserved;
                        n = below_floor < (int64_t) n ? (uint64_t) below_floor : n;
                }
                if (p && l->limits.per_process_limit > 0) {
                        int64_t room = (int64_t) l->limits.per_process_limit - p->held - (int64_t) p->reserved;
                        n = room <= 0 ? 0 : (uint64_t) room < n ? (uint64_t) room : n;
                }
        }
        return n + (p && p->reserved ? 1 : 0);
}

void ledger_set_jobs(Ledger *l, uint32_t jobs, uint64_t now) {
        l->available += (int64_t) jobs - (int64_t) l->jobs;
        l->jobs = jobs;
        serve_waiters(l, now);
}

void ledger_set_limits(Ledger *l, const LedgerLimits *limits, uint64_t now) {
        LedgerProcess *p;

        l->limits = *limits;
        /* Parked waiters are re-judged against the new limit in queue order. */
        TAILQ_FOREACH(p, &l->processes, process_link)
                unpark(l, p);
        serve_waiters(l, now);
}

void ledger_set_throttled(Ledger *l, bool throttled, uint64_t now) {
        /* Asked on every request: nothing to do unless it changes. */
        if (l->throttled == throttled)
                return;
        l->throttled = throttled;
        serve_waiters(l, now);
}

void ledger_set_reservation_timeout(Ledger *l, uint64_t timeout) {
        l->reservation_timeout = timeout;
}

bool ledger_held_back_by_throttle(const Ledger *l) {
        return l->throttled && !l->limits.paused && l->available > 0 && !TAILQ_EMPTY(&l->waiters);
}

void ledger_stats(const Ledger *l, LedgerStats *ret) {
        *ret = (LedgerStats) {
                .jobs = l->jobs,
                .available = l->available,
                .held = l->held,
                .reserved = l->reserved,
                .waiters = l->n_waiters + l->n_parked,
                .processes = l->n_processes,
        };
}

LedgerProcess *ledger_first_process(const Ledger *l) {
        return TAILQ_FIRST(&l->processes);
}

int ledger_foreach_process(const Ledger *l, int (*fn)(const LedgerProcess *p, void *userdata), void *userdata) {
        const LedgerProcess *p;
        int r;

        TAILQ_FOREACH(p, &l->processes, process_link)
                if ((r = fn(p, userdata)) < 0)
                        return r;
        return 0;
}

int ledger_foreach_waiter(const Ledger *l, int (*fn)(const LedgerWaiter *w, void *userdata), void *userdata) {
        const LedgerProcess *p;
        const LedgerWaiter *w;
        int r;

        TAILQ_FOREACH(w, &l->waiters, queue_link)
                if ((r = fn(w, userdata)) < 0)
                        return r;
        if (l->n_parked > 0)
                TAILQ_FOREACH(p, &l->processes, process_link)
                        TAILQ_FOREACH(w, &p->parked, queue_link)
                                if ((r = fn(w, userdata)) < 0)
                                        return r;
        return 0;
}

pid_t ledger_process_pid(const LedgerProcess *p) {
        return p->pid;
}

int64_t ledger_process_held(const LedgerProcess *p) {
        return p->held;
}

bool ledger_process_reserved(const LedgerProcess *p) {
        return p->reserved;
}

const LedgerJob *ledger_process_jobs(const LedgerProcess *p, size_t *ret_n) {
        *ret_n = p->n_jobs;
        return p->jobs;
}

const LedgerProcess *ledger_waiter_process(const LedgerWaiter *w) {
        return w->process;
}

LedgerWaitKind ledger_waiter_kind(const LedgerWaiter *w) {
        return w->kind;
}

uint64_t ledger_waiter_since(const LedgerWaiter *w) {
        return w->since;
}

bool ledger_waiter_queued(const LedgerWaiter *w) {
        return w->queued;
}

bool ledger_waiter_parked(const LedgerWaiter *w) {
        return w->parked;
}

bool ledger_consistent(const Ledger *l) {
        const LedgerProcess *p;
        const LedgerWaiter *w;
        int64_t held = 0;
        uint32_t reserved = 0;
        size_t n_processes = 0, n_waiters = 0;

        size_t n_parked = 0, n_waiting = 0;

        TAILQ_FOREACH(p, &l->processes, process_link) {
                if (p->held < -1 || p->n_jobs != (size_t) (p->held > 0 ? p->held : 0))
                        return false;
                held += p->held;
                reserved += p->reserved;
                n_processes++;
                TAILQ_FOREACH(w, &p->parked, queue_link) {
                        /* Parked only while its process really is at its limit. */
                        if (!w->parked || !process_at_limit(l, p))
                                return false;
                        n_parked++;
                }
                TAILQ_FOREACH(w, &p->waiting, process_link) {
                        if (w->process != p || w->parked || !w->queued)
                                return false;
                        n_waiting++;
                }
        }
        TAILQ_FOREACH(w, &l->waiters, queue_link)
                n_waiters++;
        if (n_waiting != n_waiters)
                return false;

        /* Nobody waits while a token lies free, unless the limits say so. */
        if (n_waiters > 0 && l->available > 0 && pool_open(l))
                return false;

        return held == l->held && reserved == l->reserved &&
               n_processes == l->n_processes && n_waiters == l->n_waiters && n_parked == l->n_parked &&
               l->available + l->held + (int64_t) l->reserved == (int64_t) l->jobs;
}
