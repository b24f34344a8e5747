/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The config file reader (inih plus options.c) on arbitrary text: any input
 * either applies or is refused with a message, and what it kept is freed.
 * Run with -close_fd_mask=2: every refusal is logged to stderr.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Options o = options_defaults();
        FILE *file;

        if (size == 0)
                return 0;
        file = fmemopen((void *) data, size, "r");
        if (!file)
                return 0;
        if (options_read_config(file, "fuzz.conf", &o) == PARSE_RUN) {
                /* What the file set went through the same parsers as the
                 * command line; those keep every value in range. */
                if (o.params.jobs == 0 || o.params.jobs > JOBS_MAX)
                        abort();
                (void) params_invalid(&o.params);
        }
        fclose(file);
        options_done(&o);
        return 0;
}
