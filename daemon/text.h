/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Text that came from elsewhere (command lines, process names) on its way to
 * a log line or a D-Bus string: always valid UTF-8 (D-Bus refuses a whole
 * message for one bad byte), and never a control character (a command line
 * holding "\n<0>..." must not forge a journal line of its own).
 */

#include <stddef.h>

/* A copy of the first len bytes of s, with each control character and each
 * byte that is not part of valid UTF-8 written as \n, \t, \r or \xNN.
 * NULL when out of memory. */
char *text_escape(const char *s, size_t len);

/* Whether s (NUL-terminated) is valid UTF-8 without control characters. */
int text_is_clean(const char *s);
