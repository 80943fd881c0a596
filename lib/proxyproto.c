/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * proxyproto: parser of the PROXY protocol header, versions 1 (a text
 * line) and 2 (binary), as HAProxy's proxy-protocol.txt defines them.
 * Strict: a v1 line of at most 107 bytes with its CRLF, fields separated
 * by one space, addresses of the family the line names, ports in decimal
 * without leading zeros; v2 only version 2 with the LOCAL or PROXY
 * command, and for the INET, INET6 and UNIX families TLVs that fill the
 * rest of the header exactly (a LOCAL or UNSPEC block is not looked at:
 * the spec says to ignore it).
 * What it owns: nothing; pure functions, any thread (see proxyproto.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proxyproto.h"

#define V1_MAX 107 /* "PROXY " ... "\r\n", the spec's worst case */
#define V2_HEAD 16

static const unsigned char v1_sig[6] = {'P', 'R', 'O', 'X', 'Y', ' '};
static const unsigned char v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
					 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* 1 the whole signature is there, 0 a prefix of it, -1 neither. */
static int sig_match(const unsigned char *buf, size_t len,
		     const unsigned char *sig, size_t siglen)
{
	size_t n = len < siglen ? len : siglen;

	if (memcmp(buf, sig, n) != 0)
		return -1;
	return n == siglen ? 1 : 0;
}

int proxyproto_sniff(const unsigned char *buf, size_t len)
{
	int a = sig_match(buf, len, v1_sig, sizeof(v1_sig));
	int b = sig_match(buf, len, v2_sig, sizeof(v2_sig));

	if (a == 1 || b == 1)
		return 1;
	if (a == 0 || b == 0)
		return 0;
	return -1;
}

/* A decimal port, no sign, no leading zero; -1 if not one. */
static long v1_port(const char *s)
{
	long v = 0;
	size_t i, n = strlen(s);

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= 65535 ? v : -1;
}

/* Split line at single spaces into at most max fields; -1 on an empty
 * field (two spaces, a leading or trailing one). */
static int v1_split(char *line, char **f, int max)
{
	int n = 0;
	char *s = line;

	for (;;) {
		char *sp = strchr(s, ' ');

		if (n == max || *s == ' ' || *s == '\0')
			return -1;
		f[n++] = s;
		if (sp == NULL)
			return n;
		*sp = '\0';
		s = sp + 1;
	}
}

static long parse_v1(const unsigned char *buf, size_t len,
		     struct proxyproto_hdr *h)
{
	char line[V1_MAX + 1], *f[6];
	size_t i, end = 0;
	long sport;
	int n, fam;

	/* the CR at index V1_MAX - 2 at the latest, its LF after it */
	for (i = sizeof(v1_sig); i < len && i < V1_MAX - 1; i++) {
		if (buf[i] == '\r') {
			if (i + 1 == len)
				return PROXYPROTO_MORE;
			if (buf[i + 1] != '\n')
				return PROXYPROTO_BAD;
			end = i;
			break;
		}
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return PROXYPROTO_BAD;
	}
	if (end == 0)
		return len >= V1_MAX - 1 ? PROXYPROTO_BAD : PROXYPROTO_MORE;
	memcpy(line, buf + sizeof(v1_sig), end - sizeof(v1_sig));
	line[end - sizeof(v1_sig)] = '\0';
	h->version = 1;
	if (strncmp(line, "UNKNOWN", 7) == 0 &&
	    (line[7] == '\0' || line[7] == ' ')) {
		/* the rest of the line is to be ignored (the spec) */
		h->local = 1;
		return (long)end + 2;
	}
	n = v1_split(line, f, 6);
	if (n != 5)
		return PROXYPROTO_BAD;
	if (strcmp(f[0], "TCP4") == 0)
		fam = AF_INET;
	else if (strcmp(f[0], "TCP6") == 0)
		fam = AF_INET6;
	else
		return PROXYPROTO_BAD;
	sport = v1_port(f[3]);
	if (sport < 0 || v1_port(f[4]) < 0)
		return PROXYPROTO_BAD;
	memset(&h->src, 0, sizeof(h->src));
	if (fam == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&h->src;
		struct in_addr dst;

		if (inet_pton(AF_INET, f[1], &s4->sin_addr) != 1 ||
		    inet_pton(AF_INET, f[2], &dst) != 1)
			return PROXYPROTO_BAD;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)sport);
		h->src_len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&h->src;
		struct in6_addr dst;

		if (inet_pton(AF_INET6, f[1], &s6->sin6_addr) != 1 ||
		    inet_pton(AF_INET6, f[2], &dst) != 1)
			return PROXYPROTO_BAD;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)sport);
		h->src_len = sizeof(*s6);
	}
	h->local = 0;
	return (long)end + 2;
}

/* TLVs (type, 16-bit length, value) must fill [p, end) exactly. */
static int v2_tlvs_ok(const unsigned char *p, const unsigned char *end)
{
	while (p < end) {
		size_t n;

		if (end - p < 3)
			return 0;
		n = ((size_t)p[1] << 8) | p[2];
		if ((size_t)(end - p - 3) < n)
			return 0;
		p += 3 + n;
	}
	return 1;
}

static long parse_v2(const unsigned char *buf, size_t len,
		     struct proxyproto_hdr *h)
{
	size_t body, total, need;
	unsigned cmd, fam, trans;
	const unsigned char *a;

	if (len < V2_HEAD)
		return PROXYPROTO_MORE;
	body = ((size_t)buf[14] << 8) | buf[15];
	total = V2_HEAD + body;
	if ((buf[12] >> 4) != 2)
		return PROXYPROTO_BAD;
	cmd = buf[12] & 0x0f;
	if (cmd > 1)
		return PROXYPROTO_BAD;
	if (total > PROXYPROTO_MAX)
		return PROXYPROTO_TOOBIG;
	if (len < total)
		return PROXYPROTO_MORE;
	h->version = 2;
	h->local = 1;
	fam = buf[13] >> 4;
	trans = buf[13] & 0x0f;
	if (cmd == 0) /* LOCAL: the block is to be ignored (the spec) */
		return (long)total;
	if (fam > 3 || trans > 2)
		return PROXYPROTO_BAD;
	if (fam == 0 || fam == 3) {
		/* UNSPEC or a UNIX socket: no address we could use */
		if (fam == 3 && (trans != 1 || body < 216 ||
				 !v2_tlvs_ok(buf + V2_HEAD + 216, buf + total)))
			return PROXYPROTO_BAD;
		return (long)total;
	}
	if (trans != 1) /* a datagram client on a stream: nonsense */
		return PROXYPROTO_BAD;
	need = fam == 1 ? 12 : 36;
	if (body < need ||
	    !v2_tlvs_ok(buf + V2_HEAD + need, buf + total))
		return PROXYPROTO_BAD;
	a = buf + V2_HEAD;
	memset(&h->src, 0, sizeof(h->src));
	if (fam == 1) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&h->src;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a, 4);
		memcpy(&s4->sin_port, a + 8, 2);
		h->src_len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&h->src;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a, 16);
		memcpy(&s6->sin6_port, a + 32, 2);
		h->src_len = sizeof(*s6);
	}
	h->local = 0;
	return (long)total;
}

long proxyproto_parse(const unsigned char *buf, size_t len,
		      struct proxyproto_hdr *h)
{
	if (len == 0)
		return PROXYPROTO_MORE;
	if (sig_match(buf, len, v1_sig, sizeof(v1_sig)) == 1)
		return parse_v1(buf, len, h);
	if (sig_match(buf, len, v2_sig, sizeof(v2_sig)) == 1)
		return parse_v2(buf, len, h);
	return proxyproto_sniff(buf, len) == 0 ? PROXYPROTO_MORE
					       : PROXYPROTO_NONE;
}

const char *proxyproto_reason(long result)
{
	switch (result) {
	case PROXYPROTO_MORE:
		return "incomplete";
	case PROXYPROTO_NONE:
		return "missing";
	case PROXYPROTO_BAD:
		return "malformed";
	case PROXYPROTO_TOOBIG:
		return "too_long";
	default:
		return result > 0 ? "ok" : "malformed";
	}
}
