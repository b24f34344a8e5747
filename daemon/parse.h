/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Parsers for single values, shared by steve and stevie. Each accepts a
 * whole, clean value or returns -EINVAL (-ERANGE when only the range is off). */

#include <stdint.h>
#include <sys/types.h>

int parse_whole(const char *s, uint32_t *ret);          /* digits only, at most UINT32_MAX */
int parse_mode(const char *s, mode_t *ret);
int parse_number(const char *s, double max, double *ret); /* 0..max, finite */
/* "512M", "8G", "1.5T", "100K"; a plain number is MiB. Binary units. */
int parse_size(const char *s, uint64_t *ret_bytes);
/* A size for people, in the units parse_size() takes: "1.1G", "512M", "100B". */
void format_size(uint64_t bytes, char *buf, size_t size);
int parse_dev_name(const char *s);

/* yes/no, true/false, on/off, 1/0 (any case): 1 or 0, else -EINVAL. */
int parse_boolean(const char *s);
