/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <systemd/sd-event.h>

/* A CLOCK_MONOTONIC timer that starts off: steve arms timers only while they
 * have work, so that an idle steve never wakes. */
static inline int event_add_idle_timer(sd_event *e, sd_event_source **ret, uint64_t accuracy,
                                       sd_event_time_handler_t handler, void *userdata) {
        int r = sd_event_add_time(e, ret, CLOCK_MONOTONIC, UINT64_MAX, accuracy, handler, userdata);
        return r < 0 ? r : sd_event_source_set_enabled(*ret, SD_EVENT_OFF);
}

/* Arms a timer for deadline (CLOCK_MONOTONIC usec), or turns it off for UINT64_MAX. */
static inline void event_set_timer(sd_event_source *timer, uint64_t deadline) {
        if (deadline == UINT64_MAX) {
                (void) sd_event_source_set_enabled(timer, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(timer, deadline);
        (void) sd_event_source_set_enabled(timer, SD_EVENT_ONESHOT);
}
