/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Which /proc files may be read on the event loop: since Linux takes the
 * process's exec_update_lock for /proc/PID/stat and the ns links (seen on
 * 6.18; "proc: protect ptrace_may_access() with exec_update_lock"), reading
 * them waits while the process is in execve(), and an
 * execve() closing an O_CLOEXEC file on a FUSE file system that never
 * answers its flush waits for good: any user can stall them (test_stall.py).
 * status, cmdline, comm and cgroup take no such lock. stat is read on the
 * loop only of a process that is in a request to steve (it cannot be in
 * execve() then: execve() ends its other threads before it takes the lock). */

/* Reads what one read() gives of path (enough for /proc files) into buf, NUL-terminated. */
int read_small_file(const char *path, char *buf, size_t size, size_t *ret_len);
/* The thread group (process) a thread id belongs to. */
int proc_tgid_of(pid_t tid, pid_t *ret);
/* The command line with NULs turned into spaces, at most max bytes of it. */
int proc_cmdline(pid_t pid, size_t max, char **ret);
int pidfd_open_process(pid_t pid);
/* When the process started, in clock ticks since boot (/proc/PID/stat field 22). */
int proc_start_time(pid_t pid, uint64_t *ret);
/* Its parent (status's PPid: safe about any process). */
int proc_parent_of(pid_t pid, pid_t *ret);
/* Whether the proc file system at root hides other users' processes
 * (mounted with hidepid= other than 0). */
bool proc_hides_pids(const char *root);
/* Whether pid lives in steve's own pid namespace (not one of its own, where
 * steve's processes are invisible to it), from status's NSpid. */
bool proc_in_our_pid_namespace(pid_t pid);
/* The systemd unit (a .service or .scope) pid runs in, else its cgroup path. */
int proc_unit(pid_t pid, char **ret);

typedef struct ProcStat {
        char comm[16];                  /* TASK_COMM_LEN: what the kernel keeps */
        pid_t ppid;
        int nice;                       /* of its main thread (field 19) */
        uint64_t start_time;            /* clock ticks since boot */
} ProcStat;

/* Name, parent, nice value and start time from one read of /proc/PID/stat:
 * on the loop, only of a process that is in a request to steve (above). */
int proc_stat(pid_t pid, ProcStat *ret);
/* proc_stat() of a process that may be in no request to steve: -ETIMEDOUT
 * when it did not answer within timeout_usec (it is in an execve() that
 * waits), -EBUSY at once when a reader for uid's processes is stuck already. */
int proc_stat_within(pid_t pid, uid_t uid, uint64_t timeout_usec, ProcStat *ret);
/* What proc_stat() gives, from status (and getpriority) when stat cannot be
 * read: the process must be uid's; its start time is taken on trust. */
int proc_stat_unverified(pid_t pid, uid_t uid, uint64_t start_time, ProcStat *ret);
