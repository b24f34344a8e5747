/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Requests answered later (kept.h): in the order read, and by the kernel's
 * id, so that a reply going out finds the request it answers.
 */
#include <linux/fuse.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "kept.h"
#include "log.h"
#include "server-internal.h"

struct Kept {
        State *state;                           /* NULL: kept in memory only */
        const uint8_t *current;                 /* the request being handled, as read */
        size_t current_len;
        uint64_t next_seq;
        TAILQ_HEAD(, KeptRequest) list;
        void *by_unique;                        /* tsearch() tree */
};

static int kept_compare(const void *a, const void *b) {
        uint64_t x = ((const KeptRequest *) a)->unique, y = ((const KeptRequest *) b)->unique;
        return (x > y) - (x < y);
}

static uint64_t unique_of(const void *raw, size_t len) {
        return len >= sizeof(struct fuse_in_header) ? ((const struct fuse_in_header *) raw)->unique : 0;
}

int kept_new(Server *s) {
        Kept *k = calloc(1, sizeof *k);

        if (!k)
                return -ENOMEM;
        TAILQ_INIT(&k->list);
        k->next_seq = 1;
        s->kept = k;
        return 0;
}

void kept_free(Server *s) {
        KeptRequest *k;

        if (!s->kept)
                return;
        while ((k = TAILQ_FIRST(&s->kept->list)))
                kept_release(s, k);
        free(s->kept);
        s->kept = NULL;
}

void kept_set_state(Server *s, State *st) {
        s->kept->state = st;
}

void kept_set_current(Server *s, const void *raw, size_t len) {
        s->kept->current = raw;
        s->kept->current_len = raw ? len : 0;
}

int kept_keep_current(Server *s, KeptRequest *k) {
        Kept *kp = s->kept;

        *k = (KeptRequest) { .unique = unique_of(kp->current, kp->current_len), .seq = kp->next_seq++,
                             .state_index = -1, .len = kp->current_len };
        if (!kp->current || !(k->raw = malloc(k->len)))
                return -ENOMEM;
        memcpy(k->raw, kp->current, k->len);
        if (!tsearch(k, &kp->by_unique, kept_compare)) {
                free(k->raw);
                k->raw = NULL;
                return -ENOMEM;
        }
        TAILQ_INSERT_TAIL(&kp->list, k, link);
        if (kp->state && state_put_request(kp->state, k->raw, k->len, &k->state_index) < 0)
                log_warning("Cannot record a request to answer later: a steve started after a crash "
                            "would not know it");
        return 0;
}

uint64_t kept_current_poll_kh(const Server *s) {
        const Kept *kp = s->kept;
        const struct fuse_poll_in *in = (const void *) (kp->current + sizeof(struct fuse_in_header));

        return kp->current_len >= sizeof(struct fuse_in_header) + sizeof *in ? in->kh : 0;
}

KeptRequest *kept_find(Server *s, uint64_t unique) {
        KeptRequest key = { .unique = unique }, **found;

        if (unique == 0)
                return NULL;
        found = tfind(&key, &s->kept->by_unique, kept_compare);
        return found ? *found : NULL;
}

void kept_release(Server *s, KeptRequest *k) {
        if (!k->raw)
                return;
        tdelete(k, &s->kept->by_unique, kept_compare);
        TAILQ_REMOVE(&s->kept->list, k, link);
        free(k->raw);
        k->raw = NULL;
}

void kept_forget(Server *s, KeptRequest *k) {
        if (k->raw && s->kept->state)
                (void) state_drop_request(s->kept->state, k->state_index);
        kept_release(s, k);
}

int kept_foreach(Server *s, int (*fn)(const KeptRequest *k, void *userdata), void *userdata) {
        KeptRequest *k;
        int r;

        TAILQ_FOREACH(k, &s->kept->list, link) {
                r = fn(k, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}
