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
#include "parse.h"
#include "util.h"


int bus_kind_from_string(const char *s, BusKind *ret) {
        static const char *const names[] = { [BUS_NONE] = "none", [BUS_SYSTEM] = "system", [BUS_SESSION] = "session" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcmp(s, names[i]) == 0) {
                        *ret = (BusKind) i;
                        return 0;
                }
        return -EINVAL;
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
               "\n"
               "Limits (0 turns one off; while one is hit, only --min-jobs tokens go out):\n"
               "  -l, --load-average=L       hold back tokens while the 1-minute load is >= L\n"
               "      --min-memory-avail=SIZE  ...while MemAvailable is below SIZE (512M, 8G;\n"
               "                             a plain number is MiB)\n"
               "      --cpu-pressure=PCT     ...while CPU pressure (some avg10) is >= PCT\n"
               "      --memory-pressure=PCT  ...while memory pressure (some avg10) is >= PCT\n"
               "      --min-jobs=N           tokens handed out even then (default: 1)\n"
               "      --load-recheck-timeout=SEC  how often to look again while a limit holds\n"
               "                             a waiter back (default: 0.5; no timer otherwise)\n"
               "  -p, --per-process-limit=N  no process holds more than N tokens (0: none)\n"
               "      --bus=BUS              publish org.steve.Jobserver on the system bus, the\n"
               "                             session bus, or none (default: system)\n"
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
        ARG_MIN_JOBS,
        ARG_LOAD_RECHECK_TIMEOUT,
        ARG_MIN_MEMORY_AVAIL,
        ARG_CPU_PRESSURE,
        ARG_MEMORY_PRESSURE,
        ARG_BUS,
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
        { "load-average",    required_argument, NULL, 'l' },
        { "min-jobs",        required_argument, NULL, ARG_MIN_JOBS },
        { "load-recheck-timeout", required_argument, NULL, ARG_LOAD_RECHECK_TIMEOUT },
        { "min-memory-avail", required_argument, NULL, ARG_MIN_MEMORY_AVAIL },
        { "cpu-pressure",    required_argument, NULL, ARG_CPU_PRESSURE },
        { "memory-pressure", required_argument, NULL, ARG_MEMORY_PRESSURE },
        { "per-process-limit", required_argument, NULL, 'p' },
        { "bus",             required_argument, NULL, ARG_BUS },
        { "verbose",         no_argument,       NULL, 'v' },
        { "debug",           no_argument,       NULL, 'd' },
        { "help",            no_argument,       NULL, 'h' },
        { "version",         no_argument,       NULL, 'V' },
        {}
};

/* The limits; everything they take is checked again by params_invalid(). */
static ParseOutcome parse_limit(int c, const char *arg, Params *p) {
        switch (c) {
        case 'l':
                return parse_number(arg, 1e6, &p->load_average) < 0
                        ? usage_error("invalid load average", arg, " (a number, 0 for no limit)") : PARSE_RUN;
        case ARG_MIN_JOBS:
                return parse_count(arg, &p->min_jobs) < 0
                        ? usage_error("invalid number of jobs", arg, " (a whole number from 0 to 65536)") : PARSE_RUN;
        case ARG_LOAD_RECHECK_TIMEOUT:
                return parse_seconds(arg, &p->load_recheck_timeout) < 0
                        ? usage_error("invalid timeout", arg, " (seconds, above 0, at most 3600)") : PARSE_RUN;
        case ARG_MIN_MEMORY_AVAIL:
                return parse_size(arg, &p->min_memory_avail) < 0
                        ? usage_error("invalid size", arg, " (like 512M or 8G; a plain number is MiB)") : PARSE_RUN;
        case ARG_CPU_PRESSURE:
                return parse_number(arg, 100, &p->cpu_pressure) < 0
                        ? usage_error("invalid CPU pressure", arg, " (a percentage, 0 for no limit)") : PARSE_RUN;
        case ARG_MEMORY_PRESSURE:
                return parse_number(arg, 100, &p->memory_pressure) < 0
                        ? usage_error("invalid memory pressure", arg, " (a percentage, 0 for no limit)") : PARSE_RUN;
        case 'p':
                return parse_count(arg, &p->per_process_limit) < 0
                        ? usage_error("invalid per-process limit", arg, " (a whole number from 0 to 65536)") : PARSE_RUN;
        }
        return PARSE_RUN;
}

static ParseOutcome parse_one(int c, const char *arg, Options *o) {
        gid_t unused_gid;
        int r;

        switch (c) {
        case 'l': case 'p': case ARG_MIN_JOBS: case ARG_LOAD_RECHECK_TIMEOUT:
        case ARG_MIN_MEMORY_AVAIL: case ARG_CPU_PRESSURE: case ARG_MEMORY_PRESSURE:
                return parse_limit(c, arg, &o->params);
        case 'j':
                r = parse_jobs(arg, &o->params.jobs);
                return r < 0 ? usage_error("invalid number of jobs", arg, " (a whole number from 1 to 65536)") : PARSE_RUN;
        case ARG_DEV_NAME:
                o->dev_name = arg;
                return parse_dev_name(arg) < 0 ? usage_error("invalid device name", arg, " (letters, digits, '.', '_', '-')") : PARSE_RUN;
        case ARG_PATH:
                o->path = arg;
                return PARSE_RUN;
        case ARG_BUS:
                return bus_kind_from_string(arg, &o->bus) < 0
                        ? usage_error("invalid bus", arg, " (system, session or none)") : PARSE_RUN;
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
                return parse_seconds(arg, &o->params.reservation_timeout) < 0
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
                .params = {
                        .jobs = default_jobs(),
                        .min_jobs = 1,
                        .load_recheck_timeout = PARAMS_DEFAULT_LOAD_RECHECK_TIMEOUT,
                        .reservation_timeout = PARAMS_DEFAULT_RESERVATION_TIMEOUT,
                },
                .dev_name = "steve",
                .node_mode = 0660,
                .log_level = LOG_LEVEL_NOTICE,
                .bus = BUS_SYSTEM,
        };
        ParseOutcome outcome;
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "j:u:l:p:vdhV", long_options, NULL)) >= 0) {
                outcome = parse_one(c, optarg, &o);
                if (outcome != PARSE_RUN)
                        return outcome;
        }
        if (optind < argc)
                return usage_error("unexpected argument", argv[optind], "");
        if (params_invalid(&o.params)) {
                fprintf(stderr, "steve: %s\n", params_invalid(&o.params));
                return PARSE_EXIT_USAGE;
        }
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
