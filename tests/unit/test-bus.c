/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bus.h"
#include "test.h"
#include "util.h"

static bool names_are(const char **names, const char *const *expected) {
        size_t i;

        for (i = 0; expected[i]; i++)
                if (!names[i] || strcmp(names[i], expected[i]) != 0)
                        return false;
        return names[i] == NULL;
}

TEST(nothing_changed_names_nothing) {
        BusSnapshot a = { .params = params_defaults(), .available = 3 }, b = a;
        const char *names[BUS_MAX_PROPERTIES + 1];

        CHECK_EQ(bus_changed_properties(&a, &b, names), 0);
        CHECK(names[0] == NULL);
}

TEST(each_change_is_named_once_in_table_order) {
        BusSnapshot a = { .params = params_defaults(), .available = 3, .held = 1 }, b = a;
        const char *names[BUS_MAX_PROPERTIES + 1];
        /* A pause is also why tokens are held back. */
        static const char *const expected[] = { "Jobs", "Paused", "TokensAvailable", "TokensHeld", "HeldBack", NULL };

        b.params.jobs++;
        b.params.paused = true;
        b.params.reservation_timeout *= 2;      /* not on the bus */
        b.available = 2;
        b.held = 2;
        CHECK_EQ(bus_changed_properties(&a, &b, names), 5);
        CHECK(names_are(names, expected));
}

TEST(monitors_hear_of_new_holders_and_reasons) {
        BusSnapshot a = { .params = params_defaults(), .generation = 7, .held_back = 2 }, b = a;
        const char *names[BUS_MAX_PROPERTIES + 1];
        static const char *const expected[] = { "HeldBack", "Generation", NULL };

        b.generation++;
        b.held_back++;
        CHECK_EQ(bus_changed_properties(&a, &b, names), 2);
        CHECK(names_are(names, expected));
}

TEST(every_parameter_fits) {
        BusSnapshot a = { .params = params_defaults() }, b = a;
        const char *names[BUS_MAX_PROPERTIES + 1];

        memset(&b.params, 0xff, sizeof b.params);
        b.available = b.held = b.waiters = 7;
        CHECK(bus_changed_properties(&a, &b, names) <= BUS_MAX_PROPERTIES);
}

/* Two ends of a direct D-Bus connection over a socketpair, authenticated. */
static bool connect_pair(sd_bus **client, sd_bus **server) {
        sd_id128_t id = SD_ID128_MAKE(a4, 1b, 0e, 3c, 55, 17, 4b, 8d, 9e, 2f, 60, 71, 83, 94, a5, b6);
        int fds[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0 ||
            sd_bus_new(client) < 0 || sd_bus_new(server) < 0 ||
            sd_bus_set_fd(*client, fds[0], fds[0]) < 0 || sd_bus_set_fd(*server, fds[1], fds[1]) < 0 ||
            sd_bus_set_server(*server, 1, id) < 0 || sd_bus_set_anonymous(*server, 1) < 0 ||
            sd_bus_set_anonymous(*client, 1) < 0 || sd_bus_start(*server) < 0 || sd_bus_start(*client) < 0)
                return false;
        for (int i = 0; i < 1000 && sd_bus_is_ready(*client) <= 0; i++) {
                (void) sd_bus_process(*server, NULL);
                (void) sd_bus_process(*client, NULL);
        }
        return sd_bus_is_ready(*client) > 0;
}

TEST(a_flush_to_a_peer_that_reads_nothing_ends_at_its_deadline) {
        sd_bus *client = NULL, *server = NULL;
        static char big[64 * 1024];
        const char *text = big;
        uint64_t queued = 0, start;

        memset(big, 'x', sizeof big - 1);
        CHECK(connect_pair(&client, &server));
        /* Until the socket is full and sd-bus keeps the rest. */
        for (int i = 0; i < 2000 && queued == 0; i++) {
                CHECK(sd_bus_emit_signal(client, "/a", "org.steve.Test", "Big", "s", text) >= 0);
                CHECK(sd_bus_get_n_queued_write(client, &queued) >= 0);
        }
        CHECK(queued > 0);
        start = now_monotonic_usec();
        CHECK_EQ(bus_flush_within(client, 200000), -ETIMEDOUT);
        CHECK(now_monotonic_usec() - start >= 200000 && now_monotonic_usec() - start < 2000000);
        sd_bus_close_unref(client);
        sd_bus_close_unref(server);
}

TEST(a_flush_with_nothing_queued_returns_at_once) {
        sd_bus *client = NULL, *server = NULL;

        CHECK(connect_pair(&client, &server));
        CHECK_EQ(bus_flush_within(client, 10 * 1000000), 0);
        sd_bus_close_unref(client);
        sd_bus_close_unref(server);
}

int main(void) {
        return test_run_all();
}
