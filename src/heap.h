/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Binary min-heap of deadlines.  A node names its owner by two integers
 * (the engine: process index and fd), and the owner is told where its
 * node sits after every move, so it can take the node out in O(log n)
 * when the fd is closed or watched again before its deadline.
 */
#ifndef __FDTRACE_HEAP_H
#define __FDTRACE_HEAP_H

#include <stdbool.h>
#include <linux/types.h>

#define HEAP_NONE	((__u32)-1)

struct heap_node {
	__u64 key;		/* deadline ordering: smallest first */
	__u32 a, b;		/* the owner's names for itself */
};

/* Ties on key: true if x goes before y.  Optional (NULL: any order). */
typedef bool (*heap_tie_fn)(void *ctx, const struct heap_node *x,
			    const struct heap_node *y);
/* The node now sits at index idx. */
typedef void (*heap_moved_fn)(void *ctx, const struct heap_node *n, __u32 idx);

struct heap {
	struct heap_node *v;
	__u32 nr, cap;
	heap_tie_fn tie;
	heap_moved_fn moved;
	void *ctx;
};

void heap__init(struct heap *h, heap_tie_fn tie, heap_moved_fn moved, void *ctx);
/* 0 or -ENOMEM */
int heap__push(struct heap *h, const struct heap_node *n);
/* Take out the node at idx; its owner is told nothing (it asked). */
void heap__remove(struct heap *h, __u32 idx);
/* The node a moved() callback last placed at idx, or re-place after an update. */
void heap__update(struct heap *h, __u32 idx);
void heap__free(struct heap *h);

static inline const struct heap_node *heap__top(const struct heap *h)
{
	return h->nr ? &h->v[0] : NULL;
}

#endif /* __FDTRACE_HEAP_H */
