/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static LogLevel max_level = LOG_LEVEL_NOTICE;

void log_set_max_level(LogLevel level) {
        max_level = level;
}

LogLevel log_get_max_level(void) {
        return max_level;
}

int log_internal(LogLevel level, int error, const char *format, ...) {
        int saved_errno = errno;
        va_list ap;

        flockfile(stderr);
        fputs("steve: ", stderr);
        errno = error < 0 ? -error : error;     /* so that %m names it */
        va_start(ap, format);
        vfprintf(stderr, format, ap); // NOLINT(clang-analyzer-valist.Uninitialized): errno's store confuses it
        va_end(ap);
        fputc('\n', stderr);
        funlockfile(stderr);

        errno = saved_errno;
        return -(error < 0 ? -error : error);
}
