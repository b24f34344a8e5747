/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What outlives steve, the server's side of it (state.c keeps the file), as
 * an observer of the core: every loop iteration is one transaction of the
 * state file. The transport hands over each request as it reads it and each
 * reply before it writes it; the core says which clients and parameters
 * changed; once the iteration has settled, whatever door the change came
 * through, the changed records are committed and only then do the replies
 * go to the kernel. Without a state file nothing is journaled, replies go
 * out at once, and only the requests answered later are kept, in memory
 * (kept.h), for a re-exec to hand over. Handing over, nothing is answered
 * and nothing recorded changes: the next steve finds it all as it was.
 *
 * Adopting: the previous steve's processes come back if their pid still
 * names the process that started when it said (a reused pid is another
 * process and inherits nothing); what they held they hold; the requests it
 * kept are given to libfuse again, in the order it read them; its pollers
 * are woken to poll again; the replies it had committed go out again.
 */
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients.h"
#include "kept.h"
#include "log.h"
#include "persist.h"
#include "util.h"

/* What is recorded of a client, in its slot. */
typedef struct Record {
        Client *client;
        int64_t state_index;                    /* -1: none yet */
        bool dirty;
        TAILQ_ENTRY(Record) dirty_link;
} Record;

struct Persist {
        int slot;
        State *state;                           /* NULL: nothing is written as it changes */
        Params configured;                      /* what changed at run time is what is recorded */
        TAILQ_HEAD(, Record) dirty;
        bool globals_dirty;
        StateGlobals globals;
        int (*send)(const void *message, size_t len, void *userdata);
        void *send_data;
};

/* Records */

static void image_of(const Client *c, StateProcess *ret) {
        LedgerProcessState st;

        ledger_process_state(&c->ledger, &st);
        *ret = (StateProcess) {
                .in_use = 1, .pid = c->pid, .uid = c->uid, .start_time = c->stat.start_time,
                .held = st.held,
                .absorb = (st.absorb & STATE_ABSORB_MASK) | st.lent << STATE_LENT_SHIFT,
                .flags = (st.ever_acquired ? STATE_EVER_ACQUIRED : 0) |
                         (st.returned_implicit ? STATE_RETURNED_IMPLICIT : 0) |
                         (st.borrowed ? STATE_BORROWED : 0) |
                         (st.weight & STATE_WEIGHT_MASK) << STATE_WEIGHT_SHIFT,
                .n_jobs = st.n_jobs < STATE_JOBS ? (uint32_t) st.n_jobs : STATE_JOBS,
                .n_polls = (uint32_t) c->n_pollhandles,
        };
        for (uint32_t i = 0; i < ret->n_jobs; i++)
                ret->jobs[i] = (StateJob) { .id = st.jobs[i].id, .started = st.jobs[i].started };
        memcpy(ret->polls, c->poll_khs, c->n_pollhandles * sizeof c->poll_khs[0]);
}

static Record *record_of(Server *s, Client *c, int64_t state_index) {
        Record *rec = client_part(c, s->persist->slot);

        if (!rec && (rec = calloc(1, sizeof *rec))) {
                *rec = (Record) { .client = c, .state_index = state_index };
                client_set_part(c, s->persist->slot, rec);
        }
        return rec;
}

static void on_client_changed(Client *c, void *userdata) {
        Server *s = userdata;
        Persist *ps = s->persist;
        Record *rec;

        /* Handing over, what it held stays recorded as it was. */
        if (!ps->state || s->handing_over)
                return;
        rec = record_of(s, c, -1);
        if (!rec) {
                log_warning("pid %d: no memory to record a change; the state file lags", (int) c->pid);
                return;
        }
        if (rec->dirty)
                return;
        rec->dirty = true;
        TAILQ_INSERT_TAIL(&ps->dirty, rec, dirty_link);
}

static void on_client_gone(Client *c, void *userdata) {
        Server *s = userdata;
        Persist *ps = s->persist;
        Record *rec = client_part(c, ps->slot);

        if (!rec)
                return;
        if (rec->dirty)
                TAILQ_REMOVE(&ps->dirty, rec, dirty_link);
        if (ps->state && !s->handing_over && state_drop_process(ps->state, rec->state_index) < 0)
                log_warning("Cannot record that pid %d is gone", (int) c->pid);
        client_set_part(c, ps->slot, NULL);
        free(rec);
}

/* The transport's side */

void persist_request_read(Server *s, const void *raw, size_t len) {
        State *st = s->persist->state;

        kept_set_current(s, raw, len);
        server_changed(s);
        if (!st)
                return;
        /* One request a transaction: what came before it (an exit) goes first. */
        if (state_open_transaction(st))
                persist_flush(s);
        if (state_begin(st, raw, len) < 0)
                log_warning("Cannot begin a transaction; the state file may lag");
        else
                state_landed(st, raw, len);
}

void *persist_landing(Server *s, size_t len) {
        State *st = s->persist->state;
        return st && len <= STATE_LANDING_SIZE ? state_landing(st) : NULL;
}

void persist_request_done(Server *s) {
        kept_set_current(s, NULL, 0);
}

bool persist_reply(Server *s, const struct iovec *iov, int count) {
        const struct fuse_out_header *out = iov[0].iov_base;
        KeptRequest *kept = kept_find(s, out->unique);
        State *st = s->persist->state;

        /* Handing over, nobody is answered: the next steve answers them all,
         * from the records as they were. The request's memory goes with
         * whoever held it. */
        if (s->handing_over) {
                if (kept)
                        kept_release(s, kept);
                return true;
        }
        /* Answered: a request kept for later no longer is. */
        if (kept)
                kept_forget(s, kept);
        if (!st)
                return false;
        if (state_add_reply(st, iov, count) < 0) {
                log_warning("Cannot journal a reply; sent at once");
                return false;
        }
        return true;
}

void persist_set_sender(Server *s, int (*send)(const void *message, size_t len, void *userdata), void *userdata) {
        s->persist->send = send;
        s->persist->send_data = userdata;
}

/* Replies as journaled: one message after the other, each with its length,
 * so a header is where the last reply ended: copied out, not cast. */
static void send_replies(Persist *ps, const uint8_t *buf, size_t len) {
        while (len >= sizeof(struct fuse_out_header)) {
                struct fuse_out_header out;
                size_t n;

                memcpy(&out, buf, sizeof out);
                n = out.len;
                if (n < sizeof out || n > len)
                        break;
                if (ps->send)
                        (void) ps->send(buf, n, ps->send_data);
                buf += n;
                len -= n;
        }
}

/* Once the iteration has settled: what changed, committed; then the
 * replies. A change with no request under way (D-Bus, a reload, a timer)
 * is committed too: state_put_*() opens a transaction for it. */
void persist_flush(Server *s) {
        Persist *ps = s->persist;
        const void *replies;
        size_t len;
        Record *rec;
        int r = 0;

        if (!ps->state || (!state_open_transaction(ps->state) && TAILQ_EMPTY(&ps->dirty) && !ps->globals_dirty))
                return;
        while (r >= 0 && (rec = TAILQ_FIRST(&ps->dirty))) {
                StateProcess image;

                TAILQ_REMOVE(&ps->dirty, rec, dirty_link);
                rec->dirty = false;
                image_of(rec->client, &image);
                r = state_put_process(ps->state, &rec->state_index, &image);
        }
        if (r >= 0 && ps->globals_dirty) {
                r = state_put_globals(ps->state, &ps->globals);
                ps->globals_dirty = false;
        }
        if (r >= 0)
                r = state_commit(ps->state, ledger_next_job_id(s->ledger));
        if (r < 0)
                log_warning_errno(r, "Cannot write the state file (%m); a steve started after a crash would "
                                  "not know the last change");
        state_pending_replies(ps->state, &replies, &len);
        send_replies(ps, replies, len);
        state_done(ps->state);
}

static void on_settled(void *userdata) {
        persist_flush(userdata);
}

/* Globals: the connection's INIT and the run-time parameters. */

_Static_assert(PARAMS_MAX <= STATE_PARAMS, "the state file has room for every parameter");

void persist_note_init(Server *s, const void *raw, size_t len) {
        StateGlobals *g = &s->persist->globals;

        g->init_len = len < STATE_RAW_MAX ? (uint32_t) len : STATE_RAW_MAX;
        memcpy(g->init, raw, g->init_len);
        s->persist->globals_dirty = true;
}

bool persist_note_connection(Server *s, uint64_t identity) {
        if (identity == 0)
                return false;
        s->persist->globals.connection = identity;
        s->persist->globals_dirty = true;
        return true;
}

static void note_params(Server *s) {
        Persist *ps = s->persist;
        const ParamInfo *info;
        size_t n = 0;

        for (size_t i = 0; (info = param_nth(i)); i++) {
                IoctlValue v;

                /* Those changed at run time; the configuration gives the rest. */
                if (param_equal(&s->params, &ps->configured, info))
                        continue;
                param_get(&s->params, info, &v);
                snprintf(ps->globals.params[n].name, sizeof ps->globals.params[n].name, "%s", info->name);
                ps->globals.params[n++].value = v.u64;
        }
        ps->globals.n_params = (uint32_t) n;
        ps->globals_dirty = true;
}

static void on_params_changed(void *userdata) {
        note_params(userdata);
}

/* Handing over, nothing goes in from here on. */
static void on_stopping(void *userdata) {
        Server *s = userdata;

        if (s->handing_over) {
                s->persist->state = NULL;
                kept_set_state(s, NULL);
        }
}

static const ServerObserver persist_observer = {
        .client_changed = on_client_changed,
        .client_gone = on_client_gone,
        .params_changed = on_params_changed,
        .settled = on_settled,
        .stopping = on_stopping,
};

int persist_new(Server *s) {
        Persist *ps = calloc(1, sizeof *ps);
        int r;

        if (!ps)
                return -ENOMEM;
        TAILQ_INIT(&ps->dirty);
        ps->configured = s->params;
        s->persist = ps;
        r = server_observe(s, &persist_observer, s);
        if (r >= 0)
                ps->slot = r;
        return r;
}

void persist_free(Server *s) {
        if (!s->persist)
                return;
        /* Whatever is still open goes in, so that the next steve finds it. */
        persist_flush(s);
        free(s->persist);
        s->persist = NULL;
}

void persist_set_state(Server *s, State *st) {
        s->persist->state = st;
        kept_set_state(s, st);
        if (st) {
                note_params(s);
                s->persist->globals_dirty = true;
        }
}

void persist_set_configured(Server *s, const Params *p) {
        s->persist->configured = *p;
        note_params(s);
}

void persist_request_replaces(Server *s, int64_t state_index) {
        if (s->persist->state && state_index >= 0)
                (void) state_drop_request(s->persist->state, state_index);
}

/* Adopting */

static int restore_process(const StateProcess *p, uint32_t index, void *userdata) {
        Server *s = userdata;
        Record *rec;
        Client *c;
        int r = client_restore(s, p, &c);

        if (r >= 0) {
                /* Its record is the one it had (restoring may have made one). */
                rec = record_of(s, c, index);
                if (rec)
                        rec->state_index = index;
                log_info("pid %d kept its %" PRIi64 " token(s)", (int) p->pid, p->held);
                return 0;
        }
        log_info("pid %d is gone or is another process now: its %" PRIi64 " token(s) are free again",
                 (int) p->pid, p->held);
        if (s->persist->state)
                (void) state_drop_process(s->persist->state, index);
        return 0;
}

/* Only what was changed at run time (D-Bus, ioctls) is recorded: the
 * command line and the config file give the rest, as at any start. */
static void restore_params(Server *s, const StateGlobals *g) {
        Params p = s->params;
        const char *error = NULL;

        for (uint32_t i = 0; i < g->n_params && i < STATE_PARAMS; i++) {
                char name[sizeof g->params[i].name + 1] = "";
                const ParamInfo *info;
                IoctlValue v = { .u64 = g->params[i].value };

                memcpy(name, g->params[i].name, sizeof g->params[i].name);
                info = param_by_name(name);
                if (!info || !param_set(&p, info, &v))
                        log_warning("The previous steve's %s cannot be kept", name);
        }
        if (server_set_params(s, &p, &error) < 0)
                log_warning("The previous steve's parameters cannot be kept (%s)", error);
}

/* A copy: dropping a record may grow the file, and move what it maps. */
typedef struct Adoptee {
        StateProcess process;
        uint32_t index;
} Adoptee;

typedef struct Adoptees {
        Adoptee *list;
        size_t n, allocated;
} Adoptees;

static int collect_process(const StateProcess *p, uint32_t index, void *userdata) {
        Adoptees *a = userdata;

        if (a->n == a->allocated) {
                size_t n = a->allocated ? a->allocated * 2 : 64;
                Adoptee *list = reallocarray(a->list, n, sizeof *list);

                if (!list)
                        return -ENOMEM;
                a->list = list;
                a->allocated = n;
        }
        a->list[a->n++] = (Adoptee) { *p, index };
        return 0;
}

/* Start times are clock ticks: a child started within its parent's tick
 * comes after it by pid (pids wrap, rarely within a tick). */
static int by_start_time(const void *x, const void *y) {
        const StateProcess *a = &((const Adoptee *) x)->process, *b = &((const Adoptee *) y)->process;

        if (a->start_time != b->start_time)
                return (a->start_time > b->start_time) - (a->start_time < b->start_time);
        return (a->pid > b->pid) - (a->pid < b->pid);
}

int persist_adopt(Server *s, State *st) {
        const StateGlobals *g = state_globals(st);
        Adoptees a = {};
        int r;

        s->persist->globals = *g;
        restore_params(s, g);
        ledger_set_next_job_id(s->ledger, state_next_job_id(st));
        /* Parents before their children, so that each joins its build again. */
        r = state_foreach_process(st, collect_process, &a);
        if (r >= 0 && a.n > 0)
                qsort(a.list, a.n, sizeof *a.list, by_start_time);
        for (size_t i = 0; r >= 0 && i < a.n; i++)
                r = restore_process(&a.list[i].process, a.list[i].index, s);
        free(a.list);
        return r;
}

/* The previous steve's pollers wait for a wakeup through handles it held. */
void persist_wake_adopted_pollers(Server *s) {
        Persist *ps = s->persist;
        Client *c;

        for (LedgerProcess *p = ledger_first_process(s->ledger); p; p = ledger_next_process(s->ledger, p)) {
                c = client_of(p);
                if (c->n_pollhandles == 0 || c->pollhandles[0])
                        continue;
                for (size_t i = 0; i < c->n_pollhandles; i++) {
                        struct {
                                struct fuse_out_header out;
                                struct fuse_notify_poll_wakeup_out wakeup;
                        } message = {
                                .out = { .len = sizeof message, .error = FUSE_NOTIFY_POLL },
                                .wakeup = { .kh = c->poll_khs[i] },
                        };
                        if (ps->send)
                                (void) ps->send(&message, sizeof message, ps->send_data);
                }
                c->n_pollhandles = 0;
                server_client_changed(s, c);
        }
}

static int put_kept(const KeptRequest *k, void *userdata) {
        int64_t index = -1;

        return state_put_request(userdata, k->raw, k->len, &index);
}

/* A re-exec without a state file: all of it, written at once. */
int persist_snapshot(Server *s, State *st) {
        int r;

        r = state_reset(st);
        if (r >= 0)
                r = state_put_globals(st, &s->persist->globals);
        for (LedgerProcess *p = ledger_first_process(s->ledger); r >= 0 && p; p = ledger_next_process(s->ledger, p)) {
                StateProcess image;
                int64_t index = -1;

                image_of(client_of(p), &image);
                r = state_put_process(st, &index, &image);
        }
        if (r >= 0)
                r = kept_foreach(s, put_kept, st);
        if (r >= 0)
                r = state_commit(st, ledger_next_job_id(s->ledger));
        state_done(st);
        return r;
}

void persist_resend_committed(Server *s, State *st) {
        const void *replies;
        size_t len;

        state_pending_replies(st, &replies, &len);
        send_replies(s->persist, replies, len);
        state_done(st);
}
