/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * conns: per-listener connection admission (see conns.h).
 *
 * The address table holds one counter per client address that has a
 * connection open, so it never holds more entries than the listener has
 * slots: a chained hash over the keyed addrkey_hash(), entries freed when
 * their count returns to zero. One mutex: an accept and a close take it
 * once each, a few hundred nanoseconds, far from the request path.
 *
 * The log state is a direct-mapped cache of the addresses refused
 * lately (CONNS_LOG_SLOTS, indexed by the same keyed hash): with more
 * addresses refused within CONNS_LOG_EVERY_SECS than it has slots, two of
 * them can share a slot and one may be logged again sooner. That bounds
 * the memory at the price of an occasional extra line, never a missing
 * one.
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addrkey.h"
#include "cidr.h"
#include "conns.h"
#include "log.h"

#define CONNS_LOG_SLOTS 1024u
#define CONNS_MIN_HEADS 64u
#define CONNS_MAX_HEADS (1u << 20)

struct conns_entry {
	uint64_t key[2];
	unsigned n;
	struct conns_entry *next;
};

struct conns_logged {
	uint64_t key[2];
	long at; /* monotonic ms of the last line; 0 = never */
	unsigned long suppressed;
};

struct conns {
	const char *proto;
	unsigned max_total;
	unsigned per_ip_ceiling; /* UINT_MAX = none */
	atomic_uint per_ip;	 /* 0 = off */
	atomic_uint open;
	atomic_int closed;
	_Atomic uint64_t refused; /* connections refused, since creation */
	uint64_t seed[2];
	pthread_mutex_t mu; /* heads, entries, logged, total_* */
	struct conns_entry **heads;
	unsigned n_heads; /* power of two */
	struct conns_logged logged[CONNS_LOG_SLOTS];
	long total_at;
	unsigned long total_suppressed;
	/* addresses the per-address cap never counts (the balancers of
	 * proxy_protocol_from); set while no connection is open */
	struct cidr *exempt;
	size_t n_exempt;
};

static long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* never 0: 0 means "never logged" */
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L + 1;
}

struct conns *conns_new(const char *proto, unsigned max_total,
			unsigned per_ip_ceiling)
{
	struct conns *c = calloc(1, sizeof(*c));
	unsigned h = CONNS_MIN_HEADS;

	if (c == NULL)
		return NULL;
	while (h < max_total / 2 && h < CONNS_MAX_HEADS)
		h <<= 1;
	c->heads = calloc(h, sizeof(*c->heads));
	if (c->heads == NULL) {
		free(c);
		return NULL;
	}
	c->n_heads = h;
	c->proto = proto;
	c->max_total = max_total;
	c->per_ip_ceiling = per_ip_ceiling != 0 ? per_ip_ceiling : UINT_MAX;
	atomic_init(&c->per_ip, 0);
	atomic_init(&c->open, 0);
	atomic_init(&c->refused, 0);
	atomic_init(&c->closed, 0);
	addrkey_seed(c->seed);
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void conns_free(struct conns *c)
{
	unsigned i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n_heads; i++) {
		struct conns_entry *e = c->heads[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(c->heads);
	free(c->exempt);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int conns_set_exempt(struct conns *c, const struct cidr *ranges, size_t n)
{
	struct cidr *copy = NULL;

	if (n != 0) {
		copy = calloc(n, sizeof(*copy));
		if (copy == NULL)
			return -1;
		memcpy(copy, ranges, n * sizeof(*copy));
	}
	free(c->exempt);
	c->exempt = copy;
	c->n_exempt = n;
	return 0;
}

/* The key peer counts under for the per-address cap: 0, or -1 when it
 * counts under none (another family, NULL, an exempt address). */
static int key_of(const struct conns *c, const struct sockaddr *peer,
		  uint64_t key[2])
{
	if (c->n_exempt != 0 && cidr_match(c->exempt, c->n_exempt, peer))
		return -1;
	return addrkey_of(peer, key);
}

void conns_set_per_ip(struct conns *c, unsigned per_ip)
{
	if (per_ip > c->per_ip_ceiling)
		per_ip = c->per_ip_ceiling;
	atomic_store(&c->per_ip, per_ip);
}

unsigned conns_per_ip(const struct conns *c)
{
	return atomic_load(&c->per_ip);
}

void conns_close(struct conns *c)
{
	if (c != NULL)
		atomic_store(&c->closed, 1);
}

void conns_reopen(struct conns *c)
{
	if (c != NULL)
		atomic_store(&c->closed, 0);
}

unsigned conns_open(const struct conns *c)
{
	return atomic_load(&c->open);
}

void conns_note_refused(struct conns *c)
{
	atomic_fetch_add_explicit(&c->refused, 1, memory_order_relaxed);
}

uint64_t conns_refused(const struct conns *c)
{
	return atomic_load(&((struct conns *)(uintptr_t)c)->refused);
}

/* The chain slot of key's entry (caller holds mu). */
static struct conns_entry **find(struct conns *c, const uint64_t key[2],
				 uint64_t h)
{
	struct conns_entry **pp = &c->heads[h & (c->n_heads - 1)];

	while (*pp != NULL &&
	       ((*pp)->key[0] != key[0] || (*pp)->key[1] != key[1]))
		pp = &(*pp)->next;
	return pp;
}

unsigned conns_count_of(struct conns *c, const struct sockaddr *peer)
{
	uint64_t key[2];
	struct conns_entry **pp;
	unsigned n = 0;

	if (key_of(c, peer, key) != 0)
		return 0;
	pthread_mutex_lock(&c->mu);
	pp = find(c, key, addrkey_hash(c->seed, key));
	if (*pp != NULL)
		n = (*pp)->n;
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* Log a refusal unless this address (per_ip) or this listener (total) was
 * logged less than CONNS_LOG_EVERY_SECS ago. Decided under mu, written
 * after it is released. */
static void log_refusal(struct conns *c, const struct sockaddr *peer,
			const uint64_t key[2], uint64_t h, int per_ip,
			unsigned max)
{
	char ip[64], net[ADDRKEY_NET_MAX], nmax[16], nsup[24];
	unsigned long suppressed;
	long now = mono_ms();

	atomic_fetch_add_explicit(&c->refused, 1, memory_order_relaxed);
	pthread_mutex_lock(&c->mu);
	if (per_ip) {
		struct conns_logged *l = &c->logged[h % CONNS_LOG_SLOTS];

		if (l->at != 0 && l->key[0] == key[0] && l->key[1] == key[1] &&
		    now - l->at < CONNS_LOG_EVERY_SECS * 1000L) {
			l->suppressed++;
			pthread_mutex_unlock(&c->mu);
			return;
		}
		suppressed = l->at != 0 && l->key[0] == key[0] &&
					     l->key[1] == key[1]
				     ? l->suppressed
				     : 0;
		l->key[0] = key[0];
		l->key[1] = key[1];
		l->at = now;
		l->suppressed = 0;
	} else {
		if (c->total_at != 0 && now - c->total_at < CONNS_LOG_EVERY_SECS * 1000L) {
			c->total_suppressed++;
			pthread_mutex_unlock(&c->mu);
			return;
		}
		suppressed = c->total_suppressed;
		c->total_at = now;
		c->total_suppressed = 0;
	}
	pthread_mutex_unlock(&c->mu);

	log_format_ip(peer, ip, sizeof(ip));
	snprintf(nmax, sizeof(nmax), "%u", max);
	snprintf(nsup, sizeof(nsup), "%lu", suppressed);
	if (addrkey_format_net(peer, net, sizeof(net)))
		log_event(LOG_LEVEL_WARN, "CONN_LIMIT", "client_ip", ip,
			  "client_net", net, "limit",
			  per_ip ? "per_ip" : "total", "proto", c->proto, "max",
			  nmax, "suppressed", nsup, LOG_END);
	else
		log_event(LOG_LEVEL_WARN, "CONN_LIMIT", "client_ip", ip,
			  "limit", per_ip ? "per_ip" : "total", "proto",
			  c->proto, "max", nmax, "suppressed", nsup, LOG_END);
}

/* Drop one count of key's entry; the entry goes with its last one. A key
 * that has no entry (admitted while out of memory) is ignored. */
static void release_key(struct conns *c, const uint64_t key[2], uint64_t h)
{
	struct conns_entry **pp, *e = NULL;

	pthread_mutex_lock(&c->mu);
	pp = find(c, key, h);
	if (*pp != NULL && --(*pp)->n == 0) {
		e = *pp;
		*pp = e->next;
	}
	pthread_mutex_unlock(&c->mu);
	free(e);
}

/* The per-address part of an admission: count peer's key unless it is at
 * the cap (refusal logged: returns 0). *keyed says whether a key was
 * counted (not for another family, NULL, or out of memory). */
static int admit_key(struct conns *c, const struct sockaddr *peer,
		     uint64_t key[2], uint64_t *h, int *keyed)
{
	unsigned per_ip = atomic_load(&c->per_ip);
	struct conns_entry **pp, *e;

	*keyed = key_of(c, peer, key) == 0;
	if (!*keyed)
		return 1;
	*h = addrkey_hash(c->seed, key);
	/* Allocated outside the lock; freed again if not needed. */
	e = malloc(sizeof(*e));
	pthread_mutex_lock(&c->mu);
	pp = find(c, key, *h);
	if (*pp != NULL && per_ip != 0 && (*pp)->n >= per_ip) {
		pthread_mutex_unlock(&c->mu);
		free(e);
		*keyed = 0;
		log_refusal(c, peer, key, *h, 1, per_ip);
		return 0;
	}
	if (*pp != NULL) {
		(*pp)->n++;
	} else if (e != NULL) {
		/* per_ip >= 1 when on, so a first connection is always
		 * within it. */
		e->key[0] = key[0];
		e->key[1] = key[1];
		e->n = 1;
		e->next = NULL;
		*pp = e;
		e = NULL;
	} else {
		/* No memory for the entry: counted in the total only
		 * (fails open like the rate limiter). */
		*keyed = 0;
	}
	pthread_mutex_unlock(&c->mu);
	free(e);
	return 1;
}

int conns_admit(struct conns *c, const struct sockaddr *peer)
{
	uint64_t key[2] = {0, 0}, h = 0;
	unsigned cur;
	int keyed;

	if (atomic_load(&c->closed))
		return 0;
	if (!admit_key(c, peer, key, &h, &keyed))
		return 0;
	/* Reserve a slot of the total; the acceptor thread is the only one
	 * adding, but closes subtract concurrently. */
	cur = atomic_load(&c->open);
	do {
		if (cur >= c->max_total) {
			if (keyed)
				release_key(c, key, h);
			log_refusal(c, peer, key, h, 0, c->max_total);
			return 0;
		}
	} while (!atomic_compare_exchange_weak(&c->open, &cur, cur + 1));
	return 1;
}

int conns_claim(struct conns *c, const struct sockaddr *peer)
{
	uint64_t key[2] = {0, 0}, h = 0;
	int keyed;

	return admit_key(c, peer, key, &h, &keyed);
}

void conns_release(struct conns *c, const struct sockaddr *peer)
{
	uint64_t key[2];

	if (key_of(c, peer, key) == 0)
		release_key(c, key, addrkey_hash(c->seed, key));
	atomic_fetch_sub(&c->open, 1);
}
