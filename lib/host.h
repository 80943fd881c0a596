/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * host: host-name syntax and the normalisation every Host value and every
 * configured site name goes through, so that the config and the requests
 * agree on what a name is (SPEC F1). Used by the config parser
 * (config_keys.c, config_check.c: site names, acme_domains, upstream hosts), by the router's callers (Host of a
 * request, absolute-form authority) and by the port-80 redirect.
 */
#ifndef AP_HOST_H
#define AP_HOST_H

#include <stddef.h>

/* Longest host name (RFC 1035), without port or brackets. */
#define HOST_MAX 253

/* Lower-cases, strips a :port and one trailing dot, and checks the
 * characters of a host name (letters, digits, '-', '_', '.', or a
 * bracketed IPv6 literal). Writes at most outsz bytes incl. NUL. Returns
 * 0 or -1. */
int host_normalize(const char *in, size_t inlen, char *out, size_t outsz);
/* s[0..n-1] is a host name: letters, digits, '-', '_', dots between
 * non-empty labels of at most 63, at most HOST_MAX in all. */
int host_name_ok(const char *s, size_t n);
/* s[0..n-1] (without brackets) is an IPv6 address, no zone, no NUL. */
int host_ipv6_ok(const char *s, size_t n);

#endif
