/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Feeds untrusted text and payloads to everything that parses them: option
 * values, the /proc readers, ioctl numbers with their payloads. Nothing may
 * crash, and whatever validation lets through must be within the documented
 * ranges.
 */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "steve/steve-ioctl.h"

#include "params.h"
#include "parse.h"
#include "sysload.h"
#include "text.h"

static const unsigned setters[] = {
        STEVE_IOC_SET_JOBS, STEVE_IOC_SET_MIN_JOBS, STEVE_IOC_SET_LOAD_AVERAGE,
        STEVE_IOC_SET_LOAD_RECHECK_TIMEOUT, STEVE_IOC_SET_MIN_MEMORY_AVAIL, STEVE_IOC_SET_PER_PROCESS_LIMIT,
        STEVE_IOC_SET_CPU_PRESSURE, STEVE_IOC_SET_MEMORY_PRESSURE, STEVE_IOC_SET_PAUSED,
};

static void fuzz_text(const char *s) {
        const ParamInfo *info;
        IoctlValue v;
        uint32_t u;
        uint64_t t;
        double d;
        mode_t m;

        (void) parse_whole(s, &u);
        if (parse_number(s, 100, &d) == 0)
                assert(isfinite(d) && d >= 0 && d <= 100);
        if (parse_mode(s, &m) == 0)
                assert(m <= 0777);
        (void) parse_size(s, &t);
        (void) parse_dev_name(s);
        (void) sysload_parse_loadavg(s, &d);
        (void) sysload_parse_meminfo(s, &t);
        if (sysload_parse_pressure(s, &d) == 0)
                assert(isfinite(d) && d >= 0);
        /* Whatever a parameter's parser takes, its setter takes too. */
        for (size_t i = 0; (info = param_nth(i)); i++) {
                Params p = params_defaults();

                if (param_parse(info, s, &v) == 0) {
                        assert(param_set(&p, info, &v));
                        assert(params_invalid(&p) == NULL);
                }
        }
}

static void fuzz_ioctl(const uint8_t *data, size_t size) {
        Params p = params_defaults();
        IoctlValue v = { .u64 = 0 };
        unsigned cmd;

        if (size < 1)
                return;
        cmd = setters[data[0] % (sizeof setters / sizeof setters[0])];
        if (data[0] >= 0xf0 && size >= 5)
                memcpy(&cmd, data + 1, sizeof cmd);     /* any number at all */
        memcpy(&v, data + 1, size - 1 < sizeof v ? size - 1 : sizeof v);
        /* What a setter takes is valid, and nothing else is taken. */
        if (params_apply_ioctl(cmd, &v, &p))
                assert(params_invalid(&p) == NULL);
}

/* Whatever a process puts in its command line comes out one clean line. */
static void fuzz_escape(const uint8_t *data, size_t size) {
        char *out = text_escape((const char *) data, size);

        if (out) {
                assert(text_is_clean(out));
                free(out);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text = malloc(size + 1);

        fuzz_escape(data, size);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';
        fuzz_text(text);
        free(text);
        fuzz_ioctl(data, size);
        return 0;
}
