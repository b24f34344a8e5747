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
#include "monitor.h"
#include "params.h"
#include "parse.h"

#define EXIT_USAGE 2

/* What one getter or setter on the command line asks for: a parameter from
 * steve's table, or (param NULL) the free tokens, a re-exec of steve, or a
 * build's weight (value the pid, weight the weight). */
typedef struct Action {
        const ParamInfo *param;
        const char *value;
        const char *weight;
        bool set;
        bool reexec;
} Action;

static Action param_action(int index, bool set, const char *value) {
        return (Action) { .param = param_nth((size_t) index), .set = set, .value = value };
}

static void help(void) {
        const ParamInfo *info;
        char line[128];

        printf("Usage: stevie [--device=PATH] [--] COMMAND [ARGS...]\n"
               "       stevie [--device=PATH] --get-...|--set-...=VALUE|--pause|--resume...\n"
               "       stevie [--device=PATH] --reexec | --set-weight PID WEIGHT\n"
               "       stevie --status [--json] [--session] | --top [--session]\n"
               "\n"
               "Runs COMMAND holding one token of the steve jobserver, with MAKEFLAGS\n"
               "pointing at it, and exits with COMMAND's status (128+N for signal N); or\n"
               "reads and changes steve's parameters, in the order given, one value a line.\n"
               "\n"
               "  -t, --get-tokens                 free tokens now\n");
        for (size_t i = 0; (info = param_nth(i)); i++) {
                if (!info->ioctl_get)
                        continue;
                if (info->on_option)
                        snprintf(line, sizeof line, "--get-%s, --%s, --%s", info->name, info->on_option,
                                 info->off_option);
                else
                        snprintf(line, sizeof line, "--get-%s, --set-%s=%s", info->name, info->name, info->metavar);
                printf("      %s%s\n", line, info->kind == PARAM_BYTES ? "   (bytes; set 512M, 8G)" : "");
        }
        printf("      --status                     the pool, its limits and why tokens are held back,\n"
               "                                   the builds holding tokens and who waits (D-Bus)\n"
               "      --json                       with --status: one JSON document\n"
               "      --top                        the same, live (q quits, p pauses or resumes,\n"
               "                                   r reclaims the selected process's tokens)\n"
               "      --session                    with --status, --top: steve on the session bus\n"
               "      --reexec                     steve re-executes its binary in place (after an\n"
               "                                   upgrade): every token and waiting request kept\n"
               "      --set-weight PID WEIGHT      the weight of the build PID leads (1 to 1000000;\n"
               "                                   nice 0 is 1024), from its next token on\n"
               "      --weight=WEIGHT              with COMMAND: its build's weight (default: from\n"
               "                                   stevie's nice value; less is always allowed)\n"
               "      --device=PATH                the jobserver (default: $STEVE_DEVICE, else\n"
               "                                   /dev/steve)\n"
               "  -h, --help, -V, --version\n"
               "\n"
               "A limit that is off reads as -1; setting 0 or -1 turns it off. Setters need\n"
               "root, or polkit's consent (action org.steve.Jobserver.configure; pausing,\n"
               "resuming and --reexec: org.steve.Jobserver.manage).\n"
               "\n"
               "-j or --jobs given to make or ninja, or in MAKEFLAGS, turns their jobserver\n"
               "client off: they then run that many jobs whatever the pool says. stevie\n"
               "warns when it sees one.\n");
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

static int reexecute(int fd) {
        uint32_t zero = 0;

        if (ioctl(fd, STEVE_IOC_REEXECUTE, &zero) >= 0)
                return 0;
        if (errno == EPERM)
                fprintf(stderr, "stevie: not allowed to re-execute steve (steve refused: permission denied)\n");
        else if (errno == ENOTTY)
                fprintf(stderr, "stevie: this steve cannot re-execute itself (older than ioctl version 3)\n");
        else
                fprintf(stderr, "stevie: cannot re-execute steve: %s\n", strerror(errno));
        return 1;
}

/* pid 0: stevie's own build. */
static int set_weight(int fd, const char *pid_text, const char *weight_text) {
        struct steve_weight w = {};
        uint32_t pid = 0;

        if ((pid_text && (parse_whole(pid_text, &pid) < 0 || pid == 0 || pid > INT32_MAX)) ||
            parse_whole(weight_text, &w.weight) < 0 || w.weight == 0 || w.weight > STEVE_WEIGHT_MAX) {
                fprintf(stderr, "stevie: invalid weight '%s'%s%s (a pid and a whole number from 1 to %u)\n",
                        weight_text, pid_text ? " for pid " : "", pid_text ? pid_text : "", (unsigned) STEVE_WEIGHT_MAX);
                return EXIT_USAGE;
        }
        w.pid = (int32_t) pid;
        if (ioctl(fd, STEVE_IOC_SET_WEIGHT, &w) >= 0)
                return 0;
        if (errno == EPERM)
                fprintf(stderr, "stevie: not allowed to set that weight (steve refused: permission denied)\n");
        else if (errno == ESRCH)
                fprintf(stderr, "stevie: steve knows no client process %s\n", pid_text ? pid_text : "");
        else if (errno == ENOTTY)
                fprintf(stderr, "stevie: this steve has no build weights (older than ioctl version 4)\n");
        else
                fprintf(stderr, "stevie: cannot set the weight: %s\n", strerror(errno));
        return 1;
}

static int run_action(int fd, const Action *a) {
        const ParamInfo *info = a->param;
        IoctlValue v = { .u64 = 0 };
        char text[64];

        if (a->reexec)
                return reexecute(fd);
        if (a->weight)
                return set_weight(fd, a->value, a->weight);
        if (!info) {
                if (ioctl(fd, STEVE_IOC_GET_TOKENS, &v.i64) < 0) {
                        fprintf(stderr, "stevie: cannot get tokens: %s\n", strerror(errno));
                        return 1;
                }
                return printf("%" PRIi64 "\n", v.i64) < 0 ? 1 : 0;
        }
        if (!a->set) {
                if (ioctl(fd, info->ioctl_get, &v) < 0) {
                        fprintf(stderr, "stevie: cannot get %s: %s\n", info->name, strerror(errno));
                        return 1;
                }
                param_format(info, &v, text, sizeof text);
                return printf("%s\n", text) < 0 ? 1 : 0;
        }
        if (param_parse(info, a->value, &v) < 0) {
                param_describe(info, text, sizeof text);
                fprintf(stderr, "stevie: invalid %s '%s' (%s)\n", info->name, a->value, text);
                return EXIT_USAGE;
        }
        if (ioctl(fd, info->ioctl_set, &v) < 0) {
                if (errno == EPERM)
                        fprintf(stderr, "stevie: not allowed to set %s (steve refused: permission denied)\n",
                                info->name);
                else if (errno == EINVAL)
                        fprintf(stderr, "stevie: steve refused %s '%s' (out of range, see steve --help)\n",
                                info->name, a->value);
                else
                        fprintf(stderr, "stevie: cannot set %s: %s\n", info->name, strerror(errno));
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

static int run_command(const char *path, const char *weight, char **argv) {
        struct sigaction ignore = { .sa_handler = SIG_IGN }, saved_int, saved_quit;
        char token;
        char *flags;
        pid_t pid;
        int fd, status;

        fd = open_jobserver(path, O_RDWR);
        if (fd < 0 || check_steve(fd, path) < 0)
                return 1;
        /* stevie leads the command's build: its weight is the build's. */
        if (weight && (status = set_weight(fd, NULL, weight)) != 0) {
                close(fd);
                return status;
        }
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

/* A word that turns GNU make's jobserver client off: -j, -jN, -j N, --jobs[=N].
 * In MAKEFLAGS, make writes single-letter options without their dash
 * ("j8", "kj"), so a first word of letters with a j counts too. */
static bool jobs_option(const char *word, bool first_makeflags_word) {
        if (strncmp(word, "--jobs", 6) == 0 && (word[6] == '\0' || word[6] == '='))
                return true;
        if (word[0] == '-' && word[1] != '-')
                return strchr(word + 1, 'j') != NULL && strspn(word + 1, "BbdeEiIkLnpqrRsStvwWj0123456789") ==
                                                        strlen(word + 1);
        return first_makeflags_word && word[0] != '-' && strchr(word, 'j') &&
               strspn(word, "BbdeEiIkLnpqrRsStvwWj0123456789") == strlen(word);
}

/* GNU make and ninja: their -j turns their jobserver client off. (cargo's
 * does not: it still takes tokens.) */
static bool jobs_option_leaves_the_pool(const char *command) {
        const char *base = strrchr(command, '/');

        base = base ? base + 1 : command;
        return strcmp(base, "make") == 0 || strcmp(base, "gmake") == 0 || strcmp(base, "ninja") == 0;
}

/* make -jN (or MAKEFLAGS=-jN) resets make's jobserver: "-jN forced in
 * submake: resetting jobserver mode", and ninja -jN ignores it. The command
 * then runs outside the pool, bounded only by N. */
static void warn_about_jobs(char **argv) {
        const char *makeflags = getenv("MAKEFLAGS");
        char *copy, *word, *save = NULL;
        bool first = true, found = false;

        for (char **a = argv + 1; *a && !found && jobs_option_leaves_the_pool(argv[0]); a++) {
                if (strcmp(*a, "--") == 0)
                        break;
                found = jobs_option(*a, false);
        }
        if (!found && makeflags && (copy = strdup(makeflags))) {
                for (word = strtok_r(copy, " \t", &save); word && !found; word = strtok_r(NULL, " \t", &save)) {
                        if (strcmp(word, "--") == 0)
                                break;
                        found = jobs_option(word, first);
                        first = false;
                }
                free(copy);
        }
        if (found)
                fprintf(stderr, "stevie: warning: -j/--jobs (on the command line or in MAKEFLAGS) turns "
                        "the jobserver client of GNU make and ninja off: they then run that many jobs "
                        "outside steve's pool\n");
}

enum { ARG_DEVICE = 0x100, ARG_REEXEC, ARG_SET_WEIGHT, ARG_WEIGHT, ARG_STATUS, ARG_JSON, ARG_TOP, ARG_SESSION, ARG_GET = 0x200, ARG_SET = 0x300, ARG_ON = 0x400, ARG_OFF = 0x500 };

/* --status and --top read D-Bus, not the device; they take no other action. */
static int watch_pool(int watch, bool json, bool session, bool more) {
        if (!watch || more || (json && watch != ARG_STATUS)) {
                fprintf(stderr, "stevie: %s\n", !watch ? "--json and --session go with --status or --top"
                                                 : json && watch != ARG_STATUS ? "--json goes with --status"
                                                 : "--status and --top take no command and no other option");
                return EXIT_USAGE;
        }
        return watch == ARG_STATUS ? mon_status(session, json, stdout) : mon_top(session);
}

/* A get, set, on and off option per parameter, and the fixed ones. */
#define MAX_OPTIONS (4 * PARAMS_MAX + 16)

typedef struct Invocation {
        Action actions[256];
        size_t n_actions;
        const char *path, *weight;
        bool json, session;
        int watch;
} Invocation;

/* getopt's table, from the parameter table; names holds the long names made. */
static void build_options(struct option *options, char (*names)[48]) {
        const ParamInfo *info;
        size_t n = 0;

        options[n++] = (struct option) { "get-tokens", no_argument, NULL, 't' };
        for (size_t i = 0; (info = param_nth(i)); i++) {
                if (!info->ioctl_get)
                        continue;
                snprintf(names[n], sizeof names[0], "get-%s", info->name);
                options[n] = (struct option) { names[n], no_argument, NULL, ARG_GET + (int) i };
                n++;
                snprintf(names[n], sizeof names[0], "set-%s", info->name);
                options[n] = (struct option) { names[n], required_argument, NULL, ARG_SET + (int) i };
                n++;
                if (info->on_option) {
                        options[n++] = (struct option) { info->on_option, no_argument, NULL, ARG_ON + (int) i };
                        options[n++] = (struct option) { info->off_option, no_argument, NULL, ARG_OFF + (int) i };
                }
        }
        options[n++] = (struct option) { "reexec", no_argument, NULL, ARG_REEXEC };
        options[n++] = (struct option) { "set-weight", required_argument, NULL, ARG_SET_WEIGHT };
        options[n++] = (struct option) { "weight", required_argument, NULL, ARG_WEIGHT };
        options[n++] = (struct option) { "status", no_argument, NULL, ARG_STATUS };
        options[n++] = (struct option) { "json", no_argument, NULL, ARG_JSON };
        options[n++] = (struct option) { "top", no_argument, NULL, ARG_TOP };
        options[n++] = (struct option) { "session", no_argument, NULL, ARG_SESSION };
        options[n++] = (struct option) { "device", required_argument, NULL, ARG_DEVICE };
        options[n++] = (struct option) { "help", no_argument, NULL, 'h' };
        options[n++] = (struct option) { "version", no_argument, NULL, 'V' };
        options[n] = (struct option) {};
}

/* One option into inv; -1 to go on, else the exit status. */
static int take_option(int c, int argc, char *argv[], Invocation *inv) {
        if (inv->n_actions == sizeof inv->actions / sizeof inv->actions[0]) {
                fprintf(stderr, "stevie: too many options\n");
                return EXIT_USAGE;
        }
        if (c == 't')
                inv->actions[inv->n_actions++] = (Action) { .param = NULL };
        else if (c >= ARG_OFF)
                inv->actions[inv->n_actions++] = param_action(c - ARG_OFF, true, "0");
        else if (c >= ARG_ON)
                inv->actions[inv->n_actions++] = param_action(c - ARG_ON, true, "1");
        else if (c >= ARG_SET)
                inv->actions[inv->n_actions++] = param_action(c - ARG_SET, true, optarg);
        else if (c >= ARG_GET)
                inv->actions[inv->n_actions++] = param_action(c - ARG_GET, false, NULL);
        else if (c == ARG_REEXEC)
                inv->actions[inv->n_actions++] = (Action) { .set = true, .reexec = true };
        else if (c == ARG_SET_WEIGHT) {
                /* Two words: the pid, then the weight. */
                if (optind >= argc) {
                        fprintf(stderr, "stevie: --set-weight takes a pid and a weight\n");
                        return EXIT_USAGE;
                }
                inv->actions[inv->n_actions++] = (Action) { .set = true, .value = optarg, .weight = argv[optind++] };
        } else if (c == ARG_WEIGHT)
                inv->weight = optarg;
        else if (c == ARG_STATUS || c == ARG_TOP)
                inv->watch = c;
        else if (c == ARG_JSON)
                inv->json = true;
        else if (c == ARG_SESSION)
                inv->session = true;
        else if (c == ARG_DEVICE && optarg)   /* getopt gives one; clang-tidy cannot tell */
                inv->path = optarg;
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
        return -1;
}

int main(int argc, char *argv[]) {
        struct option options[MAX_OPTIONS];
        char names[MAX_OPTIONS][48];
        Invocation inv = { .path = getenv("STEVE_DEVICE") ?: "/dev/steve" };
        int c, r;

        build_options(options, names);
        /* "+": options end at the command, whose own options are its business. */
        while ((c = getopt_long(argc, argv, "+thV", options, NULL)) >= 0)
                if ((r = take_option(c, argc, argv, &inv)) >= 0)
                        return r;
        if (inv.watch || inv.json || inv.session)
                return watch_pool(inv.watch, inv.json, inv.session, inv.n_actions > 0 || optind < argc);
        if (inv.n_actions > 0 && optind < argc) {
                fprintf(stderr, "stevie: give either a command or --get/--set options, not both\n");
                return EXIT_USAGE;
        }
        if (inv.weight && optind == argc) {
                fprintf(stderr, "stevie: --weight goes with a command\n");
                return EXIT_USAGE;
        }
        if (inv.n_actions > 0)
                return run_actions(inv.path, inv.actions, inv.n_actions);
        if (optind == argc) {
                fprintf(stderr, "stevie: no command given (see stevie --help)\n");
                return EXIT_USAGE;
        }
        warn_about_jobs(argv + optind);
        return run_command(inv.path, inv.weight, argv + optind);
}
