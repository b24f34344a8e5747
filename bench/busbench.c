/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Times a method of org.steve.Jobserver with no arguments, as a C client
 * sees it: call, wait, and walk the whole reply (a Python client would
 * mostly time its own unmarshalling). Prints the median in milliseconds and
 * the number of elements of the reply's array.
 *   busbench METHOD CALLS      (the bus: $DBUS_SESSION_BUS_ADDRESS)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

static double now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

/* Elements of the reply's array, each walked to the end. */
static int walk(sd_bus_message *reply) {
        const char *contents;
        char type;
        int n = 0, r;

        r = sd_bus_message_peek_type(reply, &type, &contents);
        if (r <= 0 || type != 'a' || sd_bus_message_enter_container(reply, 'a', contents) < 0)
                return -1;
        while ((r = sd_bus_message_skip(reply, contents)) > 0)
                n++;
        return r < 0 ? -1 : n;
}

int main(int argc, char *argv[]) {
        sd_bus *bus = NULL;
        int calls = argc > 2 ? atoi(argv[2]) : 0, n = -1;
        double *times;

        if (argc != 3 || calls <= 0 || sd_bus_open_user(&bus) < 0) {
                fprintf(stderr, "usage: busbench METHOD CALLS (on the session bus)\n");
                return 2;
        }
        times = calloc((size_t) calls, sizeof *times);
        for (int i = 0; times && i < calls; i++) {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                double start = now_ms();

                if (sd_bus_call_method(bus, "org.steve.Jobserver", "/org/steve/Jobserver", "org.steve.Jobserver",
                                       argv[1], &error, &reply, "") < 0) {
                        fprintf(stderr, "busbench: %s: %s\n", argv[1], error.message ? error.message : error.name);
                        free(times);
                        return 1;
                }
                n = walk(reply);
                times[i] = now_ms() - start;
                sd_bus_message_unref(reply);
        }
        if (!times)
                return 1;
        qsort(times, (size_t) calls, sizeof *times, by_value);
        printf("median_ms=%.2f elements=%d\n", times[calls / 2], n);
        sd_bus_flush_close_unref(bus);
        free(times);
        return 0;
}
