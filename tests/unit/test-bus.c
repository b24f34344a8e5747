/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "bus.h"
#include "test.h"

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

int main(void) {
        return test_run_all();
}
