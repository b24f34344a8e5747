/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A parameter as it crosses D-Bus, for steve's properties and stevie's
 * reading of them: one place that knows each kind's D-Bus type. */

#include <systemd/sd-bus.h>

#include "params.h"

int bus_append_param(sd_bus_message *m, const ParamInfo *info, const Params *p);
/* Reads a variant holding info's type into *ret: -ENXIO for another type,
 * -EINVAL for a choice by a name it does not have. */
int bus_read_param(sd_bus_message *m, const ParamInfo *info, IoctlValue *ret);
