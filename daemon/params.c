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

#define PARAM(n, number, k, field, m)                                                   \
        { .bus_name = (n), .offset = offsetof(Params, field), .ioctl_get = STEVE_IOC_GET_##number, \
          .ioctl_set = STEVE_IOC_SET_##number, .kind = (k), .manage = (m) }

static const ParamInfo param_infos[] = {
        PARAM("Jobs",               JOBS,                 PARAM_U32,     jobs,                 false),
        PARAM("MinJobs",            MIN_JOBS,             PARAM_U32,     min_jobs,             false),
        PARAM("LoadAverage",        LOAD_AVERAGE,         PARAM_DOUBLE,  load_average,         false),
        PARAM("LoadRecheckTimeout", LOAD_RECHECK_TIMEOUT, PARAM_SECONDS, load_recheck_timeout, false),
        PARAM("MinMemoryAvail",     MIN_MEMORY_AVAIL,     PARAM_U64,     min_memory_avail,     false),
        PARAM("CpuPressure",        CPU_PRESSURE,         PARAM_DOUBLE,  cpu_pressure,         false),
        PARAM("MemoryPressure",     MEMORY_PRESSURE,      PARAM_DOUBLE,  memory_pressure,      false),
        PARAM("PerProcessLimit",    PER_PROCESS_LIMIT,    PARAM_U32,     per_process_limit,    false),
        PARAM("Paused",             PAUSED,               PARAM_BOOL,    paused,               true),
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

/* How many bytes each kind takes in Params. */
static const size_t field_sizes[] = {
        [PARAM_U32] = sizeof(uint32_t), [PARAM_U64] = sizeof(uint64_t), [PARAM_DOUBLE] = sizeof(double),
        [PARAM_BOOL] = sizeof(bool), [PARAM_SECONDS] = sizeof(uint64_t),
};

/* The field as stored; memcpy, because Params is reached by offset. */
static void load_field(const Params *p, const ParamInfo *info, void *out) {
        memcpy(out, (const char *) p + info->offset, field_sizes[info->kind]);
}

static void store_field(Params *p, const ParamInfo *info, const void *in) {
        memcpy((char *) p + info->offset, in, field_sizes[info->kind]);
}

void param_get(const Params *p, const ParamInfo *info, IoctlValue *ret) {
        uint64_t usec;
        bool b;

        *ret = (IoctlValue) {};
        switch (info->kind) {
        case PARAM_U32:     load_field(p, info, &ret->u32); break;
        case PARAM_U64:     load_field(p, info, &ret->u64); break;
        case PARAM_DOUBLE:  load_field(p, info, &ret->d); break;
        case PARAM_BOOL:    load_field(p, info, &b); ret->u32 = b; break;
        case PARAM_SECONDS: load_field(p, info, &usec); ret->d = (double) usec / 1e6; break;
        }
}

bool param_set(Params *p, const ParamInfo *info, const IoctlValue *v) {
        uint64_t usec;
        bool b;

        switch (info->kind) {
        case PARAM_U32:     store_field(p, info, &v->u32); break;
        case PARAM_U64:     store_field(p, info, &v->u64); break;
        case PARAM_DOUBLE:  store_field(p, info, &v->d); break;
        case PARAM_BOOL:
                if (v->u32 > 1)
                        return false;
                b = v->u32;
                store_field(p, info, &b);
                break;
        case PARAM_SECONDS:
                /* NaN and out-of-range values become 0, which params_invalid() refuses. */
                usec = v->d > 0 && v->d <= SECONDS_MAX ? (uint64_t) (v->d * 1e6) : 0;
                store_field(p, info, &usec);
                break;
        }
        return true;
}

void param_copy(Params *to, const Params *from, const ParamInfo *info) {
        /* The stored field itself: seconds through a double could lose a microsecond. */
        memcpy((char *) to + info->offset, (const char *) from + info->offset, field_sizes[info->kind]);
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
