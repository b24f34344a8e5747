/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stevie --status: the pool at a glance, for people or (--json) for scripts. */
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monitor.h"

static uint64_t now_realtime(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static void user_name(uint32_t uid, char *buf, size_t size) {
        struct passwd *pw = getpwuid(uid);

        if (pw)
                snprintf(buf, size, "%s", pw->pw_name);
        else
                snprintf(buf, size, "%" PRIu32, uid);
}

static const char *plural(uint64_t n, const char *one, const char *many) {
        return n == 1 ? one : many;
}

/* A unit worth naming: not the root cgroup a container or a test runs in. */
static const char *unit_name(const char *unit) {
        return unit && unit[0] && strcmp(unit, "/") != 0 ? unit : NULL;
}

static void age(uint64_t since, uint64_t now, char *buf, size_t size) {
        mon_duration(since && now > since ? now - since : 0, buf, size);
}

/* The jobs of a process, how long each has run: "1m 2s, 40.0s". */
static void job_ages(const MonProcess *proc, uint64_t now, char *buf, size_t size) {
        size_t len = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < proc->n_jobs && len + 1 < size; i++) {
                char d[32];

                age(proc->jobs[i].started, now, d, sizeof d);
                len += (size_t) snprintf(buf + len, size - len, "%s%s", i ? ", " : "", d);
        }
}

static void print_waiters(const MonPool *p, uint64_t now, FILE *out);

static void print_text(const MonPool *p, FILE *out) {
        uint64_t now = now_realtime();
        char limits[512], user[64], d[32], jobs[256];

        mon_limits(p, limits, sizeof limits);
        fprintf(out, "steve %s on %s: %" PRIu32 " jobs\n", p->version ? p->version : "?", p->path ? p->path : "?",
                p->params.jobs);
        fprintf(out, "    Pool: %" PRIu32 " free, %" PRIu32 " held, %" PRIu32 " waiting, %zu processes, %zu builds\n",
                p->available, p->held, p->waiters, p->n_processes, p->n_builds);
        fprintf(out, "  Limits: %s (min-jobs %" PRIu32 ")\n", limits, p->params.min_jobs);
        fprintf(out, "Held back: %s\n", mon_held_back(p));
        fprintf(out, "\nBuilds (%zu), most tokens first:\n", p->n_builds);
        for (size_t i = 0; i < p->n_builds; i++) {
                const MonBuild *b = &p->builds[i];

                user_name(b->uid, user, sizeof user);
                age(b->since, now, d, sizeof d);
                fprintf(out, "  %" PRIu32 " %s: %" PRIu32 " %s, %" PRIu32 " %s%s%s, user %s%s%s\n", b->pid,
                        b->command ? b->command : "(its leader has exited)", b->held, plural(b->held, "token", "tokens"),
                        b->processes, plural(b->processes, "process", "processes"), b->since ? ", running " : "",
                        b->since ? d : "", user, unit_name(b->unit) ? ", " : "", unit_name(b->unit) ?: "");
                if (b->weight)
                        fprintf(out, "      weight %" PRIu32 ", share %.1f of %" PRIu32 " tokens\n", b->weight, b->share,
                                p->params.jobs);
                for (size_t j = 0; j < p->n_processes; j++) {
                        const MonProcess *proc = &p->processes[j];

                        if (proc->build != b->pid || proc->held == 0)
                                continue;
                        job_ages(proc, now, jobs, sizeof jobs);
                        fprintf(out, "      pid %" PRIu32 ": %" PRIu32 " held (%s) %s\n", proc->pid, proc->held, jobs,
                                proc->command);
                }
        }
        print_waiters(p, now, out);
}

static int by_wait(const void *a, const void *b) {
        const MonProcess *x = *(const MonProcess *const *) a, *y = *(const MonProcess *const *) b;

        return (x->waiting_since > y->waiting_since) - (x->waiting_since < y->waiting_since);
}

static void print_waiters(const MonPool *p, uint64_t now, FILE *out) {
        const MonProcess **order = calloc(p->n_processes ? p->n_processes : 1, sizeof *order);
        size_t n = 0;
        char user[64], d[32];

        for (size_t j = 0; order && j < p->n_processes; j++)
                if (p->processes[j].waiting)
                        order[n++] = &p->processes[j];
        if (order)
                qsort(order, n, sizeof *order, by_wait);
        fprintf(out, "\nWaiting (%zu), longest first:\n", n);
        for (size_t i = 0; i < n; i++) {
                user_name(order[i]->uid, user, sizeof user);
                age(order[i]->waiting_since, now, d, sizeof d);
                fprintf(out, "  pid %" PRIu32 " for %s (build %" PRIu32 ", user %s): %s\n", order[i]->pid, d,
                        order[i]->build, user, order[i]->command);
        }
        free(order);
}

/* JSON */

static void json_string(FILE *out, const char *s) {
        fputc('"', out);
        for (; s && *s; s++) {
                unsigned char c = (unsigned char) *s;

                if (c == '"' || c == '\\')
                        fprintf(out, "\\%c", c);
                else if (c < 0x20)
                        fprintf(out, "\\u%04x", c);
                else
                        fputc(c, out);
        }
        fputc('"', out);
}

static void json_limits(const MonPool *p, FILE *out) {
        const ParamInfo *info;
        bool first = true;

        fprintf(out, "\"parameters\":{");
        for (size_t i = 0; (info = param_nth(i)); i++) {
                IoctlValue v;

                if (!info->bus_name)
                        continue;
                param_get(&p->params, info, &v);
                fprintf(out, "%s\"%s\":", first ? "" : ",", info->name);
                first = false;
                if (info->kind == PARAM_COUNT)
                        fprintf(out, "%" PRIu32, v.u32);
                else if (info->kind == PARAM_BYTES)
                        fprintf(out, "%" PRIu64, v.u64);
                else if (info->kind == PARAM_BOOL)
                        fprintf(out, "%s", v.u32 ? "true" : "false");
                else if (info->kind == PARAM_CHOICE)
                        fprintf(out, "\"%s\"", info->choices[v.u32]);
                else
                        fprintf(out, "%.17g", v.d);
        }
        fprintf(out, "}");
}

static void json_process(const MonProcess *proc, FILE *out) {
        fprintf(out, "{\"pid\":%" PRIu32 ",\"ppid\":%" PRIu32 ",\"uid\":%" PRIu32 ",\"build\":%" PRIu32 ",\"unit\":",
                proc->pid, proc->ppid, proc->uid, proc->build);
        json_string(out, proc->unit);
        fprintf(out, ",\"command\":");
        json_string(out, proc->command);
        fprintf(out, ",\"held\":%" PRIu32 ",\"jobs\":[", proc->held);
        for (size_t i = 0; i < proc->n_jobs; i++)
                fprintf(out, "%s{\"id\":%" PRIu64 ",\"started\":%" PRIu64 "}", i ? "," : "", proc->jobs[i].id,
                        proc->jobs[i].started);
        fprintf(out, "],\"waiting\":%s,\"waiting_since\":", proc->waiting ? "true" : "false");
        if (proc->waiting)
                fprintf(out, "%" PRIu64 "}", proc->waiting_since);
        else
                fprintf(out, "null}");
}

static void json_build(const MonBuild *b, FILE *out) {
        fprintf(out, "{\"pid\":%" PRIu32 ",\"uid\":%" PRIu32 ",\"command\":", b->pid, b->uid);
        if (b->command)
                json_string(out, b->command);
        else
                fprintf(out, "null");
        fprintf(out, ",\"unit\":");
        json_string(out, b->unit);
        fprintf(out, ",\"held\":%" PRIu32 ",\"processes\":%" PRIu32 ",\"waiting\":%" PRIu32, b->held,
                b->processes, b->waiting);
        if (b->weight)
                fprintf(out, ",\"weight\":%" PRIu32 ",\"share\":%.17g", b->weight, b->share);
        else
                fprintf(out, ",\"weight\":null,\"share\":null");
        fprintf(out, ",\"since\":");
        if (b->since)
                fprintf(out, "%" PRIu64 "}", b->since);
        else
                fprintf(out, "null}");
}

static void print_json(const MonPool *p, FILE *out) {
        fprintf(out, "{\"version\":");
        json_string(out, p->version);
        fprintf(out, ",\"path\":");
        json_string(out, p->path);
        fprintf(out, ",\"time\":%" PRIu64 ",\"pool\":{\"jobs\":%" PRIu32 ",\"available\":%" PRIu32
                ",\"held\":%" PRIu32 ",\"waiting\":%" PRIu32 ",\"processes\":%zu,\"builds\":%zu,\"paused\":%s,"
                "\"held_back\":", now_realtime(), p->params.jobs, p->available, p->held, p->waiters, p->n_processes,
                p->n_builds, p->params.paused ? "true" : "false");
        json_string(out, p->held_back);
        fprintf(out, "},");
        json_limits(p, out);
        fprintf(out, ",\"builds\":[");
        for (size_t i = 0; i < p->n_builds; i++) {
                fprintf(out, "%s", i ? "," : "");
                json_build(&p->builds[i], out);
        }
        fprintf(out, "],\"processes\":[");
        for (size_t i = 0; i < p->n_processes; i++) {
                fprintf(out, "%s", i ? "," : "");
                json_process(&p->processes[i], out);
        }
        fprintf(out, "]}\n");
}

int mon_status(bool session, bool json, FILE *out) {
        sd_bus *bus = NULL;
        MonPool p;
        int r;

        r = mon_connect(session, &bus);
        if (r >= 0)
                r = mon_read(bus, session, false, &p, NULL, 0);
        sd_bus_flush_close_unref(bus);
        if (r < 0)
                return 1;
        if (json)
                print_json(&p, out);
        else
                print_text(&p, out);
        mon_free(&p);
        return fflush(out) == 0 ? 0 : 1;
}
