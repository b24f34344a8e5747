/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <math.h>
#include <stddef.h>
#include <string.h>

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

static const ParamInfo param_infos[] = {
        { "Jobs", STEVE_IOC_GET_JOBS, STEVE_IOC_SET_JOBS, PARAM_U32, offsetof(Params, jobs), false },
        { "MinJobs", STEVE_IOC_GET_MIN_JOBS, STEVE_IOC_SET_MIN_JOBS, PARAM_U32, offsetof(Params, min_jobs), false },
        { "LoadAverage", STEVE_IOC_GET_LOAD_AVERAGE, STEVE_IOC_SET_LOAD_AVERAGE, PARAM_DOUBLE,
          offsetof(Params, load_average), false },
        { "LoadRecheckTimeout", STEVE_IOC_GET_LOAD_RECHECK_TIMEOUT, STEVE_IOC_SET_LOAD_RECHECK_TIMEOUT,
          PARAM_SECONDS, offsetof(Params, load_recheck_timeout), false },
        { "MinMemoryAvail", STEVE_IOC_GET_MIN_MEMORY_AVAIL, STEVE_IOC_SET_MIN_MEMORY_AVAIL, PARAM_U64,
          offsetof(Params, min_memory_avail), false },
        { "CpuPressure", STEVE_IOC_GET_CPU_PRESSURE, STEVE_IOC_SET_CPU_PRESSURE, PARAM_DOUBLE,
          offsetof(Params, cpu_pressure), false },
        { "MemoryPressure", STEVE_IOC_GET_MEMORY_PRESSURE, STEVE_IOC_SET_MEMORY_PRESSURE, PARAM_DOUBLE,
          offsetof(Params, memory_pressure), false },
        { "PerProcessLimit", STEVE_IOC_GET_PER_PROCESS_LIMIT, STEVE_IOC_SET_PER_PROCESS_LIMIT, PARAM_U32,
          offsetof(Params, per_process_limit), false },
        { "Paused", STEVE_IOC_GET_PAUSED, STEVE_IOC_SET_PAUSED, PARAM_BOOL, offsetof(Params, paused), true },
};

#define N_PARAM_INFOS (sizeof param_infos / sizeof param_infos[0])

const ParamInfo *param_nth(size_t i) {
        return i < N_PARAM_INFOS ? &param_infos[i] : NULL;
}

const ParamInfo *param_by_bus_name(const char *name) {
        for (size_t i = 0; i < N_PARAM_INFOS; i++)
                if (strcmp(param_infos[i].bus_name, name) == 0)
                        return &param_infos[i];
        return NULL;
}

const ParamInfo *param_by_ioctl_get(unsigned cmd) {
        for (size_t i = 0; i < N_PARAM_INFOS; i++)
                if (param_infos[i].ioctl_get == cmd)
                        return &param_infos[i];
        return NULL;
}

const ParamInfo *param_by_ioctl_set(unsigned cmd) {
        for (size_t i = 0; i < N_PARAM_INFOS; i++)
                if (param_infos[i].ioctl_set == cmd)
                        return &param_infos[i];
        return NULL;
}

const char *param_signature(const ParamInfo *info) {
        static const char *const signatures[] = {
                [PARAM_U32] = "u", [PARAM_U64] = "t", [PARAM_DOUBLE] = "d", [PARAM_BOOL] = "b", [PARAM_SECONDS] = "d",
        };
        return signatures[info->kind];
}

#define FIELD(p, info, type) ((type *) ((char *) (p) + (info)->offset))
#define CONST_FIELD(p, info, type) ((const type *) ((const char *) (p) + (info)->offset))

void param_get(const Params *p, const ParamInfo *info, IoctlValue *ret) {
        *ret = (IoctlValue) {};
        switch (info->kind) {
        case PARAM_U32:     ret->u32 = *CONST_FIELD(p, info, uint32_t); break;
        case PARAM_U64:     ret->u64 = *CONST_FIELD(p, info, uint64_t); break;
        case PARAM_DOUBLE:  ret->d = *CONST_FIELD(p, info, double); break;
        case PARAM_BOOL:    ret->u32 = *CONST_FIELD(p, info, bool); break;
        case PARAM_SECONDS: ret->d = (double) *CONST_FIELD(p, info, uint64_t) / 1e6; break;
        }
}

bool param_set(Params *p, const ParamInfo *info, const IoctlValue *v) {
        switch (info->kind) {
        case PARAM_U32:     *FIELD(p, info, uint32_t) = v->u32; break;
        case PARAM_U64:     *FIELD(p, info, uint64_t) = v->u64; break;
        case PARAM_DOUBLE:  *FIELD(p, info, double) = v->d; break;
        case PARAM_BOOL:
                if (v->u32 > 1)
                        return false;
                *FIELD(p, info, bool) = v->u32;
                break;
        case PARAM_SECONDS:
                /* NaN and out-of-range values become 0, which params_invalid() refuses. */
                *FIELD(p, info, uint64_t) = v->d > 0 && v->d <= SECONDS_MAX ? (uint64_t) (v->d * 1e6) : 0;
                break;
        }
        return true;
}

void param_copy(Params *to, const Params *from, const ParamInfo *info) {
        /* The stored field itself: seconds through a double could lose a microsecond. */
        static const size_t sizes[] = {
                [PARAM_U32] = sizeof(uint32_t), [PARAM_U64] = sizeof(uint64_t), [PARAM_DOUBLE] = sizeof(double),
                [PARAM_BOOL] = sizeof(bool), [PARAM_SECONDS] = sizeof(uint64_t),
        };
        memcpy((char *) to + info->offset, (const char *) from + info->offset, sizes[info->kind]);
}

bool param_equal(const Params *a, const Params *b, const ParamInfo *info) {
        IoctlValue x, y;

        param_get(a, info, &x);
        param_get(b, info, &y);
        switch (info->kind) {
        case PARAM_DOUBLE:
        case PARAM_SECONDS:
                return x.d == y.d;
        case PARAM_U64:
                return x.u64 == y.u64;
        default:
                return x.u32 == y.u32;
        }
}

bool params_apply_ioctl(unsigned cmd, const IoctlValue *v, Params *p) {
        const ParamInfo *info = param_by_ioctl_set(cmd);
        return info && param_set(p, info, v);
}
