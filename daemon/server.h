/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The jobserver's core: the ledger with its parameters, the one way they
 * change, and the announcements every other part subscribes to. It names no
 * part: persistence, monitoring, the bus and the service manager hear of a
 * change by subscribing (server_observe()). jobserver.h puts the parts
 * together.
 */

#include <stdint.h>
#include <systemd/sd-event.h>

#include "auth.h"
#include "ledger.h"
#include "params.h"

typedef struct Server Server;
typedef struct Client Client;                   /* clients.h */

/* What a part hears of; any hook may be NULL. Observers are told in the
 * order they subscribed. */
typedef struct ServerObserver {
        /* A client came, or what the ledger keeps of it (or its pollers) changed. */
        void (*client_changed)(Client *c, void *userdata);
        /* It is about to leave the ledger: what it waits for is answered now. */
        void (*client_leaving)(Client *c, void *userdata);
        /* It has left the ledger; its memory goes after this. */
        void (*client_gone)(Client *c, void *userdata);
        void (*params_changed)(void *userdata);
        /* Once after each loop iteration in which anything changed, through
         * any door (a request, an ioctl, D-Bus, a reload, a timer), and at
         * once before a re-exec or a hand-over. */
        void (*settled)(void *userdata);
        /* Stopping (server_shutdown(), server_hand_over()). */
        void (*stopping)(void *userdata);
} ServerObserver;

#define SERVER_OBSERVERS_MAX 8

/* callbacks: the ledger's, given by whoever serves its waiters (jobserver.c).
 * proc: where to read load and memory from, normally "/proc". */
int server_new(sd_event *event, const Params *params, const char *proc, Auth *auth,
               const LedgerCallbacks *callbacks, Server **ret);
/* After every part is gone: the ledger must hold no process. */
Server *server_free(Server *s);

/* Subscribes o; the returned slot (>= 0) indexes what the observer keeps
 * per client (client_part(), clients.h). */
int server_observe(Server *s, const ServerObserver *o, void *userdata);

const Params *server_params(const Server *s);
/* The one way parameters change. -EINVAL with *error set when p is refused. */
int server_set_params(Server *s, const Params *p, const char **error);
void server_stats(const Server *s, LedgerStats *ret);
/* CLOCK_MONOTONIC usec, as the ledger keeps it, to CLOCK_REALTIME usec. */
uint64_t server_realtime_of(Server *s, uint64_t monotonic);
/* Whether steve knows a client process of another uid than uid. */
bool server_others_present(Server *s, uid_t uid);
/* Whether the /proc steve reads (its --proc root) hides other users' processes. */
bool server_hides_pids(const Server *s);

/* Who re-executes steve when asked to (ioctl, D-Bus): main.c. */
void server_set_reexec(Server *s, void (*reexec)(void *userdata), void *userdata);
void server_reexec(Server *s);

/* What waits is answered with an error; nothing is served afterwards. */
void server_shutdown(Server *s);
/* Stopping, but the connection outlives steve (a socket unit keeps it, or a
 * re-exec takes it): what this iteration did is settled, then nothing is
 * answered and everything stays for the next steve. */
void server_hand_over(Server *s);
bool server_handing_over(const Server *s);
/* Just before a re-exec: whatever can be answered now is, and committed. */
void server_prepare_reexec(Server *s);
