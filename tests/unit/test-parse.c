/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>

#include "steve/steve-ioctl.h"

#include "params.h"
#include "parse.h"
#include "sysload.h"
#include "test.h"

TEST(whole_numbers_are_digits_only) {
        uint32_t j = 0;
        CHECK_EQ(parse_whole("12", &j), 0);
        CHECK_EQ(j, 12);
        CHECK_EQ(parse_whole("0", &j), 0);
        CHECK_EQ(j, 0);
        CHECK_EQ(parse_whole("4294967295", &j), 0);
        CHECK_EQ(parse_whole("4294967296", &j), -ERANGE);
        CHECK_EQ(parse_whole("-1", &j), -EINVAL);
        CHECK_EQ(parse_whole("+3", &j), -EINVAL);
        CHECK_EQ(parse_whole(" 5", &j), -EINVAL);
        CHECK_EQ(parse_whole(" -1", &j), -EINVAL);
        CHECK_EQ(parse_whole("x", &j), -EINVAL);
        CHECK_EQ(parse_whole("4x", &j), -EINVAL);
        CHECK_EQ(parse_whole("", &j), -EINVAL);
        CHECK_EQ(parse_whole("99999999999999999999999", &j), -EINVAL);
        CHECK_EQ(j, 4294967295u);
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
        CHECK_EQ(parse_mode(" 0600", &m), -EINVAL);
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

TEST(sizes_have_binary_units_and_default_to_mib) {
        uint64_t b = 0;
        CHECK_EQ(parse_size("512M", &b), 0);
        CHECK_EQ(b, UINT64_C(512) << 20);
        CHECK_EQ(parse_size("8G", &b), 0);
        CHECK_EQ(b, UINT64_C(8) << 30);
        CHECK_EQ(parse_size("1.5G", &b), 0);
        CHECK_EQ(b, UINT64_C(3) << 29);
        CHECK_EQ(parse_size("100", &b), 0);
        CHECK_EQ(b, UINT64_C(100) << 20);
        CHECK_EQ(parse_size("4KiB", &b), 0);
        CHECK_EQ(b, 4096);
        CHECK_EQ(parse_size("0", &b), 0);
        CHECK_EQ(b, 0);
        CHECK_EQ(parse_size("12X", &b), -EINVAL);
        CHECK_EQ(parse_size("-1G", &b), -EINVAL);
        CHECK_EQ(parse_size("G", &b), -EINVAL);
        CHECK_EQ(parse_size("1GG", &b), -EINVAL);
        CHECK_EQ(parse_size("99999999999T", &b), -ERANGE);
}

TEST(sizes_are_written_for_people_in_the_same_units) {
        char buf[16];

        format_size(UINT64_C(1536) << 20, buf, sizeof buf);
        CHECK(strcmp(buf, "1.5G") == 0);
        format_size(UINT64_C(512) << 20, buf, sizeof buf);
        CHECK(strcmp(buf, "512M") == 0);
        format_size(UINT64_C(2) << 40, buf, sizeof buf);
        CHECK(strcmp(buf, "2.0T") == 0);
        format_size(UINT64_C(3) << 50, buf, sizeof buf);
        CHECK(strcmp(buf, "3072T") == 0);
        format_size(1000, buf, sizeof buf);
        CHECK(strcmp(buf, "1000B") == 0);
}

TEST(numbers_are_finite_and_in_range) {
        double d = 0;
        CHECK_EQ(parse_number("2.5", 100, &d), 0);
        CHECK(d == 2.5);
        CHECK_EQ(parse_number("101", 100, &d), -ERANGE);
        CHECK_EQ(parse_number("-1", 100, &d), -ERANGE);
        CHECK_EQ(parse_number("nan", 100, &d), -EINVAL);
        CHECK_EQ(parse_number("inf", 100, &d), -EINVAL);
        CHECK_EQ(parse_number("1,5", 100, &d), -EINVAL);
}

TEST(proc_files_parse) {
        double d = 0;
        uint64_t b = 0;
        CHECK_EQ(sysload_parse_loadavg("3.25 2.00 1.00 2/300 12345\n", &d), 0);
        CHECK(d == 3.25);
        CHECK_EQ(sysload_parse_loadavg("garbage", &d), -EBADMSG);
        CHECK_EQ(sysload_parse_meminfo("MemTotal: 100 kB\nMemFree: 5 kB\nMemAvailable:   2048 kB\n", &b), 0);
        CHECK_EQ(b, 2048 * 1024);
        CHECK_EQ(sysload_parse_meminfo("MemTotal: 100 kB\n", &b), -EBADMSG);
        CHECK_EQ(sysload_parse_pressure("some avg10=12.50 avg60=1.00 avg300=0.00 total=1\n"
                                        "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", &d), 0);
        CHECK(d == 12.5);
        CHECK_EQ(sysload_parse_pressure("full avg10=1.00", &d), -EBADMSG);
}

TEST(limits_compare_as_documented) {
        Params p = { .jobs = 1, .load_average = 4, .min_memory_avail = 1000, .cpu_pressure = 50 };
        SysLoad calm = { .load1 = 3.99, .mem_available = 1000, .cpu_some_avg10 = 49.9 };
        SysLoad loaded = calm, short_of_memory = calm, pressed = calm;
        loaded.load1 = 4;
        short_of_memory.mem_available = 999;
        pressed.cpu_some_avg10 = 50;
        CHECK_EQ(sysload_over_limit(&p, &calm), SYSLIMIT_NONE);
        CHECK_EQ(sysload_over_limit(&p, &loaded), SYSLIMIT_LOAD_AVERAGE);
        CHECK_EQ(sysload_over_limit(&p, &short_of_memory), SYSLIMIT_MEMORY_AVAILABLE);
        CHECK_EQ(sysload_over_limit(&p, &pressed), SYSLIMIT_CPU_PRESSURE);
}

TEST(every_parameter_round_trips_through_its_descriptor) {
        const Params base = params_defaults();
        const ParamInfo *info;

        for (size_t i = 0; (info = param_nth(i)); i++) {
                Params p = base, q = base;
                IoctlValue v = { .u64 = 0 }, back;

                if (info->kind == PARAM_NUMBER || info->kind == PARAM_SECONDS)
                        v.d = 0.25;
                else if (info->kind == PARAM_BYTES)
                        v.u64 = 7;
                else
                        v.u32 = info->kind == PARAM_BOOL || info->kind == PARAM_CHOICE ? 1 : 7;
                CHECK(param_set(&p, info, &v));
                param_get(&p, info, &back);
                CHECK(memcmp(&v, &back, sizeof v) == 0);
                CHECK(!param_equal(&p, &q, info));
                param_copy(&q, &p, info);
                CHECK(param_equal(&p, &q, info));
                CHECK(memcmp(&p, &q, sizeof p) == 0);
                CHECK_EQ(info->manage, strcmp(info->name, "paused") == 0);
        }
        CHECK(param_by_bus_name("TokensAvailable") == NULL);
        CHECK(param_by_ioctl_set(STEVE_IOC_GET_JOBS) == NULL);
        CHECK(!params_apply_ioctl(STEVE_IOC_SET_PAUSED, &(IoctlValue) { .u32 = 2 }, &(Params) {}));
}

int main(void) {
        return test_run_all();
}
