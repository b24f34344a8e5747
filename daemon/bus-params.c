/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>

#include "bus-params.h"

int bus_append_param(sd_bus_message *m, const ParamInfo *info, const Params *p) {
        IoctlValue v;

        param_get(p, info, &v);
        switch (info->kind) {
        case PARAM_COUNT:
                return sd_bus_message_append(m, "u", v.u32);
        case PARAM_BYTES:
                return sd_bus_message_append(m, "t", v.u64);
        case PARAM_BOOL:
                return sd_bus_message_append(m, "b", (int) v.u32);
        case PARAM_NUMBER:
        case PARAM_SECONDS:
                return sd_bus_message_append(m, "d", v.d);
        case PARAM_CHOICE:
                return sd_bus_message_append(m, "s", info->choices[v.u32]);
        }
        return -EINVAL;
}

static int read_value(sd_bus_message *m, const ParamInfo *info, IoctlValue *ret) {
        const char *name = NULL;
        int b = 0, r;

        switch (info->kind) {
        case PARAM_COUNT:
                return sd_bus_message_read_basic(m, 'u', &ret->u32);
        case PARAM_BYTES:
                return sd_bus_message_read_basic(m, 't', &ret->u64);
        case PARAM_BOOL:
                r = sd_bus_message_read_basic(m, 'b', &b);
                ret->u32 = b != 0;
                return r;
        case PARAM_NUMBER:
        case PARAM_SECONDS:
                return sd_bus_message_read_basic(m, 'd', &ret->d);
        case PARAM_CHOICE:
                r = sd_bus_message_read_basic(m, 's', &name);
                return r < 0 ? r : param_choice(info, name, &ret->u32);
        }
        return -EINVAL;
}

int bus_read_param(sd_bus_message *m, const ParamInfo *info, IoctlValue *ret) {
        int r;

        *ret = (IoctlValue) { .u64 = 0 };
        r = sd_bus_message_enter_container(m, 'v', param_signature(info));
        if (r < 0)
                return r;
        if (r == 0)
                return -ENXIO;
        r = read_value(m, info, ret);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}
