/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "text.h"
#include "util.h"

static LogLevel max_level = LOG_LEVEL_NOTICE;
static bool to_journal;

void log_open(void) {
        const char *stream = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        /* systemd sets JOURNAL_STREAM to stderr's device and inode when stderr is
         * the journal; compare, since a child of steve's may have inherited it. */
        to_journal = stream && sscanf(stream, "%llu:%llu", &dev, &ino) == 2 &&
                     fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

void log_set_max_level(LogLevel level) {
        max_level = level;
}

LogLevel log_get_max_level(void) {
        return max_level;
}

int log_internal(LogLevel level, int error, const char *format, ...) {
        int saved_errno = errno;
        va_list ap;

        static const int priorities[] = {
                [LOG_LEVEL_ERROR] = LOG_ERR, [LOG_LEVEL_WARNING] = LOG_WARNING,
                [LOG_LEVEL_NOTICE] = LOG_NOTICE, [LOG_LEVEL_INFO] = LOG_INFO, [LOG_LEVEL_DEBUG] = LOG_DEBUG,
        };

        char message[4096];
        _cleanup_free_ char *escaped = NULL;

        errno = error < 0 ? -error : error;     /* so that %m names it */
        va_start(ap, format);
        vsnprintf(message, sizeof message, format, ap); // NOLINT(clang-analyzer-valist.Uninitialized): errno's store confuses it
        va_end(ap);
        /* Command lines and names come from other users: one line, valid UTF-8. */
        escaped = text_escape(message, strlen(message));
        if (!escaped)
                for (char *c = message; *c; c++)
                        if ((unsigned char) *c < 0x20)
                                *c = '?';

        flockfile(stderr);
        /* The journal takes "<N>" as the line's priority and names steve itself. */
        if (to_journal)
                fprintf(stderr, "<%d>", priorities[level]);
        else
                fputs("steve: ", stderr);
        fputs(escaped ?: message, stderr);
        fputc('\n', stderr);
        funlockfile(stderr);

        errno = saved_errno;
        return -(error < 0 ? -error : error);
}
