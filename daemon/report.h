/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "server.h"

/* SIGUSR1: the pool, each holder and each waiter, to the log, once their
 * command lines have been read. */
void report_to_log(Server *s);
