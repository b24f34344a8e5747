/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parse.h"
#include "util.h"

/* Digits only: strtoul() alone would take signs, spaces and wrap-arounds. */
static int parse_unsigned(const char *s, int base, unsigned long *ret) {
        char *end;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        *ret = strtoul(s, &end, base);
        return errno != 0 || *end != '\0' ? -EINVAL : 0;
}

int parse_whole(const char *s, uint32_t *ret) {
        unsigned long v;
        int r = parse_unsigned(s, 10, &v);

        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

int parse_mode(const char *s, mode_t *ret) {
        unsigned long v;

        if (parse_unsigned(s, 8, &v) < 0 || v > 0777)
                return -EINVAL;
        *ret = (mode_t) v;
        return 0;
}

int parse_dev_name(const char *s) {
        /* It becomes /dev/NAME: no directories, nothing hidden, a sane length. */
        if (!s || !*s || strlen(s) > 64 || *s == '.' || strchr(s, '/'))
                return -EINVAL;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || strchr("._-", *p)))
                        return -EINVAL;
        return 0;
}

int parse_number(const char *s, double max, double *ret) {
        double v;
        char *end;

        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || *end != '\0' || !isfinite(v))
                return -EINVAL;
        if (v < 0 || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int parse_size(const char *s, uint64_t *ret_bytes) {
        static const char units[] = "KMGT";
        double v, factor = 1024.0 * 1024.0;     /* a plain number is MiB */
        const char *u;
        char *end;

        if (!s || !*s || *s == '-' || *s == '+')
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || end == s || !isfinite(v) || v < 0)
                return -EINVAL;
        if (*end != '\0') {
                u = strchr(units, *end);
                if (!u || !*u || (end[1] != '\0' && strcmp(end + 1, "iB") != 0 && strcmp(end + 1, "B") != 0))
                        return -EINVAL;
                factor = 1024.0;
                for (const char *k = units; k < u; k++)
                        factor *= 1024.0;
        }
        if (v * factor >= 18446744073709551615.0)
                return -ERANGE;
        *ret_bytes = (uint64_t) (v * factor);
        return 0;
}

void format_size(uint64_t bytes, char *buf, size_t size) {
        static const char units[] = "KMGT";
        double v = (double) bytes;
        size_t i = 0;

        while (v >= 1024 && i < sizeof units - 1) {
                v /= 1024;
                i++;
        }
        if (i == 0)
                snprintf(buf, size, "%" PRIu64 "B", bytes);
        else
                snprintf(buf, size, v < 10 ? "%.1f%c" : "%.0f%c", v, units[i - 1]);
}

int parse_boolean(const char *s) {
        static const char *const yes[] = { "yes", "true", "on", "1" }, *const no[] = { "no", "false", "off", "0" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        }
        return -EINVAL;
}
