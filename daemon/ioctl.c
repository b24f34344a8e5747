/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ioctl door (include/steve/steve-ioctl.h): FIONREAD, the version, the
 * free tokens and every parameter's getter, open to anyone who can open the
 * node; the setters, answered once auth.c has decided.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "steve/steve-ioctl.h"

#include "clients.h"
#include "ioctl.h"
#include "kept.h"
#include "log.h"
#include "sysload.h"
#include "throttle.h"

/* An ioctl setter waiting for its authorization. */
typedef struct PendingSet {
        Server *server;
        fuse_req_t req;
        unsigned cmd;
        IoctlValue value;
        pid_t pid;
        AuthRequest *auth;
        KeptRequest kept;                       /* a next steve asks again */
        TAILQ_ENTRY(PendingSet) link;
} PendingSet;

struct Ioctls {
        TAILQ_HEAD(, PendingSet) pending_sets;
};

void ioctl_sizes(unsigned cmd, size_t *in, size_t *out) {
        size_t size = _IOC_SIZE(cmd);

        if (cmd == FIONREAD) {
                *in = 0;
                *out = sizeof(int);
                return;
        }
        *in = (_IOC_DIR(cmd) & _IOC_WRITE) ? size : 0;
        *out = (_IOC_DIR(cmd) & _IOC_READ) ? size : 0;
}

/* CUSE passes unrestricted ioctls without data at first: ask the kernel to
 * retry with the buffers the number implies. false when the request is done. */
static bool ioctl_have_buffers(fuse_req_t req, unsigned cmd, void *arg, unsigned flags,
                               size_t in_bufsz, size_t out_bufsz) {
        struct iovec in_iov = { .iov_base = arg }, out_iov = { .iov_base = arg };
        size_t in, out;

        ioctl_sizes(cmd, &in, &out);
        if (in_bufsz >= in && out_bufsz >= out)
                return true;
        if (!(flags & FUSE_IOCTL_UNRESTRICTED)) {
                (void) fuse_reply_err(req, EINVAL);
                return false;
        }
        in_iov.iov_len = in;
        out_iov.iov_len = out;
        (void) fuse_reply_ioctl_retry(req, in ? &in_iov : NULL, in ? 1 : 0, out ? &out_iov : NULL, out ? 1 : 0);
        return false;
}

static bool ioctl_get(const Server *s, unsigned cmd, IoctlValue *v) {
        const ParamInfo *info = param_by_ioctl_get(cmd);
        LedgerStats st;

        if (info)
                param_get(&s->params, info, v);
        else if (cmd == STEVE_IOC_GET_VERSION)
                v->u32 = STEVE_IOCTL_VERSION;
        else if (cmd == STEVE_IOC_GET_TOKENS) {
                ledger_stats(s->ledger, &st);
                v->i64 = st.available;
        } else
                return false;
        return true;
}

/* Applies v to the parameters as they are now; an errno for the caller. */
static int ioctl_commit(Server *s, unsigned cmd, const IoctlValue *v, pid_t pid) {
        Params p = s->params;
        const char *error = NULL;

        if (!params_apply_ioctl(cmd, v, &p) || server_set_params(s, &p, &error) < 0) {
                log_info("pid %d: ioctl 0x%x refused: %s", (int) pid, cmd, error ? error : "invalid value");
                return EINVAL;
        }
        log_info("pid %d changed parameters with ioctl 0x%x", (int) pid, cmd);
        return 0;
}

static int ioctl_reexecute(Server *s, pid_t pid) {
        log_notice("pid %d asked steve to re-execute itself", (int) pid);
        server_reexec(s);
        return 0;
}

_Static_assert(STEVE_WEIGHT_MAX == LEDGER_WEIGHT_MAX, "the ABI's weight bound is the ledger's");
_Static_assert(sizeof(struct steve_weight) <= sizeof(IoctlValue), "a weight travels in an IoctlValue");

/* A struct steve_weight travels in an IoctlValue's 8 bytes. */
static struct steve_weight weight_of(const IoctlValue *v) {
        struct steve_weight w;

        memcpy(&w, v, sizeof w);
        return w;
}

static int ioctl_commit_weight(Server *s, const IoctlValue *v, pid_t pid) {
        struct steve_weight w = weight_of(v);
        int r = client_set_weight(s, w.pid, w.weight);

        if (r < 0)
                log_info("pid %d: weight %" PRIu32 " for pid %d refused: %s", (int) pid, w.weight, (int) w.pid,
                         strerror(-r));
        return -r;
}

static int ioctl_apply(Server *s, unsigned cmd, const IoctlValue *v, pid_t pid) {
        if (cmd == STEVE_IOC_REEXECUTE)
                return ioctl_reexecute(s, pid);
        if (cmd == STEVE_IOC_SET_WEIGHT)
                return ioctl_commit_weight(s, v, pid);
        return ioctl_commit(s, cmd, v, pid);
}

static void on_set_authorized(AuthResult result, void *userdata) {
        PendingSet *ps = userdata;
        Server *s = ps->server;
        int error = EPERM;

        if (result == AUTH_ALLOWED)
                error = ioctl_apply(s, ps->cmd, &ps->value, ps->pid);
        TAILQ_REMOVE(&s->ioctls->pending_sets, ps, link);
        if (error)
                (void) fuse_reply_err(ps->req, error);
        else
                (void) fuse_reply_ioctl(ps->req, 0, NULL, 0);
        kept_forget(s, &ps->kept);
        free(ps);
        server_changed(s);
}

/* A setter's value is checked; true when it may go on to be authorized. */
static bool ioctl_set_valid(const Server *s, unsigned cmd, const IoctlValue *v, AuthAction *ret_action) {
        const ParamInfo *info = param_by_ioctl_set(cmd);
        Params p = s->params;

        if (cmd == STEVE_IOC_REEXECUTE) {
                *ret_action = AUTH_MANAGE;
                return v->u64 == 0;
        }
        if (cmd == STEVE_IOC_SET_WEIGHT) {
                *ret_action = AUTH_CONFIGURE;
                return weight_of(v).weight >= 1 && weight_of(v).weight <= LEDGER_WEIGHT_MAX;
        }
        *ret_action = info && param_needs_manage(info, v) ? AUTH_MANAGE : AUTH_CONFIGURE;
        return param_set(&p, info, v) && !params_invalid(&p) && !sysload_unsupported(s->proc, &p);
}

/* pid 0 is the caller's own process. Like nice, anyone may weigh their own
 * build less than their nice value says; 0 when that is done, 1 when it
 * needs authorization, or a negative errno. */
static int ioctl_own_weight(Server *s, fuse_req_t req, IoctlValue *v) {
        const struct fuse_ctx *ctx = fuse_req_ctx(req);
        struct steve_weight w = weight_of(v);
        pid_t caller;
        Client *c;
        int r;

        if (w.pid < 0)
                return -EINVAL;
        if (w.pid == 0) {
                r = client_get(s, ctx->pid, ctx->uid, &c);
                if (r < 0)
                        return r;
                w.pid = c->pid;
                memcpy(v, &w, sizeof w);
        } else if (!(c = client_find(s, w.pid)))
                return -ESRCH;
        if (client_process_of(s, ctx->pid, &caller) < 0 || caller != c->pid ||
            w.weight > ledger_weight_of_nice(c->stat.nice))
                return 1;
        return -ioctl_commit_weight(s, v, c->pid);
}

static void ioctl_set(Server *s, fuse_req_t req, unsigned cmd, const void *in_buf, size_t in_bufsz) {
        const struct fuse_ctx *ctx = fuse_req_ctx(req);
        PendingSet *ps;
        IoctlValue v = { .u64 = 0 };
        AuthSubject subject = { .uid = ctx->uid, .pid = ctx->pid };
        AuthAction action;
        pid_t tgid;
        int r;

        if (cmd != STEVE_IOC_REEXECUTE && cmd != STEVE_IOC_SET_WEIGHT && !param_by_ioctl_set(cmd)) {
                (void) fuse_reply_err(req, ENOTTY);
                return;
        }
        memcpy(&v, in_buf, in_bufsz < sizeof v ? in_bufsz : sizeof v);
        /* Nonsense is refused before anyone is asked. */
        if (!ioctl_set_valid(s, cmd, &v, &action)) {
                (void) fuse_reply_err(req, EINVAL);
                return;
        }
        if (cmd == STEVE_IOC_SET_WEIGHT) {
                r = ioctl_own_weight(s, req, &v);
                if (r == 0)
                        (void) fuse_reply_ioctl(req, 0, NULL, 0);
                else if (r < 0)
                        (void) fuse_reply_err(req, -r);
                if (r <= 0)
                        return;
        }
        /* A caller from a pid namespace steve cannot see into has no pid here:
         * polkit cannot be asked about it, so only root may. */
        if (ctx->pid <= 0 && ctx->uid != 0) {
                (void) fuse_reply_err(req, EPERM);
                return;
        }
        if (client_process_of(s, ctx->pid, &tgid) >= 0)
                subject.pid = tgid;
        ps = calloc(1, sizeof *ps);
        if (!ps) {
                (void) fuse_reply_err(req, ENOMEM);
                return;
        }
        *ps = (PendingSet) { .server = s, .req = req, .cmd = cmd, .value = v, .pid = subject.pid };
        TAILQ_INSERT_TAIL(&s->ioctls->pending_sets, ps, link);
        if (kept_keep_current(s, &ps->kept) < 0)
                log_warning("pid %d: an ioctl waiting for polkit is not recorded", (int) subject.pid);
        r = auth_check(s->auth, action, &subject, false, on_set_authorized, ps, &ps->auth);
        if (r < 0) {
                TAILQ_REMOVE(&s->ioctls->pending_sets, ps, link);
                kept_forget(s, &ps->kept);
                free(ps);
                (void) fuse_reply_err(req, -r);
        }
}

/* Every setter still waiting for its authorization is answered with EIO.
 * Handing over, the answer goes nowhere and the request stays recorded: the
 * next steve reads it again and asks again (persist.c). */
static void on_stopping(void *userdata) {
        Server *s = userdata;
        PendingSet *ps;

        while ((ps = TAILQ_FIRST(&s->ioctls->pending_sets))) {
                TAILQ_REMOVE(&s->ioctls->pending_sets, ps, link);
                auth_cancel(ps->auth);
                (void) fuse_reply_err(ps->req, EIO);
                kept_forget(s, &ps->kept);
                free(ps);
        }
}

static const ServerObserver ioctl_observer = {
        .stopping = on_stopping,
};

int ioctl_new(Server *s) {
        Ioctls *io = calloc(1, sizeof *io);

        if (!io)
                return -ENOMEM;
        TAILQ_INIT(&io->pending_sets);
        s->ioctls = io;
        return server_observe(s, &ioctl_observer, s);
}

void ioctl_free(Server *s) {
        if (s->ioctls) {
                on_stopping(s);
                free(s->ioctls);
                s->ioctls = NULL;
        }
}

static void ioctl_fionread(Server *s, fuse_req_t req) {
        uint64_t n;
        int value;
        Client *c;
        int r;

        r = client_get(s, fuse_req_ctx(req)->pid, fuse_req_ctx(req)->uid, &c);
        if (r < 0) {
                (void) fuse_reply_err(req, -r);
                return;
        }
        throttle_refresh(s, false);
        n = ledger_available_to(s->ledger, &c->ledger);
        value = n > INT_MAX ? INT_MAX : (int) n;
        (void) fuse_reply_ioctl(req, 0, &value, sizeof value);
}

void ioctl_request(Server *s, fuse_req_t req, unsigned int cmd, void *arg, struct fuse_file_info *fi,
                  unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz) {
        IoctlValue v = { .u64 = 0 };

        if (flags & FUSE_IOCTL_COMPAT) {
                (void) fuse_reply_err(req, ENOSYS);
                return;
        }
        if (cmd != FIONREAD && _IOC_TYPE(cmd) != STEVE_IOC_MAGIC) {
                (void) fuse_reply_err(req, ENOTTY);
                return;
        }
        if (!ioctl_have_buffers(req, cmd, arg, flags, in_bufsz, out_bufsz))
                return;

        if (cmd == FIONREAD)
                ioctl_fionread(s, req);
        else if (_IOC_DIR(cmd) == _IOC_READ && ioctl_get(s, cmd, &v))
                (void) fuse_reply_ioctl(req, 0, &v, _IOC_SIZE(cmd));
        else if (_IOC_DIR(cmd) == _IOC_WRITE)
                ioctl_set(s, req, cmd, in_buf, in_bufsz);
        else
                (void) fuse_reply_err(req, ENOTTY);
        server_changed(s);
}
