/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "test.h"

#define MS 1000

typedef struct Events {
        LedgerWaiter *order[16];
        LedgerWaitKind kinds[16];
        size_t n;
} Events;

static void on_event(LedgerWaiter *w, void *userdata) {
        Events *e = userdata;
        if (e->n < ELEMENTS(e->order)) {
                e->order[e->n] = w;
                e->kinds[e->n] = ledger_waiter_kind(w);
        }
        e->n++;
}

static const LedgerCallbacks callbacks = { .granted = on_event, .reserved = on_event };

static void setup(Ledger **l, Events *e, uint32_t jobs) {
        *e = (Events) {};
        if (ledger_new(jobs, 500 * MS, &callbacks, e, l) < 0)
                abort();
}

static LedgerStats st(const Ledger *l) {
        LedgerStats s;
        ledger_stats(l, &s);
        return s;
}

static size_t n_jobs(const LedgerProcess *p) {
        size_t n;
        (void) ledger_process_jobs(p, &n);
        return n;
}

static const LedgerJob *jobs(const LedgerProcess *p) {
        size_t n;
        return ledger_process_jobs(p, &n);
}

TEST(grants_until_empty_then_would_block) {
        Ledger *l; Events e; LedgerProcess a;
        setup(&l, &e, 2);
        ledger_process_attach(l, &a, 100, 1000);
        CHECK_EQ(ledger_acquire(l, &a, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &a, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &a, NULL, 0), LEDGER_WOULD_BLOCK);
        CHECK_EQ(ledger_process_held(&a), 2);
        CHECK_EQ(n_jobs(&a), 2);
        CHECK(jobs(&a)[0].id != jobs(&a)[1].id);
        CHECK(ledger_consistent(l));
        ledger_process_exit(l, &a, 0);
        CHECK_EQ(st(l).available, 2);
        ledger_free(l);
}

TEST(waiters_are_served_in_fifo_order_and_go_to_the_back) {
        Ledger *l; Events e; LedgerProcess a, b, c;
        LedgerWaiter wa = {}, wb = {}, wc = {}, wa2 = {};
        setup(&l, &e, 1);
        ledger_process_attach(l, &a, 1, 1000);
        ledger_process_attach(l, &b, 2, 1000);
        ledger_process_attach(l, &c, 3, 1000);

        CHECK_EQ(ledger_acquire(l, &c, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &a, &wa, 1), LEDGER_QUEUED);
        CHECK_EQ(ledger_acquire(l, &b, &wb, 2), LEDGER_QUEUED);
        CHECK_EQ(st(l).waiters, 2);

        CHECK_EQ(ledger_release(l, &c, 1, 3), 0);
        CHECK_EQ(e.n, 1);
        CHECK(e.order[0] == &wa);
        CHECK_EQ(ledger_process_held(&a), 1);

        /* a got its token; asking again puts it behind b */
        CHECK_EQ(ledger_acquire(l, &a, &wa2, 4), LEDGER_QUEUED);
        CHECK_EQ(ledger_acquire(l, &c, &wc, 5), LEDGER_QUEUED);
        CHECK_EQ(ledger_release(l, &a, 1, 6), 0);
        CHECK(e.order[1] == &wb);
        CHECK_EQ(ledger_release(l, &b, 1, 7), 0);
        CHECK(e.order[2] == &wa2);
        CHECK_EQ(ledger_release(l, &a, 1, 8), 0);
        CHECK(e.order[3] == &wc);
        CHECK(ledger_consistent(l));
        ledger_process_exit(l, &a, 9);
        ledger_process_exit(l, &b, 9);
        ledger_process_exit(l, &c, 9);
        CHECK_EQ(st(l).available, 1);
        ledger_free(l);
}

TEST(nonblocking_reader_cannot_jump_the_queue) {
        Ledger *l; Events e; LedgerProcess a, b;
        LedgerWaiter wa = {};
        setup(&l, &e, 1);
        ledger_process_attach(l, &a, 1, 1000);
        ledger_process_attach(l, &b, 2, 1000);
        CHECK_EQ(ledger_acquire(l, &b, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &a, &wa, 0), LEDGER_QUEUED);
        CHECK_EQ(ledger_release(l, &b, 1, 0), 0);
        /* the token went straight to the queued reader */
        CHECK_EQ(ledger_acquire(l, &b, NULL, 0), LEDGER_WOULD_BLOCK);
        CHECK_EQ(ledger_process_held(&a), 1);
        ledger_process_exit(l, &a, 0);
        ledger_process_exit(l, &b, 0);
        ledger_free(l);
}

TEST(cancelled_waiter_leaves_queue_and_loses_nothing) {
        Ledger *l; Events e; LedgerProcess a, b;
        LedgerWaiter wa = {};
        setup(&l, &e, 1);
        ledger_process_attach(l, &a, 1, 1000);
        ledger_process_attach(l, &b, 2, 1000);
        CHECK_EQ(ledger_acquire(l, &b, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &a, &wa, 0), LEDGER_QUEUED);
        ledger_cancel(l, &wa);
        CHECK(!ledger_waiter_queued(&wa));
        CHECK_EQ(st(l).waiters, 0);
        CHECK_EQ(ledger_release(l, &b, 1, 0), 0);
        CHECK_EQ(e.n, 0);
        CHECK_EQ(st(l).available, 1);
        CHECK(ledger_consistent(l));
        ledger_process_exit(l, &a, 0);
        ledger_process_exit(l, &b, 0);
        ledger_free(l);
}

TEST(poll_reserves_a_token_a_blocking_reader_cannot_take) {
        Ledger *l; Events e; LedgerProcess poller, reader;
        LedgerWaiter wr = {};
        setup(&l, &e, 1);
        ledger_process_attach(l, &poller, 1, 1000);
        ledger_process_attach(l, &reader, 2, 1000);
        CHECK_EQ(ledger_poll(l, &poller, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(st(l).reserved, 1);
        CHECK_EQ(ledger_available_to(l, &poller), 1);
        CHECK_EQ(ledger_available_to(l, &reader), 0);
        CHECK_EQ(ledger_acquire(l, &reader, &wr, 1), LEDGER_QUEUED);
        /* polling again does not reserve a second token */
        CHECK_EQ(ledger_poll(l, &poller, NULL, 2), LEDGER_GRANTED);
        CHECK_EQ(st(l).reserved, 1);
        CHECK_EQ(ledger_acquire(l, &poller, NULL, 3), LEDGER_GRANTED);
        CHECK_EQ(st(l).reserved, 0);
        CHECK_EQ(ledger_process_held(&poller), 1);
        CHECK(ledger_consistent(l));
        ledger_process_exit(l, &poller, 4);
        CHECK(e.n == 1 && e.order[0] == &wr);
        ledger_process_exit(l, &reader, 5);
        ledger_free(l);
}

TEST(reservation_expires_and_goes_to_the_next_waiter) {
        Ledger *l; Events e; LedgerProcess poller, reader;
        LedgerWaiter wr = {};
        setup(&l, &e, 1);
        ledger_process_attach(l, &poller, 1, 1000);
        ledger_process_attach(l, &reader, 2, 1000);
        CHECK_EQ(ledger_poll(l, &poller, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_next_deadline(l), 500 * MS);
        CHECK_EQ(ledger_acquire(l, &reader, &wr, 1), LEDGER_QUEUED);
        ledger_expire_reservations(l, 499 * MS);
        CHECK_EQ(e.n, 0);
        ledger_expire_reservations(l, 500 * MS);
        CHECK_EQ(e.n, 1);
        CHECK_EQ(ledger_process_held(&reader), 1);
        CHECK(!ledger_process_reserved(&poller));
        CHECK_EQ(ledger_next_deadline(l), UINT64_MAX);
        CHECK_EQ(ledger_acquire(l, &poller, NULL, 501 * MS), LEDGER_WOULD_BLOCK);
        ledger_process_exit(l, &poller, 0);
        ledger_process_exit(l, &reader, 0);
        ledger_free(l);
}

TEST(queued_poller_is_told_when_a_token_is_reserved_for_it) {
        Ledger *l; Events e; LedgerProcess poller, holder, reader;
        LedgerWaiter wp = {}, wr = {};
        setup(&l, &e, 1);
        ledger_process_attach(l, &poller, 1, 1000);
        ledger_process_attach(l, &holder, 2, 1000);
        ledger_process_attach(l, &reader, 3, 1000);
        CHECK_EQ(ledger_acquire(l, &holder, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_poll(l, &poller, &wp, 0), LEDGER_QUEUED);
        CHECK_EQ(ledger_poll(l, &poller, &wp, 1), LEDGER_QUEUED);     /* no second entry */
        CHECK_EQ(st(l).waiters, 1);
        CHECK_EQ(ledger_acquire(l, &reader, &wr, 2), LEDGER_QUEUED);
        CHECK_EQ(ledger_release(l, &holder, 1, 3), 0);
        CHECK(e.n == 1 && e.order[0] == &wp && e.kinds[0] == LEDGER_WAIT_POLL);
        CHECK(ledger_process_reserved(&poller));
        CHECK_EQ(ledger_poll(l, &poller, NULL, 4), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &poller, NULL, 5), LEDGER_GRANTED);
        CHECK(ledger_consistent(l));
        ledger_process_exit(l, &poller, 6);
        CHECK(e.n == 2 && e.order[1] == &wr);
        ledger_process_exit(l, &holder, 0);
        ledger_process_exit(l, &reader, 0);
        ledger_free(l);
}

TEST(release_more_than_held_is_refused_and_changes_nothing) {
        Ledger *l; Events e; LedgerProcess a;
        setup(&l, &e, 4);
        ledger_process_attach(l, &a, 1, 1000);
        CHECK_EQ(ledger_acquire(l, &a, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &a, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_release(l, &a, 3, 0), LEDGER_NOT_HELD);
        CHECK_EQ(ledger_process_held(&a), 2);
        CHECK_EQ(st(l).available, 2);
        CHECK_EQ(ledger_release(l, &a, 2, 0), 0);
        CHECK_EQ(ledger_release(l, &a, 1, 0), LEDGER_NOT_HELD);       /* it acquired before */
        CHECK_EQ(st(l).available, 4);
        ledger_process_exit(l, &a, 0);
        ledger_free(l);
}

TEST(implicit_slot_is_taken_from_the_lender_once) {
        Ledger *l; Events e; LedgerProcess make, child, other;
        LedgerWaiter w = {};
        setup(&l, &e, 2);
        ledger_process_attach(l, &make, 1, 1000);
        ledger_process_attach(l, &child, 2, 1000);
        ledger_process_attach(l, &other, 3, 1000);
        /* make holds the token its child runs on; both of the pool's are out */
        CHECK_EQ(ledger_acquire(l, &make, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &other, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &other, &w, 0), LEDGER_QUEUED);
        CHECK_EQ(ledger_release(l, &child, 2, 0), LEDGER_NOT_HELD);   /* only exactly one */
        CHECK_EQ(ledger_release(l, &child, 1, 0), LEDGER_IMPLICIT_SLOT);
        CHECK_EQ(st(l).available, 0);                                 /* nothing yet */
        CHECK_EQ(ledger_return_implicit(l, &child, &make, 1), 0);
        /* make's token went back and straight to the waiter */
        CHECK(e.n == 1 && e.order[0] == &w);
        CHECK_EQ(ledger_process_held(&make), 0);
        CHECK_EQ(ledger_process_held(&child), 0);
        CHECK(ledger_consistent(l));
        /* only once */
        CHECK_EQ(ledger_release(l, &child, 1, 2), LEDGER_NOT_HELD);
        CHECK_EQ(ledger_return_implicit(l, &child, &make, 2), LEDGER_NOT_HELD);
        /* make returns that token when the child is done: absorbed */
        CHECK_EQ(ledger_release(l, &make, 1, 3), 0);
        CHECK_EQ(st(l).available, 0);
        CHECK_EQ(ledger_release(l, &make, 1, 3), LEDGER_NOT_HELD);
        ledger_process_exit(l, &child, 4);
        ledger_process_exit(l, &make, 4);
        ledger_process_exit(l, &other, 4);
        CHECK_EQ(st(l).available, 2);
        ledger_free(l);
}

/* One process of a user forks fresh children that each "return their
 * implicit slot" and reads again after each: it took 7 of -j 4 under -U 2. */
TEST(implicit_slots_count_against_the_limits_while_lent) {
        Ledger *l; Events e; LedgerProcess parent, child[4], other;
        LedgerLimits limits = { .min_jobs = 1, .per_user_limit = 2, .policy = LEDGER_POLICY_FIFO };
        int granted = 0;

        setup(&l, &e, 4);
        ledger_set_limits(l, &limits, 0);
        ledger_process_attach(l, &parent, 1, 65534);
        for (int i = 0; i < 4; i++) {
                if (ledger_acquire(l, &parent, NULL, 0) == LEDGER_GRANTED)
                        granted++;
                ledger_process_attach(l, &child[i], 10 + i, 65534);
                CHECK_EQ(ledger_release(l, &child[i], 1, 0), LEDGER_IMPLICIT_SLOT);
                CHECK_EQ(ledger_return_implicit(l, &child[i], &parent, 0), 0);
                CHECK(ledger_consistent(l));
        }
        /* the limit's two, however many children lent */
        CHECK_EQ(granted, 2);
        CHECK_EQ(ledger_process_held(&parent) + (int64_t) ledger_process_lent(&parent), 2);
        /* another user is not held back by it */
        ledger_process_attach(l, &other, 5, 1000);
        CHECK_EQ(ledger_acquire(l, &other, NULL, 0), LEDGER_GRANTED);
        /* a borrower's end makes the token the lender's again: the pool is whole in the end */
        for (int i = 0; i < 4; i++) {
                ledger_loan_ended(l, &child[i], &parent, 1);
                ledger_process_exit(l, &child[i], 1);
                CHECK(ledger_consistent(l));
        }
        CHECK_EQ(ledger_process_held(&parent), 2);
        CHECK_EQ(ledger_process_lent(&parent), 0);
        CHECK_EQ(st(l).available + st(l).held, 4);
        CHECK_EQ(ledger_release(l, &parent, 2, 2), 0);
        ledger_process_exit(l, &parent, 3);
        ledger_process_exit(l, &other, 3);
        CHECK_EQ(st(l).available, 4);
        ledger_free(l);
}

TEST(a_lender_that_returns_first_settles_the_loan) {
        Ledger *l; Events e; LedgerProcess make, child;
        LedgerLimits limits = { .min_jobs = 1, .per_process_limit = 1, .policy = LEDGER_POLICY_FIFO };
        LedgerWaiter w = {};

        setup(&l, &e, 2);
        ledger_set_limits(l, &limits, 0);
        ledger_process_attach(l, &make, 1, 1000);
        ledger_process_attach(l, &child, 2, 1000);
        CHECK_EQ(ledger_acquire(l, &make, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_release(l, &child, 1, 0), LEDGER_IMPLICIT_SLOT);
        CHECK_EQ(ledger_return_implicit(l, &child, &make, 0), 0);
        CHECK_EQ(st(l).available, 2);
        /* lent, the token counts against make's per-process limit: it waits */
        CHECK_EQ(ledger_acquire(l, &make, &w, 0), LEDGER_QUEUED);
        /* make's write before steve saw the child end: the loan is settled and the waiter served */
        CHECK_EQ(ledger_release(l, &make, 1, 1), 0);
        CHECK(e.n == 1 && e.order[0] == &w);
        CHECK_EQ(ledger_process_lent(&make), 0);
        ledger_loan_ended(l, &child, &make, 2);
        ledger_process_exit(l, &child, 2);
        CHECK_EQ(ledger_process_held(&make), 1);
        CHECK_EQ(st(l).available, 1);
        CHECK(ledger_consistent(l));
        ledger_process_exit(l, &make, 3);
        CHECK_EQ(st(l).available, 2);
        ledger_free(l);
}

TEST(implicit_slot_without_a_lender_changes_nothing) {
        Ledger *l; Events e; LedgerProcess p[10], holder;
        setup(&l, &e, 4);
        ledger_process_attach(l, &holder, 100, 1000);
        CHECK_EQ(ledger_acquire(l, &holder, NULL, 0), LEDGER_GRANTED);
        /* ten fresh processes each return "their" slot: the pool does not grow */
        for (int i = 0; i < 10; i++) {
                ledger_process_attach(l, &p[i], 1 + i, 65534);
                CHECK_EQ(ledger_release(l, &p[i], 1, 0), LEDGER_IMPLICIT_SLOT);
                CHECK_EQ(ledger_return_implicit(l, &p[i], NULL, 0), 0);
        }
        CHECK_EQ(st(l).available, 3);
        /* a lender that holds nothing lends nothing */
        CHECK_EQ(ledger_release(l, &holder, 1, 0), 0);
        LedgerProcess late;
        ledger_process_attach(l, &late, 50, 65534);
        CHECK_EQ(ledger_return_implicit(l, &late, &holder, 0), 0);
        CHECK_EQ(st(l).available, 4);
        /* and who returned its slot may still take tokens as usual */
        CHECK_EQ(ledger_acquire(l, &p[0], NULL, 1), LEDGER_GRANTED);
        CHECK_EQ(n_jobs(&p[0]), 1);
        CHECK(ledger_consistent(l));
        for (int i = 0; i < 10; i++)
                ledger_process_exit(l, &p[i], 2);
        ledger_process_exit(l, &late, 2);
        ledger_process_exit(l, &holder, 2);
        CHECK_EQ(st(l).available, 4);
        ledger_free(l);
}

TEST(per_user_limit_parks_a_users_waiters_and_lets_others_pass) {
        Ledger *l; Events e; LedgerProcess a1, a2, a3, b;
        LedgerWaiter w1 = {}, w2 = {}, w3 = {}, wb = {};
        LedgerLimits limits = { .min_jobs = 1, .per_user_limit = 2, .policy = LEDGER_POLICY_FIFO };
        setup(&l, &e, 3);
        ledger_set_limits(l, &limits, 0);
        ledger_process_attach(l, &a1, 1, 1000);
        ledger_process_attach(l, &a2, 2, 1000);
        ledger_process_attach(l, &a3, 3, 1000);
        ledger_process_attach(l, &b, 4, 2000);
        CHECK_EQ(ledger_acquire(l, &a1, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_poll(l, &a2, NULL, 0), LEDGER_GRANTED);       /* a reservation counts */
        CHECK_EQ(ledger_acquire(l, &a3, NULL, 0), LEDGER_WOULD_BLOCK);
        CHECK_EQ(ledger_available_to(l, &a3), 0);
        CHECK_EQ(ledger_available_to(l, &b), 1);
        CHECK_EQ(ledger_acquire(l, &a3, &w1, 1), LEDGER_QUEUED);
        CHECK_EQ(ledger_acquire(l, &a3, &w2, 2), LEDGER_QUEUED);
        CHECK_EQ(ledger_acquire(l, &a1, &w3, 3), LEDGER_QUEUED);
        CHECK(ledger_waiter_parked(&w1) && ledger_waiter_parked(&w2) && ledger_waiter_parked(&w3));
        /* user 1000's waiters hold up nobody else */
        CHECK_EQ(ledger_acquire(l, &b, NULL, 4), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &b, &wb, 4), LEDGER_QUEUED);
        CHECK(!ledger_waiter_parked(&wb));
        CHECK(ledger_consistent(l));
        /* a1 returns one: user 1000 has room for one, so one of its parked
         * waiters queues, behind b's, and the other two stay parked */
        CHECK_EQ(ledger_release(l, &a1, 1, 5), 0);
        CHECK(e.n == 1 && e.order[0] == &wb);
        CHECK(ledger_waiter_queued(&w1) && !ledger_waiter_parked(&w1));
        CHECK(ledger_waiter_parked(&w2) && ledger_waiter_parked(&w3));
        CHECK(ledger_consistent(l));
        CHECK_EQ(ledger_release(l, &b, 1, 6), 0);
        CHECK(e.n == 2 && e.order[1] == &w1);
        CHECK(ledger_waiter_parked(&w2) && ledger_waiter_parked(&w3));
        CHECK(ledger_consistent(l));
        /* lifting the limit queues them in the order they came */
        limits.per_user_limit = 0;
        ledger_set_limits(l, &limits, 7);
        CHECK(!ledger_waiter_parked(&w2) && !ledger_waiter_parked(&w3));
        CHECK(ledger_consistent(l));
        ledger_process_exit(l, &b, 8);
        CHECK(e.n == 3 && e.order[2] == &w2);
        ledger_process_exit(l, &a1, 8);         /* w3 was a1's: it leaves with it */
        CHECK(!ledger_waiter_queued(&w3));
        ledger_process_exit(l, &a2, 8);
        ledger_process_exit(l, &a3, 8);
        CHECK_EQ(st(l).available, 3);
        ledger_free(l);
}

TEST(a_users_exit_and_cancel_keep_its_count) {
        Ledger *l; Events e; LedgerProcess a1, a2;
        LedgerWaiter w1 = {}, w2 = {};
        LedgerLimits limits = { .min_jobs = 1, .per_user_limit = 1 };
        setup(&l, &e, 3);
        ledger_set_limits(l, &limits, 0);
        ledger_process_attach(l, &a1, 1, 1000);
        ledger_process_attach(l, &a2, 2, 1000);
        CHECK_EQ(ledger_acquire(l, &a1, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &a2, &w1, 0), LEDGER_QUEUED);
        CHECK_EQ(ledger_acquire(l, &a2, &w2, 0), LEDGER_QUEUED);
        ledger_cancel(l, &w1);
        CHECK(!ledger_waiter_queued(&w1) && ledger_waiter_parked(&w2));
        CHECK(ledger_consistent(l));
        ledger_process_exit(l, &a1, 1);
        CHECK(e.n == 1 && e.order[0] == &w2);
        CHECK_EQ(ledger_process_held(&a2), 1);
        CHECK(ledger_consistent(l));
        ledger_process_exit(l, &a2, 2);
        CHECK_EQ(st(l).available, 3);
        ledger_free(l);
}

TEST(exit_returns_holdings_reservation_and_serves_next) {
        Ledger *l; Events e; LedgerProcess a, b, c;
        LedgerWaiter wa = {}, wc = {};
        setup(&l, &e, 2);
        ledger_process_attach(l, &a, 1, 1000);
        ledger_process_attach(l, &b, 2, 1000);
        ledger_process_attach(l, &c, 3, 1000);
        CHECK_EQ(ledger_acquire(l, &b, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_poll(l, &b, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &a, &wa, 0), LEDGER_QUEUED);
        CHECK_EQ(ledger_acquire(l, &c, &wc, 0), LEDGER_QUEUED);
        ledger_process_exit(l, &b, 10);
        CHECK_EQ(e.n, 2);
        CHECK(e.order[0] == &wa && e.order[1] == &wc);
        CHECK_EQ(jobs(&a)[0].started, 10);
        CHECK_EQ(st(l).processes, 2);
        ledger_process_exit(l, &a, 0);
        ledger_process_exit(l, &c, 0);
        CHECK_EQ(st(l).available, 2);
        ledger_free(l);
}

TEST(exit_of_a_waiting_process_removes_its_waiters) {
        Ledger *l; Events e; LedgerProcess a, b;
        LedgerWaiter w1 = {}, w2 = {}, wp = {};
        setup(&l, &e, 1);
        ledger_process_attach(l, &a, 1, 1000);
        ledger_process_attach(l, &b, 2, 1000);
        CHECK_EQ(ledger_acquire(l, &b, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &a, &w1, 0), LEDGER_QUEUED);
        CHECK_EQ(ledger_acquire(l, &a, &w2, 0), LEDGER_QUEUED);
        CHECK_EQ(ledger_poll(l, &a, &wp, 0), LEDGER_QUEUED);
        CHECK_EQ(st(l).waiters, 3);
        ledger_process_exit(l, &a, 0);
        CHECK_EQ(st(l).waiters, 0);
        CHECK_EQ(ledger_release(l, &b, 1, 0), 0);
        CHECK_EQ(e.n, 0);
        ledger_process_exit(l, &b, 0);
        ledger_free(l);
}

TEST(many_tokens_one_process_oldest_job_returned_first) {
        Ledger *l; Events e; LedgerProcess a;
        setup(&l, &e, 64);
        ledger_process_attach(l, &a, 1, 1000);
        for (uint64_t i = 0; i < 64; i++)
                CHECK_EQ(ledger_acquire(l, &a, NULL, i), LEDGER_GRANTED);
        CHECK_EQ(ledger_release(l, &a, 10, 100), 0);
        CHECK_EQ(n_jobs(&a), 54);
        CHECK_EQ(jobs(&a)[0].started, 10);
        CHECK_EQ(ledger_available_to(l, &a), 10);
        ledger_process_exit(l, &a, 0);
        CHECK_EQ(st(l).available, 64);
        ledger_free(l);
}

TEST(per_process_limit_parks_the_greedy_without_blocking_others) {
        Ledger *l; Events e; LedgerProcess a, b, h;
        LedgerWaiter wa = {}, wb = {};
        LedgerLimits limits = { .min_jobs = 1, .per_process_limit = 2 };
        setup(&l, &e, 4);
        ledger_set_limits(l, &limits, 0);
        ledger_process_attach(l, &a, 1, 1000);
        ledger_process_attach(l, &b, 2, 1000);
        ledger_process_attach(l, &h, 3, 1000);
        CHECK_EQ(ledger_acquire(l, &a, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &a, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &a, NULL, 0), LEDGER_WOULD_BLOCK);
        CHECK_EQ(ledger_available_to(l, &a), 0);
        CHECK_EQ(ledger_available_to(l, &b), 2);
        CHECK_EQ(ledger_poll(l, &a, NULL, 0), LEDGER_WOULD_BLOCK);
        CHECK_EQ(ledger_acquire(l, &a, &wa, 0), LEDGER_QUEUED);
        CHECK(ledger_waiter_parked(&wa));
        CHECK_EQ(st(l).waiters, 1);
        /* a's parked read holds up nobody */
        CHECK_EQ(ledger_acquire(l, &b, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &h, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &b, &wb, 0), LEDGER_QUEUED);
        CHECK(!ledger_waiter_parked(&wb));
        CHECK(ledger_consistent(l));
        /* a returns one: its parked read queues behind b's and b is served first */
        CHECK_EQ(ledger_release(l, &a, 1, 0), 0);
        CHECK(e.n == 1 && e.order[0] == &wb);
        CHECK(ledger_waiter_queued(&wa) && !ledger_waiter_parked(&wa));
        CHECK_EQ(ledger_release(l, &h, 1, 0), 0);
        CHECK(e.n == 2 && e.order[1] == &wa);
        CHECK_EQ(ledger_process_held(&a), 2);
        /* lifting the limit frees parked waiters at once */
        CHECK_EQ(ledger_acquire(l, &a, &wa, 0), LEDGER_QUEUED);
        CHECK(ledger_waiter_parked(&wa));
        CHECK_EQ(ledger_release(l, &b, 2, 0), 0);
        CHECK_EQ(e.n, 2);
        limits.per_process_limit = 0;
        ledger_set_limits(l, &limits, 0);
        CHECK(e.n == 3 && e.order[2] == &wa);
        CHECK(ledger_consistent(l));
        ledger_process_exit(l, &a, 0);
        ledger_process_exit(l, &b, 0);
        ledger_process_exit(l, &h, 0);
        CHECK_EQ(st(l).available, 4);
        ledger_free(l);
}

TEST(throttled_pool_hands_out_only_min_jobs) {
        Ledger *l; Events e; LedgerProcess a, b;
        LedgerWaiter wb = {};
        LedgerLimits limits = { .min_jobs = 2 };
        setup(&l, &e, 4);
        ledger_set_limits(l, &limits, 0);
        ledger_process_attach(l, &a, 1, 1000);
        ledger_process_attach(l, &b, 2, 1000);
        ledger_set_throttled(l, true, 0);
        CHECK(!ledger_held_back_by_throttle(l));
        CHECK_EQ(ledger_available_to(l, &a), 2);
        CHECK_EQ(ledger_acquire(l, &a, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_poll(l, &a, NULL, 0), LEDGER_GRANTED);         /* a reservation counts */
        CHECK_EQ(ledger_acquire(l, &b, NULL, 0), LEDGER_WOULD_BLOCK);
        CHECK_EQ(ledger_acquire(l, &b, &wb, 0), LEDGER_QUEUED);
        CHECK(ledger_held_back_by_throttle(l));
        CHECK(ledger_consistent(l));
        ledger_set_throttled(l, false, 1);
        CHECK(e.n == 1 && e.order[0] == &wb);
        CHECK(!ledger_held_back_by_throttle(l));
        ledger_process_exit(l, &a, 0);
        ledger_process_exit(l, &b, 0);
        ledger_free(l);
}

TEST(paused_pool_hands_out_nothing_but_takes_returns) {
        Ledger *l; Events e; LedgerProcess a, b;
        LedgerWaiter wb = {};
        LedgerLimits limits = { .min_jobs = 1, .paused = true };
        setup(&l, &e, 2);
        ledger_process_attach(l, &a, 1, 1000);
        ledger_process_attach(l, &b, 2, 1000);
        CHECK_EQ(ledger_acquire(l, &a, NULL, 0), LEDGER_GRANTED);
        ledger_set_limits(l, &limits, 0);
        CHECK_EQ(ledger_acquire(l, &a, NULL, 0), LEDGER_WOULD_BLOCK);
        CHECK_EQ(ledger_poll(l, &b, &wb, 0), LEDGER_QUEUED);
        CHECK_EQ(ledger_release(l, &a, 1, 0), 0);
        CHECK_EQ(e.n, 0);
        CHECK_EQ(st(l).available, 2);
        CHECK(ledger_consistent(l));
        limits.paused = false;
        ledger_set_limits(l, &limits, 0);
        CHECK(e.n == 1 && e.order[0] == &wb && ledger_process_reserved(&b));
        ledger_process_exit(l, &a, 0);
        ledger_process_exit(l, &b, 0);
        CHECK_EQ(st(l).available, 2);
        ledger_free(l);
}

TEST(shrinking_takes_nothing_back_and_growing_serves_waiters) {
        Ledger *l; Events e; LedgerProcess a, b;
        LedgerWaiter wb = {};
        setup(&l, &e, 4);
        ledger_process_attach(l, &a, 1, 1000);
        ledger_process_attach(l, &b, 2, 1000);
        for (int i = 0; i < 3; i++)
                CHECK_EQ(ledger_acquire(l, &a, NULL, 0), LEDGER_GRANTED);
        ledger_set_jobs(l, 1, 0);
        CHECK_EQ(ledger_process_held(&a), 3);
        CHECK_EQ(st(l).available, -2);
        CHECK(ledger_consistent(l));
        CHECK_EQ(ledger_acquire(l, &b, &wb, 0), LEDGER_QUEUED);
        CHECK_EQ(ledger_release(l, &a, 2, 0), 0);
        CHECK_EQ(e.n, 0);                       /* 1 held of 1: still full */
        ledger_set_jobs(l, 2, 0);
        CHECK(e.n == 1 && e.order[0] == &wb);
        CHECK(ledger_consistent(l));
        ledger_process_exit(l, &a, 0);
        ledger_process_exit(l, &b, 0);
        CHECK_EQ(st(l).available, 2);
        ledger_free(l);
}

TEST(reclaim_returns_holdings_and_absorbs_later_returns) {
        Ledger *l; Events e; LedgerProcess a, b;
        LedgerWaiter wb = {};
        setup(&l, &e, 2);
        ledger_process_attach(l, &a, 1, 1000);
        ledger_process_attach(l, &b, 2, 1000);
        CHECK_EQ(ledger_acquire(l, &a, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &a, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &b, &wb, 0), LEDGER_QUEUED);
        CHECK_EQ(ledger_reclaim(l, &a, 1), 2);
        CHECK(e.n == 1 && e.order[0] == &wb);
        CHECK_EQ(ledger_process_held(&a), 0);
        CHECK_EQ(st(l).available, 1);
        /* a's make returns its tokens later: accepted, the pool unchanged */
        CHECK_EQ(ledger_release(l, &a, 1, 2), 0);
        CHECK_EQ(ledger_release(l, &a, 1, 2), 0);
        CHECK_EQ(st(l).available, 1);
        CHECK_EQ(ledger_release(l, &a, 1, 2), LEDGER_NOT_HELD);
        CHECK_EQ(ledger_reclaim(l, &a, 3), 0);
        CHECK(ledger_consistent(l));
        ledger_process_exit(l, &a, 0);
        ledger_process_exit(l, &b, 0);
        CHECK_EQ(st(l).available, 2);
        ledger_free(l);
}

/* Fair shares */

/* A pool under contention: every grant counted by build, the tokens handed
 * back oldest first, like jobs of one length ending in turn. */
#define SIM_WAITERS 256

typedef struct Sim {
        Ledger *l;
        const LedgerGroup *builds[4];
        size_t grants[4];
        LedgerProcess *holders[64];             /* who holds, oldest grant first */
        size_t n_holders;
} Sim;

static void sim_granted(LedgerWaiter *w, void *userdata) {
        Sim *sim = userdata;
        LedgerProcess *p = (LedgerProcess *) ledger_waiter_process(w);

        for (size_t i = 0; i < ELEMENTS(sim->builds); i++)
                if (sim->builds[i] == ledger_process_build(p))
                        sim->grants[i]++;
        if (sim->n_holders < ELEMENTS(sim->holders))
                sim->holders[sim->n_holders++] = p;
}

static void sim_noop(LedgerWaiter *w, void *userdata) {
}

static const LedgerCallbacks sim_callbacks = { .granted = sim_granted, .reserved = sim_noop };

static void sim_setup(Sim *sim, uint32_t jobs) {
        LedgerLimits limits = { .min_jobs = 1, .policy = LEDGER_POLICY_FAIR, .claim_timeout = 500 * MS };

        *sim = (Sim) {};
        if (ledger_new(jobs, 500 * MS, &sim_callbacks, sim, &sim->l) < 0)
                abort();
        ledger_set_limits(sim->l, &limits, 0);
}

/* n rounds: the oldest holder returns its token, which goes to a waiter. */
static void sim_run(Sim *sim, size_t n, uint64_t *now) {
        for (size_t i = 0; i < n && sim->n_holders > 0; i++) {
                LedgerProcess *p = sim->holders[0];

                memmove(sim->holders, sim->holders + 1, --sim->n_holders * sizeof sim->holders[0]);
                CHECK_EQ(ledger_release(sim->l, p, 1, ++*now), 0);
        }
}

/* Everyone queues behind a blocker that holds the whole pool, which then exits. */
static void sim_queue(Sim *sim, LedgerProcess *p, LedgerWaiter *w, size_t n, uint64_t now) {
        for (size_t i = 0; i < n; i++)
                CHECK_EQ(ledger_acquire(sim->l, p, &w[i], now), LEDGER_QUEUED);
}

static void sim_block(Sim *sim, LedgerProcess *blocker, uint32_t jobs) {
        CHECK_EQ(ledger_process_attach(sim->l, blocker, 1, 0), 0);
        for (uint32_t i = 0; i < jobs; i++)
                CHECK_EQ(ledger_acquire(sim->l, blocker, NULL, 0), LEDGER_GRANTED);
}

static void sim_free(Sim *sim, LedgerProcess **processes, size_t n) {
        for (size_t i = 0; i < n; i++)
                ledger_process_exit(sim->l, processes[i], 9999);
        CHECK_EQ(st(sim->l).held, 0);
        ledger_free(sim->l);
}

TEST(a_recursive_build_gets_no_more_than_a_plain_one_beside_it) {
        static LedgerWaiter wa[SIM_WAITERS], wsub[4][SIM_WAITERS];
        LedgerProcess blocker, plain, top, sub[4];
        LedgerProcess *all[] = { &plain, &sub[0], &sub[1], &sub[2], &sub[3], &top };
        uint64_t now = 1;
        Sim sim;

        sim_setup(&sim, 4);
        sim_block(&sim, &blocker, 4);
        CHECK_EQ(ledger_process_attach(sim.l, &plain, 10, 1000), 0);
        CHECK_EQ(ledger_process_attach(sim.l, &top, 20, 1000), 0);
        for (size_t i = 0; i < 4; i++)
                CHECK_EQ(ledger_process_attach_under(sim.l, &sub[i], 21 + (pid_t) i, 1000, &top, 0), 0);
        sim.builds[0] = ledger_process_build(&plain);
        sim.builds[1] = ledger_process_build(&top);
        CHECK(ledger_process_build(&sub[3]) == sim.builds[1]);
        CHECK_EQ(ledger_group_leader(ledger_process_build(&sub[2])), 20);
        /* The recursive build has four processes waiting for each one of the plain's. */
        sim_queue(&sim, &plain, wa, 60, now);
        for (size_t i = 0; i < 4; i++)
                sim_queue(&sim, &sub[i], wsub[i], 60, now);
        CHECK(ledger_consistent(sim.l));
        ledger_process_exit(sim.l, &blocker, ++now);
        CHECK_EQ(sim.grants[0], 2);
        CHECK_EQ(sim.grants[1], 2);
        sim_run(&sim, 100, &now);
        CHECK(ledger_consistent(sim.l));
        CHECK_EQ(sim.grants[0], 52);
        CHECK_EQ(sim.grants[1], 52);
        CHECK_EQ(ledger_group_taken(sim.builds[0]), 2);
        CHECK_EQ(ledger_build_share(sim.l, sim.builds[1]), 2.0);
        /* Under fifo the queue's order decides: the plain build queued first takes all. */
        ledger_set_limits(sim.l, &(LedgerLimits) { .min_jobs = 1, .policy = LEDGER_POLICY_FIFO }, now);
        sim_run(&sim, 4, &now);
        CHECK_EQ(sim.grants[0], 56);
        sim_free(&sim, all, ELEMENTS(all));
}

TEST(a_niced_build_waits_while_a_weightier_one_wants_the_pool) {
        static LedgerWaiter wa[SIM_WAITERS], wn[SIM_WAITERS];
        LedgerProcess blocker, normal, niced;
        LedgerProcess *all[] = { &normal, &niced };
        uint64_t now = 1;
        Sim sim;

        CHECK_EQ(ledger_weight_of_nice(0), 1024);
        CHECK_EQ(ledger_weight_of_nice(10), 110);
        CHECK_EQ(ledger_weight_of_nice(-20), 88761);
        CHECK_EQ(ledger_weight_of_nice(99), 15);
        sim_setup(&sim, 4);
        sim_block(&sim, &blocker, 4);
        CHECK_EQ(ledger_process_attach_under(sim.l, &normal, 10, 1000, NULL, ledger_weight_of_nice(0)), 0);
        CHECK_EQ(ledger_process_attach_under(sim.l, &niced, 11, 1000, NULL, ledger_weight_of_nice(10)), 0);
        sim.builds[0] = ledger_process_build(&normal);
        sim.builds[1] = ledger_process_build(&niced);
        sim_queue(&sim, &niced, wn, 100, now);
        sim_queue(&sim, &normal, wa, 100, now);
        ledger_process_exit(sim.l, &blocker, ++now);
        sim_run(&sim, 40, &now);
        /* Its own slot is a tenth of what the other runs on four tokens and its slot. */
        CHECK_EQ(sim.grants[1], 0);
        CHECK_EQ(sim.grants[0], 44);
        /* A weight changed at run time counts from the next grant. */
        CHECK_EQ(ledger_process_set_weight(sim.l, &niced, 1024), 0);
        CHECK_EQ(ledger_process_set_weight(sim.l, &niced, 0), -EINVAL);
        sim_run(&sim, 1, &now);
        CHECK_EQ(sim.grants[1], 1);
        CHECK_EQ(ledger_group_weight(sim.builds[1]), 1024);
        sim_run(&sim, 20, &now);
        CHECK_EQ(sim.grants[1], 11);
        CHECK(ledger_consistent(sim.l));
        /* Work-conserving: with nobody else waiting, one build takes the whole
         * pool, once the token the other kept for its next job, which did not
         * come, has gone on. */
        for (size_t i = 0; i < SIM_WAITERS; i++)
                ledger_cancel(sim.l, &wa[i]);
        sim_run(&sim, 8, &now);
        CHECK_EQ(ledger_group_taken(sim.builds[0]), 1);
        CHECK(ledger_process_reserved(&normal));
        CHECK_EQ(ledger_group_taken(sim.builds[1]), 3);
        ledger_expire_reservations(sim.l, now + 500 * MS);
        CHECK_EQ(ledger_group_taken(sim.builds[1]), 4);
        CHECK_EQ(st(sim.l).available, 0);
        sim_free(&sim, all, ELEMENTS(all));
}

TEST(a_sub_build_stays_in_its_build_when_its_leader_exits) {
        Ledger *l; Events e; LedgerProcess top, sub, subsub;
        setup(&l, &e, 4);
        ledger_process_attach(l, &top, 20, 1000);
        ledger_process_attach_under(l, &sub, 21, 1000, &top, 0);
        ledger_process_attach_under(l, &subsub, 22, 1000, &sub, 0);
        CHECK_EQ(ledger_acquire(l, &subsub, NULL, 0), LEDGER_GRANTED);
        ledger_process_exit(l, &sub, 1);
        ledger_process_exit(l, &top, 1);
        CHECK_EQ(ledger_group_leader(ledger_process_build(&subsub)), 20);
        CHECK_EQ(ledger_group_taken(ledger_process_build(&subsub)), 1);
        CHECK(ledger_consistent(l));
        ledger_process_exit(l, &subsub, 2);
        ledger_free(l);
}

TEST(a_refused_nonblocking_reader_below_its_share_claims_the_next_token) {
        Ledger *l; Events e; LedgerProcess a, b;
        LedgerLimits limits = { .min_jobs = 1, .policy = LEDGER_POLICY_FAIR, .claim_timeout = 100 * MS };
        LedgerWaiter wa = {};
        setup(&l, &e, 2);
        ledger_set_limits(l, &limits, 0);
        ledger_process_attach(l, &a, 10, 1000);
        ledger_process_attach(l, &b, 11, 1000);
        CHECK_EQ(ledger_acquire(l, &a, NULL, 0), LEDGER_GRANTED);
        CHECK_EQ(ledger_acquire(l, &a, NULL, 0), LEDGER_GRANTED);
        /* a has its share: refused, it claims nothing */
        CHECK_EQ(ledger_acquire(l, &a, NULL, 1), LEDGER_WOULD_BLOCK);
        CHECK_EQ(st(l).waiters, 0);
        /* b has none of its share: its refusal claims the next token ... */
        CHECK_EQ(ledger_acquire(l, &b, NULL, 2), LEDGER_WOULD_BLOCK);
        CHECK_EQ(ledger_acquire(l, &b, NULL, 3), LEDGER_WOULD_BLOCK);
        CHECK_EQ(st(l).waiters, 1);
        CHECK(ledger_consistent(l));
        /* ... before a blocking reader of a that came later */
        CHECK_EQ(ledger_acquire(l, &a, &wa, 4), LEDGER_QUEUED);
        CHECK_EQ(ledger_release(l, &a, 1, 5), 0);
        CHECK(ledger_process_reserved(&b));
        CHECK_EQ(e.n, 0);
        CHECK_EQ(ledger_available_to(l, &b), 1);
        CHECK_EQ(ledger_acquire(l, &b, NULL, 6), LEDGER_GRANTED);
        CHECK_EQ(ledger_process_held(&b), 1);
        /* Returning it while a waits, b (below its share) keeps it for its next
         * read, as make returns a token and asks again at once... */
        CHECK_EQ(ledger_release(l, &b, 1, 7), 0);
        CHECK(ledger_process_reserved(&b));
        CHECK_EQ(e.n, 0);
        CHECK_EQ(ledger_acquire(l, &b, NULL, 8), LEDGER_GRANTED);
        /* ...and a kept token not taken up goes on after 50 ms (a claim after
         * the claim timeout, above). */
        CHECK_EQ(ledger_release(l, &b, 1, 9), 0);
        CHECK(ledger_process_reserved(&b));
        CHECK_EQ(ledger_next_deadline(l), 9 + 50 * MS);
        ledger_expire_reservations(l, 9 + 50 * MS);
        CHECK(!ledger_process_reserved(&b));
        CHECK(e.n == 1 && e.order[0] == &wa);
        CHECK_EQ(ledger_process_held(&a), 2);
        /* Under fifo nobody claims or keeps. */
        limits.policy = LEDGER_POLICY_FIFO;
        ledger_set_limits(l, &limits, 10);
        CHECK_EQ(ledger_acquire(l, &b, NULL, 11), LEDGER_WOULD_BLOCK);
        CHECK_EQ(st(l).waiters, 0);
        CHECK_EQ(ledger_acquire(l, &b, &wa, 11), LEDGER_QUEUED);
        CHECK_EQ(ledger_release(l, &a, 1, 12), 0);
        CHECK(e.n == 2 && e.order[1] == &wa);
        CHECK(ledger_consistent(l));
        ledger_process_exit(l, &a, 12);
        ledger_process_exit(l, &b, 12);
        ledger_free(l);
}

TEST(an_attach_with_a_weight_out_of_range_leaves_nothing) {
        Ledger *l; Events e; LedgerProcess a;
        setup(&l, &e, 4);
        CHECK_EQ(ledger_process_attach_under(l, &a, 10, 1000, NULL, LEDGER_WEIGHT_MAX + 1), -EINVAL);
        CHECK_EQ(st(l).processes, 0);
        CHECK(ledger_consistent(l));
        ledger_free(l);         /* asserts that no user was left */
}

TEST(restore_keeps_the_weight_and_the_build) {
        Ledger *l; Events e; LedgerProcess top, sub;
        LedgerProcessState s = { .pid = 21, .uid = 1000, .held = 1, .weight = 110 };
        setup(&l, &e, 4);
        ledger_process_attach(l, &top, 20, 1000);
        s.parent = &top;
        CHECK_EQ(ledger_process_restore(l, &sub, &s), 0);
        CHECK_EQ(ledger_group_weight(ledger_process_group(&sub)), 110);
        CHECK_EQ(ledger_group_taken(ledger_process_build(&sub)), 1);
        ledger_process_state(&sub, &s);
        CHECK_EQ(s.weight, 110);
        CHECK(ledger_consistent(l));
        ledger_process_exit(l, &sub, 1);
        ledger_process_exit(l, &top, 1);
        ledger_free(l);
}

TEST(processes_per_user_refuses_new_ones_but_not_restored_ones) {
        Ledger *l; Events e; LedgerProcess a, b, c, other, restored;
        LedgerLimits limits = { .min_jobs = 1, .processes_per_user = 2, .policy = LEDGER_POLICY_FAIR };
        LedgerProcessState s = { .pid = 40, .uid = 1000, .held = 1 };
        setup(&l, &e, 4);
        ledger_set_limits(l, &limits, 0);
        CHECK_EQ(ledger_process_attach(l, &a, 10, 1000), 0);
        CHECK_EQ(ledger_process_attach(l, &b, 11, 1000), 0);
        CHECK_EQ(ledger_process_attach(l, &c, 12, 1000), -EUSERS);
        CHECK_EQ(ledger_process_attach(l, &other, 20, 1001), 0);
        /* what a previous steve kept comes back */
        CHECK_EQ(ledger_process_restore(l, &restored, &s), 0);
        CHECK(ledger_consistent(l));
        ledger_process_exit(l, &a, 1);
        ledger_process_exit(l, &restored, 1);
        CHECK_EQ(ledger_process_attach(l, &c, 12, 1000), 0);
        ledger_process_exit(l, &b, 1);
        ledger_process_exit(l, &c, 1);
        ledger_process_exit(l, &other, 1);
        ledger_free(l);
}

int main(void) {
        return test_run_all();
}
