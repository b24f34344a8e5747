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

#include "auth.h"
#include "ledger.h"
#include "params.h"

typedef struct Server Server;

/* proc: where to read load and memory from, normally "/proc". */
int server_new(sd_event *event, const Params *params, const char *proc, Auth *auth, Server **ret);
Server *server_free(Server *s);

const Params *server_params(const Server *s);
/* The one way parameters change. -EINVAL with *error set when p is refused. */
int server_set_params(Server *s, const Params *p, const char **error);

typedef struct ServerStats {
        int64_t available, held;
        uint32_t reserved;
        size_t waiters, processes;
} ServerStats;

void server_stats(const Server *s, ServerStats *ret);
/* Each process holding tokens, and each waiter in queue order; a negative
 * return from fn stops the walk and is returned. */
typedef int (*ServerHolderFn)(pid_t pid, int64_t held, const LedgerJob *jobs, size_t n_jobs, void *userdata);
typedef int (*ServerWaiterFn)(pid_t pid, LedgerWaitKind kind, uint64_t since, void *userdata);
int server_foreach_holder(Server *s, ServerHolderFn fn, void *userdata);
int server_foreach_waiter(Server *s, ServerWaiterFn fn, void *userdata);
/* Takes back what a live process holds; -ESRCH for a process steve does not know. */
int server_reclaim(Server *s, pid_t pid, uint64_t *ret);
/* CLOCK_MONOTONIC usec, as the ledger keeps it, to CLOCK_REALTIME usec. */
uint64_t server_realtime_of(Server *s, uint64_t monotonic);
/* Called after anything may have changed, so a monitor can look. */
void server_set_observer(Server *s, void (*observer)(void *userdata), void *userdata);

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
