/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Every report of the matcher passes here on its way to the output, in
 * live and replay runs alike: findings are counted by kind, for
 * --error-exitcode, and, with --share-events, a JSON copy of each report
 * goes to a file the traced command reads (the pytest plugin in
 * contrib/pytest/ does).
 */
#ifndef __FDTRACE_FINDINGS_H
#define __FDTRACE_FINDINGS_H

#include <linux/types.h>
#include "matcher.h"
#include "output.h"

/* The variables a command run with --share-events finds in its environment. */
#define FINDINGS_ENV_FD		"FDTRACE_EVENTS_FD"	/* fd number to read JSON Lines from */
#define FINDINGS_ENV_ERROR_ON	"FDTRACE_ERROR_ON"	/* "leak,closed_while_watched,..." */

/* A set of report kinds: bit (1 << REPORT_x). */
#define FINDING_BIT(kind)	(1U << (kind))

struct findings;

/* Reports go on to out.  NULL and errno set on failure. */
struct findings *findings__new(struct output *out);
/* A report_fn for the matcher: ctx is the struct findings * */
void findings__report(void *ctx, const struct report *r);
/* How many reports of this kind passed. */
__u64 findings__count(const struct findings *f, enum report_kind kind);
/*
 * --error-exitcode: code if any finding of a kind in the set error_on
 * passed (code 0: the option was not given), else status.
 */
int findings__exit_status(const struct findings *f, unsigned int error_on, int code,
			  int status);

/*
 * --share-events: copy every report, as JSON Lines, to an anonymous file
 * (memfd), and open it once more, read-only and inheritable, for a
 * command forked after this call; its number goes in FINDINGS_ENV_FD and
 * error_on, by name, in FINDINGS_ENV_ERROR_ON.  0 or a negative errno.
 */
int findings__share(struct findings *f, unsigned int error_on, __s64 realtime_offset_ns);
/*
 * The command has been forked (the read-only fd is closed here) and runs:
 * the copy gets its start event.  A no-op without findings__share().
 */
void findings__start(struct findings *f, const struct start_info *si);

void findings__free(struct findings *f);

/* "leak", "closed_while_watched", "deregister_failed": a finding's JSON event name, or NULL. */
const char *findings__kind_name(enum report_kind kind);

#endif /* __FDTRACE_FINDINGS_H */
