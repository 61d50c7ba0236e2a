// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attrib.h"
#include "htab.h"
#include "output.h"

struct slot {
	__u32 pid;		/* htab key */
	__u8 used;
	struct attrib_entry e;
};

struct attrib {
	struct htab tab;
};

struct attrib *attrib__new(void)
{
	struct attrib *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	htab__init(&a->tab, sizeof(struct slot), 4, NULL, NULL);
	return a;
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/*
 * A 64-hex-digit container id somewhere in one path component, as
 * docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope,
 * libpod-<id>.scope, or the whole component (/docker/<id>,
 * /kubepods/.../<id>).
 */
static bool container_id(const char *comp, size_t n, char *buf, size_t len)
{
	for (size_t i = 0; i + 64 <= n; i++) {
		if ((i == 0 || comp[i - 1] == '-') && is_hex(comp + i, 64) &&
		    (i + 64 == n || comp[i + 64] == '.')) {
			snprintf(buf, len, "%.12s", comp + i);
			return true;
		}
	}
	return false;
}

void attrib__unit_of(const char *cgroup, char *buf, size_t len)
{
	const char *p = cgroup, *unit = NULL;
	size_t unit_n = 0;

	buf[0] = '\0';
	while (p && *p) {
		const char *end;
		size_t n;

		while (*p == '/')
			p++;
		end = strchr(p, '/');
		n = end ? (size_t)(end - p) : strlen(p);
		if (n && container_id(p, n, buf, len))
			return;	/* a container beats the scope that holds it */
		if ((n > 8 && !strncmp(p + n - 8, ".service", 8)) ||
		    (n > 6 && !strncmp(p + n - 6, ".scope", 6))) {
			unit = p;
			unit_n = n;
		}
		p = end;
	}
	if (unit)
		snprintf(buf, len, "%.*s", (int)unit_n, unit);
}

int attrib__set(struct attrib *a, __u32 pid, const char *cgroup, const char *exe)
{
	__u32 slot = htab__find(&a->tab, pid);
	struct slot *s;

	if (slot == HTAB_NONE)
		slot = htab__insert(&a->tab, pid);
	if (slot == HTAB_NONE)
		return -ENOMEM;
	s = htab__at(&a->tab, slot);
	snprintf(s->e.cgroup, sizeof(s->e.cgroup), "%s", cgroup ? cgroup : "");
	snprintf(s->e.exe, sizeof(s->e.exe), "%s", exe ? exe : "");
	attrib__unit_of(s->e.cgroup, s->e.unit, sizeof(s->e.unit));
	return 0;
}

const struct attrib_entry *attrib__get(const struct attrib *a, __u32 pid)
{
	__u32 slot = a ? htab__find(&a->tab, pid) : HTAB_NONE;

	return slot == HTAB_NONE ? NULL : &((struct slot *)htab__at(&a->tab, slot))->e;
}

void attrib__drop(struct attrib *a, __u32 pid)
{
	__u32 slot = htab__find(&a->tab, pid);

	if (slot != HTAB_NONE)
		htab__remove(&a->tab, slot);
}

void attrib__free(struct attrib *a)
{
	if (!a)
		return;
	htab__free(&a->tab);
	free(a);
}

bool attrib__output(void *ctx, __u32 pid, struct proc_attrib *out)
{
	const struct attrib_entry *e = attrib__get(ctx, pid);

	if (!e)
		return false;
	out->unit = e->unit;
	out->cgroup = e->cgroup;
	out->exe = e->exe;
	return true;
}
