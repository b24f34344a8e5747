/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Reads how busy the machine is from /proc (or a stand-in directory for
 * tests): load average, MemAvailable, pressure stall information. */

#include <stdbool.h>
#include <stdint.h>

#include "params.h"

typedef struct SysLoad {
        double load1;
        uint64_t mem_available;         /* bytes */
        double cpu_some_avg10, memory_some_avg10;
} SysLoad;

/* Reads what the limits in p need. */
int sysload_read(const char *proc, const Params *p, SysLoad *ret);
/* NULL when p's limits can be checked here; else why not (no PSI, say). */
const char *sysload_unsupported(const char *proc, const Params *p);
typedef enum SysLimit {
        SYSLIMIT_NONE,
        SYSLIMIT_LOAD_AVERAGE,
        SYSLIMIT_MEMORY_AVAILABLE,
        SYSLIMIT_CPU_PRESSURE,
        SYSLIMIT_MEMORY_PRESSURE,
} SysLimit;

/* Which limit the reading breaks, the first in that order. */
SysLimit sysload_over_limit(const Params *p, const SysLoad *load);
/* "load average", "available memory"...; for the log. */
const char *sysload_limit_name(SysLimit limit);

/* Parsers, exposed for the unit tests. */
int sysload_parse_loadavg(const char *text, double *ret);
int sysload_parse_meminfo(const char *text, uint64_t *ret);
int sysload_parse_pressure(const char *text, double *ret);
