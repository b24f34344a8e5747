/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
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
} Options;

typedef enum ParseOutcome {
        PARSE_RUN,
        PARSE_EXIT_OK,          /* --help, --version */
        PARSE_EXIT_USAGE,       /* the message is printed already */
} ParseOutcome;

ParseOutcome options_parse(int argc, char *argv[], Options *ret);
