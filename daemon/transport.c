/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <cuse_lowlevel.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "log.h"
#include "requests.h"
#include "transport.h"
#include "util.h"

struct Transport {
        Server *server;
        struct fuse_session *session;
        sd_event_source *io_source;
        struct fuse_buf buf;
        TransportReady ready;
        void *userdata;
        char *where;

        /* FUSE only */
        FuseNode node;
        struct timespec created;
        bool mounted, created_node;
        uid_t mounted_by;
        uint64_t open_unique;           /* the FUSE_OPEN being answered */
};

static int on_session_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Transport *t = userdata;
        int r;

        /* One request per wakeup: the loop then sees client exits (higher
         * priority) before any request that arrived after them. */
        r = fuse_session_receive_buf(t->session, &t->buf);
        if (r == -EINTR || r == -EAGAIN)
                return 0;
        if (r > 0)
                fuse_session_process_buf(t->session, &t->buf);
        else if (r < 0)
                log_error_errno(r, "Failed to read from the kernel: %m");
        if (r <= 0 || fuse_session_exited(t->session)) {
                log_error("%s is gone, exiting", t->where);
                return sd_event_exit(sd_event_source_get_event(source), 1);
        }
        return 0;
}

static int transport_attach(Transport *t, sd_event *event) {
        int fd = fuse_session_fd(t->session);
        int r;

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
        server_open(SERVER(req), req, fi);
}

static void cuse_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi) {
        server_read(SERVER(req), req, size, fi);
}

static void cuse_write(fuse_req_t req, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
        server_write(SERVER(req), req, size, fi);
}

static void cuse_release(fuse_req_t req, struct fuse_file_info *fi) {
        server_release(SERVER(req), req, fi);
}

static void cuse_poll(fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph) {
        server_poll(SERVER(req), req, fi, ph);
}

static void cuse_ioctl(fuse_req_t req, int cmd, void *arg, struct fuse_file_info *fi, unsigned flags,
                       const void *in_buf, size_t in_bufsz, size_t out_bufsz) {
        server_ioctl(SERVER(req), req, (unsigned) cmd, arg, fi, flags, in_buf, in_bufsz, out_bufsz);
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
        server_open(SERVER(req), req, fi);
}

static void fuse_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
        server_read(SERVER(req), req, size, fi);
}

static void fuse_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                       struct fuse_file_info *fi) {
        server_write(SERVER(req), req, size, fi);
}

static void fuse_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        server_release(SERVER(req), req, fi);
}

static void fuse_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct fuse_pollhandle *ph) {
        server_poll(SERVER(req), req, fi, ph);
}

static void fuse_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg, struct fuse_file_info *fi,
                       unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz) {
        server_ioctl(SERVER(req), req, cmd, arg, fi, flags, in_buf, in_bufsz, out_bufsz);
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
 * read would hold up a write on the same fd. The flag is set on open replies
 * on their way out; opens are answered at once, so remembering one suffices.
 */
static ssize_t fuse_io_read(int fd, void *buf, size_t len, void *userdata) {
        Transport *t = userdata;
        ssize_t n = read(fd, buf, len);

        if (n >= (ssize_t) sizeof(struct fuse_in_header)) {
                const struct fuse_in_header *in = buf;
                if (in->opcode == FUSE_OPEN)
                        t->open_unique = in->unique;
        }
        return n;
}

static ssize_t fuse_io_writev(int fd, struct iovec *iov, int count, void *userdata) {
        Transport *t = userdata;
        const struct fuse_out_header *out = iov[0].iov_base;

        if (t->open_unique != 0 && count == 2 && iov[0].iov_len == sizeof *out &&
            out->unique == t->open_unique && out->error == 0 &&
            iov[1].iov_len == sizeof(struct fuse_open_out)) {
                ((struct fuse_open_out *) iov[1].iov_base)->open_flags |= FOPEN_STREAM;
                t->open_unique = 0;
        }
        return writev(fd, iov, count);
}

static const struct fuse_custom_io fuse_stream_io = {
        .read = fuse_io_read,
        .writev = fuse_io_writev,
};

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
        if (fuse_session_custom_io(t->session, &fuse_stream_io, fuse_session_fd(t->session)) < 0)
                return log_error_errno(ENOMEM, "Failed to set up FUSE I/O");
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
        if (!t)
                return NULL;
        sd_event_source_disable_unref(t->io_source);
        if (t->session) {
                /* After dropping root this cannot unmount: fusermount3's auto_unmount
                 * does once the session fd is closed, and the node stays. */
                if (t->mounted && geteuid() != t->mounted_by)
                        t->created_node = false;
                if (t->mounted)
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
