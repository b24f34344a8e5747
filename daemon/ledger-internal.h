/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What the ledger's files share and nothing else includes: the structures
 * behind the opaque types of ledger.h.
 *   ledger.c        holders, waiters, reservations, limits: the token path
 *   ledger-groups.c builds and sub-builds, weights, whom the fair policy serves
 *   ledger-check.c  the whole-ledger recount, for tests, fuzzers and -Dledger-checks
 */

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* Where a queued waiter waits. */
enum {
        PLACE_NONE,
        PLACE_QUEUE,            /* the pool's queue */
        PLACE_PROCESS,          /* parked: its process is at the per-process limit */
        PLACE_USER,             /* parked: its user is at the per-user limit */
};

/* A member of a group's turn: one of its sub-groups, or its own process. */
typedef struct LedgerShare {
        LedgerGroup *group;
        bool self;                      /* the group's own process, not the whole group */
        bool active;                    /* in the turn: it has waiters in the pool's queue */
        TAILQ_ENTRY(LedgerShare) link;
} LedgerShare;

/* A build or sub-build: the subtree of client processes one process leads.
 * It outlives its leader while its members live, so that they stay where
 * they were. */
struct LedgerGroup {
        LedgerGroup *parent;            /* NULL: the root, whose members are the builds */
        LedgerProcess *process;         /* its leader; NULL once it exited */
        pid_t leader;
        uid_t uid;                      /* its leader's */
        uint32_t weight;
        unsigned n_refs;                /* its leader while attached, and its sub-groups */
        int64_t taken;                  /* held and reserved by its whole subtree */
        size_t waiting;                 /* its subtree's waiters in the pool's queue */
        bool demanding;                 /* a build that takes or waits: in the ledger's demand */
        LedgerShare as_member;          /* in its parent's turn */
        LedgerShare as_self;            /* its leader's own waiters, in its own turn */
        TAILQ_HEAD(, LedgerShare) turn; /* the members with waiters, least recently served first */
        int64_t check_taken;            /* ledger_consistent()'s recount */
        size_t check_waiting;
        TAILQ_ENTRY(LedgerGroup) build_link;    /* a build: in the ledger's builds */
};

/* Everything one uid holds, reserved and waits for. */
struct LedgerUser {
        uid_t uid;
        size_t n_processes;
        int64_t held;
        uint64_t lent;                  /* its processes' tokens lent to implicit slots */
        uint32_t reserved;
        size_t queued;                  /* its waiters in the pool's queue */
        size_t read_waiters;            /* its blocked reads, queued or parked */
        TAILQ_HEAD(, LedgerWaiter) parked;
};

struct Ledger {
        uint32_t jobs;
        int64_t available;              /* negative while holders keep more than a shrunk pool */
        int64_t held;
        uint32_t reserved;
        uint64_t reservation_timeout;
        uint64_t next_job_id;
        size_t n_processes, n_waiters, n_parked;
        LedgerLimits limits;
        bool throttled;                 /* the system is busy: only min_jobs */
        LedgerGroup root;
        uint64_t demand;                /* the weights of the builds that take or wait */
        TAILQ_HEAD(, LedgerGroup) builds;

        TAILQ_HEAD(, LedgerWaiter) waiters;
        TAILQ_HEAD(ReservationList, LedgerProcess) reservations;       /* deadline order */
        TAILQ_HEAD(, LedgerProcess) processes;
        void *users;                    /* tsearch() tree of LedgerUser, by uid */

        const LedgerCallbacks *callbacks;
        void *userdata;
};

static inline bool process_at_limit(const Ledger *l, const LedgerProcess *p) {
        return l->limits.per_process_limit > 0 &&
               p->held + (int64_t) p->lent + (int64_t) p->reserved >= (int64_t) l->limits.per_process_limit;
}

/* How many more tokens the user may come to hold; INT64_MAX without a limit. */
static inline int64_t user_room(const Ledger *l, const LedgerUser *u) {
        if (l->limits.per_user_limit == 0)
                return INT64_MAX;
        return (int64_t) l->limits.per_user_limit - u->held - (int64_t) u->lent - (int64_t) u->reserved;
}

static inline bool user_at_limit(const Ledger *l, const LedgerUser *u) {
        return user_room(l, u) <= 0;
}

/* Whether the pool hands out tokens at all right now, limits considered. */
static inline bool pool_open(const Ledger *l) {
        return !l->limits.paused &&
               (!l->throttled || l->held + (int64_t) l->reserved < (int64_t) l->limits.min_jobs);
}

/* ledger-groups.c */
int group_new(Ledger *l, LedgerProcess *p, LedgerGroup *parent, uint32_t weight);
/* Groups go with the last of their leader and members. */
void group_put(Ledger *l, LedgerGroup *g);
LedgerGroup *group_build_of(const LedgerGroup *g);
/* Tokens p holds or has reserved, up its groups. */
void group_add_taken(Ledger *l, LedgerProcess *p, int64_t n);
/* A waiter of p's joins (+1) or leaves (-1) the pool's queue. */
void group_add_waiting(Ledger *l, LedgerProcess *p, int n);
LedgerWaiter *group_fair_next(Ledger *l);
bool group_first_in_turn(const Ledger *l, const LedgerProcess *p);
/* b takes fewer tokens than its weighted share of the pool, itself demanding. */
bool group_below_share(const Ledger *l, const LedgerGroup *b);
bool groups_consistent(const Ledger *l);

