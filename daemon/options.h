/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "log.h"
#include "params.h"

typedef enum BusKind {
        BUS_NONE,
        BUS_SYSTEM,
        BUS_SESSION,
} BusKind;

int bus_kind_from_string(const char *s, BusKind *ret);

typedef struct Options {
        Params params;
        const char *dev_name;
        const char *path;               /* serve over FUSE here */
        const char *fallback_path;      /* ...or here if /dev/cuse is missing */
        const char *user;
        uid_t node_uid;
        gid_t node_gid;
        mode_t node_mode;
        bool node_uid_set, node_gid_set;
        LogLevel log_level;
        BusKind bus;
        const char *state_file;         /* what outlives steve; NULL: nothing */
        const char *config_path;        /* NULL: --no-config */
        bool config_path_given;         /* --config: the file must exist */
        char **owned;                   /* strings read from the config file */
        size_t n_owned;
} Options;

typedef enum ParseOutcome {
        PARSE_RUN,
        PARSE_EXIT_OK,          /* --help, --version */
        PARSE_EXIT_USAGE,       /* the message is printed already */
} ParseOutcome;

/* Defaults, then the config file (default STEVE_CONFIG_PATH; a missing
 * default file is fine), then the command line. Errors are logged, one line
 * each, with FILE:LINE for the file's. */
ParseOutcome options_parse(int argc, char *argv[], Options *ret);
/* Frees what options_parse() kept from the file. */
void options_done(Options *o);

/* The pieces, for tests and the fuzzer: the built-in defaults, and one
 * config file's settings applied over o (name is for messages). */
Options options_defaults(void);
ParseOutcome options_read_config(FILE *file, const char *name, Options *o);
