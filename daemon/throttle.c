/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Holding tokens back while the machine is busy (load average, MemAvailable,
 * pressure). The reading is taken when a request comes and the last one is
 * stale, and again on a timer only while a waiter is held back: an idle
 * steve sets no timer.
 */
#include <inttypes.h>
#include <stdio.h>

#include "event-util.h"
#include "log.h"
#include "parse.h"
#include "server-internal.h"
#include "sysload.h"
#include "util.h"

void throttle_refresh(Server *s, bool force) {
        uint64_t now = server_now(s);
        SysLimit over = SYSLIMIT_NONE;
        SysLoad load;
        int r;

        if (!params_system_limits(&s->params)) {
                if (s->over_limit != SYSLIMIT_NONE || s->load_unreadable) {
                        s->over_limit = SYSLIMIT_NONE;
                        s->load_unreadable = false;
                        s->held_back_version++;
                }
                ledger_set_throttled(s->ledger, false, now);
                return;
        }
        if (!force && s->load_read_at != 0 && now - s->load_read_at < s->params.load_recheck_timeout)
                return;
        s->load_read_at = now;
        r = sysload_read(s->proc, &s->params, &load);
        if (r < 0) {
                /* Better to serve tokens than to stop every build on the machine. */
                if (!s->load_unreadable) {
                        s->held_back_version++;
                        log_warning_errno(r, "Cannot read the system's load from %s, limits unchecked: %m", s->proc);
                }
                s->load_unreadable = true;
                s->over_limit = SYSLIMIT_NONE;
        } else {
                over = sysload_over_limit(&s->params, &load);
                s->load = load;
                if (over != SYSLIMIT_NONE || s->over_limit != SYSLIMIT_NONE || s->load_unreadable)
                        s->held_back_version++;
                if (over != s->over_limit)
                        log_info(over != SYSLIMIT_NONE ? "%s over its limit: holding back tokens"
                                                       : "load under the limits again", sysload_limit_name(over));
                s->over_limit = over;
                s->load_unreadable = false;
        }
        ledger_set_throttled(s->ledger, over != SYSLIMIT_NONE, now);
}

void throttle_reason(const Server *s, char *buf, size_t size) {
        const Params *p = &s->params;
        char have[16], want[16];

        buf[0] = '\0';
        if (!params_system_limits(p))
                return;
        switch (s->over_limit) {
        case SYSLIMIT_NONE:
                break;
        case SYSLIMIT_LOAD_AVERAGE:
                snprintf(buf, size, "load %.1f >= %g", s->load.load1, p->load_average);
                break;
        case SYSLIMIT_MEMORY_AVAILABLE:
                format_size(s->load.mem_available, have, sizeof have);
                format_size(p->min_memory_avail, want, sizeof want);
                snprintf(buf, size, "MemAvailable %s < %s", have, want);
                break;
        case SYSLIMIT_CPU_PRESSURE:
                snprintf(buf, size, "CPU pressure %.1f%% >= %g%%", s->load.cpu_some_avg10, p->cpu_pressure);
                break;
        case SYSLIMIT_MEMORY_PRESSURE:
                snprintf(buf, size, "memory pressure %.1f%% >= %g%%", s->load.memory_some_avg10, p->memory_pressure);
                break;
        }
}

void throttle_rearm(Server *s) {
        event_set_timer(s->recheck_timer, ledger_held_back_by_throttle(s->ledger)
                                          ? server_now(s) + s->params.load_recheck_timeout : UINT64_MAX);
}

static int on_recheck_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Server *s = userdata;

        throttle_refresh(s, true);
        server_rearm(s);
        return 0;
}

int throttle_init(Server *s) {
        return event_add_idle_timer(s->event, &s->recheck_timer, USEC_PER_SEC / 100, on_recheck_timer, s);
}
