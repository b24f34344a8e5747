/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>

typedef enum LogLevel {
        LOG_LEVEL_ERROR,
        LOG_LEVEL_WARNING,
        LOG_LEVEL_NOTICE,       /* shown by default: start-up line, reports */
        LOG_LEVEL_INFO,         /* -v: clients coming and going */
        LOG_LEVEL_DEBUG,        /* -d: every request */
} LogLevel;

/* Priorities for the journal when stderr is connected to it. */
void log_open(void);
void log_set_max_level(LogLevel level);
LogLevel log_get_max_level(void);

/* Logs and returns -abs(error), so callers can write "return log_error_errno(r, ...)". */
int log_internal(LogLevel level, int error, const char *format, ...)
        __attribute__((format(printf, 3, 4)));

#define log_full_errno(level, error, ...)                                       \
        ({ LogLevel _l = (level); int _e = (error);                             \
           _l <= log_get_max_level() ? log_internal(_l, _e, __VA_ARGS__)        \
                                     : -(_e < 0 ? -_e : _e); })

#define log_error_errno(e, ...)   log_full_errno(LOG_LEVEL_ERROR, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_LEVEL_WARNING, e, __VA_ARGS__)
#define log_debug_errno(e, ...)   log_full_errno(LOG_LEVEL_DEBUG, e, __VA_ARGS__)
#define log_error(...)   ((void) log_full_errno(LOG_LEVEL_ERROR, 0, __VA_ARGS__))
#define log_warning(...) ((void) log_full_errno(LOG_LEVEL_WARNING, 0, __VA_ARGS__))
#define log_notice(...)  ((void) log_full_errno(LOG_LEVEL_NOTICE, 0, __VA_ARGS__))
#define log_info(...)    ((void) log_full_errno(LOG_LEVEL_INFO, 0, __VA_ARGS__))
#define log_debug(...)   ((void) log_full_errno(LOG_LEVEL_DEBUG, 0, __VA_ARGS__))
