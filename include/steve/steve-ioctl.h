/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef STEVE_IOCTL_H
#define STEVE_IOCTL_H

/*
 * The control ABI of the steve jobserver: ioctls on /dev/steve (CUSE) or on
 * a FUSE-served jobserver file. Every number is a well-formed _IOR/_IOW, so
 * the kernel knows what to copy on both transports. double is IEEE 754
 * binary64. Getters are open to anyone who can open the file; setters need
 * authorization and fail with EPERM otherwise, with EINVAL for values out of
 * range (see steve(8) for the ranges). A limit of 0 means "off".
 */

#include <linux/ioctl.h>
#include <stdint.h>

/* 2: adds the per-user limit; 3: re-execution; 4: the policy and build weights */
#define STEVE_IOCTL_VERSION 4
#define STEVE_IOC_MAGIC 0xB7

#define STEVE_IOC_GET_VERSION             _IOR(STEVE_IOC_MAGIC, 0x00, uint32_t)
/* Free tokens in the pool; negative while holders keep more than a shrunk pool. */
#define STEVE_IOC_GET_TOKENS              _IOR(STEVE_IOC_MAGIC, 0x01, int64_t)
#define STEVE_IOC_GET_JOBS                _IOR(STEVE_IOC_MAGIC, 0x02, uint32_t)
#define STEVE_IOC_SET_JOBS                _IOW(STEVE_IOC_MAGIC, 0x02, uint32_t)
#define STEVE_IOC_GET_MIN_JOBS            _IOR(STEVE_IOC_MAGIC, 0x03, uint32_t)
#define STEVE_IOC_SET_MIN_JOBS            _IOW(STEVE_IOC_MAGIC, 0x03, uint32_t)
#define STEVE_IOC_GET_LOAD_AVERAGE        _IOR(STEVE_IOC_MAGIC, 0x04, double)
#define STEVE_IOC_SET_LOAD_AVERAGE        _IOW(STEVE_IOC_MAGIC, 0x04, double)
/* seconds */
#define STEVE_IOC_GET_LOAD_RECHECK_TIMEOUT _IOR(STEVE_IOC_MAGIC, 0x05, double)
#define STEVE_IOC_SET_LOAD_RECHECK_TIMEOUT _IOW(STEVE_IOC_MAGIC, 0x05, double)
/* bytes */
#define STEVE_IOC_GET_MIN_MEMORY_AVAIL    _IOR(STEVE_IOC_MAGIC, 0x06, uint64_t)
#define STEVE_IOC_SET_MIN_MEMORY_AVAIL    _IOW(STEVE_IOC_MAGIC, 0x06, uint64_t)
#define STEVE_IOC_GET_PER_PROCESS_LIMIT   _IOR(STEVE_IOC_MAGIC, 0x07, uint32_t)
#define STEVE_IOC_SET_PER_PROCESS_LIMIT   _IOW(STEVE_IOC_MAGIC, 0x07, uint32_t)
/* percent, of "some avg10" in /proc/pressure/cpu and /proc/pressure/memory */
#define STEVE_IOC_GET_CPU_PRESSURE        _IOR(STEVE_IOC_MAGIC, 0x08, double)
#define STEVE_IOC_SET_CPU_PRESSURE        _IOW(STEVE_IOC_MAGIC, 0x08, double)
#define STEVE_IOC_GET_MEMORY_PRESSURE     _IOR(STEVE_IOC_MAGIC, 0x09, double)
#define STEVE_IOC_SET_MEMORY_PRESSURE     _IOW(STEVE_IOC_MAGIC, 0x09, double)
/* 1: no new tokens are handed out; returned ones are still taken back */
#define STEVE_IOC_GET_PAUSED              _IOR(STEVE_IOC_MAGIC, 0x0A, uint32_t)
#define STEVE_IOC_SET_PAUSED              _IOW(STEVE_IOC_MAGIC, 0x0A, uint32_t)
/* tokens all processes of one uid may hold at once; 0: none */
#define STEVE_IOC_GET_PER_USER_LIMIT      _IOR(STEVE_IOC_MAGIC, 0x0B, uint32_t)
#define STEVE_IOC_SET_PER_USER_LIMIT      _IOW(STEVE_IOC_MAGIC, 0x0B, uint32_t)
/* who gets a token when several wait: 0 fair (weighted shares between
 * builds), 1 fifo (the order they asked in) */
#define STEVE_IOC_GET_POLICY              _IOR(STEVE_IOC_MAGIC, 0x0C, uint32_t)
#define STEVE_IOC_SET_POLICY              _IOW(STEVE_IOC_MAGIC, 0x0C, uint32_t)
/* The weight of the build (or sub-build) a process leads: a pid and a weight
 * (1 to 1000000; nice 0 is 1024). pid 0: the caller's own. Lowering one's
 * own is free, like nice; anything else needs org.steve.Jobserver.configure.
 * ESRCH: steve knows no client by that pid. */
struct steve_weight {
        int32_t pid;
        uint32_t weight;
};
#define STEVE_WEIGHT_MAX 1000000
#define STEVE_IOC_SET_WEIGHT              _IOW(STEVE_IOC_MAGIC, 0x0D, struct steve_weight)

/* steve re-executes its binary in place (an upgrade without systemd): same
 * pid, every token and waiter kept. The payload must be 0. Needs
 * org.steve.Jobserver.manage. */
#define STEVE_IOC_REEXECUTE               _IOW(STEVE_IOC_MAGIC, 0x20, uint32_t)

#endif
