/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A few macros instead of a framework: every TEST registers itself, every
 * failed CHECK is reported with its line and fails the test. */

#include <inttypes.h>
#include <stdio.h>

#define ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

typedef struct TestCase {
        const char *name;
        void (*fn)(void);
} TestCase;

extern TestCase test_cases[256];
extern size_t n_test_cases;
extern int test_failures;

#define TEST(name)                                                              \
        static void test_##name(void);                                          \
        __attribute__((constructor)) static void register_##name(void) {       \
                test_cases[n_test_cases++] = (TestCase) { #name, test_##name }; \
        }                                                                       \
        static void test_##name(void)

#define CHECK(expr)                                                             \
        do {                                                                    \
                if (!(expr)) {                                                  \
                        fprintf(stderr, "%s:%d: CHECK(%s) failed\n",            \
                                __FILE__, __LINE__, #expr);                     \
                        test_failures++;                                        \
                }                                                               \
        } while (0)

#define CHECK_EQ(a, b)                                                          \
        do {                                                                    \
                intmax_t _a = (intmax_t) (a), _b = (intmax_t) (b);              \
                if (_a != _b) {                                                 \
                        fprintf(stderr, "%s:%d: %s == %jd, expected %s == %jd\n", \
                                __FILE__, __LINE__, #a, _a, #b, _b);            \
                        test_failures++;                                        \
                }                                                               \
        } while (0)

int test_run_all(void);
