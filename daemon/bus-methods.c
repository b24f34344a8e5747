/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The calls on org.steve.Jobserver that need to know who is asking:
 * Properties.Set, ReclaimTokens, Reexecute, GetHolders, GetWaiters,
 * GetProcesses. Nothing here waits
 * on the loop: the caller's uid and pid come from the bus daemon
 * (GetConnectionCredentials, asked asynchronously), polkit is asked through
 * auth.c, command lines are read through cmdline.h, and the call is answered
 * when all of that has come back.
 *
 * Command lines are shown to root, to a caller of the same uid as the
 * process, and to whom polkit grants org.steve.Jobserver.inspect; everyone
 * else sees the process's name. Either way as valid UTF-8 (text.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"
#include "bus-params.h"
#include "clients.h"
#include "log.h"
#include "monitor.h"
#include "proc.h"
#include "text.h"
#include "util.h"

#define ERROR_NO_SUCH_PROCESS "org.steve.Jobserver.Error.NoSuchProcess"
#define ERROR_LIMITS_EXCEEDED "org.freedesktop.DBus.Error.LimitsExceeded"

/* What a listing shows of a command line, in bytes before escaping: enough
 * to tell builds apart, and a row stays about a KiB however long the line. */
#define LISTED_TEXT_MAX 256

typedef enum CallKind {
        CALL_SET, CALL_RECLAIM, CALL_WEIGHT, CALL_REEXECUTE, CALL_HOLDERS, CALL_WAITERS, CALL_PROCESSES,
        CALL_BUILDS
} CallKind;

/* A call waiting for what it needs to be answered. */
struct PendingCall {
        Bus *bus;
        CallKind kind;
        sd_bus_message *message;
        sd_bus_slot *creds_call;        /* GetConnectionCredentials in flight */
        AuthRequest *auth;
        ClientsFetch *fetch;
        AuthSubject subject;            /* once the credentials came */
        bool see_all;                   /* every process's command line */
        bool own_only;                  /* only its own processes: /proc would show it no others */
        Params candidate;               /* Set: the parameters to apply */
        const ParamInfo *param;         /* Set: which one */
        uint32_t pid;                   /* ReclaimTokens, SetWeight */
        uint32_t weight;                /* SetWeight */
        TAILQ_ENTRY(PendingCall) link;
};

static void pending_free(PendingCall *pc) {
        TAILQ_REMOVE(&pc->bus->pending, pc, link);
        sd_bus_slot_unref(pc->creds_call);
        auth_cancel(pc->auth);
        clients_fetch_cancel(pc->fetch);
        sd_bus_message_unref(pc->message);
        free(pc);
}

void bus_drop_pending(Bus *b) {
        while (!TAILQ_EMPTY(&b->pending))
                pending_free(TAILQ_FIRST(&b->pending)); // NOLINT(clang-analyzer-unix.Malloc): it unlinks it
}

static void reply_error(sd_bus_message *m, const char *name, const char *message) {
        (void) sd_bus_reply_method_errorf(m, name, "%s", message);
}

/* Answers */

typedef struct ListContext {
        PendingCall *pc;
        sd_bus_message *reply;
} ListContext;

/* Whether the caller is shown p at all. */
static bool shown(const PendingCall *pc, const MonitorProcess *p) {
        return !pc->own_only || p->uid == pc->subject.uid;
}

/* What the caller may see of p: its command line, cut to LISTED_TEXT_MAX
 * bytes at a character's start and marked "...", or only its name; escaped. */
static char *label(const PendingCall *pc, const MonitorProcess *p) {
        const char *text = (pc->see_all || p->uid == pc->subject.uid) && p->cmdline && p->cmdline[0]
                           ? p->cmdline : p->comm;
        size_t len = strlen(text);
        _cleanup_free_ char *escaped = NULL;
        char *out;

        if (len <= LISTED_TEXT_MAX)
                return text_escape(text, len);
        len = LISTED_TEXT_MAX;
        while (len > 0 && ((unsigned char) text[len] & 0xc0) == 0x80)
                len--;
        escaped = text_escape(text, len);
        if (!escaped || asprintf(&out, "%s...", escaped) < 0)
                return NULL;
        return out;
}

static int append_jobs(ListContext *ctx, const MonitorProcess *p) {
        Server *server = ctx->pc->bus->server;
        int r = sd_bus_message_open_container(ctx->reply, 'a', "(tt)");

        for (size_t i = 0; r >= 0 && i < p->n_jobs; i++)
                r = sd_bus_message_append(ctx->reply, "(tt)", p->jobs[i].id,
                                          server_realtime_of(server, p->jobs[i].started));
        return r < 0 ? r : sd_bus_message_close_container(ctx->reply);
}

static int append_holder(const MonitorProcess *p, void *userdata) {
        ListContext *ctx = userdata;
        _cleanup_free_ char *text = NULL;
        int r;

        if (p->held <= 0 || !shown(ctx->pc, p))
                return 0;
        text = label(ctx->pc, p);
        if (!text)
                return -ENOMEM;
        r = sd_bus_message_open_container(ctx->reply, 'r', "usua(tt)");
        if (r >= 0)
                r = sd_bus_message_append(ctx->reply, "usu", (uint32_t) p->pid, text, clamp_u32(p->held));
        if (r >= 0)
                r = append_jobs(ctx, p);
        if (r >= 0)
                r = sd_bus_message_close_container(ctx->reply);
        return r;
}

static int append_waiter(const MonitorProcess *p, void *userdata) {
        ListContext *ctx = userdata;
        _cleanup_free_ char *text = NULL;

        if (!shown(ctx->pc, p))
                return 0;
        text = label(ctx->pc, p);
        if (!text)
                return -ENOMEM;
        return sd_bus_message_append(ctx->reply, "(ustu)", (uint32_t) p->pid, text,
                                     server_realtime_of(ctx->pc->bus->server, p->waiting_since),
                                     (uint32_t) p->waiting_count);
}

static int append_process(const MonitorProcess *p, void *userdata) {
        ListContext *ctx = userdata;
        Server *server = ctx->pc->bus->server;
        _cleanup_free_ char *text = NULL, *unit = NULL;
        int r;

        if (!shown(ctx->pc, p))
                return 0;
        text = label(ctx->pc, p);
        unit = text_escape(p->unit ? p->unit : "", p->unit ? strlen(p->unit) : 0);
        if (!text || !unit)
                return -ENOMEM;
        r = sd_bus_message_open_container(ctx->reply, 'r', "uuususua(tt)bt");
        if (r >= 0)
                r = sd_bus_message_append(ctx->reply, "uuusus", (uint32_t) p->pid, (uint32_t) p->ppid,
                                          (uint32_t) p->uid, unit, (uint32_t) p->build, text);
        if (r >= 0)
                r = sd_bus_message_append(ctx->reply, "u", clamp_u32(p->held));
        if (r >= 0)
                r = append_jobs(ctx, p);
        if (r >= 0)
                r = sd_bus_message_append(ctx->reply, "bt", (int) p->waiting,
                                          p->waiting ? server_realtime_of(server, p->waiting_since) : UINT64_C(0));
        if (r >= 0)
                r = sd_bus_message_close_container(ctx->reply);
        return r;
}

/* Numbers: a build the caller may not see is there, but not its leader's pid. */
static int append_build(const MonitorBuild *build, void *userdata) {
        ListContext *ctx = userdata;
        pid_t leader = !ctx->pc->own_only || build->uid == ctx->pc->subject.uid ? build->leader : 0;

        return sd_bus_message_append(ctx->reply, "(uudu)", (uint32_t) leader, build->weight, build->share,
                                     clamp_u32(build->taken));
}

static const char *list_signature(CallKind kind) {
        switch (kind) {
        case CALL_HOLDERS:
                return "(usua(tt))";
        case CALL_WAITERS:
                return "(ustu)";
        case CALL_BUILDS:
                return "(uudu)";
        case CALL_PROCESSES:
        case CALL_SET:
        case CALL_RECLAIM:
        case CALL_WEIGHT:
        case CALL_REEXECUTE:
                break;
        }
        return "(uuususua(tt)bt)";
}

static int list_into(ListContext *ctx) {
        Server *server = ctx->pc->bus->server;

        switch (ctx->pc->kind) {
        case CALL_HOLDERS:
                return monitor_foreach_holder(server, append_holder, ctx);
        case CALL_WAITERS:
                return monitor_foreach_waiting_process(server, append_waiter, ctx);
        case CALL_PROCESSES:
                return monitor_foreach_process(server, append_process, ctx);
        case CALL_BUILDS:
                return monitor_foreach_build(server, append_build, ctx);
        case CALL_SET:
        case CALL_RECLAIM:
        case CALL_WEIGHT:
        case CALL_REEXECUTE:
                break;
        }
        return -EINVAL;
}

/* Messages steve has sent that the bus daemon has not taken yet: it stops
 * taking them when they wait for a caller that does not read its replies. */
#define BUS_QUEUE_MAX 16

static bool bus_backed_up(sd_bus *bus) {
        uint64_t queued = 0;

        return sd_bus_get_n_queued_write(bus, &queued) >= 0 && queued > BUS_QUEUE_MAX;
}

static void reply_list(void *userdata) {
        PendingCall *pc = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        ListContext ctx = { .pc = pc };
        int r;

        pc->fetch = NULL;
        /* Another listing would only wait behind the others, in steve's memory. */
        if (bus_backed_up(sd_bus_message_get_bus(pc->message))) {
                reply_error(pc->message, ERROR_LIMITS_EXCEEDED, "steve's replies are not being read; try again later");
                pending_free(pc);
                return;
        }
        r = sd_bus_message_new_method_return(pc->message, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', list_signature(pc->kind));
        ctx.reply = reply;
        if (r >= 0)
                r = list_into(&ctx);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        if (r < 0)
                (void) sd_bus_reply_method_errnof(pc->message, r, "Cannot list: %m");
        pending_free(pc);
}

/* The command lines first, read off the loop; then the list. */
static void list_when_read(PendingCall *pc) {
        if (pc->kind == CALL_BUILDS)
                reply_list(pc);         /* no text in it */
        else if (clients_fetch_cmdlines(pc->bus->server, reply_list, pc, &pc->fetch) < 0) {
                pc->fetch = NULL;
                reply_list(pc);
        }
}

/* /proc shows the caller no other user's process: hidepid=, or another pid namespace. */
static bool pids_hidden_from(const PendingCall *pc) {
        return server_hides_pids(pc->bus->server) || !proc_in_our_pid_namespace(pc->subject.pid);
}

static void on_inspect_authorized(AuthResult result, void *userdata) {
        PendingCall *pc = userdata;

        pc->auth = NULL;
        /* Not allowed is no error: the names are shown instead, or, to a
         * caller /proc shows no other user's process (hidepid=, another pid
         * namespace), its own processes only. */
        pc->see_all = result == AUTH_ALLOWED;
        pc->own_only = !pc->see_all && pids_hidden_from(pc);
        list_when_read(pc);
}

static void on_set_authorized(AuthResult result, void *userdata);
static void on_reclaim_authorized(AuthResult result, void *userdata);
static void on_weight_authorized(AuthResult result, void *userdata);
static void on_reexecute_authorized(AuthResult result, void *userdata);

/* The caller is known: ask what must be asked. */
static void caller_known(PendingCall *pc) {
        Bus *b = pc->bus;
        bool interactive = sd_bus_message_get_allow_interactive_authorization(pc->message);
        /* Every kind sets both (-Wswitch: no default). */
        AuthAction action = AUTH_MANAGE;
        AuthCallback done = NULL;
        IoctlValue v;
        int r;

        switch (pc->kind) {
        case CALL_HOLDERS:
        case CALL_WAITERS:
        case CALL_PROCESSES:
                pc->see_all = pc->subject.uid == 0;
                if (pc->see_all || !server_others_present(b->server, pc->subject.uid)) {
                        list_when_read(pc);
                        return;
                }
                action = AUTH_INSPECT;
                done = on_inspect_authorized;
                break;
        case CALL_BUILDS:
                /* Numbers only, unless /proc would hide other users' pids. */
                if (pc->subject.uid == 0 || !pids_hidden_from(pc) ||
                    !server_others_present(b->server, pc->subject.uid)) {
                        list_when_read(pc);
                        return;
                }
                action = AUTH_INSPECT;
                done = on_inspect_authorized;
                break;
        case CALL_SET:
                param_get(&pc->candidate, pc->param, &v);
                action = param_needs_manage(pc->param, &v) ? AUTH_MANAGE : AUTH_CONFIGURE;
                done = on_set_authorized;
                break;
        case CALL_REEXECUTE:
                action = AUTH_MANAGE;
                done = on_reexecute_authorized;
                break;
        case CALL_WEIGHT:
                action = AUTH_CONFIGURE;
                done = on_weight_authorized;
                break;
        case CALL_RECLAIM:
                action = AUTH_MANAGE;
                done = on_reclaim_authorized;
                break;
        }
        r = auth_check(b->auth, action, &pc->subject, interactive, done, pc, &pc->auth);
        if (r < 0) {
                pc->auth = NULL;
                reply_error(pc->message, SD_BUS_ERROR_ACCESS_DENIED, "Cannot ask who may do this");
                pending_free(pc);
        }
}

/* GetConnectionCredentials answered: a{sv} with UnixUserID and ProcessID. */
static int read_credentials(sd_bus_message *m, uid_t *uid, pid_t *pid) {
        bool have_uid = false;
        const char *key;
        uint32_t value;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                r = sd_bus_message_read(m, "s", &key);
                if (r >= 0 && (strcmp(key, "UnixUserID") == 0 || strcmp(key, "ProcessID") == 0)) {
                        r = sd_bus_message_read(m, "v", "u", &value);
                        if (r >= 0 && key[0] == 'U') {
                                *uid = value;
                                have_uid = true;
                        } else if (r >= 0)
                                *pid = (pid_t) value;
                } else if (r >= 0)
                        r = sd_bus_message_skip(m, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        if (r < 0)
                return r;
        return have_uid ? 0 : -ENODATA;
}

static int on_credentials(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        PendingCall *pc = userdata;
        uid_t uid = 0;
        pid_t pid = 0;

        pc->creds_call = sd_bus_slot_unref(pc->creds_call);
        if (sd_bus_message_is_method_error(m, NULL) || read_credentials(m, &uid, &pid) < 0) {
                reply_error(pc->message, SD_BUS_ERROR_ACCESS_DENIED, "Cannot tell who is asking");
                pending_free(pc);
                return 0;
        }
        /* polkitd lives on the system bus; callers on another bus are judged by process. */
        pc->subject = (AuthSubject) { .uid = uid, .pid = pid,
                                      .bus_name = pc->bus->kind == BUS_SYSTEM
                                                  ? sd_bus_message_get_sender(pc->message) : NULL };
        caller_known(pc);
        return 0;
}

/* Calls of one connection being answered at once: a caller that sends more
 * without waiting for the replies has the rest refused. */
#define CALLS_PER_SENDER_MAX 4

static bool sender_busy(const Bus *b, const char *sender) {
        const PendingCall *pc;
        unsigned n = 0;

        if (!sender)
                return false;
        TAILQ_FOREACH(pc, &b->pending, link) {
                const char *other = sd_bus_message_get_sender(pc->message);

                if (other && strcmp(other, sender) == 0 && ++n >= CALLS_PER_SENDER_MAX)
                        return true;
        }
        return false;
}

/* Starts answering m: asks the bus daemon who sent it. Owns pc from here, also on failure. */
static int start(Bus *b, sd_bus_message *m, CallKind kind, PendingCall *pc) {
        int r;

        if (sender_busy(b, sd_bus_message_get_sender(m))) {
                free(pc);
                reply_error(m, ERROR_LIMITS_EXCEEDED, "Too many calls of this connection are being answered; "
                            "wait for their replies");
                return 1;
        }
        pc->bus = b;
        pc->kind = kind;
        pc->message = sd_bus_message_ref(m);
        TAILQ_INSERT_TAIL(&b->pending, pc, link);
        r = sd_bus_call_method_async(sd_bus_message_get_bus(m), &pc->creds_call, "org.freedesktop.DBus",
                                     "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetConnectionCredentials",
                                     on_credentials, pc, "s", sd_bus_message_get_sender(m));
        if (r < 0) {
                pending_free(pc);
                return r;
        }
        return 1;
}

/* Changes */

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

static void on_reclaim_authorized(AuthResult result, void *userdata) {
        PendingCall *pc = userdata;
        uint64_t n = 0;

        if (authorized(pc, result, "Not authorized to manage the jobserver")) {
                if (client_reclaim(pc->bus->server, (pid_t) pc->pid, &n) < 0)
                        (void) sd_bus_reply_method_errorf(pc->message, ERROR_NO_SUCH_PROCESS,
                                                          "No process %" PRIu32 " is known to the jobserver", pc->pid);
                else
                        (void) sd_bus_reply_method_return(pc->message, "u", clamp_u32((int64_t) n));
        }
        pending_free(pc);
}

static void on_weight_authorized(AuthResult result, void *userdata) {
        PendingCall *pc = userdata;

        if (authorized(pc, result, "Not authorized to change the jobserver")) {
                if (client_set_weight(pc->bus->server, (pid_t) pc->pid, pc->weight) < 0)
                        (void) sd_bus_reply_method_errorf(pc->message, ERROR_NO_SUCH_PROCESS,
                                                          "No process %" PRIu32 " is known to the jobserver", pc->pid);
                else
                        (void) sd_bus_reply_method_return(pc->message, NULL);
        }
        pending_free(pc);
}

static void on_reexecute_authorized(AuthResult result, void *userdata) {
        PendingCall *pc = userdata;

        if (authorized(pc, result, "Not authorized to manage the jobserver")) {
                /* Answered first: the re-exec runs after this iteration, once
                 * the reply is flushed (main.c). */
                log_notice("uid %u asked steve to re-execute itself over D-Bus", (unsigned) pc->subject.uid);
                (void) sd_bus_reply_method_return(pc->message, NULL);
                server_reexec(pc->bus->server);
        }
        pending_free(pc);
}

/* Reads a Set's variant into the candidate parameters. */
static int read_property_value(sd_bus_message *m, const ParamInfo *info, Params *p, sd_bus_error *error) {
        char range[128];
        IoctlValue v;
        int r;

        r = bus_read_param(m, info, &v);
        if (r == -ENXIO)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s takes a value of type '%s'",
                                         info->bus_name, param_signature(info));
        if (r < 0 && r != -EINVAL)
                return r;
        if (r < 0 || !param_set(p, info, &v)) {
                param_describe(info, range, sizeof range);
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s must be %s", info->bus_name, range);
        }
        return 0;
}

int bus_handle_set(Bus *b, sd_bus_message *m, const ParamInfo *info, sd_bus_error *error) {
        Params candidate = *server_params(b->server);
        const char *invalid;
        PendingCall *pc;
        int r;

        /* Nonsense is refused before anyone is asked. */
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
        return start(b, m, CALL_SET, pc);
}

int bus_method_reclaim_tokens(sd_bus_message *m, void *userdata, sd_bus_error *error) {
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
        return start(userdata, m, CALL_RECLAIM, pc);
}

int bus_method_set_weight(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        PendingCall *pc;
        uint32_t pid, weight;
        int r;

        r = sd_bus_message_read(m, "uu", &pid, &weight);
        if (r < 0)
                return r;
        if (pid == 0 || pid > INT32_MAX)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid pid %" PRIu32, pid);
        if (weight == 0 || weight > LEDGER_WEIGHT_MAX)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "A weight is from 1 to %u, not %" PRIu32,
                                         LEDGER_WEIGHT_MAX, weight);
        pc = calloc(1, sizeof *pc);
        if (!pc)
                return -ENOMEM;
        pc->pid = pid;
        pc->weight = weight;
        return start(userdata, m, CALL_WEIGHT, pc);
}

int bus_method_reexecute(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        PendingCall *pc = calloc(1, sizeof *pc);

        if (!pc)
                return -ENOMEM;
        return start(userdata, m, CALL_REEXECUTE, pc);
}

static int list(sd_bus_message *m, Bus *b, CallKind kind) {
        PendingCall *pc = calloc(1, sizeof *pc);

        if (!pc)
                return -ENOMEM;
        return start(b, m, kind, pc);
}

int bus_method_get_holders(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return list(m, userdata, CALL_HOLDERS);
}

int bus_method_get_waiters(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return list(m, userdata, CALL_WAITERS);
}

int bus_method_get_processes(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return list(m, userdata, CALL_PROCESSES);
}

int bus_method_get_builds(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return list(m, userdata, CALL_BUILDS);
}

/* Numbers only: anyone may read them, at once. */
int bus_method_get_history(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ HistoryPoint *points = calloc(HISTORY_POINTS, sizeof *points);
        size_t n;
        int r;

        if (!points)
                return -ENOMEM;
        n = monitor_history(b->server, points, HISTORY_POINTS);
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(tuu)");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append(reply, "(tuu)", points[i].at, points[i].held, points[i].waiting);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r < 0 ? r : sd_bus_send(NULL, reply, NULL);
}
