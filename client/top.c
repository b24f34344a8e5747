/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stevie --top: the pool live. Redrawn when steve signals a change
 * (PropertiesChanged, at most four a second) and never otherwise: watching
 * an idle pool costs steve nothing. ncurses on a terminal; one line per
 * change when stdout is not one.
 */
#include <curses.h>
#include <errno.h>
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-event.h>

#include "monitor.h"

typedef struct Top {
        sd_event *event;
        sd_bus *bus, *dead;                     /* dead: lost, freed outside its dispatch */
        bool session, tty, utf8, have_pool;
        MonPool pool;
        sd_event_source *refresh, *reconnect;
        size_t selected;                        /* in pool.processes */
        char message[256];                      /* what the last action got, or the bus's state */
        char last_line[512];                    /* plain mode: nothing printed twice */
} Top;

#define MIN_COLS 40
#define MIN_ROWS 8
#define HISTORY_SPAN UINT64_C(600000000)     /* ten minutes, in usec */

static uint64_t now_realtime(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static void schedule_refresh(Top *t) {
        (void) sd_event_source_set_enabled(t->refresh, SD_EVENT_ONESHOT);
}

/* Drawing */

/* Tokens held over the last ten minutes, one column per slice: the most
 * held in it, scaled to the pool. */
static void sparkline(const Top *t, int width, char *buf, size_t size) {
        static const char *const blocks[] = { " ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
        static const char ascii[] = " .:-=+*#%";
        const MonPool *p = &t->pool;
        uint64_t now = now_realtime(), start = now - HISTORY_SPAN, slice = HISTORY_SPAN / (uint64_t) width;
        uint32_t jobs = p->params.jobs ? p->params.jobs : 1, value = 0;
        size_t len = 0, k = 0;

        buf[0] = '\0';
        /* The use before the window began carries into it. */
        while (k < p->n_history && p->history[k].at < start)
                value = p->history[k++].held;
        for (int col = 0; col < width && len + 8 < size; col++) {
                uint64_t end = start + slice * (uint64_t) (col + 1);
                uint32_t peak = value, level;

                while (k < p->n_history && p->history[k].at < end) {
                        value = p->history[k++].held;
                        peak = value > peak ? value : peak;
                }
                level = (uint32_t) ((uint64_t) (peak > jobs ? jobs : peak) * 8 / jobs);
                if (peak > 0 && level == 0)
                        level = 1;
                if (t->utf8)
                        len += (size_t) snprintf(buf + len, size - len, "%s", blocks[level]);
                else
                        buf[len++] = ascii[level], buf[len] = '\0';
        }
}

static void draw_header(const Top *t, int cols) {
        const MonPool *p = &t->pool;
        char limits[256], spark[4096];

        mvprintw(0, 0, "steve %s on %s: %" PRIu32 "/%" PRIu32 " held, %" PRIu32 " free, %" PRIu32 " waiting, "
                 "%zu processes, %zu builds%s", p->version ? p->version : "?", p->path ? p->path : "?", p->held,
                 p->params.jobs, p->available, p->waiters, p->n_processes, p->n_builds,
                 p->params.paused ? "  [PAUSED]" : "");
        mon_limits(p, limits, sizeof limits);
        mvprintw(1, 0, "held back: %s   limits: %s", mon_held_back(p), limits);
        sparkline(t, cols - 18 > 10 ? cols - 18 : 10, spark, sizeof spark);
        mvprintw(2, 0, "last 10 min: [");
        addstr(spark);
        addstr("]");
}

static void draw_process(const Top *t, const MonProcess *proc, int row, int cols, bool selected) {
        struct passwd *pw = getpwuid(proc->uid);
        const MonBuild *b = mon_build(&t->pool, proc->build);
        char user[16], waiting[32] = "", job[32] = "", share[16] = "";
        uint64_t now = now_realtime();

        snprintf(user, sizeof user, "%s", pw ? pw->pw_name : "?");
        if (!pw)
                snprintf(user, sizeof user, "%" PRIu32, proc->uid);
        if (proc->waiting)
                mon_duration(now > proc->waiting_since ? now - proc->waiting_since : 0, waiting, sizeof waiting);
        if (proc->n_jobs > 0)
                mon_duration(now > proc->jobs[0].started ? now - proc->jobs[0].started : 0, job, sizeof job);
        /* A build's share, on its leader's row. */
        if (b && b->weight && proc->pid == proc->build)
                snprintf(share, sizeof share, "%.1f/%" PRIu32, b->share, b->weight);
        if (selected)
                attron(A_REVERSE);
        mvprintw(row, 0, "%7" PRIu32 " %7" PRIu32 " %12s %-8.8s %4" PRIu32 " %8s %8s  %.*s", proc->pid, proc->build,
                 share, user, proc->held, job, waiting, cols > 63 ? cols - 63 : 0, proc->command);
        clrtoeol();
        if (selected)
                attroff(A_REVERSE);
}

static void draw(Top *t) {
        int rows, cols, row = 5;

        getmaxyx(stdscr, rows, cols);
        erase();
        if (cols < MIN_COLS || rows < MIN_ROWS) {
                mvprintw(0, 0, "terminal too small (%dx%d; needs %dx%d)", cols, rows, MIN_COLS, MIN_ROWS);
                refresh();
                return;
        }
        if (t->have_pool) {
                draw_header(t, cols);
                attron(A_BOLD);
                mvprintw(4, 0, "%7s %7s %12s %-8s %4s %8s %8s  %s", "PID", "BUILD", "SHARE/WEIGHT", "USER", "HELD",
                         "OLDEST", "WAITING", "COMMAND");
                attroff(A_BOLD);
                if (t->selected >= t->pool.n_processes)
                        t->selected = t->pool.n_processes ? t->pool.n_processes - 1 : 0;
                for (size_t i = 0; i < t->pool.n_processes && row < rows - 1; i++, row++)
                        draw_process(t, &t->pool.processes[i], row, cols, i == t->selected);
        }
        attron(A_BOLD);
        mvprintw(rows - 1, 0, "q quit  p pause/resume  r reclaim selected  up/down select");
        attroff(A_BOLD);
        if (t->message[0])
                printw("  | %s", t->message);
        clrtoeol();
        refresh();
}

/* Plain mode: one line when something changed. */
static void print_line(Top *t) {
        const MonPool *p = &t->pool;
        char line[512], stamp[32];
        time_t now = time(NULL);

        if (!t->have_pool)
                snprintf(line, sizeof line, "%s", t->message);
        else
                snprintf(line, sizeof line, "%" PRIu32 "/%" PRIu32 " held, %" PRIu32 " waiting, %zu processes, "
                         "%zu builds; held back: %s", p->held, p->params.jobs, p->waiters, p->n_processes,
                         p->n_builds, mon_held_back(p));
        if (strcmp(line, t->last_line) == 0)
                return;
        snprintf(t->last_line, sizeof t->last_line, "%s", line);
        strftime(stamp, sizeof stamp, "%H:%M:%S", localtime(&now));
        printf("%s %s\n", stamp, line);
        fflush(stdout);
}

static void show(Top *t) {
        if (t->tty)
                draw(t);
        else
                print_line(t);
}

/* The bus */

static int on_refresh(sd_event_source *source, void *userdata) {
        Top *t = userdata;
        MonPool fresh;

        if (!t->bus)
                return 0;
        if (mon_read(t->bus, t->session, true, &fresh, t->message, sizeof t->message) < 0) {
                mon_free(&t->pool);
                t->have_pool = false;
        } else {
                mon_free(&t->pool);
                t->pool = fresh;
                t->have_pool = true;
                if (strncmp(t->message, "steve", 5) == 0 || strncmp(t->message, "cannot", 6) == 0 ||
                    strncmp(t->message, "lost", 4) == 0)
                        t->message[0] = '\0';
        }
        show(t);
        return 0;
}

static int on_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        schedule_refresh(userdata);
        return 0;
}

static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Top *t = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 || strcmp(name, MON_SERVICE) != 0)
                return 0;
        if (!new_owner[0])
                snprintf(t->message, sizeof t->message, "steve left the bus; waiting for it to come back");
        schedule_refresh(t);
        return 0;
}

static int connect_bus(Top *t);

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Top *t = userdata;
        uint64_t now;

        snprintf(t->message, sizeof t->message, "lost the bus; reconnecting");
        /* Not freed inside its own dispatch: the reconnect timer does it. */
        t->dead = t->bus;
        t->bus = NULL;
        mon_free(&t->pool);
        t->have_pool = false;
        (void) sd_event_now(t->event, CLOCK_MONOTONIC, &now);
        (void) sd_event_source_set_time(t->reconnect, now + 1000000);
        (void) sd_event_source_set_enabled(t->reconnect, SD_EVENT_ONESHOT);
        show(t);
        return 0;
}

static int on_reconnect(sd_event_source *source, uint64_t usec, void *userdata) {
        Top *t = userdata;

        t->dead = sd_bus_flush_close_unref(t->dead);
        if (connect_bus(t) < 0) {
                (void) sd_event_source_set_time(t->reconnect, usec + 1000000);
                return sd_event_source_set_enabled(t->reconnect, SD_EVENT_ONESHOT);
        }
        schedule_refresh(t);
        return 0;
}

static int connect_bus(Top *t) {
        sd_bus *bus = NULL;
        int r = t->session ? sd_bus_open_user(&bus) : sd_bus_open_system(&bus);

        if (r >= 0)
                r = sd_bus_attach_event(bus, t->event, 0);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, NULL, MON_PATH, "org.freedesktop.DBus.Properties",
                                        "PropertiesChanged", on_changed, t);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "NameOwnerChanged", on_owner_changed, t);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                        "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, t);
        if (r < 0) {
                snprintf(t->message, sizeof t->message, "cannot reach the %s bus: %s",
                         t->session ? "session" : "system", strerror(-r));
                sd_bus_flush_close_unref(bus);
                return r;
        }
        t->bus = bus;
        return 0;
}

/* Actions: polkit decides; a refusal is shown. */

static int on_action_done(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Top *t = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (e)
                snprintf(t->message, sizeof t->message, "refused: %s", e->message ? e->message : e->name);
        show(t);
        return 0;
}

static void toggle_pause(Top *t) {
        if (!t->bus || !t->have_pool)
                return;
        snprintf(t->message, sizeof t->message, "%s...", t->pool.params.paused ? "resuming" : "pausing");
        (void) sd_bus_call_method_async(t->bus, NULL, MON_SERVICE, MON_PATH, "org.freedesktop.DBus.Properties",
                                        "Set", on_action_done, t, "ssv", MON_INTERFACE, "Paused", "b",
                                        (int) !t->pool.params.paused);
}

static void reclaim_selected(Top *t) {
        uint32_t pid;

        if (!t->bus || !t->have_pool || t->selected >= t->pool.n_processes)
                return;
        pid = t->pool.processes[t->selected].pid;
        snprintf(t->message, sizeof t->message, "reclaiming the tokens of pid %" PRIu32 "...", pid);
        (void) sd_bus_call_method_async(t->bus, NULL, MON_SERVICE, MON_PATH, MON_INTERFACE, "ReclaimTokens",
                                        on_action_done, t, "u", pid);
}

static int on_key(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Top *t = userdata;
        int c;

        while ((c = getch()) != ERR) {
                if (c == 'q' || c == 'Q')
                        return sd_event_exit(t->event, 0);
                if ((c == KEY_UP || c == 'k') && t->selected > 0)
                        t->selected--;
                else if ((c == KEY_DOWN || c == 'j') && t->selected + 1 < t->pool.n_processes)
                        t->selected++;
                else if (c == 'p')
                        toggle_pause(t);
                else if (c == 'r')
                        reclaim_selected(t);
        }
        draw(t);
        return 0;
}

static int on_resize(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata) {
        struct winsize ws;

        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
                resizeterm(ws.ws_row, ws.ws_col);
        draw(userdata);
        return 0;
}

static int setup(Top *t) {
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGWINCH);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        r = sd_event_default(&t->event);
        if (r >= 0)
                r = sd_event_add_signal(t->event, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(t->event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0 && t->tty)
                r = sd_event_add_signal(t->event, NULL, SIGWINCH, on_resize, t);
        if (r >= 0 && t->tty)
                r = sd_event_add_io(t->event, NULL, STDIN_FILENO, EPOLLIN, on_key, t);
        if (r >= 0)
                r = sd_event_add_defer(t->event, &t->refresh, on_refresh, t);
        if (r >= 0)
                r = sd_event_add_time(t->event, &t->reconnect, CLOCK_MONOTONIC, UINT64_MAX, 0, on_reconnect, t);
        if (r >= 0)
                r = sd_event_source_set_enabled(t->reconnect, SD_EVENT_OFF);
        return r;
}

int mon_top(bool session) {
        Top t = { .session = session, .tty = isatty(STDOUT_FILENO) && isatty(STDIN_FILENO) };
        int r;

        setlocale(LC_ALL, "");
        t.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
        r = setup(&t);
        if (r < 0) {
                fprintf(stderr, "stevie: cannot set up: %s\n", strerror(-r));
                return 1;
        }
        if (connect_bus(&t) < 0) {
                fprintf(stderr, "stevie: %s\n", t.message);
                sd_event_unref(t.event);
                return 1;
        }
        if (t.tty) {
                initscr();
                cbreak();
                noecho();
                nodelay(stdscr, TRUE);
                keypad(stdscr, TRUE);
                curs_set(0);
        }
        r = sd_event_loop(t.event);
        if (t.tty)
                endwin();
        mon_free(&t.pool);
        sd_bus_flush_close_unref(t.bus);
        sd_bus_flush_close_unref(t.dead);
        sd_event_source_unref(t.refresh);
        sd_event_source_unref(t.reconnect);
        sd_event_unref(t.event);
        return r < 0 ? 1 : 0;
}
