/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Time: BPF stamps records with bpf_ktime_get_ns(), which is
 * CLOCK_MONOTONIC.  To print when an event happened (rather than when
 * userspace got round to printing it) add a realtime offset measured once.
 */
#ifndef __FDTRACE_CLOCK_H
#define __FDTRACE_CLOCK_H

#include <stddef.h>
#include <linux/types.h>

/* "2026-11-27T15:04:05.123456Z" plus NUL */
#define CLOCK_RFC3339_LEN	28
/* "15:04:05.123" plus NUL */
#define CLOCK_HMS_LEN		13

/* CLOCK_MONOTONIC now, in ns: the clock of bpf_ktime_get_ns() */
__u64 clock__mono_ns(void);

/*
 * CLOCK_REALTIME minus CLOCK_MONOTONIC in ns.  Calibrated on the first
 * call and cached: later calls return the same value, so every timestamp
 * of a run is converted the same way even if the wall clock is stepped.
 */
__s64 clock__realtime_offset(void);

/*
 * Format monotonic mono_ns as wall time, given offset_ns from
 * clock__realtime_offset().  Both return the length written (like
 * snprintf), or a negative errno.
 *   clock__fmt_rfc3339: UTC, microseconds: "2026-11-27T15:04:05.123456Z"
 *   clock__fmt_hms:     local time, milliseconds: "15:04:05.123"
 */
int clock__fmt_rfc3339(char *buf, size_t size, __u64 mono_ns, __s64 offset_ns);
int clock__fmt_hms(char *buf, size_t size, __u64 mono_ns, __s64 offset_ns);

#endif /* __FDTRACE_CLOCK_H */
