/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The run-time parameters: one struct for every door that changes them
 * (command line, config file, ioctl, D-Bus), and one table that describes
 * each once: its option and config key, its D-Bus property, its ioctl
 * numbers, its range and unit, its help text and the polkit action that
 * guards it. The option parser, the config reader, --help, the D-Bus vtable,
 * the ioctl door and stevie are all made from the table; tests/unit/test-params
 * holds the man pages, the D-Bus XML and the README to it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for the parameter table wherever it is laid out whole (getopt's
 * options, the D-Bus vtable, the state file): params.c checks it fits. */
#define PARAMS_MAX 32
#define JOBS_MAX 65536
#define SECONDS_MAX 3600.0

typedef struct Params {
        uint32_t jobs;
        uint32_t min_jobs;
        double load_average;            /* 1-minute load; 0: off */
        uint64_t load_recheck_timeout;  /* usec */
        uint64_t min_memory_avail;      /* bytes; 0: off */
        double cpu_pressure;            /* percent; 0: off */
        double memory_pressure;         /* percent; 0: off */
        uint32_t per_process_limit;     /* 0: none */
        uint32_t per_user_limit;        /* 0: none */
        bool paused;
        uint64_t reservation_timeout;   /* usec */
        uint32_t policy;                /* LedgerPolicy: fair, fifo */
        uint64_t claim_timeout;         /* usec */
        uint32_t clients_per_user;      /* processes of one uid steve tracks; 0: no cap */
        uint32_t waiters_per_user;      /* blocked reads one uid may have kept waiting; 0: no cap */
} Params;

/* A parameter's value as it crosses a door (ioctl payload, D-Bus variant).
 * Zero it as { .u64 = 0 }: "{}" zeroes only the first member under clang. */
typedef union IoctlValue {
        uint32_t u32;
        uint64_t u64;
        int64_t i64;
        double d;
} IoctlValue;

typedef enum ParamKind {
        PARAM_COUNT,            /* uint32_t; ioctl u32, D-Bus 'u'; text: a whole number */
        PARAM_BYTES,            /* uint64_t; ioctl u64, D-Bus 't'; text: 512M, 8G (plain: MiB) */
        PARAM_NUMBER,           /* double; ioctl d, D-Bus 'd' */
        PARAM_SECONDS,          /* uint64_t usec; ioctl d and D-Bus 'd' in seconds */
        PARAM_BOOL,             /* bool; ioctl u32 0 or 1, D-Bus 'b'; text: yes or no */
        PARAM_CHOICE,           /* uint32_t index into choices; ioctl u32, D-Bus 's' and text: its name */
} ParamKind;

/* Where --help lists it. */
typedef enum ParamGroup {
        PARAM_GROUP_POOL,
        PARAM_GROUP_LIMIT,
} ParamGroup;

typedef struct ParamInfo {
        const char *name;               /* long option, config key, stevie's --get-NAME/--set-NAME */
        const char *bus_name;           /* the D-Bus property; NULL: not published */
        size_t offset;                  /* in Params */
        double min, max;                /* as the doors see it (seconds, bytes); max 0: none */
        double default_value;
        const char *what;               /* for messages: "invalid number of jobs 'x'" */
        const char *metavar;            /* in --help and the man pages: --jobs=N */
        const char *help;               /* --help's description; '\n' continues it */
        const char *on_option, *off_option;     /* a bool's stevie shorthands: --pause, --resume */
        const char *const *choices;     /* a choice's names, NULL-terminated, index order */
        unsigned ioctl_get, ioctl_set;  /* 0: none */
        ParamKind kind;
        ParamGroup group;
        char short_option;              /* 0: none */
        bool above_min;                 /* min itself is refused (a timeout of 0) */
        bool zero_is_off;               /* a limit: 0 turns it off (stevie shows -1) */
        bool percent;
        bool manage;                    /* needs org.steve.Jobserver.manage, not .configure */
        bool zero_needs_manage;         /* so does setting it to 0 (it can stop every token) */
        bool runtime_only;              /* no option or config key: D-Bus and ioctls only */
} ParamInfo;

/* All of them, for walking: NULL past the last. */
const ParamInfo *param_nth(size_t i);
const ParamInfo *param_by_name(const char *name);
const ParamInfo *param_by_bus_name(const char *name);
const ParamInfo *param_by_ioctl_get(unsigned cmd);
const ParamInfo *param_by_ioctl_set(unsigned cmd);
/* The D-Bus signature of its kind: "u", "t", "d" or "b". */
const char *param_signature(const ParamInfo *info);

/* The value as the doors see it (a bool as u32, seconds as double). */
void param_get(const Params *p, const ParamInfo *info, IoctlValue *ret);
/* Stores v; false for a value outside the parameter's range (p unchanged). */
bool param_set(Params *p, const ParamInfo *info, const IoctlValue *v);
/* Text (an option, a config value, stevie's argument) to the door's value;
 * for a limit, -1 means off as 0 does. -EINVAL for bad text, -ERANGE for a
 * value outside the range. */
int param_parse(const ParamInfo *info, const char *text, IoctlValue *ret);
/* A choice's index by name; -EINVAL for none. */
int param_choice(const ParamInfo *info, const char *name, uint32_t *ret);
/* The door's value as stevie prints it: an off limit as -1, a choice by name. */
void param_format(const ParamInfo *info, const IoctlValue *v, char *buf, size_t size);
/* "a whole number from 1 to 65536": what param_parse() takes, for messages. */
void param_describe(const ParamInfo *info, char *buf, size_t size);
/* Copies one parameter from one set to another. */
void param_copy(Params *to, const Params *from, const ParamInfo *info);
bool param_equal(const Params *a, const Params *b, const ParamInfo *info);

/* Whether setting info to v is pausing-class power (org.steve.Jobserver.manage). */
bool param_needs_manage(const ParamInfo *info, const IoctlValue *v);

/* Applies the setter cmd with value v to p; false for a number that is no
 * setter or a value it does not take. */
bool params_apply_ioctl(unsigned cmd, const IoctlValue *v, Params *p);

/* Every parameter at its default; jobs at the online CPUs. */
Params params_defaults(void);
/* NULL when valid, otherwise what is wrong, for a message. */
const char *params_invalid(const Params *p);

bool params_system_limits(const Params *p);
