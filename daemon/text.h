/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Text that came from elsewhere (command lines, process names) on its way to
 * a log line or a D-Bus string: always valid UTF-8 (D-Bus refuses a whole
 * message for one bad byte), and never a control character (a command line
 * holding "\n<0>..." must not forge a journal line of its own).
 */

#include <stddef.h>

/* A copy of the first len bytes of s, each control character (C0, DEL, C1,
 * bidi marks, overrides and isolates, line separators) written as \n, \t, \r,
 * \xNN or \uNNNN, each byte that is not part of valid UTF-8 as \xNN, and the
 * backslash as \\, so that no escape in the output can have been forged by
 * the input. NULL when out of memory. */
char *text_escape(const char *s, size_t len);

/* What text_escape() gives, but with backslashes left as they are: for text
 * that an escaping sender (steve) escaped already, so that its escapes read
 * as before while nothing a terminal acts on gets through. */
char *text_clean(const char *s);

/* Whether s (NUL-terminated) is valid UTF-8 without control characters
 * (backslashes allowed: escaped text is clean). */
int text_is_clean(const char *s);
