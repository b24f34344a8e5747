/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The jobserver put together: the core (server.h) and its parts, each
 * subscribed in the order its floor gives (HACKING.rst).
 */

#include "server.h"

/* proc: where to read load and memory from, normally "/proc". */
int jobserver_new(sd_event *event, const Params *params, const char *proc, Auth *auth, Server **ret);
Server *jobserver_free(Server *s);
