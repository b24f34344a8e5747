/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A FUSE file system whose requests a hostile user (fusermount3 is setuid)
 * never answers, to make another process hang holding one of its locks:
 *   /f (1 MiB): reads never answered; a page fault on a mapping of it hangs
 *      with the faulting process's mmap lock held;
 *   /x: closing it never ends (flush is never answered); a process that
 *      execs with it open O_CLOEXEC hangs in execve, holding its
 *      exec_update_lock, which /proc/PID/stat takes on newer kernels.
 * tests/integration/test_stall.py uses it to show that steve does not hang
 * with either.
 *   stallfs MOUNTPOINT        (runs in the foreground; SIGTERM unmounts)
 */
#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define FILE_INO 2
#define EXEC_INO 3
#define FILE_SIZE (1 << 20)

static void attr_of(fuse_ino_t ino, struct stat *st) {
        memset(st, 0, sizeof *st);
        st->st_ino = ino;
        st->st_nlink = 1;
        if (ino == FUSE_ROOT_ID)
                st->st_mode = S_IFDIR | 0755;
        else {
                st->st_mode = S_IFREG | 0444;
                st->st_size = ino == FILE_INO ? FILE_SIZE : 0;
        }
}

static void stall_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
        struct fuse_entry_param e = { .attr_timeout = 3600, .entry_timeout = 3600 };

        if (parent == FUSE_ROOT_ID && strcmp(name, "f") == 0)
                e.ino = FILE_INO;
        else if (parent == FUSE_ROOT_ID && strcmp(name, "x") == 0)
                e.ino = EXEC_INO;
        else {
                fuse_reply_err(req, ENOENT);
                return;
        }
        attr_of(e.ino, &e.attr);
        fuse_reply_entry(req, &e);
}

static void stall_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        struct stat st;

        attr_of(ino, &st);
        fuse_reply_attr(req, &st, 3600);
}

static void stall_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        fuse_reply_open(req, fi);
}

/* The point: no answer, ever. The request stays with the kernel. */
static void stall_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
}

/* /x's close never ends; /f's must (ENOSYS would stop every flush). */
static void stall_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        if (ino != EXEC_INO)
                fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops ops = {
        .lookup = stall_lookup,
        .getattr = stall_getattr,
        .open = stall_open,
        .read = stall_read,
        .flush = stall_flush,
};

int main(int argc, char *argv[]) {
        char *args_v[] = { argv[0], (char *) "-o", (char *) "allow_other,ro,fsname=stallfs", NULL };
        struct fuse_args args = FUSE_ARGS_INIT(3, args_v);
        struct fuse_session *se;
        int r = 1;

        if (argc != 2) {
                fprintf(stderr, "usage: stallfs MOUNTPOINT\n");
                return 2;
        }
        se = fuse_session_new(&args, &ops, sizeof ops, NULL);
        if (!se)
                return 1;
        if (fuse_set_signal_handlers(se) == 0 && fuse_session_mount(se, argv[1]) == 0) {
                printf("mounted\n");
                fflush(stdout);
                r = fuse_session_loop(se) < 0;
                fuse_session_unmount(se);
        }
        fuse_remove_signal_handlers(se);
        fuse_session_destroy(se);
        return r;
}
