/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Builds and sub-builds: a tree of groups, one per client, under the parent
 * client it was attached under. Each knows the tokens its subtree takes and
 * waits for, and keeps a turn of its members that wait; the fair policy
 * walks down the turns to the member furthest below its weighted share.
 */
#include <errno.h>
#include <stdlib.h>

#include "ledger-internal.h"

uint32_t ledger_weight_of_nice(int nice) {
        /* The kernel's sched_prio_to_weight[], so that nice means for tokens
         * what it means for CPU time. */
        static const uint32_t weights[40] = {
                88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916,
                9548,  7620,  6100,  4904,  3906,  3121,  2501,  1991,  1586,  1277,
                1024,  820,   655,   526,   423,   335,   272,   215,   172,   137,
                110,   87,    70,    56,    45,    36,    29,    23,    18,    15,
        };
        return weights[nice < -20 ? 0 : nice > 19 ? 39 : nice + 20];
}

static bool is_build(const LedgerGroup *g) {
        return g->parent && !g->parent->parent;
}

LedgerGroup *group_build_of(const LedgerGroup *g) {
        while (!is_build(g))
                g = g->parent;
        return (LedgerGroup *) g;
}

/* A build takes or waits: its weight counts in everyone's share. */
static void build_refresh(Ledger *l, LedgerGroup *b) {
        bool demanding = b->taken > 0 || b->waiting > 0;

        if (demanding == b->demanding)
                return;
        b->demanding = demanding;
        if (demanding)
                l->demand += b->weight;
        else
                l->demand -= b->weight;
}

static void share_activate(LedgerShare *s, bool active) {
        LedgerGroup *g = s->self ? s->group : s->group->parent;

        if (s->active == active)
                return;
        s->active = active;
        if (active)
                TAILQ_INSERT_TAIL(&g->turn, s, link);
        else
                TAILQ_REMOVE(&g->turn, s, link);
}

void group_add_taken(Ledger *l, LedgerProcess *p, int64_t n) {
        for (LedgerGroup *g = p->group; g->parent; g = g->parent) {
                g->taken += n;
                if (is_build(g))
                        build_refresh(l, g);
        }
}

void group_add_waiting(Ledger *l, LedgerProcess *p, int n) {
        share_activate(&p->group->as_self, !TAILQ_EMPTY(&p->turn));
        for (LedgerGroup *g = p->group; g->parent; g = g->parent) {
                g->waiting += (size_t) n;
                share_activate(&g->as_member, g->waiting > 0);
                if (is_build(g))
                        build_refresh(l, g);
        }
}

int group_new(Ledger *l, LedgerProcess *p, LedgerGroup *parent, uint32_t weight) {
        LedgerGroup *g = calloc(1, sizeof *g);

        if (!g)
                return -ENOMEM;
        g->parent = parent;
        g->process = p;
        g->leader = p->pid;
        g->uid = p->uid;
        g->weight = weight;
        g->n_refs = 1;
        g->as_member = (LedgerShare) { .group = g };
        g->as_self = (LedgerShare) { .group = g, .self = true };
        TAILQ_INIT(&g->turn);
        if (parent->parent)
                parent->n_refs++;
        else
                TAILQ_INSERT_TAIL(&l->builds, g, build_link);
        p->group = g;
        return 0;
}

void group_put(Ledger *l, LedgerGroup *g) {
        while (g->parent && --g->n_refs == 0) {
                LedgerGroup *parent = g->parent;

                assert(g->taken == 0 && g->waiting == 0 && !g->as_member.active);
                if (is_build(g)) {
                        build_refresh(l, g);
                        TAILQ_REMOVE(&l->builds, g, build_link);
                }
                free(g);
                g = parent;
        }
}

/* a goes before b in their group's turn: further below its weighted share.
 * A build's leader runs one job on the slot it was started with, which no
 * token counts; so does every build, and counting it keeps a build that
 * weighs little from taking tokens it is not owed. */
static bool share_before(const LedgerShare *a, const LedgerShare *b) {
        const LedgerGroup *ga = a->group, *gb = b->group;
        int64_t ta = a->self ? ga->process->held + ga->process->reserved : ga->taken;
        int64_t tb = b->self ? gb->process->held + gb->process->reserved : gb->taken;

        if (!a->self && is_build(ga)) {
                ta++;
                tb++;
        }
        return ta * (int64_t) gb->weight < tb * (int64_t) ga->weight;
}

/* The waiter the fair policy serves next: down from the root, each time to
 * the member furthest below its share, among equals the one served least
 * recently; within a process, the one that came first. */
LedgerWaiter *group_fair_next(Ledger *l) {
        LedgerGroup *g = &l->root;

        for (;;) {
                LedgerShare *best = TAILQ_FIRST(&g->turn), *s;

                if (!best)
                        return NULL;
                for (s = TAILQ_NEXT(best, link); s; s = TAILQ_NEXT(s, link))
                        if (share_before(s, best))
                                best = s;
                TAILQ_REMOVE(&g->turn, best, link);
                TAILQ_INSERT_TAIL(&g->turn, best, link);
                if (best->self)
                        return TAILQ_FIRST(&g->process->turn);
                g = best->group;
        }
}

/* Whether p's build would be served before every other build that waits,
 * were p waiting itself: further below its share than each (an equal one
 * has waited longer). */
bool group_first_in_turn(const Ledger *l, const LedgerProcess *p) {
        const LedgerGroup *b = group_build_of(p->group);
        const LedgerShare *s;

        TAILQ_FOREACH(s, &l->root.turn, link)
                if (s->group != b && !share_before(&b->as_member, s))
                        return false;
        return true;
}

int ledger_process_set_weight(Ledger *l, LedgerProcess *p, uint32_t weight) {
        LedgerGroup *g = p->group;

        if (weight == 0 || weight > LEDGER_WEIGHT_MAX)
                return -EINVAL;
        if (is_build(g) && g->demanding)
                l->demand += (uint64_t) weight - g->weight;
        g->weight = weight;
        return 0;
}

/* Reading them */

const LedgerGroup *ledger_process_group(const LedgerProcess *p) {
        return p->group;
}

const LedgerGroup *ledger_process_build(const LedgerProcess *p) {
        return group_build_of(p->group);
}

pid_t ledger_group_leader(const LedgerGroup *g) {
        return g->leader;
}

uid_t ledger_group_uid(const LedgerGroup *g) {
        return g->uid;
}

uint32_t ledger_group_weight(const LedgerGroup *g) {
        return g->weight;
}

int64_t ledger_group_taken(const LedgerGroup *g) {
        return g->taken;
}

size_t ledger_group_waiting(const LedgerGroup *g) {
        return g->waiting;
}

/* The weights of the builds that take or wait, b's counted whether or not. */
static uint64_t demand_with(const Ledger *l, const LedgerGroup *b) {
        return l->demand + (b->demanding ? 0 : b->weight);
}

bool group_below_share(const Ledger *l, const LedgerGroup *b) {
        return (uint64_t) b->taken * demand_with(l, b) < (uint64_t) l->jobs * b->weight;
}

double ledger_build_share(const Ledger *l, const LedgerGroup *build) {
        return (double) l->jobs * build->weight / (double) demand_with(l, build);
}

int ledger_foreach_build(const Ledger *l, int (*fn)(const LedgerGroup *g, void *userdata), void *userdata) {
        const LedgerGroup *g;
        int r;

        TAILQ_FOREACH(g, &l->builds, build_link)
                if ((r = fn(g, userdata)) < 0)
                        return r;
        return 0;
}
/* Whether each group's counts and turn are what its members add up to. The
 * groups' check fields are scratch space for the recount. */
bool groups_consistent(const Ledger *l) {
        const LedgerProcess *p;
        const LedgerGroup *b;
        uint64_t demand = 0;

        TAILQ_FOREACH(p, &l->processes, process_link)
                for (LedgerGroup *g = p->group; g->parent; g = g->parent)
                        g->check_taken = g->check_waiting = 0;
        TAILQ_FOREACH(p, &l->processes, process_link) {
                const LedgerWaiter *w;
                size_t n = 0;

                TAILQ_FOREACH(w, &p->turn, turn_link) {
                        if (w->place != PLACE_QUEUE || w->process != p)
                                return false;
                        n++;
                }
                if (p->group->process != p || p->group->as_self.active != (n > 0))
                        return false;
                for (LedgerGroup *g = p->group; g->parent; g = g->parent) {
                        g->check_taken += p->held + p->reserved;
                        g->check_waiting += n;
                }
        }
        TAILQ_FOREACH(p, &l->processes, process_link)
                for (const LedgerGroup *g = p->group; g->parent; g = g->parent)
                        if (g->check_taken != g->taken || g->check_waiting != g->waiting ||
                            g->as_member.active != (g->waiting > 0) || g->weight == 0 ||
                            (is_build(g) && g->demanding != (g->taken > 0 || g->waiting > 0)))
                                return false;
        TAILQ_FOREACH(b, &l->builds, build_link)
                if (b->demanding)
                        demand += b->weight;
        return demand == l->demand;
}
