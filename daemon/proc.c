/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "util.h"

int read_small_file(const char *path, char *buf, size_t size, size_t *ret_len) {
        _cleanup_close_ int fd = -1;
        ssize_t n;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        if (ret_len)
                *ret_len = (size_t) n;
        return 0;
}

static int read_proc_file(pid_t pid, const char *name, char *buf, size_t size, size_t *ret_len) {
        char path[64];

        snprintf(path, sizeof path, "/proc/%d/%s", (int) pid, name);
        return read_small_file(path, buf, size, ret_len);
}

/* What follows key (with its colon) at the start of a line of text. */
static const char *line_value(const char *text, const char *key) {
        size_t key_len = strlen(key);

        for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, key, key_len) == 0)
                        return p + key_len;
        return NULL;
}

/* The line of /proc/PID/status that starts with key, in buf. status takes
 * no lock of the process's, unlike stat and the ns links (see proc.h): safe
 * to read on the event loop about any process. */
static int status_line(pid_t pid, const char *key, char *buf, size_t size, const char **ret) {
        int r = read_proc_file(pid, "status", buf, size, NULL);

        if (r < 0)
                return r;
        *ret = line_value(buf, key);
        return *ret ? 0 : -EIO;
}

static int parse_pid(const char *value, pid_t *ret) {
        long n = strtol(value, NULL, 10);

        if (n < 0 || n > INT32_MAX)
                return -EIO;
        *ret = (pid_t) n;
        return 0;
}

/* Tgid: and PPid: are on the fourth and sixth lines, well inside the first
 * kilobyte. */
static int status_pid(pid_t pid, const char *key, pid_t *ret) {
        char buf[1024];
        const char *value;
        int r;

        r = status_line(pid, key, buf, sizeof buf, &value);
        return r < 0 ? r : parse_pid(value, ret);
}

int proc_tgid_of(pid_t tid, pid_t *ret) {
        int r = status_pid(tid, "Tgid:", ret);

        return r < 0 ? r : *ret > 0 ? 0 : -EIO;
}

int proc_cmdline(pid_t pid, size_t max, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r;

        buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        r = read_proc_file(pid, "cmdline", buf, max + 1, &len);
        if (r < 0)
                return r; // NOLINT(clang-analyzer-unix.Malloc): _cleanup_free_ frees buf

        while (len > 0 && buf[len - 1] == '\0')
                len--;
        for (size_t i = 0; i < len; i++)
                if (buf[i] == '\0')
                        buf[i] = ' ';
        buf[len] = '\0';
        /* Kernel threads and zombies have none; the comm name stands in. */
        if (len == 0) {
                r = read_proc_file(pid, "comm", buf, max + 1, &len);
                if (r < 0)
                        return r;
                buf[strcspn(buf, "\n")] = '\0';
        }
        *ret = TAKE_PTR(buf);
        return 0;
}

/* Field N (from 1) of /proc/PID/stat; the command name may hold spaces and
 * parentheses, so fields are counted from the last ')', which ends field 2. */
static int stat_field(pid_t pid, unsigned n, unsigned long long *ret) {
        char buf[1024];
        const char *p;
        int r;

        r = read_proc_file(pid, "stat", buf, sizeof buf, NULL);
        if (r < 0)
                return r;
        p = strrchr(buf, ')');
        if (!p || n < 3)
                return -EIO;
        p++;
        for (unsigned field = 3; field < n; field++) {
                p = strchr(p + 1, ' ');
                if (!p)
                        return -EIO;
        }
        /* The state (field 3) is a letter; the ones asked for are numbers. */
        if (sscanf(p, " %llu", ret) != 1)
                return -EIO;
        return 0;
}

int proc_stat(pid_t pid, ProcStat *ret) {
        char buf[1024];
        const char *open, *close;
        unsigned long long ppid, start;
        int nice;
        size_t len;
        int r;

        r = read_proc_file(pid, "stat", buf, sizeof buf, NULL);
        if (r < 0)
                return r;
        /* "PID (COMM) S PPID ...": COMM may hold spaces and parentheses. */
        open = strchr(buf, '(');
        close = strrchr(buf, ')');
        if (!open || !close || close < open ||
            sscanf(close + 1, " %*c %llu %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %d %*d %*d %llu",
                   &ppid, &nice, &start) != 3)
                return -EIO;
        len = (size_t) (close - open - 1);
        if (len >= sizeof ret->comm)
                len = sizeof ret->comm - 1;
        memcpy(ret->comm, open + 1, len);
        ret->comm[len] = '\0';
        ret->ppid = (pid_t) ppid;
        ret->nice = nice;
        ret->start_time = start;
        return 0;
}

int proc_start_time(pid_t pid, uint64_t *ret) {
        unsigned long long t;
        int r = stat_field(pid, 22, &t);

        if (r >= 0)
                *ret = t;
        return r;
}

int proc_parent_of(pid_t pid, pid_t *ret) {
        return status_pid(pid, "PPid:", ret);
}

/* The systemd unit a cgroup path names: its last .service or .scope
 * component; else the path itself. */
static char *unit_of_cgroup(const char *path) {
        const char *end = path + strlen(path), *start;

        while (end > path) {
                start = end;
                while (start > path && start[-1] != '/')
                        start--;
                if ((end - start > 8 && memcmp(end - 8, ".service", 8) == 0) ||
                    (end - start > 6 && memcmp(end - 6, ".scope", 6) == 0))
                        return strndup(start, (size_t) (end - start));
                end = start > path ? start - 1 : path;
        }
        return strdup(path);
}

bool proc_hides_pids(const char *root) {
        FILE *f = fopen("/proc/self/mounts", "re");
        char line[4096];
        bool hides = false;

        while (f && fgets(line, sizeof line, f)) {
                char *save = NULL, *source = strtok_r(line, " ", &save), *where = strtok_r(NULL, " ", &save),
                     *type = strtok_r(NULL, " ", &save), *options = strtok_r(NULL, " ", &save);
                const char *hidepid;

                if (!source || !where || !type || !options || strcmp(type, "proc") != 0 || strcmp(where, root) != 0)
                        continue;
                hidepid = strstr(options, "hidepid=");
                /* The last mount on root is the one seen there. */
                hides = hidepid && strncmp(hidepid, "hidepid=0", 9) != 0 && strncmp(hidepid, "hidepid=off", 11) != 0;
        }
        if (f)
                fclose(f);
        return hides;
}

bool proc_in_our_pid_namespace(pid_t pid) {
        char buf[4096];
        const char *nspid;

        /* NSpid: its pid in each namespace from /proc's (steve's) down to its
         * own; one number when they are the same. Status lines run ~100
         * bytes; NSpid is the eighth. */
        if (pid <= 0 || status_line(pid, "NSpid:", buf, sizeof buf, &nspid) < 0)
                return false;
        nspid += strspn(nspid, " \t");
        nspid += strspn(nspid, "0123456789");
        return *nspid == '\n' || *nspid == '\0';
}

int proc_unit(pid_t pid, char **ret) {
        char buf[4096], *line, *save = NULL, *path = NULL;
        int r = read_proc_file(pid, "cgroup", buf, sizeof buf, NULL);

        if (r < 0)
                return r;
        /* cgroup v2: "0::/PATH"; v1: systemd's own hierarchy names the unit. */
        for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                if (strncmp(line, "0::", 3) == 0 || (!path && strstr(line, ":name=systemd:")))
                        path = strchr(strchr(line, ':') + 1, ':') + 1;
        *ret = unit_of_cgroup(path ? path : "");
        return *ret ? 0 : -ENOMEM;
}

int pidfd_open_process(pid_t pid) {
        int fd = (int) syscall(SYS_pidfd_open, pid, 0);
        return fd < 0 ? -errno : fd;
}

/* proc_stat() with a deadline, on a thread of its own. A reader given up on
 * stays until its process's execve() ends; a user with such a reader gets
 * no other, and there are at most PROC_MAX_STUCK. */

#define PROC_MAX_STUCK 8

typedef struct StatReader {
        pid_t pid;
        uid_t uid;
        bool done, abandoned;           /* under stuck_lock, as are r and stat */
        int r;
        ProcStat stat;
        pthread_cond_t cond;
} StatReader;

static pthread_mutex_t stuck_lock = PTHREAD_MUTEX_INITIALIZER;
static uid_t stuck_uids[PROC_MAX_STUCK];
static unsigned n_stuck;

/* Under stuck_lock. */
static bool refused_a_reader(uid_t uid) {
        return uid_listed(stuck_uids, n_stuck, uid) || n_stuck >= PROC_MAX_STUCK;
}

static void stat_reader_free(StatReader *sr) {
        pthread_cond_destroy(&sr->cond);
        free(sr);
}

static void *stat_reader_main(void *userdata) {
        StatReader *sr = userdata;
        ProcStat st = {};
        int r = proc_stat(sr->pid, &st);
        bool abandoned;

        pthread_mutex_lock(&stuck_lock);
        sr->r = r;
        sr->stat = st;
        sr->done = true;
        abandoned = sr->abandoned;
        if (abandoned)
                uid_unlist(stuck_uids, &n_stuck, sr->uid);
        pthread_cond_signal(&sr->cond);
        pthread_mutex_unlock(&stuck_lock);
        if (abandoned)
                stat_reader_free(sr);
        return NULL;
}

static int start_stat_reader(StatReader *sr) {
        pthread_attr_t attr;
        pthread_t thread;
        sigset_t all, saved;
        int r;

        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        /* Signals are the event loop's: no reader may take one. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &saved);
        r = pthread_create(&thread, &attr, stat_reader_main, sr);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        pthread_attr_destroy(&attr);
        return -r;
}

int proc_stat_within(pid_t pid, uid_t uid, uint64_t timeout_usec, ProcStat *ret) {
        StatReader *sr;
        pthread_condattr_t condattr;
        struct timespec deadline;
        uint64_t until;
        bool done;
        int r;

        pthread_mutex_lock(&stuck_lock);
        r = refused_a_reader(uid) ? -EBUSY : 0;
        pthread_mutex_unlock(&stuck_lock);
        if (r < 0)
                return r;
        sr = calloc(1, sizeof *sr);
        if (!sr)
                return -ENOMEM;
        sr->pid = pid;
        sr->uid = uid;
        pthread_condattr_init(&condattr);
        pthread_condattr_setclock(&condattr, CLOCK_MONOTONIC);
        pthread_cond_init(&sr->cond, &condattr);
        pthread_condattr_destroy(&condattr);
        r = start_stat_reader(sr);
        if (r < 0) {
                stat_reader_free(sr);
                return r;
        }
        until = now_monotonic_usec() + timeout_usec;
        deadline = (struct timespec) { .tv_sec = (time_t) (until / USEC_PER_SEC),
                                       .tv_nsec = (long) (until % USEC_PER_SEC * 1000) };

        pthread_mutex_lock(&stuck_lock);
        while (!sr->done && pthread_cond_timedwait(&sr->cond, &stuck_lock, &deadline) != ETIMEDOUT)
                ;
        done = sr->done;
        if (done) {
                r = sr->r;
                if (r >= 0)
                        *ret = sr->stat;
        } else {
                sr->abandoned = true;
                stuck_uids[n_stuck++] = uid;
                r = -ETIMEDOUT;
        }
        pthread_mutex_unlock(&stuck_lock);
        if (done)
                stat_reader_free(sr);
        return r;
}

int proc_stat_unverified(pid_t pid, uid_t uid, uint64_t start_time, ProcStat *ret) {
        /* Name, Uid and PPid are among its first ten lines. */
        char buf[1024];
        const char *name, *uids, *ppid;
        size_t len;
        int nice, r;

        r = read_proc_file(pid, "status", buf, sizeof buf, NULL);
        if (r < 0)
                return r;
        name = line_value(buf, "Name:");
        uids = line_value(buf, "Uid:");
        ppid = line_value(buf, "PPid:");
        if (!name || !uids || !ppid || parse_pid(ppid, &ret->ppid) < 0)
                return -EIO;
        /* Its real uid, the first of four. */
        if (strtoul(uids, NULL, 10) != uid)
                return -ESRCH;
        errno = 0;
        nice = getpriority(PRIO_PROCESS, (id_t) pid);
        if (nice == -1 && errno != 0)
                return -errno;
        name += strspn(name, "\t ");
        len = strcspn(name, "\n");
        if (len >= sizeof ret->comm)
                len = sizeof ret->comm - 1;
        memcpy(ret->comm, name, len);
        ret->comm[len] = '\0';
        ret->nice = nice;
        ret->start_time = start_time;
        return 0;
}
