/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SIGUSR1 report: the pool's numbers, each process holding or reserving
 * tokens with its jobs and their ages, each waiter. It ends with a line of
 * its own, so that whoever reads the log knows when it is complete.
 */
#include <stdio.h>

#include "log.h"
#include "proc.h"
#include "server-internal.h"
#include "util.h"

#define CMDLINE_MAX 256

static void format_duration(char *buf, size_t size, uint64_t usec) {
        snprintf(buf, size, "%" PRIu64 ".%01" PRIu64 "s", usec / USEC_PER_SEC,
                 usec % USEC_PER_SEC / (USEC_PER_SEC / 10));
}

static int report_process(const LedgerProcess *p, void *userdata) {
        _cleanup_free_ char *cmdline = NULL;
        uint64_t now = *(uint64_t *) userdata;
        const LedgerJob *jobs;
        char list[512] = "", d[32];
        size_t len = 0, n_jobs;

        if (ledger_process_held(p) == 0 && !ledger_process_reserved(p))
                return 0;
        jobs = ledger_process_jobs(p, &n_jobs);
        (void) proc_cmdline(ledger_process_pid(p), CMDLINE_MAX, &cmdline);
        for (size_t i = 0; i < n_jobs && len < sizeof list - 64; i++) {
                format_duration(d, sizeof d, now - jobs[i].started);
                len += (size_t) snprintf(list + len, sizeof list - len, "%sjob %" PRIu64 " for %s",
                                         i ? ", " : "", jobs[i].id, d);
        }
        log_notice("  pid %d holds %" PRIi64 "%s: %s%s%s", (int) ledger_process_pid(p), ledger_process_held(p),
                   ledger_process_reserved(p) ? " (+1 reserved)" : "",
                   cmdline ? cmdline : "?", len ? "; " : "", list);
        return 0;
}

static int report_waiter(const LedgerWaiter *w, void *userdata) {
        _cleanup_free_ char *cmdline = NULL;
        uint64_t now = *(uint64_t *) userdata;
        pid_t pid = ledger_process_pid(ledger_waiter_process(w));
        char d[32];

        (void) proc_cmdline(pid, CMDLINE_MAX, &cmdline);
        format_duration(d, sizeof d, now - ledger_waiter_since(w));
        log_notice("  pid %d waits (%s) for %s: %s", (int) pid,
                   ledger_waiter_kind(w) == LEDGER_WAIT_READ ? "read" : "poll", d, cmdline ? cmdline : "?");
        return 0;
}

void server_report(Server *s) {
        uint64_t now = server_now(s);
        LedgerStats st;

        ledger_stats(s->ledger, &st);
        log_notice("%" PRIi64 "/%" PRIu32 " tokens available, %" PRIi64 " held, %" PRIu32
                   " reserved, %zu processes, %zu waiting",
                   st.available, st.jobs, st.held, st.reserved, st.processes, st.waiters);
        (void) ledger_foreach_process(s->ledger, report_process, &now);
        (void) ledger_foreach_waiter(s->ledger, report_waiter, &now);
        log_notice("end of report");
}
