// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include "clock.h"

#define NSEC_PER_SEC	1000000000LL
#define CALIB_SAMPLES	10

static __s64 ts_to_ns(const struct timespec *ts)
{
	return (__s64)ts->tv_sec * NSEC_PER_SEC + ts->tv_nsec;
}

static __s64 clock_ns(clockid_t id)
{
	struct timespec ts;

	/* cannot fail for these clocks on Linux */
	clock_gettime(id, &ts);
	return ts_to_ns(&ts);
}

__u64 clock__mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/*
 * As retsnoop's calibrate_ktime(): read REALTIME between two MONOTONIC
 * reads and keep the sample with the narrowest bracket, since a
 * preemption between the reads would skew the offset by its length.
 */
static __s64 calibrate(void)
{
	__s64 best_gap = -1, offset = 0;
	int i;

	for (i = 0; i < CALIB_SAMPLES; i++) {
		__s64 t1, rt, t2;

		t1 = clock_ns(CLOCK_MONOTONIC);
		rt = clock_ns(CLOCK_REALTIME);
		t2 = clock_ns(CLOCK_MONOTONIC);
		if (best_gap < 0 || t2 - t1 < best_gap) {
			best_gap = t2 - t1;
			offset = rt - (t1 + (t2 - t1) / 2);
		}
	}
	return offset;
}

__s64 clock__realtime_offset(void)
{
	static __s64 offset;
	static int calibrated;

	if (!calibrated) {
		offset = calibrate();
		calibrated = 1;
	}
	return offset;
}

/*
 * Wall time in whole seconds (floored) and the ns within that second.
 * -EOVERFLOW past year 2262: a recording may hold any timestamp.
 */
static int wall_split(__u64 mono_ns, __s64 offset_ns, time_t *sec, long *nsec)
{
	__s64 wall, s, ns;

	if (mono_ns > INT64_MAX || __builtin_add_overflow((__s64)mono_ns, offset_ns, &wall))
		return -EOVERFLOW;
	s = wall / NSEC_PER_SEC;
	ns = wall % NSEC_PER_SEC;
	if (ns < 0) {
		ns += NSEC_PER_SEC;
		s--;
	}
	*sec = (time_t)s;
	*nsec = (long)ns;
	return 0;
}

int clock__fmt_rfc3339(char *buf, size_t size, __u64 mono_ns, __s64 offset_ns)
{
	struct tm tm;
	time_t sec;
	long nsec;
	int n;

	if (wall_split(mono_ns, offset_ns, &sec, &nsec) || !gmtime_r(&sec, &tm))
		return -EOVERFLOW;
	n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		     tm.tm_hour, tm.tm_min, tm.tm_sec, nsec / 1000);
	return n < 0 ? -EINVAL : n;
}

int clock__fmt_hms(char *buf, size_t size, __u64 mono_ns, __s64 offset_ns)
{
	struct tm tm;
	time_t sec;
	long nsec;
	int n;

	if (wall_split(mono_ns, offset_ns, &sec, &nsec) || !localtime_r(&sec, &tm))
		return -EOVERFLOW;
	n = snprintf(buf, size, "%02d:%02d:%02d.%03ld",
		     tm.tm_hour, tm.tm_min, tm.tm_sec, nsec / 1000000);
	return n < 0 ? -EINVAL : n;
}
