/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * echofs: the cheapest FUSE jobserver there can be, for the benchmarks'
 * baseline of what FUSE itself costs. Every read gets a token at once, every
 * write is taken, poll always says ready; no accounting at all.
 *   echofs PATH      (PATH: a regular file to mount over; runs until SIGTERM)
 */
#include <errno.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void echo_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        struct stat st = { .st_ino = ino, .st_mode = S_IFREG | 0666, .st_nlink = 1 };
        fuse_reply_attr(req, &st, 60.0);
}

static void echo_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        fi->direct_io = 1;
        fi->nonseekable = 1;
        fuse_reply_open(req, fi);
}

static void echo_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
        fuse_reply_buf(req, "+", size > 0 ? 1 : 0);
}

static void echo_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                       struct fuse_file_info *fi) {
        fuse_reply_write(req, size);
}

static void echo_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct fuse_pollhandle *ph) {
        fuse_pollhandle_destroy(ph);
        fuse_reply_poll(req, POLLIN | POLLOUT);
}

static const struct fuse_lowlevel_ops ops = {
        .getattr = echo_getattr,
        .open = echo_open,
        .read = echo_read,
        .write = echo_write,
        .poll = echo_poll,
};

int main(int argc, char *argv[]) {
        char *fuse_argv[] = { argv[0], "-o", "allow_other,auto_unmount,fsname=echofs", NULL };
        struct fuse_args args = FUSE_ARGS_INIT(3, fuse_argv);
        struct fuse_session *se;
        int r;

        if (argc != 2) {
                fprintf(stderr, "usage: echofs PATH\n");
                return 2;
        }
        se = fuse_session_new(&args, &ops, sizeof ops, NULL);
        if (!se || fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, argv[1]) != 0)
                return 1;
        fprintf(stderr, "echofs running on %s\n", argv[1]);
        r = fuse_session_loop(se);
        fuse_session_unmount(se);
        fuse_remove_signal_handlers(se);
        fuse_session_destroy(se);
        return r < 0 ? 1 : 0;
}
