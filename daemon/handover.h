/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The connection and the pool outlive steve. Under systemd, steve.socket
 * keeps /dev/cuse open while steve restarts, is upgraded, crashes or is
 * stopped, and the state file (--state-file, on tmpfs) holds the pool; the
 * next steve is handed the same connection and adopts both. Without systemd
 * (OpenRC, a terminal), steve re-executes itself in place (SIGUSR2, the
 * Reexecute D-Bus method, stevie --reexec): same pid, the connection and the
 * state (the file, or a memfd written for the occasion) passed on as open
 * descriptors.
 */

#include <stdbool.h>

#include "server.h"
#include "transport.h"

typedef struct Handover Handover;

/* At start: the state file (NULL for none), and what a re-exec'ing
 * predecessor passed in the environment. */
int handover_new(const char *state_file, Handover **ret);
Handover *handover_free(Handover *h);

/* The connection a re-exec'ing steve passed on, or -1. */
int handover_passed_fd(const Handover *h);
/* Whether stopping leaves the connection to someone who keeps it (a socket
 * unit, as the predecessor said), so that nothing may be answered then. */
bool handover_keeps(const Handover *h);
void handover_set_keep(Handover *h, bool keep);

/* After the transport is set up on a passed connection: adopt what the
 * previous steve left, or begin afresh. The state file is journaled from
 * now on either way. */
int handover_adopt(Handover *h, Server *s, Transport *t, bool *ret_adopted);
/* A transport set up here (nothing passed): the state begins afresh. */
int handover_begin(Handover *h, Server *s);

/* Replaces this process with a steve run from exe with argv, handing it the
 * connection and the pool. Returns only when that failed; nothing is lost then. */
int handover_reexec(Handover *h, Server *s, Transport *t, const char *exe, char **argv);
