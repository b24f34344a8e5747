/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A client of steve that stalls its own mmap lock, as any user can:
 *   stall-client JOBSERVER FILE
 * takes a token from JOBSERVER and says "holding"; maps FILE, on a FUSE file
 * system whose reads never answer (stallfs), and reads it through
 * /proc/self/mem in one thread: that page fault waits forever with the mmap
 * lock held for reading. Another thread then asks for an mmap(), which
 * queues for the lock for writing; from then on every reader of the lock
 * waits too, steve reading /proc/PID/cmdline among them. Says "stalled" and
 * waits to be killed.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static char *mapping;
static int go_read[2], go_map[2];

static void *reader(void *unused) {
        char c;
        int mem;

        if (read(go_read[0], &c, 1) != 1)
                return NULL;
        mem = open("/proc/self/mem", O_RDONLY);
        (void) !pread(mem, &c, 1, (off_t) (uintptr_t) mapping);
        return NULL;
}

static void *mapper(void *unused) {
        char c;

        if (read(go_map[0], &c, 1) == 1)
                (void) mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return NULL;
}

static void pause_a_little(void) {
        struct timespec ts = { .tv_nsec = 300 * 1000 * 1000 };
        nanosleep(&ts, NULL);
}

int main(int argc, char *argv[]) {
        static const char holding[] = "holding\n", stalled[] = "stalled\n";
        pthread_t a, b;
        char token;
        int node, file;

        if (argc != 3) {
                fprintf(stderr, "usage: stall-client JOBSERVER FILE\n");
                return 2;
        }
        node = open(argv[1], O_RDWR);
        if (node < 0 || read(node, &token, 1) != 1) {
                perror("stall-client: no token");
                return 1;
        }
        (void) !write(1, holding, sizeof holding - 1);
        file = open(argv[2], O_RDONLY);
        mapping = file < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ, MAP_SHARED, file, 0);
        if (mapping == MAP_FAILED || pipe(go_read) < 0 || pipe(go_map) < 0) {
                perror("stall-client: cannot map");
                return 1;
        }
        /* Both threads (and their stacks) exist before the lock is taken: from
         * then on nothing here may need it. */
        if (pthread_create(&a, NULL, reader, NULL) != 0 || pthread_create(&b, NULL, mapper, NULL) != 0)
                return 1;
        (void) !write(go_read[1], "x", 1);
        pause_a_little();
        (void) !write(go_map[1], "x", 1);
        pause_a_little();
        (void) !write(1, stalled, sizeof stalled - 1);
        for (;;)
                pause();
}
