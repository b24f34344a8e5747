/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Client processes: each is found from the thread a request came from, made
 * on its first request, watched through a pidfd and freed when it exits,
 * which gives back everything it held. Each change is announced through the
 * core (server.h); the parts that keep something per client keep it in
 * their slot (client_part()).
 */

#include <fuse_lowlevel.h>

#include "cmdline.h"
#include "proc.h"
#include "server-internal.h"
#include "state.h"

/* A process polling through several files (or threads) gets each woken. */
#define MAX_POLLHANDLES 8

struct Client {
        LedgerProcess ledger;
        Server *server;
        pid_t pid;
        uid_t uid;
        ProcStat stat;                          /* name, parent, start time, as it connected */
        int pidfd;
        sd_event_source *exit_source;
        bool adopted;                           /* it came with the previous steve's pool */

        /* Its pollers: woken once a token is reserved for them. */
        LedgerWaiter poll_waiter;
        struct fuse_pollhandle *pollhandles[MAX_POLLHANDLES];
        uint64_t poll_khs[MAX_POLLHANDLES];     /* the kernel's handles for them */
        size_t n_pollhandles;

        /* Its command line, read off the loop (cmdline.h) when first wanted. */
        char *cmdline;
        CmdlineRequest *cmdline_request;
        bool cmdline_tried;

        void *parts[SERVER_OBSERVERS_MAX];      /* each observer's, by its slot */
};

int clients_new(Server *s);
/* Frees every client, announcing each as it goes. */
void clients_free(Server *s);

static inline Client *client_of(const LedgerProcess *p) {
        return container_of(p, Client, ledger);
}

static inline void *client_part(const Client *c, int slot) {
        return c->parts[slot];
}

static inline void client_set_part(Client *c, int slot, void *part) {
        c->parts[slot] = part;
}

/* The ledger's word that what it keeps of p changed. */
void clients_on_ledger_changed(LedgerProcess *p, void *userdata);

/* The client process of a request's thread, made on its first request; uid
 * is the caller's (its user, for the per-user limit, is the one it first came as). */
int client_get(Server *s, pid_t tid, uid_t uid, Client **ret);
Client *client_find(Server *s, pid_t pid);
/* The process of thread tid: itself when it is a known client's main thread. */
int client_process_of(Server *s, pid_t tid, pid_t *ret);
/* The nearest ancestor of c that is a client holding a token: the process
 * c's implicit slot was lent by. NULL when there is none. */
Client *client_lender(Server *s, Client *c);
/* A process the previous steve recorded, if its pid still names it. */
int client_restore(Server *s, const StateProcess *p, Client **ret);
/* What to show for c: its command line if read and wanted, else its name. */
const char *client_label(const Client *c, bool cmdline);

void client_keep_pollhandle(Client *c, struct fuse_pollhandle *ph, uint64_t kh);
/* notify: wake each poller first. */
void client_drop_pollhandles(Client *c, bool notify);

/* The weight of the (sub-)build pid leads, from the next grant on; -ESRCH
 * for a process steve does not know, -EINVAL for a weight out of range. */
int client_set_weight(Server *s, pid_t pid, uint32_t weight);
/* Takes back what a live process holds; -ESRCH for a process steve does not know. */
int client_reclaim(Server *s, pid_t pid, uint64_t *ret);

/* Reads (off the loop) the command line of every client that has none yet;
 * done(userdata) runs on the loop once all have been read or given up on. */
typedef struct ClientsFetch ClientsFetch;
int clients_fetch_cmdlines(Server *s, void (*done)(void *userdata), void *userdata, ClientsFetch **ret);
void clients_fetch_cancel(ClientsFetch *f);
