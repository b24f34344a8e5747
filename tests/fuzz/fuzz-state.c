/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state file as a crash or a fault may leave it: a pool written by one
 * steve, stopped at the point the input's first byte picks (idle, inside a
 * transaction, committed with replies unsent; one more request read or
 * not), then damaged at the offsets the rest of the input names ((u32
 * offset, u8 value) pairs). The next steve opens it, walks it and goes on
 * writing to it: it trusts a whole file or starts afresh, and never reads
 * or writes outside the mapping (ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"

static int count_process(const StateProcess *p, uint32_t index, void *userdata) {
        if (p->n_jobs > STATE_JOBS || p->n_polls > STATE_POLLS)
                (*(size_t *) userdata)++;       /* the caller clamps them; nothing to check here */
        return 0;
}

static int count_request(const void *raw, size_t len, uint32_t index, void *userdata) {
        if (len > STATE_RAW_MAX)
                abort();
        (void) ((const volatile uint8_t *) raw)[len ? len - 1 : 0];
        (*(size_t *) userdata)++;
        return 0;
}

/* A pool as a steve writes one: a few processes, requests and replies. */
static int write_pool(State *s, uint8_t stop) {
        StateGlobals g = { .connection = 42, .init_len = 40, .n_params = 1 };
        uint8_t raw[64] = { 64 }, reply[16] = { 16 };
        int64_t index;

        strcpy(g.params[0].name, "jobs");
        for (int i = 0; i < 3; i++) {
                StateProcess p = { .in_use = 1, .pid = 100 + i, .held = i, .n_jobs = 1, .n_polls = 1 };

                index = -1;
                if (state_put_process(s, &index, &p) < 0 || state_put_request(s, raw, sizeof raw, &index) < 0)
                        return -1;
        }
        if (state_put_globals(s, &g) < 0 || state_commit(s, 7) < 0)
                return -1;
        state_done(s);
        if (stop % 3 == 0)
                return 0;
        index = -1;
        if (state_begin(s, raw, sizeof raw) < 0 || state_put_request(s, raw, sizeof raw, &index) < 0 ||
            state_add_reply(s, &(struct iovec) { reply, sizeof reply }, 1) < 0)
                return -1;
        return stop % 3 == 2 ? state_commit(s, 8) : 0;
}

static void damage(int fd, const uint8_t *data, size_t size) {
        off_t length = lseek(fd, 0, SEEK_END);

        for (size_t i = 0; length > 0 && i + 5 <= size; i += 5) {
                uint32_t offset;

                memcpy(&offset, data + i, sizeof offset);
                if (pwrite(fd, data + i + 4, 1, (off_t) (offset % (uint32_t) length)) != 1)
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        State *first = NULL, *next = NULL;
        const void *replies;
        size_t n = 0, len;
        int64_t index = -1;
        StateProcess p = { .in_use = 1, .pid = 9 };
        uint8_t raw[32] = { 32 };

        if (size == 0 || state_open_anonymous(&first) < 0)
                return 0;
        if (write_pool(first, data[0]) < 0)
                abort();
        /* Killed just after reading one more request. */
        if (data[0] & 0x10)
                memcpy(state_landing(first), (uint8_t[48]) { 48, [8] = 99 }, 48);
        damage(state_fd(first), data + 1, size - 1);
        if (state_open_fd(dup(state_fd(first)), &next) == 0) {
                (void) state_in_use(next);
                (void) state_globals(next);
                (void) state_foreach_process(next, count_process, &n);
                (void) state_foreach_request(next, count_request, &n);
                state_pending_replies(next, &replies, &len);
                if (len > 0)
                        (void) ((const volatile uint8_t *) replies)[len - 1];
                state_done(next);
                /* It goes on: a transaction that takes new slots. */
                if (state_begin(next, raw, sizeof raw) == 0) {
                        (void) state_put_process(next, &index, &p);
                        (void) state_put_request(next, raw, sizeof raw, &index);
                        (void) state_drop_process(next, 0);
                        (void) state_commit(next, 9);
                        state_done(next);
                }
        }
        state_close(next);
        state_close(first);
        return 0;
}
