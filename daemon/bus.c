/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <systemd/sd-bus.h>

#include "config.h"
#include "bus.h"
#include "event-util.h"
#include "log.h"
#include "proc.h"
#include "util.h"

#define BUS_NAME "org.steve.Jobserver"
#define OBJECT_PATH "/org/steve/Jobserver"
#define INTERFACE "org.steve.Jobserver"
#define ERROR_NO_SUCH_PROCESS "org.steve.Jobserver.Error.NoSuchProcess"
/* Counters change thousands of times a second in a busy build; monitors see
 * them at most this often, and the final state within this long. */
#define EMIT_INTERVAL (USEC_PER_SEC / 4)
#define RECONNECT_MIN (USEC_PER_SEC)
#define RECONNECT_MAX (60 * USEC_PER_SEC)
#define CMDLINE_MAX 1024


/* A D-Bus call waiting for its authorization. */
typedef struct PendingCall {
        Bus *bus;
        sd_bus_message *message;
        AuthRequest *auth;
        Params candidate;               /* Set: the parameters to apply */
        const ParamInfo *param;         /* Set: which one */
        uint32_t pid;                   /* ReclaimTokens */
        TAILQ_ENTRY(PendingCall) link;
} PendingCall;

struct Bus {
        sd_event *event;
        Server *server;
        Auth *auth;
        BusKind kind;
        char *where;
        sd_bus *bus;
        sd_event_source *emit_timer, *reconnect_timer;
        uint64_t reconnect_delay;
        BusSettled settled;
        void *settled_data;
        BusSnapshot emitted;
        TAILQ_HEAD(, PendingCall) pending;
};

static uint32_t clamp_u32(int64_t v) {
        return v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t) v;
}

static void take_snapshot(Bus *b, BusSnapshot *ret) {
        LedgerStats st;

        server_stats(b->server, &st);
        *ret = (BusSnapshot) {
                .params = *server_params(b->server),
                .available = clamp_u32(st.available),
                .held = clamp_u32(st.held),
                .waiters = clamp_u32((int64_t) st.waiters),
        };
}

/* Properties: one getter for all, by name. */

static int append_param(sd_bus_message *reply, const ParamInfo *info, const Params *p) {
        IoctlValue v;

        param_get(p, info, &v);
        switch (info->kind) {
        case PARAM_COUNT:
                return sd_bus_message_append(reply, "u", v.u32);
        case PARAM_BYTES:
                return sd_bus_message_append(reply, "t", v.u64);
        case PARAM_BOOL:
                return sd_bus_message_append(reply, "b", (int) v.u32);
        case PARAM_NUMBER:
        case PARAM_SECONDS:
                return sd_bus_message_append(reply, "d", v.d);
        }
        return -EINVAL;
}

static int property_get(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const ParamInfo *info = param_by_bus_name(property);
        Bus *b = userdata;
        BusSnapshot now;

        take_snapshot(b, &now);
        if (info)
                return append_param(reply, info, &now.params);
        if (strcmp(property, "TokensAvailable") == 0)
                return sd_bus_message_append(reply, "u", now.available);
        if (strcmp(property, "TokensHeld") == 0)
                return sd_bus_message_append(reply, "u", now.held);
        if (strcmp(property, "Waiters") == 0)
                return sd_bus_message_append(reply, "u", now.waiters);
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

/* Reads a Set's variant into the candidate parameters. */
static int read_property_value(sd_bus_message *m, const ParamInfo *info, Params *p, sd_bus_error *error) {
        const char *type = param_signature(info);
        char range[128];
        IoctlValue v = { .u64 = 0 };
        int b = 0, r;

        r = sd_bus_message_enter_container(m, 'v', type);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s takes a value of type '%s'",
                                         info->bus_name, type);
        r = sd_bus_message_read_basic(m, type[0], info->kind == PARAM_BOOL ? (void *) &b
                                                  : info->kind == PARAM_COUNT ? (void *) &v.u32
                                                  : info->kind == PARAM_BYTES ? (void *) &v.u64 : (void *) &v.d);
        if (r < 0)
                return r;
        if (info->kind == PARAM_BOOL)
                v.u32 = b != 0;
        if (!param_set(p, info, &v)) {
                param_describe(info, range, sizeof range);
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s must be %s", info->bus_name, range);
        }
        return 0;
}

static void pending_free(PendingCall *pc) {
        TAILQ_REMOVE(&pc->bus->pending, pc, link);
        auth_cancel(pc->auth);
        sd_bus_message_unref(pc->message);
        free(pc);
}

static void reply_error(sd_bus_message *m, const char *name, const char *message) {
        (void) sd_bus_reply_method_errorf(m, name, "%s", message);
}

/* false when the call was answered with a refusal. */
static bool authorized(PendingCall *pc, AuthResult result, const char *what) {
        pc->auth = NULL;
        if (result == AUTH_ALLOWED)
                return true;
        if (result == AUTH_CHALLENGE)
                reply_error(pc->message, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED, what);
        else
                reply_error(pc->message, SD_BUS_ERROR_ACCESS_DENIED, what);
        return false;
}

static void on_set_authorized(AuthResult result, void *userdata) {
        PendingCall *pc = userdata;
        Params p = *server_params(pc->bus->server);
        const char *error = NULL;

        if (authorized(pc, result, "Not authorized to change the jobserver")) {
                /* Only the property set, onto the parameters as they are now. */
                param_copy(&p, &pc->candidate, pc->param);
                if (server_set_params(pc->bus->server, &p, &error) < 0)
                        reply_error(pc->message, SD_BUS_ERROR_INVALID_ARGS, error);
                else
                        (void) sd_bus_reply_method_return(pc->message, NULL);
        }
        pending_free(pc);
}

static int subject_of(Bus *b, sd_bus_message *m, AuthSubject *ret) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t uid;
        pid_t pid = 0;
        int r;

        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_PID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        (void) sd_bus_creds_get_pid(creds, &pid);
        /* polkitd lives on the system bus; callers on another bus are judged by process. */
        *ret = (AuthSubject) { .uid = uid, .pid = pid,
                               .bus_name = b->kind == BUS_SYSTEM ? sd_bus_message_get_sender(m) : NULL };
        return 0;
}

/* Starts an authorization for m; on_done gets pc. Owns pc from here, also on failure. */
static int authorize(Bus *b, sd_bus_message *m, AuthAction action, PendingCall *pc, AuthCallback on_done) {
        AuthSubject subject;
        int r;

        r = subject_of(b, m, &subject);
        if (r < 0) {
                free(pc);
                return r;
        }
        pc->bus = b;
        pc->message = sd_bus_message_ref(m);
        TAILQ_INSERT_TAIL(&b->pending, pc, link);
        r = auth_check(b->auth, action, &subject, sd_bus_message_get_allow_interactive_authorization(m),
                       on_done, pc, &pc->auth);
        if (r < 0) {
                pc->auth = NULL;
                pending_free(pc);
        }
        return r;
}

/* Properties.Set for our interface, answered once authorized. */
static int handle_set(Bus *b, sd_bus_message *m, const ParamInfo *info, sd_bus_error *error) {
        Params candidate = *server_params(b->server);
        const char *invalid;
        PendingCall *pc;
        int r;

        r = read_property_value(m, info, &candidate, error);
        if (r < 0)
                return r;
        invalid = params_invalid(&candidate);
        if (invalid)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s", invalid);
        pc = calloc(1, sizeof *pc);
        if (!pc)
                return -ENOMEM;
        pc->candidate = candidate;
        pc->param = info;
        r = authorize(b, m, info->manage ? AUTH_MANAGE : AUTH_CONFIGURE, pc, on_set_authorized);
        return r < 0 ? r : 1;
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
        return handle_set(userdata, m, info, error);
}

/* Methods */

static int append_holder(pid_t pid, int64_t held, const LedgerJob *jobs, size_t n_jobs, void *userdata) {
        void **ctx = userdata;
        sd_bus_message *reply = ctx[0];
        Bus *b = ctx[1];
        _cleanup_free_ char *cmdline = NULL;
        int r;

        (void) proc_cmdline(pid, CMDLINE_MAX, &cmdline);
        r = sd_bus_message_open_container(reply, 'r', "usua(tt)");
        if (r >= 0)
                r = sd_bus_message_append(reply, "usu", (uint32_t) pid, cmdline ?: "", clamp_u32(held));
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(tt)");
        for (size_t i = 0; r >= 0 && i < n_jobs; i++)
                r = sd_bus_message_append(reply, "(tt)", jobs[i].id, server_realtime_of(b->server, jobs[i].started));
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

/* Replies to m with one array, its elements appended by fill(b, reply). */
static int reply_array(sd_bus_message *m, Bus *b, const char *contents,
                       int (*fill)(Bus *b, sd_bus_message *reply)) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', contents);
        if (r >= 0)
                r = fill(b, reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r < 0 ? r : sd_bus_send(NULL, reply, NULL);
}

static int fill_holders(Bus *b, sd_bus_message *reply) {
        void *ctx[2] = { reply, b };
        return server_foreach_holder(b->server, append_holder, ctx);
}

static int method_get_holders(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return reply_array(m, userdata, "(usua(tt))", fill_holders);
}

static int append_waiter(pid_t pid, LedgerWaitKind kind, uint64_t since, void *userdata) {
        void **ctx = userdata;
        Bus *b = ctx[1];
        _cleanup_free_ char *cmdline = NULL;

        (void) proc_cmdline(pid, CMDLINE_MAX, &cmdline);
        return sd_bus_message_append(ctx[0], "(ust)", (uint32_t) pid, cmdline ?: "",
                                     server_realtime_of(b->server, since));
}

static int fill_waiters(Bus *b, sd_bus_message *reply) {
        void *ctx[2] = { reply, b };
        return server_foreach_waiter(b->server, append_waiter, ctx);
}

static int method_get_waiters(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return reply_array(m, userdata, "(ust)", fill_waiters);
}

static void on_reclaim_authorized(AuthResult result, void *userdata) {
        PendingCall *pc = userdata;
        uint64_t n = 0;

        if (!authorized(pc, result, "Not authorized to manage the jobserver"))
                ;
        else if (server_reclaim(pc->bus->server, (pid_t) pc->pid, &n) < 0)
                (void) sd_bus_reply_method_errorf(pc->message, ERROR_NO_SUCH_PROCESS,
                                                  "No process %" PRIu32 " is known to the jobserver", pc->pid);
        else
                (void) sd_bus_reply_method_return(pc->message, "u", clamp_u32((int64_t) n));
        pending_free(pc);
}

static int method_reclaim_tokens(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        PendingCall *pc;
        uint32_t pid;
        int r;

        r = sd_bus_message_read(m, "u", &pid);
        if (r < 0)
                return r;
        if (pid == 0 || pid > INT32_MAX)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid pid %" PRIu32, pid);
        pc = calloc(1, sizeof *pc);
        if (!pc)
                return -ENOMEM;
        pc->pid = pid;
        r = authorize(userdata, m, AUTH_MANAGE, pc, on_reclaim_authorized);
        return r < 0 ? r : 1;
}

#define RO_PROPERTY(name, type, flags) SD_BUS_PROPERTY(name, type, property_get, 0, flags)

/* The members that are not parameters; the parameters come from their table. */
static const sd_bus_vtable fixed_members[] = {
        RO_PROPERTY("TokensAvailable", "u", SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        RO_PROPERTY("TokensHeld", "u", SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        RO_PROPERTY("Waiters", "u", SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        RO_PROPERTY("Path", "s", SD_BUS_VTABLE_PROPERTY_CONST),
        RO_PROPERTY("Version", "s", SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("GetHolders", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(usua(tt))", holders),
                                method_get_holders, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetWaiters", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ust)", waiters),
                                method_get_waiters, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ReclaimTokens", SD_BUS_ARGS("u", pid), SD_BUS_RESULT("u", reclaimed),
                                method_reclaim_tokens, SD_BUS_VTABLE_UNPRIVILEGED),
};

#define MAX_PARAMS 32
static sd_bus_vtable jobserver_vtable[1 + MAX_PARAMS + ELEMENTSOF(fixed_members) + 1];

/* sd-bus keeps a pointer to the table: it lives as long as steve. */
static const sd_bus_vtable *vtable(void) {
        const ParamInfo *info;
        size_t n = 0;

        if (jobserver_vtable[0].type == _SD_BUS_VTABLE_START)
                return jobserver_vtable;
        jobserver_vtable[n++] = (sd_bus_vtable) SD_BUS_VTABLE_START(0);
        for (size_t i = 0; (info = param_nth(i)) && i < MAX_PARAMS; i++)
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

static void bus_disconnect(Bus *b) {
        while (!TAILQ_EMPTY(&b->pending))
                pending_free(TAILQ_FIRST(&b->pending)); // NOLINT(clang-analyzer-unix.Malloc): it unlinks it
        b->bus = sd_bus_flush_close_unref(b->bus);
}

static void schedule_reconnect(Bus *b) {
        uint64_t t;

        (void) sd_event_now(b->event, CLOCK_MONOTONIC, &t);
        (void) sd_event_source_set_time(b->reconnect_timer, t + b->reconnect_delay);
        (void) sd_event_source_set_enabled(b->reconnect_timer, SD_EVENT_ONESHOT);
        b->reconnect_delay = b->reconnect_delay * 2 > RECONNECT_MAX ? RECONNECT_MAX : b->reconnect_delay * 2;
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

static int on_name_acquired(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const sd_bus_error *e = sd_bus_message_get_error(m);
        Bus *b = userdata;

        if (e)
                log_warning("Cannot own %s on D-Bus (%s); serving tokens without it", BUS_NAME, e->message);
        else
                log_info("Owning %s on D-Bus", BUS_NAME);
        settle(b);
        return 0;
}

static int bus_connect(Bus *b) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = b->kind == BUS_SYSTEM ? sd_bus_open_system(&bus) : sd_bus_open_user(&bus);
        if (r >= 0)
                r = sd_bus_attach_event(bus, b->event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_add_object(bus, NULL, OBJECT_PATH, on_object_message, b);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, OBJECT_PATH, INTERFACE, vtable(), b);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus.Local", NULL,
                                        "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, b);
        if (r >= 0)
                r = sd_bus_request_name_async(bus, NULL, BUS_NAME, 0, on_name_acquired, b);
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
        b->reconnect_delay = RECONNECT_MIN;
        b->settled = settled;
        b->settled_data = userdata;
        TAILQ_INIT(&b->pending);
        r = event_add_idle_timer(event, &b->emit_timer, USEC_PER_SEC / 100, on_emit_timer, b);
        if (r >= 0)
                r = event_add_idle_timer(event, &b->reconnect_timer, USEC_PER_SEC / 10, on_reconnect_timer, b);
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
        sd_event_unref(b->event);
        free(b->where);
        free(b);
        return NULL;
}
