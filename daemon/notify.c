/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "event-util.h"
#include "log.h"
#include "notify.h"
#include "util.h"

/* STATUS= goes to PID 1 on every change otherwise: a busy pool changes
 * thousands of times a second. */
#define STATUS_INTERVAL_USEC USEC_PER_SEC

struct Notify {
        Server *server;
        sd_event_source *status_timer;
        uint64_t last_status;
        bool node_ready, bus_settled, ready;
};

static void send_state(const char *state) {
        int r = sd_notify(false, state);
        if (r < 0)
                log_warning_errno(r, "Failed to notify the service manager: %m");
}

static void send_status(Notify *n) {
        LedgerStats st;
        char status[128];

        server_stats(n->server, &st);
        snprintf(status, sizeof status, "STATUS=%" PRId64 " of %" PRIu32 " tokens in use, %zu waiting, %zu processes",
                 st.held, server_params(n->server)->jobs, st.waiters, st.processes);
        send_state(status);
        (void) sd_event_now(sd_event_source_get_event(n->status_timer), CLOCK_MONOTONIC, &n->last_status);
}

static int on_status_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        send_status(userdata);
        return 0;
}

void notify_server_changed(Notify *n) {
        uint64_t now;
        int enabled;

        if (!n || !n->ready || sd_event_source_get_enabled(n->status_timer, &enabled) < 0 || enabled)
                return;
        (void) sd_event_now(sd_event_source_get_event(n->status_timer), CLOCK_MONOTONIC, &now);
        (void) sd_event_source_set_time(n->status_timer, n->last_status + STATUS_INTERVAL_USEC > now
                                                                 ? n->last_status + STATUS_INTERVAL_USEC
                                                                 : now);
        (void) sd_event_source_set_enabled(n->status_timer, SD_EVENT_ONESHOT);
}

static void send_ready(Notify *n) {
        send_state("READY=1");
        send_status(n);
}

static void maybe_ready(Notify *n) {
        if (n->ready || !n->node_ready || !n->bus_settled)
                return;
        n->ready = true;
        send_ready(n);
}

void notify_node_ready(Notify *n) {
        if (n) {
                n->node_ready = true;
                maybe_ready(n);
        }
}

void notify_bus_settled(Notify *n) {
        if (n) {
                n->bus_settled = true;
                maybe_ready(n);
        }
}

void notify_reloading(Notify *n) {
        struct timespec ts;
        char state[64];

        if (!n)
                return;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        /* systemd 253's Type=notify-reload wants the time with it; older ones ignore it. */
        snprintf(state, sizeof state, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
                 (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000);
        send_state(state);
}

void notify_reloaded(Notify *n) {
        if (n)
                send_ready(n);
}

void notify_stopping(Notify *n) {
        if (n)
                send_state("STOPPING=1");
}

int notify_new(sd_event *event, Server *server, Notify **ret) {
        Notify *n;
        int r;

        *ret = NULL;
        if (!getenv("NOTIFY_SOCKET"))
                return 0;
        n = calloc(1, sizeof *n);
        if (!n)
                return -ENOMEM;
        n->server = server;
        r = event_add_idle_timer(event, &n->status_timer, USEC_PER_SEC / 10, on_status_timer, n);
        if (r >= 0)
                /* Pings WATCHDOG=1 from the loop itself when $WATCHDOG_USEC is set. */
                r = sd_event_set_watchdog(event, true);
        if (r < 0) {
                notify_free(n);
                return r;
        }
        *ret = n;
        return 0;
}

Notify *notify_free(Notify *n) {
        if (n) {
                sd_event_source_disable_unref(n->status_timer);
                free(n);
        }
        return NULL;
}
