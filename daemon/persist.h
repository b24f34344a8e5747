/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What outlives steve: the state file journaled as the pool changes (an
 * observer of the core), the transport's requests and replies through it,
 * and the previous steve's pool adopted from it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "server.h"
#include "state.h"

int persist_new(Server *s);
/* Commits what is open first. */
void persist_free(Server *s);

/* The transport's side. Every request as read (raw, before libfuse sees
 * it), and every reply and notification before it is written: true when
 * persistence takes the reply, to send once its transaction commits (or,
 * handing over, never), false to write it now. */
void persist_request_read(Server *s, const void *raw, size_t len);
void persist_request_done(Server *s);
bool persist_reply(Server *s, const struct iovec *iov, int count);
/* Where to read a request of len bytes from the kernel so that it outlives
 * a steve killed before recording it (state_landing()), or NULL. */
void *persist_landing(Server *s, size_t len);
/* How what was held back is written: one message a call. */
void persist_set_sender(Server *s, int (*send)(const void *message, size_t len, void *userdata), void *userdata);
/* The connection's INIT request, recorded for a next steve to replay. */
void persist_note_init(Server *s, const void *raw, size_t len);
/* What tells the connection apart (transport.c); false for 0, unknown. */
bool persist_note_connection(Server *s, uint64_t identity);
/* The previous steve had kept this request (state index): it is read now,
 * so its old record goes in the same transaction. */
void persist_request_replaces(Server *s, int64_t state_index);

/* Commits what changed and sends its replies, now. */
void persist_flush(Server *s);
/* The state file, journaled from now on; NULL for none. */
void persist_set_state(Server *s, State *st);
/* The parameters as configured (start, reload): what differs at run time
 * is what outlives steve. */
void persist_set_configured(Server *s, const Params *p);
/* The previous steve's pool, from its state: parameters changed at run
 * time, processes still alive with what they held. */
int persist_adopt(Server *s, State *st);
/* The replies it had committed and maybe not sent: sent (again). */
void persist_resend_committed(Server *s, State *st);
/* Its pollers, waiting on handles it held, are woken to poll again. */
void persist_wake_adopted_pollers(Server *s);
/* Everything, written at once into st (a re-exec without a state file). */
int persist_snapshot(Server *s, State *st);
