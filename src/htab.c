// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Linear probing with backward-shift deletion: no tombstones, so probe
 * lengths stay short however many fds come and go.  Grows at 3/4 full,
 * shrinks below 1/8, so an fd opened and closed over and over never makes
 * the table allocate.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "htab.h"

/* Fibonacci hashing: fds and pids are small dense integers. */
static inline __u32 hash32(__u32 key, __u8 bits)
{
	return (key * 0x9E3779B9u) >> (32 - bits);
}

static inline struct htab_ent *ent(const struct htab *h, __u32 slot)
{
	return htab__at(h, slot);
}

void htab__init(struct htab *h, size_t esize, __u8 min_bits,
		htab_moved_fn moved, void *ctx)
{
	memset(h, 0, sizeof(*h));
	h->esize = esize;
	h->min_bits = min_bits;
	h->moved = moved;
	h->ctx = ctx;
}

__u32 htab__find(const struct htab *h, __u32 key)
{
	__u32 mask, i;

	if (!h->slots)
		return HTAB_NONE;
	mask = (1u << h->bits) - 1;
	for (i = hash32(key, h->bits);; i = (i + 1) & mask) {
		const struct htab_ent *e = ent(h, i);

		if (!e->used)
			return HTAB_NONE;
		if (e->key == key)
			return i;
	}
}

static int resize(struct htab *h, __u8 bits)
{
	__u32 cap = 1u << bits, mask = cap - 1, old_cap = htab__cap(h), i, j;
	char *slots = calloc(cap, h->esize);

	if (!slots)
		return -ENOMEM;
	for (i = 0; i < old_cap; i++) {
		const struct htab_ent *e = ent(h, i);

		if (!e->used)
			continue;
		for (j = hash32(e->key, bits);
		     ((struct htab_ent *)(slots + (size_t)j * h->esize))->used;
		     j = (j + 1) & mask)
			;
		memcpy(slots + (size_t)j * h->esize, e, h->esize);
		if (h->moved)
			h->moved(h->ctx, slots + (size_t)j * h->esize, j);
	}
	free(h->slots);
	h->slots = slots;
	h->bits = bits;
	return 0;
}

__u32 htab__insert(struct htab *h, __u32 key)
{
	struct htab_ent *e;
	__u32 mask, i;

	if (!h->slots) {
		if (resize(h, h->min_bits))
			return HTAB_NONE;
	} else if ((h->nr + 1) * 4 > (3u << h->bits)) {
		if (resize(h, h->bits + 1))
			return HTAB_NONE;
	}
	mask = (1u << h->bits) - 1;
	for (i = hash32(key, h->bits); ent(h, i)->used; i = (i + 1) & mask)
		;
	e = ent(h, i);
	memset(e, 0, h->esize);
	e->key = key;
	e->used = 1;
	h->nr++;
	return i;
}

void htab__remove(struct htab *h, __u32 i)
{
	__u32 mask = (1u << h->bits) - 1, j = i;

	for (;;) {
		__u32 k;

		j = (j + 1) & mask;
		if (!ent(h, j)->used)
			break;
		k = hash32(ent(h, j)->key, h->bits);
		/* the entry at j may fill the hole at i unless its home lies in (i, j] */
		if (i <= j ? (k > i && k <= j) : (k > i || k <= j))
			continue;
		memcpy(ent(h, i), ent(h, j), h->esize);
		if (h->moved)
			h->moved(h->ctx, ent(h, i), i);
		i = j;
	}
	memset(ent(h, i), 0, h->esize);
	h->nr--;
	if (h->bits > h->min_bits && h->nr * 8 < (1u << h->bits))
		resize(h, h->bits - 1);	/* on ENOMEM the table just stays large */
}

void htab__free(struct htab *h)
{
	free(h->slots);
	h->slots = NULL;
	h->nr = 0;
	h->bits = 0;
}
