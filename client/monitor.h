/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What stevie --status and --top show, read from org.steve.Jobserver on
 * D-Bus: the pool, its parameters and why tokens are held back, every client
 * process, grouped into builds, and the pool's recent use. Read as any user:
 * command lines of other users' processes are shown only as steve allows.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

#include "params.h"

typedef struct MonJob {
        uint64_t id, started;                   /* CLOCK_REALTIME usec */
} MonJob;

typedef struct MonProcess {
        uint32_t pid, ppid, uid, build, held;
        char *unit, *command;
        MonJob *jobs;
        size_t n_jobs;
        bool waiting;
        uint64_t waiting_since;                 /* CLOCK_REALTIME usec; 0 if not waiting */
} MonProcess;

/* Processes sharing a top-most client ancestor. */
typedef struct MonBuild {
        uint32_t pid, uid, held, processes, waiting;
        uint32_t weight;                        /* 0: steve did not say (older than weights) */
        double share;                           /* its weighted share of the pool, in tokens */
        const char *command, *unit;             /* its leader's; NULL when the leader is gone */
        uint64_t since;                         /* its oldest running job; 0: none */
} MonBuild;

typedef struct MonPoint {
        uint64_t at;
        uint32_t held, waiting;
} MonPoint;

typedef struct MonPool {
        char *path, *version, *held_back;
        Params params;
        uint32_t available, held, waiters;
        uint64_t generation;
        MonProcess *processes;                  /* most tokens first */
        size_t n_processes;
        MonBuild *builds;                       /* most tokens first */
        size_t n_builds;
        MonPoint *history;
        size_t n_history;
} MonPool;

#define MON_SERVICE "org.steve.Jobserver"
#define MON_PATH "/org/steve/Jobserver"
#define MON_INTERFACE "org.steve.Jobserver"

/* Connects to the system bus, or the session bus; says why not on stderr. */
int mon_connect(bool session, sd_bus **ret);
/* Reads it all; on failure says why (steve not running, not on this bus)
 * in why, or on stderr when why is NULL, and returns a negative errno. */
int mon_read(sd_bus *bus, bool session, bool history, MonPool *ret, char *why, size_t why_size);
void mon_free(MonPool *p);
/* The build led by pid; NULL for none. */
const MonBuild *mon_build(const MonPool *p, uint32_t pid);

/* 3.2s, 12m 3s, 2h 5m, 3d 4h */
void mon_duration(uint64_t usec, char *buf, size_t size);
/* What holds tokens back, for people: the reason, or "nothing". */
const char *mon_held_back(const MonPool *p);
/* The limits in force ("load-average 12, per-user-limit 4"), or "none". */
void mon_limits(const MonPool *p, char *buf, size_t size);

/* stevie --status [--json] */
int mon_status(bool session, bool json, FILE *out);
/* stevie --top */
int mon_top(bool session);
