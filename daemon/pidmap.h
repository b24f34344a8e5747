/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A map from one pid to another (a thread to its process), in a tsearch()
 * tree: what threads.c caches.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct PidMap {
        void *tree;
        size_t n;
} PidMap;

/* The value for key, when there is one. */
bool pid_map_get(const PidMap *m, pid_t key, pid_t *ret);
/* Sets key's value, replacing any; -ENOMEM leaves the map as it was. */
int pid_map_put(PidMap *m, pid_t key, pid_t value);
void pid_map_clear(PidMap *m);
