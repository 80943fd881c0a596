/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * addrkey: client address keys, their keyed hash and the /64 spelling
 * (see addrkey.h). No state; any thread.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "addrkey.h"

int addrkey_of(const struct sockaddr *sa, uint64_t key[2])
{
	unsigned char b[16];

	if (sa == NULL)
		return -1;
	memset(b, 0, sizeof(b));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		b[10] = 0xff;
		b[11] = 0xff;
		memcpy(b + 12, &s4->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
			&((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a))
			memcpy(b, a->s6_addr, 16);
		else
			memcpy(b, a->s6_addr, 8);
	} else {
		return -1;
	}
	memcpy(key, b, 16);
	return 0;
}

void addrkey_seed(uint64_t seed[2])
{
	struct timespec ts;

	if (getrandom(seed, 2 * sizeof(seed[0]), GRND_NONBLOCK) ==
	    (ssize_t)(2 * sizeof(seed[0])))
		return;
	/* Early boot without entropy: a weaker seed, still unguessable from
	 * outside, beats not starting. */
	clock_gettime(CLOCK_REALTIME, &ts);
	seed[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^
		  (uint64_t)(uintptr_t)seed;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	seed[1] = (uint64_t)ts.tv_nsec * 0xc2b2ae3d27d4eb4fULL ^
		  (uint64_t)ts.tv_sec;
}

static uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1;                                                      \
		v1 = rotl(v1, 13);                                             \
		v1 ^= v0;                                                      \
		v0 = rotl(v0, 32);                                             \
		v2 += v3;                                                      \
		v3 = rotl(v3, 16);                                             \
		v3 ^= v2;                                                      \
		v0 += v3;                                                      \
		v3 = rotl(v3, 21);                                             \
		v3 ^= v0;                                                      \
		v2 += v1;                                                      \
		v1 = rotl(v1, 17);                                             \
		v1 ^= v2;                                                      \
		v2 = rotl(v2, 32);                                             \
	} while (0)

uint64_t addrkey_hash(const uint64_t seed[2], const uint64_t key[2])
{
	uint64_t v0 = seed[0] ^ 0x736f6d6570736575ULL;
	uint64_t v1 = seed[1] ^ 0x646f72616e646f6dULL;
	uint64_t v2 = seed[0] ^ 0x6c7967656e657261ULL;
	uint64_t v3 = seed[1] ^ 0x7465646279746573ULL;
	uint64_t b = (uint64_t)16 << 56;
	int i;

	for (i = 0; i < 2; i++) {
		v3 ^= key[i];
		SIPROUND;
		SIPROUND;
		v0 ^= key[i];
	}
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

int addrkey_format_net(const struct sockaddr *sa, char *out, size_t outsz)
{
	struct in6_addr net;
	char a[INET6_ADDRSTRLEN];

	if (outsz > 0)
		out[0] = '\0';
	if (sa == NULL || sa->sa_family != AF_INET6)
		return 0;
	memcpy(&net, &((const struct sockaddr_in6 *)sa)->sin6_addr,
	       sizeof(net));
	if (IN6_IS_ADDR_V4MAPPED(&net))
		return 0;
	memset(net.s6_addr + 8, 0, 8);
	if (inet_ntop(AF_INET6, &net, a, sizeof(a)) == NULL)
		return 0;
	snprintf(out, outsz, "%s/64", a);
	return 1;
}
