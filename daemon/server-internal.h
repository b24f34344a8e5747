/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The Server as its parts see it: the core's fields, and where each part
 * keeps its own state. A part reaches a part below it through its functions;
 * nothing here calls up (HACKING.rst draws the floors).
 */

#include <stddef.h>

#include "server.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

/* Each part's own state, opaque to the others (jobserver.c makes them). */
typedef struct Clients Clients;
typedef struct Throttle Throttle;
typedef struct Kept Kept;
typedef struct Requests Requests;
typedef struct Ioctls Ioctls;
typedef struct Persist Persist;
typedef struct Monitor Monitor;

/* Who is told of a client, and who of the rest: one list per hook, only
 * those that have it, so that an announcement on the token path costs a
 * call per listener and nothing for the others. */
typedef struct ClientListener {
        void (*fn)(Client *c, void *userdata);
        void *userdata;
} ClientListener;

typedef struct Listener {
        void (*fn)(void *userdata);
        void *userdata;
} Listener;

typedef struct Listeners {
        ClientListener client_changed[SERVER_OBSERVERS_MAX], client_leaving[SERVER_OBSERVERS_MAX],
                client_gone[SERVER_OBSERVERS_MAX];
        Listener params_changed[SERVER_OBSERVERS_MAX], settled[SERVER_OBSERVERS_MAX],
                stopping[SERVER_OBSERVERS_MAX];
        uint8_t n_client_changed, n_client_leaving, n_client_gone, n_params_changed, n_settled, n_stopping;
} Listeners;

struct Server {
        sd_event *event;
        Ledger *ledger;
        Params params;
        Auth *auth;
        char *proc;
        bool shutting_down;
        bool handing_over;                      /* stopping without answering anyone */

        Listeners listeners;
        size_t n_observers;
        bool unsettled;                         /* something changed this iteration */
        sd_event_source *settle_source;
        void (*reexec)(void *userdata);
        void *reexec_data;

        Clients *clients;
        Throttle *throttle;
        Kept *kept;
        Requests *requests;
        Ioctls *ioctls;
        Persist *persist;
        Monitor *monitor;
};

uint64_t server_now(Server *s);
/* Something changed: the observers hear of it once this iteration ends. */
void server_changed(Server *s);
/* Announcements of what happened to a client (clients.c makes them). */
void server_client_changed(Server *s, Client *c);
void server_client_leaving(Server *s, Client *c);
void server_client_gone(Server *s, Client *c);
