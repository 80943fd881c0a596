/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Unit tests for ring.c: wrap-around, partial writes and reads, bounds. */
#include <stdint.h>
#include <stdlib.h>

#include "ring.h"
#include "unit.h"

int main(void)
{
	struct ring r;
	char out[64];
	unsigned char big[1000], got[1000];
	size_t i, w = 0, rd = 0, n;
	uint32_t x = 12345;

	CHECK(ring_init(&r, 8) == 0);
	CHECK(ring_space(&r) == 8);
	CHECK(ring_write(&r, "abcdef", 6) == 6);
	CHECK(ring_read(&r, out, 4) == 4);
	CHECK(memcmp(out, "abcd", 4) == 0);
	/* wraps: 2 stored at 4..5, 6 more fit */
	CHECK(ring_write(&r, "ghijklmnop", 10) == 6);
	CHECK(ring_len(&r) == 8);
	CHECK(ring_space(&r) == 0);
	CHECK(ring_write(&r, "z", 1) == 0);
	CHECK(ring_read(&r, out, sizeof(out)) == 8);
	CHECK(memcmp(out, "efghijkl", 8) == 0);
	CHECK(ring_read(&r, out, 1) == 0);
	ring_free(&r);

	/* random-sized producer/consumer keeps order and loses nothing */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7 + 3);
	CHECK(ring_init(&r, 37) == 0);
	while (rd < sizeof(big)) {
		x = x * 1103515245u + 12345u;
		n = (x >> 16) % 50;
		if (w < sizeof(big)) {
			if (n > sizeof(big) - w)
				n = sizeof(big) - w;
			w += ring_write(&r, big + w, n);
		}
		x = x * 1103515245u + 12345u;
		n = (x >> 16) % 50;
		rd += ring_read(&r, got + rd, n > sizeof(got) - rd ? sizeof(got) - rd : n);
		CHECK(ring_len(&r) <= 37);
	}
	CHECK(memcmp(big, got, sizeof(big)) == 0);
	ring_free(&r);
	ring_free(&r); /* idempotent */

	/* growing a wrapped ring keeps the bytes in order */
	{
		CHECK(ring_init(&r, 8) == 0);
		CHECK(ring_write(&r, "abcdef", 6) == 6);
		CHECK(ring_read(&r, out, 4) == 4); /* head at 4 */
		CHECK(ring_write(&r, "ghijkl", 6) == 6); /* wraps: full */
		CHECK(ring_space(&r) == 0);
		CHECK(ring_grow(&r, 4) == 0 && r.cap == 8); /* never shrinks */
		CHECK(ring_grow(&r, 16) == 0 && r.cap == 16);
		CHECK(ring_len(&r) == 8 && ring_space(&r) == 8);
		CHECK(ring_write(&r, "mn", 2) == 2);
		CHECK(ring_read(&r, out, 16) == 10);
		CHECK(memcmp(out, "efghijklmn", 10) == 0);
		ring_free(&r);
	}
	UNIT_DONE();
}
