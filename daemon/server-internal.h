/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What the parts of the server share, and nothing else includes:
 *   server.c    the Server: parameters, timers, what bus and notify read
 *   throttle.c  holding tokens back while the machine is busy
 *   clients.c   client processes: found from a request's thread, watched
 *               through a pidfd until they exit
 *   requests.c  open, read, write, poll and release; deferred reads
 *   ioctl.c     the ioctl door: getters, setters (authorized), FIONREAD
 *   report.c    the SIGUSR1 report
 *   persist.c   what outlives steve: recording it (state.h), adopting it
 *   monitor.c   what monitors read: builds, units, history, held-back reasons
 */

#include <fuse_lowlevel.h>
#include <sys/queue.h>

#include "cmdline.h"
#include "proc.h"
#include "state.h"
#include "sysload.h"
#include "requests.h"
#include "server.h"
#include "threads.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

/* A process polling through several files (or threads) gets each woken. */
#define MAX_POLLHANDLES 8

typedef struct PendingRead PendingRead;
typedef struct PendingSet PendingSet;

/* A request answered later (a blocked read, a setter waiting for polkit),
 * as it was read: a next steve reads it again. */
typedef struct KeptRequest {
        uint64_t unique;                        /* the kernel's id for it */
        uint64_t seq;                           /* the order it was read in */
        int64_t state_index;                    /* its record, -1: none */
        uint8_t *raw;
        size_t len;
        TAILQ_ENTRY(KeptRequest) link;          /* in server->kept, in seq order */
} KeptRequest;

/* A point of the pool's use (monitor.c). */
typedef struct HistoryPoint {
        uint64_t at;                            /* CLOCK_MONOTONIC usec */
        uint32_t held, waiting;
} HistoryPoint;

#define HISTORY_MAX HISTORY_POINTS             /* ten minutes of busy seconds */

typedef struct Client {
        LedgerProcess ledger;
        Server *server;
        pid_t pid;
        uid_t uid;
        ProcStat stat;                          /* name, parent, start time, as it connected */
        int pidfd;
        sd_event_source *exit_source;
        LedgerWaiter poll_waiter;
        struct fuse_pollhandle *pollhandles[MAX_POLLHANDLES];
        uint64_t poll_khs[MAX_POLLHANDLES];     /* the kernel's handles for them */
        size_t n_pollhandles;
        TAILQ_HEAD(, PendingRead) reads;

        /* persist.c */
        int64_t state_index;                    /* its record, -1: none yet */
        bool adopted;                           /* it came with the previous steve's pool */
        bool dirty;
        TAILQ_ENTRY(Client) dirty_link;

        /* monitor.c: its unit, read when first listed; whether and how it waits, per listing */
        char *unit;
        bool unit_read;
        uint64_t listed_in, shown_in, waiting_since;
        unsigned waiting_count;

        /* Its command line, read off the loop (cmdline.h) when first wanted. */
        char *cmdline;
        CmdlineRequest *cmdline_request;
        bool cmdline_tried;
} Client;

/* Someone waiting for the command lines being read. */
typedef struct ServerFetch {
        Server *server;
        void (*done)(void *userdata);
        void *userdata;
        TAILQ_ENTRY(ServerFetch) link;
} ServerFetch;

/* A blocking read with no token for it yet: the reply is deferred. */
struct PendingRead {
        LedgerWaiter waiter;
        fuse_req_t req;
        Client *client;                         /* NULL once interrupted */
        KeptRequest kept;
        TAILQ_ENTRY(PendingRead) link;          /* in client->reads or server->interrupted */
};

struct Server {
        sd_event *event;
        Ledger *ledger;
        Params params;
        Auth *auth;
        char *proc;
        void (*observer)(void *userdata);
        void *observer_data;
        void (*reexec)(void *userdata);
        void *reexec_data;
        bool shutting_down;

        /* clients.c */
        void *clients;                          /* tsearch() tree, by pid */
        ThreadCache threads;
        CmdlineReader *cmdlines;
        unsigned cmdlines_in_flight, fetch_round;
        TAILQ_HEAD(, ServerFetch) fetches;
        sd_event_source *fetch_source;          /* answers fetches when nothing is in flight */

        /* throttle.c */
        uint64_t load_read_at;                  /* when sysload was last read; 0: never */
        SysLimit over_limit;                    /* the limit last found exceeded */
        bool load_unreadable;                   /* the last reading failed: limits unchecked */
        SysLoad load;                           /* that reading */
        uint64_t held_back_version;             /* moves with each reading while over a limit */
        sd_event_source *recheck_timer;

        /* requests.c */
        TAILQ_HEAD(, PendingRead) interrupted;
        sd_event_source *interrupt_source;
        sd_event_source *reservation_timer;

        /* ioctl.c */
        TAILQ_HEAD(, PendingSet) pending_sets;

        /* monitor.c */
        uint64_t generation, listing;
        size_t noted_waiters, noted_processes;
        HistoryPoint history[HISTORY_MAX];
        size_t history_start, history_len;

        /* persist.c */
        State *state;                           /* NULL: nothing is written as it changes */
        Params configured;                      /* what changed at run time is what is recorded */
        bool handing_over;                      /* stopping without answering anyone */
        const uint8_t *current;                 /* the request being handled, as read */
        size_t current_len;
        uint64_t next_seq;
        TAILQ_HEAD(, KeptRequest) kept;
        void *kept_by_unique;                   /* tsearch() tree of KeptRequest */
        TAILQ_HEAD(, Client) dirty;
        bool globals_dirty;
        StateGlobals globals;
        int (*send)(const void *message, size_t len, void *userdata);
        void *send_data;
        sd_event_source *commit_source;
};

uint64_t server_now(Server *s);
/* After every request: timers to what the ledger needs, and the observer told. */
void server_rearm(Server *s);

/* throttle.c */
int throttle_init(Server *s);
/* Reads the machine's load when a limit needs it and the last reading is
 * older than the recheck timeout (or always, when forced). */
void throttle_refresh(Server *s, bool force);
/* Arms the recheck timer while a waiter is held back by a limit, only then. */
void throttle_rearm(Server *s);

/* clients.c */
int clients_init(Server *s);
void clients_done(Server *s);
/* Calls done(userdata) on the loop once the command line of every client
 * known now has been read or given up on. */
int clients_fetch_cmdlines(Server *s, void (*done)(void *userdata), void *userdata, ServerFetch **ret);
void clients_fetch_cancel(ServerFetch *f);
/* What to show for c: its command line if read and wanted, else its name. */
const char *client_label(const Client *c, bool cmdline);
/* The client process of a request's thread, made on its first request; uid
 * is the caller's (its user, for the per-user limit, is the one it first came as). */
int client_get(Server *s, pid_t tid, uid_t uid, Client **ret);
/* The nearest ancestor of c that is a client holding a token: the process
 * c's implicit slot was lent by. NULL when there is none. */
Client *client_lender(Server *s, Client *c);
Client *client_find(Server *s, pid_t pid);
/* The process of thread tid: itself when it is a known client's main thread. */
int client_process_of(Server *s, pid_t tid, pid_t *ret);
void client_free(Client *c);
void client_keep_pollhandle(Client *c, struct fuse_pollhandle *ph, uint64_t kh);
void client_drop_pollhandles(Client *c, bool notify);

/* requests.c */
extern const LedgerCallbacks requests_ledger_callbacks;
int requests_init(Server *s);
void requests_done(Server *s);
/* Answers the interrupted reads now (the defer source would next time round). */
void requests_answer_interrupted(Server *s);
/* Fails every deferred read of c with error. */
void requests_fail_reads(Server *s, Client *c, int error);

/* ioctl.c */
/* Answers every ioctl setter still waiting for its authorization with EIO. */
void ioctl_fail_pending(Server *s);

/* monitor.c */
void monitor_note(Server *s);
/* A process's holdings changed, or a client came or went. */
void monitor_changed(Server *s);
/* throttle.c: which limit holds tokens back and by how much, "" for none. */
void throttle_reason(const Server *s, char *buf, size_t size);
ServerProcess server_describe(const LedgerProcess *p);

/* persist.c */
int persist_init(Server *s);
void persist_done(Server *s);
/* Commits what the iteration changed and sends its replies, now. */
void persist_flush(Server *s);
/* What the ledger keeps of c changed (or its pollers did). */
void persist_client_changed(Client *c);
void persist_client_gone(Client *c);
/* The request being handled is answered later: keep it as read. */
int persist_keep_current(Server *s, KeptRequest *k);
/* Forget a kept request whose answer went out (or never will). */
void persist_forget(Server *s, KeptRequest *k);
/* Let go of it here, but keep its record: a next steve answers it. */
void persist_release(Server *s, KeptRequest *k);
/* The kernel's handle of the poll request being handled. */
uint64_t persist_current_poll_kh(const Server *s);
void persist_note_params(Server *s);
int client_restore(Server *s, const StateProcess *p, uint32_t index);
