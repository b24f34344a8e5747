/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <math.h>
#include <stddef.h>

#include "steve/steve-ioctl.h"

#include "params.h"

static bool percent_ok(double v) {
        return isfinite(v) && v >= 0 && v <= 100;
}

static bool timeout_ok(uint64_t usec) {
        return usec > 0 && usec <= (uint64_t) (SECONDS_MAX * 1e6);
}

const char *params_invalid(const Params *p) {
        if (p->jobs < 1 || p->jobs > JOBS_MAX)
                return "jobs must be from 1 to 65536";
        if (p->min_jobs > JOBS_MAX)
                return "min-jobs must be from 0 to 65536";
        if (!isfinite(p->load_average) || p->load_average < 0 || p->load_average > 1e6)
                return "the load average limit must be a number from 0 (off) to 1000000";
        if (!timeout_ok(p->load_recheck_timeout))
                return "the load recheck timeout must be above 0 and at most 3600 seconds";
        if (!percent_ok(p->cpu_pressure) || !percent_ok(p->memory_pressure))
                return "pressure limits must be percentages from 0 (off) to 100";
        if (p->per_process_limit > JOBS_MAX)
                return "the per-process limit must be from 0 (none) to 65536";
        if (!timeout_ok(p->reservation_timeout))
                return "the reservation timeout must be above 0 and at most 3600 seconds";
        return NULL;
}

bool params_system_limits(const Params *p) {
        return p->load_average > 0 || p->min_memory_avail > 0 || p->cpu_pressure > 0 || p->memory_pressure > 0;
}

/* Applies a setter to a copy of the parameters; false for unknown numbers. */
bool params_apply_ioctl(unsigned cmd, const IoctlValue *v, Params *p) {
        switch (cmd) {
        case STEVE_IOC_SET_JOBS:        p->jobs = v->u32; break;
        case STEVE_IOC_SET_MIN_JOBS:    p->min_jobs = v->u32; break;
        case STEVE_IOC_SET_LOAD_AVERAGE: p->load_average = v->d; break;
        case STEVE_IOC_SET_LOAD_RECHECK_TIMEOUT:
                /* NaN and out-of-range values become 0, which params_invalid() refuses. */
                p->load_recheck_timeout = v->d > 0 && v->d <= SECONDS_MAX ? (uint64_t) (v->d * 1e6) : 0;
                break;
        case STEVE_IOC_SET_MIN_MEMORY_AVAIL: p->min_memory_avail = v->u64; break;
        case STEVE_IOC_SET_PER_PROCESS_LIMIT: p->per_process_limit = v->u32; break;
        case STEVE_IOC_SET_CPU_PRESSURE: p->cpu_pressure = v->d; break;
        case STEVE_IOC_SET_MEMORY_PRESSURE: p->memory_pressure = v->d; break;
        case STEVE_IOC_SET_PAUSED:
                if (v->u32 > 1)
                        return false;
                p->paused = v->u32;
                break;
        default:
                return false;
        }
        return true;
}
