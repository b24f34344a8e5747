/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "history.h"
#include "util.h"

static HistoryPoint *nth(History *h, size_t i) {
        return &h->points[(h->start + i) % HISTORY_POINTS];
}

void history_note(History *h, uint64_t now, uint32_t held, uint32_t waiting) {
        HistoryPoint *last = h->len ? nth(h, h->len - 1) : NULL;

        if (last && last->held == held && last->waiting == waiting)
                return;
        if (last && now - last->at < USEC_PER_SEC) {
                last->held = last->held > held ? last->held : held;
                last->waiting = last->waiting > waiting ? last->waiting : waiting;
                return;
        }
        if (h->len == HISTORY_POINTS)
                h->start = (h->start + 1) % HISTORY_POINTS;
        else
                h->len++;
        *nth(h, h->len - 1) = (HistoryPoint) { .at = now, .held = held, .waiting = waiting };
}

size_t history_copy(const History *h, HistoryPoint *out, size_t max) {
        size_t n = max < h->len ? max : h->len, skip = h->len - n;

        for (size_t i = 0; i < n; i++)
                out[i] = h->points[(h->start + skip + i) % HISTORY_POINTS];
        return n;
}
