/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * ring: bounded byte ring used for the upload and download buffers of a
 * proxied request. Owns only its buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "ring.h"

int ring_init(struct ring *r, size_t cap)
{
	r->buf = malloc(cap);
	r->cap = r->buf != NULL ? cap : 0;
	r->head = 0;
	r->len = 0;
	return r->buf != NULL ? 0 : -1;
}

int ring_grow(struct ring *r, size_t cap)
{
	size_t n = r->len;
	char *nb;

	if (cap <= r->cap)
		return 0;
	nb = malloc(cap);
	if (nb == NULL)
		return -1;
	ring_read(r, nb, n); /* the stored bytes, in order, at 0 */
	r->len = n;
	free(r->buf);
	r->buf = nb;
	r->cap = cap;
	r->head = 0;
	return 0;
}

void ring_free(struct ring *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = r->head = r->len = 0;
}

size_t ring_write(struct ring *r, const void *data, size_t len)
{
	const char *src = data;
	size_t tail, first;

	if (len > r->cap - r->len)
		len = r->cap - r->len;
	if (len == 0)
		return 0;
	tail = (r->head + r->len) % r->cap;
	first = r->cap - tail;
	if (first > len)
		first = len;
	memcpy(r->buf + tail, src, first);
	memcpy(r->buf, src + first, len - first);
	r->len += len;
	return len;
}

size_t ring_read(struct ring *r, void *out, size_t len)
{
	char *dst = out;
	size_t first;

	if (len > r->len)
		len = r->len;
	if (len == 0)
		return 0;
	first = r->cap - r->head;
	if (first > len)
		first = len;
	memcpy(dst, r->buf + r->head, first);
	memcpy(dst + first, r->buf, len - first);
	r->head = (r->head + len) % r->cap;
	r->len -= len;
	if (r->len == 0)
		r->head = 0;
	return len;
}
