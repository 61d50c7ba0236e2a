// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "env.h"
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
"\n"
"EXAMPLES:\n"
"  fdtrace -p 4242               # trace a running server until Ctrl-C\n"
"  fdtrace -p 4242,4243 -g 30    # two processes, leak after 30 s unwatched\n"
"  fdtrace -j -d 60 -p 4242      # JSON Lines for one minute\n"
"  fdtrace -f -- python3 app.py  # run a command (and its children) traced;\n"
"                                # exit with its exit status\n";

enum {
	OPT_RINGBUF = 0x100,
	OPT_MAX_FDS,
	OPT_USAGE,
	OPT_PAUSE_GRACE,
};

static const struct argp_option options[] = {
	{ NULL, 0, NULL, 0, "What to trace:", 1 },
	{ "pid", 'p', "PID[,PID...]", 0, "Trace these running processes (repeatable)", 1 },
	{ "follow", 'f', NULL, 0, "Also trace children the traced processes fork", 1 },
	{ "duration", 'd', "SECONDS", 0, "Stop after this long (default: until Ctrl-C or the targets exit)", 1 },

	{ NULL, 0, NULL, 0, "What to report:", 2 },
	{ "grace", 'g', "SECONDS", 0, "Report an fd unwatched and open for longer than this (default "
	  STR(DEFAULT_GRACE_S) "; fractions allowed)", 2 },
	{ "pause-grace", OPT_PAUSE_GRACE, "SECONDS", 0, "A socket with data waiting unread is paused, not leaked, for this long (default "
	  STR(DEFAULT_PAUSE_GRACE_S) ")", 2 },
	{ "json", 'j', NULL, 0, "JSON Lines on stdout", 2 },
	{ "verbose", 'v', NULL, 0, "Show libbpf's debug output", 2 },

	{ NULL, 0, NULL, 0, "Tuning:", 3 },
	{ "ringbuf-size", OPT_RINGBUF, "KIB", 0, "Ring buffer size in KiB, a power of two (default " STR(DEFAULT_RINGBUF_KIB) ")", 3 },
	{ "max-fds", OPT_MAX_FDS, "N", 0, "Most fds tracked at once in the kernel (default: the targets' fd limits, at least " STR(DEFAULT_MAX_FDS) ")", 3 },

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

static int parse_seconds(const char *s, __u64 *ns)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 1e9)
		return -EINVAL;
	*ns = (__u64)(v * 1e9 + 0.5);
	return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static void parse_pids(struct argp_state *state, struct env *env, const char *arg)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	unsigned long pid;

	if (!copy) {
		fail(state, "%s", strerror(ENOMEM));
		return;
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (parse_uint(tok, INT_MAX, &pid)) {
			fail(state, "invalid pid '%s'", tok);
			break;
		}
		if (env->nr_pids == ENV_MAX_PIDS) {
			fail(state, "too many pids (at most %s)", STR(ENV_MAX_PIDS));
			break;
		}
		env->pids[env->nr_pids++] = pid;
	}
	if (!tok && !env->nr_pids)
		fail(state, "invalid pid list '%s'", arg);
	free(copy);
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
		if (parse_seconds(arg, &env->duration_ns) || !env->duration_ns)
			fail(state, "invalid duration '%s': give seconds > 0", arg);
		break;
	case 'g':
		if (parse_seconds(arg, &env->grace_ns))
			fail(state, "invalid grace '%s': give seconds >= 0", arg);
		break;
	case OPT_PAUSE_GRACE:
		if (parse_seconds(arg, &env->pause_grace_ns))
			fail(state, "invalid pause grace '%s': give seconds >= 0", arg);
		break;
	case 'j':
		env->json = true;
		break;
	case 'v':
		env->verbose = true;
		break;
	case OPT_RINGBUF:
		if (parse_uint(arg, 1UL << 20, &v) || (v & (v - 1)) || v < 4)
			fail(state, "invalid ring buffer size '%s': a power of two KiB, 4 to 1048576", arg);
		else
			env->ringbuf_bytes = v * 1024;
		break;
	case OPT_MAX_FDS:
		if (parse_uint(arg, 1UL << 24, &v))
			fail(state, "invalid --max-fds '%s'", arg);
		else
			env->max_tracked_fds = v;
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
		break;
	case ARGP_KEY_ARG:
		/* Only reached for the first non-option when ARGS is not taken */
		return ARGP_ERR_UNKNOWN;
	case ARGP_KEY_END:
		if (env->command && env->nr_pids)
			argp_failure(state, 2, 0, "give either -p PID or a COMMAND, not both");
		else if (!env->command && !env->nr_pids)
			argp_failure(state, 2, 0, "nothing to trace: give -p PID or -- COMMAND (see --help)");
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
}
