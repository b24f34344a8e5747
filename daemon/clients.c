/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Client processes: each is found from the thread a request came from, made
 * on its first request, watched through a pidfd and freed when it exits,
 * which gives back everything it held.
 */
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "event-util.h"
#include "log.h"
#include "proc.h"
#include "server-internal.h"
#include "util.h"

#define CMDLINE_MAX 256

static int client_compare(const void *a, const void *b) {
        pid_t x = ((const Client *) a)->pid, y = ((const Client *) b)->pid;
        return (x > y) - (x < y);
}

Client *client_find(Server *s, pid_t pid) {
        Client key = { .pid = pid };
        Client **found = tfind(&key, &s->clients, client_compare);
        return found ? *found : NULL;
}

void client_drop_pollhandles(Client *c, bool notify) {
        for (size_t i = 0; i < c->n_pollhandles; i++) {
                if (notify)
                        (void) fuse_lowlevel_notify_poll(c->pollhandles[i]);
                fuse_pollhandle_destroy(c->pollhandles[i]);
        }
        c->n_pollhandles = 0;
}

void client_keep_pollhandle(Client *c, struct fuse_pollhandle *ph) {
        if (c->n_pollhandles == MAX_POLLHANDLES) {
                fuse_pollhandle_destroy(c->pollhandles[0]);
                memmove(c->pollhandles, c->pollhandles + 1, (MAX_POLLHANDLES - 1) * sizeof c->pollhandles[0]);
                c->n_pollhandles--;
        }
        c->pollhandles[c->n_pollhandles++] = ph;
}

void client_free(Client *c) {
        Server *s = c->server;

        /* The kernel keeps a dying reader waiting for our answer, so none should
         * be left; answer any that are rather than leak the requests. */
        requests_fail_reads(s, c, EIO);
        ledger_process_exit(s->ledger, &c->ledger, server_now(s));
        client_drop_pollhandles(c, false);
        tdelete(c, &s->clients, client_compare);
        sd_event_source_disable_unref(c->exit_source);
        closep(&c->pidfd);
        free(c);
}

static int on_client_exit(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Client *c = userdata;
        Server *s = c->server;

        log_info("pid %d exited holding %" PRIi64 " token(s)", (int) c->pid, ledger_process_held(&c->ledger));
        client_free(c);
        server_rearm(s);
        return 0;
}

static void log_new_client(pid_t pid) {
        _cleanup_free_ char *cmdline = NULL;

        if (log_get_max_level() < LOG_LEVEL_INFO)
                return;
        (void) proc_cmdline(pid, CMDLINE_MAX, &cmdline);
        log_info("pid %d connected: %s", (int) pid, cmdline ? cmdline : "?");
}

static int client_new(Server *s, pid_t pid, Client **ret) {
        _cleanup_free_ Client *c = NULL;
        int r;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->server = s;
        c->pid = pid;
        TAILQ_INIT(&c->reads);

        c->pidfd = pidfd_open_process(pid);
        if (c->pidfd < 0)
                return c->pidfd;
        r = sd_event_add_io(s->event, &c->exit_source, c->pidfd, EPOLLIN, on_client_exit, c);
        if (r < 0)
                goto fail;
        /* A reused pid must not inherit holdings: the exit of the old process is
         * handled before any request, which the new one can only send later. */
        r = sd_event_source_set_priority(c->exit_source, SD_EVENT_PRIORITY_IMPORTANT);
        if (r < 0)
                goto fail;
        if (!tsearch(c, &s->clients, client_compare)) {
                r = -ENOMEM;
                goto fail;
        }
        ledger_process_attach(s->ledger, &c->ledger, pid);
        log_new_client(pid);
        *ret = TAKE_PTR(c);
        return 0;

fail:
        sd_event_source_disable_unref(c->exit_source);
        closep(&c->pidfd);
        return r;
}

int client_process_of(Server *s, pid_t tid, pid_t *ret) {
        if (client_find(s, tid)) {
                *ret = tid;
                return 0;
        }
        return thread_cache_owner(&s->threads, tid, ret);
}

int client_get(Server *s, pid_t tid, Client **ret) {
        pid_t tgid;
        Client *c;
        int r;

        if (s->shutting_down)
                return -EIO;
        if (tid <= 0)
                return -EPERM;          /* from outside our pid namespace: cannot be tracked */

        /* One lookup on the hot path: a known client's main thread. */
        c = client_find(s, tid);
        if (c) {
                *ret = c;
                return 0;
        }
        r = thread_cache_owner(&s->threads, tid, &tgid);
        if (r < 0)
                return r;
        c = tgid != tid ? client_find(s, tgid) : NULL;
        if (c) {
                *ret = c;
                return 0;
        }
        return client_new(s, tgid, ret);
}
