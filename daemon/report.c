/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SIGUSR1 report: the pool's numbers, each process holding or reserving
 * tokens with its jobs and their ages, each waiter. It ends with a line of
 * its own, so that whoever reads the log knows when it is complete. Command
 * lines are read off the loop before it is written.
 */
#include <stdio.h>

#include "clients.h"
#include "log.h"
#include "monitor.h"
#include "report.h"
#include "util.h"

static void format_duration(char *buf, size_t size, uint64_t usec) {
        snprintf(buf, size, "%" PRIu64 ".%01" PRIu64 "s", usec / USEC_PER_SEC,
                 usec % USEC_PER_SEC / (USEC_PER_SEC / 10));
}

static int report_holder(const MonitorProcess *p, void *userdata) {
        uint64_t now = *(uint64_t *) userdata;
        char list[512] = "", d[32];
        size_t len = 0;

        for (size_t i = 0; i < p->n_jobs && len < sizeof list - 64; i++) {
                format_duration(d, sizeof d, now - p->jobs[i].started);
                len += (size_t) snprintf(list + len, sizeof list - len, "%sjob %" PRIu64 " for %s",
                                         i ? ", " : "", p->jobs[i].id, d);
        }
        /* log.c escapes what the process wrote into its command line. */
        log_notice("  pid %d holds %" PRIi64 "%s, build %d of weight %" PRIu32 ": %s%s%s", (int) p->pid, p->held,
                   p->reserved ? " (+1 reserved)" : "", (int) p->build, p->weight, p->cmdline ?: p->comm,
                   len ? "; " : "", list);
        return 0;
}

static const char *wait_kind_name(LedgerWaitKind kind) {
        switch (kind) {
        case LEDGER_WAIT_READ:
                return "read";
        case LEDGER_WAIT_POLL:
                return "poll";
        case LEDGER_WAIT_CLAIM:
                return "claim";
        }
        return "?";
}

static int report_waiter(const MonitorProcess *p, LedgerWaitKind kind, uint64_t since, void *userdata) {
        uint64_t now = *(uint64_t *) userdata;
        char d[32];

        format_duration(d, sizeof d, now - since);
        log_notice("  pid %d waits (%s) for %s: %s", (int) p->pid, wait_kind_name(kind), d, p->cmdline ?: p->comm);
        return 0;
}

static void report_now(void *userdata) {
        Server *s = userdata;
        uint64_t now = server_now(s);
        LedgerStats st;

        ledger_stats(s->ledger, &st);
        log_notice("%" PRIi64 "/%" PRIu32 " tokens available, %" PRIi64 " held, %" PRIu32
                   " reserved, %zu processes, %zu waiting",
                   st.available, st.jobs, st.held, st.reserved, st.processes, st.waiters);
        (void) monitor_foreach_holder(s, report_holder, &now);
        (void) monitor_foreach_waiter(s, report_waiter, &now);
        log_notice("end of report");
}

void report_to_log(Server *s) {
        /* Command lines are read off the loop first; a process that stalls
         * the read is shown by its name. */
        if (clients_fetch_cmdlines(s, report_now, s, NULL) < 0)
                report_now(s);
}
