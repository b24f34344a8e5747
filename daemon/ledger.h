/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The ledger: who holds which job token, who waits for one, and which tokens
 * are reserved for a poller. It does no I/O and reads no clock: callers pass
 * the time (CLOCK_MONOTONIC, usec) and own every LedgerProcess and
 * LedgerWaiter, which they embed in their own objects and reach only through
 * the functions below. Grants that happen later (a token came back) are
 * reported through LedgerCallbacks.
 *
 * Invariant: available + held + reserved == jobs.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

/* glibc's sys/queue.h lacks the BSD _SAFE iterator. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)                              \
        for ((var) = TAILQ_FIRST(head);                                         \
             (var) && ((tvar) = TAILQ_NEXT(var, field), 1);                     \
             (var) = (tvar))
#endif

typedef struct Ledger Ledger;
typedef struct LedgerGroup LedgerGroup;
typedef struct LedgerProcess LedgerProcess;
typedef struct LedgerUser LedgerUser;
typedef struct LedgerWaiter LedgerWaiter;

/* Positive outcomes; real failures are negative errnos. */
typedef enum LedgerResult {
        LEDGER_GRANTED = 1,     /* the caller holds one more token (or may poll: it is reserved) */
        LEDGER_QUEUED,          /* the waiter was queued; a callback follows */
        LEDGER_WOULD_BLOCK,     /* nothing for this caller now and it did not offer to wait */
        LEDGER_NOT_HELD,        /* returning more tokens than the process holds */
        LEDGER_IMPLICIT_SLOT,   /* a process that never acquired returns one: see ledger_return_implicit() */
        LEDGER_TOO_MANY_WAITERS,        /* its user has waiters_per_user reads waiting already: not queued */
} LedgerResult;

typedef enum LedgerWaitKind {
        LEDGER_WAIT_READ,       /* a blocked read: gets the token itself */
        LEDGER_WAIT_POLL,       /* a poller: gets a reservation, then reads */
        LEDGER_WAIT_CLAIM,      /* a refused non-blocking reader below its share: gets a reservation */
} LedgerWaitKind;

/* Who gets a free token when several wait. */
typedef enum LedgerPolicy {
        LEDGER_POLICY_FAIR,     /* the build furthest below its weighted share, then its sub-build... */
        LEDGER_POLICY_FIFO,     /* the waiter that came first */
} LedgerPolicy;

/* A build's weight when nothing else is said: the kernel's for nice 0. */
#define LEDGER_WEIGHT_DEFAULT 1024
#define LEDGER_WEIGHT_MAX 1000000
/* The kernel's CPU weight for a nice value (-20..19; clamped): 1024 at 0,
 * each step a factor of about 1.25. */
uint32_t ledger_weight_of_nice(int nice);

typedef struct LedgerJob {
        uint64_t id;
        uint64_t started;
} LedgerJob;

/* The fields are the ledger's own; embed, zero-initialise, and use the
 * functions below. */
struct LedgerWaiter {
        LedgerWaitKind kind;
        LedgerProcess *process;
        uint64_t since;
        bool queued;                    /* in the pool's queue or parked */
        bool parked;                    /* parked at its process's or its user's limit */
        uint8_t place;
        TAILQ_ENTRY(LedgerWaiter) queue_link;      /* in the queue or the parked list it waits in */
        TAILQ_ENTRY(LedgerWaiter) turn_link;       /* in its process's part of the pool's queue */
        TAILQ_ENTRY(LedgerWaiter) process_link;    /* in its process's waiters, while queued */
};

struct LedgerProcess {
        pid_t pid;
        uid_t uid;
        LedgerUser *user;
        LedgerGroup *group;             /* the (sub-)build it leads */
        int64_t held;
        bool ever_acquired;
        bool returned_implicit;
        uint64_t absorb;                /* reclaimed by an admin: returns of them are absorbed */
        uint64_t lent;                  /* its tokens that children returned as their implicit slots */
        bool borrowed;                  /* it returned its implicit slot, and a lender's token went back for it */
        unsigned n_read_waiters;

        LedgerJob *jobs;                /* one per held token, oldest first */
        size_t n_jobs, n_jobs_allocated;

        bool reserved;
        uint64_t reservation_deadline;
        TAILQ_ENTRY(LedgerProcess) reservation_link;
        TAILQ_ENTRY(LedgerProcess) process_link;

        /* Waiters of a process at its per-process limit wait here, out of the
         * pool's queue, so they hold up nobody else. (At the per-user limit,
         * they wait with their user.) */
        TAILQ_HEAD(, LedgerWaiter) parked;
        /* All its queued waiters, wherever they wait, so that its exit need not search. */
        TAILQ_HEAD(, LedgerWaiter) waiters;
        /* Those of them in the pool's queue, in order: what the fair policy serves from. */
        TAILQ_HEAD(, LedgerWaiter) turn;
        /* Its claim on the next free token after a refused non-blocking read. */
        LedgerWaiter claim;
};

typedef struct LedgerLimits {
        uint32_t min_jobs;              /* tokens handed out even while throttled */
        uint32_t per_process_limit;     /* 0: none */
        uint32_t per_user_limit;        /* tokens held and reserved by one uid; 0: none */
        bool paused;                    /* no new tokens at all */
        LedgerPolicy policy;
        uint64_t claim_timeout;         /* how long a claimed token stays reserved; 0: no claims */
        uint32_t waiters_per_user;      /* queued reads of one uid; more get LEDGER_TOO_MANY_WAITERS; 0: no cap */
        uint32_t processes_per_user;    /* attached processes of one uid; more are refused -EUSERS; 0: no cap */
} LedgerLimits;

typedef struct LedgerCallbacks {
        /* A queued read was granted a token. Must not call back into the ledger. */
        void (*granted)(LedgerWaiter *w, void *userdata);
        /* A queued poller's process now has a token reserved. Same rule. */
        void (*reserved)(LedgerWaiter *w, void *userdata);
        /* What is kept of p (held, jobs, absorbed returns, flags) changed.
         * Optional; same rule. */
        void (*changed)(LedgerProcess *p, void *userdata);
} LedgerCallbacks;

/* What is kept of a process across a restart of steve. */
typedef struct LedgerProcessState {
        pid_t pid;
        uid_t uid;
        int64_t held;
        uint64_t absorb, lent;
        bool ever_acquired, returned_implicit, borrowed;
        const LedgerJob *jobs;          /* the oldest min(held, n_jobs) */
        size_t n_jobs;
        uint32_t weight;                /* of the (sub-)build it leads; 0: the default */
        LedgerProcess *parent;          /* restore: the process whose sub-build it is; NULL: none */
} LedgerProcessState;

typedef struct LedgerStats {
        uint32_t jobs;
        int64_t available;              /* negative while holders keep more than a shrunk pool */
        int64_t held;
        uint32_t reserved;
        size_t waiters;                 /* queued and parked */
        size_t processes;
} LedgerStats;

int ledger_new(uint32_t jobs, uint64_t reservation_timeout, const LedgerCallbacks *callbacks, void *userdata,
               Ledger **ret);
/* Every process must have exited first. */
Ledger *ledger_free(Ledger *l);

/* p leads a build of its own with the default weight. -ENOMEM when p's user
 * is new and cannot be recorded. */
int ledger_process_attach(Ledger *l, LedgerProcess *p, pid_t pid, uid_t uid);
/* p leads a sub-build of parent's (the nearest client among its ancestors)
 * or, with parent NULL, a build of its own; weight 0 is the default. The
 * sub-build stays where it is when parent exits. -EUSERS when uid has
 * processes_per_user attached already. */
int ledger_process_attach_under(Ledger *l, LedgerProcess *p, pid_t pid, uid_t uid, LedgerProcess *parent,
                                uint32_t weight);
/* The process is gone: its reservation and holdings return, its waiters leave. */
void ledger_process_exit(Ledger *l, LedgerProcess *p, uint64_t now);
/* A process as a previous steve left it: attached, holding what it held
 * (taken from the pool; it may go negative), without waiters. */
int ledger_process_restore(Ledger *l, LedgerProcess *p, const LedgerProcessState *st);
void ledger_process_state(const LedgerProcess *p, LedgerProcessState *ret);
/* Job ids go on from where the previous steve left them. */
uint64_t ledger_next_job_id(const Ledger *l);
void ledger_set_next_job_id(Ledger *l, uint64_t id);

/* Take one token now; with a waiter, queue it when none is free. */
int ledger_acquire(Ledger *l, LedgerProcess *p, LedgerWaiter *w, uint64_t now);
/* LEDGER_GRANTED when a token is (now) reserved for p; with a waiter, queue it otherwise. */
int ledger_poll(Ledger *l, LedgerProcess *p, LedgerWaiter *w, uint64_t now);
void ledger_cancel(Ledger *l, LedgerWaiter *w);
/* 0, LEDGER_NOT_HELD, or LEDGER_IMPLICIT_SLOT: p never acquired and returns
 * one token, its implicit slot (nasm-rs and cc-rs release it before they
 * acquire); the caller then finds who lent it and calls ledger_return_implicit(). */
int ledger_release(Ledger *l, LedgerProcess *p, uint64_t n, uint64_t now);
/* p's implicit slot, returned once: the lender (the nearest ancestor holding a
 * token, which p runs on) gives that token back now. It stays lent: it
 * counts against the lender's and its user's limits while p lives, the
 * lender's own return of it settles the loan, and p's end makes it the
 * lender's again (ledger_loan_ended()), so that forking fresh processes
 * cannot take more than the limits or the pool. Without a lender nothing
 * changes: no token is made out of nothing. */
int ledger_return_implicit(Ledger *l, LedgerProcess *p, LedgerProcess *lender, uint64_t now);
/* p, which borrowed, ends (call before ledger_process_exit()): the token lent
 * for it is lender's again, if lender (its nearest ancestor with a loan out)
 * has not settled it; the pool may be short of it until lender returns it. */
void ledger_loan_ended(Ledger *l, LedgerProcess *p, LedgerProcess *lender, uint64_t now);
uint64_t ledger_process_lent(const LedgerProcess *p);
bool ledger_process_borrowed(const LedgerProcess *p);

/* An admin takes back everything p holds (a stuck build); returns p makes of
 * those tokens later are accepted and absorbed. The number taken. */
uint64_t ledger_reclaim(Ledger *l, LedgerProcess *p, uint64_t now);

/* Reservations whose deadline passed go back to the pool. */
void ledger_expire_reservations(Ledger *l, uint64_t now);
/* The earliest reservation deadline, UINT64_MAX for none. */
uint64_t ledger_next_deadline(const Ledger *l);

/* Tokens p could take right now: what FIONREAD answers. */
uint64_t ledger_available_to(const Ledger *l, const LedgerProcess *p);

/* Run-time changes. Lowering jobs takes nothing back: holders keep their
 * tokens and new ones wait until the pool is under the new size. */
void ledger_set_jobs(Ledger *l, uint32_t jobs, uint64_t now);
void ledger_set_limits(Ledger *l, const LedgerLimits *limits, uint64_t now);
void ledger_set_throttled(Ledger *l, bool throttled, uint64_t now);
void ledger_set_reservation_timeout(Ledger *l, uint64_t timeout);
/* True while free tokens are withheld from waiters because of throttling:
 * only then is it worth re-reading the system's load. */
bool ledger_held_back_by_throttle(const Ledger *l);

/* The weight of the (sub-)build p leads, from its next grant on; -EINVAL
 * outside 1..LEDGER_WEIGHT_MAX. */
int ledger_process_set_weight(Ledger *l, LedgerProcess *p, uint32_t weight);

/* Reading it */
void ledger_stats(const Ledger *l, LedgerStats *ret);
/* Processes in the order they came. */
LedgerProcess *ledger_first_process(const Ledger *l);
LedgerProcess *ledger_next_process(const Ledger *l, const LedgerProcess *p);
/* Calls fn for each process, or for each waiter in the order they will be
 * served (the queue, then those parked at their process's or user's limit); a negative
 * return from fn stops the walk and is returned. */
int ledger_foreach_process(const Ledger *l, int (*fn)(const LedgerProcess *p, void *userdata), void *userdata);
int ledger_foreach_waiter(const Ledger *l, int (*fn)(const LedgerWaiter *w, void *userdata), void *userdata);

pid_t ledger_process_pid(const LedgerProcess *p);
uid_t ledger_process_uid(const LedgerProcess *p);
int64_t ledger_process_held(const LedgerProcess *p);
bool ledger_process_reserved(const LedgerProcess *p);
/* One record per held token, oldest first. */
const LedgerJob *ledger_process_jobs(const LedgerProcess *p, size_t *ret_n);

/* The (sub-)build p leads, and the build (a group the pool's root shares
 * between) it is part of. */
const LedgerGroup *ledger_process_group(const LedgerProcess *p);
const LedgerGroup *ledger_process_build(const LedgerProcess *p);
pid_t ledger_group_leader(const LedgerGroup *g);
uid_t ledger_group_uid(const LedgerGroup *g);
uint32_t ledger_group_weight(const LedgerGroup *g);
/* Tokens held and reserved by it and everything under it. */
int64_t ledger_group_taken(const LedgerGroup *g);
/* Its and its members' waiters in the pool's queue (not those parked). */
size_t ledger_group_waiting(const LedgerGroup *g);
/* A build's weighted share of the pool among the builds that hold, reserve
 * or wait for tokens (itself counted), in tokens. */
double ledger_build_share(const Ledger *l, const LedgerGroup *build);
/* Calls fn for each build, in the order they came; a negative return stops the walk. */
int ledger_foreach_build(const Ledger *l, int (*fn)(const LedgerGroup *g, void *userdata), void *userdata);

const LedgerProcess *ledger_waiter_process(const LedgerWaiter *w);
LedgerWaitKind ledger_waiter_kind(const LedgerWaiter *w);
uint64_t ledger_waiter_since(const LedgerWaiter *w);
bool ledger_waiter_queued(const LedgerWaiter *w);
/* Queued, but out of the pool's queue because its process or user is at its limit. */
bool ledger_waiter_parked(const LedgerWaiter *w);

/* Recounts everything; false when the invariant is broken. O(processes +
 * waiters): for tests, fuzzers and the ledger-checks build option. */
bool ledger_consistent(const Ledger *l);
