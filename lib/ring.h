/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * ring: a fixed-capacity byte ring. Not thread-safe by itself: the proxy
 * protects each ring with its transfer's mutex.
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
void ring_free(struct ring *r);
static inline size_t ring_len(const struct ring *r) { return r->len; }
static inline size_t ring_space(const struct ring *r) { return r->cap - r->len; }
/* Copies min(len, space) bytes in; returns the count copied. */
size_t ring_write(struct ring *r, const void *data, size_t len);
/* Copies min(len, stored) bytes out; returns the count copied. */
size_t ring_read(struct ring *r, void *out, size_t len);

#endif
