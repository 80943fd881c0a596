/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * cidr: address ranges (see cidr.h). Owns nothing; pure functions, any
 * thread.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "cidr.h"

static int parse_bits(const char *s, size_t n, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

int cidr_parse(const char *s, size_t n, struct cidr *out)
{
	char buf[CIDR_TEXT_MAX];
	const char *slash = memchr(s, '/', n);
	const char *a = s;
	size_t alen = slash != NULL ? (size_t)(slash - s) : n;
	unsigned i, width;

	memset(out, 0, sizeof(*out));
	if (alen >= 2 && a[0] == '[' && a[alen - 1] == ']') {
		a++;
		alen -= 2;
		if (memchr(a, ':', alen) == NULL)
			return -1; /* brackets are for IPv6 */
	}
	if (alen == 0 || alen >= sizeof(buf))
		return -1;
	memcpy(buf, a, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		width = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		width = 128;
	} else {
		return -1;
	}
	out->bits = width;
	if (slash != NULL &&
	    parse_bits(slash + 1, n - (size_t)(slash + 1 - s), width,
		       &out->bits) != 0)
		return -1;
	for (i = out->bits; i < width; i++)
		if (out->addr[i / 8] & (0x80u >> (i % 8)))
			return -2;
	return 0;
}

static int prefix_equal(const unsigned char *a, const unsigned char *b,
			unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[whole] ^ b[whole]) & (0xffu << (8 - rest)) & 0xffu) == 0;
}

int cidr_match(const struct cidr *ranges, size_t n,
	       const struct sockaddr *peer)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0,
						 0, 0, 0, 0, 0xff, 0xff};
	const unsigned char *v4 = NULL, *v6 = NULL;
	size_t i;

	if (peer == NULL)
		return 0;
	if (peer->sa_family == AF_INET) {
		v4 = (const unsigned char *)&((const struct sockaddr_in *)
						      (const void *)peer)
			     ->sin_addr;
	} else if (peer->sa_family == AF_INET6) {
		v6 = ((const struct sockaddr_in6 *)(const void *)peer)
			     ->sin6_addr.s6_addr;
		if (memcmp(v6, mapped, sizeof(mapped)) == 0)
			v4 = v6 + 12;
	} else {
		return 0;
	}
	for (i = 0; i < n; i++) {
		const struct cidr *c = &ranges[i];

		if (c->family == AF_INET && v4 != NULL &&
		    prefix_equal(c->addr, v4, c->bits))
			return 1;
		if (c->family == AF_INET6 && v6 != NULL &&
		    prefix_equal(c->addr, v6, c->bits))
			return 1;
	}
	return 0;
}
