/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The state file: what a next steve finds, whatever instant the one before
 * died at. A crash is simulated by copying the file at that instant (it is
 * mapped shared: the copy is what the kernel would keep) and opening the
 * copy as a next steve would. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"
#include "test.h"

static char dir[] = "/tmp/test-state-XXXXXX";

static char *path_of(const char *name) {
        static char paths[4][128];
        static int next;
        static bool made;
        char *p = paths[next++ % 4];

        if (!made && !mkdtemp(dir))
                abort();
        made = true;
        snprintf(p, sizeof paths[0], "%s/%s", dir, name);
        return p;
}

/* The file as it is now, as the next steve would find it after a crash. */
static State *crash_copy(const char *from, const char *to) {
        int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        char buf[65536];
        ssize_t n;
        State *s = NULL;

        while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
                if (write(out, buf, (size_t) n) != n)
                        abort();
        close(in);
        close(out);
        if (state_open(to, &s) < 0)
                return NULL;
        return s;
}

static StateProcess process(int32_t pid, int64_t held) {
        return (StateProcess) { .in_use = 1, .pid = pid, .uid = 1000, .start_time = 4242 + (uint64_t) pid,
                                .held = held };
}

/* A request as the kernel sends one: the header's unique identifies it. */
static size_t request(uint64_t unique, uint8_t raw[64]) {
        memset(raw, 0, 64);
        memcpy(raw + 8, &unique, sizeof unique);       /* fuse_in_header: len, opcode, unique */
        raw[0] = 64;
        return 64;
}

static uint64_t unique_of(const void *raw) {
        uint64_t u;

        memcpy(&u, (const uint8_t *) raw + 8, sizeof u);
        return u;
}

typedef struct Seen {
        int64_t held_of[64];
        size_t n_processes;
        uint64_t uniques[512];
        size_t n_requests;
} Seen;

static int see_process(const StateProcess *p, uint32_t index, void *userdata) {
        Seen *seen = userdata;

        if (p->pid >= 0 && p->pid < 64)
                seen->held_of[p->pid] = p->held;
        seen->n_processes++;
        return 0;
}

static int see_request(const void *raw, size_t len, uint32_t index, void *userdata) {
        Seen *seen = userdata;

        if (seen->n_requests < ELEMENTS(seen->uniques)) {
                seen->uniques[seen->n_requests++] = unique_of(raw);
        }
        return 0;
}

static Seen look(State *s) {
        Seen seen = {};

        (void) state_foreach_process(s, see_process, &seen);
        (void) state_foreach_request(s, see_request, &seen);
        return seen;
}

static void commit(State *s) {
        CHECK_EQ(state_commit(s, 100), 0);
        state_done(s);
}

TEST(a_committed_pool_is_found_again) {
        char *path = path_of("whole");
        StateGlobals g = { .connection = 77, .init_len = 3, .init = { 1, 2, 3 } };
        StateProcess p = process(5, 3);
        uint8_t raw[64];
        int64_t pi = -1, ri = -1;
        State *s;
        Seen seen;

        CHECK_EQ(state_open(path, &s), 0);
        CHECK(!state_in_use(s));
        CHECK_EQ(state_begin(s, raw, request(9, raw)), 0);
        CHECK_EQ(state_put_globals(s, &g), 0);
        CHECK_EQ(state_put_process(s, &pi, &p), 0);
        CHECK_EQ(state_put_request(s, raw, 64, &ri), 0);
        commit(s);
        state_close(s);

        CHECK_EQ(state_open(path, &s), 0);
        CHECK(state_in_use(s));
        CHECK_EQ(state_globals(s)->connection, 77);
        CHECK_EQ(state_globals(s)->init[2], 3);
        CHECK_EQ(state_next_job_id(s), 100);
        seen = look(s);
        CHECK_EQ(seen.n_processes, 1);
        CHECK_EQ(seen.held_of[5], 3);
        CHECK_EQ(seen.n_requests, 1);
        CHECK_EQ(seen.uniques[0], 9);
        state_close(s);
}

TEST(a_crash_inside_a_transaction_leaves_none_of_it_and_its_request_to_read_again) {
        char *path = path_of("open"), *copy = path_of("open-crashed");
        StateProcess p = process(5, 1), q = process(6, 2);
        uint8_t raw[64];
        int64_t pi = -1, qi = -1;
        const void *replies;
        size_t len;
        State *s, *next;
        Seen seen;

        CHECK_EQ(state_open(path, &s), 0);
        CHECK_EQ(state_put_process(s, &pi, &p), 0);
        commit(s);
        /* The next request: read, changes half made, a reply owed. */
        CHECK_EQ(state_begin(s, raw, request(31, raw)), 0);
        p.held = 0;
        CHECK_EQ(state_put_process(s, &pi, &p), 0);
        CHECK_EQ(state_put_process(s, &qi, &q), 0);
        CHECK_EQ(state_add_reply(s, &(struct iovec) { raw, 16 }, 1), 0);

        next = crash_copy(path, copy);
        CHECK(next);
        if (next) {
                seen = look(next);
                CHECK_EQ(seen.n_processes, 1);
                CHECK_EQ(seen.held_of[5], 1);
                CHECK_EQ(seen.n_requests, 1);
                CHECK_EQ(seen.uniques[0], 31);
                state_pending_replies(next, &replies, &len);
                CHECK_EQ(len, 0);
                state_close(next);
        }
        /* The next steve dies too before reading it: it is still there, once. */
        next = crash_copy(copy, path_of("open-crashed-twice"));
        CHECK(next);
        if (next) {
                seen = look(next);
                CHECK_EQ(seen.n_requests, 1);
                CHECK_EQ(seen.uniques[0], 31);
                /* Its own transactions start from there. */
                CHECK_EQ(state_begin(next, NULL, 0), 0);
                state_close(next);
        }
        state_close(s);
}

/* What the kernel does on read(): the whole request, its length first. */
static void land(State *s, uint64_t unique) {
        uint8_t raw[64];
        size_t len = request(unique, raw);

        memcpy(state_landing(s), raw, len);
}

/* What the next steve finds, were this one killed now. */
static Seen seen_after_crash(const char *path, const char *copy) {
        State *next = crash_copy(path, copy);
        Seen seen = {};

        CHECK(next);
        if (next) {
                seen = look(next);
                state_close(next);
        }
        return seen;
}

TEST(a_request_read_but_not_yet_recorded_is_found_by_the_next_steve_after_the_rest) {
        char *path = path_of("landed"), *copy = path_of("landed-crashed");
        uint8_t raw[64];
        int64_t ri = -1;
        State *s;
        Seen seen;

        CHECK_EQ(state_open(path, &s), 0);
        CHECK_EQ(state_put_request(s, raw, request(50, raw), &ri), 0);
        commit(s);
        land(s, 52);
        seen = seen_after_crash(path, copy);
        CHECK_EQ(seen.n_requests, 2);
        CHECK_EQ(seen.uniques[0], 50);
        CHECK_EQ(seen.uniques[1], 52);
        /* The next request, 53, is read while 50, kept, is read again. */
        land(s, 53);
        CHECK_EQ(state_begin(s, raw, request(50, raw)), 0);
        state_landed(s, raw, sizeof raw);
        seen = seen_after_crash(path, copy);
        /* 50, being read again, is not read a third time. */
        CHECK_EQ(seen.n_requests, 2);
        CHECK_EQ(seen.uniques[1], 53);
        state_landed(s, raw, request(53, raw));
        commit(s);
        state_close(s);
        CHECK_EQ(state_open(path, &s), 0);
        seen = look(s);
        CHECK_EQ(seen.n_requests, 1);
        state_close(s);
}

TEST(a_crash_between_recording_and_clearing_the_landing_place_reads_it_once) {
        char *path = path_of("landed-twice"), *copy = path_of("landed-twice-crashed");
        uint8_t raw[64];
        State *s;
        Seen seen;

        CHECK_EQ(state_open(path, &s), 0);
        land(s, 60);
        CHECK_EQ(state_begin(s, raw, request(60, raw)), 0);
        seen = seen_after_crash(path, copy);
        CHECK_EQ(seen.n_requests, 1);
        CHECK_EQ(seen.uniques[0], 60);
        state_close(s);
}

TEST(growing_keeps_a_landed_request) {
        char *path = path_of("landed-grow");
        uint8_t raw[64];
        int64_t index[200];
        State *s;
        Seen seen;

        CHECK_EQ(state_open(path, &s), 0);
        land(s, 7000);
        /* The requests of an adopted connection, read again: more than fit. */
        for (int i = 0; i < 200; i++) {
                index[i] = -1;
                CHECK_EQ(state_put_request(s, raw, request((uint64_t) i + 1, raw), &index[i]), 0);
        }
        commit(s);
        state_close(s);
        CHECK_EQ(state_open(path, &s), 0);
        seen = look(s);
        CHECK_EQ(seen.n_requests, 201);
        CHECK_EQ(seen.uniques[200], 7000);
        state_close(s);
}

TEST(a_crash_after_the_commit_applies_it_and_owes_its_replies) {
        char *path = path_of("committed"), *copy = path_of("committed-crashed");
        StateProcess p = process(7, 2);
        uint8_t raw[64], reply[24];
        int64_t pi = -1, ri = -1;
        const void *replies;
        size_t len;
        State *s, *next;
        Seen seen;

        memset(reply, 0xab, sizeof reply);
        CHECK_EQ(state_open(path, &s), 0);
        CHECK_EQ(state_begin(s, raw, request(40, raw)), 0);
        CHECK_EQ(state_put_process(s, &pi, &p), 0);
        CHECK_EQ(state_put_request(s, raw, 64, &ri), 0);
        CHECK_EQ(state_add_reply(s, &(struct iovec) { reply, sizeof reply }, 1), 0);
        CHECK_EQ(state_commit(s, 12), 0);
        /* Died before the replies went out. */
        next = crash_copy(path, copy);
        CHECK(next);
        if (next) {
                seen = look(next);
                CHECK_EQ(seen.held_of[7], 2);
                CHECK_EQ(seen.n_requests, 1);
                CHECK_EQ(seen.uniques[0], 40);
                CHECK_EQ(state_next_job_id(next), 12);
                state_pending_replies(next, &replies, &len);
                CHECK_EQ(len, sizeof reply);
                CHECK(len == sizeof reply && memcmp(replies, reply, len) == 0);
                state_done(next);
                state_pending_replies(next, &replies, &len);
                CHECK_EQ(len, 0);
                state_close(next);
        }
        state_done(s);
        state_close(s);
}

TEST(dropped_records_stay_dropped_and_their_slots_are_reused) {
        char *path = path_of("drop");
        StateProcess p = process(3, 1), q = process(4, 1);
        uint8_t raw[64];
        int64_t pi = -1, qi = -1, r1 = -1, r2 = -1;
        State *s;
        Seen seen;

        CHECK_EQ(state_open(path, &s), 0);
        CHECK_EQ(state_put_process(s, &pi, &p), 0);
        CHECK_EQ(state_put_request(s, raw, request(1, raw), &r1), 0);
        commit(s);
        CHECK_EQ(state_drop_process(s, pi), 0);
        CHECK_EQ(state_drop_request(s, r1), 0);
        commit(s);
        CHECK_EQ(state_put_process(s, &qi, &q), 0);
        CHECK_EQ(state_put_request(s, raw, request(2, raw), &r2), 0);
        commit(s);
        CHECK_EQ(qi, pi);
        CHECK_EQ(r2, r1);
        state_close(s);

        CHECK_EQ(state_open(path, &s), 0);
        seen = look(s);
        CHECK_EQ(seen.n_processes, 1);
        CHECK_EQ(seen.held_of[3], 0);
        CHECK_EQ(seen.held_of[4], 1);
        CHECK_EQ(seen.n_requests, 1);
        CHECK_EQ(seen.uniques[0], 2);
        state_close(s);
}

TEST(growing_keeps_every_record_and_the_order_requests_came_in) {
        char *path = path_of("grow");
        enum { PROCESSES = 600, REQUESTS = 300 };
        static int64_t index[PROCESSES];
        uint8_t raw[64], big[40000];
        int64_t ri;
        const void *replies;
        size_t len;
        State *s;
        Seen seen;

        memset(big, 0x5a, sizeof big);
        CHECK_EQ(state_open(path, &s), 0);
        for (int i = 0; i < PROCESSES; i++) {
                StateProcess p = process(i % 64, i % 64);

                index[i] = -1;
                CHECK_EQ(state_put_process(s, &index[i], &p), 0);
                if (i % 250 == 249)
                        commit(s);
        }
        commit(s);
        for (uint64_t u = 0; u < REQUESTS; u++) {
                /* Out of slot order: the order read is what counts. */
                CHECK_EQ(state_put_request(s, raw, request(1000 + u, raw), &ri), 0);
                if (u % 7 == 0)
                        commit(s);
        }
        /* One transaction bigger than the journal and its replies were. */
        CHECK_EQ(state_add_reply(s, &(struct iovec) { big, sizeof big }, 1), 0);
        CHECK_EQ(state_commit(s, 5), 0);
        state_close(s);

        CHECK_EQ(state_open(path, &s), 0);
        seen = look(s);
        CHECK_EQ(seen.n_processes, PROCESSES);
        CHECK_EQ(seen.n_requests, REQUESTS);
        for (size_t i = 0; i < seen.n_requests; i++)
                CHECK_EQ(seen.uniques[i], 1000 + i);
        state_pending_replies(s, &replies, &len);
        CHECK_EQ(len, sizeof big);
        state_done(s);
        state_close(s);
        CHECK(access(path, F_OK) == 0);
}

TEST(a_foreign_file_is_started_afresh) {
        char *path = path_of("foreign");
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        State *s;

        CHECK(fd >= 0);
        CHECK_EQ(write(fd, "not a state file at all", 23), 23);
        close(fd);
        CHECK_EQ(state_open(path, &s), 0);
        CHECK(!state_in_use(s));
        CHECK_EQ(look(s).n_processes, 0);
        state_close(s);
}

/* A record's length past its buffer is damage, not something to read past. */
TEST(a_damaged_request_record_starts_afresh) {
        char *path = path_of("damaged");
        uint8_t raw[64], *file;
        uint32_t bad = 1u << 20;
        int64_t ri = -1;
        struct stat st;
        State *s;
        int fd;
        const uint8_t *found;

        CHECK_EQ(state_open(path, &s), 0);
        CHECK_EQ(state_put_request(s, raw, request(0x5eed5eed5eedULL, raw), &ri), 0);
        commit(s);
        state_close(s);
        fd = open(path, O_RDWR);
        CHECK(fd >= 0 && fstat(fd, &st) == 0);
        file = malloc((size_t) st.st_size);
        CHECK(file && pread(fd, file, (size_t) st.st_size, 0) == st.st_size);
        /* The first copy is the record (the journal's follows it): {in_use, len, seq, raw}. */
        found = memmem(file, (size_t) st.st_size, raw, sizeof raw);
        CHECK(found);
        if (found && found - file >= 12)
                CHECK_EQ(pwrite(fd, &bad, sizeof bad, found - file - 12), (ssize_t) sizeof bad);
        close(fd);
        free(file);
        CHECK_EQ(state_open(path, &s), 0);
        CHECK_EQ(look(s).n_requests, 0);
        state_close(s);
}

TEST(a_reexec_passes_a_memfd_that_the_next_steve_reads) {
        StateGlobals g = { .connection = 5 };
        StateProcess p = process(9, 4);
        int64_t pi = -1;
        State *s, *next;
        int fd;

        CHECK_EQ(state_open_anonymous(&s), 0);
        CHECK_EQ(state_put_globals(s, &g), 0);
        CHECK_EQ(state_put_process(s, &pi, &p), 0);
        commit(s);
        fd = dup(state_fd(s));
        CHECK_EQ(state_open_fd(fd, &next), 0);
        CHECK(state_in_use(next));
        CHECK_EQ(look(next).held_of[9], 4);
        state_close(next);
        state_close(s);
}

TEST(reset_forgets_everything) {
        char *path = path_of("reset");
        StateGlobals g = { .connection = 5 };
        StateProcess p = process(9, 4);
        int64_t pi = -1;
        State *s;

        CHECK_EQ(state_open(path, &s), 0);
        CHECK_EQ(state_put_globals(s, &g), 0);
        CHECK_EQ(state_put_process(s, &pi, &p), 0);
        commit(s);
        CHECK_EQ(state_reset(s), 0);
        CHECK(!state_in_use(s));
        CHECK_EQ(look(s).n_processes, 0);
        state_close(s);
}

int main(void) {
        int r = test_run_all();
        char command[64];

        snprintf(command, sizeof command, "rm -rf %s", dir);
        if (system(command) != 0)
                r = 1;
        return r;
}
