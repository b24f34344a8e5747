/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

/* How many bytes an ioctl moves each way. FIONREAD predates the size
 * encoding; steve's are well-formed _IOR/_IOW numbers. */
void ioctl_sizes(unsigned cmd, size_t *in, size_t *out);
