/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"
#include "sysload.h"

int sysload_parse_loadavg(const char *text, double *ret) {
        char *end;
        double v = strtod(text, &end);

        if (end == text || !isfinite(v) || v < 0)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int sysload_parse_meminfo(const char *text, uint64_t *ret) {
        const char *p = strstr(text, "MemAvailable:");
        unsigned long long kib;

        if (!p || sscanf(p, "MemAvailable: %llu kB", &kib) != 1)
                return -EBADMSG;
        *ret = (uint64_t) kib * 1024;
        return 0;
}

int sysload_parse_pressure(const char *text, double *ret) {
        double v;

        if (strncmp(text, "some ", 5) != 0 || sscanf(text, "some avg10=%lf", &v) != 1 || !isfinite(v) || v < 0)
                return -EBADMSG;
        *ret = v;
        return 0;
}

static int read_text(const char *proc, const char *name, char *buf, size_t size) {
        char path[4096];

        snprintf(path, sizeof path, "%s/%s", proc, name);
        return read_small_file(path, buf, size, NULL);
}

int sysload_read(const char *proc, const Params *p, SysLoad *ret) {
        char buf[4096];
        SysLoad load = {};
        int r = 0;

        if (p->load_average > 0 && (r = read_text(proc, "loadavg", buf, sizeof buf)) >= 0)
                r = sysload_parse_loadavg(buf, &load.load1);
        if (r >= 0 && p->min_memory_avail > 0 && (r = read_text(proc, "meminfo", buf, sizeof buf)) >= 0)
                r = sysload_parse_meminfo(buf, &load.mem_available);
        if (r >= 0 && p->cpu_pressure > 0 && (r = read_text(proc, "pressure/cpu", buf, sizeof buf)) >= 0)
                r = sysload_parse_pressure(buf, &load.cpu_some_avg10);
        if (r >= 0 && p->memory_pressure > 0 && (r = read_text(proc, "pressure/memory", buf, sizeof buf)) >= 0)
                r = sysload_parse_pressure(buf, &load.memory_some_avg10);
        if (r < 0)
                return r;
        *ret = load;
        return 0;
}

const char *sysload_unsupported(const char *proc, const Params *p) {
        char path[4096];

        snprintf(path, sizeof path, "%s/pressure/%s", proc, "cpu");
        if (p->cpu_pressure > 0 && access(path, R_OK) < 0)
                return "this kernel has no pressure stall information (/proc/pressure/cpu is missing: "
                       "CONFIG_PSI off, or psi=0 on its command line)";
        snprintf(path, sizeof path, "%s/pressure/%s", proc, "memory");
        if (p->memory_pressure > 0 && access(path, R_OK) < 0)
                return "this kernel has no pressure stall information (/proc/pressure/memory is missing: "
                       "CONFIG_PSI off, or psi=0 on its command line)";
        return NULL;
}

SysLimit sysload_over_limit(const Params *p, const SysLoad *load) {
        if (p->load_average > 0 && load->load1 >= p->load_average)
                return SYSLIMIT_LOAD_AVERAGE;
        if (p->min_memory_avail > 0 && load->mem_available < p->min_memory_avail)
                return SYSLIMIT_MEMORY_AVAILABLE;
        if (p->cpu_pressure > 0 && load->cpu_some_avg10 >= p->cpu_pressure)
                return SYSLIMIT_CPU_PRESSURE;
        if (p->memory_pressure > 0 && load->memory_some_avg10 >= p->memory_pressure)
                return SYSLIMIT_MEMORY_PRESSURE;
        return SYSLIMIT_NONE;
}

const char *sysload_limit_name(SysLimit limit) {
        switch (limit) {
        case SYSLIMIT_NONE:
                return "no limit";
        case SYSLIMIT_LOAD_AVERAGE:
                return "load average";
        case SYSLIMIT_MEMORY_AVAILABLE:
                return "available memory";
        case SYSLIMIT_CPU_PRESSURE:
                return "CPU pressure";
        case SYSLIMIT_MEMORY_PRESSURE:
                return "memory pressure";
        }
        return "?";
}
