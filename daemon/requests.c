/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Open, read, write, poll and release, from either transport. A read with no
 * token for it is answered later (the fuse_req_t is kept) unless the file is
 * non-blocking; a FUSE interrupt cancels it with EINTR. A poller with no
 * token is woken through its pollhandle once one is reserved for it.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "event-util.h"
#include "log.h"
#include "server-internal.h"
#include "util.h"

#define TOKEN_BYTE '+'

static void reply_token(fuse_req_t req, pid_t pid) {
        static const char token = TOKEN_BYTE;
        int r;

        r = fuse_reply_buf(req, &token, 1);
        /* The reader is gone; its holdings come back when its exit is seen. */
        if (r < 0)
                log_debug("token for pid %d not delivered: %s", (int) pid, strerror(-r));
}

static void pending_read_fail(Server *s, PendingRead *pr, int error) {
        ledger_cancel(s->ledger, &pr->waiter);
        if (s->handing_over) {
                /* Unanswered: the next steve reads it again and answers it. */
                persist_release(s, &pr->kept);
                fuse_reply_none(pr->req);
        } else
                (void) fuse_reply_err(pr->req, error);
        free(pr);
}

void requests_fail_reads(Server *s, Client *c, int error) {
        PendingRead *pr;

        while ((pr = TAILQ_FIRST(&c->reads))) {
                TAILQ_REMOVE(&c->reads, pr, link);
                pending_read_fail(s, pr, error);
        }
}

static void on_granted(LedgerWaiter *w, void *userdata) {
        PendingRead *pr = container_of(w, PendingRead, waiter);
        Client *c = pr->client;

        TAILQ_REMOVE(&c->reads, pr, link);
        log_debug("pid %d: waited read granted", (int) c->pid);
        reply_token(pr->req, c->pid);
        free(pr);
}

static void on_reserved(LedgerWaiter *w, void *userdata) {
        Client *c = container_of(w, Client, poll_waiter);

        log_debug("pid %d: token reserved, waking poller", (int) c->pid);
        client_drop_pollhandles(c, true);
}

static void on_changed(LedgerProcess *p, void *userdata) {
        persist_client_changed(container_of(p, Client, ledger));
        monitor_changed(userdata);
}

const LedgerCallbacks requests_ledger_callbacks = {
        .granted = on_granted,
        .reserved = on_reserved,
        .changed = on_changed,
};

static int on_reservation_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Server *s = userdata;

        ledger_expire_reservations(s->ledger, server_now(s));
        server_rearm(s);
        return 0;
}

/* Interrupt callbacks run inside libfuse's request processing, where replying
 * is not safe; the EINTR answers go out on the next loop iteration. */
static int on_interrupts(sd_event_source *source, void *userdata) {
        Server *s = userdata;
        PendingRead *pr;

        while ((pr = TAILQ_FIRST(&s->interrupted))) {
                TAILQ_REMOVE(&s->interrupted, pr, link);
                (void) fuse_reply_err(pr->req, EINTR);
                free(pr);
        }
        return 0;
}

static void on_interrupt(fuse_req_t req, void *userdata) {
        PendingRead *pr = userdata;
        Client *c = pr->client;
        Server *s;

        if (!c)
                return;
        s = c->server;
        log_debug("pid %d: waiting read interrupted", (int) c->pid);
        ledger_cancel(s->ledger, &pr->waiter);
        TAILQ_REMOVE(&c->reads, pr, link);
        pr->client = NULL;
        TAILQ_INSERT_TAIL(&s->interrupted, pr, link);
        (void) sd_event_source_set_enabled(s->interrupt_source, SD_EVENT_ONESHOT);
}

int requests_init(Server *s) {
        int r;

        TAILQ_INIT(&s->interrupted);
        r = event_add_idle_timer(s->event, &s->reservation_timer, USEC_PER_SEC / 1000, on_reservation_timer, s);
        if (r >= 0)
                r = sd_event_add_defer(s->event, &s->interrupt_source, on_interrupts, s);
        if (r >= 0)
                r = sd_event_source_set_enabled(s->interrupt_source, SD_EVENT_OFF);
        return r;
}

void requests_answer_interrupted(Server *s) {
        on_interrupts(NULL, s);
}

void requests_done(Server *s) {
        requests_answer_interrupted(s);
        sd_event_source_disable_unref(s->reservation_timer);
        sd_event_source_disable_unref(s->interrupt_source);
}

void server_open(Server *s, fuse_req_t req, struct fuse_file_info *fi) {
        Client *c;

        /* The opener is a client from now on, before any child it starts:
         * make opens the jobserver at start but reads only for its second
         * job, and a sub-make that connected first would lead a build of its
         * own. One that cannot be one (another pid namespace) is told so by
         * its first read. */
        if (client_get(s, fuse_req_ctx(req)->pid, fuse_req_ctx(req)->uid, &c) == -EUSERS) {
                /* Its user has clients_per_user processes here: make says why
                 * and goes on with its one implicit job. */
                (void) fuse_reply_err(req, EUSERS);
                return;
        }
        /* FUSE would otherwise serve reads from the page cache. */
        fi->direct_io = 1;
        fi->nonseekable = 1;
        fi->keep_cache = 0;
        (void) fuse_reply_open(req, fi);
}

void server_release(Server *s, fuse_req_t req, struct fuse_file_info *fi) {
        /* Closing returns nothing: make closes on SIGINT while its children may
         * still run, and tokens come back when a process exits. */
        (void) fuse_reply_err(req, 0);
}

static void read_blocking(Server *s, Client *c, fuse_req_t req) {
        PendingRead *pr;
        int r;

        pr = calloc(1, sizeof *pr);
        if (!pr) {
                (void) fuse_reply_err(req, ENOMEM);
                return;
        }
        pr->req = req;
        pr->client = c;
        r = ledger_acquire(s->ledger, &c->ledger, &pr->waiter, server_now(s));
        if (r != LEDGER_QUEUED) {
                free(pr);
                if (r == LEDGER_GRANTED)
                        reply_token(req, c->pid);
                else if (r == LEDGER_TOO_MANY_WAITERS)
                        /* Not kept: it costs steve memory. Every jobserver
                         * client reads again on EINTR, make after its poll. */
                        (void) fuse_reply_err(req, EINTR);
                else
                        (void) fuse_reply_err(req, r < 0 ? -r : EIO);
                return;
        }
        TAILQ_INSERT_TAIL(&c->reads, pr, link);
        if (persist_keep_current(s, &pr->kept) < 0)
                log_warning("pid %d: a waiting read is not recorded; a re-exec would not answer it", (int) c->pid);
        log_debug("pid %d: read waits", (int) c->pid);
        /* Runs on_interrupt at once if the signal came first. */
        fuse_req_interrupt_func(req, on_interrupt, pr);
}

/* The client of a request, or the request answered with the error. */
static Client *request_client(Server *s, fuse_req_t req) {
        Client *c;
        int r;

        r = client_get(s, fuse_req_ctx(req)->pid, fuse_req_ctx(req)->uid, &c);
        if (r < 0) {
                (void) fuse_reply_err(req, -r);
                return NULL;
        }
        return c;
}

void server_read(Server *s, fuse_req_t req, size_t size, struct fuse_file_info *fi) {
        Client *c = request_client(s, req);
        int r;

        if (!c)
                return;
        throttle_refresh(s, false);
        if (size == 0)
                (void) fuse_reply_buf(req, NULL, 0);
        else if (!(fi->flags & O_NONBLOCK))
                read_blocking(s, c, req);
        else {
                r = ledger_acquire(s->ledger, &c->ledger, NULL, server_now(s));
                if (r == LEDGER_GRANTED)
                        reply_token(req, c->pid);
                else
                        (void) fuse_reply_err(req, r == LEDGER_WOULD_BLOCK ? EAGAIN : -r);
        }
        server_rearm(s);
}

/* nasm-rs and cc-rs return their implicit slot before they acquire: the
 * token their process runs on is an ancestor's (make's, cargo's). */
static int return_implicit_slot(Server *s, Client *c) {
        Client *lender = client_lender(s, c);

        if (lender)
                log_info("pid %d returned its implicit slot: a token of pid %d's, its ancestor", (int) c->pid,
                         (int) lender->pid);
        else
                log_info("pid %d returned an implicit slot no ancestor lent: taken, the pool unchanged",
                         (int) c->pid);
        return ledger_return_implicit(s->ledger, &c->ledger, lender ? &lender->ledger : NULL, server_now(s));
}

void server_write(Server *s, fuse_req_t req, size_t size, struct fuse_file_info *fi) {
        Client *c = request_client(s, req);
        int r;

        if (!c)
                return;
        r = ledger_release(s->ledger, &c->ledger, size, server_now(s));
        if (r == LEDGER_IMPLICIT_SLOT)
                r = return_implicit_slot(s, c);
        if (r == LEDGER_NOT_HELD) {
                log_info("pid %d returned %zu token(s) holding %" PRIi64, (int) c->pid, size,
                         ledger_process_held(&c->ledger));
                (void) fuse_reply_err(req, ENOSPC);
        } else
                (void) fuse_reply_write(req, size);
        server_rearm(s);
}

void server_poll(Server *s, fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph) {
        unsigned events = POLLOUT | POLLWRNORM;
        Client *c;
        int r;

        r = client_get(s, fuse_req_ctx(req)->pid, fuse_req_ctx(req)->uid, &c);
        if (r < 0) {
                fuse_pollhandle_destroy(ph);
                (void) fuse_reply_err(req, -r);
                return;
        }
        throttle_refresh(s, false);
        r = ledger_poll(s->ledger, &c->ledger, ph ? &c->poll_waiter : NULL, server_now(s));
        if (r == LEDGER_QUEUED)
                client_keep_pollhandle(c, ph, persist_current_poll_kh(s));
        else {
                fuse_pollhandle_destroy(ph);
                if (r == LEDGER_GRANTED)
                        events |= POLLIN | POLLRDNORM;
        }
        (void) fuse_reply_poll(req, events);
        server_rearm(s);
}
