/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * stats: allocation and summing of the per-worker counter slots
 * (stats.h). The slots are written by their worker threads and read by
 * whoever asks; nothing here locks.
 */
#include <stdlib.h>
#include <string.h>

#include "stats.h"

struct stats_slot *stats_new(unsigned n)
{
	struct stats_slot *s;
	unsigned i, c;

	if (n == 0)
		n = 1;
	s = aligned_alloc(64, sizeof(*s) * n);
	if (s == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		for (c = 0; c < STATS_COUNT; c++)
			atomic_init(&s[i].v[c], 0);
	return s;
}

void stats_free(struct stats_slot *slots)
{
	free(slots);
}

void stats_sum(const struct stats_slot *slots, unsigned n,
	       uint64_t out[STATS_COUNT])
{
	unsigned i, c;

	memset(out, 0, sizeof(uint64_t) * STATS_COUNT);
	for (i = 0; slots != NULL && i < n; i++)
		for (c = 0; c < STATS_COUNT; c++)
			out[c] += atomic_load_explicit(
				&((struct stats_slot *)(uintptr_t)&slots[i])
					 ->v[c],
				memory_order_relaxed);
}
