/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * proxyproto: the PROXY protocol header (HAProxy's spec, versions 1 and 2)
 * that an L4 balancer sends first on a connection to say which client it
 * carries (SPEC F20). Pure functions over the bytes read so far; any
 * thread. The gate that reads them off a socket is ppgate.c.
 */
#ifndef AP_PROXYPROTO_H
#define AP_PROXYPROTO_H

#include <stddef.h>
#include <sys/socket.h>

/* The longest header taken: a v1 line is at most 107 bytes; a v2 header
 * is 16 bytes and a length, the rest addresses and TLVs (HAProxy's own
 * TLVs, a cloud balancer's endpoint id, ...). A longer one is refused. */
#define PROXYPROTO_MAX 4096

struct proxyproto_hdr {
	int version; /* 1 or 2 */
	/* 1: no client carried (v2 LOCAL, as a balancer's health check
	 * sends; v1 UNKNOWN; v2 UNSPEC/UNIX families): the connection is
	 * the balancer's own and keeps its address */
	int local;
	struct sockaddr_storage src; /* the client (local == 0) */
	socklen_t src_len;
};

enum proxyproto_result {
	PROXYPROTO_MORE = 0,   /* a prefix of a header: read more */
	PROXYPROTO_NONE = -1,  /* not a PROXY header at all */
	PROXYPROTO_BAD = -2,   /* a PROXY header, malformed */
	PROXYPROTO_TOOBIG = -3 /* a v2 header longer than PROXYPROTO_MAX */
};

/* Parse the header at the start of buf (len bytes read so far). Returns
 * its length in bytes (> 0, <= PROXYPROTO_MAX; the bytes after it are the
 * client's) and fills h, or an enum proxyproto_result (h then undefined).
 * v2 TLVs are walked to check that they fill the header exactly, and
 * otherwise ignored. */
long proxyproto_parse(const unsigned char *buf, size_t len,
		      struct proxyproto_hdr *h);

/* Whether buf could start a PROXY header: 1 it does (a whole v1 "PROXY "
 * or v2 signature), 0 undecided (a prefix of one), -1 it does not. For
 * connections that must not send one. */
int proxyproto_sniff(const unsigned char *buf, size_t len);

/* A short name of a result for log lines ("malformed", ...). */
const char *proxyproto_reason(long result);

#endif
