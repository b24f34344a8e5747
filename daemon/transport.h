/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Where the jobserver is served: a CUSE character device (/dev/NAME) or a
 * single-file FUSE mount at a path. Both hand every request to the Server;
 * only setup, teardown and the FUSE node's attributes differ.
 */

#include <sys/types.h>
#include <systemd/sd-event.h>

#include "server.h"
#include "state.h"

typedef struct Transport Transport;

/* Called from the event loop once the kernel has connected: clients can come. */
typedef void (*TransportReady)(const char *where, void *userdata);

typedef struct FuseNode {
        const char *path;
        int fd;                 /* an already mounted /dev/fuse fd, or -1 to mount path */
        uid_t uid;
        gid_t gid;
        mode_t mode;
} FuseNode;

/* device_fd: an open /dev/cuse (socket activation), or -1 to open it here. */
int transport_new_cuse(sd_event *event, Server *server, const char *dev_name, int device_fd,
                       TransportReady ready, void *userdata, Transport **ret);
int transport_new_fuse(sd_event *event, Server *server, const FuseNode *node,
                       TransportReady ready, void *userdata, Transport **ret);
Transport *transport_free(Transport *t);
/* Where clients connect: /dev/NAME or the FUSE node's path. */
const char *transport_where(const Transport *t);

/* A passed connection: fresh (its INIT waits: served as any), or set up by
 * the steve before, whose state st then holds its INIT and the requests it
 * had yet to answer; those are given to libfuse first, in order. The first
 * request is read to landing (state_landing()) if not NULL. */
int transport_adopt(Transport *t, const State *st, void *landing, bool *ret_adopted);
int transport_fd(const Transport *t);
/* Whether steve mounted the FUSE node itself (and unmounts it at the end),
 * and whether it created the node file (and removes it). */
bool transport_mounted(const Transport *t, bool *ret_created);
/* A re-exec'd steve takes both over. */
void transport_set_mounted(Transport *t, bool created_node);
