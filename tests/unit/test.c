/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test.h"

TestCase test_cases[256];
size_t n_test_cases;
int test_failures;

int test_run_all(void) {
        unsigned passed = 0, failed = 0;

        for (size_t i = 0; i < n_test_cases; i++) {
                int before = test_failures;

                test_cases[i].fn();
                if (test_failures == before) {
                        printf("ok %zu %s\n", i + 1, test_cases[i].name);
                        passed++;
                } else {
                        printf("not ok %zu %s\n", i + 1, test_cases[i].name);
                        failed++;
                }
        }
        printf("%u passed, %u failed\n", passed, failed);
        return failed == 0 && passed > 0 ? 0 : 1;
}
