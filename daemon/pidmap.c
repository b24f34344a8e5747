/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <search.h>
#include <stdlib.h>

#include "pidmap.h"

typedef struct PidPair {
        pid_t key, value;
} PidPair;

static int pair_compare(const void *a, const void *b) {
        pid_t x = ((const PidPair *) a)->key, y = ((const PidPair *) b)->key;
        return (x > y) - (x < y);
}

bool pid_map_get(const PidMap *m, pid_t key, pid_t *ret) {
        PidPair probe = { .key = key }, **found = tfind(&probe, &m->tree, pair_compare);

        if (!found)
                return false;
        *ret = (*found)->value;
        return true;
}

int pid_map_put(PidMap *m, pid_t key, pid_t value) {
        PidPair *pair = malloc(sizeof *pair), **found;

        if (!pair)
                return -ENOMEM;
        *pair = (PidPair) { .key = key, .value = value };
        found = tsearch(pair, &m->tree, pair_compare);
        if (!found) {
                free(pair);
                return -ENOMEM;
        }
        if (*found != pair) {
                (*found)->value = value;
                free(pair);
        } else
                m->n++;
        return 0;
}

void pid_map_clear(PidMap *m) {
        tdestroy(m->tree, free);
        *m = (PidMap) {};
}
