/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The pool's use at its change points, a point a second at most (the
 * highest use in it), for the last HISTORY_POINTS of them. Pure: the caller
 * gives the time.
 */

#include <stddef.h>
#include <stdint.h>

#define HISTORY_POINTS 600                      /* ten minutes of busy seconds */

typedef struct HistoryPoint {
        uint64_t at;                            /* the caller's clock, usec */
        uint32_t held, waiting;
} HistoryPoint;

typedef struct History {
        HistoryPoint points[HISTORY_POINTS];
        size_t start, len;
} History;

void history_note(History *h, uint64_t now, uint32_t held, uint32_t waiting);
/* The newest max points at most, oldest first; their number. */
size_t history_copy(const History *h, HistoryPoint *out, size_t max);
