/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Replay mode: analyse a recording (record.h) instead of tracing.  The
 * recording's records go through the same engine and output as a live
 * run's, and its synthesised records make the same calls the live loop
 * made, so with the recorded grace replay prints what the live run did.
 */
#ifndef __FDTRACE_REPLAY_H
#define __FDTRACE_REPLAY_H

#include <stdbool.h>
#include <linux/types.h>
#include "matcher.h"
#include "output.h"
#include "record.h"

struct replay_opts {
	/*
	 * Grace period to decide with, if set; else the recording's.  With
	 * another one, leaks the live run never checked are reported
	 * unconfirmed.
	 */
	__u64 grace_ns;
	bool grace_set;
	__u64 pause_grace_ns;	/* likewise */
	bool pause_grace_set;
	const char *html_path;	/* --html: a picture of the replayed run */
	bool force;		/* it may replace a regular file */
	/* Where reports go (findings__report); NULL: output__report(out). */
	report_fn report;
	void *report_ctx;
};

/*
 * Replay the recording at path into out.  Returns fdtrace's exit status:
 * 0 (a truncated recording included: a warning says so), or 2 for a file
 * that is not a readable recording (one line through output__error()).
 */
int replay__run(const char *path, const struct replay_opts *o, struct output *out);
/* The same from an open reader (tests, fuzzing); name is for messages. */
int replay__reader(struct record_reader *rr, const char *name,
		   const struct replay_opts *o, struct output *out);

#endif /* __FDTRACE_REPLAY_H */
