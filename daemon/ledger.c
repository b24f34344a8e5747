/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <assert.h>
#include <errno.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "ledger-internal.h"

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
        TAILQ_INIT(&l->root.turn);
        TAILQ_INIT(&l->builds);
        *ret = l;
        return 0;
}

Ledger *ledger_free(Ledger *l) {
        if (l) {
                /* Users go with their last process. */
                assert(TAILQ_EMPTY(&l->processes) && !l->users && TAILQ_EMPTY(&l->builds));
                free(l);
        }
        return NULL;
}

/* Users */

static int user_compare(const void *a, const void *b) {
        uid_t x = ((const LedgerUser *) a)->uid, y = ((const LedgerUser *) b)->uid;
        return (x > y) - (x < y);
}

static LedgerUser *user_get(Ledger *l, uid_t uid) {
        LedgerUser key = { .uid = uid }, *u, **found = tfind(&key, &l->users, user_compare);

        if (found)
                return *found;
        u = calloc(1, sizeof *u);
        if (!u)
                return NULL;
        u->uid = uid;
        TAILQ_INIT(&u->parked);
        if (!tsearch(u, &l->users, user_compare)) {
                free(u);
                return NULL;
        }
        return u;
}

static void user_put(Ledger *l, LedgerUser *u) {
        if (--u->n_processes > 0)
                return;
        assert(u->held == 0 && u->reserved == 0 && u->queued == 0 && TAILQ_EMPTY(&u->parked));
        tdelete(u, &l->users, user_compare);
        free(u);
}

/* Limits */

static bool can_take_now(const Ledger *l, const LedgerProcess *p) {
        return l->available > 0 && TAILQ_EMPTY(&l->waiters) && pool_open(l) &&
               !process_at_limit(l, p) && !user_at_limit(l, p->user);
}

/* Processes */

/* capped: a new process, which processes_per_user may refuse; one that a
 * previous steve tracked comes back whatever the cap. */
static int attach(Ledger *l, LedgerProcess *p, pid_t pid, uid_t uid, LedgerProcess *parent, uint32_t weight,
                  bool capped) {
        LedgerUser *u;

        /* Before the user is made: a refused attach leaves no user behind. */
        if (weight > LEDGER_WEIGHT_MAX)
                return -EINVAL;
        u = user_get(l, uid);
        if (!u)
                return -ENOMEM;
        if (capped && l->limits.processes_per_user > 0 && u->n_processes >= l->limits.processes_per_user)
                return -EUSERS;         /* u has processes, so it stays */
        *p = (LedgerProcess) { .pid = pid, .uid = uid, .user = u };
        u->n_processes++;
        if (group_new(l, p, parent ? parent->group : &l->root, weight ? weight : LEDGER_WEIGHT_DEFAULT) < 0) {
                user_put(l, u);
                return -ENOMEM;
        }
        TAILQ_INIT(&p->parked);
        TAILQ_INIT(&p->waiters);
        TAILQ_INIT(&p->turn);
        TAILQ_INSERT_TAIL(&l->processes, p, process_link);
        l->n_processes++;
        return 0;
}

int ledger_process_attach_under(Ledger *l, LedgerProcess *p, pid_t pid, uid_t uid, LedgerProcess *parent,
                                uint32_t weight) {
        return attach(l, p, pid, uid, parent, weight, true);
}

int ledger_process_attach(Ledger *l, LedgerProcess *p, pid_t pid, uid_t uid) {
        return ledger_process_attach_under(l, p, pid, uid, NULL, 0);
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

/* What the ledger keeps of p changed: the changed callback says so to whoever keeps a record. */
static void changed(Ledger *l, LedgerProcess *p) {
        if (l->callbacks->changed)
                l->callbacks->changed(p, l->userdata);
}

static void give_token(Ledger *l, LedgerProcess *p, uint64_t now) {
        assert(p->n_jobs < p->n_jobs_allocated);
        p->jobs[p->n_jobs++] = (LedgerJob) { .id = l->next_job_id++, .started = now };
        p->held++;
        p->user->held++;
        p->ever_acquired = true;
        l->held++;
        group_add_taken(l, p, 1);
        changed(l, p);
}

/* n tokens leave p's hands; the caller says where they go. */
static void take_tokens(Ledger *l, LedgerProcess *p, uint64_t n) {
        /* Which jobs ended is unknown; the oldest are the best guess. */
        memmove(p->jobs, p->jobs + n, (p->n_jobs - n) * sizeof(LedgerJob));
        p->n_jobs -= n;
        p->held -= (int64_t) n;
        p->user->held -= (int64_t) n;
        l->held -= (int64_t) n;
        group_add_taken(l, p, -(int64_t) n);
        changed(l, p);
}

static void drop_reservation(Ledger *l, LedgerProcess *p) {
        assert(p->reserved);
        TAILQ_REMOVE(&l->reservations, p, reservation_link);
        p->reserved = false;
        p->user->reserved--;
        l->reserved--;
        group_add_taken(l, p, -1);
}

/* Kept in deadline order: a claim's timeout may be shorter than a poller's. */
static void reserve_token(Ledger *l, LedgerProcess *p, uint64_t now, uint64_t timeout) {
        LedgerProcess *q;

        l->available--;
        l->reserved++;
        p->reserved = true;
        p->user->reserved++;
        p->reservation_deadline = now + timeout;
        group_add_taken(l, p, 1);
        TAILQ_FOREACH_REVERSE(q, &l->reservations, ReservationList, reservation_link)
                if (q->reservation_deadline <= p->reservation_deadline)
                        break;
        if (q)
                TAILQ_INSERT_AFTER(&l->reservations, q, p, reservation_link);
        else
                TAILQ_INSERT_HEAD(&l->reservations, p, reservation_link);
}

/* Waiters */

static void dequeue(Ledger *l, LedgerWaiter *w) {
        LedgerProcess *p = w->process;

        switch (w->place) {
        case PLACE_QUEUE:
                TAILQ_REMOVE(&l->waiters, w, queue_link);
                TAILQ_REMOVE(&p->turn, w, turn_link);
                p->user->queued--;
                l->n_waiters--;
                group_add_waiting(l, p, -1);
                break;
        case PLACE_PROCESS:
                TAILQ_REMOVE(&p->parked, w, queue_link);
                l->n_parked--;
                break;
        case PLACE_USER:
                TAILQ_REMOVE(&p->user->parked, w, queue_link);
                l->n_parked--;
                break;
        }
        TAILQ_REMOVE(&p->waiters, w, process_link);
        w->place = PLACE_NONE;
        w->queued = w->parked = false;
        if (w->kind == LEDGER_WAIT_READ) {
                p->n_read_waiters--;
                p->user->read_waiters--;
        }
}

/* Puts w where it must wait now: parked when a limit holds its process or
 * user back, so that it holds up nobody else, the pool's queue otherwise.
 * at_head: it was waiting already, before those parked after it. */
static void place(Ledger *l, LedgerWaiter *w, bool at_head) {
        LedgerProcess *p = w->process;

        if (process_at_limit(l, p)) {
                w->place = PLACE_PROCESS;
                if (at_head)
                        TAILQ_INSERT_HEAD(&p->parked, w, queue_link);
                else
                        TAILQ_INSERT_TAIL(&p->parked, w, queue_link);
                l->n_parked++;
        } else if (user_at_limit(l, p->user)) {
                w->place = PLACE_USER;
                if (at_head)
                        TAILQ_INSERT_HEAD(&p->user->parked, w, queue_link);
                else
                        TAILQ_INSERT_TAIL(&p->user->parked, w, queue_link);
                l->n_parked++;
        } else {
                w->place = PLACE_QUEUE;
                TAILQ_INSERT_TAIL(&l->waiters, w, queue_link);
                TAILQ_INSERT_TAIL(&p->turn, w, turn_link);
                p->user->queued++;
                l->n_waiters++;
                group_add_waiting(l, p, 1);
        }
        TAILQ_INSERT_TAIL(&p->waiters, w, process_link);
        w->queued = true;
        w->parked = w->place != PLACE_QUEUE;
        if (w->kind == LEDGER_WAIT_READ) {
                p->n_read_waiters++;
                p->user->read_waiters++;
        }
}

static void enqueue(Ledger *l, LedgerWaiter *w, LedgerWaitKind kind, LedgerProcess *p, uint64_t now) {
        /* A process that waits after all needs no claim beside it. */
        if (kind != LEDGER_WAIT_CLAIM && p->claim.queued)
                dequeue(l, &p->claim);
        w->kind = kind;
        w->process = p;
        w->since = now;
        place(l, w, false);
}

/* p dropped below its limit (or the limit changed): its parked waiters queue again. */
static void unpark_process(Ledger *l, LedgerProcess *p) {
        LedgerWaiter *w;

        /* Still at its limit, they would only park again. */
        if (process_at_limit(l, p))
                return;
        while ((w = TAILQ_FIRST(&p->parked))) {
                dequeue(l, w);
                place(l, w, false);
        }
}

/* A user may have many waiters parked; only as many go back to the queue as
 * it has room for, so that a busy user's every token does not move them all. */
static void unpark_user(Ledger *l, LedgerUser *u) {
        LedgerWaiter *w;

        while ((w = TAILQ_FIRST(&u->parked)) && (int64_t) u->queued < user_room(l, u)) {
                dequeue(l, w);
                place(l, w, false);
        }
}

static void unpark(Ledger *l, LedgerProcess *p) {
        unpark_process(l, p);
        unpark_user(l, p->user);
}

static LedgerWaiter *next_waiter(Ledger *l) {
        return l->limits.policy == LEDGER_POLICY_FIFO ? TAILQ_FIRST(&l->waiters) : group_fair_next(l);
}

/* Hands free tokens to waiters, in the order the policy says. */
static void serve_waiters(Ledger *l, uint64_t now) {
        LedgerWaiter *w;

        while (l->available > 0 && pool_open(l) && (w = next_waiter(l))) {
                LedgerProcess *p = w->process;

                dequeue(l, w);
                if (process_at_limit(l, p) || user_at_limit(l, p->user)) {
                        place(l, w, true);
                } else if (w->kind == LEDGER_WAIT_READ) {
                        l->available--;
                        give_token(l, p, now);
                        l->callbacks->granted(w, l->userdata);
                } else if (w->kind == LEDGER_WAIT_POLL) {
                        /* A process polling on two files needs only one reservation. */
                        if (!p->reserved)
                                reserve_token(l, p, now, l->reservation_timeout);
                        l->callbacks->reserved(w, l->userdata);
                } else if (!p->reserved)
                        /* Its next read finds it, if that comes soon. */
                        reserve_token(l, p, now, l->limits.claim_timeout);
                /* One of its waiters fewer in the queue: the user's next parked
                 * one may take its place. */
                unpark_user(l, p->user);
        }
        check_invariant(l);
}

/* Whether p, which waits for nothing now, may be kept a token it is owed:
 * its build is below its share (itself counted in the demand). */
static bool may_claim(const Ledger *l, const LedgerProcess *p) {
        /* One that waits already (a poller, a blocked thread) gets its token that way. */
        if (l->limits.policy != LEDGER_POLICY_FAIR || l->limits.claim_timeout == 0 || p->reserved ||
            !TAILQ_EMPTY(&p->waiters) || process_at_limit(l, p) || user_at_limit(l, p->user))
                return false;
        return group_below_share(l, group_build_of(p->group));
}

/* A build below its share is not passed over for never waiting (ninja 1.13,
 * gcc's lto1 and emerge read without blocking and come back later): its
 * refused process claims the next token it is owed. */
static void claim(Ledger *l, LedgerProcess *p, uint64_t now) {
        if (!may_claim(l, p))
                return;
        enqueue(l, &p->claim, LEDGER_WAIT_CLAIM, p, now);
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
        } else if (w && l->limits.waiters_per_user > 0 && p->user->read_waiters >= l->limits.waiters_per_user) {
                return LEDGER_TOO_MANY_WAITERS;
        } else if (w) {
                enqueue(l, w, LEDGER_WAIT_READ, p, now);
                check_invariant(l);
                return LEDGER_QUEUED;
        } else {
                claim(l, p, now);
                return LEDGER_WOULD_BLOCK;
        }

        check_invariant(l);
        return LEDGER_GRANTED;
}

int ledger_poll(Ledger *l, LedgerProcess *p, LedgerWaiter *w, uint64_t now) {
        if (p->reserved)
                return LEDGER_GRANTED;
        if (can_take_now(l, p)) {
                reserve_token(l, p, now, l->reservation_timeout);
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
        LedgerUser *u;

        if (!w->queued)
                return;
        u = w->process->user;
        dequeue(l, w);
        unpark_user(l, u);
}

/* How long a returner keeps a token for its next job: make asks within a
 * millisecond of its return, more on a loaded machine. Longer only leaves
 * the token unused when no next job comes (the pool sat free 8.5 % of the
 * time in bench/run --fair with 0.5 s, 3.5 % with this). */
#define KEEP_TIMEOUT UINT64_C(50000)

/* n tokens come back to the pool from p's hands. A client returns a token
 * when its job ends and asks for one for its next job right after (make,
 * cargo): at the instant of the return it waits for nothing, so handing the
 * token on would give it to whoever waits, however far above its share.
 * A returner below its share whose build would be served first, were it
 * waiting, keeps one, reserved for a moment, as a claim would. */
static void return_tokens(Ledger *l, LedgerProcess *p, uint64_t n, uint64_t now, bool may_keep) {
        take_tokens(l, p, n);
        l->available += (int64_t) n;
        if (may_keep && !TAILQ_EMPTY(&l->waiters) && may_claim(l, p) && group_first_in_turn(l, p))
                reserve_token(l, p, now,
                              l->limits.claim_timeout < KEEP_TIMEOUT ? l->limits.claim_timeout : KEEP_TIMEOUT);
        unpark(l, p);
        serve_waiters(l, now);
}

/* Returns of tokens p no longer holds: those reclaimed first, then loans
 * settled, which frees room under the limits. */
static void settle(Ledger *l, LedgerProcess *p, uint64_t n, uint64_t now) {
        uint64_t absorbed = n < p->absorb ? n : p->absorb;

        p->absorb -= absorbed;
        p->lent -= n - absorbed;
        p->user->lent -= n - absorbed;
        changed(l, p);
        if (n > absorbed) {
                unpark(l, p);
                serve_waiters(l, now);
        }
}

int ledger_release(Ledger *l, LedgerProcess *p, uint64_t n, uint64_t now) {
        uint64_t held = (uint64_t) p->held;

        if (n == 0)
                return 0;
        if (held < n && held + p->absorb + p->lent < n)
                return n == 1 && held == 0 && !p->ever_acquired && !p->returned_implicit
                       ? LEDGER_IMPLICIT_SLOT : LEDGER_NOT_HELD;
        if (held < n)
                settle(l, p, n - held, now);
        if (held > 0)
                return_tokens(l, p, held < n ? held : n, now, true);
        return 0;
}

int ledger_return_implicit(Ledger *l, LedgerProcess *p, LedgerProcess *lender, uint64_t now) {
        if (p->ever_acquired || p->returned_implicit || p->held != 0)
                return LEDGER_NOT_HELD;
        p->returned_implicit = true;
        changed(l, p);
        /* A slot nobody lent is no token: the write is taken, the pool unchanged. */
        if (!lender || lender == p || lender->held == 0)
                return 0;
        /* Lent before it goes back: the lender's limits count it all along. */
        p->borrowed = true;
        lender->lent++;
        lender->user->lent++;
        return_tokens(l, lender, 1, now, false);
        return 0;
}

void ledger_loan_ended(Ledger *l, LedgerProcess *p, LedgerProcess *lender, uint64_t now) {
        if (!p->borrowed)
                return;
        p->borrowed = false;
        changed(l, p);
        if (!lender || lender == p || lender->lent == 0 || reserve_job_slots(lender, 1) < 0)
                return;
        lender->lent--;
        lender->user->lent--;
        l->available--;
        give_token(l, lender, now);
}

uint64_t ledger_process_lent(const LedgerProcess *p) {
        return p->lent;
}

bool ledger_process_borrowed(const LedgerProcess *p) {
        return p->borrowed;
}

uint64_t ledger_reclaim(Ledger *l, LedgerProcess *p, uint64_t now) {
        uint64_t n = (uint64_t) p->held;

        if (n == 0)
                return 0;
        p->absorb += n;
        return_tokens(l, p, n, now, false);
        return n;
}

int ledger_process_restore(Ledger *l, LedgerProcess *p, const LedgerProcessState *st) {
        LedgerUser *u;
        int r;

        if (st->held < 0)
                return -EINVAL;
        r = attach(l, p, st->pid, st->uid, st->parent, st->weight, false);
        if (r < 0)
                return r;
        r = reserve_job_slots(p, (size_t) st->held);
        if (r < 0) {
                ledger_process_exit(l, p, 0);
                return r;
        }
        u = p->user;
        for (size_t i = 0; i < (size_t) st->held; i++) {
                if (i < st->n_jobs) {
                        p->jobs[p->n_jobs++] = st->jobs[i];
                        if (st->jobs[i].id >= l->next_job_id)
                                l->next_job_id = st->jobs[i].id + 1;
                } else
                        /* Beyond the records kept: new ids, the newest kept start. */
                        p->jobs[p->n_jobs++] = (LedgerJob) {
                                .id = l->next_job_id++,
                                .started = st->n_jobs ? st->jobs[st->n_jobs - 1].started : 0,
                        };
        }
        p->held = st->held;
        u->held += st->held;
        l->held += st->held;
        l->available -= st->held;
        group_add_taken(l, p, st->held);
        p->absorb = st->absorb;
        p->lent = st->lent;
        u->lent += st->lent;
        p->borrowed = st->borrowed;
        p->ever_acquired = st->ever_acquired;
        p->returned_implicit = st->returned_implicit;
        check_invariant(l);
        return 0;
}

void ledger_set_next_job_id(Ledger *l, uint64_t id) {
        if (id > l->next_job_id)
                l->next_job_id = id;
}

void ledger_process_state(const LedgerProcess *p, LedgerProcessState *ret) {
        *ret = (LedgerProcessState) {
                .pid = p->pid, .uid = p->uid, .held = p->held, .absorb = p->absorb, .lent = p->lent,
                .ever_acquired = p->ever_acquired, .returned_implicit = p->returned_implicit,
                .borrowed = p->borrowed,
                .jobs = p->jobs, .n_jobs = p->n_jobs,
                .weight = p->group->weight,
        };
}

uint64_t ledger_next_job_id(const Ledger *l) {
        return l->next_job_id;
}

void ledger_process_exit(Ledger *l, LedgerProcess *p, uint64_t now) {
        LedgerUser *u = p->user;
        LedgerWaiter *w;

        while ((w = TAILQ_FIRST(&p->waiters)))
                dequeue(l, w);
        if (p->reserved) {
                drop_reservation(l, p);
                l->available++;
        }
        if (p->held > 0) {
                l->available += p->held;
                take_tokens(l, p, (uint64_t) p->held);
        }
        /* What it lent is in the pool already. */
        u->lent -= p->lent;
        p->lent = 0;
        free(p->jobs);
        p->jobs = NULL;
        p->n_jobs = p->n_jobs_allocated = 0;

        TAILQ_REMOVE(&l->processes, p, process_link);
        l->n_processes--;
        unpark_user(l, u);
        p->user = NULL;
        user_put(l, u);
        p->group->process = NULL;
        group_put(l, p->group);
        p->group = NULL;
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

static uint64_t min_room(uint64_t n, int64_t room) {
        return room <= 0 ? 0 : (uint64_t) room < n ? (uint64_t) room : n;
}

uint64_t ledger_available_to(const Ledger *l, const LedgerProcess *p) {
        uint64_t n = 0;

        if (TAILQ_EMPTY(&l->waiters) && l->available > 0 && pool_open(l)) {
                n = (uint64_t) l->available;
                if (l->throttled)
                        n = min_room(n, (int64_t) l->limits.min_jobs - l->held - (int64_t) l->reserved);
                if (l->limits.per_process_limit > 0)
                        n = min_room(n, (int64_t) l->limits.per_process_limit - p->held - (int64_t) p->reserved);
                n = min_room(n, user_room(l, p->user));
        }
        return n + (p->reserved ? 1 : 0);
}

void ledger_set_jobs(Ledger *l, uint32_t jobs, uint64_t now) {
        l->available += (int64_t) jobs - (int64_t) l->jobs;
        l->jobs = jobs;
        serve_waiters(l, now);
}

void ledger_set_limits(Ledger *l, const LedgerLimits *limits, uint64_t now) {
        LedgerProcess *p;

        l->limits = *limits;
        /* Parked waiters are re-judged against the new limits in queue order. */
        TAILQ_FOREACH(p, &l->processes, process_link) {
                if (p->claim.queued && (limits->policy != LEDGER_POLICY_FAIR || limits->claim_timeout == 0))
                        ledger_cancel(l, &p->claim);
                unpark(l, p);
        }
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

/* Reading it */

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

LedgerProcess *ledger_next_process(const Ledger *l, const LedgerProcess *p) {
        return TAILQ_NEXT(p, process_link);
}

int ledger_foreach_process(const Ledger *l, int (*fn)(const LedgerProcess *p, void *userdata), void *userdata) {
        const LedgerProcess *p;
        int r;

        TAILQ_FOREACH(p, &l->processes, process_link)
                if ((r = fn(p, userdata)) < 0)
                        return r;
        return 0;
}

typedef struct UserWalk {
        int (*fn)(const LedgerWaiter *w, void *userdata);
        void *userdata;
        int r;
} UserWalk;

static void visit_user(const void *node, VISIT which, void *closure) {
        const LedgerUser *u = *(const LedgerUser *const *) node;
        UserWalk *walk = closure;
        const LedgerWaiter *w;

        if ((which != postorder && which != leaf) || walk->r < 0)
                return;
        TAILQ_FOREACH(w, &u->parked, queue_link)
                if ((walk->r = walk->fn(w, walk->userdata)) < 0)
                        return;
}

int ledger_foreach_waiter(const Ledger *l, int (*fn)(const LedgerWaiter *w, void *userdata), void *userdata) {
        const LedgerProcess *p;
        const LedgerWaiter *w;
        UserWalk walk = { fn, userdata, 0 };
        int r;

        TAILQ_FOREACH(w, &l->waiters, queue_link)
                if ((r = fn(w, userdata)) < 0)
                        return r;
        if (l->n_parked == 0)
                return 0;
        TAILQ_FOREACH(p, &l->processes, process_link)
                TAILQ_FOREACH(w, &p->parked, queue_link)
                        if ((r = fn(w, userdata)) < 0)
                                return r;
        twalk_r(l->users, visit_user, &walk);
        return walk.r;
}

pid_t ledger_process_pid(const LedgerProcess *p) {
        return p->pid;
}

uid_t ledger_process_uid(const LedgerProcess *p) {
        return p->uid;
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
