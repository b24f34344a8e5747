/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The kernel's side of the jobserver: what the transports (CUSE and FUSE)
 * call for each request, on the one sd-event loop. requests.c serves open,
 * read, write, poll and release; ioctl.c the ioctls.
 */

#include <fuse_lowlevel.h>

typedef struct Server Server;

void server_open(Server *s, fuse_req_t req, struct fuse_file_info *fi);
void server_release(Server *s, fuse_req_t req, struct fuse_file_info *fi);
void server_read(Server *s, fuse_req_t req, size_t size, struct fuse_file_info *fi);
void server_write(Server *s, fuse_req_t req, size_t size, struct fuse_file_info *fi);
void server_poll(Server *s, fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph);
void server_ioctl(Server *s, fuse_req_t req, unsigned int cmd, void *arg, struct fuse_file_info *fi,
                  unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz);
