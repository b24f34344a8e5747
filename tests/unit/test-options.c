/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>

#include "options.h"
#include "test.h"

TEST(jobs_accepts_plain_positive_numbers_only) {
        uint32_t j = 0;
        CHECK_EQ(parse_jobs("12", &j), 0);
        CHECK_EQ(j, 12);
        CHECK_EQ(parse_jobs("65536", &j), 0);
        CHECK_EQ(parse_jobs("0", &j), -ERANGE);
        CHECK_EQ(parse_jobs("65537", &j), -ERANGE);
        CHECK_EQ(parse_jobs("-1", &j), -EINVAL);
        CHECK_EQ(parse_jobs("+3", &j), -EINVAL);
        CHECK_EQ(parse_jobs("x", &j), -EINVAL);
        CHECK_EQ(parse_jobs("4x", &j), -EINVAL);
        CHECK_EQ(parse_jobs("", &j), -EINVAL);
        CHECK_EQ(parse_jobs("99999999999999999999999", &j), -EINVAL);
        CHECK_EQ(j, 65536);
}

TEST(mode_is_octal_up_to_0777) {
        mode_t m = 0;
        CHECK_EQ(parse_mode("0660", &m), 0);
        CHECK_EQ(m, 0660);
        CHECK_EQ(parse_mode("666", &m), 0);
        CHECK_EQ(m, 0666);
        CHECK_EQ(parse_mode("1777", &m), -EINVAL);
        CHECK_EQ(parse_mode("0689", &m), -EINVAL);
        CHECK_EQ(parse_mode("rw", &m), -EINVAL);
        CHECK_EQ(parse_mode("-1", &m), -EINVAL);
}

TEST(seconds_are_positive_and_finite) {
        uint64_t u = 0;
        CHECK_EQ(parse_seconds("0.5", &u), 0);
        CHECK_EQ(u, 500000);
        CHECK_EQ(parse_seconds("2", &u), 0);
        CHECK_EQ(u, 2000000);
        CHECK_EQ(parse_seconds("0", &u), -EINVAL);
        CHECK_EQ(parse_seconds("-1", &u), -EINVAL);
        CHECK_EQ(parse_seconds("nan", &u), -EINVAL);
        CHECK_EQ(parse_seconds("inf", &u), -EINVAL);
        CHECK_EQ(parse_seconds("1e-9", &u), -EINVAL);
        CHECK_EQ(parse_seconds("1s", &u), -EINVAL);
}

TEST(dev_name_stays_inside_dev) {
        CHECK_EQ(parse_dev_name("steve"), 0);
        CHECK_EQ(parse_dev_name("steve.test-1"), 0);
        CHECK_EQ(parse_dev_name("../etc/x"), -EINVAL);
        CHECK_EQ(parse_dev_name("a/b"), -EINVAL);
        CHECK_EQ(parse_dev_name(".hidden"), -EINVAL);
        CHECK_EQ(parse_dev_name(""), -EINVAL);
        CHECK_EQ(parse_dev_name("a b"), -EINVAL);
}

TEST(options_defaults_and_conflicts) {
        Options o;
        char *ok[] = { "steve", "-j", "3", "--path", "/tmp/x", "--mode", "0600", NULL };
        char *conflict[] = { "steve", "--path", "/a", "--fallback-path", "/b", NULL };
        char *bad_user[] = { "steve", "--user", "no-such-user-hopefully", NULL };
        char *extra[] = { "steve", "surplus", NULL };

        CHECK_EQ(options_parse(7, ok, &o), PARSE_RUN);
        CHECK_EQ(o.jobs, 3);
        CHECK_EQ(o.node_mode, 0600);
        CHECK_EQ(o.reservation_timeout, 500000);
        CHECK(o.path && o.dev_name);
        CHECK_EQ(options_parse(5, conflict, &o), PARSE_EXIT_USAGE);
        CHECK_EQ(options_parse(3, bad_user, &o), PARSE_EXIT_USAGE);
        CHECK_EQ(options_parse(2, extra, &o), PARSE_EXIT_USAGE);
}

int main(void) {
        return test_run_all();
}
