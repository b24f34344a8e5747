/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The run-time parameters, one struct for every door that changes them
 * (command line, ioctl, D-Bus), validated by one function. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOBS_MAX 65536

typedef struct Params {
        uint32_t jobs;
        uint32_t min_jobs;
        double load_average;            /* 1-minute load; 0: off */
        uint64_t load_recheck_timeout;  /* usec */
        uint64_t min_memory_avail;      /* bytes; 0: off */
        double cpu_pressure;            /* percent; 0: off */
        double memory_pressure;         /* percent; 0: off */
        uint32_t per_process_limit;     /* 0: none */
        bool paused;
        uint64_t reservation_timeout;   /* usec */
} Params;

#define PARAMS_DEFAULT_LOAD_RECHECK_TIMEOUT (UINT64_C(1000000) / 2)
#define PARAMS_DEFAULT_RESERVATION_TIMEOUT (UINT64_C(1000000) / 2)
#define SECONDS_MAX 3600.0

/* An ioctl's payload, whichever type its number says. */
typedef union IoctlValue {
        uint32_t u32;
        uint64_t u64;
        int64_t i64;
        double d;
} IoctlValue;

/* How one parameter travels: its D-Bus property, its ioctl numbers, how it is
 * stored in Params and shown outside. Both doors (ioctl and D-Bus) read and
 * write parameters through these, so they cannot disagree. */
typedef enum ParamKind {
        PARAM_U32,              /* ioctl u32, D-Bus 'u' */
        PARAM_U64,              /* ioctl u64, D-Bus 't' */
        PARAM_DOUBLE,           /* ioctl d, D-Bus 'd' */
        PARAM_BOOL,             /* ioctl u32 0 or 1, D-Bus 'b' */
        PARAM_SECONDS,          /* stored in usec; ioctl d and D-Bus 'd' in seconds */
} ParamKind;

typedef struct ParamInfo {
        const char *bus_name;
        size_t offset;          /* in Params */
        unsigned ioctl_get, ioctl_set;
        ParamKind kind;
        bool manage;            /* needs org.steve.Jobserver.manage, not .configure */
} ParamInfo;

/* All of them, for walking: NULL past the last. */
const ParamInfo *param_nth(size_t i);
const ParamInfo *param_by_bus_name(const char *name);
const ParamInfo *param_by_ioctl_get(unsigned cmd);
const ParamInfo *param_by_ioctl_set(unsigned cmd);
/* The D-Bus signature of a kind: "u", "t", "d" or "b". */
const char *param_signature(const ParamInfo *info);

/* The value as the outside sees it (a bool as u32, seconds as double). */
void param_get(const Params *p, const ParamInfo *info, IoctlValue *ret);
/* Stores v; false for a value no parameter of this kind could take (a bool
 * other than 0 or 1). The result still needs params_invalid(). */
bool param_set(Params *p, const ParamInfo *info, const IoctlValue *v);
/* Copies one parameter from one set to another. */
void param_copy(Params *to, const Params *from, const ParamInfo *info);
bool param_equal(const Params *a, const Params *b, const ParamInfo *info);

/* Applies the setter cmd with value v to p; false for a number that is no
 * setter or a value no setter could take. The result still needs
 * params_invalid(). */
bool params_apply_ioctl(unsigned cmd, const IoctlValue *v, Params *p);

/* NULL when valid, otherwise what is wrong, for a message. */
const char *params_invalid(const Params *p);

bool params_system_limits(const Params *p);
