/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stevie: run a command holding a token from steve, or read and change steve's
 * parameters through its ioctls.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "steve/steve-ioctl.h"

#include "config.h"
#include "parse.h"

#define EXIT_USAGE 2

typedef enum Kind { KIND_U32, KIND_U64, KIND_I64, KIND_DOUBLE, KIND_SIZE } Kind;

/* One parameter as stevie sees it. An "off" limit (0) reads as -1. */
typedef struct Param {
        const char *name;
        unsigned long get, set;
        Kind kind;
        bool zero_is_off;
        double max;                     /* for KIND_DOUBLE */
} Param;

static const Param params[] = {
        { "tokens",               STEVE_IOC_GET_TOKENS, 0, KIND_I64, false, 0 },
        { "jobs",                 STEVE_IOC_GET_JOBS, STEVE_IOC_SET_JOBS, KIND_U32, false, 0 },
        { "min-jobs",             STEVE_IOC_GET_MIN_JOBS, STEVE_IOC_SET_MIN_JOBS, KIND_U32, false, 0 },
        { "load-average",         STEVE_IOC_GET_LOAD_AVERAGE, STEVE_IOC_SET_LOAD_AVERAGE, KIND_DOUBLE, true, 1e6 },
        { "load-recheck-timeout", STEVE_IOC_GET_LOAD_RECHECK_TIMEOUT, STEVE_IOC_SET_LOAD_RECHECK_TIMEOUT,
          KIND_DOUBLE, false, 3600 },
        { "min-memory-avail",     STEVE_IOC_GET_MIN_MEMORY_AVAIL, STEVE_IOC_SET_MIN_MEMORY_AVAIL, KIND_SIZE, true, 0 },
        { "per-process-limit",    STEVE_IOC_GET_PER_PROCESS_LIMIT, STEVE_IOC_SET_PER_PROCESS_LIMIT, KIND_U32, true, 0 },
        { "cpu-pressure",         STEVE_IOC_GET_CPU_PRESSURE, STEVE_IOC_SET_CPU_PRESSURE, KIND_DOUBLE, true, 100 },
        { "memory-pressure",      STEVE_IOC_GET_MEMORY_PRESSURE, STEVE_IOC_SET_MEMORY_PRESSURE, KIND_DOUBLE, true, 100 },
        { "paused",               STEVE_IOC_GET_PAUSED, STEVE_IOC_SET_PAUSED, KIND_U32, false, 0 },
};

#define ELEMENTS_OF_PARAMS (sizeof params / sizeof params[0])

typedef struct Action {
        const Param *param;
        bool set;
        const char *value;
} Action;

static void help(void) {
        printf("Usage: stevie [--device=PATH] [--] COMMAND [ARGS...]\n"
               "       stevie [--device=PATH] --get-...|--set-...=VALUE|--pause|--resume...\n"
               "\n"
               "Runs COMMAND holding one token of the steve jobserver, with MAKEFLAGS\n"
               "pointing at it, and exits with COMMAND's status (128+N for signal N); or\n"
               "reads and changes steve's parameters, in the order given, one value a line.\n"
               "\n"
               "  -t, --get-tokens                 free tokens now\n"
               "      --get-jobs, --set-jobs=N\n"
               "      --get-min-jobs, --set-min-jobs=N\n"
               "      --get-load-average, --set-load-average=L\n"
               "      --get-load-recheck-timeout, --set-load-recheck-timeout=SEC\n"
               "      --get-min-memory-avail, --set-min-memory-avail=SIZE   (bytes; set 512M, 8G)\n"
               "      --get-per-process-limit, --set-per-process-limit=N\n"
               "      --get-cpu-pressure, --set-cpu-pressure=PCT\n"
               "      --get-memory-pressure, --set-memory-pressure=PCT\n"
               "      --get-paused, --pause, --resume\n"
               "      --device=PATH                the jobserver (default: $STEVE_DEVICE, else\n"
               "                                   /dev/steve)\n"
               "  -h, --help, -V, --version\n"
               "\n"
               "A limit that is off reads as -1; setting 0 or -1 turns it off. Setters need\n"
               "root, or polkit's consent (action org.steve.Jobserver.configure).\n");
}

static int open_jobserver(const char *path, int flags) {
        int fd = open(path, flags | O_CLOEXEC);

        if (fd >= 0)
                return fd;
        if (errno == ENOENT)
                fprintf(stderr, "stevie: no jobserver at %s (is steve running? --device names another)\n", path);
        else if (errno == EACCES || errno == EPERM)
                fprintf(stderr, "stevie: permission denied opening %s (is your user in its group?)\n", path);
        else
                fprintf(stderr, "stevie: cannot open %s: %s\n", path, strerror(errno));
        return -1;
}

static int check_steve(int fd, const char *path) {
        uint32_t version;

        if (ioctl(fd, STEVE_IOC_GET_VERSION, &version) < 0) {
                if (errno == ENOTTY || errno == EINVAL)
                        fprintf(stderr, "stevie: %s is not a steve jobserver\n", path);
                else
                        fprintf(stderr, "stevie: cannot query %s: %s\n", path, strerror(errno));
                return -1;
        }
        return 0;
}

static int print_value(const Param *p, const void *buf) {
        uint32_t u32;
        uint64_t u64;
        int64_t i64;
        double d;

        switch (p->kind) {
        case KIND_U32:
                memcpy(&u32, buf, sizeof u32);
                return printf(p->zero_is_off && u32 == 0 ? "-1\n" : "%" PRIu32 "\n", u32);
        case KIND_U64:
        case KIND_SIZE:
                memcpy(&u64, buf, sizeof u64);
                return printf(p->zero_is_off && u64 == 0 ? "-1\n" : "%" PRIu64 "\n", u64);
        case KIND_I64:
                memcpy(&i64, buf, sizeof i64);
                return printf("%" PRIi64 "\n", i64);
        case KIND_DOUBLE:
                memcpy(&d, buf, sizeof d);
                return printf(p->zero_is_off && d == 0 ? "-1\n" : "%g\n", d);
        }
        return -1;
}

/* Fills buf with the value for a setter; -1 turns a limit off. */
static int parse_value(const Param *p, const char *s, void *buf) {
        uint32_t u32;
        uint64_t u64;
        double d;
        int r;

        if (p->zero_is_off && strcmp(s, "-1") == 0)
                s = "0";
        switch (p->kind) {
        case KIND_U32:
                r = strcmp(p->name, "jobs") == 0 ? parse_jobs(s, &u32) : parse_count(s, &u32);
                memcpy(buf, &u32, sizeof u32);
                return r;
        case KIND_SIZE:
                r = parse_size(s, &u64);
                memcpy(buf, &u64, sizeof u64);
                return r;
        case KIND_DOUBLE:
                r = parse_number(s, p->max, &d);
                if (r >= 0 && strcmp(p->name, "load-recheck-timeout") == 0 && d <= 0)
                        r = -ERANGE;
                memcpy(buf, &d, sizeof d);
                return r;
        default:
                return -EINVAL;
        }
}

static int run_action(int fd, const Action *a) {
        char buf[8] = {};

        if (!a->set) {
                if (ioctl(fd, a->param->get, buf) < 0) {
                        fprintf(stderr, "stevie: cannot get %s: %s\n", a->param->name, strerror(errno));
                        return 1;
                }
                return print_value(a->param, buf) < 0 ? 1 : 0;
        }
        if (parse_value(a->param, a->value, buf) < 0) {
                fprintf(stderr, "stevie: invalid %s '%s'\n", a->param->name, a->value);
                return EXIT_USAGE;
        }
        if (ioctl(fd, a->param->set, buf) < 0) {
                if (errno == EPERM)
                        fprintf(stderr, "stevie: not allowed to set %s (steve refused: permission denied)\n",
                                a->param->name);
                else if (errno == EINVAL)
                        fprintf(stderr, "stevie: steve refused %s '%s' (out of range, see steve --help)\n",
                                a->param->name, a->value);
                else
                        fprintf(stderr, "stevie: cannot set %s: %s\n", a->param->name, strerror(errno));
                return 1;
        }
        return 0;
}

/* MAKEFLAGS for the command: the user's words, an older jobserver setting
 * replaced by ours. */
static char *make_flags(const char *path) {
        const char *old = getenv("MAKEFLAGS");
        char *copy = strdup(old ? old : ""), *out, *word, *save = NULL;
        size_t size = strlen(old ? old : "") + strlen(path) + 64;

        out = calloc(1, size);
        if (!copy || !out) {
                free(copy);
                free(out);
                return NULL;
        }
        size_t len = 0;

        for (word = strtok_r(copy, " \t", &save); word; word = strtok_r(NULL, " \t", &save)) {
                if (strncmp(word, "--jobserver-auth=", 17) == 0 || strncmp(word, "--jobserver-fds=", 16) == 0)
                        continue;
                len += (size_t) snprintf(out + len, size - len, "%s ", word);
        }
        snprintf(out + len, size - len, "--jobserver-auth=fifo:%s", path);
        free(copy);
        return out;
}

static int wait_for(pid_t pid) {
        int status;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return 1;
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
}

static int run_command(const char *path, char **argv) {
        struct sigaction ignore = { .sa_handler = SIG_IGN }, saved_int, saved_quit;
        char token;
        char *flags;
        pid_t pid;
        int fd, status;

        fd = open_jobserver(path, O_RDWR);
        if (fd < 0 || check_steve(fd, path) < 0)
                return 1;
        /* Blocks until a token is ours; ^C ends stevie here, holding nothing. */
        if (read(fd, &token, 1) != 1) {
                fprintf(stderr, "stevie: cannot take a token from %s: %s\n", path, strerror(errno));
                return 1;
        }
        flags = make_flags(path);
        if (!flags || setenv("MAKEFLAGS", flags, 1) < 0) {
                fprintf(stderr, "stevie: out of memory\n");
                free(flags);
                return 1;
        }
        free(flags);

        /* Like system(): ^C is for the command; stevie waits and returns the token. */
        sigaction(SIGINT, &ignore, &saved_int);
        sigaction(SIGQUIT, &ignore, &saved_quit);
        pid = fork();
        if (pid == 0) {
                sigaction(SIGINT, &saved_int, NULL);
                sigaction(SIGQUIT, &saved_quit, NULL);
                execvp(argv[0], argv);
                fprintf(stderr, "stevie: cannot run %s: %s\n", argv[0], strerror(errno));
                _exit(errno == ENOENT ? 127 : 126);
        }
        status = pid < 0 ? 1 : wait_for(pid);
        if (pid < 0)
                fprintf(stderr, "stevie: cannot fork: %s\n", strerror(errno));
        if (write(fd, &token, 1) != 1)
                fprintf(stderr, "stevie: cannot return the token: %s (steve takes it back at exit)\n",
                        strerror(errno));
        close(fd);
        return status;
}

static int run_actions(const char *path, const Action *actions, size_t n) {
        bool any_set = false;
        int fd, r = 0;

        for (size_t i = 0; i < n; i++)
                any_set |= actions[i].set;
        fd = open_jobserver(path, any_set ? O_RDWR : O_RDONLY);
        if (fd < 0 || check_steve(fd, path) < 0)
                return 1;
        for (size_t i = 0; i < n && r == 0; i++)
                r = run_action(fd, &actions[i]);
        close(fd);
        return r;
}

enum { ARG_DEVICE = 0x100, ARG_PAUSE, ARG_RESUME, ARG_GET = 0x200, ARG_SET = 0x300 };

int main(int argc, char *argv[]) {
        struct option options[2 * ELEMENTS_OF_PARAMS + 8];
        char names[2 * ELEMENTS_OF_PARAMS][40];
        Action actions[256];
        size_t n_actions = 0, n_options = 0;
        const char *path = getenv("STEVE_DEVICE") ?: "/dev/steve";
        int c;

        for (size_t i = 0; i < ELEMENTS_OF_PARAMS; i++) {
                snprintf(names[2 * i], sizeof names[0], "get-%s", params[i].name);
                options[n_options++] = (struct option) { names[2 * i], no_argument, NULL, ARG_GET + (int) i };
                if (params[i].set) {
                        snprintf(names[2 * i + 1], sizeof names[0], "set-%s", params[i].name);
                        options[n_options++] = (struct option) { names[2 * i + 1], required_argument, NULL,
                                                                 ARG_SET + (int) i };
                }
        }
        options[n_options++] = (struct option) { "device", required_argument, NULL, ARG_DEVICE };
        options[n_options++] = (struct option) { "pause", no_argument, NULL, ARG_PAUSE };
        options[n_options++] = (struct option) { "resume", no_argument, NULL, ARG_RESUME };
        options[n_options++] = (struct option) { "help", no_argument, NULL, 'h' };
        options[n_options++] = (struct option) { "version", no_argument, NULL, 'V' };
        options[n_options] = (struct option) {};

        /* "+": options end at the command, whose own options are its business. */
        while ((c = getopt_long(argc, argv, "+thV", options, NULL)) >= 0) {
                if (n_actions == sizeof actions / sizeof actions[0]) {
                        fprintf(stderr, "stevie: too many options\n");
                        return EXIT_USAGE;
                }
                if (c == 't')
                        actions[n_actions++] = (Action) { &params[0], false, NULL };
                else if (c >= ARG_SET && (size_t) (c - ARG_SET) < ELEMENTS_OF_PARAMS)
                        actions[n_actions++] = (Action) { &params[c - ARG_SET], true, optarg };
                else if (c >= ARG_GET && (size_t) (c - ARG_GET) < ELEMENTS_OF_PARAMS)
                        actions[n_actions++] = (Action) { &params[c - ARG_GET], false, NULL };
                else if (c == ARG_PAUSE || c == ARG_RESUME)
                        actions[n_actions++] = (Action) { &params[ELEMENTS_OF_PARAMS - 1], true,
                                                          c == ARG_PAUSE ? "1" : "0" };
                else if (c == ARG_DEVICE)
                        path = optarg;
                else if (c == 'h') {
                        help();
                        return 0;
                } else if (c == 'V') {
                        printf("stevie %s\n", STEVE_VERSION);
                        return 0;
                } else {
                        fprintf(stderr, "Try 'stevie --help'.\n");
                        return EXIT_USAGE;
                }
        }
        if (n_actions > 0 && optind < argc) {
                fprintf(stderr, "stevie: give either a command or --get/--set options, not both\n");
                return EXIT_USAGE;
        }
        if (n_actions > 0)
                return run_actions(path, actions, n_actions);
        if (optind == argc) {
                fprintf(stderr, "stevie: no command given (see stevie --help)\n");
                return EXIT_USAGE;
        }
        return run_command(path, argv + optind);
}
