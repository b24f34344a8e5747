/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <cuse_lowlevel.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fuse.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>

#include "ioctl.h"
#include "log.h"
#include "persist.h"
#include "requests.h"
#include "transport.h"
#include "util.h"

/* A request to hand libfuse before any the kernel has: at adoption, the
 * connection's INIT and the requests the previous steve had yet to answer. */
typedef struct Injected {
        uint8_t *raw;
        size_t len;
        int64_t state_index;            /* its record in the state file, -1: none */
        TAILQ_ENTRY(Injected) link;
} Injected;

/* What libfuse asks for: the most a request can be. */
#define REQUEST_BUFFER_SIZE STATE_LANDING_SIZE

struct Transport {
        Server *server;
        struct fuse_session *session;
        sd_event_source *io_source, *inject_source;
        struct fuse_buf buf;
        TransportReady ready;
        void *userdata;
        char *where;
        bool cuse;

        TAILQ_HEAD(, Injected) injected;
        uint64_t swallow_unique;        /* the replayed INIT's reply goes nowhere */
        bool init_seen, identity_noted;

        /* FUSE only */
        FuseNode node;
        struct timespec created;
        bool mounted, created_node, mount_inherited;
        uid_t mounted_by;
        uint64_t open_unique;           /* the FUSE_OPEN being answered */
};

static int handle_one(Transport *t, sd_event_source *source) {
        int r;

        r = fuse_session_receive_buf(t->session, &t->buf);
        if (r == -EINTR || r == -EAGAIN)
                return 0;
        if (r > 0)
                fuse_session_process_buf(t->session, &t->buf);
        else if (r < 0)
                log_error_errno(r, "Failed to read from the kernel: %m");
        persist_request_done(t->server);
        if (r <= 0 || fuse_session_exited(t->session)) {
                log_error("%s is gone, exiting", t->where);
                return sd_event_exit(sd_event_source_get_event(source), 1);
        }
        return 0;
}

static int on_session_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        /* One request per wakeup: the loop then sees client exits (higher
         * priority) before any request that arrived after them. */
        return handle_one(userdata, source);
}

static int on_inject(sd_event_source *source, void *userdata) {
        Transport *t = userdata;

        if (TAILQ_EMPTY(&t->injected))
                return sd_event_source_set_enabled(source, SD_EVENT_OFF);
        return handle_one(t, source);
}

static void inject(Transport *t, const void *raw, size_t len, int64_t state_index) {
        Injected *i = calloc(1, sizeof *i);

        if (!i || !(i->raw = malloc(len))) {
                free(i);
                log_error("Out of memory: a request of the previous steve is lost");
                return;
        }
        memcpy(i->raw, raw, len);
        i->len = len;
        i->state_index = state_index;
        TAILQ_INSERT_TAIL(&t->injected, i, link);
        (void) sd_event_source_set_enabled(t->inject_source, SD_EVENT_ON);
}

/* mountinfo escapes blanks and backslashes in paths as \ooo. */
static bool mount_point_is(const char *field, const char *path) {
        for (; *field && *path; path++) {
                if (field[0] == '\\' && field[1] >= '0' && field[1] <= '3' && field[2] && field[3]) {
                        if ((char) strtol((char[]) { field[1], field[2], field[3], 0 }, NULL, 8) != *path)
                                return false;
                        field += 4;
                } else if (*field++ != *path)
                        return false;
        }
        return !*field && !*path;
}

/* What tells this connection from any other while it exists: the device
 * number of /dev/NAME, or of the FUSE mount (from mountinfo: a stat would
 * ask steve itself). 0 when unknown. */
static uint64_t transport_identity(const Transport *t) {
        FILE *f;
        char *line = NULL;
        size_t size = 0;
        uint64_t id = 0;
        struct stat st;

        if (t->cuse)
                return stat(t->where, &st) == 0 && S_ISCHR(st.st_mode) ? (uint64_t) st.st_rdev : 0;
        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return 0;
        while (getline(&line, &size, f) > 0) {
                unsigned major, minor;
                char point[PATH_MAX];

                /* ID PARENT MAJOR:MINOR ROOT POINT ...; the last one mounted there wins */
                if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &major, &minor, point) == 3 &&
                    mount_point_is(point, t->where))
                        id = makedev(major, minor);
        }
        free(line);
        fclose(f);
        return id;
}

/* Every request passes here as read, every reply as written. libfuse 3.14
 * has no other way to hand it requests of its own or to hold replies back. */
static ssize_t io_read(int fd, void *buf, size_t len, void *userdata) {
        Transport *t = userdata;
        Injected *i = TAILQ_FIRST(&t->injected);
        const struct fuse_in_header *in = buf;
        ssize_t n;

        if (i) {
                /* A write kept cut short: its payload is only counted, zeros will do. */
                size_t want = i->len >= sizeof *in ? ((const struct fuse_in_header *) i->raw)->len : i->len;

                n = (ssize_t) (want > len ? len : want);
                memset(buf, 0, (size_t) n);
                memcpy(buf, i->raw, i->len < (size_t) n ? i->len : (size_t) n);
        } else {
                uint8_t *landing = persist_landing(t->server, len);

                n = read(fd, landing ?: buf, len);
                if (landing && n > 0)
                        memcpy(buf, landing, (size_t) n);
        }
        if (n < (ssize_t) sizeof *in)
                return n;
        if (!t->init_seen && (in->opcode == FUSE_INIT || in->opcode == CUSE_INIT)) {
                t->init_seen = true;
                persist_note_init(t->server, buf, (size_t) n);
        }
        if (in->opcode == FUSE_OPEN) {
                t->open_unique = in->unique;
                /* Someone opened the node: it exists, and tells the connection apart. */
                if (!t->identity_noted)
                        t->identity_noted = persist_note_connection(t->server, transport_identity(t));
        }
        persist_request_read(t->server, buf, (size_t) n);
        if (i) {
                persist_request_replaces(t->server, i->state_index);
                TAILQ_REMOVE(&t->injected, i, link);
                free(i->raw);
                free(i);
        }
        return n;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata) {
        Transport *t = userdata;
        const struct fuse_out_header *out = iov[0].iov_base;
        ssize_t total = 0;

        for (int k = 0; k < count; k++)
                total += (ssize_t) iov[k].iov_len;
        /* libfuse 3.14 has no way to ask for FOPEN_STREAM: set on open replies
         * on their way out (see fuse_session_setup()). */
        if (!t->cuse && t->open_unique != 0 && count == 2 && iov[0].iov_len == sizeof *out &&
            out->unique == t->open_unique && out->error == 0 &&
            iov[1].iov_len == sizeof(struct fuse_open_out)) {
                ((struct fuse_open_out *) iov[1].iov_base)->open_flags |= FOPEN_STREAM;
                t->open_unique = 0;
        }
        /* The kernel had that INIT answered by the steve before. */
        if (t->swallow_unique != 0 && out->unique == t->swallow_unique) {
                t->swallow_unique = 0;
                return total;
        }
        if (persist_reply(t->server, iov, count))
                return total;
        return writev(fd, iov, count);
}

static const struct fuse_custom_io transport_io = {
        .read = io_read,
        .writev = io_writev,
};

/* What the server sends once its transaction is committed. */
static int send_message(const void *message, size_t len, void *userdata) {
        Transport *t = userdata;
        struct fuse_out_header out;

        if (write(fuse_session_fd(t->session), message, len) >= 0)
                return 0;
        /* A request answered before a crash, or one whose caller gave up. */
        if (errno == ENOENT)
                return 0;
        /* Journaled replies lie end to end: a header may be unaligned. */
        memcpy(&out, message, sizeof out);
        return log_debug_errno(errno, "Reply to request %" PRIu64 " not delivered: %m", out.unique);
}

static int transport_attach(Transport *t, sd_event *event) {
        int fd = fuse_session_fd(t->session);
        int r;

        if (fuse_session_custom_io(t->session, &transport_io, fd) < 0)
                return log_error_errno(ENOMEM, "Failed to set up the session's I/O");
        persist_set_sender(t->server, send_message, t);
        r = sd_event_add_defer(event, &t->inject_source, on_inject, t);
        if (r >= 0)
                r = sd_event_source_set_enabled(t->inject_source, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the session: %m");
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
                return log_error_errno(errno, "Failed to make the session non-blocking: %m");
        r = sd_event_add_io(event, &t->io_source, fd, EPOLLIN, on_session_io, t);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the session: %m");
        return 0;
}

/* CUSE: one request table, the server does the work. */

#define SERVER(req) (((Transport *) fuse_req_userdata(req))->server)

static void cuse_init_done(void *userdata) {
        Transport *t = userdata;
        t->ready(t->where, t->userdata);
}

static void cuse_open(fuse_req_t req, struct fuse_file_info *fi) {
        requests_open(SERVER(req), req, fi);
}

static void cuse_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi) {
        requests_read(SERVER(req), req, size, fi);
}

static void cuse_write(fuse_req_t req, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
        requests_write(SERVER(req), req, size, fi);
}

static void cuse_release(fuse_req_t req, struct fuse_file_info *fi) {
        requests_release(SERVER(req), req, fi);
}

static void cuse_poll(fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph) {
        requests_poll(SERVER(req), req, fi, ph);
}

static void cuse_ioctl(fuse_req_t req, int cmd, void *arg, struct fuse_file_info *fi, unsigned flags,
                       const void *in_buf, size_t in_bufsz, size_t out_bufsz) {
        ioctl_request(SERVER(req), req, (unsigned) cmd, arg, fi, flags, in_buf, in_bufsz, out_bufsz);
}

static const struct cuse_lowlevel_ops cuse_ops = {
        .init_done = cuse_init_done,
        .open = cuse_open,
        .read = cuse_read,
        .write = cuse_write,
        .release = cuse_release,
        .poll = cuse_poll,
        .ioctl = cuse_ioctl,
};

/* libfuse takes an already open /dev/cuse or mounted /dev/fuse as "/dev/fd/N". */
static int session_mount_fd(struct fuse_session *session, int fd) {
        char fd_path[32];

        snprintf(fd_path, sizeof fd_path, "/dev/fd/%d", fd);
        return fuse_session_mount(session, fd_path);
}

static Transport *transport_alloc(Server *server, TransportReady ready, void *userdata) {
        Transport *t = calloc(1, sizeof *t);
        if (t) {
                t->server = server;
                t->ready = ready;
                t->userdata = userdata;
                TAILQ_INIT(&t->injected);
        }
        return t;
}

int transport_new_cuse(sd_event *event, Server *server, const char *dev_name, int device_fd,
                       TransportReady ready, void *userdata, Transport **ret) {
        char *argv[] = { (char *) "steve", NULL };
        struct fuse_args args = FUSE_ARGS_INIT(1, argv);
        _cleanup_free_ char *devname_arg = NULL;
        const char *dev_info[1];
        struct cuse_info ci = {};
        Transport *t;
        int fd, r;

        t = transport_alloc(server, ready, userdata);
        if (t)
                t->cuse = true;
        if (!t || asprintf(&t->where, "/dev/%s", dev_name) < 0 ||
            asprintf(&devname_arg, "DEVNAME=%s", dev_name) < 0) {
                transport_free(t);
                return log_error_errno(ENOMEM, "Out of memory");
        }
        dev_info[0] = devname_arg;
        ci.dev_info_argc = 1;
        ci.dev_info_argv = dev_info;
        /* FIONREAD's number carries no size; only unrestricted ioctls can answer it. */
        ci.flags = CUSE_UNRESTRICTED_IOCTL;

        fd = device_fd >= 0 ? device_fd : open("/dev/cuse", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                r = log_error_errno(errno, "Cannot open /dev/cuse: %m%s",
                                    errno == ENOENT ? " (no CUSE in this kernel? try 'modprobe cuse', or --path)" : "");
                transport_free(t);
                return r;
        }
        t->session = cuse_lowlevel_new(&args, &ci, &cuse_ops, t);
        fuse_opt_free_args(&args);
        /* The session owns fd from here. */
        if (!t->session || session_mount_fd(t->session, fd) < 0) {
                close(fd);
                transport_free(t);
                return log_error_errno(EIO, "Failed to set up the CUSE session");
        }
        r = transport_attach(t, event);
        if (r < 0) {
                transport_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

/* FUSE: a file system whose root is the one regular file clients open. */

static void node_attr(const Transport *t, struct stat *st) {
        *st = (struct stat) {
                .st_ino = FUSE_ROOT_ID,
                .st_mode = S_IFREG | t->node.mode,
                .st_nlink = 1,
                .st_uid = t->node.uid,
                .st_gid = t->node.gid,
                .st_atim = t->created,
                .st_mtim = t->created,
                .st_ctim = t->created,
        };
}

static void fuse_init(void *userdata, struct fuse_conn_info *conn) {
        Transport *t = userdata;
        t->ready(t->where, t->userdata);
}

static void fuse_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        Transport *t = fuse_req_userdata(req);
        struct stat st;

        node_attr(t, &st);
        (void) fuse_reply_attr(req, &st, 60.0);
}

static void fuse_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                         struct fuse_file_info *fi) {
        /* Opening with O_TRUNC (a shell's ">") truncates; that is harmless.
         * Owner and mode come from the command line only. */
        if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
                (void) fuse_reply_err(req, EPERM);
                return;
        }
        fuse_getattr(req, ino, fi);
}

static void fuse_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        requests_open(SERVER(req), req, fi);
}

static void fuse_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
        requests_read(SERVER(req), req, size, fi);
}

static void fuse_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                       struct fuse_file_info *fi) {
        requests_write(SERVER(req), req, size, fi);
}

static void fuse_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        requests_release(SERVER(req), req, fi);
}

static void fuse_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct fuse_pollhandle *ph) {
        requests_poll(SERVER(req), req, fi, ph);
}

static void fuse_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg, struct fuse_file_info *fi,
                       unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz) {
        ioctl_request(SERVER(req), req, cmd, arg, fi, flags, in_buf, in_bufsz, out_bufsz);
}

static const struct fuse_lowlevel_ops fuse_ops = {
        .init = fuse_init,
        .getattr = fuse_getattr,
        .setattr = fuse_setattr,
        .open = fuse_open,
        .read = fuse_read,
        .write = fuse_write,
        .release = fuse_release,
        .poll = fuse_poll,
        .ioctl = fuse_ioctl,
};

/*
 * libfuse 3.14 has no way to ask for FOPEN_STREAM, which a FUSE node needs to
 * act like a device: without it the kernel keeps a file position for the
 * regular file (so its own FIONREAD answers "size - position", a negative
 * number) and serialises threads sharing one fd on f_pos_lock, so a blocked
 * read would hold up a write on the same fd. io_writev() sets the flag on
 * open replies on their way out; opens are answered at once, so remembering
 * one suffices.
 */

/* The mount point must be a regular file: FUSE gives the root the mount point's type. */
static int prepare_node(Transport *t) {
        struct stat st;
        int fd;

        if (lstat(t->node.path, &st) >= 0) {
                if (!S_ISREG(st.st_mode))
                        return log_error_errno(EINVAL, "%s exists and is not a regular file", t->node.path);
                return 0;
        }
        if (errno != ENOENT)
                return log_error_errno(errno, "Cannot use %s: %m", t->node.path);
        fd = open(t->node.path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0)
                return log_error_errno(errno, "Cannot create %s: %m", t->node.path);
        close(fd);
        t->created_node = true;
        return 0;
}

static int fuse_session_setup(Transport *t) {
        /* fusermount3's auto_unmount removes the mount even if steve is killed;
         * allow_other needs root (or user_allow_other in /etc/fuse.conf). */
        bool root = geteuid() == 0;
        char *argv[] = {
                (char *) "steve", (char *) "-o",
                root ? (char *) "default_permissions,allow_other,auto_unmount,fsname=steve,subtype=steve"
                     : (char *) "default_permissions,auto_unmount,fsname=steve,subtype=steve",
                NULL,
        };
        struct fuse_args args = FUSE_ARGS_INIT(3, argv);

        t->session = fuse_session_new(&args, &fuse_ops, sizeof fuse_ops, t);
        fuse_opt_free_args(&args);
        if (!t->session)
                return log_error_errno(EINVAL, "Failed to create the FUSE session");
        if (t->node.fd >= 0) {
                /* Someone else mounted it (socket activation): steve neither mounts nor unmounts. */
                if (session_mount_fd(t->session, t->node.fd) < 0)
                        return log_error_errno(EIO, "Failed to take over the FUSE mount at %s", t->node.path);
        } else {
                if (fuse_session_mount(t->session, t->node.path) < 0)
                        return log_error_errno(EIO, "Failed to mount the jobserver at %s", t->node.path);
                t->mounted = true;
                t->mounted_by = geteuid();
        }
        return 0;
}

int transport_new_fuse(sd_event *event, Server *server, const FuseNode *node,
                       TransportReady ready, void *userdata, Transport **ret) {
        Transport *t;
        int r;

        t = transport_alloc(server, ready, userdata);
        if (!t || !(t->where = realpath(node->path, NULL) ?: strdup(node->path))) {
                transport_free(t);
                return log_error_errno(ENOMEM, "Out of memory");
        }
        t->node = *node;
        t->node.path = t->where;
        clock_gettime(CLOCK_REALTIME, &t->created);

        r = node->fd >= 0 ? 0 : prepare_node(t);
        if (r >= 0)
                r = fuse_session_setup(t);
        if (r >= 0)
                r = transport_attach(t, event);
        if (r < 0) {
                transport_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

const char *transport_where(const Transport *t) {
        return t->where;
}

Transport *transport_free(Transport *t) {
        Injected *i;

        if (!t)
                return NULL;
        while ((i = TAILQ_FIRST(&t->injected))) {
                TAILQ_REMOVE(&t->injected, i, link);
                free(i->raw);
                free(i);
        }
        sd_event_source_disable_unref(t->inject_source);
        sd_event_source_disable_unref(t->io_source);
        if (t->session) {
                /* After dropping root this cannot unmount: fusermount3's auto_unmount
                 * does once the session fd is closed, and the node stays. */
                if (t->mounted && (geteuid() != t->mounted_by || (t->mount_inherited && geteuid() != 0)))
                        t->created_node = false;
                if (t->mounted && t->mount_inherited) {
                        /* libfuse knows only the fd: fusermount3's helper, whose
                         * socket the re-exec kept, unmounts when steve exits;
                         * root need not wait for that to remove the node. */
                        if (geteuid() == 0 && umount2(t->where, MNT_DETACH) < 0)
                                log_warning_errno(errno, "Failed to unmount %s: %m", t->where);
                } else if (t->mounted)
                        fuse_session_unmount(t->session);
                fuse_session_destroy(t->session);
        }
        if (t->created_node && unlink(t->node.path) < 0)
                log_warning_errno(errno, "Failed to remove %s: %m", t->node.path);
        free(t->buf.mem);
        free(t->where);
        free(t);
        return NULL;
}

static int inject_recorded(const void *raw, size_t len, uint32_t index, void *userdata) {
        Transport *t = userdata;
        struct fuse_in_header in;

        if (len >= sizeof in) {
                memcpy(&in, raw, sizeof in);
                log_debug("request %" PRIu64 " (opcode %" PRIu32 ") is read again", in.unique, in.opcode);
                inject(t, raw, len, index);
        }
        return 0;
}

int transport_adopt(Transport *t, const State *st, void *landing, bool *ret_adopted) {
        const StateGlobals *g = st ? state_globals(st) : NULL;
        _cleanup_free_ uint8_t *own = landing ? NULL : malloc(REQUEST_BUFFER_SIZE);
        uint8_t *first = landing ?: own;
        const struct fuse_in_header *in = (const void *) first;
        uint64_t id;
        ssize_t n;

        if (!first)
                return log_error_errno(ENOMEM, "Out of memory");
        /* A fresh connection always has its INIT waiting; one that was set up
         * before has anything else, or nothing. */
        n = read(fuse_session_fd(t->session), first, REQUEST_BUFFER_SIZE);
        if (n < 0 && errno != EAGAIN && errno != EINTR)
                return log_error_errno(errno, "Cannot read from the passed connection: %m");
        if (n >= (ssize_t) sizeof *in && (in->opcode == FUSE_INIT || in->opcode == CUSE_INIT)) {
                inject(t, first, (size_t) n, -1);
                *ret_adopted = false;
                return 0;
        }
        if (!st || !state_in_use(st) || g->init_len < sizeof *in)
                return log_error_errno(ENOENT, "The passed connection was set up by a steve whose state is "
                                       "gone; a fresh one is needed (systemctl restart steve.socket)");
        id = transport_identity(t);
        if (g->connection != 0 && id != 0 && id != g->connection)
                return log_error_errno(ESTALE, "The state file belongs to another connection than the one "
                                       "passed; a fresh one is needed (systemctl restart steve.socket)");
        t->identity_noted = g->connection != 0;
        /* Its INIT again, for libfuse; the kernel is not answered twice. */
        t->swallow_unique = ((const struct fuse_in_header *) g->init)->unique;
        inject(t, g->init, g->init_len, -1);
        (void) state_foreach_request(st, inject_recorded, t);
        if (n >= (ssize_t) sizeof *in)
                inject(t, first, (size_t) n, -1);
        *ret_adopted = true;
        return 0;
}

int transport_fd(const Transport *t) {
        return fuse_session_fd(t->session);
}

bool transport_mounted(const Transport *t, bool *ret_created) {
        *ret_created = t->created_node;
        return t->mounted;
}

void transport_set_mounted(Transport *t, bool created_node) {
        t->mounted = true;
        t->mount_inherited = true;
        t->mounted_by = geteuid();
        t->created_node = created_node;
}
