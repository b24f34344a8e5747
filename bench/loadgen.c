/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * loadgen: P processes (T threads each) acquiring and releasing jobserver
 * tokens in a loop, the way make 4.4 does (non-blocking read, poll() on
 * EAGAIN) or the way the Rust jobserver crate does (blocking read). Prints
 * one line of key=value results: cycles per second over the whole run and
 * percentiles of the time an acquire took.
 *
 *   loadgen --path PATH [--procs P] [--threads T] [--cycles N] [--mode make|rust] [--builds B]
 *                                       with B, the processes are B builds: each
 *                                       under a leader that has the jobserver open
 *   loadgen --path PATH --reclaim N     time from SIGKILL of a holder to the
 *                                       next waiter's token, N times
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RECLAIM_MAX 10000

typedef struct Config {
        const char *path;
        unsigned procs, threads, cycles, reclaim, builds;
        bool make_style;
} Config;

typedef struct Worker {
        const Config *config;
        uint64_t *latencies;            /* cycles of them, in shared memory */
        int failed;
} Worker;

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* make 4.4: non-blocking read; on EAGAIN wait in poll() and try again. */
static int acquire_make(int rfd, char *token) {
        struct pollfd p = { .fd = rfd, .events = POLLIN };

        for (;;) {
                ssize_t n = read(rfd, token, 1);
                if (n == 1)
                        return 0;
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        return -errno;
                if (n < 0 && errno == EAGAIN && poll(&p, 1, -1) < 0 && errno != EINTR)
                        return -errno;
        }
}

static int acquire_rust(int rfd, char *token) {
        for (;;) {
                ssize_t n = read(rfd, token, 1);
                if (n == 1)
                        return 0;
                if (n < 0 && errno != EINTR)
                        return -errno;
        }
}

static void *run_worker(void *userdata) {
        Worker *w = userdata;
        const Config *c = w->config;
        int rfd = open(c->path, c->make_style ? O_RDONLY | O_NONBLOCK : O_RDWR);
        int wfd = open(c->path, c->make_style ? O_WRONLY : O_RDWR);
        char token;

        if (rfd < 0 || wfd < 0) {
                w->failed = errno;
                return NULL;
        }
        for (unsigned i = 0; i < c->cycles; i++) {
                uint64_t t0 = now_ns();
                int r = c->make_style ? acquire_make(rfd, &token) : acquire_rust(rfd, &token);
                if (r < 0) {
                        w->failed = -r;
                        break;
                }
                w->latencies[i] = now_ns() - t0;
                if (write(wfd, &token, 1) != 1) {
                        w->failed = errno;
                        break;
                }
        }
        close(rfd);
        close(wfd);
        return NULL;
}

/* One client process: its threads share its tokens, as a build tool's do. */
static int run_process(const Config *c, uint64_t *latencies, int start_fd) {
        pthread_t threads[64];
        Worker workers[64];
        char go;
        int failed = 0;

        if (read(start_fd, &go, 1) < 0)
                return 1;
        if (c->threads == 1) {          /* like make: the main thread does it all */
                workers[0] = (Worker) { .config = c, .latencies = latencies };
                run_worker(&workers[0]);
                if (workers[0].failed)
                        fprintf(stderr, "loadgen: %s\n", strerror(workers[0].failed));
                return workers[0].failed ? 1 : 0;
        }
        for (unsigned t = 0; t < c->threads; t++) {
                workers[t] = (Worker) { .config = c, .latencies = latencies + (size_t) t * c->cycles };
                if (pthread_create(&threads[t], NULL, run_worker, &workers[t]) != 0)
                        return 1;
        }
        for (unsigned t = 0; t < c->threads; t++) {
                pthread_join(threads[t], NULL);
                if (workers[t].failed)
                        failed = workers[t].failed;
        }
        if (failed)
                fprintf(stderr, "loadgen: %s\n", strerror(failed));
        return failed ? 1 : 0;
}

static int compare_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return (x > y) - (x < y);
}

static double percentile(const uint64_t *sorted, size_t n, double p) {
        size_t i = (size_t) (p / 100.0 * (double) (n - 1) + 0.5);
        return (double) sorted[i < n ? i : n - 1] / 1000.0;
}

/* Forks processes first..last-1, which wait for start; 0 when all were forked. */
static int fork_processes(const Config *c, uint64_t *latencies, unsigned first, unsigned last, int start[2]) {
        for (unsigned p = first; p < last; p++) {
                pid_t pid = fork();
                if (pid < 0)
                        return perror("loadgen: fork"), 1;
                if (pid == 0) {
                        close(start[1]);
                        _exit(run_process(c, latencies + (size_t) p * c->threads * c->cycles, start[0]));
                }
        }
        return 0;
}

static int wait_all(void) {
        int failed = 0, status;

        while (wait(&status) > 0)
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        failed = 1;
        return failed;
}

/* A build's leader: a client (it has the jobserver open) whose children are
 * its build's processes, as a top make's sub-makes are. */
static int run_leader(const Config *c, uint64_t *latencies, unsigned b, int start[2], int ready) {
        int fd = open(c->path, O_RDWR);
        unsigned first = (unsigned) ((uint64_t) c->procs * b / c->builds);
        unsigned last = (unsigned) ((uint64_t) c->procs * (b + 1) / c->builds);

        if (fd < 0)
                return perror("loadgen: leader"), 1;
        if (fork_processes(c, latencies, first, last, start) != 0 || write(ready, "x", 1) != 1)
                return 1;
        close(start[0]);
        close(start[1]);
        return wait_all();
}

static int start_builds(const Config *c, uint64_t *latencies, int start[2]) {
        int ready[2];
        char x;

        if (pipe(ready) < 0)
                return perror("loadgen"), 1;
        for (unsigned b = 0; b < c->builds; b++) {
                pid_t pid = fork();
                if (pid < 0)
                        return perror("loadgen: fork"), 1;
                if (pid == 0)
                        _exit(run_leader(c, latencies, b, start, ready[1]));
        }
        for (unsigned b = 0; b < c->builds; b++)
                if (read(ready[0], &x, 1) != 1)
                        return fprintf(stderr, "loadgen: a leader failed\n"), 1;
        close(ready[0]);
        close(ready[1]);
        return 0;
}

static int run_load(const Config *c) {
        size_t n = (size_t) c->procs * c->threads * c->cycles;
        uint64_t *latencies = mmap(NULL, n * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        int start[2], failed = 0, r;
        uint64_t t0, elapsed;

        if (latencies == MAP_FAILED || pipe(start) < 0)
                return perror("loadgen"), 1;
        r = c->builds ? start_builds(c, latencies, start) : fork_processes(c, latencies, 0, c->procs, start);
        if (r != 0)
                return r;
        close(start[0]);
        t0 = now_ns();
        close(start[1]);                /* everyone starts now */
        failed = wait_all();
        elapsed = now_ns() - t0;
        if (failed)
                return 1;
        qsort(latencies, n, sizeof(uint64_t), compare_u64);
        printf("cycles=%zu seconds=%.6f cycles_per_second=%.1f p50_us=%.2f p99_us=%.2f p999_us=%.2f\n",
               n, (double) elapsed / 1e9, (double) n / ((double) elapsed / 1e9), percentile(latencies, n, 50),
               percentile(latencies, n, 99), percentile(latencies, n, 99.9));
        return 0;
}

/* Holder takes a token and stops; a waiter blocks for it; the holder is
 * killed; the waiter notes when its read returned. */
static int run_reclaim(const Config *c) {
        uint64_t *stamp = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        static uint64_t samples[RECLAIM_MAX];
        int fd = open(c->path, O_RDWR);
        char token;

        if (stamp == MAP_FAILED || fd < 0)
                return perror("loadgen"), 1;
        /* Take all but one token away so the holder's is the only one. */
        while (fcntl(fd, F_SETFL, O_NONBLOCK) == 0 && read(fd, &token, 1) == 1)
                ;
        fcntl(fd, F_SETFL, 0);
        for (unsigned i = 0; i < c->reclaim; i++) {
                int ready[2];
                pid_t holder, waiter;

                if (pipe(ready) < 0 || write(fd, &token, 1) != 1)
                        return perror("loadgen"), 1;
                holder = fork();
                if (holder == 0) {
                        int h = open(c->path, O_RDWR);
                        if (h < 0 || read(h, &token, 1) != 1 || write(ready[1], "x", 1) != 1)
                                _exit(1);
                        pause();
                        _exit(0);
                }
                if (read(ready[0], &token, 1) != 1)
                        return fprintf(stderr, "loadgen: holder failed\n"), 1;
                waiter = fork();
                if (waiter == 0) {
                        int h = open(c->path, O_RDWR);
                        if (h < 0 || read(h, &token, 1) != 1)
                                _exit(1);
                        *stamp = now_ns();
                        _exit(0);
                }
                usleep(20000);          /* let the waiter queue */
                uint64_t t0 = now_ns();
                kill(holder, SIGKILL);
                waitpid(holder, NULL, 0);
                waitpid(waiter, NULL, 0);
                samples[i] = *stamp - t0;
                if (read(fd, &token, 1) != 1)   /* the waiter's token came back at its exit */
                        return perror("loadgen"), 1;
                close(ready[0]);
                close(ready[1]);
        }
        qsort(samples, c->reclaim, sizeof(uint64_t), compare_u64);
        printf("reclaims=%u p50_us=%.1f max_us=%.1f\n", c->reclaim, percentile(samples, c->reclaim, 50),
               (double) samples[c->reclaim - 1] / 1000.0);
        return 0;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "path", required_argument, NULL, 'P' }, { "procs", required_argument, NULL, 'p' },
                { "threads", required_argument, NULL, 't' }, { "cycles", required_argument, NULL, 'n' },
                { "mode", required_argument, NULL, 'm' }, { "reclaim", required_argument, NULL, 'r' },
                { "builds", required_argument, NULL, 'b' },
                {}
        };
        Config c = { .procs = 1, .threads = 1, .cycles = 1000, .make_style = true };
        int o;

        while ((o = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (o) {
                case 'P': c.path = optarg; break;
                case 'p': c.procs = (unsigned) atoi(optarg); break;
                case 't': c.threads = (unsigned) atoi(optarg); break;
                case 'n': c.cycles = (unsigned) atoi(optarg); break;
                case 'r': c.reclaim = (unsigned) atoi(optarg); break;
                case 'b': c.builds = (unsigned) atoi(optarg); break;
                case 'm':
                        if (strcmp(optarg, "make") != 0 && strcmp(optarg, "rust") != 0)
                                return fprintf(stderr, "loadgen: --mode make or rust\n"), 2;
                        c.make_style = strcmp(optarg, "make") == 0;
                        break;
                default:
                        return 2;
                }
        }
        if (!c.path || c.procs < 1 || c.threads < 1 || c.threads > 64 || c.cycles < 1 || c.reclaim > RECLAIM_MAX ||
            c.builds > c.procs)
                return fprintf(stderr, "loadgen: --path PATH, --procs >= 1, --threads 1..64, --cycles >= 1, "
                                       "--reclaim up to 10000, --builds up to --procs\n"), 2;
        return c.reclaim ? run_reclaim(&c) : run_load(&c);
}
