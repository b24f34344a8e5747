/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "log.h"

#define JOBS_MAX 65536

typedef struct Options {
        uint32_t jobs;
        const char *dev_name;
        const char *path;               /* serve over FUSE here */
        const char *fallback_path;      /* ...or here if /dev/cuse is missing */
        const char *user;
        uid_t node_uid;
        gid_t node_gid;
        mode_t node_mode;
        bool node_uid_set, node_gid_set;
        uint64_t reservation_timeout;   /* usec */
        LogLevel log_level;
} Options;

typedef enum ParseOutcome {
        PARSE_RUN,
        PARSE_EXIT_OK,          /* --help, --version */
        PARSE_EXIT_USAGE,       /* the message is printed already */
} ParseOutcome;

/* Parsers for single values; -EINVAL (or -ERANGE) for anything but a clean value. */
int parse_jobs(const char *s, uint32_t *ret);
int parse_mode(const char *s, mode_t *ret);
int parse_seconds(const char *s, uint64_t *ret_usec);
int parse_dev_name(const char *s);

ParseOutcome options_parse(int argc, char *argv[], Options *ret);
