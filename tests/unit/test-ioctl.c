/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <sys/ioctl.h>

#include "steve/steve-ioctl.h"

#include "ioctl.h"
#include "params.h"
#include "test.h"

TEST(fionread_moves_an_int_out) {
        size_t in, out;

        ioctl_sizes(FIONREAD, &in, &out);
        CHECK_EQ(in, 0);
        CHECK_EQ(out, sizeof(int));
}

TEST(steve_numbers_move_what_they_encode) {
        const ParamInfo *info;
        size_t in, out;

        ioctl_sizes(STEVE_IOC_GET_TOKENS, &in, &out);
        CHECK(in == 0 && out == sizeof(int64_t));
        ioctl_sizes(STEVE_IOC_GET_VERSION, &in, &out);
        CHECK(in == 0 && out == sizeof(uint32_t));
        for (size_t i = 0; (info = param_nth(i)); i++) {
                if (!info->ioctl_get)
                        continue;
                ioctl_sizes(info->ioctl_get, &in, &out);
                CHECK(in == 0 && out > 0 && out <= sizeof(IoctlValue));
                ioctl_sizes(info->ioctl_set, &in, &out);
                CHECK(out == 0 && in > 0 && in <= sizeof(IoctlValue));
        }
}

int main(void) {
        return test_run_all();
}
