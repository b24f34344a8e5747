/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The jobserver proper: adapts kernel requests (from either transport) to the
 * ledger, tracks client processes through pidfds, defers blocking reads and
 * keeps the reservation timer. Transports call the server_*() request
 * handlers; everything runs on the one sd-event loop.
 */

#include <stdint.h>
#include <systemd/sd-event.h>
#include <fuse_lowlevel.h>

#include "params.h"

typedef struct Server Server;

/* proc: where to read load and memory from, normally "/proc". */
int server_new(sd_event *event, const Params *params, const char *proc, Server **ret);
Server *server_free(Server *s);

const Params *server_params(const Server *s);
/* The one way parameters change. -EINVAL with *error set when p is refused. */
int server_set_params(Server *s, const Params *p, const char **error);

/* Blocked readers get an error; nothing is served afterwards. */
void server_shutdown(Server *s);
void server_report(Server *s);

void server_open(Server *s, fuse_req_t req, struct fuse_file_info *fi);
void server_release(Server *s, fuse_req_t req, struct fuse_file_info *fi);
void server_read(Server *s, fuse_req_t req, size_t size, struct fuse_file_info *fi);
void server_write(Server *s, fuse_req_t req, size_t size, struct fuse_file_info *fi);
void server_poll(Server *s, fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph);
void server_ioctl(Server *s, fuse_req_t req, unsigned int cmd, void *arg, struct fuse_file_info *fi,
                  unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz);
