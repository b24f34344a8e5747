/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What bus.c (the connection, the properties, PropertiesChanged) and
 * bus-methods.c (the calls: who is asking, authorization, the answers)
 * share.
 */

#include <sys/queue.h>
#include <systemd/sd-bus.h>

#include "bus.h"

#define INTERFACE "org.steve.Jobserver"
#define OBJECT_PATH "/org/steve/Jobserver"

typedef struct PendingCall PendingCall;

struct Bus {
        sd_event *event;
        Server *server;
        Auth *auth;
        BusKind kind;
        char *where;
        sd_bus *bus;
        sd_event_source *emit_timer, *reconnect_timer, *name_timer;
        uint64_t reconnect_delay, name_delay;
        bool name_refused;                      /* the last request for the name was refused */
        BusSettled settled;
        void *settled_data;
        BusSnapshot emitted;
        TAILQ_HEAD(, PendingCall) pending;
};

static inline uint32_t clamp_u32(int64_t v) {
        return v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t) v;
}

/* bus-methods.c */
/* Properties.Set of one of the parameters, answered once authorized. */
int bus_handle_set(Bus *b, sd_bus_message *m, const ParamInfo *info, sd_bus_error *error);
int bus_method_get_holders(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_get_waiters(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_reclaim_tokens(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_reexecute(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_get_processes(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_get_history(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_set_weight(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_get_builds(sd_bus_message *m, void *userdata, sd_bus_error *error);
/* Every call still waiting is dropped (the connection went). */
void bus_drop_pending(Bus *b);
