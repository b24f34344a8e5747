/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handover.h"
#include "persist.h"
#include "log.h"
#include "parse.h"
#include "util.h"

/* What a re-exec'ing steve tells the next one. */
#define ENV_CONNECTION "STEVE_HANDOVER_FD"      /* the kernel connection */
#define ENV_STATE "STEVE_HANDOVER_STATE_FD"     /* a memfd with the pool, without a state file */
#define ENV_KEEP "STEVE_HANDOVER_KEEP"          /* a socket unit keeps the connection too */
#define ENV_MOUNTED "STEVE_HANDOVER_MOUNTED"    /* the FUSE node is ours to unmount: 1, and to remove: 2 */

struct Handover {
        State *file;                    /* --state-file, journaled */
        State *passed;                  /* a re-exec's memfd, read once */
        int connection;
        bool keep;
        int mounted;                    /* 0, 1 or 2: ENV_MOUNTED */
};

static int env_fd(const char *name) {
        const char *value = getenv(name);
        uint32_t fd;

        if (!value || parse_whole(value, &fd) < 0 || fd > INT32_MAX || fcntl((int) fd, F_GETFD) < 0)
                return -1;
        return (int) fd;
}

static int refuse_state_file(const char *path, int r) {
        _cleanup_close_ int fd = -1;
        const char *why = NULL;

        if (r == -ELOOP)
                return log_error_errno(r, "Refusing the state file %s: it is a symbolic link, which steve does "
                                       "not follow", path);
        if (r == -EPERM && (fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC)) >= 0)
                why = state_refusal(fd);
        if (why)
                return log_error_errno(r, "Refusing the state file %s: %s. Keep it where only steve's user "
                                       "may write (the unit's /run/steve)", path, why);
        return log_error_errno(r, "Cannot open the state file %s: %m", path);
}

int handover_new(const char *state_file, Handover **ret) {
        Handover *h = calloc(1, sizeof *h);
        const char *mounted = getenv(ENV_MOUNTED);
        int fd, r;

        if (!h)
                return -ENOMEM;
        h->connection = env_fd(ENV_CONNECTION);
        h->keep = getenv(ENV_KEEP) != NULL;
        h->mounted = mounted ? atoi(mounted) : 0;
        fd = env_fd(ENV_STATE);
        /* Not for our children. */
        unsetenv(ENV_CONNECTION);
        unsetenv(ENV_STATE);
        unsetenv(ENV_KEEP);
        unsetenv(ENV_MOUNTED);
        if (h->connection >= 0)
                (void) fcntl(h->connection, F_SETFD, FD_CLOEXEC);
        if (fd >= 0) {
                (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
                r = state_open_fd(fd, &h->passed);
                if (r < 0) {
                        close(fd);
                        log_warning_errno(r, "The state the previous steve passed cannot be read: %m");
                }
        }
        if (state_file) {
                r = state_open(state_file, &h->file);
                if (r < 0) {
                        handover_free(h);
                        return refuse_state_file(state_file, r);
                }
        }
        *ret = h;
        return 0;
}

Handover *handover_free(Handover *h) {
        if (h) {
                state_close(h->file);
                state_close(h->passed);
                free(h);
        }
        return NULL;
}

int handover_passed_fd(const Handover *h) {
        return h->connection;
}

bool handover_keeps(const Handover *h) {
        /* Nothing to find the pool in, nothing to keep it for. */
        return h->keep && h->file;
}

void handover_set_keep(Handover *h, bool keep) {
        h->keep = h->keep || keep;
}

int handover_begin(Handover *h, Server *s) {
        int r = 0;

        if (h->file)
                r = state_reset(h->file);
        if (r < 0)
                return log_error_errno(r, "Cannot write the state file: %m");
        persist_set_state(s, h->file);
        return 0;
}

int handover_adopt(Handover *h, Server *s, Transport *t, bool *ret_adopted) {
        /* A re-exec's memfd is newer than any file: it was written last. */
        State *from = h->passed ?: h->file;
        int r;

        /* Without either, only a fresh connection can be served. */
        r = transport_adopt(t, from, h->file ? state_landing(h->file) : NULL, ret_adopted);
        if (r < 0)
                return r;
        if (!*ret_adopted)
                return handover_begin(h, s);
        if (h->mounted > 0)
                transport_set_mounted(t, h->mounted > 1);
        /* The file is journaled from here on, so adoption's changes go in. */
        persist_set_state(s, h->file);
        r = persist_adopt(s, from);
        if (r < 0)
                return log_error_errno(r, "Cannot adopt the previous steve's pool: %m");
        persist_resend_committed(s, from);
        h->passed = state_close(h->passed);
        log_notice("adopted the connection and the pool of the steve before");
        return 0;
}

static int clear_cloexec(int fd) {
        int flags = fcntl(fd, F_GETFD);

        return flags < 0 || fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) < 0 ? -errno : 0;
}

static void set_env_fd(const char *name, int fd) {
        char value[16];

        snprintf(value, sizeof value, "%d", fd);
        setenv(name, value, 1);
}

int handover_reexec(Handover *h, Server *s, Transport *t, const char *exe, char **argv) {
        State *snapshot = NULL;
        int connection = transport_fd(t), r;
        bool created;

        server_prepare_reexec(s);
        /* With a state file, it is current: every iteration commits. */
        if (!h->file) {
                r = state_open_anonymous(&snapshot);
                if (r >= 0)
                        r = persist_snapshot(s, snapshot);
                if (r < 0) {
                        state_close(snapshot);
                        return log_error_errno(r, "Cannot write down the pool for a re-exec: %m");
                }
        }
        r = clear_cloexec(connection);
        if (r >= 0 && snapshot)
                r = clear_cloexec(state_fd(snapshot));
        if (r < 0) {
                state_close(snapshot);
                return log_error_errno(r, "Cannot pass the connection on: %m");
        }
        set_env_fd(ENV_CONNECTION, connection);
        if (snapshot)
                set_env_fd(ENV_STATE, state_fd(snapshot));
        if (h->keep)
                setenv(ENV_KEEP, "1", 1);
        if (transport_mounted(t, &created))
                setenv(ENV_MOUNTED, created ? "2" : "1", 1);
        log_notice("re-executing %s; the connection and the pool go with it", exe);
        execv(exe, argv);
        r = -errno;

        unsetenv(ENV_CONNECTION);
        unsetenv(ENV_STATE);
        unsetenv(ENV_KEEP);
        unsetenv(ENV_MOUNTED);
        (void) fcntl(connection, F_SETFD, FD_CLOEXEC);
        state_close(snapshot);
        return log_error_errno(r, "Cannot re-execute %s (%m); carrying on as before", exe);
}
