/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Holding tokens back while the machine is busy (load average, MemAvailable,
 * pressure), from the limits among the parameters.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server.h"

int throttle_new(Server *s);
void throttle_free(Server *s);
/* Reads the machine's load when a limit needs it and the last reading is
 * older than the recheck timeout (or always, when forced). */
void throttle_refresh(Server *s, bool force);
/* Which limit holds tokens back and by how much, "" for none. */
void throttle_reason(const Server *s, char *buf, size_t size);
/* Moves with each reading while over a limit. */
uint64_t throttle_version(const Server *s);
