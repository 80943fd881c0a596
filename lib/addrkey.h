/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * addrkey: the one rule for "which client is this" that every per-address
 * limit shares (the rate limiter of SPEC F8, the connection caps of F15):
 * IPv4 addresses count per /32, IPv6 per /64, and an IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) is the IPv4 address. Also the keyed hash those
 * tables use, and the `client_net=` spelling of an IPv6 bucket in log
 * lines. Pure functions; any thread.
 */
#ifndef AP_ADDRKEY_H
#define AP_ADDRKEY_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

/* The 16-byte key of sa: ::ffff:a.b.c.d for IPv4 (plain or mapped), the
 * /64 with the interface half zeroed for IPv6. The two never collide. A
 * different family or NULL returns -1 (key untouched). */
int addrkey_of(const struct sockaddr *sa, uint64_t key[2]);

/* A random 128-bit hash key (getrandom; falls back to clock bits early in
 * boot rather than fail). */
void addrkey_seed(uint64_t seed[2]);

/* SipHash-2-4 of key under seed: keyed, so a client choosing its
 * addresses (an IPv6 /48 holds 65,536 /64s) cannot aim them at one hash
 * chain. */
uint64_t addrkey_hash(const uint64_t seed[2], const uint64_t key[2]);

/* Longest addrkey_format_net() output, NUL included. */
#define ADDRKEY_NET_MAX 48

/* For an IPv6 client (not IPv4-mapped), write its bucket as
 * "2001:db8:1:2::/64" into out and return 1; otherwise write "" and
 * return 0. outsz >= ADDRKEY_NET_MAX. */
int addrkey_format_net(const struct sockaddr *sa, char *out, size_t outsz);

#endif
