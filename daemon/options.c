/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "options.h"
#include "util.h"

#define RESERVATION_TIMEOUT_DEFAULT (USEC_PER_SEC / 2)

int parse_jobs(const char *s, uint32_t *ret) {
        unsigned long v;
        char *end;

        if (!s || !*s || *s == '-' || *s == '+')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end != '\0')
                return -EINVAL;
        if (v < 1 || v > JOBS_MAX)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

int parse_mode(const char *s, mode_t *ret) {
        unsigned long v;
        char *end;

        if (!s || !*s || *s == '-' || *s == '+')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 8);
        if (errno != 0 || *end != '\0' || v > 0777)
                return -EINVAL;
        *ret = (mode_t) v;
        return 0;
}

int parse_seconds(const char *s, uint64_t *ret_usec) {
        double v;
        char *end;

        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || *end != '\0' || !isfinite(v) || v <= 0 || v > 3600)
                return -EINVAL;
        *ret_usec = (uint64_t) (v * (double) USEC_PER_SEC);
        return *ret_usec > 0 ? 0 : -EINVAL;
}

int parse_dev_name(const char *s) {
        /* It becomes /dev/NAME: no directories, nothing hidden, a sane length. */
        if (!s || !*s || strlen(s) > 64 || *s == '.' || strchr(s, '/'))
                return -EINVAL;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || strchr("._-", *p)))
                        return -EINVAL;
        return 0;
}

static void help(void) {
        printf("Usage: steve [OPTIONS]\n"
               "\n"
               "A system-wide GNU make jobserver. Serves a pool of job tokens at /dev/NAME\n"
               "(CUSE) or at a file (FUSE); clients join with\n"
               "  MAKEFLAGS=--jobserver-auth=fifo:/dev/steve\n"
               "\n"
               "Options:\n"
               "  -j, --jobs=N               tokens in the pool (default: online CPUs)\n"
               "      --dev-name=NAME        CUSE device name (default: steve, i.e. /dev/steve)\n"
               "      --path=PATH            serve over FUSE at PATH (a regular file, created\n"
               "                             and removed again if missing) instead of CUSE\n"
               "      --fallback-path=PATH   serve on CUSE, or over FUSE at PATH when\n"
               "                             /dev/cuse does not exist\n"
               "  -u, --user=USER            after opening /dev/cuse or mounting, drop to USER\n"
               "                             and its groups for good\n"
               "      --owner=USER           FUSE node owner (default: the daemon's user)\n"
               "      --group=GROUP          FUSE node group (default: the daemon's group)\n"
               "      --mode=MODE            FUSE node mode, octal (default: 0660)\n"
               "      --reserve-timeout=SEC  how long a token stays reserved for a process\n"
               "                             told POLLIN before it goes on (default: 0.5)\n"
               "  -v, --verbose              log clients coming and going\n"
               "  -d, --debug                log every request\n"
               "  -h, --help                 show this help\n"
               "  -V, --version              show the version\n"
               "\n"
               "Signals: SIGUSR1 logs the pool, its holders and waiters; SIGINT and SIGTERM\n"
               "stop steve. Exit status: 0 after a signal, 1 on a runtime failure, 2 on bad\n"
               "options or when the device or mount cannot be set up.\n");
}

/* One line: what was wrong, the value given, what would be right. */
static ParseOutcome usage_error(const char *what, const char *value, const char *hint) {
        fprintf(stderr, "steve: %s '%s'%s\n", what, value, hint);
        return PARSE_EXIT_USAGE;
}

static int lookup_user(const char *name, uid_t *uid, gid_t *gid) {
        struct passwd *pw;

        errno = 0;
        pw = getpwnam(name);
        if (!pw)
                return errno > 0 ? -errno : -ESRCH;
        *uid = pw->pw_uid;
        *gid = pw->pw_gid;
        return 0;
}

static int lookup_group(const char *name, gid_t *gid) {
        struct group *gr;

        errno = 0;
        gr = getgrnam(name);
        if (!gr)
                return errno > 0 ? -errno : -ESRCH;
        *gid = gr->gr_gid;
        return 0;
}

static uint32_t default_jobs(void) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n < 1 ? 1 : n > JOBS_MAX ? JOBS_MAX : (uint32_t) n;
}

/* The node belongs to whoever the daemon runs as, unless told otherwise. */
static ParseOutcome resolve_node_owner(Options *o) {
        uid_t uid = getuid();
        gid_t gid = getgid();

        if (o->user && lookup_user(o->user, &uid, &gid) < 0)
                return usage_error("unknown user", o->user, "");
        if (!o->node_uid_set)
                o->node_uid = uid;
        if (!o->node_gid_set)
                o->node_gid = gid;
        return PARSE_RUN;
}

enum {
        ARG_DEV_NAME = 0x100,
        ARG_PATH,
        ARG_FALLBACK_PATH,
        ARG_OWNER,
        ARG_GROUP,
        ARG_MODE,
        ARG_RESERVE_TIMEOUT,
};

static const struct option long_options[] = {
        { "jobs",            required_argument, NULL, 'j' },
        { "dev-name",        required_argument, NULL, ARG_DEV_NAME },
        { "path",            required_argument, NULL, ARG_PATH },
        { "fallback-path",   required_argument, NULL, ARG_FALLBACK_PATH },
        { "user",            required_argument, NULL, 'u' },
        { "owner",           required_argument, NULL, ARG_OWNER },
        { "group",           required_argument, NULL, ARG_GROUP },
        { "mode",            required_argument, NULL, ARG_MODE },
        { "reserve-timeout", required_argument, NULL, ARG_RESERVE_TIMEOUT },
        { "verbose",         no_argument,       NULL, 'v' },
        { "debug",           no_argument,       NULL, 'd' },
        { "help",            no_argument,       NULL, 'h' },
        { "version",         no_argument,       NULL, 'V' },
        {}
};

static ParseOutcome parse_one(int c, const char *arg, Options *o) {
        gid_t unused_gid;
        int r;

        switch (c) {
        case 'j':
                r = parse_jobs(arg, &o->jobs);
                return r < 0 ? usage_error("invalid number of jobs", arg, " (a whole number from 1 to 65536)") : PARSE_RUN;
        case ARG_DEV_NAME:
                o->dev_name = arg;
                return parse_dev_name(arg) < 0 ? usage_error("invalid device name", arg, " (letters, digits, '.', '_', '-')") : PARSE_RUN;
        case ARG_PATH:
                o->path = arg;
                return PARSE_RUN;
        case ARG_FALLBACK_PATH:
                o->fallback_path = arg;
                return PARSE_RUN;
        case 'u':
                o->user = arg;
                return PARSE_RUN;
        case ARG_OWNER:
                o->node_uid_set = true;
                return lookup_user(arg, &o->node_uid, &unused_gid) < 0
                        ? usage_error("unknown user", arg, "") : PARSE_RUN;
        case ARG_GROUP:
                o->node_gid_set = true;
                return lookup_group(arg, &o->node_gid) < 0
                        ? usage_error("unknown group", arg, "") : PARSE_RUN;
        case ARG_MODE:
                return parse_mode(arg, &o->node_mode) < 0
                        ? usage_error("invalid mode", arg, " (octal, at most 0777)") : PARSE_RUN;
        case ARG_RESERVE_TIMEOUT:
                return parse_seconds(arg, &o->reservation_timeout) < 0
                        ? usage_error("invalid timeout", arg, " (seconds, above 0, at most 3600)")
                        : PARSE_RUN;
        case 'v':
                if (o->log_level < LOG_LEVEL_INFO)
                        o->log_level = LOG_LEVEL_INFO;
                return PARSE_RUN;
        case 'd':
                o->log_level = LOG_LEVEL_DEBUG;
                return PARSE_RUN;
        case 'h':
                help();
                return PARSE_EXIT_OK;
        case 'V':
                printf("steve %s\n", STEVE_VERSION);
                return PARSE_EXIT_OK;
        default:
                fprintf(stderr, "Try 'steve --help'.\n");
                return PARSE_EXIT_USAGE;
        }
}

ParseOutcome options_parse(int argc, char *argv[], Options *ret) {
        Options o = {
                .jobs = default_jobs(),
                .dev_name = "steve",
                .node_mode = 0660,
                .reservation_timeout = RESERVATION_TIMEOUT_DEFAULT,
                .log_level = LOG_LEVEL_NOTICE,
        };
        ParseOutcome outcome;
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "j:u:vdhV", long_options, NULL)) >= 0) {
                outcome = parse_one(c, optarg, &o);
                if (outcome != PARSE_RUN)
                        return outcome;
        }
        if (optind < argc)
                return usage_error("unexpected argument", argv[optind], "");
        if (o.path && o.fallback_path) {
                fprintf(stderr, "steve: --path and --fallback-path exclude each other\n");
                return PARSE_EXIT_USAGE;
        }
        outcome = resolve_node_owner(&o);
        if (outcome != PARSE_RUN)
                return outcome;
        *ret = o;
        return PARSE_RUN;
}
