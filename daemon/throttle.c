/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Holding tokens back while the machine is busy (load average, MemAvailable,
 * pressure). The reading is taken when a request comes and the last one is
 * stale, and again on a timer only while a waiter is held back: an idle
 * steve sets no timer.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "event-util.h"
#include "log.h"
#include "parse.h"
#include "server-internal.h"
#include "sysload.h"
#include "throttle.h"
#include "util.h"

struct Throttle {
        uint64_t load_read_at;                  /* when sysload was last read; 0: never */
        SysLimit over_limit;                    /* the limit last found exceeded */
        bool load_unreadable;                   /* the last reading failed: limits unchecked */
        SysLoad load;                           /* that reading */
        uint64_t version;                       /* moves with each reading while over a limit */
        sd_event_source *recheck_timer;
};

void throttle_refresh(Server *s, bool force) {
        Throttle *t = s->throttle;
        uint64_t now = server_now(s);
        SysLimit over = SYSLIMIT_NONE;
        SysLoad load;
        int r;

        if (!params_system_limits(&s->params)) {
                if (t->over_limit != SYSLIMIT_NONE || t->load_unreadable) {
                        t->over_limit = SYSLIMIT_NONE;
                        t->load_unreadable = false;
                        t->version++;
                }
                ledger_set_throttled(s->ledger, false, now);
                return;
        }
        if (!force && t->load_read_at != 0 && now - t->load_read_at < s->params.load_recheck_timeout)
                return;
        t->load_read_at = now;
        r = sysload_read(s->proc, &s->params, &load);
        if (r < 0) {
                /* Better to serve tokens than to stop every build on the machine. */
                if (!t->load_unreadable) {
                        t->version++;
                        log_warning_errno(r, "Cannot read the system's load from %s, limits unchecked: %m", s->proc);
                }
                t->load_unreadable = true;
                t->over_limit = SYSLIMIT_NONE;
        } else {
                over = sysload_over_limit(&s->params, &load);
                t->load = load;
                if (over != SYSLIMIT_NONE || t->over_limit != SYSLIMIT_NONE || t->load_unreadable)
                        t->version++;
                if (over != t->over_limit)
                        log_info(over != SYSLIMIT_NONE ? "%s over its limit: holding back tokens"
                                                       : "load under the limits again", sysload_limit_name(over));
                t->over_limit = over;
                t->load_unreadable = false;
        }
        ledger_set_throttled(s->ledger, over != SYSLIMIT_NONE, now);
}

void throttle_reason(const Server *s, char *buf, size_t size) {
        const Throttle *t = s->throttle;
        const Params *p = &s->params;
        char have[16], want[16];

        buf[0] = '\0';
        if (!params_system_limits(p))
                return;
        switch (t->over_limit) {
        case SYSLIMIT_NONE:
                break;
        case SYSLIMIT_LOAD_AVERAGE:
                snprintf(buf, size, "load %.1f >= %g", t->load.load1, p->load_average);
                break;
        case SYSLIMIT_MEMORY_AVAILABLE:
                format_size(t->load.mem_available, have, sizeof have);
                format_size(p->min_memory_avail, want, sizeof want);
                snprintf(buf, size, "MemAvailable %s < %s", have, want);
                break;
        case SYSLIMIT_CPU_PRESSURE:
                snprintf(buf, size, "CPU pressure %.1f%% >= %g%%", t->load.cpu_some_avg10, p->cpu_pressure);
                break;
        case SYSLIMIT_MEMORY_PRESSURE:
                snprintf(buf, size, "memory pressure %.1f%% >= %g%%", t->load.memory_some_avg10, p->memory_pressure);
                break;
        }
}

uint64_t throttle_version(const Server *s) {
        return s->throttle->version;
}

/* The timer runs only while a waiter is held back by a limit. */
static void on_settled(void *userdata) {
        Server *s = userdata;

        event_set_timer(s->throttle->recheck_timer, ledger_held_back_by_throttle(s->ledger)
                                                    ? server_now(s) + s->params.load_recheck_timeout
                                                    : UINT64_MAX);
}

/* New limits are checked at once. */
static void on_params_changed(void *userdata) {
        throttle_refresh(userdata, true);
}

static int on_recheck_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Server *s = userdata;

        throttle_refresh(s, true);
        server_changed(s);
        return 0;
}

static const ServerObserver throttle_observer = {
        .settled = on_settled,
        .params_changed = on_params_changed,
};

int throttle_new(Server *s) {
        Throttle *t = calloc(1, sizeof *t);
        int r;

        if (!t)
                return -ENOMEM;
        s->throttle = t;
        r = event_add_idle_timer(s->event, &t->recheck_timer, USEC_PER_SEC / 100, on_recheck_timer, s);
        return r < 0 ? r : server_observe(s, &throttle_observer, s);
}

void throttle_free(Server *s) {
        if (s->throttle) {
                sd_event_source_disable_unref(s->throttle->recheck_timer);
                free(s->throttle);
                s->throttle = NULL;
        }
}
