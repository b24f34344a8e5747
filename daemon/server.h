/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The jobserver as the rest of steve sees it: its parameters, its numbers,
 * its holders and waiters, reclaiming, the report, stopping. The kernel's
 * side (the request handlers the transports call) is in requests.h; the
 * pieces share server-internal.h.
 */

#include <stdint.h>
#include <systemd/sd-event.h>

#include "auth.h"
#include "ledger.h"
#include "params.h"
#include "state.h"

typedef struct Server Server;

/* proc: where to read load and memory from, normally "/proc". */
int server_new(sd_event *event, const Params *params, const char *proc, Auth *auth, Server **ret);
Server *server_free(Server *s);

const Params *server_params(const Server *s);
/* The one way parameters change. -EINVAL with *error set when p is refused. */
int server_set_params(Server *s, const Params *p, const char **error);

void server_stats(const Server *s, LedgerStats *ret);

/* A client process as monitors see it. Text is as read: escape it (text.h)
 * before it goes anywhere. */
typedef struct ServerProcess {
        pid_t pid, ppid;
        uid_t uid;
        const char *comm;               /* its name */
        const char *cmdline;            /* NULL unless read (server_fetch_cmdlines()) */
        int64_t held;
        bool reserved;
        const LedgerJob *jobs;
        size_t n_jobs;
        pid_t build;                    /* who leads its build: its top-most client ancestor, or itself */
        uint32_t weight;                /* its build's */
        /* server_foreach_process() only: */
        const char *unit;               /* systemd unit or cgroup; NULL if unknown */
        bool waiting;
        uint64_t waiting_since;         /* CLOCK_MONOTONIC usec, its earliest waiter's */
        unsigned waiting_count;         /* its waiters (threads in read(), a poll, a claim) */
} ServerProcess;

/* Each process holding (or reserving) tokens, and each waiter in the order it
 * will be served; a negative return from fn stops the walk and is returned. */
typedef int (*ServerHolderFn)(const ServerProcess *p, void *userdata);
typedef int (*ServerWaiterFn)(const ServerProcess *p, LedgerWaitKind kind, uint64_t since, void *userdata);
int server_foreach_holder(Server *s, ServerHolderFn fn, void *userdata);
int server_foreach_waiter(Server *s, ServerWaiterFn fn, void *userdata);
/* Every client process, in the order they came, with its build, unit and
 * whether it waits (monitor.c). */
typedef int (*ServerProcessFn)(const ServerProcess *p, void *userdata);
int server_foreach_process(Server *s, ServerProcessFn fn, void *userdata);
/* Each process that waits, once, in the order of its first waiter in the
 * queue (parked ones after), with how many of its threads wait: a listing of
 * waiters costs a row per process, however many threads one has blocked. */
int server_foreach_waiting_process(Server *s, ServerProcessFn fn, void *userdata);
/* A build: the processes under one top-most client, shared between as one. */
typedef struct ServerBuild {
        pid_t leader;                   /* its top-most client (perhaps gone by now) */
        uid_t uid;                      /* the leader's */
        uint32_t weight;
        double share;                   /* its weighted share of the pool, in tokens */
        int64_t taken;                  /* tokens held and reserved by its processes */
} ServerBuild;
typedef int (*ServerBuildFn)(const ServerBuild *b, void *userdata);
/* Each build, in the order they came (monitor.c). */
int server_foreach_build(Server *s, ServerBuildFn fn, void *userdata);
/* Moves whenever a client comes or goes, or holdings or waiters change. */
uint64_t server_generation(const Server *s);
/* Why tokens are held back now: "paused", "load 14.2 >= 12"; "" when not. */
void server_held_back(const Server *s, char *buf, size_t size);
/* Moves whenever what server_held_back() says may have changed (a pause
 * aside: that is a parameter). */
uint64_t server_held_back_version(const Server *s);
/* The pool's use at its change points, a point a second at most, oldest
 * first; at CLOCK_REALTIME usec. */
typedef struct ServerPoint {
        uint64_t at;
        uint32_t held, waiting;
} ServerPoint;
#define HISTORY_POINTS 600
size_t server_history(Server *s, ServerPoint *out, size_t max);
/* Whether steve knows a client process of another uid than uid. */
bool server_others_present(Server *s, uid_t uid);
/* Whether the /proc steve reads (its --proc root) hides other users' processes. */
bool server_hides_pids(const Server *s);
/* Reads (off the loop) the command line of every client that has none yet;
 * done(userdata) runs on the loop once all have been read or given up on. */
typedef struct ServerFetch ServerFetch;
int server_fetch_cmdlines(Server *s, void (*done)(void *userdata), void *userdata, ServerFetch **ret);
void server_fetch_cancel(ServerFetch *f);
/* The weight of the (sub-)build pid leads, from the next grant on; -ESRCH
 * for a process steve does not know, -EINVAL for a weight out of range. */
int server_set_weight(Server *s, pid_t pid, uint32_t weight);
/* Takes back what a live process holds; -ESRCH for a process steve does not know. */
int server_reclaim(Server *s, pid_t pid, uint64_t *ret);
/* CLOCK_MONOTONIC usec, as the ledger keeps it, to CLOCK_REALTIME usec. */
uint64_t server_realtime_of(Server *s, uint64_t monotonic);
/* Called after anything may have changed, so a monitor can look. */
void server_set_observer(Server *s, void (*observer)(void *userdata), void *userdata);

/* Blocked readers get an error; nothing is served afterwards. */
void server_shutdown(Server *s);
/* Stopping, but the connection outlives steve (a socket unit keeps it, or a
 * re-exec takes it): nothing is answered, everything stays for the next steve. */
void server_hand_over(Server *s);
/* Just before a re-exec: whatever can be answered now is, and committed. */
void server_prepare_reexec(Server *s);

/* What outlives steve (persist.c). The state file, journaled from now on;
 * NULL for none. */
void server_set_state(Server *s, State *st);
/* The previous steve's pool, from its state: parameters changed at run
 * time, processes still alive with what they held. */
int server_adopt(Server *s, State *st);
/* The replies it had committed and maybe not sent: sent (again). */
void server_resend_committed(Server *s, State *st);
/* Its pollers, waiting on handles it held, are woken to poll again. */
void server_wake_adopted_pollers(Server *s);
/* Everything, written at once into st (a re-exec without a state file). */
int server_snapshot(Server *s, State *st);
/* The parameters as configured (start, reload): what differs at run time
 * is what outlives steve. */
void server_set_configured(Server *s, const Params *p);
/* Who re-executes steve when asked to (ioctl, D-Bus): main.c. */
void server_set_reexec(Server *s, void (*reexec)(void *userdata), void *userdata);
void server_reexec(Server *s);
/* SIGUSR1: the pool, each holder and each waiter, to the log (report.c),
 * once their command lines have been read. */
void server_report(Server *s);
