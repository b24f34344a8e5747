/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What outlives steve: a file (on tmpfs: /run/steve/state under systemd)
 * mapped shared, so that what is written to it stays when steve is killed,
 * and the next steve adopts it with the kernel connection, which systemd's
 * steve.socket (or a re-exec) keeps open meanwhile.
 *
 * It holds the connection's identity and first request (INIT), the run-time
 * parameters, every client process with what it holds, and the requests
 * answered later (blocked reads, setters waiting for polkit) as they were
 * read, to be given to the next steve again.
 *
 * A crash at any instant leaves it whole. Each loop iteration is one
 * transaction: the request it read is recorded first; the changes it makes
 * go to a journal as whole records, and the replies it owes with them; one
 * store commits it, then the records are applied and only then do the
 * replies go to the kernel. A steve that finds a committed journal applies
 * it again and sends its replies again (a reply to a request already
 * answered is refused by the kernel and harmless); one that finds an open
 * journal drops it and gives the recorded request to itself again.
 *
 * The kernel forgets a request once it is read, before steve can record it:
 * requests are read into the file itself (the landing place), so that one
 * read by a steve killed at once is found by the next.
 *
 * No I/O but the file's own; nothing here knows steve's objects.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* A request as read, for a next steve to read again; a write's payload is
 * not kept (only its length matters), nor is anything else this long. */
#define STATE_RAW_MAX 512
#define STATE_JOBS 16                   /* job records kept per process: its oldest */
#define STATE_POLLS 8                   /* poll handles kept per process */
#define STATE_PARAMS 32
/* The most a request can be: what libfuse reads at once. */
#define STATE_LANDING_SIZE ((size_t) (256 * 4096 + 4096))

typedef struct State State;

typedef struct StateJob {
        uint64_t id, started;
} StateJob;

enum {
        STATE_EVER_ACQUIRED = 1 << 0,
        STATE_RETURNED_IMPLICIT = 1 << 1,
        STATE_BORROWED = 1 << 2,
};
/* A process's absorb field holds its tokens lent to implicit slots in bits
 * 40-63 and its absorbed returns below: the layout stays what a steve before
 * loans wrote (whose records read as lending nothing). */
#define STATE_LENT_SHIFT 40
#define STATE_ABSORB_MASK ((UINT64_C(1) << STATE_LENT_SHIFT) - 1)
/* Bits 8-27 of a process's flags: the weight of the build it leads, 0 for
 * its nice value's. In flags, so that the record keeps the layout a steve
 * before weights wrote and reads: an upgrade keeps every token. */
#define STATE_WEIGHT_SHIFT 8
#define STATE_WEIGHT_MASK 0xfffffu

typedef struct StateProcess {
        uint32_t in_use;
        int32_t pid;
        uint32_t uid;
        uint32_t flags;
        uint64_t start_time;                    /* clock ticks: a pid reused is another process */
        int64_t held;
        uint64_t absorb;
        uint32_t n_jobs, n_polls;
        StateJob jobs[STATE_JOBS];
        uint64_t polls[STATE_POLLS];            /* kernel handles of pollers to wake */
} StateProcess;

typedef struct StateParam {
        char name[32];
        uint64_t value;                         /* the door's value (IoctlValue), as bits */
} StateParam;

/* The record of the connection and the pool, as a whole. */
typedef struct StateGlobals {
        uint64_t connection;                    /* rdev of /dev/NAME, st_dev of the FUSE mount */
        uint32_t init_len, n_params;
        uint8_t init[STATE_RAW_MAX];            /* the connection's INIT request */
        StateParam params[STATE_PARAMS];
} StateGlobals;

/* Opens (creating if missing, 0600) the state at path. It must be a regular
 * file of this process's effective user that nobody else may write: another
 * user who can write or truncate it can change the pool under steve or kill
 * it with SIGBUS. -ELOOP for a symbolic link (never followed), -EPERM for a
 * file that is not steve's alone (state_refusal() says why). */
int state_open(const char *path, State **ret);
/* Why the file open on fd may not hold steve's state, or NULL if it may. */
const char *state_refusal(int fd);
/* A state in memory only (a memfd), for a re-exec: its fd to pass on. */
int state_open_anonymous(State **ret);
/* Opens the state a re-exec passed as fd. */
int state_open_fd(int fd, State **ret);
State *state_close(State *s);
int state_fd(const State *s);

/* After opening: true when it holds a connection and a pool. */
bool state_in_use(const State *s);
const StateGlobals *state_globals(const State *s);
uint64_t state_next_job_id(const State *s);
/* Every process recorded, in no order; a negative return from fn stops it. */
int state_foreach_process(const State *s, int (*fn)(const StateProcess *p, uint32_t index, void *userdata),
                          void *userdata);
/* The recorded requests in the order they were read (an unfinished
 * transaction's and the one left at the landing place among them, last);
 * fn gets each raw and its record. */
int state_foreach_request(const State *s, int (*fn)(const void *raw, size_t len, uint32_t index, void *userdata),
                          void *userdata);
/* Replies a committed transaction had yet to send; state_done() after. */
void state_pending_replies(const State *s, const void **ret, size_t *ret_len);
/* Where the next request from the kernel is to be read to:
 * STATE_LANDING_SIZE bytes, until the file next grows. */
void *state_landing(State *s);
/* raw, once recorded by state_begin(), is no longer to be found at the
 * landing place; any other request leaves it as it is. */
void state_landed(State *s, const void *raw, size_t len);
/* Forgets everything: a new connection. */
int state_reset(State *s);

/* A transaction. begin records the request read (raw may be NULL: a timer,
 * an exit); the rest, which open one when none is, records changes. */
int state_begin(State *s, const void *raw, size_t len);
int state_put_globals(State *s, const StateGlobals *g);
int state_put_process(State *s, int64_t *index, const StateProcess *p);     /* *index < 0: a new one */
int state_drop_process(State *s, int64_t index);
/* A request to be read again by a next steve (cut at STATE_RAW_MAX): its index. */
int state_put_request(State *s, const void *raw, size_t len, int64_t *ret_index);
int state_drop_request(State *s, int64_t index);
int state_add_reply(State *s, const struct iovec *iov, int count);
/* Whether a transaction is open (replies are then held back). */
bool state_open_transaction(const State *s);
int state_commit(State *s, uint64_t next_job_id);
/* The committed replies went out. */
void state_done(State *s);
