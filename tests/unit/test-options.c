/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>

#include "options.h"
#include "parse.h"
#include "test.h"

TEST(options_defaults_and_conflicts) {
        Options o;
        char *ok[] = { "steve", "-j", "3", "--path", "/tmp/x", "--mode", "0600", NULL };
        char *conflict[] = { "steve", "--path", "/a", "--fallback-path", "/b", NULL };
        char *bad_user[] = { "steve", "--user", "no-such-user-hopefully", NULL };
        char *extra[] = { "steve", "surplus", NULL };

        CHECK_EQ(options_parse(7, ok, &o), PARSE_RUN);
        CHECK_EQ(o.params.jobs, 3);
        CHECK_EQ(o.node_mode, 0600);
        CHECK_EQ(o.params.reservation_timeout, 500000);
        CHECK_EQ(o.params.min_jobs, 1);
        CHECK_EQ(o.params.load_recheck_timeout, 500000);
        CHECK(o.params.load_average == 0 && !o.params.paused);
        CHECK(o.path && o.dev_name);
        CHECK_EQ(options_parse(5, conflict, &o), PARSE_EXIT_USAGE);
        CHECK_EQ(options_parse(3, bad_user, &o), PARSE_EXIT_USAGE);
        CHECK_EQ(options_parse(2, extra, &o), PARSE_EXIT_USAGE);
}

TEST(limit_options_fill_the_parameters) {
        Options o;
        char *limits[] = { "steve", "-l", "3.5", "--min-jobs", "0", "--min-memory-avail", "2G",
                           "--cpu-pressure", "40", "--memory-pressure", "12.5", "-p", "4",
                           "--load-recheck-timeout", "0.25", NULL };
        char *bad_load[] = { "steve", "-l", "nan", NULL };
        char *bad_pressure[] = { "steve", "--cpu-pressure", "101", NULL };
        char *bad_size[] = { "steve", "--min-memory-avail", "12X", NULL };

        CHECK_EQ(options_parse(15, limits, &o), PARSE_RUN);
        CHECK(o.params.load_average == 3.5);
        CHECK_EQ(o.params.min_jobs, 0);
        CHECK_EQ(o.params.min_memory_avail, UINT64_C(2) << 30);
        CHECK(o.params.cpu_pressure == 40 && o.params.memory_pressure == 12.5);
        CHECK_EQ(o.params.per_process_limit, 4);
        CHECK_EQ(o.params.load_recheck_timeout, 250000);
        CHECK_EQ(options_parse(3, bad_load, &o), PARSE_EXIT_USAGE);
        CHECK_EQ(options_parse(3, bad_pressure, &o), PARSE_EXIT_USAGE);
        CHECK_EQ(options_parse(3, bad_size, &o), PARSE_EXIT_USAGE);
}

int main(void) {
        return test_run_all();
}
