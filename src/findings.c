// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "findings.h"

#define NR_KINDS	(REPORT_TOTALS + 1)

struct findings {
	struct output *out;
	__u64 count[NR_KINDS];
	/* --share-events */
	struct output *copy;
	FILE *copy_file;
	int cmd_fd;		/* the command's read-only fd, ours until it forks */
};

/* The JSON event names, as output.c writes them: part of the interface. */
static const char *const kind_names[NR_KINDS] = {
	[REPORT_LEAK]			= "leak",
	[REPORT_CLOSED_WHILE_WATCHED]	= "closed_while_watched",
	[REPORT_DEREGISTER_FAILED]	= "deregister_failed",
};

const char *findings__kind_name(enum report_kind kind)
{
	return (unsigned int)kind < NR_KINDS ? kind_names[kind] : NULL;
}

struct findings *findings__new(struct output *out)
{
	struct findings *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->out = out;
	f->cmd_fd = -1;
	return f;
}

void findings__report(void *ctx, const struct report *r)
{
	struct findings *f = ctx;

	if ((unsigned int)r->kind < NR_KINDS)
		f->count[r->kind]++;
	output__report(f->out, r);
	/* a copy that cannot be written loses the copy, never the run */
	if (f->copy)
		output__report(f->copy, r);
}

__u64 findings__count(const struct findings *f, enum report_kind kind)
{
	return (unsigned int)kind < NR_KINDS ? f->count[kind] : 0;
}

int findings__exit_status(const struct findings *f, unsigned int error_on, int code,
			  int status)
{
	if (!code || !f)
		return status;
	for (unsigned int k = 0; k < NR_KINDS; k++)
		if ((error_on & FINDING_BIT(k)) && f->count[k])
			return code;
	return status;
}

int findings__share(struct findings *f, unsigned int error_on, __s64 realtime_offset_ns)
{
	struct output_opts o = { .format = OUTPUT_JSON, .realtime_offset_ns = realtime_offset_ns };
	char path[64], num[16], kinds[128] = "";
	int fd, err;

	/*
	 * An anonymous file rather than a pipe: fdtrace never blocks on a
	 * command that does not read, and nothing is left on disk.  The
	 * command's fd is opened anew through /proc so that it has an
	 * offset of its own: a dup() would share ours, always at the end.
	 */
	fd = memfd_create("fdtrace-events", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	f->cmd_fd = open(path, O_RDONLY);
	if (f->cmd_fd < 0)
		goto err;
	f->copy_file = fdopen(fd, "w");
	if (!f->copy_file)
		goto err;
	fd = -1;
	o.out = o.err = f->copy_file;
	f->copy = output__new(&o);
	if (!f->copy)
		goto err;
	for (unsigned int k = 0; k < NR_KINDS; k++)
		if ((error_on & FINDING_BIT(k)) && kind_names[k])
			snprintf(kinds + strlen(kinds), sizeof(kinds) - strlen(kinds), "%s%s",
				 kinds[0] ? "," : "", kind_names[k]);
	snprintf(num, sizeof(num), "%d", f->cmd_fd);
	if (setenv(FINDINGS_ENV_FD, num, 1) || setenv(FINDINGS_ENV_ERROR_ON, kinds, 1))
		goto err;
	return 0;
err:
	err = -errno;
	if (fd >= 0)
		close(fd);
	return err;
}

void findings__start(struct findings *f, const struct start_info *si)
{
	if (f->cmd_fd >= 0) {
		close(f->cmd_fd);
		f->cmd_fd = -1;
	}
	if (f->copy)
		output__start(f->copy, si);
}

void findings__free(struct findings *f)
{
	if (!f)
		return;
	if (f->cmd_fd >= 0)
		close(f->cmd_fd);
	output__free(f->copy);
	if (f->copy_file)
		fclose(f->copy_file);
	free(f);
}
