/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The run-time parameters, one struct for every door that changes them
 * (command line, ioctl, D-Bus), validated by one function. */

#include <stdbool.h>
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

/* Applies the setter cmd with value v to p; false for a number that is no
 * setter or a value no setter could take. The result still needs
 * params_invalid(). */
bool params_apply_ioctl(unsigned cmd, const IoctlValue *v, Params *p);

/* NULL when valid, otherwise what is wrong, for a message. */
const char *params_invalid(const Params *p);

bool params_system_limits(const Params *p);
