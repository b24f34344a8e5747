/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Puts the core and its parts together, and takes them apart. Observers are
 * told in the order they subscribed, so the order here is the order in
 * which an iteration settles: the timers, the answers to interrupted reads,
 * the monitor's count, and last the state file, which commits what the
 * others did and only then lets the replies go. main.c's observer (the bus,
 * the service manager) comes after all of them.
 */
#include "clients.h"
#include "ioctl.h"
#include "jobserver.h"
#include "kept.h"
#include "monitor.h"
#include "persist.h"
#include "requests.h"
#include "throttle.h"

static const LedgerCallbacks ledger_callbacks = {
        .granted = requests_on_granted,
        .reserved = requests_on_reserved,
        .changed = clients_on_ledger_changed,
};

int jobserver_new(sd_event *event, const Params *params, const char *proc, Auth *auth, Server **ret) {
        Server *s;
        int r;

        r = server_new(event, params, proc, auth, &ledger_callbacks, &s);
        if (r < 0)
                return r;
        r = clients_new(s);
        if (r >= 0)
                r = kept_new(s);
        if (r >= 0)
                r = throttle_new(s);
        if (r >= 0)
                r = requests_new(s);
        if (r >= 0)
                r = ioctl_new(s);
        if (r >= 0)
                r = monitor_new(s);
        if (r >= 0)
                r = persist_new(s);
        if (r < 0) {
                jobserver_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

Server *jobserver_free(Server *s) {
        if (!s)
                return NULL;
        /* Each client's leaving is heard by every part, so they go first. */
        clients_free(s);
        persist_free(s);
        monitor_free(s);
        ioctl_free(s);
        requests_free(s);
        throttle_free(s);
        kept_free(s);
        return server_free(s);
}
