/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * ratelimit: the per-address token buckets of SPEC F8 and their eviction.
 *
 * Layout: RL_STRIPES independent stripes, each with its own mutex, chosen
 * by the top bits of a keyed SipHash of the address, so MHD workers only
 * contend when two requests land in the same stripe (no global lock on the
 * request path). A stripe holds its buckets in one array addressed by
 * 32-bit indices (smaller than pointers, and the array can be grown by
 * realloc without fixing pointers), a chained hash over that array, and a
 * least-recently-used list: the head is the bucket used last, the tail the
 * one idle longest. Both idle eviction and the cap walk from the tail.
 *
 * Arithmetic: tokens are counted in thousandths. At `rate` tokens per
 * second a bucket gains exactly `rate` thousandths per millisecond, so the
 * refill is an integer product with nothing rounded away (no drift however
 * long the process runs); the elapsed time is clamped before multiplying,
 * so nothing overflows either.
 *
 * Threads: ratelimit_allow() from MHD workers, ratelimit_evict() from the
 * housekeeping thread; each stripe is touched only under its mutex. The
 * table itself (seed, stripe array) is immutable between new and free.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "addrkey.h"
#include "log.h"
#include "ratelimit.h"
#include "threads.h"

#define RL_STRIPE_BITS 6
#define RL_STRIPES (1u << RL_STRIPE_BITS)
#define RL_NIL UINT32_MAX
#define RL_MIN_SLOTS 16u
#define RL_MILLI 1000u
#define RL_MAX_SETTING 1000000u /* config_keys.c allows 1..1000000 for both */

struct rl_entry {
	uint64_t key[2];     /* address: v4-mapped IPv4, or the IPv6 /64 */
	uint64_t stamp_ms;   /* last use = last refill */
	uint32_t tokens;     /* thousandths of a token, <= burst * 1000 */
	uint32_t hnext;	     /* hash chain, or the free list */
	uint32_t prev, next; /* LRU list; prev is toward the head */
};

struct rl_stripe {
	pthread_mutex_t mu;
	struct rl_entry *ent; /* n_alloc slots, [0, n_used) ever used */
	uint32_t n_alloc, n_used, free_head;
	uint32_t *heads; /* n_heads chain heads (power of two) */
	uint32_t n_heads;
	uint32_t lru_head, lru_tail;
	atomic_size_t count; /* written under mu, read without */
	/* keep stripes (and their locks) on separate cache lines */
	char pad[64];
};

struct ratelimit {
	uint64_t seed[2];
	uint32_t cap; /* per stripe */
	atomic_size_t cap_evictions;
	struct rl_stripe stripes[RL_STRIPES];
};

static uint64_t rl_hash(const struct ratelimit *rl, const uint64_t key[2])
{
	return addrkey_hash(rl->seed, key);
}

/* ---- one stripe (caller holds its mutex) ---- */

static void lru_unlink(struct rl_stripe *s, uint32_t i)
{
	struct rl_entry *e = &s->ent[i];

	if (e->prev != RL_NIL)
		s->ent[e->prev].next = e->next;
	else
		s->lru_head = e->next;
	if (e->next != RL_NIL)
		s->ent[e->next].prev = e->prev;
	else
		s->lru_tail = e->prev;
}

static void lru_push_head(struct rl_stripe *s, uint32_t i)
{
	struct rl_entry *e = &s->ent[i];

	e->prev = RL_NIL;
	e->next = s->lru_head;
	if (s->lru_head != RL_NIL)
		s->ent[s->lru_head].prev = i;
	else
		s->lru_tail = i;
	s->lru_head = i;
}

static uint32_t chain_of(const struct ratelimit *rl, const struct rl_stripe *s,
			 const uint64_t key[2])
{
	return (uint32_t)rl_hash(rl, key) & (s->n_heads - 1);
}

/* Unlink bucket i from its chain and the LRU list, onto the free list. */
static void entry_remove(const struct ratelimit *rl, struct rl_stripe *s,
			 uint32_t i)
{
	uint32_t *pp = &s->heads[chain_of(rl, s, s->ent[i].key)];

	while (*pp != i)
		pp = &s->ent[*pp].hnext;
	*pp = s->ent[i].hnext;
	lru_unlink(s, i);
	s->ent[i].hnext = s->free_head;
	s->free_head = i;
	atomic_store_explicit(
		&s->count,
		atomic_load_explicit(&s->count, memory_order_relaxed) - 1,
		memory_order_relaxed);
}

/* Double the chain heads when the chains average more than one bucket.
 * On failure the table keeps working with longer chains. */
static void maybe_grow_heads(const struct ratelimit *rl, struct rl_stripe *s)
{
	uint32_t n = s->n_heads * 2, i, *h;
	size_t count = atomic_load_explicit(&s->count, memory_order_relaxed);

	if (count <= s->n_heads || s->n_heads >= (1u << 30))
		return;
	h = malloc((size_t)n * sizeof(*h));
	if (h == NULL)
		return;
	for (i = 0; i < n; i++)
		h[i] = RL_NIL;
	free(s->heads);
	s->heads = h;
	s->n_heads = n;
	for (i = s->lru_head; i != RL_NIL; i = s->ent[i].next) {
		uint32_t c = chain_of(rl, s, s->ent[i].key);

		s->ent[i].hnext = h[c];
		h[c] = i;
	}
}

/* A slot for a new bucket: a freed one, an unused one, a new one (the
 * array doubles up to the cap) or, with the stripe full, the least
 * recently used bucket. RL_NIL only when the stripe is empty and memory
 * is exhausted. */
static uint32_t slot_get(struct ratelimit *rl, struct rl_stripe *s)
{
	uint32_t i;

	if (s->free_head != RL_NIL) {
		i = s->free_head;
		s->free_head = s->ent[i].hnext;
		return i;
	}
	if (s->n_used == s->n_alloc && s->n_alloc < rl->cap) {
		uint32_t n = s->n_alloc ? s->n_alloc * 2 : RL_MIN_SLOTS;
		struct rl_entry *e;

		if (n > rl->cap || n < s->n_alloc)
			n = rl->cap;
		e = realloc(s->ent, (size_t)n * sizeof(*e));
		if (e != NULL) {
			s->ent = e;
			s->n_alloc = n;
		}
	}
	if (s->n_used < s->n_alloc)
		return s->n_used++;
	if (s->lru_tail == RL_NIL)
		return RL_NIL;
	i = s->lru_tail;
	entry_remove(rl, s, i);
	atomic_fetch_add_explicit(&rl->cap_evictions, 1, memory_order_relaxed);
	/* entry_remove put it on the free list: take it back */
	s->free_head = s->ent[i].hnext;
	return i;
}

/* ---- public ---- */

struct ratelimit *ratelimit_new(size_t max_entries)
{
	struct ratelimit *rl;
	size_t per;
	unsigned k;

	if (max_entries == 0)
		max_entries = RATELIMIT_DEFAULT_MAX_ENTRIES;
	per = max_entries / RL_STRIPES;
	if (per == 0)
		per = 1;
	if (per > UINT32_MAX - 1)
		per = UINT32_MAX - 1;
	rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return NULL;
	rl->cap = (uint32_t)per;
	atomic_init(&rl->cap_evictions, 0);
	addrkey_seed(rl->seed);
	for (k = 0; k < RL_STRIPES; k++) {
		struct rl_stripe *s = &rl->stripes[k];
		uint32_t i;

		pthread_mutex_init(&s->mu, NULL);
		s->free_head = RL_NIL;
		s->lru_head = RL_NIL;
		s->lru_tail = RL_NIL;
		atomic_init(&s->count, 0);
		s->n_heads = RL_MIN_SLOTS;
		s->heads = malloc(RL_MIN_SLOTS * sizeof(*s->heads));
		if (s->heads == NULL) {
			ratelimit_free(rl);
			return NULL;
		}
		for (i = 0; i < RL_MIN_SLOTS; i++)
			s->heads[i] = RL_NIL;
	}
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	unsigned k;

	if (rl == NULL)
		return;
	for (k = 0; k < RL_STRIPES; k++) {
		free(rl->stripes[k].ent);
		free(rl->stripes[k].heads);
		pthread_mutex_destroy(&rl->stripes[k].mu);
	}
	free(rl);
}

uint64_t ratelimit_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static unsigned clamp_setting(unsigned v)
{
	return v < 1 ? 1 : v > RL_MAX_SETTING ? RL_MAX_SETTING : v;
}

int ratelimit_allow(struct ratelimit *rl, const struct sockaddr *peer,
		    unsigned rate, unsigned burst, uint64_t now_ms)
{
	struct rl_stripe *s;
	struct rl_entry *e;
	uint64_t key[2], h;
	uint32_t i, full;
	int allowed = 1;

	if (addrkey_of(peer, key) != 0)
		return 1;
	rate = clamp_setting(rate);
	full = clamp_setting(burst) * RL_MILLI;
	h = rl_hash(rl, key);
	s = &rl->stripes[h >> (64 - RL_STRIPE_BITS)];

	pthread_mutex_lock(&s->mu);
	for (i = s->heads[(uint32_t)h & (s->n_heads - 1)]; i != RL_NIL;
	     i = s->ent[i].hnext)
		if (s->ent[i].key[0] == key[0] && s->ent[i].key[1] == key[1])
			break;
	if (i == RL_NIL) {
		uint32_t c;

		i = slot_get(rl, s);
		if (i == RL_NIL)
			goto out; /* no memory at all: fail open */
		e = &s->ent[i];
		e->key[0] = key[0];
		e->key[1] = key[1];
		e->stamp_ms = now_ms;
		e->tokens = full;
		atomic_store_explicit(
			&s->count,
			atomic_load_explicit(&s->count, memory_order_relaxed) +
				1,
			memory_order_relaxed);
		maybe_grow_heads(rl, s);
		c = chain_of(rl, s, key);
		e->hnext = s->heads[c];
		s->heads[c] = i;
	} else {
		uint64_t elapsed;

		e = &s->ent[i];
		lru_unlink(s, i);
		/* Threads read the clock before taking the lock, so now_ms
		 * may trail the stamp by a little: never refill backwards. */
		if (now_ms > e->stamp_ms) {
			elapsed = now_ms - e->stamp_ms;
			e->stamp_ms = now_ms;
			/* rate >= 1 thousandth per ms: `full` ms fill any
			 * bucket, and the product below stays < 2^50 */
			if (elapsed >= full)
				e->tokens = full;
			else if (elapsed * rate >= (uint64_t)(full - e->tokens))
				e->tokens = full;
			else
				e->tokens += (uint32_t)(elapsed * rate);
		}
		if (e->tokens > full) /* burst lowered by a reload */
			e->tokens = full;
	}
	lru_push_head(s, i);
	if (e->tokens >= RL_MILLI)
		e->tokens -= RL_MILLI;
	else
		allowed = 0;
out:
	pthread_mutex_unlock(&s->mu);
	return allowed;
}

void ratelimit_log_refusal(const struct sockaddr *peer, const char *ip,
			   const char *host, const char *path,
			   const char *proto)
{
	char net[ADDRKEY_NET_MAX];
	/* A NULL key ends the list: without proto the pair is left out. */
	const char *pk = proto != NULL ? "proto" : LOG_END;

	if (addrkey_format_net(peer, net, sizeof(net)))
		log_event(LOG_LEVEL_WARN, "RATE_LIMIT", "client_ip", ip,
			  "client_net", net, "host", host, "path", path,
			  "status", "429", pk, proto, LOG_END);
	else
		log_event(LOG_LEVEL_WARN, "RATE_LIMIT", "client_ip", ip, "host",
			  host, "path", path, "status", "429", pk, proto,
			  LOG_END);
}

size_t ratelimit_evict(struct ratelimit *rl, uint64_t now_ms,
		       unsigned max_idle_secs)
{
	uint64_t age = (uint64_t)max_idle_secs * 1000u;
	size_t n = 0;
	unsigned k;

	for (k = 0; k < RL_STRIPES; k++) {
		struct rl_stripe *s = &rl->stripes[k];

		pthread_mutex_lock(&s->mu);
		/* The tail is the bucket used longest ago; stop at the first
		 * one still in use. */
		while (s->lru_tail != RL_NIL &&
		       now_ms > s->ent[s->lru_tail].stamp_ms &&
		       now_ms - s->ent[s->lru_tail].stamp_ms > age) {
			entry_remove(rl, s, s->lru_tail);
			n++;
		}
		pthread_mutex_unlock(&s->mu);
	}
	return n;
}

size_t ratelimit_count(const struct ratelimit *rl)
{
	size_t n = 0;
	unsigned k;

	for (k = 0; k < RL_STRIPES; k++)
		n += atomic_load_explicit(&rl->stripes[k].count,
					  memory_order_relaxed);
	return n;
}

size_t ratelimit_take_cap_evictions(struct ratelimit *rl)
{
	return atomic_exchange_explicit(&rl->cap_evictions, 0,
					memory_order_relaxed);
}

/* ---- housekeeping thread ---- */

struct ratelimit_housekeeper {
	struct ratelimit *rl;
	ratelimit_settings_fn settings;
	void *ud;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC */
	int stop;	   /* under mu */
	unsigned wakes;	   /* under mu: ratelimit_housekeeper_wake() calls */
};

static void hk_run_once(struct ratelimit_housekeeper *hk, unsigned age)
{
	size_t evicted, forced;
	char a[24], b[24];

	evicted = ratelimit_evict(hk->rl, ratelimit_now_ms(), age);
	forced = ratelimit_take_cap_evictions(hk->rl);
	snprintf(b, sizeof(b), "%zu", ratelimit_count(hk->rl));
	if (evicted > 0) {
		snprintf(a, sizeof(a), "%zu", evicted);
		log_event(LOG_LEVEL_DEBUG, "RATE_LIMIT_EVICT", "evicted", a,
			  "entries", b, LOG_END);
	}
	if (forced > 0) {
		snprintf(a, sizeof(a), "%zu", forced);
		log_event(LOG_LEVEL_WARN, "RATE_LIMIT_TABLE_FULL", "reused_lru",
			  a, "entries", b, LOG_END);
	}
}

static void *hk_main(void *arg)
{
	struct ratelimit_housekeeper *hk = arg;
	struct timespec last, due;
	unsigned interval = 60, age = 300, seen;

	clock_gettime(CLOCK_MONOTONIC, &last);
	pthread_mutex_lock(&hk->mu);
	while (!hk->stop) {
		int rc = 0;

		seen = hk->wakes;
		pthread_mutex_unlock(&hk->mu);
		hk->settings(hk->ud, &interval, &age);
		if (interval == 0)
			interval = 1;
		pthread_mutex_lock(&hk->mu);
		due = last;
		due.tv_sec += (time_t)interval;
		while (!hk->stop && hk->wakes == seen && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&hk->cv, &hk->mu, &due);
		if (hk->stop || rc != ETIMEDOUT)
			continue; /* stopping, or woken to re-read settings */
		pthread_mutex_unlock(&hk->mu);
		hk_run_once(hk, age);
		clock_gettime(CLOCK_MONOTONIC, &last);
		pthread_mutex_lock(&hk->mu);
	}
	pthread_mutex_unlock(&hk->mu);
	return NULL;
}

struct ratelimit_housekeeper *
ratelimit_housekeeper_start(struct ratelimit *rl,
			    ratelimit_settings_fn settings, void *ud)
{
	struct ratelimit_housekeeper *hk;
	pthread_condattr_t ca;
	int rc;

	hk = calloc(1, sizeof(*hk));
	if (hk == NULL)
		return NULL;
	hk->rl = rl;
	hk->settings = settings;
	hk->ud = ud;
	pthread_mutex_init(&hk->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&hk->cv, &ca);
	pthread_condattr_destroy(&ca);
	/* Signals belong to the program (threads.h). */
	rc = thread_start(&hk->thread, hk_main, hk);
	if (rc != 0) {
		pthread_cond_destroy(&hk->cv);
		pthread_mutex_destroy(&hk->mu);
		free(hk);
		return NULL;
	}
	return hk;
}

void ratelimit_housekeeper_wake(struct ratelimit_housekeeper *hk)
{
	if (hk == NULL)
		return;
	pthread_mutex_lock(&hk->mu);
	hk->wakes++;
	pthread_cond_signal(&hk->cv);
	pthread_mutex_unlock(&hk->mu);
}

void ratelimit_housekeeper_stop(struct ratelimit_housekeeper *hk)
{
	if (hk == NULL)
		return;
	pthread_mutex_lock(&hk->mu);
	hk->stop = 1;
	pthread_cond_signal(&hk->cv);
	pthread_mutex_unlock(&hk->mu);
	pthread_join(hk->thread, NULL);
	pthread_cond_destroy(&hk->cv);
	pthread_mutex_destroy(&hk->mu);
	free(hk);
}
