// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#define _GNU_SOURCE
#include <argp.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "env.h"
#include "tracer.h"
#include "procfs.h"
#include "findings.h"
#include "version.h"


#define STR_(x) #x
#define STR(x) STR_(x)

static const char doc[] =
"Find file descriptors that outlive their epoll watch.\n"
"\n"
"fdtrace matches every epoll_ctl(EPOLL_CTL_DEL) of the traced processes\n"
"with what happens to the fd next: closed (fine), watched again (fine), or\n"
"neither for longer than the grace period: a leak, reported as it happens.\n"
"\n"
"USAGE: fdtrace [OPTIONS] -p PID[,PID...]\n"
"       fdtrace [OPTIONS] -- COMMAND [ARG...]\n"
"       fdtrace [OPTIONS] {-a | --cgroup PATH | -c NAME}...\n"
"       fdtrace [OPTIONS] -r FILE\n"
"\n"
"EXAMPLES:\n"
"  fdtrace -p 4242               # trace a running server until Ctrl-C\n"
"  fdtrace -p 4242,4243 -g 30    # two processes, leak after 30 s unwatched\n"
"  fdtrace -j -d 60 -p 4242      # JSON Lines for one minute\n"
"  fdtrace -f -- python3 app.py  # run a command (and its children) traced;\n"
"                                # exit with its exit status\n"
"  fdtrace -a --interval 60 --prom-file /var/lib/prometheus/node-exporter/fdtrace.prom\n"
"                                # the whole machine, for Prometheus\n"
"  fdtrace --cgroup /sys/fs/cgroup/system.slice/nginx.service -c nginx\n"
"                                # one service, by cgroup and name\n"
"  fdtrace -w app.fdt -p 4242    # trace, and record everything to app.fdt\n"
"  fdtrace -r app.fdt -g 30      # later, anywhere, no root: what if the grace\n"
"                                # had been 30 s?\n"
"  fdtrace -g 1 --error-exitcode 7 --share-events -- \\\n"
"      python3 -m pytest -p fdtrace_pytest   # CI: fail on a leak, name the test\n"
"\v"
"SECONDS are plain decimal numbers with an optional fraction: 5, 0.25.\n"
"\n"
"With -p, SIGINT, SIGTERM, SIGHUP or SIGQUIT stops tracing: fdtrace prints\n"
"the summaries, detaches and exits 0.\n"
"\n"
"With -- COMMAND, COMMAND starts only once tracing is attached, and the\n"
"start line is printed only once it has been executed.  SIGINT, SIGTERM,\n"
"SIGHUP and SIGQUIT are passed on to COMMAND (not again when the terminal\n"
"already sent them to it) and fdtrace goes on tracing until it exits; a\n"
"second such signal kills COMMAND with SIGKILL.  One that arrives before\n"
"COMMAND started means it never starts: fdtrace exits 128+signal and\n"
"prints nothing on stdout.\n"
"\n"
"EXIT STATUS: with -p or -r, 0; with -- COMMAND, COMMAND's exit status, or\n"
"128+signal if a signal killed it.  With --error-exitcode N, N instead when\n"
"a finding of the --error-on kinds was reported (with -p, -r and COMMAND\n"
"alike), after everything is printed.  2 for every error, before all\n"
"else: a bad option, a target that cannot be traced, a COMMAND that cannot\n"
"be executed, output that cannot be written (fdtrace then detaches; a\n"
"COMMAND already running is left to finish, untraced, and waited for).\n"
"\n"
"With --share-events, COMMAND finds in its environment FDTRACE_EVENTS_FD,\n"
"an fd it can read every finding from as JSON Lines (-j's format, as they\n"
"happen), and FDTRACE_ERROR_ON, the --error-on kinds.\n";

enum {
	OPT_RINGBUF = 0x100,
	OPT_MAX_FDS,
	OPT_MAX_PROCS,
	OPT_USAGE,
	OPT_PAUSE_GRACE,
	OPT_FORCE,
	OPT_CGROUP,
	OPT_SAMPLE,
	OPT_STREAM,
	OPT_INTERVAL,
	OPT_PROM_FILE,
	OPT_HTML,
	OPT_ERROR_EXITCODE,
	OPT_ERROR_ON,
	OPT_SHARE_EVENTS,
	OPT_BACKEND,
	OPT_STACKS,
	OPT_NO_STACKS,
};

static const struct argp_option options[] = {
	{ NULL, 0, NULL, 0, "What to trace:", 1 },
	{ "pid", 'p', "PID[,PID...]", 0, "Trace these running processes (repeatable; at most "
	  STR(ENV_MAX_PIDS) ")", 1 },
	{ "follow", 'f', NULL, 0, "Also trace children the traced processes fork (see --max-procs)", 1 },
	{ "all", 'a', NULL, 0, "Every process on the machine, those started later too", 1 },
	{ "cgroup", OPT_CGROUP, "PATH", 0, "Every process in this cgroup v2 directory or below it "
	  "(repeatable; a systemd service, a container)", 1 },
	{ "comm", 'c', "NAME", 0, "Processes with this name (repeatable; with --cgroup: both)", 1 },
	{ "sample", OPT_SAMPLE, "N", 0, "Track 1 in N epoll watches, chosen by open file (counts "
	  "are then sampled)", 1 },
	{ "stream", OPT_STREAM, "MODE", 0, "summary (default): a watch closed or watched again "
	  "within the grace is only counted in the kernel; full (the default with -w and --html): "
	  "a record per epoll_ctl and close", 1 },
	{ "stacks", OPT_STACKS, NULL, 0, "Capture the call site of every ADD and DEL: the caller of "
	  "epoll_ctl, and the Python 3.11 frames above it (default with -p and COMMAND)", 1 },
	{ "no-stacks", OPT_NO_STACKS, NULL, 0, "Capture no call sites (default with -a, --cgroup "
	  "and --comm)", 1 },
	{ "duration", 'd', "SECONDS", 0, "Stop after this long, up to " STR(MAX_SECONDS)
	  " (default: until Ctrl-C or the targets exit)", 1 },

	{ NULL, 0, NULL, 0, "What to report:", 2 },
	{ "grace", 'g', "SECONDS", 0, "Report an fd unwatched and open for longer than this, 0 to "
	  STR(MAX_SECONDS) " (default " STR(DEFAULT_GRACE_S) ")", 2 },
	{ "pause-grace", OPT_PAUSE_GRACE, "SECONDS", 0, "A socket with data waiting unread is paused, not leaked, for this long (default "
	  STR(DEFAULT_PAUSE_GRACE_S) ")", 2 },
	{ "json", 'j', NULL, 0, "JSON Lines on stdout", 2 },
	{ "interval", OPT_INTERVAL, "SECONDS", 0, "Every SECONDS, the counters of each process "
	  "that was active (an interval event; with --prom-file, the metrics)", 2 },
	{ "prom-file", OPT_PROM_FILE, "PATH", 0, "Every --interval, write the Prometheus text format "
	  "here, atomically (node_exporter's textfile collector)", 2 },
	{ "verbose", 'v', NULL, 0, "Show libbpf's debug output", 2 },
	{ "error-exitcode", OPT_ERROR_EXITCODE, "N", 0, "Exit with N, 1 to " STR(MAX_EXITCODE)
	  ", when a finding was reported (see --error-on), instead of COMMAND's status", 2 },
	{ "error-on", OPT_ERROR_ON, "KIND[,KIND...]", 0, "The findings --error-exitcode counts: leak, "
	  "closed_while_watched, deregister_failed (default leak)", 2 },
	{ "share-events", OPT_SHARE_EVENTS, NULL, 0, "Give COMMAND every finding as JSON Lines, on the "
	  "fd named by $FDTRACE_EVENTS_FD (for contrib/pytest)", 2 },

	{ NULL, 0, NULL, 0, "Record and replay:", 3 },
	{ "write", 'w', "FILE", 0, "Also record everything the analysis needs to FILE (mode 0600; "
	  "never an existing file)", 3 },
	{ "html", OPT_HTML, "FILE", 0, "At the end, a picture of the run in FILE: one self-contained "
	  "HTML page, timelines and findings (with -r too)", 3 },
	{ "force", OPT_FORCE, NULL, 0, "With -w or --html, replace FILE if it is a regular file", 3 },
	{ "read", 'r', "FILE", 0, "Analyse a recording instead of tracing: no root needed; -g and "
	  "--pause-grace decide anew", 3 },

	{ NULL, 0, NULL, 0, "Limits:", 4 },
	{ "max-procs", OPT_MAX_PROCS, "N", 0, "Most processes traced at once; -f follows no more children "
	  "beyond it (default " STR(DEFAULT_MAX_PIDS) ", at most " STR(MAX_MAX_PIDS) ")", 4 },
	{ "max-fds", OPT_MAX_FDS, "N", 0, "Most fds tracked at once in the kernel (default: the targets' "
	  "fd limits, at least " STR(DEFAULT_MAX_FDS) "; at most " STR(MAX_TRACKED_FDS) ")", 4 },
	{ "ringbuf-size", OPT_RINGBUF, "KIB", 0, "Ring buffer size in KiB, a power of two from 4 to "
	  STR(MAX_RINGBUF_KIB) " (default " STR(DEFAULT_RINGBUF_KIB) ")", 4 },
	{ "backend", OPT_BACKEND, "HOOKS", 0, "Where the syscall hooks run: auto (default: fentry "
	  "where the kernel allows it, else tracepoint), tracepoint, fentry", 4 },

	{ NULL, 0, NULL, 0, "Help:", -1 },
	{ "help", 'h', NULL, 0, "Show this help", -1 },
	{ "usage", OPT_USAGE, NULL, 0, "Show a short usage message", -1 },
	{ "version", 'V', NULL, 0, "Show the version", -1 },
	{},
};

/* argp reports through this; we print only its first line. */
static FILE *err_stream;
static char *err_text;
static size_t err_len;

static void fail(struct argp_state *state, const char *fmt, const char *arg)
{
	argp_failure(state, 2, 0, fmt, arg);
}

#define NSEC_PER_SEC	1000000000ULL

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Seconds as plain decimal digits with an optional fraction: "5", "0.25".
 * strtod() also takes " 5", "0x10", "1e3" and "inf", none of which a
 * user means as a number of seconds.  Digits finer than a nanosecond
 * round up, so a non-zero value never becomes 0.  -EINVAL: not that
 * syntax; -ERANGE: above max_s.
 */
static int parse_seconds(const char *s, __u64 max_s, __u64 *ns)
{
	__u64 sec = 0, frac = 0, scale = NSEC_PER_SEC;
	bool finer = false;
	const char *p = s;

	if (!is_digit(*p))
		return -EINVAL;
	for (; is_digit(*p); p++) {
		sec = sec * 10 + (*p - '0');
		if (sec > max_s)
			return -ERANGE;
	}
	if (*p == '.') {
		if (!is_digit(*++p))
			return -EINVAL;
		for (; is_digit(*p); p++) {
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			} else if (*p != '0') {
				finer = true;
			}
		}
	}
	if (*p)
		return -EINVAL;
	*ns = sec * NSEC_PER_SEC + frac + finer;
	return *ns > max_s * NSEC_PER_SEC ? -ERANGE : 0;
}

/* Plain decimal digits only (strtoul() takes " 5", "+5" and "-5"), 1 to max. */
static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	const char *p = s;

	if (!is_digit(*p))
		return -EINVAL;
	for (; is_digit(*p); p++) {
		v = v * 10 + (*p - '0');
		if (v > max)
			return -ERANGE;
	}
	if (*p || !v)
		return -EINVAL;
	*out = v;
	return 0;
}

/* --error-on: finding names separated by commas; each given once is enough. */
static void parse_error_on(struct argp_state *state, struct env *env, const char *arg)
{
	static const enum report_kind kinds[] = {
		REPORT_LEAK, REPORT_CLOSED_WHILE_WATCHED, REPORT_DEREGISTER_FAILED,
	};
	const char *p = arg, *end;
	size_t i;

	env->error_on = 0;
	do {
		end = strchrnul(p, ',');
		for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
			const char *name = findings__kind_name(kinds[i]);

			if ((size_t)(end - p) == strlen(name) && !strncmp(p, name, end - p))
				break;
		}
		if (i == sizeof(kinds) / sizeof(kinds[0])) {
			fail(state, "invalid --error-on '%s': give leak, closed_while_watched or "
			     "deregister_failed, separated by commas", arg);
			return;
		}
		env->error_on |= FINDING_BIT(kinds[i]);
		p = end + 1;
	} while (*end);
}

/* A size option: a count from 1 to max. */
static void parse_count(struct argp_state *state, const char *opt, const char *arg,
			unsigned long max, __u32 *out)
{
	unsigned long v;

	if (parse_uint(arg, max, &v))
		argp_failure(state, 2, 0, "invalid %s '%s': give a number from 1 to %lu",
			     opt, arg, max);
	else
		*out = v;
}

static bool have_pid(const struct env *env, __u32 pid)
{
	for (size_t i = 0; i < env->nr_pids; i++)
		if (env->pids[i] == pid)
			return true;
	return false;
}

/* "4242,4243": every item a pid; a pid given twice is traced once. */
static void parse_pids(struct argp_state *state, struct env *env, const char *arg)
{
	const char *p = arg, *end;
	char item[32];
	unsigned long pid;

	do {
		end = strchrnul(p, ',');
		if (end == p) {
			fail(state, "invalid pid list '%s': give process ids separated by commas, e.g. 4242,4243",
			     arg);
			return;
		}
		snprintf(item, sizeof(item), "%.*s", (int)(end - p), p);
		if ((size_t)(end - p) >= sizeof(item) || parse_uint(item, MAX_PID_VALUE, &pid)) {
			fail(state, "invalid pid '%s': give process ids from 1 to " STR(MAX_PID_VALUE)
			     ", e.g. 4242 or 4242,4243", item);
			return;
		}
		if (!have_pid(env, pid)) {
			if (env->nr_pids == ENV_MAX_PIDS) {
				fail(state, "too many pids (at most %s)", STR(ENV_MAX_PIDS));
				return;
			}
			env->pids[env->nr_pids++] = pid;
		}
		p = end + 1;
	} while (*end);
}

/*
 * --cgroup PATH: a directory on the cgroup v2 mount (as /proc/self/mounts
 * says; /sys/fs/cgroup on most hosts, /sys/fs/cgroup/unified on hybrid
 * ones), absolute or relative to that mount.  Anything else: exit 2.
 */
static void add_cgroup(struct argp_state *state, struct env *env, const char *arg)
{
	char mnt[4096], joined[8192], *real;
	size_t n;

	if (env->nr_cgroups == ENV_MAX_CGROUPS) {
		fail(state, "too many --cgroup (at most %s)", STR(ENV_MAX_CGROUPS));
		return;
	}
	if (procfs__cgroup2_mount(mnt, sizeof(mnt))) {
		fail(state, "--cgroup %s: no cgroup v2 mount in /proc/self/mounts", arg);
		return;
	}
	if (arg[0] == '/')
		snprintf(joined, sizeof(joined), "%s", arg);
	else
		snprintf(joined, sizeof(joined), "%s/%s", mnt, arg);
	real = realpath(joined, NULL);
	n = strlen(mnt);
	if (!real || strncmp(real, mnt, n) || (real[n] != '/' && real[n] != '\0')) {
		argp_failure(state, 2, 0, "--cgroup %s: not a directory on the cgroup v2 mount (%s)",
			     arg, mnt);
		free(real);
		return;
	}
	env->cgroups[env->nr_cgroups++] = real;
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct env *env = state->input;
	unsigned long v;

	switch (key) {
	case ARGP_KEY_INIT:
		err_stream = open_memstream(&err_text, &err_len);
		if (err_stream)
			state->err_stream = err_stream;
		break;
	case 'p':
		parse_pids(state, env, arg);
		break;
	case 'f':
		env->follow = true;
		break;
	case 'd':
		if (parse_seconds(arg, MAX_SECONDS, &env->duration_ns) || !env->duration_ns)
			fail(state, "invalid duration '%s': give seconds above 0, up to "
			     STR(MAX_SECONDS) ", e.g. 60 or 0.5", arg);
		break;
	case 'a':
		env->select_all = true;
		break;
	case OPT_CGROUP:
		add_cgroup(state, env, arg);
		break;
	case 'c':
		if (!*arg || strlen(arg) >= 16)
			fail(state, "invalid --comm '%s': give a process name of 1 to 15 characters", arg);
		else if (env->nr_comms == ENV_MAX_COMMS)
			fail(state, "too many --comm (at most %s)", STR(ENV_MAX_COMMS));
		else
			env->comms[env->nr_comms++] = arg;
		break;
	case OPT_SAMPLE:
		parse_count(state, "--sample", arg, 1U << 20, &env->sample);
		break;
	case OPT_STACKS:
	case OPT_NO_STACKS:
		env->stacks = key == OPT_STACKS;
		env->stacks_set = true;
		break;
	case OPT_STREAM:
		if (!strcmp(arg, "full"))
			env->stream_summary = false;
		else if (!strcmp(arg, "summary"))
			env->stream_summary = true;
		else
			fail(state, "invalid --stream '%s': give full or summary", arg);
		env->stream_set = true;
		break;
	case OPT_BACKEND:
		for (v = TRACER_BACKEND_AUTO; tracer_backend_name(v); v++)
			if (!strcmp(arg, tracer_backend_name(v)))
				break;
		if (!tracer_backend_name(v))
			fail(state, "invalid --backend '%s': give auto, tracepoint or fentry", arg);
		env->backend = v;
		break;
	case OPT_INTERVAL:
		if (parse_seconds(arg, MAX_SECONDS, &env->interval_ns) || !env->interval_ns)
			fail(state, "invalid interval '%s': give seconds above 0, up to "
			     STR(MAX_SECONDS) ", e.g. 60", arg);
		break;
	case OPT_PROM_FILE:
		env->prom_path = arg;
		break;
	case 'w':
		env->write_path = arg;
		break;
	case 'r':
		env->read_path = arg;
		env->mode = MODE_REPLAY;
		break;
	case OPT_FORCE:
		env->force = true;
		break;
	case OPT_HTML:
		env->html_path = arg;
		break;
	case 'g':
		env->grace_set = true;
		if (parse_seconds(arg, MAX_SECONDS, &env->grace_ns))
			fail(state, "invalid grace '%s': give seconds from 0 to "
			     STR(MAX_SECONDS) ", e.g. 5 or 0.25", arg);
		break;
	case OPT_PAUSE_GRACE:
		env->pause_grace_set = true;
		if (parse_seconds(arg, MAX_SECONDS, &env->pause_grace_ns))
			fail(state, "invalid pause grace '%s': give seconds from 0 to "
			     STR(MAX_SECONDS) ", e.g. 60", arg);
		break;
	case 'j':
		env->json = true;
		break;
	case 'v':
		env->verbose = true;
		break;
	case OPT_RINGBUF:
		if (parse_uint(arg, MAX_RINGBUF_KIB, &v) || (v & (v - 1)) || v < 4)
			fail(state, "invalid --ringbuf-size '%s': give KiB, a power of two from 4 to "
			     STR(MAX_RINGBUF_KIB), arg);
		else
			env->ringbuf_bytes = v * 1024;
		break;
	case OPT_MAX_FDS:
		parse_count(state, "--max-fds", arg, MAX_TRACKED_FDS, &env->max_tracked_fds);
		break;
	case OPT_ERROR_EXITCODE:
		if (parse_uint(arg, MAX_EXITCODE, &v))
			fail(state, "invalid --error-exitcode '%s': give a number from 1 to "
			     STR(MAX_EXITCODE), arg);
		else
			env->error_exitcode = v;
		break;
	case OPT_ERROR_ON:
		env->error_on_set = true;
		parse_error_on(state, env, arg);
		break;
	case OPT_SHARE_EVENTS:
		env->share_events = true;
		break;
	case OPT_MAX_PROCS:
		parse_count(state, "--max-procs", arg, MAX_MAX_PIDS, &env->max_pids);
		break;
	case 'h':
		argp_state_help(state, stdout, ARGP_HELP_STD_HELP);
		exit(0);
	case OPT_USAGE:
		argp_state_help(state, stdout, ARGP_HELP_USAGE);
		exit(0);
	case 'V':
		printf("fdtrace %s (%s)\n", FDTRACE_VERSION, FDTRACE_COMMIT);
		exit(0);
	case ARGP_KEY_ARGS:
		env->command = state->argv + state->next;
		/* execvp("") fails with ENOENT or EACCES: say what is wrong */
		if (!env->command[0][0])
			argp_failure(state, 2, 0, "empty command");
		break;
	case ARGP_KEY_ARG:
		/* Only reached for the first non-option when ARGS is not taken */
		return ARGP_ERR_UNKNOWN;
	case ARGP_KEY_END:
		if (env->error_on_set && !env->error_exitcode) {
			argp_failure(state, 2, 0, "--error-on goes with --error-exitcode N");
			break;
		}
		if (env->share_events && !env->command) {
			argp_failure(state, 2, 0, "--share-events goes with -- COMMAND");
			break;
		}
		if (env->read_path) {
			/* a recording says what was traced and how */
			if (env->command || env->nr_pids || env->follow || env->duration_ns ||
			    env->write_path || env->max_tracked_fds || env->select_all ||
			    env->nr_cgroups || env->nr_comms || env->stream_set)
				argp_failure(state, 2, 0, "-r FILE analyses a recording: it takes no -p, -a, --cgroup, --comm, -f, -d, -w, --max-fds, --stream or COMMAND");
			break;
		}
		/*
		 * Summary unless asked otherwise: a recording and the page
		 * need every record, so -w and --html default to full.
		 */
		if (!env->stream_set)
			env->stream_summary = !env->write_path && !env->html_path;
		if (env->stream_set && env->stream_summary && env->write_path)
			argp_failure(state, 2, 0, "-w records the full stream: no --stream=summary with it");
		else if (env->stream_set && env->stream_summary && env->html_path)
			argp_failure(state, 2, 0, "--html draws every watch: no --stream=summary with it");
		else if (env->force && !env->write_path && !env->html_path)
			argp_failure(state, 2, 0, "--force goes with -w FILE or --html FILE");
		else if (env->write_path && env->html_path && !strcmp(env->write_path, env->html_path))
			argp_failure(state, 2, 0, "-w and --html name the same file");
		else if (env->prom_path && !env->interval_ns)
			argp_failure(state, 2, 0, "--prom-file needs --interval SECONDS");
		else if ((env->select_all || env->nr_cgroups || env->nr_comms) &&
			 (env->command || env->nr_pids))
			argp_failure(state, 2, 0, "-a, --cgroup and --comm choose the processes themselves: no -p or COMMAND with them");
		else if (env->select_all && (env->nr_cgroups || env->nr_comms))
			argp_failure(state, 2, 0, "-a is every process: no --cgroup or --comm with it");
		else if (env->select_all || env->nr_cgroups || env->nr_comms)
			break;
		else if (env->command && env->nr_pids)
			argp_failure(state, 2, 0, "give either -p PID or a COMMAND, not both");
		else if (!env->command && !env->nr_pids)
			argp_failure(state, 2, 0, "nothing to trace: give -p PID, -- COMMAND, -a, --cgroup or --comm (see --help)");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

void env__parse(struct env *env, int argc, char **argv)
{
	static const struct argp argp = {
		.options = options,
		.parser = parse_opt,
		.args_doc = "[-- COMMAND [ARG...]]",
		.doc = doc,
	};
	error_t err;

	*env = (struct env){
		.mode = MODE_LIVE,
		.grace_ns = DEFAULT_GRACE_S * 1000000000ULL,
		.pause_grace_ns = DEFAULT_PAUSE_GRACE_S * 1000000000ULL,
		.ringbuf_bytes = DEFAULT_RINGBUF_KIB * 1024,
		.max_tracked_fds = 0,	/* sized from the targets' fd limits */
		.max_pids = DEFAULT_MAX_PIDS,
		.error_on = FINDING_BIT(REPORT_LEAK),
	};

	/*
	 * argp's own errors come with a second "Try --help" line and its
	 * own exit: capture them, keep the first line, exit 2 ourselves.
	 */
	/*
	 * getopt names the program by argv[0] in its own messages (it
	 * prints those itself): make that "fdtrace" whatever the path.
	 */
	argv[0] = "fdtrace";
	for (int i = 0, len = 0; i < argc && len < (int)sizeof(env->options); i++)
		len += snprintf(env->options + len, sizeof(env->options) - len, "%s%s",
				i ? " " : "", argv[i]);
	err = argp_parse(&argp, argc, argv, ARGP_NO_EXIT | ARGP_NO_HELP, NULL, env);
	if (err_stream)
		fclose(err_stream);
	if (err_text && err_len) {
		char *line, *save = NULL;

		for (line = strtok_r(err_text, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			if (!strncmp(line, "Try `", 5))
				continue;	/* getopt already said what was wrong */
			if (!strncmp(line, "fdtrace: ", 9))
				line += 9;
			fprintf(stderr, "fdtrace: %s\n", line);
			break;
		}
		free(err_text);
		exit(2);
	}
	free(err_text);
	if (err) {
		fprintf(stderr, "fdtrace: invalid arguments: %s\n", strerror(err));
		exit(2);
	}
	/* a fleet pays for no stack it did not ask for */
	if (!env->stacks_set)
		env->stacks = !(env->select_all || env->nr_cgroups || env->nr_comms);
}
