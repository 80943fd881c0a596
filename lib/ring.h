/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * ring: a bounded byte ring (its capacity changes only by ring_grow). Not
 * thread-safe: a request's rings belong to the thread serving it.
 */
#ifndef AP_RING_H
#define AP_RING_H

#include <stddef.h>

struct ring {
	char *buf;
	size_t cap;
	size_t head; /* read position */
	size_t len;  /* bytes stored */
};

/* Allocates cap bytes; returns 0 or -1. */
int ring_init(struct ring *r, size_t cap);
/* Make the capacity cap (no smaller than now), keeping the stored bytes
 * in order. Returns 0, or -1 (out of memory; the ring is unchanged). */
int ring_grow(struct ring *r, size_t cap);
void ring_free(struct ring *r);
static inline size_t ring_len(const struct ring *r) { return r->len; }
static inline size_t ring_space(const struct ring *r) { return r->cap - r->len; }
/* Copies min(len, space) bytes in; returns the count copied. */
size_t ring_write(struct ring *r, const void *data, size_t len);
/* Copies min(len, stored) bytes out; returns the count copied. */
size_t ring_read(struct ring *r, void *out, size_t len);

#endif
