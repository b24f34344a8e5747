/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Requests answered later (a blocked read, a setter waiting for polkit), kept
 * as they were read, so that a next steve can read them again: in memory for
 * a re-exec, and in the state file, when there is one, for a crash.
 */

#include <stdint.h>
#include <sys/queue.h>

#include "server.h"
#include "state.h"

typedef struct KeptRequest {
        uint64_t unique;                        /* the kernel's id for it */
        uint64_t seq;                           /* the order it was read in */
        int64_t state_index;                    /* its record, -1: none */
        uint8_t *raw;                           /* NULL: not kept */
        size_t len;
        TAILQ_ENTRY(KeptRequest) link;          /* in seq order */
} KeptRequest;

int kept_new(Server *s);
/* The memory only: the records stay for the next steve. */
void kept_free(Server *s);
/* The state file kept requests are recorded in from now on; NULL for none. */
void kept_set_state(Server *s, State *st);
/* The request being handled, as read; NULL once it is. */
void kept_set_current(Server *s, const void *raw, size_t len);
/* The request being handled is answered later: keep it as read. */
int kept_keep_current(Server *s, KeptRequest *k);
/* The kernel's handle of the poll request being handled. */
uint64_t kept_current_poll_kh(const Server *s);
KeptRequest *kept_find(Server *s, uint64_t unique);
/* Forget a kept request whose answer went out (or never will), record and all. */
void kept_forget(Server *s, KeptRequest *k);
/* Let go of it here, but keep its record: a next steve answers it. */
void kept_release(Server *s, KeptRequest *k);
/* Each kept request in the order it was read; a negative return stops the walk. */
int kept_foreach(Server *s, int (*fn)(const KeptRequest *k, void *userdata), void *userdata);
