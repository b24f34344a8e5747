/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "bus.h"
#include "handover.h"
#include "log.h"
#include "notify.h"
#include "options.h"
#include "jobserver.h"
#include "persist.h"
#include "report.h"
#include "server.h"
#include "sysload.h"
#include "transport.h"
#include "util.h"

#define EXIT_USAGE 2

typedef struct Daemon {
        Options *options;
        int argc;
        char **argv;
        char *exe;                      /* this program's path, for a re-exec (a newer one, after an upgrade) */
        sd_event *event;
        Auth *auth;
        Server *server;
        Transport *transport;
        Bus *bus;
        Notify *notify;
        Handover *handover;
        sd_event_source *reexec_source;
        bool adopted;
} Daemon;

/* The misc devices a service manager may hand over (Documentation/admin-guide/devices.txt). */
#define MISC_MAJOR 10
#define CUSE_MINOR 203
#define FUSE_MINOR 229

typedef enum PassedKind { PASSED_NONE, PASSED_CUSE, PASSED_FUSE } PassedKind;

static void on_ready(const char *where, void *userdata) {
        Daemon *d = userdata;
        log_notice("running on %s for %" PRIu32 " jobs", where, server_params(d->server)->jobs);
        if (d->adopted)
                persist_wake_adopted_pollers(d->server);
        notify_node_ready(d->notify);
}

static void on_bus_settled(void *userdata) {
        Daemon *d = userdata;
        notify_bus_settled(d->notify);
}

static void on_server_settled(void *userdata) {
        Daemon *d = userdata;
        bus_server_changed(d->bus);
        notify_server_changed(d->notify);
}

static const ServerObserver daemon_observer = {
        .settled = on_server_settled,
};

static int on_stop_signal(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;

        notify_stopping(d->notify);
        if (handover_keeps(d->handover)) {
                /* The socket unit keeps the connection: the next steve answers. */
                log_notice("%s received, stopping; %s and every token stay for the next steve",
                           strsignal((int) si->ssi_signo), transport_where(d->transport));
                server_hand_over(d->server);
        } else {
                log_notice("%s received, stopping", strsignal((int) si->ssi_signo));
                server_shutdown(d->server);
        }
        return sd_event_exit(d->event, 0);
}

/* In an iteration of its own, after the one that asked committed and
 * answered. */
static int on_reexec(sd_event_source *source, void *userdata) {
        Daemon *d = userdata;

        bus_flush(d->bus);
        (void) handover_reexec(d->handover, d->server, d->transport, d->exe, d->argv);
        return 0;
}

static void request_reexec(void *userdata) {
        Daemon *d = userdata;

        (void) sd_event_source_set_enabled(d->reexec_source, SD_EVENT_ONESHOT);
}

static int on_reexec_signal(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata) {
        request_reexec(userdata);
        return 0;
}

static bool same_string(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

/* What a reload cannot change: the node and who steve is are set up once. */
static void warn_restart_only(const Options *old, const Options *new) {
        const struct { const char *name; bool same; } settings[] = {
                { "dev-name", same_string(old->dev_name, new->dev_name) },
                { "path", same_string(old->path, new->path) },
                { "fallback-path", same_string(old->fallback_path, new->fallback_path) },
                { "user", same_string(old->user, new->user) },
                { "owner", old->node_uid == new->node_uid },
                { "group", old->node_gid == new->node_gid },
                { "mode", old->node_mode == new->node_mode },
                { "bus", old->bus == new->bus },
                { "state-file", same_string(old->state_file, new->state_file) },
        };

        for (size_t i = 0; i < ELEMENTSOF(settings); i++)
                if (!settings[i].same)
                        log_warning("%s changed; it takes effect when steve restarts", settings[i].name);
}

/* SIGHUP: the config file and the command line again, as at start. Changes
 * made since over D-Bus or ioctls give way to them, except a pause. */
static int on_reload_signal(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;
        const char *error = NULL;
        Options fresh;
        Params configured;

        notify_reloading(d->notify);
        if (options_parse(d->argc, d->argv, &fresh) != PARSE_RUN) {
                log_error("Reload failed; keeping the settings steve runs with");
                goto done;
        }
        configured = fresh.params;
        fresh.params.paused = server_params(d->server)->paused;
        if (server_set_params(d->server, &fresh.params, &error) < 0) {
                log_error("Reload failed (%s); keeping the settings steve runs with", error);
                options_done(&fresh);
                goto done;
        }
        persist_set_configured(d->server, &configured);
        warn_restart_only(d->options, &fresh);
        log_set_max_level(fresh.log_level);
        options_done(d->options);
        *d->options = fresh;
        log_notice("Reloaded: %" PRIu32 " jobs", fresh.params.jobs);
done:
        notify_reloaded(d->notify);
        return 0;
}

static int on_report_signal(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;
        report_to_log(d->server);
        return 0;
}

/* One pidfd per client process: a large build needs thousands. */
static void raise_fd_limit(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        log_warning_errno(errno, "Failed to raise the file limit: %m");
        }
}

static int drop_privileges(const char *user) {
        struct passwd *pw = getpwnam(user);

        if (!pw)
                return log_error_errno(ESRCH, "User %s vanished", user);
        /* Re-executed, it is that user already. */
        if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid && getuid() != 0)
                return 0;
        if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
            setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
                return log_error_errno(errno, "Failed to become %s: %m", user);
        if (pw->pw_uid != 0 && setuid(0) == 0)
                return log_error_errno(EPERM, "Could regain root after dropping to %s", user);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return log_error_errno(errno, "Failed to set no_new_privs: %m");
        log_info("running as %s", user);
        return 0;
}

static void ignore_signal(int sig) {
}

static int setup_signals(Daemon *d) {
        static const int signals[] = { SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGHUP };
        struct sigaction handled = { .sa_handler = ignore_signal };
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        for (size_t i = 0; i < ELEMENTSOF(signals); i++) {
                sigaddset(&mask, signals[i]);
                /* Blocked, they go to signalfd; but the first process of a pid
                 * namespace (steve as a container's init) is sent only those
                 * signals it has a handler for. */
                sigaction(signals[i], &handled, NULL);
        }
        sigprocmask(SIG_BLOCK, &mask, NULL);
        r = sd_event_add_signal(d->event, NULL, SIGINT, on_stop_signal, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGTERM, on_stop_signal, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGUSR1, on_report_signal, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGHUP, on_reload_signal, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGUSR2, on_reexec_signal, d);
        if (r >= 0)
                r = sd_event_add_defer(d->event, &d->reexec_source, on_reexec, d);
        if (r >= 0)
                r = sd_event_source_set_enabled(d->reexec_source, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_source_set_priority(d->reexec_source, SD_EVENT_PRIORITY_IDLE);
        return r < 0 ? log_error_errno(r, "Failed to watch signals: %m") : 0;
}

/* Socket activation (units/steve.socket): systemd opened /dev/cuse, or a
 * test mounted /dev/fuse, and passed the fd, so steve needs no privilege. */
static int passed_device(int *ret_fd, PassedKind *ret_kind) {
        const char *device;
        struct stat st;
        int n = sd_listen_fds(true);

        *ret_fd = -1;
        *ret_kind = PASSED_NONE;
        if (n < 0)
                return log_error_errno(n, "Bad file descriptors passed by the service manager: %m");
        if (n == 0)
                return 0;
        if (n > 1)
                return log_error_errno(EINVAL, "%d file descriptors passed; steve takes one, /dev/cuse or /dev/fuse", n);
        if (fstat(SD_LISTEN_FDS_START, &st) < 0)
                return log_error_errno(errno, "Cannot inspect the passed file descriptor: %m");
        if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != MISC_MAJOR ||
            (minor(st.st_rdev) != CUSE_MINOR && minor(st.st_rdev) != FUSE_MINOR))
                return log_error_errno(EINVAL, "The passed file descriptor is neither /dev/cuse nor /dev/fuse");
        device = minor(st.st_rdev) == CUSE_MINOR ? "/dev/cuse" : "/dev/fuse";
        /* systemd opens ListenSpecial= files read-only unless Writable=yes. */
        if ((fcntl(SD_LISTEN_FDS_START, F_GETFL) & O_ACCMODE) != O_RDWR)
                return log_error_errno(EBADF, "The passed %s is not open for reading and writing "
                                       "(Writable=yes in the socket unit)", device);
        log_notice("serving the %s passed by the service manager", device);
        *ret_kind = minor(st.st_rdev) == CUSE_MINOR ? PASSED_CUSE : PASSED_FUSE;
        *ret_fd = SD_LISTEN_FDS_START;
        return 0;
}

/* A connection passed by the service manager or a re-exec'ing steve: fresh,
 * or set up by a steve before, whose pool is then adopted. */
static int setup_passed(Daemon *d, PassedKind kind, int fd) {
        const Options *o = d->options;
        FuseNode node = { .uid = o->node_uid, .gid = o->node_gid, .mode = o->node_mode, .fd = fd, .path = o->path };
        int r;

        if (kind == PASSED_FUSE) {
                if (!o->path)
                        return log_error_errno(EINVAL, "A passed /dev/fuse needs --path, where it is mounted");
                r = transport_new_fuse(d->event, d->server, &node, on_ready, d, &d->transport);
        } else
                r = transport_new_cuse(d->event, d->server, o->dev_name, fd, on_ready, d, &d->transport);
        if (r < 0)
                return r;
        return handover_adopt(d->handover, d->server, d->transport, &d->adopted);
}

static int setup_transport(Daemon *d) {
        const Options *o = d->options;
        FuseNode node = { .uid = o->node_uid, .gid = o->node_gid, .mode = o->node_mode, .fd = -1 };
        PassedKind kind;
        int fd, r;

        fd = handover_passed_fd(d->handover);
        if (fd >= 0)
                return setup_passed(d, o->path ? PASSED_FUSE : PASSED_CUSE, fd);
        r = passed_device(&fd, &kind);
        if (r < 0)
                return r;
        if (kind != PASSED_NONE) {
                /* The socket unit keeps it open when steve stops. */
                handover_set_keep(d->handover, true);
                return setup_passed(d, kind, fd);
        }
        r = handover_begin(d->handover, d->server);
        if (r < 0)
                return r;

        node.path = o->path;
        if (!node.path && o->fallback_path && access("/dev/cuse", F_OK) < 0) {
                log_notice("/dev/cuse does not exist (kernel without CONFIG_CUSE?); "
                           "serving over FUSE at %s instead", o->fallback_path);
                node.path = o->fallback_path;
        }
        if (node.path)
                return transport_new_fuse(d->event, d->server, &node, on_ready, d, &d->transport);
        return transport_new_cuse(d->event, d->server, o->dev_name, -1, on_ready, d, &d->transport);
}

static int failed(int r, const char *what) {
        (void) log_error_errno(r, "Failed to %s: %m", what);
        return 1;
}

/* Each part, in the order they need each other; 0, or the exit status. */
static int start_parts(Daemon *d, const char *proc) {
        Options *o = d->options;
        int r;

        if (handover_new(o->state_file, &d->handover) < 0)
                return EXIT_USAGE;
        r = sd_event_new(&d->event);
        if (r < 0)
                return failed(r, "create the event loop");
        r = auth_new(d->event, &d->auth);
        if (r < 0)
                return failed(r, "set up authorization");
        r = jobserver_new(d->event, &o->params, proc, d->auth, &d->server);
        if (r < 0)
                return failed(r, "set up the jobserver");
        r = notify_new(d->event, d->server, &d->notify);
        if (r < 0)
                return failed(r, "set up service manager notification");
        r = server_observe(d->server, &daemon_observer, d);
        if (r < 0)
                return failed(r, "watch the jobserver");
        server_set_reexec(d->server, request_reexec, d);
        if (setup_transport(d) < 0)
                return EXIT_USAGE;
        /* After mounting: fusermount3, forked there, must not inherit blocked signals. */
        if (setup_signals(d) < 0)
                return 1;
        if (o->user && drop_privileges(o->user) < 0)
                return 1;
        /* After dropping privileges: the bus sees the user steve runs as. */
        r = bus_new(d->event, d->server, d->auth, o->bus, transport_where(d->transport), on_bus_settled, d, &d->bus);
        if (r < 0)
                return failed(r, "set up D-Bus");
        return 0;
}

static void stop_parts(Daemon *d) {
        d->bus = bus_free(d->bus);
        d->server = jobserver_free(d->server);
        d->transport = transport_free(d->transport);
        d->notify = notify_free(d->notify);
        d->auth = auth_free(d->auth);
        sd_event_source_disable_unref(d->reexec_source);
        d->event = sd_event_unref(d->event);
        d->handover = handover_free(d->handover);
}

static int run(Options *o, int argc, char *argv[]) {
        Daemon d = { .options = o, .argc = argc, .argv = argv };
        /* Tests point this at a directory of stand-in loadavg, meminfo and pressure files. */
        const char *proc = getenv("STEVE_PROC") ?: "/proc";
        const char *unsupported = sysload_unsupported(proc, &o->params);
        int status;

        if (unsupported) {
                log_error("%s", unsupported);
                return EXIT_USAGE;
        }
        raise_fd_limit();
        /* By the name it was run as: after an upgrade, that is the new binary
         * (and under valgrind, steve rather than the tool). */
        d.exe = strchr(argv[0], '/') ? realpath(argv[0], NULL) : realpath("/proc/self/exe", NULL);
        status = start_parts(&d, proc);
        if (status == 0) {
                int r = sd_event_loop(d.event);
                status = r < 0 ? 1 : r;
        }
        stop_parts(&d);
        free(d.exe);
        return status;
}

int main(int argc, char *argv[]) {
        Options options;
        int status;

        log_open();
        switch (options_parse(argc, argv, &options)) {
        case PARSE_EXIT_OK:
                return 0;
        case PARSE_EXIT_USAGE:
                return EXIT_USAGE;
        case PARSE_RUN:
                break;
        }
        log_set_max_level(options.log_level);
        status = run(&options, argc, argv);
        options_done(&options);
        return status;
}
