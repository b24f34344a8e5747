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

/* Option column of --help: "  -j, --jobs=N" padded to this width. */
#define HELP_COLUMN 29

static void help_line(char short_option, const char *name, const char *metavar, const char *text) {
        char option[64];
        int n;

        n = snprintf(option, sizeof option, "  %c%c%s--%s%s%s", short_option ? '-' : ' ',
                     short_option ? short_option : ' ', short_option ? ", " : "  ", name, metavar ? "=" : "",
                     metavar ?: "");
        /* A long option pushes its text to the next line. */
        if (n >= HELP_COLUMN)
                printf("%s\n%*s", option, HELP_COLUMN, "");
        else
                printf("%-*s", HELP_COLUMN, option);
        for (const char *line = text; *line;) {
                size_t len = strcspn(line, "\n");
                printf("%.*s\n", (int) len, line);
                line += len;
                if (*line == '\n' && *++line)
                        printf("%*s", HELP_COLUMN, "");
        }
}

static void help_params(ParamGroup group) {
        const ParamInfo *info;

        for (size_t i = 0; (info = param_nth(i)); i++)
                if (info->group == group && !info->runtime_only)
                        help_line(info->short_option, info->name, info->metavar, info->help);
}

static void help(void) {
        printf("Usage: steve [OPTIONS]\n"
               "\n"
               "A system-wide GNU make jobserver. Serves a pool of job tokens at /dev/NAME\n"
               "(CUSE) or at a file (FUSE); clients join with\n"
               "  MAKEFLAGS=--jobserver-auth=fifo:/dev/steve\n"
               "\n"
               "Options:\n");
        help_params(PARAM_GROUP_POOL);
        help_line(0, "dev-name", "NAME", "CUSE device name (default: steve, i.e. /dev/steve)");
        help_line(0, "path", "PATH", "serve over FUSE at PATH (a regular file, created\n"
                                     "and removed again if missing) instead of CUSE");
        help_line(0, "fallback-path", "PATH", "serve on CUSE, or over FUSE at PATH when\n/dev/cuse does not exist");
        help_line('u', "user", "USER", "after opening /dev/cuse or mounting, drop to USER\nand its groups for good");
        help_line(0, "owner", "USER", "FUSE node owner (default: the daemon's user)");
        help_line(0, "group", "GROUP", "FUSE node group (default: the daemon's group)");
        help_line(0, "mode", "MODE", "FUSE node mode, octal (default: 0660)");
        help_line(0, "state-file", "FILE", "keep the pool here as it changes (on tmpfs), for\n"
                                           "the next steve on a passed connection: restarts,\n"
                                           "upgrades and crashes lose nothing (default: none)");
        printf("\nLimits (0 turns one off; while one is hit, only --min-jobs tokens go out):\n");
        help_params(PARAM_GROUP_LIMIT);
        printf("\n");
        help_line(0, "bus", "BUS", "publish org.steve.Jobserver on the system bus, the\n"
                                   "session bus, or none (default: system)");
        help_line(0, "config", "FILE", "read settings from FILE (default: " STEVE_CONFIG_PATH ",\n"
                                       "if it exists); the command line wins over it");
        help_line(0, "no-config", NULL, "read no config file");
        help_line('v', "verbose", NULL, "log clients coming and going");
        help_line('d', "debug", NULL, "log every request");
        help_line('h', "help", NULL, "show this help");
        help_line('V', "version", NULL, "show the version");
        printf("\n"
               "Signals: SIGUSR1 logs the pool, its holders and waiters; SIGHUP rereads the\n"
               "config file (a bad one changes nothing); SIGUSR2 re-executes steve in place,\n"
               "connection and pool kept (an upgrade without systemd); SIGINT and SIGTERM\n"
               "stop steve.\n"
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
        ARG_BUS,
        ARG_CONFIG,
        ARG_NO_CONFIG,
        ARG_STATE_FILE,
        ARG_PARAM = 0x200,      /* + the parameter's index in the table */
};

static const struct option fixed_options[] = {
        { "dev-name",        required_argument, NULL, ARG_DEV_NAME },
        { "path",            required_argument, NULL, ARG_PATH },
        { "fallback-path",   required_argument, NULL, ARG_FALLBACK_PATH },
        { "user",            required_argument, NULL, 'u' },
        { "owner",           required_argument, NULL, ARG_OWNER },
        { "group",           required_argument, NULL, ARG_GROUP },
        { "mode",            required_argument, NULL, ARG_MODE },
        { "bus",             required_argument, NULL, ARG_BUS },
        { "state-file",      required_argument, NULL, ARG_STATE_FILE },
        { "config",          required_argument, NULL, ARG_CONFIG },
        { "no-config",       no_argument,       NULL, ARG_NO_CONFIG },
        { "verbose",         no_argument,       NULL, 'v' },
        { "debug",           no_argument,       NULL, 'd' },
        { "help",            no_argument,       NULL, 'h' },
        { "version",         no_argument,       NULL, 'V' },
};

/* The fixed options and one per parameter, from the table; getopt's form. */
static struct option long_options[ELEMENTSOF(fixed_options) + PARAMS_MAX + 1];
static char short_options[64];

static void build_options(void) {
        const ParamInfo *info;
        size_t n = 0, len;

        if (long_options[0].name)
                return;
        for (size_t i = 0; i < ELEMENTSOF(fixed_options); i++)
                long_options[n++] = fixed_options[i];
        len = (size_t) snprintf(short_options, sizeof short_options, "u:vdhV");
        for (size_t i = 0; (info = param_nth(i)); i++) {
                if (info->runtime_only)
                        continue;
                long_options[n++] = (struct option) { info->name, required_argument, NULL,
                                                      info->short_option ?: ARG_PARAM + (int) i };
                if (info->short_option)
                        len += (size_t) snprintf(short_options + len, sizeof short_options - len, "%c:",
                                                 info->short_option);
        }
        long_options[n] = (struct option) {};
}

static const ParamInfo *param_of_option(int c) {
        const ParamInfo *info;

        if (c >= ARG_PARAM)
                return param_nth((size_t) (c - ARG_PARAM));
        for (size_t i = 0; c > 0 && (info = param_nth(i)); i++)
                if (info->short_option == c)
                        return info;
        return NULL;
}

/* A parameter's value; params_invalid() checks the whole set later. */
static ParseOutcome parse_param(const ParamInfo *info, const char *arg, Params *p, const char *origin) {
        char what[64], range[128], hint[140];
        IoctlValue v;

        if (param_parse(info, arg, &v) < 0 || !param_set(p, info, &v)) {
                snprintf(what, sizeof what, "invalid %s", info->what);
                param_describe(info, range, sizeof range);
                snprintf(hint, sizeof hint, " (%s)", range);
                return usage_error(origin, what, arg, hint);
        }
        return PARSE_RUN;
}

/* Where steve serves, as whom, and over which bus. */
static ParseOutcome parse_where(int c, const char *arg, Options *o, const char *origin) {
        gid_t unused_gid;

        switch (c) {
        case ARG_DEV_NAME:
                o->dev_name = arg;
                return parse_dev_name(arg) < 0
                        ? usage_error(origin, "invalid device name", arg, " (letters, digits, '.', '_', '-')")
                        : PARSE_RUN;
        case ARG_PATH:
                o->path = arg;
                return PARSE_RUN;
        case ARG_FALLBACK_PATH:
                o->fallback_path = arg;
                return PARSE_RUN;
        case ARG_STATE_FILE:
                o->state_file = arg;
                return PARSE_RUN;
        case ARG_BUS:
                return bus_kind_from_string(arg, &o->bus) < 0
                        ? usage_error(origin, "invalid bus", arg, " (system, session or none)") : PARSE_RUN;
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
        }
        return PARSE_EXIT_USAGE;        /* parse_one() sends only the above */
}

static ParseOutcome parse_one(int c, const char *arg, Options *o, const char *origin) {
        const ParamInfo *info = param_of_option(c);

        if (info)
                return parse_param(info, arg, &o->params, origin);
        switch (c) {
        case ARG_DEV_NAME:
        case ARG_PATH:
        case ARG_FALLBACK_PATH:
        case ARG_STATE_FILE:
        case ARG_BUS:
        case 'u':
        case ARG_OWNER:
        case ARG_GROUP:
        case ARG_MODE:
                return parse_where(c, arg, o, origin);
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
                .params = params_defaults(),
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

        build_options();
        optind = 1;
        while ((c = getopt_long(argc, argv, short_options, long_options, NULL)) >= 0) {
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
        build_options();
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
