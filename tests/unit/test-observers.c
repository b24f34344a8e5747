/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Persistence and monitoring as observers of the core: a ledger, a loop and
 * clients made by hand, no transport. A change is made through a door the
 * way D-Bus or a timer makes one (an event source of its own, with no
 * request under way), and what the next steve would find after a crash is
 * read from a copy of the state file taken right after the iteration. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clients.h"
#include "kept.h"
#include "monitor.h"
#include "persist.h"
#include "test.h"
#include "util.h"

static char dir[] = "/tmp/test-observers-XXXXXX";

static const char *path_of(const char *name) {
        static char paths[4][128];
        static unsigned next;
        static bool made;
        char *path = paths[next++ % 4];

        if (!made && !mkdtemp(dir))
                abort();
        made = true;
        snprintf(path, sizeof paths[0], "%s/%s", dir, name);
        return path;
}

static void no_waiters(LedgerWaiter *w, void *userdata) {
}

static const LedgerCallbacks callbacks = {
        .granted = no_waiters,
        .reserved = no_waiters,
        .changed = clients_on_ledger_changed,
};

typedef struct Fixture {
        sd_event *event;
        Server *server;
        State *state;
} Fixture;

static void setup(Fixture *f, const char *state_name) {
        Params p = params_defaults();

        p.jobs = 4;
        *f = (Fixture) {};
        if (sd_event_new(&f->event) < 0 || server_new(f->event, &p, "/proc", NULL, &callbacks, &f->server) < 0 ||
            kept_new(f->server) < 0 || monitor_new(f->server) < 0 || persist_new(f->server) < 0)
                abort();
        if (state_name) {
                if (state_open(path_of(state_name), &f->state) < 0 || state_reset(f->state) < 0)
                        abort();
                persist_set_state(f->server, f->state);
        }
}

static void teardown(Fixture *f) {
        persist_free(f->server);
        monitor_free(f->server);
        kept_free(f->server);
        f->server = server_free(f->server);
        f->state = state_close(f->state);
        f->event = sd_event_unref(f->event);
}

/* A client as clients.c makes one, told to the core the same way. */
static Client *client_new(Fixture *f, pid_t pid) {
        Client *c = calloc(1, sizeof *c);

        if (!c || ledger_process_attach(f->server->ledger, &c->ledger, pid, getuid()) < 0)
                abort();
        c->server = f->server;
        c->pid = pid;
        c->uid = getuid();
        c->pidfd = -1;
        c->stat.start_time = 4242;
        snprintf(c->stat.comm, sizeof c->stat.comm, "hand-made");
        server_client_changed(f->server, c);
        return c;
}

static void client_gone(Fixture *f, Client *c) {
        server_client_leaving(f->server, c);
        ledger_process_exit(f->server->ledger, &c->ledger, server_now(f->server));
        server_client_gone(f->server, c);
        free(c);
}

/* A door with no request under way (a D-Bus call, a reload, a timer). */
typedef void (*DoorFn)(Fixture *f, void *userdata);
typedef struct Door {
        Fixture *fixture;
        DoorFn fn;
        void *userdata;
} Door;

static int on_door(sd_event_source *source, void *userdata) {
        Door *d = userdata;

        d->fn(d->fixture, d->userdata);
        return 0;
}

/* One loop iteration through the door, and the post source after it. */
static void through_door(Fixture *f, DoorFn fn, void *userdata) {
        Door d = { f, fn, userdata };
        sd_event_source *source;

        if (sd_event_add_defer(f->event, &source, on_door, &d) < 0 ||
            sd_event_source_set_enabled(source, SD_EVENT_ONESHOT) < 0)
                abort();
        for (int i = 0; i < 3; i++)
                (void) sd_event_run(f->event, 0);
        sd_event_source_disable_unref(source);
}

/* What a steve started after a crash now would find. */
static State *crash_copy(const char *from) {
        const char *to = path_of("crashed");
        char buf[65536];
        int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ssize_t n;
        State *s = NULL;

        while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
                if (write(out, buf, (size_t) n) != n)
                        abort();
        close(in);
        close(out);
        return state_open(to, &s) < 0 ? NULL : s;
}

typedef struct Found {
        pid_t pid;
        int64_t held;
        unsigned n;
} Found;

static int find_process(const StateProcess *p, uint32_t index, void *userdata) {
        Found *f = userdata;

        f->n++;
        if (p->pid == f->pid)
                f->held = p->held;
        return 0;
}

static Found recorded(const char *name, pid_t pid) {
        Found found = { .pid = pid, .held = -1 };
        State *s = crash_copy(path_of(name));

        CHECK(s != NULL);
        if (s)
                (void) state_foreach_process(s, find_process, &found);
        state_close(s);
        return found;
}

static void take_a_token(Fixture *f, void *userdata) {
        CHECK_EQ(ledger_acquire(f->server->ledger, &((Client *) userdata)->ledger, NULL, server_now(f->server)),
                 LEDGER_GRANTED);
}

static void reclaim(Fixture *f, void *userdata) {
        uint64_t n = ledger_reclaim(f->server->ledger, &((Client *) userdata)->ledger, server_now(f->server));

        CHECK_EQ(n, 1);
}

TEST(a_change_through_any_door_is_committed_once_the_iteration_settles) {
        Fixture f;
        Client *c;
        Found found;

        setup(&f, "doors");
        c = client_new(&f, 1001);
        through_door(&f, take_a_token, c);
        found = recorded("doors", 1001);
        CHECK_EQ(found.held, 1);
        /* Taken back with nobody waiting and no request under way: the
         * ReclaimTokens of the reading. */
        through_door(&f, reclaim, c);
        found = recorded("doors", 1001);
        CHECK_EQ(found.held, 0);
        client_gone(&f, c);
        teardown(&f);
}

static void pause_pool(Fixture *f, void *userdata) {
        Params p = *server_params(f->server);
        const char *error = NULL;

        p.paused = true;
        CHECK_EQ(server_set_params(f->server, &p, &error), 0);
}

TEST(a_parameter_set_with_nobody_waiting_is_committed) {
        Fixture f;
        State *next;
        bool found = false;

        setup(&f, "params");
        through_door(&f, pause_pool, NULL);
        next = crash_copy(path_of("params"));
        CHECK(next != NULL);
        for (uint32_t i = 0; next && i < state_globals(next)->n_params; i++)
                found = found || (strncmp(state_globals(next)->params[i].name, "paused", 6) == 0 &&
                                  state_globals(next)->params[i].value == 1);
        CHECK(found);
        state_close(next);
        teardown(&f);
}

TEST(a_client_that_is_gone_leaves_no_record) {
        Fixture f;
        Client *c;

        setup(&f, "gone");
        c = client_new(&f, 1002);
        through_door(&f, take_a_token, c);
        CHECK_EQ(recorded("gone", 1002).n, 1);
        client_gone(&f, c);
        server_prepare_reexec(f.server);
        CHECK_EQ(recorded("gone", 1002).n, 0);
        teardown(&f);
}

TEST(handing_over_nothing_recorded_changes) {
        Fixture f;
        Client *c;

        setup(&f, "handover");
        c = client_new(&f, 1003);
        through_door(&f, take_a_token, c);
        server_hand_over(f.server);
        /* Tearing down takes its token back and lets it go: the next steve
         * must find it as it was. */
        through_door(&f, reclaim, c);
        client_gone(&f, c);
        teardown(&f);
        {
                Found found = { .pid = 1003, .held = -1 };
                State *s = NULL;

                CHECK_EQ(state_open(path_of("handover"), &s), 0);
                if (s)
                        (void) state_foreach_process(s, find_process, &found);
                CHECK_EQ(found.held, 1);
                state_close(s);
        }
}

TEST(without_a_state_file_nothing_is_journaled_and_clients_still_come_and_go) {
        Fixture f;
        Client *c;

        setup(&f, NULL);
        c = client_new(&f, 1004);
        through_door(&f, take_a_token, c);
        client_gone(&f, c);
        teardown(&f);
}

static int count_process(const MonitorProcess *p, void *userdata) {
        MonitorProcess *seen = userdata;

        *seen = *p;
        return 0;
}

TEST(monitors_see_each_change_count_and_the_pools_use) {
        Fixture f;
        HistoryPoint points[HISTORY_POINTS];
        MonitorProcess seen = {};
        uint64_t before;
        Client *c;
        size_t n;

        setup(&f, NULL);
        before = monitor_generation(f.server);
        c = client_new(&f, getpid());
        CHECK(monitor_generation(f.server) > before);
        before = monitor_generation(f.server);
        through_door(&f, take_a_token, c);
        CHECK(monitor_generation(f.server) > before);
        n = monitor_history(f.server, points, HISTORY_POINTS);
        CHECK(n >= 1);
        CHECK(n >= 1 && points[n - 1].held == 1);
        CHECK_EQ(monitor_foreach_process(f.server, count_process, &seen), 0);
        CHECK_EQ(seen.pid, getpid());
        CHECK_EQ(seen.held, 1);
        CHECK(!seen.waiting);
        before = monitor_generation(f.server);
        client_gone(&f, c);
        CHECK(monitor_generation(f.server) > before);
        teardown(&f);
}

TEST(the_history_keeps_a_point_a_second_at_its_highest) {
        History h = {};
        HistoryPoint out[4];

        history_note(&h, 1000, 1, 0);
        history_note(&h, 2000, 3, 0);
        history_note(&h, 3000, 2, 0);
        history_note(&h, 2 * USEC_PER_SEC, 0, 0);
        CHECK_EQ(history_copy(&h, out, 4), 2);
        CHECK_EQ(out[0].held, 3);
        CHECK_EQ(out[1].held, 0);
        for (uint64_t i = 0; i < HISTORY_POINTS + 5; i++)
                history_note(&h, (3 + i) * USEC_PER_SEC, (uint32_t) (i % 2), 0);
        CHECK_EQ(history_copy(&h, out, 4), 4);
        CHECK(out[3].at == (3 + HISTORY_POINTS + 4) * USEC_PER_SEC);
}

int main(void) {
        return test_run_all();
}
