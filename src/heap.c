// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "heap.h"

#define HEAP_MIN	64

void heap__init(struct heap *h, heap_tie_fn tie, heap_moved_fn moved, void *ctx)
{
	memset(h, 0, sizeof(*h));
	h->tie = tie;
	h->moved = moved;
	h->ctx = ctx;
}

static bool before(const struct heap *h, const struct heap_node *x,
		   const struct heap_node *y)
{
	if (x->key != y->key)
		return x->key < y->key;
	return h->tie ? h->tie(h->ctx, x, y) : false;
}

static inline void put(struct heap *h, __u32 i, const struct heap_node *n)
{
	h->v[i] = *n;
	h->moved(h->ctx, n, i);
}

static void sift_up(struct heap *h, __u32 i)
{
	struct heap_node n = h->v[i];

	while (i > 0) {
		__u32 parent = (i - 1) / 2;

		if (!before(h, &n, &h->v[parent]))
			break;
		put(h, i, &h->v[parent]);
		i = parent;
	}
	put(h, i, &n);
}

static void sift_down(struct heap *h, __u32 i)
{
	struct heap_node n = h->v[i];

	for (;;) {
		__u32 c = 2 * i + 1;

		if (c >= h->nr)
			break;
		if (c + 1 < h->nr && before(h, &h->v[c + 1], &h->v[c]))
			c++;
		if (!before(h, &h->v[c], &n))
			break;
		put(h, i, &h->v[c]);
		i = c;
	}
	put(h, i, &n);
}

int heap__push(struct heap *h, const struct heap_node *n)
{
	if (h->nr == h->cap) {
		__u32 cap = h->cap ? h->cap * 2 : HEAP_MIN;
		struct heap_node *v = realloc(h->v, (size_t)cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	h->v[h->nr] = *n;
	sift_up(h, h->nr++);
	return 0;
}

void heap__update(struct heap *h, __u32 i)
{
	if (i > 0 && before(h, &h->v[i], &h->v[(i - 1) / 2]))
		sift_up(h, i);
	else
		sift_down(h, i);
}

void heap__remove(struct heap *h, __u32 i)
{
	struct heap_node last = h->v[--h->nr];

	if (i == h->nr)
		return;
	h->v[i] = last;
	heap__update(h, i);
}

void heap__free(struct heap *h)
{
	free(h->v);
	h->v = NULL;
	h->nr = h->cap = 0;
}
