/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What monitors read (stevie --status and --top, desktop tools, over D-Bus,
 * and the SIGUSR1 report): the holders and waiters, every client process
 * with its build and unit, the builds, why tokens are held back, a counter
 * that moves whenever the holders or waiters do, and the pool's recent use.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "history.h"
#include "server.h"

/* A client process as monitors see it. Text is as read: escape it (text.h)
 * before it goes anywhere. */
typedef struct MonitorProcess {
        pid_t pid, ppid;
        uid_t uid;
        const char *comm;               /* its name */
        const char *cmdline;            /* NULL unless read (clients_fetch_cmdlines()) */
        int64_t held;
        bool reserved;
        const LedgerJob *jobs;
        size_t n_jobs;
        pid_t build;                    /* who leads its build: its top-most client ancestor, or itself */
        uint32_t weight;                /* its build's */
        /* monitor_foreach_process() and monitor_foreach_waiting_process() only: */
        const char *unit;               /* systemd unit or cgroup; NULL if unknown */
        bool waiting;
        uint64_t waiting_since;         /* CLOCK_MONOTONIC usec, its earliest waiter's */
        unsigned waiting_count;         /* its waiters (threads in read(), a poll, a claim) */
} MonitorProcess;

/* A build: the processes under one top-most client, shared between as one. */
typedef struct MonitorBuild {
        pid_t leader;                   /* its top-most client (perhaps gone by now) */
        uid_t uid;                      /* the leader's */
        uint32_t weight;
        double share;                   /* its weighted share of the pool, in tokens */
        int64_t taken;                  /* tokens held and reserved by its processes */
} MonitorBuild;

int monitor_new(Server *s);
void monitor_free(Server *s);

/* A negative return from fn stops a walk and is returned. */
typedef int (*MonitorProcessFn)(const MonitorProcess *p, void *userdata);
typedef int (*MonitorWaiterFn)(const MonitorProcess *p, LedgerWaitKind kind, uint64_t since, void *userdata);
typedef int (*MonitorBuildFn)(const MonitorBuild *b, void *userdata);
/* Each process holding (or reserving) tokens. */
int monitor_foreach_holder(Server *s, MonitorProcessFn fn, void *userdata);
/* Each waiter in the order it will be served. */
int monitor_foreach_waiter(Server *s, MonitorWaiterFn fn, void *userdata);
/* Every client process, in the order they came, with its build, unit and
 * whether it waits. */
int monitor_foreach_process(Server *s, MonitorProcessFn fn, void *userdata);
/* Each process that waits, once, in the order of its first waiter in the
 * queue (parked ones after), with how many of its threads wait: a listing of
 * waiters costs a row per process, however many threads one has blocked. */
int monitor_foreach_waiting_process(Server *s, MonitorProcessFn fn, void *userdata);
/* Each build, in the order they came. */
int monitor_foreach_build(Server *s, MonitorBuildFn fn, void *userdata);

/* Moves whenever a client comes or goes, or holdings or waiters change. */
uint64_t monitor_generation(const Server *s);
/* Why tokens are held back now: "paused", "load 14.2 >= 12"; "" when not. */
void monitor_held_back(const Server *s, char *buf, size_t size);
/* Moves whenever what monitor_held_back() says may have changed (a pause
 * aside: that is a parameter). */
uint64_t monitor_held_back_version(const Server *s);
/* The pool's use, oldest first, at CLOCK_REALTIME usec; their number. */
size_t monitor_history(Server *s, HistoryPoint *out, size_t max);
