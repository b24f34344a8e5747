/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The parameter table, and the docs held to it: each parameter's option in
 * steve(8), its key in steve.conf(5), its getter and setter in stevie(1), its
 * property in the D-Bus XML and the README, in the spelling the table gives.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "params.h"
#include "test.h"

static size_t wire_size(const ParamInfo *info) {
        return info->kind == PARAM_COUNT || info->kind == PARAM_BOOL || info->kind == PARAM_CHOICE ? 4 : 8;
}

TEST(table_names_and_ioctl_numbers_are_unique_and_well_formed) {
        const ParamInfo *a, *b;

        for (size_t i = 0; (a = param_nth(i)); i++) {
                CHECK(a->name && a->what);
                CHECK(param_by_name(a->name) == a);
                if (a->bus_name)
                        CHECK(param_by_bus_name(a->bus_name) == a);
                if (a->ioctl_get) {
                        CHECK(param_by_ioctl_get(a->ioctl_get) == a && param_by_ioctl_set(a->ioctl_set) == a);
                        CHECK_EQ(_IOC_DIR(a->ioctl_get), _IOC_READ);
                        CHECK_EQ(_IOC_DIR(a->ioctl_set), _IOC_WRITE);
                        CHECK_EQ(_IOC_SIZE(a->ioctl_get), wire_size(a));
                        CHECK_EQ(_IOC_SIZE(a->ioctl_set), wire_size(a));
                }
                if (!a->runtime_only)
                        CHECK(a->metavar && a->help);
                for (size_t j = i + 1; (b = param_nth(j)); j++) {
                        CHECK(strcmp(a->name, b->name) != 0);
                        CHECK(!a->short_option || a->short_option != b->short_option);
                }
        }
}

TEST(defaults_are_valid) {
        Params p = params_defaults();

        CHECK(params_invalid(&p) == NULL);
        CHECK(p.jobs >= 1);
        CHECK_EQ(p.min_jobs, 1);
        CHECK_EQ(p.load_recheck_timeout, 500000);
        CHECK_EQ(p.reservation_timeout, 500000);
        CHECK(!p.paused && p.load_average == 0 && p.per_process_limit == 0);
}

TEST(parse_checks_the_range_of_each_kind) {
        IoctlValue v;

        CHECK_EQ(param_parse(param_by_name("jobs"), "65536", &v), 0);
        CHECK_EQ(v.u32, 65536);
        CHECK_EQ(param_parse(param_by_name("jobs"), "0", &v), -ERANGE);
        CHECK_EQ(param_parse(param_by_name("jobs"), "65537", &v), -ERANGE);
        CHECK_EQ(param_parse(param_by_name("jobs"), "-1", &v), -EINVAL);     /* not a limit */
        CHECK_EQ(param_parse(param_by_name("jobs"), " 5", &v), -EINVAL);
        CHECK_EQ(param_parse(param_by_name("min-jobs"), "0", &v), 0);
        CHECK_EQ(param_parse(param_by_name("per-process-limit"), "-1", &v), 0);
        CHECK_EQ(v.u32, 0);
        CHECK_EQ(param_parse(param_by_name("min-memory-avail"), "2G", &v), 0);
        CHECK_EQ(v.u64, UINT64_C(2) << 30);
        CHECK_EQ(param_parse(param_by_name("cpu-pressure"), "100", &v), 0);
        CHECK_EQ(param_parse(param_by_name("cpu-pressure"), "100.5", &v), -ERANGE);
        CHECK_EQ(param_parse(param_by_name("load-average"), "nan", &v), -EINVAL);
        CHECK_EQ(param_parse(param_by_name("load-recheck-timeout"), "0", &v), -ERANGE);
        CHECK_EQ(param_parse(param_by_name("load-recheck-timeout"), "0.0000001", &v), -ERANGE);
        CHECK_EQ(param_parse(param_by_name("load-recheck-timeout"), "3600", &v), 0);
        CHECK_EQ(param_parse(param_by_name("load-recheck-timeout"), "3600.5", &v), -ERANGE);
        CHECK_EQ(param_parse(param_by_name("paused"), "yes", &v), 0);
        CHECK_EQ(v.u32, 1);
        CHECK_EQ(param_parse(param_by_name("paused"), "2", &v), -EINVAL);
}

TEST(set_refuses_out_of_range_and_leaves_the_value) {
        Params p = params_defaults();
        const ParamInfo *jobs = param_by_name("jobs"), *timeout = param_by_name("load-recheck-timeout");
        IoctlValue v = { .u32 = 0 };

        p.jobs = 3;
        CHECK(!param_set(&p, jobs, &v));
        CHECK_EQ(p.jobs, 3);
        v.d = NAN;
        CHECK(!param_set(&p, timeout, &v));
        v.d = 0.25;
        CHECK(param_set(&p, timeout, &v));
        CHECK_EQ(p.load_recheck_timeout, 250000);
        v = (IoctlValue) { .u32 = 2 };
        CHECK(!param_set(&p, param_by_name("paused"), &v));
}

TEST(format_shows_an_off_limit_as_minus_one) {
        char buf[32];
        IoctlValue v = { .d = 0 };

        param_format(param_by_name("load-average"), &v, buf, sizeof buf);
        CHECK(strcmp(buf, "-1") == 0);
        v.d = 3.5;
        param_format(param_by_name("load-average"), &v, buf, sizeof buf);
        CHECK(strcmp(buf, "3.5") == 0);
        v = (IoctlValue) { .u32 = 0 };
        param_format(param_by_name("min-jobs"), &v, buf, sizeof buf);
        CHECK(strcmp(buf, "0") == 0);
}

TEST(invalid_sets_are_named) {
        Params ok = params_defaults(), p;

        p = ok; p.jobs = 0;                     CHECK(strstr(params_invalid(&p) ?: "", "jobs must be") != NULL);
        p = ok; p.jobs = 65537;                 CHECK(params_invalid(&p) != NULL);
        p = ok; p.load_average = NAN;           CHECK(params_invalid(&p) != NULL);
        p = ok; p.load_average = -1;            CHECK(params_invalid(&p) != NULL);
        p = ok; p.cpu_pressure = 100.5;         CHECK(params_invalid(&p) != NULL);
        p = ok; p.memory_pressure = INFINITY;   CHECK(params_invalid(&p) != NULL);
        p = ok; p.load_recheck_timeout = 0;     CHECK(params_invalid(&p) != NULL);
        p = ok; p.per_process_limit = 70000;    CHECK(params_invalid(&p) != NULL);
        p = ok; p.min_memory_avail = UINT64_MAX; CHECK(params_invalid(&p) == NULL);
}

static char *read_source(const char *relative) {
        const char *root = getenv("STEVE_SOURCE_ROOT");
        char path[4096];
        char *text;
        long size;
        FILE *f;

        snprintf(path, sizeof path, "%s/%s", root ? root : ".", relative);
        f = fopen(path, "re");
        if (!f) {
                fprintf(stderr, "cannot read %s (STEVE_SOURCE_ROOT)\n", path);
                return NULL;
        }
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        rewind(f);
        text = calloc(1, (size_t) size + 1);
        if (text && fread(text, 1, (size_t) size, f) != (size_t) size) {
                free(text);
                text = NULL;
        }
        fclose(f);
        return text;
}

static void check_mentions(const char *text, const char *file, const char *what) {
        if (!strstr(text, what)) {
                fprintf(stderr, "%s does not say %s\n", file, what);
                test_failures++;
        }
}

TEST(docs_name_every_parameter_as_the_table_does) {
        char *steve8 = read_source("man/steve.8.scd.in"), *conf5 = read_source("man/steve.conf.5.scd.in");
        char *stevie1 = read_source("man/stevie.1.scd.in"), *xml = read_source("dbus/org.steve.Jobserver.xml");
        char *readme = read_source("README.rst");
        const ParamInfo *info;
        char s[256];

        CHECK(steve8 && conf5 && stevie1 && xml && readme);
        for (size_t i = 0; steve8 && conf5 && stevie1 && xml && readme && (info = param_nth(i)); i++) {
                if (!info->runtime_only) {
                        snprintf(s, sizeof s, "*--%s*=_%s_", info->name, info->metavar);
                        check_mentions(steve8, "steve(8)", s);
                        snprintf(s, sizeof s, "*-%c*, *--%s*", info->short_option, info->name);
                        if (info->short_option)
                                check_mentions(steve8, "steve(8)", s);
                        snprintf(s, sizeof s, "*%s* = _%s_", info->name, info->metavar);
                        check_mentions(conf5, "steve.conf(5)", s);
                        snprintf(s, sizeof s, "``--%s=", info->name);
                        check_mentions(readme, "README.rst", s);
                }
                if (info->ioctl_get) {
                        snprintf(s, sizeof s, "*--get-%s*", info->name);
                        check_mentions(stevie1, "stevie(1)", s);
                        if (info->on_option)
                                snprintf(s, sizeof s, "*--%s*, *--%s*", info->on_option, info->off_option);
                        else
                                snprintf(s, sizeof s, "*--set-%s*=_%s_", info->name, info->metavar);
                        check_mentions(stevie1, "stevie(1)", s);
                }
                if (info->bus_name) {
                        snprintf(s, sizeof s, "<property name=\"%s\" type=\"%s\" access=\"readwrite\"/>",
                                 info->bus_name, param_signature(info));
                        check_mentions(xml, "org.steve.Jobserver.xml", s);
                        snprintf(s, sizeof s, "``%s`` (%s", info->bus_name, param_signature(info));
                        check_mentions(readme, "README.rst", s);
                }
        }
        free(steve8);
        free(conf5);
        free(stevie1);
        free(xml);
        free(readme);
}

int main(void) {
        return test_run_all();
}
