/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The kernel's side of the jobserver: what the transports (CUSE and FUSE)
 * call for open, read, write, poll and release, on the one sd-event loop.
 * The ioctls are ioctl.h's; what every request and reply passes through on
 * its way is persist.h's.
 */

#include <fuse_lowlevel.h>

#include "server.h"

int requests_new(Server *s);
void requests_free(Server *s);
/* The ledger's: a queued read was granted, a poller's token reserved. */
void requests_on_granted(LedgerWaiter *w, void *userdata);
void requests_on_reserved(LedgerWaiter *w, void *userdata);

void requests_open(Server *s, fuse_req_t req, struct fuse_file_info *fi);
void requests_release(Server *s, fuse_req_t req, struct fuse_file_info *fi);
void requests_read(Server *s, fuse_req_t req, size_t size, struct fuse_file_info *fi);
void requests_write(Server *s, fuse_req_t req, size_t size, struct fuse_file_info *fi);
void requests_poll(Server *s, fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph);
