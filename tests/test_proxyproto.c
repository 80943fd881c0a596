/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Unit tests for proxyproto.c and cidr.c (issue 20): v1 and v2 headers as
 * HAProxy sends them (TCP4, TCP6, UNKNOWN, LOCAL, TLVs), each malformation
 * the parser refuses, "read more" for every prefix, the sniff of a direct
 * client's first bytes, and the proxy_protocol_from ranges.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "proxyproto.h"
#include "unit.h"

static const unsigned char sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				      0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* A v2 header: signature, version|cmd, family, length, body. */
static size_t v2(unsigned char *out, unsigned cmd, unsigned fam,
		 const unsigned char *body, size_t n)
{
	memcpy(out, sig, 12);
	out[12] = (unsigned char)(0x20 | cmd);
	out[13] = (unsigned char)fam;
	out[14] = (unsigned char)(n >> 8);
	out[15] = (unsigned char)n;
	memcpy(out + 16, body, n);
	return 16 + n;
}

static const char *src_ip(const struct proxyproto_hdr *h, char *buf,
			  size_t n)
{
	if (h->src.ss_family == AF_INET)
		return inet_ntop(AF_INET,
				 &((const struct sockaddr_in *)&h->src)->sin_addr,
				 buf, (socklen_t)n);
	return inet_ntop(AF_INET6,
			 &((const struct sockaddr_in6 *)&h->src)->sin6_addr,
			 buf, (socklen_t)n);
}

static unsigned src_port(const struct proxyproto_hdr *h)
{
	if (h->src.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&h->src)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&h->src)->sin6_port);
}

static long parse_str(const char *s, struct proxyproto_hdr *h)
{
	return proxyproto_parse((const unsigned char *)s, strlen(s), h);
}

/* Every proper prefix of a whole header asks for more. */
static int prefixes_more(const unsigned char *b, size_t n)
{
	struct proxyproto_hdr h;
	size_t k;

	for (k = 0; k < n; k++)
		if (proxyproto_parse(b, k, &h) != PROXYPROTO_MORE)
			return 0;
	return 1;
}

static void test_v1(void)
{
	struct proxyproto_hdr h;
	char ip[64];
	const char *l4 = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n";
	const char *l6 = "PROXY TCP6 2001:db8::7 2001:db8::1 1 65535\r\n";
	char buf[200];

	snprintf(buf, sizeof(buf), "%sGET / HTTP/1.1\r\n", l4);
	CHECK(parse_str(buf, &h) == (long)strlen(l4));
	CHECK(h.version == 1 && !h.local);
	CHECK_STR(src_ip(&h, ip, sizeof(ip)), "192.0.2.7");
	CHECK(src_port(&h) == 56324);
	CHECK(h.src_len == sizeof(struct sockaddr_in));
	CHECK(prefixes_more((const unsigned char *)l4, strlen(l4)));

	CHECK(parse_str(l6, &h) == (long)strlen(l6));
	CHECK_STR(src_ip(&h, ip, sizeof(ip)), "2001:db8::7");
	CHECK(src_port(&h) == 1 && h.src_len == sizeof(struct sockaddr_in6));

	CHECK(parse_str("PROXY UNKNOWN\r\n", &h) == 15 && h.local);
	CHECK(parse_str("PROXY UNKNOWN 1 2 3 4 junk\r\nX", &h) == 28 &&
	      h.local);

	/* malformations */
	CHECK(parse_str("PROXY TCP4 192.0.2.7  198.51.100.1 1 2\r\n", &h) ==
	      PROXYPROTO_BAD);
	CHECK(parse_str("PROXY TCP4 2001:db8::7 198.51.100.1 1 2\r\n", &h) ==
	      PROXYPROTO_BAD);
	CHECK(parse_str("PROXY TCP6 192.0.2.7 198.51.100.1 1 2\r\n", &h) ==
	      PROXYPROTO_BAD);
	CHECK(parse_str("PROXY TCP4 192.0.2.7 198.51.100.1 01 2\r\n", &h) ==
	      PROXYPROTO_BAD);
	CHECK(parse_str("PROXY TCP4 192.0.2.7 198.51.100.1 1 65536\r\n", &h) ==
	      PROXYPROTO_BAD);
	CHECK(parse_str("PROXY TCP4 192.0.2.7 198.51.100.1 1\r\n", &h) ==
	      PROXYPROTO_BAD);
	CHECK(parse_str("PROXY TCP4 192.0.2.7 198.51.100.1 1 2 3\r\n", &h) ==
	      PROXYPROTO_BAD);
	CHECK(parse_str("PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n", &h) ==
	      PROXYPROTO_BAD);
	CHECK(parse_str("PROXY TCP4 192.0.2.7 198.51.100.1 1 2\n", &h) ==
	      PROXYPROTO_BAD);
	CHECK(parse_str("PROXY TCP4 192.0.2.7 198.51.100.1 1 2\rX", &h) ==
	      PROXYPROTO_BAD);
	CHECK(parse_str("PROXY \r\n", &h) == PROXYPROTO_BAD);
	CHECK(parse_str("PROXY TCP4 1.2.3.4\x01 5.6.7.8 1 2\r\n", &h) ==
	      PROXYPROTO_BAD);
	/* no CRLF within the 107 bytes the spec allows */
	memset(buf, 'A', sizeof(buf));
	memcpy(buf, "PROXY ", 6);
	CHECK(proxyproto_parse((unsigned char *)buf, 106, &h) ==
	      PROXYPROTO_BAD);
	CHECK(proxyproto_parse((unsigned char *)buf, 105, &h) ==
	      PROXYPROTO_MORE);
	/* 107 bytes with the CRLF: taken; 108: not */
	memcpy(buf, "PROXY UNKNOWN ", 14);
	memcpy(buf + 105, "\r\n", 2);
	CHECK(proxyproto_parse((unsigned char *)buf, 107, &h) == 107);
	buf[105] = 'A';
	memcpy(buf + 106, "\r\n", 2);
	CHECK(proxyproto_parse((unsigned char *)buf, 108, &h) ==
	      PROXYPROTO_BAD);
	/* not a header at all: an HTTP request, a TLS ClientHello */
	CHECK(parse_str("GET / HTTP/1.1\r\n\r\n", &h) == PROXYPROTO_NONE);
	CHECK(proxyproto_parse((const unsigned char *)"\x16\x03\x01", 3,
			       &h) == PROXYPROTO_NONE);
	CHECK(parse_str("PROX", &h) == PROXYPROTO_MORE);
	CHECK(parse_str("POST / HTTP/1.1\r\n", &h) == PROXYPROTO_NONE);
}

static void test_v2(void)
{
	unsigned char b[PROXYPROTO_MAX + 64], body[600];
	struct proxyproto_hdr h;
	char ip[64];
	size_t n;

	/* TCP4 */
	memcpy(body, "\xc0\x00\x02\x07\xc6\x33\x64\x01\xdc\x04\x01\xbb", 12);
	n = v2(b, 1, 0x11, body, 12);
	memcpy(b + n, "GET", 3);
	CHECK(proxyproto_parse(b, n + 3, &h) == (long)n && n == 28);
	CHECK(h.version == 2 && !h.local);
	CHECK_STR(src_ip(&h, ip, sizeof(ip)), "192.0.2.7");
	CHECK(src_port(&h) == 56324);
	CHECK(prefixes_more(b, n));
	/* TCP4 with TLVs (NOOP, a 4-byte unique id), skipped */
	memcpy(body + 12, "\x04\x00\x02\x00\x00\x05\x00\x04" "abcd", 12);
	n = v2(b, 1, 0x11, body, 24);
	CHECK(proxyproto_parse(b, n, &h) == (long)n && !h.local);
	CHECK_STR(src_ip(&h, ip, sizeof(ip)), "192.0.2.7");
	/* a TLV running past the header */
	memcpy(body + 12, "\x04\x00\x09\x00", 4);
	n = v2(b, 1, 0x11, body, 16);
	CHECK(proxyproto_parse(b, n, &h) == PROXYPROTO_BAD);
	/* a TLV header cut short */
	n = v2(b, 1, 0x11, body, 14);
	CHECK(proxyproto_parse(b, n, &h) == PROXYPROTO_BAD);
	/* TCP6 */
	memset(body, 0, 36);
	inet_pton(AF_INET6, "2001:db8::7", body);
	inet_pton(AF_INET6, "2001:db8::1", body + 16);
	body[32] = 0x01;
	body[33] = 0x02;
	n = v2(b, 1, 0x21, body, 36);
	CHECK(proxyproto_parse(b, n, &h) == (long)n && !h.local);
	CHECK_STR(src_ip(&h, ip, sizeof(ip)), "2001:db8::7");
	CHECK(src_port(&h) == 258);
	/* TCP6 family with an IPv4-sized block */
	n = v2(b, 1, 0x21, body, 12);
	CHECK(proxyproto_parse(b, n, &h) == PROXYPROTO_BAD);
	/* LOCAL (a balancer's own health check): the block is ignored */
	n = v2(b, 0, 0x00, body, 0);
	CHECK(proxyproto_parse(b, n, &h) == 16 && h.local);
	n = v2(b, 0, 0x11, body, 12);
	CHECK(proxyproto_parse(b, n, &h) == 28 && h.local);
	/* PROXY with UNSPEC, and with a UNIX socket: no address to use */
	n = v2(b, 1, 0x00, body, 0);
	CHECK(proxyproto_parse(b, n, &h) == 16 && h.local);
	memset(body, 0, 216);
	n = v2(b, 1, 0x31, body, 216);
	CHECK(proxyproto_parse(b, n, &h) == (long)n && h.local);
	n = v2(b, 1, 0x31, body, 100);
	CHECK(proxyproto_parse(b, n, &h) == PROXYPROTO_BAD);
	/* UDP, an unknown family, version 1 in a v2 header, command 2 */
	n = v2(b, 1, 0x12, body, 12);
	CHECK(proxyproto_parse(b, n, &h) == PROXYPROTO_BAD);
	n = v2(b, 1, 0x41, body, 12);
	CHECK(proxyproto_parse(b, n, &h) == PROXYPROTO_BAD);
	n = v2(b, 1, 0x11, body, 12);
	b[12] = 0x11;
	CHECK(proxyproto_parse(b, n, &h) == PROXYPROTO_BAD);
	b[12] = 0x22;
	CHECK(proxyproto_parse(b, n, &h) == PROXYPROTO_BAD);
	/* longer than the cap: refused from its first 16 bytes */
	b[12] = 0x21;
	b[14] = (unsigned char)((PROXYPROTO_MAX - 15) >> 8);
	b[15] = (unsigned char)(PROXYPROTO_MAX - 15);
	CHECK(proxyproto_parse(b, 16, &h) == PROXYPROTO_TOOBIG);
	b[14] = (unsigned char)((PROXYPROTO_MAX - 16) >> 8);
	b[15] = (unsigned char)(PROXYPROTO_MAX - 16);
	CHECK(proxyproto_parse(b, 16, &h) == PROXYPROTO_MORE);
	CHECK_STR(proxyproto_reason(PROXYPROTO_TOOBIG), "too_long");
	CHECK_STR(proxyproto_reason(PROXYPROTO_BAD), "malformed");
	CHECK_STR(proxyproto_reason(PROXYPROTO_NONE), "missing");
}

static void test_sniff(void)
{
	CHECK(proxyproto_sniff((const unsigned char *)"PROXY TCP4", 10) == 1);
	CHECK(proxyproto_sniff((const unsigned char *)"PRO", 3) == 0);
	CHECK(proxyproto_sniff((const unsigned char *)"POST", 4) == -1);
	CHECK(proxyproto_sniff((const unsigned char *)"\x16\x03", 2) == -1);
	CHECK(proxyproto_sniff(sig, 12) == 1);
	CHECK(proxyproto_sniff(sig, 5) == 0);
	/* an HTTP client's leading empty line is not the v2 signature */
	CHECK(proxyproto_sniff((const unsigned char *)"\r\n\r\nGET", 7) == -1);
}

static struct sockaddr_storage addr(const char *s)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, s, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, s,
			   &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		exit(99);
	return ss;
}

static int in(const struct cidr *r, size_t n, const char *ip)
{
	struct sockaddr_storage ss = addr(ip);

	return cidr_match(r, n, (struct sockaddr *)&ss);
}

#define P(s, c) cidr_parse(s, strlen(s), c)

static void test_cidr(void)
{
	struct cidr r[4];

	CHECK(P("10.0.0.0/8", &r[0]) == 0 && r[0].bits == 8);
	CHECK(P("127.0.0.1", &r[1]) == 0 && r[1].bits == 32);
	CHECK(P("[2001:db8::]/32", &r[2]) == 0 && r[2].bits == 32);
	CHECK(P("::1", &r[3]) == 0 && r[3].bits == 128);
	CHECK(in(r, 4, "10.255.1.2"));
	CHECK(!in(r, 4, "11.0.0.1"));
	CHECK(in(r, 4, "127.0.0.1"));
	CHECK(!in(r, 4, "127.0.0.2"));
	CHECK(in(r, 4, "2001:db8:ffff::1"));
	CHECK(!in(r, 4, "2001:db9::1"));
	CHECK(in(r, 4, "::1"));
	CHECK(in(r, 4, "::ffff:10.1.2.3")); /* IPv4-mapped */
	CHECK(!in(r, 1, "::1"));
	CHECK(cidr_match(r, 4, NULL) == 0);
	CHECK(P("10.0.0.0/9", &r[0]) == 0);
	CHECK(in(r, 1, "10.127.0.1") && !in(r, 1, "10.128.0.1"));
	CHECK(P("0.0.0.0/0", &r[0]) == 0 && in(r, 1, "203.0.113.9"));
	/* refused */
	CHECK(P("10.0.0.1/8", &r[0]) == -2);
	CHECK(P("10.0.0.0/33", &r[0]) == -1);
	CHECK(P("10.0.0.0/08", &r[0]) == -1);
	CHECK(P("10.0.0.0/", &r[0]) == -1);
	CHECK(P("[10.0.0.0]/8", &r[0]) == -1);
	CHECK(P("example.com", &r[0]) == -1);
	CHECK(P("", &r[0]) == -1);
	CHECK(P("::/129", &r[0]) == -1);
}

int main(void)
{
	test_v1();
	test_v2();
	test_sniff();
	test_cidr();
	UNIT_DONE();
}
