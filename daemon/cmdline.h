/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Command lines, read off the event loop. Reading /proc/PID/cmdline takes
 * that process's mmap lock, which its owner can hold for as long as they
 * like (a page fault on a FUSE file that never answers, with an mmap()
 * queued behind it). So a worker thread reads them; a read that takes
 * longer than CMDLINE_DEADLINE is given up: its worker is left to finish (or
 * not) on its own, a fresh one takes the queue, and the request is answered
 * with -ETIMEDOUT. While a worker is stuck on a process of a user's, that
 * user's other requests are answered -EBUSY (ask again later), so that one
 * user's stalls cost the others nothing; at most CMDLINE_MAX_STUCK workers
 * may be left stuck, and beyond that every request is answered -EBUSY until
 * one comes back. Answers come on the event loop.
 */

#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#define CMDLINE_DEADLINE_USEC (UINT64_C(250) * 1000)
#define CMDLINE_MAX_STUCK 8
/* Bytes read of a command line; what is longer is cut (at a character). */
#define CMDLINE_MAX 1024

typedef struct CmdlineReader CmdlineReader;
typedef struct CmdlineRequest CmdlineRequest;

/* text: the command line, its NULs turned into spaces, not yet escaped; NULL
 * with error < 0 when it could not be read (-ESRCH: the process is gone, or
 * it is another process by now). */
typedef void (*CmdlineDone)(const char *text, int error, void *userdata);

int cmdline_reader_new(sd_event *event, CmdlineReader **ret);
/* Stuck workers are waited for a moment, then left behind. */
CmdlineReader *cmdline_reader_free(CmdlineReader *r);

/* Reads the command line of pid (of user uid), if pid still is the process
 * that started at start_time (clock ticks, /proc/PID/stat). done runs once,
 * on the loop, unless the request is cancelled first. */
int cmdline_read(CmdlineReader *r, pid_t pid, uid_t uid, uint64_t start_time, CmdlineDone done, void *userdata,
                 CmdlineRequest **ret);
void cmdline_cancel(CmdlineRequest *req);
