/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * org.steve.Jobserver: the connection (retried when lost), the object and
 * its properties, and PropertiesChanged, coalesced. The methods and the
 * authorization of changes are in bus-methods.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <systemd/sd-bus.h>

#include "config.h"
#include "bus-internal.h"
#include "bus-params.h"
#include "event-util.h"
#include "log.h"
#include "monitor.h"
#include "util.h"

#define BUS_NAME "org.steve.Jobserver"
/* Counters change thousands of times a second in a busy build; monitors see
 * them at most this often, and the final state within this long. */
#define EMIT_INTERVAL (USEC_PER_SEC / 4)
#define RECONNECT_MIN (USEC_PER_SEC)
#define RECONNECT_MAX (60 * USEC_PER_SEC)


static void take_snapshot(Bus *b, BusSnapshot *ret) {
        LedgerStats st;

        server_stats(b->server, &st);
        *ret = (BusSnapshot) {
                .params = *server_params(b->server),
                .available = clamp_u32(st.available),
                .held = clamp_u32(st.held),
                .waiters = clamp_u32((int64_t) st.waiters),
                .generation = monitor_generation(b->server),
                .held_back = monitor_held_back_version(b->server),
        };
}

/* Properties: one getter for all, by name. */

static int property_get(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const ParamInfo *info = param_by_bus_name(property);
        Bus *b = userdata;
        BusSnapshot now;

        take_snapshot(b, &now);
        if (info)
                return bus_append_param(reply, info, &now.params);
        if (strcmp(property, "TokensAvailable") == 0)
                return sd_bus_message_append(reply, "u", now.available);
        if (strcmp(property, "TokensHeld") == 0)
                return sd_bus_message_append(reply, "u", now.held);
        if (strcmp(property, "Waiters") == 0)
                return sd_bus_message_append(reply, "u", now.waiters);
        if (strcmp(property, "Generation") == 0)
                return sd_bus_message_append(reply, "t", now.generation);
        if (strcmp(property, "HeldBack") == 0) {
                char reason[128];

                monitor_held_back(b->server, reason, sizeof reason);
                return sd_bus_message_append(reply, "s", reason);
        }
        if (strcmp(property, "Path") == 0)
                return sd_bus_message_append(reply, "s", b->where);
        if (strcmp(property, "Version") == 0)
                return sd_bus_message_append(reply, "s", STEVE_VERSION);
        return sd_bus_error_setf(error, SD_BUS_ERROR_UNKNOWN_PROPERTY, "Unknown property %s", property);
}

/* Never reached: Set is answered by on_object_message(), which can wait for
 * authorization. It exists so that introspection shows the access. */
static int property_set(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *value, void *userdata, sd_bus_error *error) {
        return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "Not through this path");
}

static int on_object_message(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *interface, *property;
        const ParamInfo *info;
        int r;

        if (!sd_bus_message_is_method_call(m, "org.freedesktop.DBus.Properties", "Set"))
                return 0;
        r = sd_bus_message_read(m, "ss", &interface, &property);
        info = r < 0 || strcmp(interface, INTERFACE) != 0 ? NULL : param_by_bus_name(property);
        if (!info) {
                /* Leave the rest, and the errors for unknown and read-only properties, to sd-bus. */
                (void) sd_bus_message_rewind(m, true);
                return 0;
        }
        return bus_handle_set(userdata, m, info, error);
}

#define RO_PROPERTY(name, type, flags) SD_BUS_PROPERTY(name, type, property_get, 0, flags)

/* The members that are not parameters; the parameters come from their table. */
static const sd_bus_vtable fixed_members[] = {
        RO_PROPERTY("TokensAvailable", "u", SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        RO_PROPERTY("TokensHeld", "u", SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        RO_PROPERTY("Waiters", "u", SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        RO_PROPERTY("HeldBack", "s", SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        RO_PROPERTY("Generation", "t", SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        RO_PROPERTY("Path", "s", SD_BUS_VTABLE_PROPERTY_CONST),
        RO_PROPERTY("Version", "s", SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("GetHolders", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(usua(tt))", holders),
                                bus_method_get_holders, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetWaiters", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ustu)", waiters),
                                bus_method_get_waiters, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ReclaimTokens", SD_BUS_ARGS("u", pid), SD_BUS_RESULT("u", reclaimed),
                                bus_method_reclaim_tokens, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Reexecute", NULL, NULL, bus_method_reexecute, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetProcesses", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(uuususua(tt)bt)", processes),
                                bus_method_get_processes, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetHistory", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(tuu)", points),
                                bus_method_get_history, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetWeight", SD_BUS_ARGS("u", pid, "u", weight), SD_BUS_NO_RESULT,
                                bus_method_set_weight, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetBuilds", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(uudu)", builds),
                                bus_method_get_builds, SD_BUS_VTABLE_UNPRIVILEGED),
};

static sd_bus_vtable jobserver_vtable[1 + PARAMS_MAX + ELEMENTSOF(fixed_members) + 1];

/* sd-bus keeps a pointer to the table: it lives as long as steve. */
static const sd_bus_vtable *vtable(void) {
        const ParamInfo *info;
        size_t n = 0;

        if (jobserver_vtable[0].type == _SD_BUS_VTABLE_START)
                return jobserver_vtable;
        jobserver_vtable[n++] = (sd_bus_vtable) SD_BUS_VTABLE_START(0);
        for (size_t i = 0; (info = param_nth(i)); i++)
                if (info->bus_name)
                        jobserver_vtable[n++] = (sd_bus_vtable) SD_BUS_WRITABLE_PROPERTY(
                                info->bus_name, param_signature(info), property_get, property_set, 0,
                                SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE | SD_BUS_VTABLE_UNPRIVILEGED);
        for (size_t i = 0; i < ELEMENTSOF(fixed_members); i++)
                jobserver_vtable[n++] = fixed_members[i];
        jobserver_vtable[n] = (sd_bus_vtable) SD_BUS_VTABLE_END;
        return jobserver_vtable;
}

/* PropertiesChanged, coalesced */

size_t bus_changed_properties(const BusSnapshot *a, const BusSnapshot *b, const char **names) {
        const ParamInfo *info;
        size_t n = 0;

        for (size_t i = 0; (info = param_nth(i)); i++)
                if (info->bus_name && !param_equal(&a->params, &b->params, info))
                        names[n++] = info->bus_name;
        if (a->available != b->available)
                names[n++] = "TokensAvailable";
        if (a->held != b->held)
                names[n++] = "TokensHeld";
        if (a->waiters != b->waiters)
                names[n++] = "Waiters";
        if (a->held_back != b->held_back || a->params.paused != b->params.paused)
                names[n++] = "HeldBack";
        if (a->generation != b->generation)
                names[n++] = "Generation";
        names[n] = NULL;
        return n;
}

static int on_emit_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Bus *b = userdata;
        const char *names[BUS_MAX_PROPERTIES + 1];
        BusSnapshot now;
        int r;

        take_snapshot(b, &now);
        if (bus_changed_properties(&b->emitted, &now, names) == 0 || !b->bus)
                return 0;
        r = sd_bus_emit_properties_changed_strv(b->bus, OBJECT_PATH, INTERFACE, (char **) names);
        if (r < 0)
                log_debug("Failed to emit PropertiesChanged: %s", strerror(-r));
        b->emitted = now;
        return 0;
}

/* Called after every request: cheap unless something changed. */
void bus_server_changed(Bus *b) {
        const char *names[BUS_MAX_PROPERTIES + 1];
        BusSnapshot now;
        int enabled = SD_EVENT_OFF;
        uint64_t t;

        if (!b || !b->bus)
                return;
        (void) sd_event_source_get_enabled(b->emit_timer, &enabled);
        if (enabled != SD_EVENT_OFF)
                return;
        take_snapshot(b, &now);
        if (bus_changed_properties(&b->emitted, &now, names) == 0)
                return;
        (void) sd_event_now(b->event, CLOCK_MONOTONIC, &t);
        (void) sd_event_source_set_time(b->emit_timer, t + EMIT_INTERVAL);
        (void) sd_event_source_set_enabled(b->emit_timer, SD_EVENT_ONESHOT);
}

/* Connection */

static int bus_connect(Bus *b);

/* The first attempt to own the name has ended, one way or the other. */
static void settle(Bus *b) {
        BusSettled settled = b->settled;

        b->settled = NULL;
        if (settled)
                settled(b->settled_data);
}

/* How long a stop or a re-exec waits for the bus daemon to take steve's last
 * messages. sd_bus_flush() waits for ever, and the bus daemon takes nothing
 * while its queue for steve is full of replies a caller does not read. */
#define FLUSH_TIMEOUT (USEC_PER_SEC / 2)

/* While flushing, messages that come in are not answered: nothing new is
 * begun on the way out. */
static int drop_incoming(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return 1;
}

int bus_flush_within(sd_bus *bus, uint64_t timeout) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *filter = NULL;
        uint64_t end = now_monotonic_usec() + timeout, queued = 0, now;
        int r;

        (void) sd_bus_add_filter(bus, &filter, drop_incoming, NULL);
        while ((r = sd_bus_get_n_queued_write(bus, &queued)) >= 0 && queued > 0) {
                struct pollfd pfd = { .fd = sd_bus_get_fd(bus), .events = (short) sd_bus_get_events(bus) };

                now = now_monotonic_usec();
                if (now >= end)
                        return -ETIMEDOUT;
                if (pfd.fd < 0 || pfd.events < 0)
                        return -ENOTCONN;
                r = poll(&pfd, 1, (int) ((end - now + 999) / 1000));
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r > 0 && (r = sd_bus_process(bus, NULL)) < 0)
                        return r;
        }
        return r < 0 ? r : 0;
}

static void flush_bounded(sd_bus *bus) {
        uint64_t queued = 0;

        (void) sd_bus_get_n_queued_write(bus, &queued);
        if (bus_flush_within(bus, FLUSH_TIMEOUT) == -ETIMEDOUT)
                log_warning("The bus daemon did not take all of steve's last %" PRIu64 " message(s) in %" PRIu64
                            " ms; going on without them", queued, FLUSH_TIMEOUT / 1000);
}

static void bus_disconnect(Bus *b) {
        (void) sd_event_source_set_enabled(b->name_timer, SD_EVENT_OFF);
        bus_drop_pending(b);
        if (b->bus)
                flush_bounded(b->bus);
        b->bus = sd_bus_close_unref(b->bus);
}

void bus_flush(Bus *b) {
        /* Calls half answered stay unanswered: nothing of theirs runs on the way out. */
        if (b && b->bus) {
                bus_drop_pending(b);
                flush_bounded(b->bus);
        }
}

/* Arms timer for *delay from now, and doubles *delay up to RECONNECT_MAX. */
static void schedule_backoff(Bus *b, sd_event_source *timer, uint64_t *delay) {
        uint64_t t;

        (void) sd_event_now(b->event, CLOCK_MONOTONIC, &t);
        (void) sd_event_source_set_time(timer, t + *delay);
        (void) sd_event_source_set_enabled(timer, SD_EVENT_ONESHOT);
        *delay = *delay * 2 > RECONNECT_MAX ? RECONNECT_MAX : *delay * 2;
}

static void schedule_reconnect(Bus *b) {
        schedule_backoff(b, b->reconnect_timer, &b->reconnect_delay);
}

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;

        log_warning("Lost the D-Bus connection; tokens are still served, reconnecting");
        bus_disconnect(b);
        settle(b);
        schedule_reconnect(b);
        return 0;
}

static int on_reconnect_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Bus *b = userdata;

        if (bus_connect(b) < 0)
                schedule_reconnect(b);
        return 0;
}

/* Refused (a policy not installed yet, or not reread; another owner), the
 * name is asked for again, less and less often: an administrator who fixes
 * the policy does not have to restart steve. */
static int on_name_acquired(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const sd_bus_error *e = sd_bus_message_get_error(m);
        Bus *b = userdata;

        if (e) {
                (void) log_full_errno(b->name_refused ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING, 0,
                                      "Cannot own %s on D-Bus (%s); serving tokens without it, asking again",
                                      BUS_NAME, e->message);
                b->name_refused = true;
                schedule_backoff(b, b->name_timer, &b->name_delay);
        } else {
                if (b->name_refused)
                        log_notice("Owning %s on D-Bus now", BUS_NAME);
                else
                        log_info("Owning %s on D-Bus", BUS_NAME);
                b->name_refused = false;
                b->name_delay = RECONNECT_MIN;
        }
        settle(b);
        return 0;
}

static int request_name(Bus *b, sd_bus *bus) {
        return sd_bus_request_name_async(bus, NULL, BUS_NAME, 0, on_name_acquired, b);
}

static int on_name_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Bus *b = userdata;

        if (b->bus && request_name(b, b->bus) < 0)
                schedule_backoff(b, b->name_timer, &b->name_delay);
        return 0;
}

static int bus_connect(Bus *b) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = b->kind == BUS_SYSTEM ? sd_bus_open_system(&bus) : sd_bus_open_user(&bus);
        if (r >= 0)
                /* The transport's priority, not below it: under a steady stream of
                 * token requests a lower one would never run (SIGUSR1 reports
                 * went unanswered under memcheck). Sources of one priority take
                 * turns, and a turn builds one listing at most. */
                r = sd_bus_attach_event(bus, b->event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_add_object(bus, NULL, OBJECT_PATH, on_object_message, b);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, OBJECT_PATH, INTERFACE, vtable(), b);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus.Local", NULL,
                                        "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, b);
        if (r >= 0)
                r = request_name(b, bus);
        if (r < 0)
                return log_full_errno(b->reconnect_delay > RECONNECT_MIN ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING, r,
                                      "Cannot connect to the %s bus (%m); serving tokens without D-Bus, retrying",
                                      b->kind == BUS_SYSTEM ? "system" : "session");
        b->bus = TAKE_PTR(bus);
        b->reconnect_delay = RECONNECT_MIN;
        take_snapshot(b, &b->emitted);
        return 0;
}

int bus_new(sd_event *event, Server *server, Auth *auth, BusKind kind, const char *where,
            BusSettled settled, void *userdata, Bus **ret) {
        Bus *b;
        int r;

        if (kind == BUS_NONE) {
                log_notice("D-Bus is off (--bus none)");
                settled(userdata);
                *ret = NULL;
                return 0;
        }
        b = calloc(1, sizeof *b);
        if (!b || !(b->where = strdup(where))) {
                free(b);
                return -ENOMEM;
        }
        b->event = sd_event_ref(event);
        b->server = server;
        b->auth = auth;
        b->kind = kind;
        b->reconnect_delay = b->name_delay = RECONNECT_MIN;
        b->settled = settled;
        b->settled_data = userdata;
        TAILQ_INIT(&b->pending);
        r = event_add_idle_timer(event, &b->emit_timer, USEC_PER_SEC / 100, on_emit_timer, b);
        if (r >= 0)
                r = event_add_idle_timer(event, &b->reconnect_timer, USEC_PER_SEC / 10, on_reconnect_timer, b);
        if (r >= 0)
                r = event_add_idle_timer(event, &b->name_timer, USEC_PER_SEC / 10, on_name_timer, b);
        if (r < 0) {
                bus_free(b);
                return r;
        }
        if (bus_connect(b) < 0) {
                settle(b);
                schedule_reconnect(b);
        }
        *ret = b;
        return 0;
}

Bus *bus_free(Bus *b) {
        if (!b)
                return NULL;
        bus_disconnect(b);
        sd_event_source_disable_unref(b->emit_timer);
        sd_event_source_disable_unref(b->reconnect_timer);
        sd_event_source_disable_unref(b->name_timer);
        sd_event_unref(b->event);
        free(b->where);
        free(b);
        return NULL;
}
