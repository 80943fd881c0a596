/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * host: the syntax of host names and the one normalisation of a Host
 * value (see host.h). Pure functions, no state; any thread.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "host.h"

static int host_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char host_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Letters, digits, '-', '_', dots between non-empty labels. */
int host_name_ok(const char *s, size_t n)
{
	size_t i, label = 0;

	if (n == 0 || n > HOST_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      host_is_digit(c) || c == '-' || c == '_'))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

/* ":digits" with a value of at most 65535. */
static int port_suffix_ok(const char *s, size_t n)
{
	unsigned v = 0;
	size_t i;

	if (n < 2 || n > 6 || s[0] != ':')
		return 0;
	for (i = 1; i < n; i++) {
		if (!host_is_digit(s[i]))
			return 0;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v <= 65535;
}

/* The text between brackets must be an IPv6 address (no zone). */
int host_ipv6_ok(const char *s, size_t n)
{
	char tmp[INET6_ADDRSTRLEN];
	struct in6_addr a;

	/* inet_pton stops at a NUL: "[::1\0junk]" must not pass */
	if (n == 0 || n >= sizeof(tmp) || memchr(s, '\0', n) != NULL)
		return 0;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_pton(AF_INET6, tmp, &a) == 1;
}

int host_normalize(const char *in, size_t inlen, char *out, size_t outsz)
{
	const char *end;
	size_t hlen, i;

	if (in == NULL || out == NULL || inlen == 0)
		return -1;
	if (in[0] == '[') {
		end = memchr(in, ']', inlen);
		if (end == NULL)
			return -1;
		hlen = (size_t)(end - in) + 1;
		if (!host_ipv6_ok(in + 1, hlen - 2))
			return -1;
		if (hlen < inlen && !port_suffix_ok(end + 1, inlen - hlen))
			return -1;
	} else {
		end = memchr(in, ':', inlen);
		hlen = end ? (size_t)(end - in) : inlen;
		if (end && !port_suffix_ok(end, inlen - hlen))
			return -1;
		if (hlen > 0 && in[hlen - 1] == '.')
			hlen--;
		if (!host_name_ok(in, hlen))
			return -1;
	}
	if (hlen >= outsz)
		return -1;
	for (i = 0; i < hlen; i++)
		out[i] = host_lower(in[i]);
	out[hlen] = '\0';
	return 0;
}
