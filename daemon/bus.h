/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * org.steve.Jobserver on D-Bus: parameters as properties, holders and waiters
 * as methods. A lost bus connection is retried; token service never depends
 * on it.
 */

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
/* Writes out every reply queued (before a re-exec). NULL is fine. */
void bus_flush(Bus *b);
/* The pool changed: PropertiesChanged, coalesced. NULL is fine. */
void bus_server_changed(Bus *b);

/* What monitors last saw; PropertiesChanged names what differs between two. */
typedef struct BusSnapshot {
        Params params;
        uint32_t available, held, waiters;
        uint64_t generation, held_back;         /* server_generation(), server_held_back_version() */
} BusSnapshot;

#define BUS_MAX_PROPERTIES 48
/* The names of the properties that differ, NULL-terminated in names (room
 * for BUS_MAX_PROPERTIES + 1); their number. */
size_t bus_changed_properties(const BusSnapshot *a, const BusSnapshot *b, const char **names);
