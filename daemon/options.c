/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
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
               "      --config=FILE          read settings from FILE (default: " STEVE_CONFIG_PATH ",\n"
               "                             if it exists); the command line wins over it\n"
               "      --no-config            read no config file\n"
               "  -v, --verbose              log clients coming and going\n"
               "  -d, --debug                log every request\n"
               "  -h, --help                 show this help\n"
               "  -V, --version              show the version\n"
               "\n"
               "Signals: SIGUSR1 logs the pool, its holders and waiters; SIGHUP rereads the\n"
               "config file (a bad one changes nothing); SIGINT and SIGTERM stop steve.\n"
               "Exit status: 0 after a signal, 1 on a runtime failure, 2 on bad options or\n"
               "config, or when the device or mount cannot be set up.\n");
}

/* One line: where (NULL for the command line, else "FILE:LINE"), what was
 * wrong, the value given, what would be right. */
static ParseOutcome usage_error(const char *origin, const char *what, const char *value, const char *hint) {
        if (origin)
                log_error("%s: %s '%s'%s", origin, what, value, hint);
        else
                log_error("%s '%s'%s", what, value, hint);
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
                return usage_error(NULL, "unknown user", o->user, "");
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
        ARG_CONFIG,
        ARG_NO_CONFIG,
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
        { "config",          required_argument, NULL, ARG_CONFIG },
        { "no-config",       no_argument,       NULL, ARG_NO_CONFIG },
        { "verbose",         no_argument,       NULL, 'v' },
        { "debug",           no_argument,       NULL, 'd' },
        { "help",            no_argument,       NULL, 'h' },
        { "version",         no_argument,       NULL, 'V' },
        {}
};

/* The limits; everything they take is checked again by params_invalid(). */
static ParseOutcome parse_limit(int c, const char *arg, Params *p, const char *origin) {
        switch (c) {
        case 'l':
                return parse_number(arg, 1e6, &p->load_average) < 0
                        ? usage_error(origin, "invalid load average", arg, " (a number, 0 for no limit)") : PARSE_RUN;
        case ARG_MIN_JOBS:
                return parse_count(arg, &p->min_jobs) < 0
                        ? usage_error(origin, "invalid number of jobs", arg, " (a whole number from 0 to 65536)") : PARSE_RUN;
        case ARG_LOAD_RECHECK_TIMEOUT:
                return parse_seconds(arg, &p->load_recheck_timeout) < 0
                        ? usage_error(origin, "invalid timeout", arg, " (seconds, above 0, at most 3600)") : PARSE_RUN;
        case ARG_MIN_MEMORY_AVAIL:
                return parse_size(arg, &p->min_memory_avail) < 0
                        ? usage_error(origin, "invalid size", arg, " (like 512M or 8G; a plain number is MiB)") : PARSE_RUN;
        case ARG_CPU_PRESSURE:
                return parse_number(arg, 100, &p->cpu_pressure) < 0
                        ? usage_error(origin, "invalid CPU pressure", arg, " (a percentage, 0 for no limit)") : PARSE_RUN;
        case ARG_MEMORY_PRESSURE:
                return parse_number(arg, 100, &p->memory_pressure) < 0
                        ? usage_error(origin, "invalid memory pressure", arg, " (a percentage, 0 for no limit)") : PARSE_RUN;
        case 'p':
                return parse_count(arg, &p->per_process_limit) < 0
                        ? usage_error(origin, "invalid per-process limit", arg, " (a whole number from 0 to 65536)") : PARSE_RUN;
        }
        return PARSE_RUN;
}

static ParseOutcome parse_one(int c, const char *arg, Options *o, const char *origin) {
        gid_t unused_gid;
        int r;

        switch (c) {
        case 'l': case 'p': case ARG_MIN_JOBS: case ARG_LOAD_RECHECK_TIMEOUT:
        case ARG_MIN_MEMORY_AVAIL: case ARG_CPU_PRESSURE: case ARG_MEMORY_PRESSURE:
                return parse_limit(c, arg, &o->params, origin);
        case 'j':
                r = parse_jobs(arg, &o->params.jobs);
                return r < 0 ? usage_error(origin, "invalid number of jobs", arg, " (a whole number from 1 to 65536)") : PARSE_RUN;
        case ARG_DEV_NAME:
                o->dev_name = arg;
                return parse_dev_name(arg) < 0 ? usage_error(origin, "invalid device name", arg, " (letters, digits, '.', '_', '-')") : PARSE_RUN;
        case ARG_PATH:
                o->path = arg;
                return PARSE_RUN;
        case ARG_BUS:
                return bus_kind_from_string(arg, &o->bus) < 0
                        ? usage_error(origin, "invalid bus", arg, " (system, session or none)") : PARSE_RUN;
        case ARG_FALLBACK_PATH:
                o->fallback_path = arg;
                return PARSE_RUN;
        case 'u':
                o->user = arg;
                return PARSE_RUN;
        case ARG_OWNER:
                o->node_uid_set = true;
                return lookup_user(arg, &o->node_uid, &unused_gid) < 0
                        ? usage_error(origin, "unknown user", arg, "") : PARSE_RUN;
        case ARG_GROUP:
                o->node_gid_set = true;
                return lookup_group(arg, &o->node_gid) < 0
                        ? usage_error(origin, "unknown group", arg, "") : PARSE_RUN;
        case ARG_MODE:
                return parse_mode(arg, &o->node_mode) < 0
                        ? usage_error(origin, "invalid mode", arg, " (octal, at most 0777)") : PARSE_RUN;
        case ARG_RESERVE_TIMEOUT:
                return parse_seconds(arg, &o->params.reservation_timeout) < 0
                        ? usage_error(origin, "invalid timeout", arg, " (seconds, above 0, at most 3600)")
                        : PARSE_RUN;
        case ARG_CONFIG:
                o->config_path = arg;
                o->config_path_given = true;
                return PARSE_RUN;
        case ARG_NO_CONFIG:
                o->config_path = NULL;
                return PARSE_RUN;
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

Options options_defaults(void) {
        return (Options) {
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
                .config_path = STEVE_CONFIG_PATH,
        };
}

static ParseOutcome parse_args(int argc, char *argv[], Options *o) {
        ParseOutcome outcome;
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "j:u:l:p:vdhV", long_options, NULL)) >= 0) {
                outcome = parse_one(c, optarg, o, NULL);
                if (outcome != PARSE_RUN)
                        return outcome;
        }
        if (optind < argc)
                return usage_error(NULL, "unexpected argument", argv[optind], "");
        return PARSE_RUN;
}

/* Config values outlive inih's line buffer. */
static const char *keep(Options *o, const char *value) {
        char **owned = reallocarray(o->owned, o->n_owned + 1, sizeof *owned);
        char *copy = strdup(value);

        if (!owned || !copy) {
                free(copy);
                if (owned)
                        o->owned = owned;
                return NULL;
        }
        o->owned = owned;
        o->owned[o->n_owned++] = copy;
        return copy;
}

static int option_of_key(const char *key) {
        for (const struct option *opt = long_options; opt->name; opt++)
                if (strcmp(opt->name, key) == 0)
                        return opt->val;
        return -1;
}

typedef struct ConfigParser {
        Options *options;
        const char *path;
        FILE *file;
        int line;               /* lines read so far: Debian's inih does not pass it */
        int first_bad_line;
} ConfigParser;

static char *read_config_line(char *buf, int size, void *userdata) {
        ConfigParser *cp = userdata;
        char *line = fgets(buf, size, cp->file);

        if (line)
                cp->line++;
        return line;
}

static bool config_entry(ConfigParser *cp, const char *section, const char *key, const char *value) {
        char where[PATH_MAX + 16];
        const char *copy;
        int c = option_of_key(key), flag;

        snprintf(where, sizeof where, "%s:%d", cp->path, cp->line);
        if (section[0] != '\0') {
                log_error("%s: sections are not used; put '%s' before any [%s]", where, key, section);
                return false;
        }
        switch (c) {
        case -1: case 'h': case 'V': case ARG_CONFIG: case ARG_NO_CONFIG:
                return usage_error(where, "unknown setting", key, " (see steve.conf(5))") == PARSE_RUN;
        case 'v': case 'd':
                flag = parse_boolean(value);
                if (flag < 0)
                        return usage_error(where, "invalid boolean", value, " (yes or no)") == PARSE_RUN;
                return flag == 0 || parse_one(c, NULL, cp->options, where) == PARSE_RUN;
        }
        copy = keep(cp->options, value);
        if (!copy) {
                log_error("%s: out of memory", where);
                return false;
        }
        return parse_one(c, copy, cp->options, where) == PARSE_RUN;
}

/* inih calls this for each key = value; 0 tells it the line was bad. */
static int on_config_entry(void *userdata, const char *section, const char *key, const char *value) {
        ConfigParser *cp = userdata;

        if (config_entry(cp, section, key, value))
                return 1;
        if (cp->first_bad_line == 0)
                cp->first_bad_line = cp->line;
        return 0;
}

ParseOutcome options_read_config(FILE *file, const char *name, Options *o) {
        ConfigParser cp = { .options = o, .path = name, .file = file };
        int r = ini_parse_stream(read_config_line, &cp, on_config_entry, &cp);

        if (r == -2)
                log_error("Out of memory reading %s", name);
        /* inih returns the first bad line; the handler has said what was wrong
         * with the lines it saw, but not with lines inih could not parse. */
        else if (r > 0 && r != cp.first_bad_line)
                log_error("%s:%d: not a 'key = value' line", name, r);
        return r == 0 ? PARSE_RUN : PARSE_EXIT_USAGE;
}

static ParseOutcome parse_config(Options *o, bool must_exist) {
        ParseOutcome outcome;
        FILE *file = fopen(o->config_path, "re");

        if (!file) {
                if (errno == ENOENT && !must_exist)
                        return PARSE_RUN;
                log_error_errno(errno, "Cannot read %s: %m", o->config_path);
                return PARSE_EXIT_USAGE;
        }
        outcome = options_read_config(file, o->config_path, o);
        fclose(file);
        return outcome;
}

static ParseOutcome check_options(Options *o) {
        const char *invalid = params_invalid(&o->params);

        if (invalid) {
                log_error("%s", invalid);
                return PARSE_EXIT_USAGE;
        }
        if (o->path && o->fallback_path) {
                log_error("--path and --fallback-path exclude each other");
                return PARSE_EXIT_USAGE;
        }
        return resolve_node_owner(o);
}

/* The command line is read twice: first for --config and for mistakes, then
 * again over the file's settings, so that it wins. */
ParseOutcome options_parse(int argc, char *argv[], Options *ret) {
        Options cli = options_defaults(), o = options_defaults();
        ParseOutcome outcome;

        outcome = parse_args(argc, argv, &cli);
        if (outcome == PARSE_RUN && cli.config_path) {
                o.config_path = cli.config_path;
                outcome = parse_config(&o, cli.config_path_given);
        }
        if (outcome == PARSE_RUN)
                outcome = parse_args(argc, argv, &o);
        if (outcome == PARSE_RUN)
                outcome = check_options(&o);
        if (outcome != PARSE_RUN) {
                options_done(&o);
                return outcome;
        }
        *ret = o;
        return PARSE_RUN;
}

void options_done(Options *o) {
        for (size_t i = 0; i < o->n_owned; i++)
                free(o->owned[i]);
        free(o->owned);
        o->owned = NULL;
        o->n_owned = 0;
}
