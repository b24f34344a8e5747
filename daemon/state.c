/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"

#define MAGIC "stevest1"
#define VERSION 2

typedef struct StateRequest {
        uint32_t in_use, len;
        uint64_t seq;                           /* the order it was read in */
        uint8_t raw[STATE_RAW_MAX];
} StateRequest;

typedef struct Header {
        char magic[8];
        uint32_t version, header_size;
        uint32_t process_capacity, request_capacity;
        uint64_t entries_capacity, replies_capacity;    /* bytes */
        uint64_t next_job_id, next_seq;
        uint32_t in_use, pad;
        StateGlobals globals;
} Header;

enum { PHASE_IDLE, PHASE_OPEN, PHASE_COMMITTED };
enum { ENTRY_GLOBALS = 1, ENTRY_PROCESS, ENTRY_REQUEST };

/* The transaction in flight. */
typedef struct Journal {
        uint32_t phase, recv_len;
        uint8_t recv[STATE_RAW_MAX];
        uint64_t next_job_id, next_seq;
        uint64_t entries_len, replies_len;
} Journal;

typedef struct Entry {
        uint32_t kind, index;
        uint64_t size;                          /* of what follows */
} Entry;

struct State {
        int fd;
        char *path;                             /* NULL: a memfd */
        uint8_t *map;
        size_t size;
        /* Free slots, so that a transaction's new records find one at once. */
        uint32_t *free_processes, *free_requests;
        size_t n_free_processes, n_free_requests;
};

/* Layout: Header, processes, requests, Journal, entries, replies, then,
 * page-aligned, the landing place. */
static Header *header(const State *s) {
        return (Header *) s->map;
}

static StateProcess *processes(const State *s) {
        return (StateProcess *) (s->map + sizeof(Header));
}

static StateRequest *requests(const State *s) {
        return (StateRequest *) (processes(s) + header(s)->process_capacity);
}

static Journal *journal(const State *s) {
        return (Journal *) (requests(s) + header(s)->request_capacity);
}

static uint8_t *entries(const State *s) {
        return (uint8_t *) (journal(s) + 1);
}

static uint8_t *replies(const State *s) {
        return entries(s) + header(s)->entries_capacity;
}

#define LANDING_ALIGN 4096

static size_t landing_offset(uint32_t n_processes, uint32_t n_requests, uint64_t entries_bytes,
                             uint64_t replies_bytes) {
        size_t end = sizeof(Header) + n_processes * sizeof(StateProcess) + n_requests * sizeof(StateRequest) +
                     sizeof(Journal) + entries_bytes + replies_bytes;

        return (end + LANDING_ALIGN - 1) / LANDING_ALIGN * LANDING_ALIGN;
}

static size_t layout_size(uint32_t n_processes, uint32_t n_requests, uint64_t entries_bytes, uint64_t replies_bytes) {
        return landing_offset(n_processes, n_requests, entries_bytes, replies_bytes) + STATE_LANDING_SIZE;
}

static uint8_t *landing(const State *s) {
        const Header *h = header(s);

        return s->map + landing_offset(h->process_capacity, h->request_capacity, h->entries_capacity,
                                       h->replies_capacity);
}

/* The whole request read to the landing place and not yet recorded, if any:
 * its length (the kernel writes each request with its length first). */
static size_t landed_len(const State *s) {
        struct fuse_in_header in;

        memcpy(&in, landing(s), sizeof in);
        return in.len >= sizeof in && in.len <= STATE_LANDING_SIZE ? in.len : 0;
}

static void clear_landing(State *s) {
        /* After every store before it: the request is recorded by then. */
        __atomic_store_n((uint32_t *) landing(s), 0, __ATOMIC_RELEASE);
}

/* The next whole entry at off, or NULL. */
static const Entry *entry_at(const State *s, uint64_t off) {
        const Journal *j = journal(s);
        const Entry *e;

        if (off > j->entries_len || j->entries_len - off < sizeof(Entry) || off % _Alignof(Entry) != 0)
                return NULL;
        e = (const Entry *) (entries(s) + off);
        return e->size <= j->entries_len - off - sizeof(Entry) ? e : NULL;
}

#define INITIAL_PROCESSES 256
#define INITIAL_REQUESTS 64
#define INITIAL_ENTRIES (UINT64_C(64) * 1024)
#define INITIAL_REPLIES (UINT64_C(16) * 1024)

static int map_file(State *s, size_t size) {
        void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);

        if (map == MAP_FAILED)
                return -errno;
        if (s->map)
                munmap(s->map, s->size);
        s->map = map;
        s->size = size;
        return 0;
}

/* Which slots are taken: as applied, then as the open transaction has them
 * (slots it took are not free, slots it dropped are). */
static void slots_in_use(const State *s, uint8_t *processes_used, uint8_t *requests_used) {
        const Header *h = header(s);
        const Journal *j = journal(s);

        for (uint32_t i = 0; i < h->process_capacity; i++)
                processes_used[i] = processes(s)[i].in_use != 0;
        for (uint32_t i = 0; i < h->request_capacity; i++)
                requests_used[i] = requests(s)[i].in_use != 0;
        if (j->phase != PHASE_OPEN)
                return;
        const Entry *e;

        for (uint64_t off = 0; (e = entry_at(s, off)); off += sizeof(Entry) + e->size) {
                if (e->kind == ENTRY_PROCESS && e->index < h->process_capacity && e->size == sizeof(StateProcess))
                        processes_used[e->index] = ((const StateProcess *) (e + 1))->in_use != 0;
                else if (e->kind == ENTRY_REQUEST && e->index < h->request_capacity && e->size == sizeof(StateRequest))
                        requests_used[e->index] = ((const StateRequest *) (e + 1))->in_use != 0;
        }
}

static int rebuild_free_lists(State *s) {
        Header *h = header(s);
        uint32_t *fp = reallocarray(s->free_processes, h->process_capacity, sizeof *fp);
        uint32_t *fr;
        uint8_t *used_p, *used_r;

        if (!fp)
                return -ENOMEM;
        s->free_processes = fp;
        fr = reallocarray(s->free_requests, h->request_capacity, sizeof *fr);
        if (!fr)
                return -ENOMEM;
        s->free_requests = fr;
        used_p = malloc(h->process_capacity + h->request_capacity + 1);
        if (!used_p)
                return -ENOMEM;
        used_r = used_p + h->process_capacity;
        slots_in_use(s, used_p, used_r);
        s->n_free_processes = s->n_free_requests = 0;
        /* Lowest last, so that they are taken first. */
        for (uint32_t i = h->process_capacity; i-- > 0;)
                if (!used_p[i])
                        s->free_processes[s->n_free_processes++] = i;
        for (uint32_t i = h->request_capacity; i-- > 0;)
                if (!used_r[i])
                        s->free_requests[s->n_free_requests++] = i;
        free(used_p);
        return 0;
}

/* A fresh, empty layout written into the file as it is. */
static int format(State *s, uint32_t n_processes, uint32_t n_requests, uint64_t entries_bytes,
                  uint64_t replies_bytes) {
        size_t size = layout_size(n_processes, n_requests, entries_bytes, replies_bytes);
        int r;

        if (ftruncate(s->fd, 0) < 0 || ftruncate(s->fd, (off_t) size) < 0)
                return -errno;
        r = map_file(s, size);
        if (r < 0)
                return r;
        *header(s) = (Header) {
                .version = VERSION, .header_size = sizeof(Header),
                .process_capacity = n_processes, .request_capacity = n_requests,
                .entries_capacity = entries_bytes, .replies_capacity = replies_bytes,
                .next_job_id = 1, .next_seq = 1,
        };
        memcpy(header(s)->magic, MAGIC, sizeof header(s)->magic);
        return rebuild_free_lists(s);
}

/* Whether the file is one this steve wrote, whole: a foreign or damaged one
 * is started afresh rather than trusted. */
static bool valid_layout(const State *s) {
        const Header *h = header(s);
        const Journal *j;

        if (s->size < sizeof(Header) || memcmp(h->magic, MAGIC, sizeof h->magic) != 0 || h->version != VERSION ||
            h->header_size != sizeof(Header) || h->process_capacity > UINT32_MAX / sizeof(StateProcess) ||
            h->request_capacity > UINT32_MAX / sizeof(StateRequest) || h->entries_capacity > SIZE_MAX / 4 ||
            h->replies_capacity > SIZE_MAX / 4 ||
            /* Formatted at these and only ever grown (doubled): less is damage. */
            h->process_capacity < INITIAL_PROCESSES || h->request_capacity < INITIAL_REQUESTS ||
            h->entries_capacity < INITIAL_ENTRIES || h->replies_capacity < INITIAL_REPLIES ||
            layout_size(h->process_capacity, h->request_capacity, h->entries_capacity, h->replies_capacity) !=
            s->size)
                return false;
        j = journal(s);
        return j->phase <= PHASE_COMMITTED && j->recv_len <= STATE_RAW_MAX && j->entries_len <= h->entries_capacity &&
               j->replies_len <= h->replies_capacity && h->globals.init_len <= STATE_RAW_MAX &&
               h->globals.n_params <= STATE_PARAMS;
}


/* Copies each journal entry to its place. Applying twice changes nothing. */
static void apply_entries(State *s) {
        Journal *j = journal(s);
        Header *h = header(s);

        const Entry *e;

        for (uint64_t off = 0; (e = entry_at(s, off)); off += sizeof(Entry) + e->size) {
                const void *image = e + 1;

                if (e->kind == ENTRY_GLOBALS && e->size == sizeof(StateGlobals)) {
                        h->globals = *(const StateGlobals *) image;
                        h->in_use = 1;
                } else if (e->kind == ENTRY_PROCESS && e->size == sizeof(StateProcess) &&
                           e->index < h->process_capacity)
                        processes(s)[e->index] = *(const StateProcess *) image;
                else if (e->kind == ENTRY_REQUEST && e->size == sizeof(StateRequest) &&
                         e->index < h->request_capacity)
                        requests(s)[e->index] = *(const StateRequest *) image;
        }
        h->next_job_id = j->next_job_id;
        h->next_seq = j->next_seq;
}

/* Whether every request record is one a steve wrote: each is clamped to
 * STATE_RAW_MAX when it is stored. */
static bool valid_requests(const State *s) {
        for (uint32_t i = 0; i < header(s)->request_capacity; i++)
                if (requests(s)[i].in_use && requests(s)[i].len > STATE_RAW_MAX)
                        return false;
        return true;
}

/* What a previous steve left: a committed transaction is applied again
 * (its replies wait for state_done()); an open one's changes never
 * happened, but its request stays until keep_unanswered() records it.
 * False when the records it leaves are damaged. */
static bool recover(State *s) {
        Journal *j = journal(s);

        if (j->phase == PHASE_COMMITTED)
                apply_entries(s);
        else if (j->phase == PHASE_OPEN)
                j->entries_len = j->replies_len = 0;
        return valid_requests(s);
}

static bool recorded(const State *s, uint64_t unique) {
        const Header *h = header(s);
        struct fuse_in_header in;

        for (uint32_t i = 0; i < h->request_capacity; i++) {
                const StateRequest *q = &requests(s)[i];

                memcpy(&in, q->raw, sizeof in);
                if (q->in_use && q->len >= sizeof in && in.unique == unique)
                        return true;
        }
        return false;
}

static int grow(State *s, uint32_t n_processes, uint32_t n_requests, uint64_t entries_bytes, uint64_t replies_bytes);

/* A request read and never answered becomes a record of its own, read
 * after all others; written whole before it is marked in use, so that a
 * crash meanwhile leaves it where it was found, to be recorded again. */
static int record_unanswered(State *s, const uint8_t *raw, size_t len) {
        const Header *h = header(s);
        struct fuse_in_header in;
        StateRequest *q;
        uint32_t index;
        int r;

        if (len < sizeof in)
                return 0;
        memcpy(&in, raw, sizeof in);
        if (recorded(s, in.unique))
                return 0;
        len = len < STATE_RAW_MAX ? len : STATE_RAW_MAX;
        if (s->n_free_requests == 0) {
                /* The request moves with the file: copy it first. */
                uint8_t copy[STATE_RAW_MAX];

                memcpy(copy, raw, len);
                r = grow(s, h->process_capacity, h->request_capacity * 2, h->entries_capacity, h->replies_capacity);
                if (r < 0)
                        return r;
                return record_unanswered(s, copy, len);
        }
        index = s->free_requests[--s->n_free_requests];
        q = &requests(s)[index];
        q->len = (uint32_t) len;
        memcpy(q->raw, raw, len);
        q->seq = header(s)->next_seq++;
        __atomic_store_n(&q->in_use, 1, __ATOMIC_RELEASE);
        return 0;
}

/* Requests a killed steve had read but not answered nor recorded as kept:
 * an unfinished transaction's, then the one at the landing place. */
static int keep_unanswered(State *s) {
        int r = 0;

        if (journal(s)->phase == PHASE_OPEN) {
                r = record_unanswered(s, journal(s)->recv, journal(s)->recv_len);
                if (r < 0)
                        return r;
                __atomic_store_n(&journal(s)->phase, PHASE_IDLE, __ATOMIC_RELEASE);
        }
        if (landed_len(s) > 0) {
                r = record_unanswered(s, landing(s), landed_len(s));
                if (r >= 0)
                        clear_landing(s);
        }
        return r;
}

static State *state_new(int fd, const char *path) {
        State *s = calloc(1, sizeof *s);

        if (!s)
                return NULL;
        s->fd = fd;
        if (path && !(s->path = strdup(path))) {
                free(s);
                return NULL;
        }
        return s;
}

static int open_mapped(State *s) {
        struct stat st;
        int r;

        if (fstat(s->fd, &st) < 0)
                return -errno;
        if (st.st_size > 0) {
                r = map_file(s, (size_t) st.st_size);
                if (r < 0)
                        return r;
                if (valid_layout(s) && recover(s)) {
                        r = rebuild_free_lists(s);
                        return r < 0 ? r : keep_unanswered(s);
                }
        }
        /* Empty, foreign, or from a steve that wrote another layout. */
        return format(s, INITIAL_PROCESSES, INITIAL_REQUESTS, INITIAL_ENTRIES, INITIAL_REPLIES);
}

const char *state_refusal(int fd) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return "it cannot be examined";
        if (!S_ISREG(st.st_mode))
                return "it is not a regular file";
        if (st.st_uid != geteuid())
                return "it belongs to another user, who could change or truncate it under steve";
        if (st.st_mode & (S_IWGRP | S_IWOTH))
                return "others may write to it, and could change or truncate it under steve";
        return NULL;
}

int state_open(const char *path, State **ret) {
        State *s;
        int fd, r;

        /* O_NONBLOCK: a FIFO put in its place must not hang the open. */
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
        if (fd < 0)
                return -errno;
        if (state_refusal(fd)) {
                close(fd);
                return -EPERM;
        }
        s = state_new(fd, path);
        if (!s) {
                close(fd);
                return -ENOMEM;
        }
        r = open_mapped(s);
        if (r < 0) {
                state_close(s);
                return r;
        }
        *ret = s;
        return 0;
}

int state_open_fd(int fd, State **ret) {
        State *s = state_new(fd, NULL);
        int r;

        if (!s)
                return -ENOMEM;
        r = open_mapped(s);
        if (r < 0) {
                s->fd = -1;
                state_close(s);
                return r;
        }
        *ret = s;
        return 0;
}

int state_open_anonymous(State **ret) {
        int fd = memfd_create("steve-state", MFD_CLOEXEC), r;

        if (fd < 0)
                return -errno;
        r = state_open_fd(fd, ret);
        if (r < 0)
                close(fd);
        return r;
}

State *state_close(State *s) {
        if (!s)
                return NULL;
        if (s->map)
                munmap(s->map, s->size);
        if (s->fd >= 0)
                close(s->fd);
        free(s->free_processes);
        free(s->free_requests);
        free(s->path);
        free(s);
        return NULL;
}

int state_fd(const State *s) {
        return s->fd;
}

bool state_in_use(const State *s) {
        return header(s)->in_use;
}

const StateGlobals *state_globals(const State *s) {
        return &header(s)->globals;
}

uint64_t state_next_job_id(const State *s) {
        return header(s)->next_job_id;
}

int state_foreach_process(const State *s, int (*fn)(const StateProcess *p, uint32_t index, void *userdata),
                          void *userdata) {
        int r;

        for (uint32_t i = 0; i < header(s)->process_capacity; i++)
                if (processes(s)[i].in_use && (r = fn(&processes(s)[i], i, userdata)) < 0)
                        return r;
        return 0;
}

static int compare_seq(const void *a, const void *b) {
        const StateRequest *x = *(const StateRequest *const *) a, *y = *(const StateRequest *const *) b;
        return (x->seq > y->seq) - (x->seq < y->seq);
}

int state_foreach_request(const State *s, int (*fn)(const void *raw, size_t len, uint32_t index, void *userdata),
                          void *userdata) {
        const Header *h = header(s);
        const StateRequest **order;
        size_t n = 0;
        int r = 0;

        order = calloc(h->request_capacity ? h->request_capacity : 1, sizeof *order);
        if (!order)
                return -ENOMEM;
        for (uint32_t i = 0; i < h->request_capacity; i++)
                if (requests(s)[i].in_use)
                        order[n++] = &requests(s)[i];
        qsort(order, n, sizeof *order, compare_seq);
        for (size_t i = 0; i < n && r >= 0; i++)
                r = fn(order[i]->raw, order[i]->len, (uint32_t) (order[i] - requests(s)), userdata);
        free(order);
        return r < 0 ? r : 0;
}

void state_pending_replies(const State *s, const void **ret, size_t *ret_len) {
        const Journal *j = journal(s);

        *ret = replies(s);
        *ret_len = j->phase == PHASE_COMMITTED ? j->replies_len : 0;
}

void *state_landing(State *s) {
        return landing(s);
}

void state_landed(State *s, const void *raw, size_t len) {
        struct fuse_in_header here, done;

        if (len < sizeof done || landed_len(s) == 0)
                return;
        memcpy(&here, landing(s), sizeof here);
        memcpy(&done, raw, sizeof done);
        if (here.unique == done.unique)
                clear_landing(s);
}

int state_reset(State *s) {
        const Header *h = header(s);

        return format(s, h->process_capacity, h->request_capacity, h->entries_capacity, h->replies_capacity);
}

/* Transactions */

/* The file to grow into, of size bytes and mapped: beside s's (*tmp names
 * it until it replaces s's), or, for a memfd, s's own. */
static int open_next(const State *s, size_t size, State *next, char **tmp) {
        if (s->path) {
                if (asprintf(tmp, "%s.new", s->path) < 0) {
                        *tmp = NULL;
                        return -ENOMEM;
                }
                (void) unlink(*tmp);
                next->fd = open(*tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        } else
                next->fd = dup(s->fd);
        if (next->fd < 0 || ftruncate(next->fd, (off_t) size) < 0)
                return -errno;
        return map_file(next, size);
}

/* old's content into next, laid out for the new capacities. */
static void copy_content(State *next, const State *old, uint32_t n_processes, uint32_t n_requests,
                         uint64_t entries_bytes, uint64_t replies_bytes) {
        const Header *oh = header(old);
        Header *h = header(next);

        *h = *oh;
        h->process_capacity = n_processes;
        h->request_capacity = n_requests;
        h->entries_capacity = entries_bytes;
        h->replies_capacity = replies_bytes;
        memset(processes(next), 0, (size_t) n_processes * sizeof(StateProcess));
        memset(requests(next), 0, (size_t) n_requests * sizeof(StateRequest));
        memcpy(processes(next), processes(old), oh->process_capacity * sizeof(StateProcess));
        memcpy(requests(next), requests(old), oh->request_capacity * sizeof(StateRequest));
        *journal(next) = *journal(old);
        memcpy(entries(next), entries(old), journal(old)->entries_len);
        memcpy(replies(next), replies(old), journal(old)->replies_len);
        memcpy(landing(next), landing(old), landed_len(old));
}

/* A bigger file with the same content, the journal included. A crash
 * meanwhile leaves the old one: the new one replaces it in one rename. A
 * memfd (a re-exec's) just grows. */
static int grow(State *s, uint32_t n_processes, uint32_t n_requests, uint64_t entries_bytes, uint64_t replies_bytes) {
        size_t size = layout_size(n_processes, n_requests, entries_bytes, replies_bytes);
        /* A memfd's new layout is written over the old one: read from a copy. */
        State old = { .map = malloc(s->size), .size = s->size };
        State next = { .fd = -1 };
        char *tmp = NULL;
        int r;

        if (!old.map)
                return -ENOMEM;
        memcpy(old.map, s->map, s->size);
        r = open_next(s, size, &next, &tmp);
        if (r >= 0)
                copy_content(&next, &old, n_processes, n_requests, entries_bytes, replies_bytes);
        if (r >= 0 && tmp && rename(tmp, s->path) < 0)
                r = -errno;
        free(old.map);
        if (r < 0) {
                if (next.map)
                        munmap(next.map, next.size);
                if (next.fd >= 0)
                        close(next.fd);
                if (tmp)
                        (void) unlink(tmp);
                free(tmp);
                return r;
        }
        free(tmp);
        munmap(s->map, s->size);
        close(s->fd);
        s->fd = next.fd;
        s->map = next.map;
        s->size = next.size;
        return rebuild_free_lists(s);
}

static uint64_t doubled(uint64_t have, uint64_t need) {
        while (have < need)
                have *= 2;
        return have;
}

int state_begin(State *s, const void *raw, size_t len) {
        Journal *j = journal(s);

        if (j->phase != PHASE_IDLE)
                return -EBUSY;
        if (len > STATE_RAW_MAX)
                len = STATE_RAW_MAX;
        /* The request first, then the phase: an open journal always has it. */
        if (raw)
                memcpy(j->recv, raw, len);
        j->recv_len = raw ? (uint32_t) len : 0;
        j->entries_len = j->replies_len = 0;
        j->next_job_id = header(s)->next_job_id;
        j->next_seq = header(s)->next_seq;
        __atomic_store_n(&j->phase, PHASE_OPEN, __ATOMIC_RELEASE);
        return 0;
}

static int ensure_open(State *s) {
        return journal(s)->phase == PHASE_OPEN ? 0 : state_begin(s, NULL, 0);
}

/* Room in the journal for one more entry of size bytes, grown if need be.
 * Growing rebuilds the free lists: slots are taken only after this. */
static int make_room(State *s, size_t size) {
        const Header *h = header(s);
        uint64_t need;
        int r;

        r = ensure_open(s);
        if (r < 0)
                return r;
        need = journal(s)->entries_len + sizeof(Entry) + size;
        if (need <= h->entries_capacity)
                return 0;
        return grow(s, h->process_capacity, h->request_capacity, doubled(h->entries_capacity, need),
                    h->replies_capacity);
}

static int append(State *s, uint32_t kind, uint32_t index, const void *image, size_t size) {
        Journal *j;
        Entry *e;
        int r;

        r = make_room(s, size);
        if (r < 0)
                return r;
        j = journal(s);
        e = (Entry *) (entries(s) + j->entries_len);
        *e = (Entry) { .kind = kind, .index = index, .size = size };
        memcpy(e + 1, image, size);
        j->entries_len += sizeof(Entry) + size;
        return 0;
}

int state_put_globals(State *s, const StateGlobals *g) {
        return append(s, ENTRY_GLOBALS, 0, g, sizeof *g);
}

int state_put_process(State *s, int64_t *index, const StateProcess *p) {
        const Header *h = header(s);
        int r;

        if (*index < 0 && s->n_free_processes == 0) {
                r = grow(s, h->process_capacity * 2, h->request_capacity, h->entries_capacity, h->replies_capacity);
                if (r < 0)
                        return r;
        }
        r = make_room(s, sizeof *p);
        if (r < 0)
                return r;
        if (*index < 0)
                *index = s->free_processes[--s->n_free_processes];
        return append(s, ENTRY_PROCESS, (uint32_t) *index, p, sizeof *p);
}

int state_drop_process(State *s, int64_t index) {
        static const StateProcess unused = {};
        int r;

        if (index < 0)
                return 0;
        if (index >= header(s)->process_capacity || s->n_free_processes == header(s)->process_capacity)
                return -EINVAL;
        r = append(s, ENTRY_PROCESS, (uint32_t) index, &unused, sizeof unused);
        if (r >= 0)
                s->free_processes[s->n_free_processes++] = (uint32_t) index;
        return r;
}

int state_put_request(State *s, const void *raw, size_t len, int64_t *ret_index) {
        const Header *h = header(s);
        StateRequest req = { .in_use = 1 };
        int r;

        if (!raw || len == 0)
                return -ENODATA;
        if (s->n_free_requests == 0) {
                r = grow(s, h->process_capacity, h->request_capacity * 2, h->entries_capacity, h->replies_capacity);
                if (r < 0)
                        return r;
        }
        r = make_room(s, sizeof req);
        if (r < 0)
                return r;
        req.len = len < STATE_RAW_MAX ? (uint32_t) len : STATE_RAW_MAX;
        req.seq = journal(s)->next_seq++;
        memcpy(req.raw, raw, req.len);
        *ret_index = s->free_requests[--s->n_free_requests];
        return append(s, ENTRY_REQUEST, (uint32_t) *ret_index, &req, sizeof req);
}

int state_drop_request(State *s, int64_t index) {
        static const StateRequest unused = {};
        int r;

        if (index < 0)
                return 0;
        if (index >= header(s)->request_capacity || s->n_free_requests == header(s)->request_capacity)
                return -EINVAL;
        r = append(s, ENTRY_REQUEST, (uint32_t) index, &unused, sizeof unused);
        if (r >= 0)
                s->free_requests[s->n_free_requests++] = (uint32_t) index;
        return r;
}

int state_add_reply(State *s, const struct iovec *iov, int count) {
        const Header *h = header(s);
        size_t len = 0;
        Journal *j;
        int r;

        r = ensure_open(s);
        if (r < 0)
                return r;
        for (int i = 0; i < count; i++)
                len += iov[i].iov_len;
        if (journal(s)->replies_len + len > h->replies_capacity) {
                r = grow(s, h->process_capacity, h->request_capacity, h->entries_capacity,
                         doubled(h->replies_capacity, journal(s)->replies_len + len));
                if (r < 0)
                        return r;
        }
        j = journal(s);
        for (int i = 0; i < count; i++) {
                memcpy(replies(s) + j->replies_len, iov[i].iov_base, iov[i].iov_len);
                j->replies_len += iov[i].iov_len;
        }
        return 0;
}

bool state_open_transaction(const State *s) {
        return journal(s)->phase == PHASE_OPEN;
}

int state_commit(State *s, uint64_t next_job_id) {
        Journal *j = journal(s);

        if (j->phase != PHASE_OPEN)
                return 0;
        j->next_job_id = next_job_id;
        /* The one store that makes it happen. */
        __atomic_store_n(&j->phase, PHASE_COMMITTED, __ATOMIC_RELEASE);
        apply_entries(s);
        return 0;
}

void state_done(State *s) {
        Journal *j = journal(s);

        if (j->phase == PHASE_COMMITTED)
                __atomic_store_n(&j->phase, PHASE_IDLE, __ATOMIC_RELEASE);
}
