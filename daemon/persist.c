/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What outlives steve, the server's side of it (state.c keeps the file):
 * every loop iteration is one transaction of the state file. The transport
 * hands over each request as it reads it and each reply before it writes
 * it; the ledger says which processes changed; after the iteration (an
 * sd-event post source) the changed records are committed and only then do
 * the replies go to the kernel. Without a state file nothing is journaled,
 * replies go out at once, and only the requests answered later are kept, in
 * memory, for a re-exec to hand over.
 *
 * Adopting: the previous steve's processes come back if their pid still
 * names the process that started when it said (a reused pid is another
 * process and inherits nothing); what they held they hold; the requests it
 * kept are given to libfuse again, in the order it read them; its pollers
 * are woken to poll again; the replies it had committed go out again.
 */
#include <linux/fuse.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "server-internal.h"
#include "util.h"

static int kept_compare(const void *a, const void *b) {
        uint64_t x = ((const KeptRequest *) a)->unique, y = ((const KeptRequest *) b)->unique;
        return (x > y) - (x < y);
}

static uint64_t unique_of(const void *raw, size_t len) {
        return len >= sizeof(struct fuse_in_header) ? ((const struct fuse_in_header *) raw)->unique : 0;
}

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

void persist_client_changed(Client *c) {
        Server *s = c->server;

        /* Handing over, what it held stays recorded as it was. */
        if (!s->state || c->dirty || s->handing_over)
                return;
        c->dirty = true;
        TAILQ_INSERT_TAIL(&s->dirty, c, dirty_link);
}

void persist_client_gone(Client *c) {
        Server *s = c->server;

        if (!s->state)
                return;
        if (c->dirty) {
                TAILQ_REMOVE(&s->dirty, c, dirty_link);
                c->dirty = false;
        }
        if (s->handing_over)
                return;
        if (state_drop_process(s->state, c->state_index) < 0)
                log_warning("Cannot record that pid %d is gone", (int) c->pid);
        c->state_index = -1;
}

int persist_keep_current(Server *s, KeptRequest *k) {
        *k = (KeptRequest) { .unique = unique_of(s->current, s->current_len), .seq = s->next_seq++,
                             .state_index = -1, .len = s->current_len };
        if (!s->current || !(k->raw = malloc(k->len)))
                return -ENOMEM;
        memcpy(k->raw, s->current, k->len);
        if (!tsearch(k, &s->kept_by_unique, kept_compare)) {
                free(k->raw);
                k->raw = NULL;
                return -ENOMEM;
        }
        TAILQ_INSERT_TAIL(&s->kept, k, link);
        if (s->state && state_put_request(s->state, k->raw, k->len, &k->state_index) < 0)
                log_warning("Cannot record a request to answer later: a steve started after a crash "
                            "would not know it");
        return 0;
}

void persist_release(Server *s, KeptRequest *k) {
        if (!k->raw)
                return;
        tdelete(k, &s->kept_by_unique, kept_compare);
        TAILQ_REMOVE(&s->kept, k, link);
        free(k->raw);
        k->raw = NULL;
}

void persist_forget(Server *s, KeptRequest *k) {
        if (k->raw && s->state)
                (void) state_drop_request(s->state, k->state_index);
        persist_release(s, k);
}

uint64_t persist_current_poll_kh(const Server *s) {
        const struct fuse_poll_in *in = (const void *) (s->current + sizeof(struct fuse_in_header));

        return s->current_len >= sizeof(struct fuse_in_header) + sizeof *in ? in->kh : 0;
}

/* The transport's side */

void server_request_read(Server *s, const void *raw, size_t len) {
        s->current = raw;
        s->current_len = len;
        if (!s->state)
                return;
        /* One request a transaction: what came before it (an exit) goes first. */
        if (state_open_transaction(s->state))
                persist_flush(s);
        if (state_begin(s->state, raw, len) < 0)
                log_warning("Cannot begin a transaction; the state file may lag");
        else
                state_landed(s->state, raw, len);
}

void *server_landing(Server *s, size_t len) {
        return s->state && len <= STATE_LANDING_SIZE ? state_landing(s->state) : NULL;
}

void server_request_done(Server *s) {
        s->current = NULL;
        s->current_len = 0;
}

bool server_reply(Server *s, const struct iovec *iov, int count) {
        const struct fuse_out_header *out = iov[0].iov_base;
        KeptRequest key = { .unique = out->unique }, **kept = NULL;

        if (out->unique != 0)
                kept = tfind(&key, &s->kept_by_unique, kept_compare);
        /* Handing over, nobody is answered: the next steve answers them all,
         * from the records as they were. The request's memory goes with
         * whoever held it. */
        if (s->handing_over) {
                if (kept)
                        persist_release(s, *kept);
                return true;
        }
        /* Answered: a request kept for later no longer is. */
        if (kept)
                persist_forget(s, *kept);
        if (!s->state)
                return false;
        if (state_add_reply(s->state, iov, count) < 0) {
                log_warning("Cannot journal a reply; sent at once");
                return false;
        }
        return true;
}

void server_set_sender(Server *s, int (*send)(const void *message, size_t len, void *userdata), void *userdata) {
        s->send = send;
        s->send_data = userdata;
}

/* Replies as journaled: one message after the other, each with its length,
 * so a header is where the last reply ended: copied out, not cast. */
static void send_replies(Server *s, const uint8_t *buf, size_t len) {
        while (len >= sizeof(struct fuse_out_header)) {
                struct fuse_out_header out;
                size_t n;

                memcpy(&out, buf, sizeof out);
                n = out.len;
                if (n < sizeof out || n > len)
                        break;
                if (s->send)
                        (void) s->send(buf, n, s->send_data);
                buf += n;
                len -= n;
        }
}

/* After each iteration: what changed, committed; then the replies. A
 * change with no request under way (D-Bus, a reload, a timer) is committed
 * too: state_put_*() opens a transaction for it. */
static int on_commit(sd_event_source *source, void *userdata) {
        Server *s = userdata;
        const void *replies;
        size_t len;
        Client *c;
        int r = 0;

        if (!s->state || (!state_open_transaction(s->state) && TAILQ_EMPTY(&s->dirty) && !s->globals_dirty))
                return 0;
        while (r >= 0 && (c = TAILQ_FIRST(&s->dirty))) {
                StateProcess image;

                TAILQ_REMOVE(&s->dirty, c, dirty_link);
                c->dirty = false;
                image_of(c, &image);
                r = state_put_process(s->state, &c->state_index, &image);
        }
        if (r >= 0 && s->globals_dirty) {
                r = state_put_globals(s->state, &s->globals);
                s->globals_dirty = false;
        }
        if (r >= 0)
                r = state_commit(s->state, ledger_next_job_id(s->ledger));
        if (r < 0)
                log_warning_errno(r, "Cannot write the state file (%m); a steve started after a crash would "
                                  "not know the last change");
        state_pending_replies(s->state, &replies, &len);
        send_replies(s, replies, len);
        state_done(s->state);
        return 0;
}

/* Globals: the connection's INIT and the run-time parameters. */

_Static_assert(PARAMS_MAX <= STATE_PARAMS, "the state file has room for every parameter");

void persist_note_init(Server *s, const void *raw, size_t len) {
        s->globals.init_len = len < STATE_RAW_MAX ? (uint32_t) len : STATE_RAW_MAX;
        memcpy(s->globals.init, raw, s->globals.init_len);
        s->globals_dirty = true;
}

bool persist_note_connection(Server *s, uint64_t identity) {
        if (identity == 0)
                return false;
        s->globals.connection = identity;
        s->globals_dirty = true;
        return true;
}

void persist_note_params(Server *s) {
        const ParamInfo *info;
        size_t n = 0;

        for (size_t i = 0; (info = param_nth(i)); i++) {
                IoctlValue v;

                /* Those changed at run time; the configuration gives the rest. */
                if (param_equal(&s->params, &s->configured, info))
                        continue;
                param_get(&s->params, info, &v);
                snprintf(s->globals.params[n].name, sizeof s->globals.params[n].name, "%s", info->name);
                s->globals.params[n++].value = v.u64;
        }
        s->globals.n_params = (uint32_t) n;
        s->globals_dirty = true;
}

void persist_flush(Server *s) {
        if (s->commit_source)
                (void) on_commit(s->commit_source, s);
}

int persist_init(Server *s) {
        int r;

        TAILQ_INIT(&s->kept);
        TAILQ_INIT(&s->dirty);
        s->next_seq = 1;
        r = sd_event_add_post(s->event, &s->commit_source, on_commit, s);
        return r;
}

void persist_done(Server *s) {
        KeptRequest *k;

        /* Whatever is still open goes in, so that the next steve finds it. */
        persist_flush(s);
        /* The memory only: the records stay for the next steve. */
        while ((k = TAILQ_FIRST(&s->kept)))
                persist_release(s, k);
        sd_event_source_disable_unref(s->commit_source);
        s->commit_source = NULL;
}

/* Adopting */

static int restore_process(const StateProcess *p, uint32_t index, void *userdata) {
        Server *s = userdata;
        int r = client_restore(s, p, index);

        if (r >= 0) {
                log_info("pid %d kept its %" PRIi64 " token(s)", (int) p->pid, p->held);
                return 0;
        }
        log_info("pid %d is gone or is another process now: its %" PRIi64 " token(s) are free again",
                 (int) p->pid, p->held);
        if (s->state)
                (void) state_drop_process(s->state, index);
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

int server_adopt(Server *s, State *st) {
        const StateGlobals *g = state_globals(st);
        Adoptees a = {};
        int r;

        s->globals = *g;
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
void server_wake_adopted_pollers(Server *s) {
        Client *c;

        for (LedgerProcess *p = ledger_first_process(s->ledger); p; p = ledger_next_process(s->ledger, p)) {
                c = container_of(p, Client, ledger);
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
                        if (s->send)
                                (void) s->send(&message, sizeof message, s->send_data);
                }
                c->n_pollhandles = 0;
                persist_client_changed(c);
        }
}

/* A re-exec without a state file: all of it, written at once. */
int server_snapshot(Server *s, State *st) {
        KeptRequest *k;
        int r;

        r = state_reset(st);
        if (r >= 0)
                r = state_put_globals(st, &s->globals);
        for (LedgerProcess *p = ledger_first_process(s->ledger); r >= 0 && p; p = ledger_next_process(s->ledger, p)) {
                Client *c = container_of(p, Client, ledger);
                StateProcess image;
                int64_t index = -1;

                image_of(c, &image);
                r = state_put_process(st, &index, &image);
        }
        TAILQ_FOREACH(k, &s->kept, link) {
                int64_t index = -1;

                if (r >= 0)
                        r = state_put_request(st, k->raw, k->len, &index);
        }
        if (r >= 0)
                r = state_commit(st, ledger_next_job_id(s->ledger));
        state_done(st);
        return r;
}

void server_request_replaces(Server *s, int64_t state_index) {
        if (s->state && state_index >= 0)
                (void) state_drop_request(s->state, state_index);
}

void server_set_state(Server *s, State *st) {
        s->state = st;
        if (st) {
                persist_note_params(s);
                s->globals_dirty = true;
        }
}

void server_set_configured(Server *s, const Params *p) {
        s->configured = *p;
        persist_note_params(s);
}

void server_resend_committed(Server *s, State *st) {
        const void *replies;
        size_t len;

        state_pending_replies(st, &replies, &len);
        send_replies(s, replies, len);
        state_done(st);
}
