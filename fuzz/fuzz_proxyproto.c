/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Fuzz target: the PROXY protocol parser (lib/proxyproto.c) over any bytes
 * a balancer, or anyone, can send first on a connection, and the address
 * ranges of proxy_protocol_from (lib/cidr.c) over the same bytes as text.
 * Properties: a result in range; a header no longer than the input or
 * PROXYPROTO_MAX; the same header found in the header's bytes alone, and
 * "read more" for each shorter prefix (a header never depends on the
 * bytes after it, and a prefix is never taken for a whole one); a carried
 * address of family AF_INET/AF_INET6 with the matching length; "not a
 * header" only where the sniff says so too; a parsed range matches its
 * own network address.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "proxyproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_ranges(const uint8_t *data, size_t size)
{
	struct cidr c;
	struct sockaddr_storage ss;

	if (size > CIDR_TEXT_MAX * 2)
		return;
	if (cidr_parse((const char *)data, size, &c) != 0)
		return;
	memset(&ss, 0, sizeof(ss));
	if (c.family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		if (c.bits > 32)
			abort();
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, c.addr, 4);
	} else if (c.family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		if (c.bits > 128)
			abort();
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, c.addr, 16);
	} else {
		abort();
	}
	if (cidr_match(&c, 1, (struct sockaddr *)&ss) != 1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxyproto_hdr h, h2;
	long r, r2;
	size_t k;

	r = proxyproto_parse(data, size, &h);
	if (r < PROXYPROTO_TOOBIG || (r > 0 && ((size_t)r > size ||
						 r > PROXYPROTO_MAX)))
		abort();
	if (r == PROXYPROTO_NONE && proxyproto_sniff(data, size) != -1)
		abort();
	if (r > 0) {
		if (h.version != 1 && h.version != 2)
			abort();
		if (!h.local &&
		    !(h.src.ss_family == AF_INET &&
		      h.src_len == sizeof(struct sockaddr_in)) &&
		    !(h.src.ss_family == AF_INET6 &&
		      h.src_len == sizeof(struct sockaddr_in6)))
			abort();
		r2 = proxyproto_parse(data, (size_t)r, &h2);
		if (r2 != r || h2.local != h.local ||
		    (!h.local && memcmp(&h.src, &h2.src, h.src_len) != 0))
			abort();
		for (k = 0; k < (size_t)r; k += 1 + k / 8)
			if (proxyproto_parse(data, k, &h2) != PROXYPROTO_MORE)
				abort();
	}
	if (proxyproto_reason(r) == NULL)
		abort();
	check_ranges(data, size);
	return 0;
}
