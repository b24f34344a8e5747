/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The ioctl door (include/steve/steve-ioctl.h): what the transports call
 * for an ioctl on the node.
 */

#include <fuse_lowlevel.h>
#include <stddef.h>

#include "server.h"

/* How many bytes an ioctl moves each way. FIONREAD predates the size
 * encoding; steve's are well-formed _IOR/_IOW numbers. */
void ioctl_sizes(unsigned cmd, size_t *in, size_t *out);

int ioctl_new(Server *s);
void ioctl_free(Server *s);
void ioctl_request(Server *s, fuse_req_t req, unsigned int cmd, void *arg, struct fuse_file_info *fi,
                   unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz);
