// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Names are cached per (pid, address), a handful per process: a server's
 * DELs come from a few places.  A process's names go when it execs or
 * exits.  The table itself needs no library: replay fills it from the
 * recording; live gives it a resolver (sites_dwfl.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sites.h"

#define MAX_NAMES	4096	/* bounded whatever the traced processes do */

struct name {
	__u32 pid;
	__u64 addr;
	char text[SITE_LEN];
};

struct sites {
	site_resolve_fn resolve;
	site_forget_fn forget;
	void *ctx;
	struct name *names;
	size_t nr, cap;
};

struct sites *sites__new(site_resolve_fn resolve, site_forget_fn forget, void *ctx)
{
	struct sites *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->resolve = resolve;
	s->forget = forget;
	s->ctx = ctx;
	return s;
}

static struct name *find(struct sites *s, __u32 pid, __u64 addr)
{
	for (size_t i = 0; i < s->nr; i++)
		if (s->names[i].pid == pid && s->names[i].addr == addr)
			return &s->names[i];
	return NULL;
}

int sites__set(struct sites *s, __u32 pid, __u64 addr, const char *name)
{
	struct name *n = find(s, pid, addr);

	if (!n) {
		if (s->nr == MAX_NAMES)
			return -ENOSPC;
		if (s->nr == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 16;
			struct name *v = realloc(s->names, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			s->names = v;
			s->cap = cap;
		}
		n = &s->names[s->nr++];
		n->pid = pid;
		n->addr = addr;
	}
	snprintf(n->text, sizeof(n->text), "%s", name);
	/* names come from ELF files and recordings: no terminal controls */
	for (char *p = n->text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return 0;
}

const char *sites__name(struct sites *s, __u32 pid, __u64 addr, int *fresh)
{
	struct name *n;
	char buf[SITE_LEN];

	*fresh = 0;
	if (!s || !addr)
		return NULL;
	n = find(s, pid, addr);
	if (n)
		return n->text;
	if (addr >> 63)
		return NULL;	/* Python frames are only ever set */
	if (!s->resolve || s->resolve(s->ctx, pid, addr, buf, sizeof(buf)))
		return NULL;
	if (sites__set(s, pid, addr, buf))
		return NULL;
	*fresh = 1;
	return find(s, pid, addr)->text;
}

int sites__py_frames(struct sites *s, __u32 pid, __u32 id, char *buf, size_t len)
{
	size_t used = 0;
	struct name *n;
	int i;

	if (!s || !id)
		return 0;
	if (len)
		buf[0] = 0;
	for (i = 0; i <= 16 && (n = find(s, pid, SITE_PY_KEY(id, i))); i++) {
		if (len) {
			int w = snprintf(buf + used, len - used, "%s%s", i ? "\n" : "", n->text);

			if (w < 0 || (size_t)w >= len - used)
				break;
			used += w;
		}
	}
	return i;
}

void sites__forget(struct sites *s, __u32 pid)
{
	size_t i, j;

	if (!s)
		return;
	for (i = j = 0; i < s->nr; i++)
		if (s->names[i].pid != pid)
			s->names[j++] = s->names[i];
	s->nr = j;
	if (s->forget)
		s->forget(s->ctx, pid);
}

void sites__free(struct sites *s)
{
	if (!s)
		return;
	free(s->names);
	free(s);
}
