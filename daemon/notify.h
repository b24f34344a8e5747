/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The service manager's side (sd_notify): READY=1 once clients can connect
 * and the bus name is settled, STATUS= with the pool's use at most once a
 * second, RELOADING=1 and STOPPING=1, and watchdog pings from the event loop
 * when WatchdogSec= asks for them. Without $NOTIFY_SOCKET it does nothing.
 */

#include <systemd/sd-event.h>

#include "server.h"

typedef struct Notify Notify;

int notify_new(sd_event *event, Server *server, Notify **ret);
Notify *notify_free(Notify *n);
/* READY=1 goes out once both have been said. */
void notify_node_ready(Notify *n);
void notify_bus_settled(Notify *n);
/* The pool changed: a STATUS= update, coalesced. */
void notify_server_changed(Notify *n);
void notify_reloading(Notify *n);
void notify_reloaded(Notify *n);
void notify_stopping(Notify *n);
