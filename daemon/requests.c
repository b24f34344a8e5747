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

#include "clients.h"
#include "event-util.h"
#include "kept.h"
#include "log.h"
#include "requests.h"
#include "throttle.h"
#include "util.h"

/* A blocking read with no token for it yet: the reply is deferred. */
typedef struct PendingRead {
        LedgerWaiter waiter;
        fuse_req_t req;
        Client *client;                         /* NULL once interrupted */
        KeptRequest kept;
        TAILQ_ENTRY(PendingRead) link;          /* in its client's reads or in interrupted */
} PendingRead;

typedef TAILQ_HEAD(PendingReads, PendingRead) PendingReads;

struct Requests {
        int slot;                               /* a client's PendingReads, made at its first */
        PendingReads interrupted;
        sd_event_source *reservation_timer;
};

#define TOKEN_BYTE '+'

static void reply_token(fuse_req_t req, pid_t pid) {
        static const char token = TOKEN_BYTE;
        int r;

        r = fuse_reply_buf(req, &token, 1);
        /* The reader is gone; its holdings come back when its exit is seen. */
        if (r < 0)
                log_debug("token for pid %d not delivered: %s", (int) pid, strerror(-r));
}

/* A client's deferred reads, NULL before its first. */
static PendingReads *reads_of(const Client *c) {
        return client_part(c, c->server->requests->slot);
}

/* Handing over, the error goes nowhere and the request stays recorded for
 * the next steve (persist.c). */
static void fail_reads(Client *c, int error) {
        PendingReads *reads = reads_of(c);
        PendingRead *pr;

        while (reads && (pr = TAILQ_FIRST(reads))) {
                TAILQ_REMOVE(reads, pr, link);
                ledger_cancel(c->server->ledger, &pr->waiter);
                (void) fuse_reply_err(pr->req, error);
                free(pr);
        }
}

void requests_on_granted(LedgerWaiter *w, void *userdata) {
        PendingRead *pr = container_of(w, PendingRead, waiter);
        Client *c = pr->client;

        TAILQ_REMOVE(reads_of(c), pr, link);
        log_debug("pid %d: waited read granted", (int) c->pid);
        reply_token(pr->req, c->pid);
        free(pr);
}

void requests_on_reserved(LedgerWaiter *w, void *userdata) {
        Client *c = container_of(w, Client, poll_waiter);

        log_debug("pid %d: token reserved, waking poller", (int) c->pid);
        client_drop_pollhandles(c, true);
}

static int on_reservation_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Server *s = userdata;

        ledger_expire_reservations(s->ledger, server_now(s));
        server_changed(s);
        return 0;
}

/* Interrupt callbacks run inside libfuse's request processing, where replying
 * is not safe; the EINTR answers go out once the iteration settles. */
static void answer_interrupted(Server *s) {
        PendingRead *pr;

        while ((pr = TAILQ_FIRST(&s->requests->interrupted))) {
                TAILQ_REMOVE(&s->requests->interrupted, pr, link);
                (void) fuse_reply_err(pr->req, EINTR);
                free(pr);
        }
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
        TAILQ_REMOVE(reads_of(c), pr, link);
        pr->client = NULL;
        TAILQ_INSERT_TAIL(&s->requests->interrupted, pr, link);
        server_changed(s);
}

/* Timers run only while they have work: a reservation to expire. */
static void on_settled(void *userdata) {
        Server *s = userdata;

        answer_interrupted(s);
        event_set_timer(s->requests->reservation_timer, ledger_next_deadline(s->ledger));
}

static void on_client_leaving(Client *c, void *userdata) {
        PendingReads *reads = reads_of(c);

        fail_reads(c, EIO);
        free(reads);
        client_set_part(c, c->server->requests->slot, NULL);
}

static int fail_client(const LedgerProcess *p, void *userdata) {
        Client *c = client_of(p);

        fail_reads(c, EIO);
        client_drop_pollhandles(c, true);
        return 0;
}

static void on_stopping(void *userdata) {
        Server *s = userdata;

        (void) ledger_foreach_process(s->ledger, fail_client, NULL);
        answer_interrupted(s);
}

static const ServerObserver requests_observer = {
        .client_leaving = on_client_leaving,
        .settled = on_settled,
        .stopping = on_stopping,
};

int requests_new(Server *s) {
        Requests *rq = calloc(1, sizeof *rq);
        int r;

        if (!rq)
                return -ENOMEM;
        s->requests = rq;
        TAILQ_INIT(&rq->interrupted);
        r = event_add_idle_timer(s->event, &rq->reservation_timer, USEC_PER_SEC / 1000, on_reservation_timer, s);
        if (r >= 0)
                r = rq->slot = server_observe(s, &requests_observer, s);
        return r;
}

void requests_free(Server *s) {
        if (!s->requests)
                return;
        answer_interrupted(s);
        sd_event_source_disable_unref(s->requests->reservation_timer);
        free(s->requests);
        s->requests = NULL;
}

void requests_open(Server *s, fuse_req_t req, struct fuse_file_info *fi) {
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

void requests_release(Server *s, fuse_req_t req, struct fuse_file_info *fi) {
        /* Closing returns nothing: make closes on SIGINT while its children may
         * still run, and tokens come back when a process exits. */
        (void) fuse_reply_err(req, 0);
}

/* Where c's deferred reads go, made at its first. */
static PendingReads *reads_made(Client *c) {
        PendingReads *reads = reads_of(c);

        if (!reads && (reads = malloc(sizeof *reads))) {
                TAILQ_INIT(reads);
                client_set_part(c, c->server->requests->slot, reads);
        }
        return reads;
}

static void read_blocking(Server *s, Client *c, fuse_req_t req) {
        PendingReads *reads = reads_made(c);
        PendingRead *pr;
        int r;

        pr = reads ? calloc(1, sizeof *pr) : NULL;
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
        TAILQ_INSERT_TAIL(reads, pr, link);
        if (kept_keep_current(s, &pr->kept) < 0)
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

void requests_read(Server *s, fuse_req_t req, size_t size, struct fuse_file_info *fi) {
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
        server_changed(s);
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

void requests_write(Server *s, fuse_req_t req, size_t size, struct fuse_file_info *fi) {
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
        server_changed(s);
}

void requests_poll(Server *s, fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph) {
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
                client_keep_pollhandle(c, ph, kept_current_poll_kh(s));
        else {
                fuse_pollhandle_destroy(ph);
                if (r == LEDGER_GRANTED)
                        events |= POLLIN | POLLRDNORM;
        }
        (void) fuse_reply_poll(req, events);
        server_changed(s);
}
