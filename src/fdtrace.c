// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * fdtrace: find file descriptors that outlive their epoll watch.
 *
 * main() is the lifecycle only: parse the command line, set up the one
 * output, hand off to the mode the command line chose, and return its
 * exit status.  Each mode is a file of its own (live.c, replay.c; an
 * agent mode comes next), listed in modes[].
 */
#include <errno.h>
#include <string.h>
#include "clock.h"
#include "env.h"
#include "findings.h"
#include "live.h"
#include "output.h"
#include "replay.h"

struct mode {
	enum env_mode id;
	int (*run)(const struct env *env, struct output *out);
};

/*
 * -r FILE: the recording goes through the same engine and output, and a
 * recorded run fails a CI job as the live one would (--error-exitcode).
 */
static int replay_mode(const struct env *env, struct output *out)
{
	struct replay_opts o = {
		.grace_ns = env->grace_ns,
		.grace_set = env->grace_set,
		.pause_grace_ns = env->pause_grace_ns,
		.pause_grace_set = env->pause_grace_set,
		.html_path = env->html_path,
		.force = env->force,
		.report = findings__report,
	};
	int status;

	o.report_ctx = findings__new(out);
	if (!o.report_ctx) {
		output__error(out, "cannot count findings: %s", strerror(errno));
		return 2;
	}
	status = replay__run(env->read_path, &o, out);
	if (status == 0)
		status = findings__exit_status(o.report_ctx, env->error_on,
					       env->error_exitcode, status);
	findings__free(o.report_ctx);
	return status;
}

static const struct mode modes[] = {
	{ MODE_LIVE, live__run },
	{ MODE_REPLAY, replay_mode },
};

int main(int argc, char **argv)
{
	static struct env env;
	struct output_opts oopts = {};
	struct output *out;
	int status = 2, err;

	err = output__reserve_std_fds();
	if (err) {
		output__error(NULL, "cannot open /dev/null: %s", strerror(-err));
		return 2;
	}
	env__parse(&env, argc, argv);

	oopts.format = env.json ? OUTPUT_JSON : OUTPUT_TEXT;
	oopts.realtime_offset_ns = clock__realtime_offset();
	/* fleet modes: where each process lives is a column of its own */
	oopts.show_unit = env.select_all || env.nr_cgroups || env.nr_comms;
	out = output__new(&oopts);
	if (!out) {
		output__error(NULL, "cannot set up output: %s", strerror(errno));
		return 2;
	}
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (modes[i].id == env.mode) {
			status = modes[i].run(&env, out);
			break;
		}
	}
	output__free(out);
	return status;
}
