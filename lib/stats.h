/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * stats: the request counters behind alkproxy_stats() (and, later, the
 * metrics listener). One slot per worker thread, written only by that
 * thread with relaxed atomic loads and stores (no lock, no read-modify-
 * write, a cache line of its own), summed on read by any thread: a reader
 * sees each counter's value at some moment of the read, never a torn one.
 */
#ifndef AP_STATS_H
#define AP_STATS_H

#include <stdatomic.h>
#include <stdint.h>

enum stats_counter {
	STATS_REQUESTS = 0, /* completed (logged) requests */
	STATS_STATUS_1XX,   /* … by status class, 1xx to 5xx */
	STATS_STATUS_2XX,
	STATS_STATUS_3XX,
	STATS_STATUS_4XX,
	STATS_STATUS_5XX,
	STATS_BYTES_IN,	      /* request body bytes received */
	STATS_BYTES_OUT,      /* response body bytes relayed from upstreams */
	STATS_RATE_LIMITED,   /* 429s of the rate limiter */
	STATS_UPSTREAM_ERRORS, /* 502/504 the proxy answered for an upstream */
	STATS_COUNT
};

struct stats_slot {
	_Atomic uint64_t v[STATS_COUNT];
} __attribute__((aligned(64)));

/* Add n to counter c of slot s. Only the slot's own thread calls it. */
static inline void stats_add(struct stats_slot *s, enum stats_counter c,
			     uint64_t n)
{
	if (s == NULL)
		return;
	atomic_store_explicit(
		&s->v[c],
		atomic_load_explicit(&s->v[c], memory_order_relaxed) + n,
		memory_order_relaxed);
}

/* n zeroed slots (free with stats_free), or NULL. */
struct stats_slot *stats_new(unsigned n);
void stats_free(struct stats_slot *slots);
/* out[c] = the sum of counter c over the n slots. Any thread. */
void stats_sum(const struct stats_slot *slots, unsigned n,
	       uint64_t out[STATS_COUNT]);

#endif
