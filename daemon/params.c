/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "steve/steve-ioctl.h"

#include "params.h"
#include "parse.h"
#include "util.h"

#define IOCTLS(number) .ioctl_get = STEVE_IOC_GET_##number, .ioctl_set = STEVE_IOC_SET_##number
#define FIELD(f) .offset = offsetof(Params, f)

/* LedgerPolicy's order. */
static const char *const policies[] = { "fair", "fifo", NULL };

static const ParamInfo param_infos[] = {
        { .name = "jobs", .short_option = 'j', .bus_name = "Jobs", IOCTLS(JOBS), FIELD(jobs),
          .kind = PARAM_COUNT, .min = 1, .max = JOBS_MAX, .group = PARAM_GROUP_POOL,
          .what = "number of jobs", .metavar = "N", .help = "tokens in the pool (default: online CPUs)" },
        { .name = "reserve-timeout", FIELD(reservation_timeout),
          .kind = PARAM_SECONDS, .min = 0, .above_min = true, .max = SECONDS_MAX, .default_value = 0.5,
          .group = PARAM_GROUP_POOL, .what = "timeout", .metavar = "SEC",
          .help = "how long a token stays reserved for a process\ntold POLLIN before it goes on (default: 0.5)" },
        { .name = "policy", .bus_name = "Policy", IOCTLS(POLICY), FIELD(policy), .kind = PARAM_CHOICE,
          .choices = policies, .max = 1, .group = PARAM_GROUP_POOL, .what = "policy", .metavar = "POLICY",
          .help = "who gets a token when several wait: fair (weighted\nshares between builds, the default) or fifo" },
        { .name = "claim-timeout", FIELD(claim_timeout),
          .kind = PARAM_SECONDS, .min = 0, .above_min = true, .max = SECONDS_MAX, .default_value = 0.5,
          .group = PARAM_GROUP_POOL, .what = "timeout", .metavar = "SEC",
          .help = "how long a token stays reserved for a refused\nnon-blocking reader below its share (default: 0.5)" },
        { .name = "waiters-per-user", FIELD(waiters_per_user), .kind = PARAM_COUNT, .max = 1000000,
          .zero_is_off = true, .default_value = 1024, .group = PARAM_GROUP_POOL, .what = "number of reads",
          .metavar = "N",
          .help = "blocked reads of one user kept waiting at once;\nmore are answered EINTR and read again\n"
                  "(default: 1024, about 4 MiB of steve's; 0: no cap)" },
        { .name = "clients-per-user", FIELD(clients_per_user), .kind = PARAM_COUNT, .max = 1000000,
          .zero_is_off = true, .default_value = 4096, .group = PARAM_GROUP_POOL, .what = "number of processes",
          .metavar = "N",
          .help = "processes of one user that steve keeps track of\nat once; more are refused EUSERS (default: 4096,\n"
                  "about 8 MiB of steve's; 0: no cap)" },
        { .name = "load-average", .short_option = 'l', .bus_name = "LoadAverage", IOCTLS(LOAD_AVERAGE),
          FIELD(load_average), .kind = PARAM_NUMBER, .max = 1e6, .zero_is_off = true,
          .group = PARAM_GROUP_LIMIT, .what = "load average", .metavar = "L",
          .help = "hold back tokens while the 1-minute load is >= L" },
        { .name = "min-memory-avail", .bus_name = "MinMemoryAvail", IOCTLS(MIN_MEMORY_AVAIL),
          FIELD(min_memory_avail), .kind = PARAM_BYTES, .zero_is_off = true,
          .group = PARAM_GROUP_LIMIT, .what = "size", .metavar = "SIZE",
          .help = "...while MemAvailable is below SIZE (512M, 8G;\na plain number is MiB)" },
        { .name = "cpu-pressure", .bus_name = "CpuPressure", IOCTLS(CPU_PRESSURE), FIELD(cpu_pressure),
          .kind = PARAM_NUMBER, .max = 100, .zero_is_off = true, .percent = true,
          .group = PARAM_GROUP_LIMIT, .what = "CPU pressure", .metavar = "PCT",
          .help = "...while CPU pressure (some avg10) is >= PCT" },
        { .name = "memory-pressure", .bus_name = "MemoryPressure", IOCTLS(MEMORY_PRESSURE),
          FIELD(memory_pressure), .kind = PARAM_NUMBER, .max = 100, .zero_is_off = true, .percent = true,
          .group = PARAM_GROUP_LIMIT, .what = "memory pressure", .metavar = "PCT",
          .help = "...while memory pressure (some avg10) is >= PCT" },
        { .name = "min-jobs", .bus_name = "MinJobs", IOCTLS(MIN_JOBS), FIELD(min_jobs),
          .kind = PARAM_COUNT, .max = JOBS_MAX, .default_value = 1, .zero_needs_manage = true,
          .group = PARAM_GROUP_LIMIT, .what = "number of jobs", .metavar = "N",
          .help = "tokens handed out even then (default: 1)" },
        { .name = "load-recheck-timeout", .bus_name = "LoadRecheckTimeout", IOCTLS(LOAD_RECHECK_TIMEOUT),
          FIELD(load_recheck_timeout), .kind = PARAM_SECONDS, .min = 0, .above_min = true,
          .max = SECONDS_MAX, .default_value = 0.5, .group = PARAM_GROUP_LIMIT, .what = "timeout",
          .metavar = "SEC",
          .help = "how often to look again while a limit holds\na waiter back (default: 0.5; no timer otherwise)" },
        { .name = "per-process-limit", .short_option = 'p', .bus_name = "PerProcessLimit",
          IOCTLS(PER_PROCESS_LIMIT), FIELD(per_process_limit), .kind = PARAM_COUNT, .max = JOBS_MAX,
          .zero_is_off = true, .group = PARAM_GROUP_LIMIT, .what = "per-process limit", .metavar = "N",
          .help = "no process holds more than N tokens (0: none)" },
        { .name = "per-user-limit", .short_option = 'U', .bus_name = "PerUserLimit", IOCTLS(PER_USER_LIMIT),
          FIELD(per_user_limit), .kind = PARAM_COUNT, .max = JOBS_MAX, .zero_is_off = true,
          .group = PARAM_GROUP_LIMIT, .what = "per-user limit", .metavar = "N",
          .help = "the processes of one user hold no more than N\ntokens together (0: none)" },
        { .name = "paused", .bus_name = "Paused", IOCTLS(PAUSED), FIELD(paused), .kind = PARAM_BOOL,
          .max = 1, .manage = true, .runtime_only = true, .what = "boolean",
          .on_option = "pause", .off_option = "resume" },
};

_Static_assert(ELEMENTSOF(param_infos) <= PARAMS_MAX, "the parameter table outgrew PARAMS_MAX");

const ParamInfo *param_nth(size_t i) {
        return i < ELEMENTSOF(param_infos) ? &param_infos[i] : NULL;
}

const ParamInfo *param_by_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(param_infos); i++)
                if (strcmp(param_infos[i].name, name) == 0)
                        return &param_infos[i];
        return NULL;
}

const ParamInfo *param_by_bus_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(param_infos); i++)
                if (param_infos[i].bus_name && strcmp(param_infos[i].bus_name, name) == 0)
                        return &param_infos[i];
        return NULL;
}

const ParamInfo *param_by_ioctl_get(unsigned cmd) {
        for (size_t i = 0; i < ELEMENTSOF(param_infos); i++)
                if (param_infos[i].ioctl_get != 0 && param_infos[i].ioctl_get == cmd)
                        return &param_infos[i];
        return NULL;
}

const ParamInfo *param_by_ioctl_set(unsigned cmd) {
        for (size_t i = 0; i < ELEMENTSOF(param_infos); i++)
                if (param_infos[i].ioctl_set != 0 && param_infos[i].ioctl_set == cmd)
                        return &param_infos[i];
        return NULL;
}

const char *param_signature(const ParamInfo *info) {
        static const char *const signatures[] = {
                [PARAM_COUNT] = "u", [PARAM_BYTES] = "t", [PARAM_NUMBER] = "d", [PARAM_SECONDS] = "d",
                [PARAM_BOOL] = "b", [PARAM_CHOICE] = "s",
        };
        return signatures[info->kind];
}

/* How many bytes each kind takes in Params. */
static const size_t field_sizes[] = {
        [PARAM_COUNT] = sizeof(uint32_t), [PARAM_BYTES] = sizeof(uint64_t), [PARAM_NUMBER] = sizeof(double),
        [PARAM_SECONDS] = sizeof(uint64_t), [PARAM_BOOL] = sizeof(bool), [PARAM_CHOICE] = sizeof(uint32_t),
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

        *ret = (IoctlValue) { .u64 = 0 };
        switch (info->kind) {
        case PARAM_COUNT:
        case PARAM_CHOICE:  load_field(p, info, &ret->u32); break;
        case PARAM_BYTES:   load_field(p, info, &ret->u64); break;
        case PARAM_NUMBER:  load_field(p, info, &ret->d); break;
        case PARAM_BOOL:    load_field(p, info, &b); ret->u32 = b; break;
        case PARAM_SECONDS: load_field(p, info, &usec); ret->d = (double) usec / 1e6; break;
        }
}

/* The value as a number, for the range check. */
static double as_number(const ParamInfo *info, const IoctlValue *v) {
        switch (info->kind) {
        case PARAM_COUNT:
        case PARAM_BOOL:
        case PARAM_CHOICE:
                return v->u32;
        case PARAM_BYTES:
                return (double) v->u64;
        case PARAM_NUMBER:
        case PARAM_SECONDS:
                break;
        }
        return v->d;
}

static bool in_range(const ParamInfo *info, const IoctlValue *v) {
        double x = as_number(info, v);

        if (!isfinite(x) || x < info->min || (info->above_min && x <= info->min))
                return false;
        /* Kept in microseconds. */
        if (info->kind == PARAM_SECONDS && x < 1e-6)
                return false;
        return info->max == 0 || x <= info->max;
}

bool param_set(Params *p, const ParamInfo *info, const IoctlValue *v) {
        uint64_t usec;
        bool b;

        if (!in_range(info, v))
                return false;
        switch (info->kind) {
        case PARAM_COUNT:
        case PARAM_CHOICE: store_field(p, info, &v->u32); break;
        case PARAM_BYTES:  store_field(p, info, &v->u64); break;
        case PARAM_NUMBER: store_field(p, info, &v->d); break;
        case PARAM_BOOL:   b = v->u32; store_field(p, info, &b); break;
        case PARAM_SECONDS:
                usec = (uint64_t) (v->d * 1e6);
                store_field(p, info, &usec);
                break;
        }
        return true;
}

int param_parse(const ParamInfo *info, const char *text, IoctlValue *ret) {
        int r = 0;

        *ret = (IoctlValue) { .u64 = 0 };
        if (info->zero_is_off && text && strcmp(text, "-1") == 0)
                return 0;
        switch (info->kind) {
        case PARAM_COUNT:
                r = parse_whole(text, &ret->u32);
                break;
        case PARAM_BYTES:
                r = parse_size(text, &ret->u64);
                break;
        case PARAM_NUMBER:
        case PARAM_SECONDS:
                r = parse_number(text, INFINITY, &ret->d);
                break;
        case PARAM_BOOL:
                r = text ? parse_boolean(text) : -EINVAL;
                if (r >= 0)
                        ret->u32 = (uint32_t) r;
                break;
        case PARAM_CHOICE:
                r = param_choice(info, text, &ret->u32);
                break;
        }
        if (r < 0)
                return r;
        return in_range(info, ret) ? 0 : -ERANGE;
}

int param_choice(const ParamInfo *info, const char *name, uint32_t *ret) {
        for (uint32_t i = 0; info->choices && name && info->choices[i]; i++)
                if (strcmp(info->choices[i], name) == 0) {
                        *ret = i;
                        return 0;
                }
        return -EINVAL;
}

void param_format(const ParamInfo *info, const IoctlValue *v, char *buf, size_t size) {
        if (info->kind == PARAM_CHOICE)
                snprintf(buf, size, "%s", v->u32 <= info->max ? info->choices[v->u32] : "?");
        else if (info->zero_is_off && as_number(info, v) == 0)
                snprintf(buf, size, "-1");
        else if (info->kind == PARAM_BYTES)
                snprintf(buf, size, "%" PRIu64, v->u64);
        else if (info->kind == PARAM_COUNT || info->kind == PARAM_BOOL)
                snprintf(buf, size, "%" PRIu32, v->u32);
        else
                snprintf(buf, size, "%g", v->d);
}

void param_describe(const ParamInfo *info, char *buf, size_t size) {
        switch (info->kind) {
        case PARAM_COUNT:
                snprintf(buf, size, "a whole number from %.15g to %.15g%s", info->min, info->max,
                         info->zero_is_off ? ", 0 for none" : "");
                break;
        case PARAM_BYTES:
                snprintf(buf, size, "a size like 512M or 8G (a plain number is MiB), 0 for no limit");
                break;
        case PARAM_NUMBER:
                snprintf(buf, size, "a %s from 0 (no limit) to %.15g", info->percent ? "percentage" : "number",
                         info->max);
                break;
        case PARAM_SECONDS:
                snprintf(buf, size, "seconds, above 0, at most %.15g", info->max);
                break;
        case PARAM_BOOL:
                snprintf(buf, size, "yes or no");
                break;
        case PARAM_CHOICE:
                snprintf(buf, size, "%s or %s", info->choices[0], info->choices[1]);
                break;
        }
}

void param_copy(Params *to, const Params *from, const ParamInfo *info) {
        /* The stored field itself: seconds through a double could lose a microsecond. */
        memcpy((char *) to + info->offset, (const char *) from + info->offset, field_sizes[info->kind]);
}

bool param_equal(const Params *a, const Params *b, const ParamInfo *info) {
        return memcmp((const char *) a + info->offset, (const char *) b + info->offset,
                      field_sizes[info->kind]) == 0;
}

bool param_needs_manage(const ParamInfo *info, const IoctlValue *v) {
        return info->manage || (info->zero_needs_manage && as_number(info, v) == 0);
}

bool params_apply_ioctl(unsigned cmd, const IoctlValue *v, Params *p) {
        const ParamInfo *info = param_by_ioctl_set(cmd);
        return info && param_set(p, info, v);
}

static uint32_t online_cpus(void) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n < 1 ? 1 : n > JOBS_MAX ? JOBS_MAX : (uint32_t) n;
}

Params params_defaults(void) {
        Params p = {};

        for (size_t i = 0; i < ELEMENTSOF(param_infos); i++) {
                const ParamInfo *info = &param_infos[i];
                IoctlValue v = { .u64 = 0 };

                switch (info->kind) {
                case PARAM_COUNT:
                case PARAM_CHOICE:
                case PARAM_BOOL:  v.u32 = (uint32_t) info->default_value; break;
                case PARAM_BYTES: v.u64 = (uint64_t) info->default_value; break;
                default:          v.d = info->default_value; break;
                }
                (void) param_set(&p, info, &v);
        }
        p.jobs = online_cpus();
        return p;
}

const char *params_invalid(const Params *p) {
        /* One thread asks; the message lives until the next call. */
        static char message[128];

        for (size_t i = 0; i < ELEMENTSOF(param_infos); i++) {
                const ParamInfo *info = &param_infos[i];
                IoctlValue v;
                char range[96];

                param_get(p, info, &v);
                if (!in_range(info, &v)) {
                        param_describe(info, range, sizeof range);
                        snprintf(message, sizeof message, "%s must be %s", info->name, range);
                        return message;
                }
        }
        return NULL;
}

bool params_system_limits(const Params *p) {
        return p->load_average > 0 || p->min_memory_avail > 0 || p->cpu_pressure > 0 || p->memory_pressure > 0;
}
