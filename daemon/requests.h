/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The kernel's side of the jobserver: what the transports (CUSE and FUSE)
 * call for each request, on the one sd-event loop. requests.c serves open,
 * read, write, poll and release; ioctl.c the ioctls.
 */

#include <fuse_lowlevel.h>

typedef struct Server Server;

/* Every request as read (raw, before libfuse sees it), and every reply and
 * notification before it is written: true when the server takes the reply
 * to send after its transaction commits (persist.c), false to write it now. */
void server_request_read(Server *s, const void *raw, size_t len);
void server_request_done(Server *s);
/* Where to read a request of len bytes from the kernel so that it outlives
 * a steve killed before recording it (state_landing()), or NULL. */
void *server_landing(Server *s, size_t len);
bool server_reply(Server *s, const struct iovec *iov, int count);
/* How the server writes what it held back: one message a call. */
void server_set_sender(Server *s, int (*send)(const void *message, size_t len, void *userdata), void *userdata);
/* The connection's INIT request, recorded for a next steve to replay. */
void persist_note_init(Server *s, const void *raw, size_t len);
/* What tells the connection apart (transport.c); false for 0, unknown. */
bool persist_note_connection(Server *s, uint64_t identity);
/* The previous steve had kept this request (state index): it is read now,
 * so its old record goes in the same transaction. */
void server_request_replaces(Server *s, int64_t state_index);

void server_open(Server *s, fuse_req_t req, struct fuse_file_info *fi);
void server_release(Server *s, fuse_req_t req, struct fuse_file_info *fi);
void server_read(Server *s, fuse_req_t req, size_t size, struct fuse_file_info *fi);
void server_write(Server *s, fuse_req_t req, size_t size, struct fuse_file_info *fi);
void server_poll(Server *s, fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph);
void server_ioctl(Server *s, fuse_req_t req, unsigned int cmd, void *arg, struct fuse_file_info *fi,
                  unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz);
