/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * The one list of per-process counters.  Each X(name, kind, text, help)
 * row becomes a field of struct proc_stats (matcher.h), a key of the JSON
 * summary, an entry of the text summary, and later a Prometheus series;
 * tests/harness.py reads the names from here, so a new counter is one row.
 *
 *  name  field, JSON key, metric suffix: never renamed once shipped
 *  kind  CNT_COUNTER (only grows) or CNT_GAUGE (goes up and down)
 *  text  the text summary's words for it, printed only when non-zero;
 *        NULL for the counters of the summary's opening sentence
 *  help  one line, for the metric's HELP and for readers of this file
 */
#ifndef __FDTRACE_COUNTERS_H
#define __FDTRACE_COUNTERS_H

#define CNT_COUNTER	0
#define CNT_GAUGE	1

#define FDT_PROC_COUNTERS(X)						\
	X(watches_ended, CNT_COUNTER, NULL,				\
	  "successful EPOLL_CTL_DELs that left the fd unwatched")	\
	X(closed, CNT_COUNTER, NULL,					\
	  "unwatched fds that were then closed, by any path")		\
	X(closed_late, CNT_COUNTER, NULL,				\
	  "unwatched fds closed only after being reported as leaks")	\
	X(rewatched, CNT_COUNTER, NULL,					\
	  "unwatched fds that were then watched again")			\
	X(leaks, CNT_COUNTER, NULL,					\
	  "fds reported unwatched and open for longer than the grace")	\
	X(open_leaks, CNT_GAUGE, NULL,					\
	  "reported leaks not resolved yet")				\
	X(closed_while_watched, CNT_COUNTER, "closed while watched",	\
	  "closes that left the file on an epoll list through another reference") \
	X(deregister_failed, CNT_COUNTER, "EPOLL_CTL_DEL after close (EBADF)", \
	  "EPOLL_CTL_DELs that failed with EBADF: the fd was closed first") \
	X(del_enoent, CNT_COUNTER, "EPOLL_CTL_DEL of unwatched fd (ENOENT)", \
	  "EPOLL_CTL_DELs that failed with ENOENT (routine in libuv)")	\
	X(corrected, CNT_COUNTER, "corrected",				\
	  "fds that went away by a path no record showed, caught by the check before a report") \
	X(untracked, CNT_COUNTER, "fds not tracked (--max-fds full)",	\
	  "watched fds the kernel could not track (map full): their history is not guessed") \
	X(lost, CNT_COUNTER, "records lost",				\
	  "records of this process lost because the ring buffer was full") \
	X(unconfirmed, CNT_COUNTER, "unconfirmed (records lost)",	\
	  "fds unwatched past the grace that the check could not confirm after lost records: not reported")

/*
 * Totals over the whole run, X(name, help): the JSON totals keys.
 * lost_events is set by the caller (matcher__set_lost()).
 */
#define FDT_TOTALS(X)							\
	X(processes, "processes traced that touched epoll or were named")	\
	X(watches_ended, "watches ended, all processes")		\
	X(leaks, "leaks reported, all processes")			\
	X(open_leaks, "reported leaks not resolved yet")		\
	X(lost_events, "records the kernel could not deliver")		\
	X(records, "records applied")					\
	X(bad_records, "records truncated or of unknown type: skipped")	\
	X(untracked, "watched fds the kernel could not track (map full)")

#endif /* __FDTRACE_COUNTERS_H */
