/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "event-util.h"
#include "log.h"
#include "notify.h"
#include "util.h"

/* STATUS= goes to PID 1 on every change otherwise: a busy pool changes
 * thousands of times a second. */
#define STATUS_INTERVAL_USEC USEC_PER_SEC

struct Notify {
        Server *server;
        int fd;                                 /* non-blocking: a busy manager never stalls the loop */
        struct sockaddr_un address;
        socklen_t address_len;
        sd_event_source *status_timer, *watchdog_timer;
        uint64_t last_status, watchdog_usec;
        bool node_ready, bus_settled, ready;
};

/* sd_notify() would block on a manager whose queue is full (ten datagrams by
 * default): every token would wait with it. A message that does not fit now
 * is dropped; the next STATUS= or ping says the same again. */
static void send_state(Notify *n, const char *state) {
        if (sendto(n->fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *) &n->address,
                   n->address_len) >= 0)
                return;
        if (errno == EAGAIN)
                log_debug("The service manager is not reading; dropped %.16s", state);
        else
                log_warning_errno(errno, "Failed to notify the service manager: %m");
}

/* $NOTIFY_SOCKET: a path, or @ for an abstract name. */
static int notify_socket(Notify *n, const char *where) {
        size_t len = strlen(where);

        if ((where[0] != '/' && where[0] != '@') || len < 2 || len >= sizeof n->address.sun_path)
                return -EINVAL;
        n->address.sun_family = AF_UNIX;
        memcpy(n->address.sun_path, where, len);
        if (where[0] == '@')
                n->address.sun_path[0] = '\0';
        n->address_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + (where[0] == '/'));
        n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        return n->fd < 0 ? -errno : 0;
}

static int on_watchdog_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Notify *n = userdata;

        send_state(n, "WATCHDOG=1");
        /* From the loop itself: a loop that stops turning stops pinging. */
        return sd_event_source_set_time(source, usec + n->watchdog_usec / 2);
}

static void send_status(Notify *n) {
        LedgerStats st;
        char status[128];

        server_stats(n->server, &st);
        snprintf(status, sizeof status, "STATUS=%" PRId64 " of %" PRIu32 " tokens in use, %zu waiting, %zu processes",
                 st.held, server_params(n->server)->jobs, st.waiters, st.processes);
        send_state(n, status);
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
        send_state(n, "READY=1");
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
        char state[64];

        if (!n)
                return;
        /* systemd 253's Type=notify-reload wants the time with it; older ones ignore it. */
        snprintf(state, sizeof state, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, now_monotonic_usec());
        send_state(n, state);
}

void notify_reloaded(Notify *n) {
        if (n)
                send_ready(n);
}

void notify_stopping(Notify *n) {
        if (n)
                send_state(n, "STOPPING=1");
}

int notify_new(sd_event *event, Server *server, Notify **ret) {
        const char *where = getenv("NOTIFY_SOCKET");
        uint64_t now;
        Notify *n;
        int r;

        *ret = NULL;
        if (!where)
                return 0;
        n = calloc(1, sizeof *n);
        if (!n)
                return -ENOMEM;
        n->server = server;
        n->fd = -1;
        r = notify_socket(n, where);
        if (r >= 0)
                r = event_add_idle_timer(event, &n->status_timer, USEC_PER_SEC / 10, on_status_timer, n);
        /* Pings WATCHDOG=1 when $WATCHDOG_USEC (and $WATCHDOG_PID, if set) say so. */
        if (r >= 0 && sd_watchdog_enabled(false, &n->watchdog_usec) > 0) {
                (void) sd_event_now(event, CLOCK_MONOTONIC, &now);
                r = sd_event_add_time(event, &n->watchdog_timer, CLOCK_MONOTONIC, now + n->watchdog_usec / 2,
                                      n->watchdog_usec / 10, on_watchdog_timer, n);
                if (r >= 0)
                        r = sd_event_source_set_enabled(n->watchdog_timer, SD_EVENT_ON);
        }
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
                sd_event_source_disable_unref(n->watchdog_timer);
                if (n->fd >= 0)
                        close(n->fd);
                free(n);
        }
        return NULL;
}
