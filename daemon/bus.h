/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * org.steve.Jobserver on D-Bus: parameters as properties, holders and waiters
 * as methods. A lost bus connection is retried; token service never depends
 * on it.
 */

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "auth.h"
#include "options.h"
#include "server.h"

typedef struct Bus Bus;

/* Called once, when the first attempt to own the bus name has succeeded or failed. */
typedef void (*BusSettled)(void *userdata);

/* where: the path clients connect to, published as the Path property. */
int bus_new(sd_event *event, Server *server, Auth *auth, BusKind kind, const char *where,
            BusSettled settled, void *userdata, Bus **ret);
Bus *bus_free(Bus *b);
/* Writes out the replies queued (before a re-exec), for half a second at
 * most; calls not yet answered are dropped. NULL is fine. */
void bus_flush(Bus *b);
/* Writes out what bus has queued, for timeout usec at most (CLOCK_MONOTONIC):
 * 0 once all is written, -ETIMEDOUT when the peer took too little. Messages
 * that come in meanwhile are dropped unanswered. */
int bus_flush_within(sd_bus *bus, uint64_t timeout);
/* The pool changed: PropertiesChanged, coalesced. NULL is fine. */
void bus_server_changed(Bus *b);

/* What monitors last saw; PropertiesChanged names what differs between two. */
typedef struct BusSnapshot {
        Params params;
        uint32_t available, held, waiters;
        uint64_t generation, held_back;         /* monitor_generation(), monitor_held_back_version() */
} BusSnapshot;

/* A property per parameter, and the pool's five. */
#define BUS_MAX_PROPERTIES (PARAMS_MAX + 5)
/* The names of the properties that differ, NULL-terminated in names (room
 * for BUS_MAX_PROPERTIES + 1); their number. */
size_t bus_changed_properties(const BusSnapshot *a, const BusSnapshot *b, const char **names);
