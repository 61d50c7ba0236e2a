/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Open-addressing hash table of fixed-size entries keyed by a 32-bit
 * integer, for the engine's per-process fd tables and its pid table.
 *
 * Entries are stored in the table itself (no pointer per entry), so an
 * entry moves when the table grows or when a removal shifts its
 * neighbours back: the owner learns of every move through moved(), and
 * never holds a slot number across an insert or a removal.
 *
 * Layout contract: every entry begins with a __u32 key followed by a
 * __u8 that is 0 in a free slot and non-zero in a used one (a calloc'd
 * table is all free).
 */
#ifndef __FDTRACE_HTAB_H
#define __FDTRACE_HTAB_H

#include <stddef.h>
#include <linux/types.h>

#define HTAB_NONE	((__u32)-1)

struct htab_ent {
	__u32 key;
	__u8 used;
};

/* An entry now lives at slot (after a resize or a removal's shift). */
typedef void (*htab_moved_fn)(void *ctx, void *ent, __u32 slot);

struct htab {
	void *slots;		/* NULL until the first insert */
	size_t esize;
	__u32 nr;
	__u8 bits;		/* 1 << bits slots */
	__u8 min_bits;
	htab_moved_fn moved;	/* optional */
	void *ctx;
};

void htab__init(struct htab *h, size_t esize, __u8 min_bits,
		htab_moved_fn moved, void *ctx);
/* Slot of key, or HTAB_NONE. */
__u32 htab__find(const struct htab *h, __u32 key);
/*
 * Insert key (it must not be present): a zeroed entry with key and used
 * set.  Returns its slot, or HTAB_NONE on ENOMEM.
 */
__u32 htab__insert(struct htab *h, __u32 key);
/*
 * Remove the entry at slot (the caller has released what it owns).
 * Other entries may move; the table shrinks once it is 1/8 full.
 */
void htab__remove(struct htab *h, __u32 slot);
void htab__free(struct htab *h);

static inline __u32 htab__cap(const struct htab *h)
{
	return h->slots ? 1u << h->bits : 0;
}

static inline void *htab__at(const struct htab *h, __u32 slot)
{
	return (char *)h->slots + (size_t)slot * h->esize;
}

static inline int htab__used(const struct htab *h, __u32 slot)
{
	return ((const struct htab_ent *)htab__at(h, slot))->used;
}

#endif /* __FDTRACE_HTAB_H */
