/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bus-params.h"
#include "monitor.h"
#include "parse.h"
#include "text.h"
#include "util.h"

int mon_connect(bool session, sd_bus **ret) {
        int r = session ? sd_bus_open_user(ret) : sd_bus_open_system(ret);

        if (r < 0)
                fprintf(stderr, "stevie: cannot reach the %s bus: %s\n", session ? "session" : "system", strerror(-r));
        return r;
}

/* Why a call failed, in words for the one who ran stevie. */
static void explain(const sd_bus_error *error, int r, bool session, char *why, size_t size) {
        const char *bus = session ? "session" : "system";
        _cleanup_free_ char *message = error->message ? text_clean(error->message) : NULL;

        if (sd_bus_error_has_names(error, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                snprintf(why, size, "steve is not on the %s bus: is it running? (one started with --bus=none "
                         "cannot be watched)", bus);
        else if (sd_bus_error_has_name(error, SD_BUS_ERROR_UNKNOWN_METHOD))
                snprintf(why, size, "this steve is older than stevie: %s",
                         message ? message : "no GetProcesses");
        else if (sd_bus_error_is_set(error))
                snprintf(why, size, "cannot read steve's state: %s", message ? message : error->name);
        else
                snprintf(why, size, "cannot read steve's answer: %s", strerror(-r));
}

static int read_property(sd_bus_message *m, const char *name, MonPool *p) {
        const ParamInfo *info = param_by_bus_name(name);
        IoctlValue v;
        int r;

        if (info) {
                r = bus_read_param(m, info, &v);
                if (r >= 0)
                        (void) param_set(&p->params, info, &v);
                return r;
        }
        if (strcmp(name, "TokensAvailable") == 0)
                return sd_bus_message_read(m, "v", "u", &p->available);
        if (strcmp(name, "TokensHeld") == 0)
                return sd_bus_message_read(m, "v", "u", &p->held);
        if (strcmp(name, "Waiters") == 0)
                return sd_bus_message_read(m, "v", "u", &p->waiters);
        if (strcmp(name, "Generation") == 0)
                return sd_bus_message_read(m, "v", "t", &p->generation);
        if (strcmp(name, "HeldBack") == 0 || strcmp(name, "Path") == 0 || strcmp(name, "Version") == 0) {
                const char *text;
                char **to = name[0] == 'H' ? &p->held_back : name[0] == 'P' ? &p->path : &p->version;

                r = sd_bus_message_read(m, "v", "s", &text);
                if (r < 0)
                        return r;
                free(*to);
                *to = text_clean(text);
                return *to ? 0 : -ENOMEM;
        }
        return sd_bus_message_skip(m, "v");
}

static int read_properties(sd_bus_message *reply, MonPool *p) {
        const char *name;
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                r = sd_bus_message_read(reply, "s", &name);
                if (r >= 0)
                        r = read_property(reply, name, p);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        return r < 0 ? r : sd_bus_message_exit_container(reply);
}

static int read_jobs(sd_bus_message *m, MonProcess *proc) {
        uint64_t id, started;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(tt)");
        while (r >= 0 && (r = sd_bus_message_read(m, "(tt)", &id, &started)) > 0) {
                MonJob *jobs = reallocarray(proc->jobs, proc->n_jobs + 1, sizeof *jobs);

                if (!jobs)
                        return -ENOMEM;
                proc->jobs = jobs;
                jobs[proc->n_jobs++] = (MonJob) { id, started };
        }
        return r < 0 ? r : sd_bus_message_exit_container(m);
}

static int read_process(sd_bus_message *m, MonProcess *proc) {
        const char *unit, *command;
        int waiting = 0, r;

        r = sd_bus_message_read(m, "uuususu", &proc->pid, &proc->ppid, &proc->uid, &unit, &proc->build, &command,
                                &proc->held);
        if (r < 0)
                return r;
        /* escaped by steve; again here, for a steve (or a name's owner) that did not */
        proc->unit = text_clean(unit);
        proc->command = text_clean(command);
        if (!proc->unit || !proc->command)
                return -ENOMEM;
        r = read_jobs(m, proc);
        if (r >= 0)
                r = sd_bus_message_read(m, "bt", &waiting, &proc->waiting_since);
        proc->waiting = waiting;
        return r;
}

static int read_processes(sd_bus_message *reply, MonPool *p) {
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "(uuususua(tt)bt)");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'r', "uuususua(tt)bt")) > 0) {
                MonProcess *procs = reallocarray(p->processes, p->n_processes + 1, sizeof *procs);

                if (!procs)
                        return -ENOMEM;
                p->processes = procs;
                procs[p->n_processes] = (MonProcess) {};
                r = read_process(reply, &procs[p->n_processes++]);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        return r < 0 ? r : sd_bus_message_exit_container(reply);
}

static int read_history(sd_bus_message *reply, MonPool *p) {
        MonPoint point;
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "(tuu)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(tuu)", &point.at, &point.held, &point.waiting)) > 0) {
                MonPoint *points = reallocarray(p->history, p->n_history + 1, sizeof *points);

                if (!points)
                        return -ENOMEM;
                p->history = points;
                points[p->n_history++] = point;
        }
        return r < 0 ? r : sd_bus_message_exit_container(reply);
}

static int by_held(const void *a, const void *b) {
        const MonProcess *x = a, *y = b;

        if (x->held != y->held)
                return x->held < y->held ? 1 : -1;
        return (x->pid > y->pid) - (x->pid < y->pid);
}

static int builds_by_held(const void *a, const void *b) {
        const MonBuild *x = a, *y = b;

        if (x->held != y->held)
                return x->held < y->held ? 1 : -1;
        return (x->pid > y->pid) - (x->pid < y->pid);
}

static MonBuild *build_of(MonPool *p, uint32_t pid) {
        for (size_t i = 0; i < p->n_builds; i++)
                if (p->builds[i].pid == pid)
                        return &p->builds[i];
        return NULL;
}

const MonBuild *mon_build(const MonPool *p, uint32_t pid) {
        return build_of((MonPool *) p, pid);
}

/* Each build's weight and share, onto the builds its processes make. */
static int read_builds(sd_bus_message *reply, MonPool *p) {
        uint32_t pid, weight, taken;
        double share;
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "(uudu)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(uudu)", &pid, &weight, &share, &taken)) > 0) {
                MonBuild *b = build_of(p, pid);

                if (b) {
                        b->weight = weight;
                        b->share = share;
                }
        }
        return r < 0 ? r : sd_bus_message_exit_container(reply);
}

/* Builds from the processes' build pids; the leader names it. */
static int group_builds(MonPool *p) {
        p->builds = calloc(p->n_processes ? p->n_processes : 1, sizeof *p->builds);
        if (!p->builds)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_processes; i++) {
                const MonProcess *proc = &p->processes[i];
                MonBuild *b = build_of(p, proc->build);

                if (!b) {
                        b = &p->builds[p->n_builds++];
                        *b = (MonBuild) { .pid = proc->build, .uid = proc->uid };
                }
                if (proc->pid == proc->build) {
                        b->command = proc->command;
                        b->unit = proc->unit;
                        b->uid = proc->uid;
                }
                b->held += proc->held;
                b->processes++;
                b->waiting += proc->waiting;
                for (size_t j = 0; j < proc->n_jobs; j++)
                        if (b->since == 0 || proc->jobs[j].started < b->since)
                                b->since = proc->jobs[j].started;
        }
        qsort(p->builds, p->n_builds, sizeof *p->builds, builds_by_held);
        return 0;
}

int mon_read(sd_bus *bus, bool session, bool history, MonPool *ret, char *why, size_t why_size) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        MonPool p = { .params = params_defaults() };
        int r;

        r = sd_bus_call_method(bus, MON_SERVICE, MON_PATH, "org.freedesktop.DBus.Properties", "GetAll", &error,
                               &reply, "s", MON_INTERFACE);
        if (r >= 0)
                r = read_properties(reply, &p);
        reply = sd_bus_message_unref(reply);
        if (r >= 0 && (r = sd_bus_call_method(bus, MON_SERVICE, MON_PATH, MON_INTERFACE, "GetProcesses", &error,
                                              &reply, "")) >= 0)
                r = read_processes(reply, &p);
        reply = sd_bus_message_unref(reply);
        if (r >= 0 && history && (r = sd_bus_call_method(bus, MON_SERVICE, MON_PATH, MON_INTERFACE, "GetHistory",
                                                         &error, &reply, "")) >= 0)
                r = read_history(reply, &p);
        reply = sd_bus_message_unref(reply);
        if (r >= 0) {
                /* qsort() wants an array even for none. */
                if (p.n_processes > 1)
                        qsort(p.processes, p.n_processes, sizeof *p.processes, by_held);
                r = group_builds(&p);
        }
        /* A steve before weights has no GetBuilds: its builds show none. */
        if (r >= 0 && sd_bus_call_method(bus, MON_SERVICE, MON_PATH, MON_INTERFACE, "GetBuilds", NULL, &reply,
                                         "") >= 0)
                r = read_builds(reply, &p);
        reply = sd_bus_message_unref(reply);
        if (r < 0) {
                char text[256];

                explain(&error, r, session, why ? why : text, why ? why_size : sizeof text);
                if (!why)
                        fprintf(stderr, "stevie: %s\n", text);
                sd_bus_error_free(&error);
                mon_free(&p);
                return r;
        }
        *ret = p;
        return 0;
}

void mon_free(MonPool *p) {
        for (size_t i = 0; i < p->n_processes; i++) {
                free(p->processes[i].unit);
                free(p->processes[i].command);
                free(p->processes[i].jobs);
        }
        free(p->processes);
        free(p->builds);
        free(p->history);
        free(p->path);
        free(p->version);
        free(p->held_back);
        *p = (MonPool) {};
}

void mon_duration(uint64_t usec, char *buf, size_t size) {
        uint64_t s = usec / 1000000;

        if (s < 60)
                snprintf(buf, size, "%.1fs", (double) usec / 1e6);
        else if (s < 3600)
                snprintf(buf, size, "%" PRIu64 "m %" PRIu64 "s", s / 60, s % 60);
        else if (s < 86400)
                snprintf(buf, size, "%" PRIu64 "h %" PRIu64 "m", s / 3600, s % 3600 / 60);
        else
                snprintf(buf, size, "%" PRIu64 "d %" PRIu64 "h", s / 86400, s % 86400 / 3600);
}

const char *mon_held_back(const MonPool *p) {
        return p->held_back && p->held_back[0] ? p->held_back : "nothing";
}

void mon_limits(const MonPool *p, char *buf, size_t size) {
        const ParamInfo *info;
        size_t len = 0;

        buf[0] = '\0';
        for (size_t i = 0; (info = param_nth(i)) && len + 1 < size; i++) {
                IoctlValue v;
                char text[64];

                if (info->group != PARAM_GROUP_LIMIT || !info->zero_is_off)
                        continue;
                param_get(&p->params, info, &v);
                param_format(info, &v, text, sizeof text);
                if (strcmp(text, "-1") == 0)
                        continue;
                if (info->kind == PARAM_BYTES)
                        format_size(v.u64, text, sizeof text);
                len += (size_t) snprintf(buf + len, size - len, "%s%s %s", len ? ", " : "", info->name, text);
        }
        if (len == 0)
                snprintf(buf, size, "none");
}
