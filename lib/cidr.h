/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * cidr: an address range written as ADDR or ADDR/PREFIX (IPv4 or IPv6),
 * as [server] proxy_protocol_from lists them, and whether a peer is in
 * one. Pure functions; any thread.
 */
#ifndef AP_CIDR_H
#define AP_CIDR_H

#include <stddef.h>
#include <sys/socket.h>

struct cidr {
	int family;		 /* AF_INET or AF_INET6 */
	unsigned char addr[16];	 /* network order; 4 used for IPv4 */
	unsigned bits;		 /* prefix length */
};

/* Longest text of a range, NUL included. */
#define CIDR_TEXT_MAX 64

/* Parse the n bytes at s ("10.0.0.0/8", "::1", "[2001:db8::]/32").
 * Returns 0, -1 when it is not a range, -2 when the address has bits set
 * beyond the prefix (10.0.0.1/8: almost always a typo). */
int cidr_parse(const char *s, size_t n, struct cidr *out);

/* 1 when peer is inside one of the n ranges, else 0. An IPv4-mapped IPv6
 * peer (::ffff:a.b.c.d) is the IPv4 address. NULL peer: 0. */
int cidr_match(const struct cidr *ranges, size_t n,
	       const struct sockaddr *peer);

#endif
