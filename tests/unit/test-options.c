/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "options.h"
#include "parse.h"
#include "test.h"

TEST(options_defaults_and_conflicts) {
        Options o;
        char *ok[] = { "steve", "--no-config", "-j", "3", "--path", "/tmp/x", "--mode", "0600", NULL };
        char *conflict[] = { "steve", "--no-config", "--path", "/a", "--fallback-path", "/b", NULL };
        char *bad_user[] = { "steve", "--no-config", "--user", "no-such-user-hopefully", NULL };
        char *extra[] = { "steve", "--no-config", "surplus", NULL };

        CHECK_EQ(options_parse(8, ok, &o), PARSE_RUN);
        CHECK_EQ(o.params.jobs, 3);
        CHECK_EQ(o.node_mode, 0600);
        CHECK_EQ(o.params.reservation_timeout, 500000);
        CHECK_EQ(o.params.min_jobs, 1);
        CHECK_EQ(o.params.load_recheck_timeout, 500000);
        CHECK(o.params.load_average == 0 && !o.params.paused);
        CHECK(o.path && o.dev_name);
        CHECK_EQ(options_parse(6, conflict, &o), PARSE_EXIT_USAGE);
        CHECK_EQ(options_parse(4, bad_user, &o), PARSE_EXIT_USAGE);
        CHECK_EQ(options_parse(3, extra, &o), PARSE_EXIT_USAGE);
}

TEST(limit_options_fill_the_parameters) {
        Options o;
        char *limits[] = { "steve", "--no-config", "-l", "3.5", "--min-jobs", "0", "--min-memory-avail", "2G",
                           "--cpu-pressure", "40", "--memory-pressure", "12.5", "-p", "4",
                           "--load-recheck-timeout", "0.25", NULL };
        char *bad_load[] = { "steve", "--no-config", "-l", "nan", NULL };
        char *bad_pressure[] = { "steve", "--no-config", "--cpu-pressure", "101", NULL };
        char *bad_size[] = { "steve", "--no-config", "--min-memory-avail", "12X", NULL };

        CHECK_EQ(options_parse(16, limits, &o), PARSE_RUN);
        CHECK(o.params.load_average == 3.5);
        CHECK_EQ(o.params.min_jobs, 0);
        CHECK_EQ(o.params.min_memory_avail, UINT64_C(2) << 30);
        CHECK(o.params.cpu_pressure == 40 && o.params.memory_pressure == 12.5);
        CHECK_EQ(o.params.per_process_limit, 4);
        CHECK_EQ(o.params.load_recheck_timeout, 250000);
        CHECK_EQ(options_parse(4, bad_load, &o), PARSE_EXIT_USAGE);
        CHECK_EQ(options_parse(4, bad_pressure, &o), PARSE_EXIT_USAGE);
        CHECK_EQ(options_parse(4, bad_size, &o), PARSE_EXIT_USAGE);
}

TEST(a_config_file_is_read_and_the_command_line_wins) {
        char path[] = "/tmp/steve-test-options.XXXXXX";
        int fd = mkstemp(path);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        Options o;

        CHECK(f != NULL);
        if (!f)
                return;
        fputs("jobs = 5\nload-average = 7\n", f);
        fclose(f);
        char config[sizeof path + 16];
        snprintf(config, sizeof config, "--config=%s", path);
        char *argv[] = { "steve", config, "-l", "2", NULL };

        CHECK_EQ(options_parse(4, argv, &o), PARSE_RUN);
        CHECK_EQ(o.params.jobs, 5);
        CHECK(o.params.load_average == 2);
        options_done(&o);
        unlink(path);
}

int main(void) {
        return test_run_all();
}
