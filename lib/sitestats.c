/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * sitestats: per-site counters (see sitestats.h). The name table is
 * append-only: a name, once published (its pointer stored, then the
 * count raised with release order), never changes or moves, so readers
 * need no lock. A worker's block for a site is allocated by that worker
 * on its first request for the site and published with release order.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sitestats.h"

static const unsigned codes[] = {
	100, 101, 200, 201, 202, 203, 204, 206, 301, 302, 303, 304, 307,
	308, 400, 401, 403, 404, 405, 406, 408, 409, 410, 411, 412, 413,
	414, 415, 416, 421, 422, 429, 431, 499, 500, 501, 502, 503, 504};
#define N_EXACT (sizeof(codes) / sizeof(codes[0]))
_Static_assert(N_EXACT + 5 == SS_CODES, "SS_CODES: the exact codes + 5 classes");

static const char *const code_names[SS_CODES] = {
	"100", "101", "200", "201", "202", "203", "204", "206", "301", "302",
	"303", "304", "307", "308", "400", "401", "403", "404", "405", "406",
	"408", "409", "410", "411", "412", "413", "414", "415", "416", "421",
	"422", "429", "431", "499", "500", "501", "502", "503", "504",
	"1xx", "2xx", "3xx", "4xx", "5xx"};

static const char *const method_names[SS_METHODS] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"};

/* seconds; the last bucket is +Inf */
static const double bucket_le[SS_BUCKETS - 1] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

struct sitestats_slot {
	_Atomic(struct site_counters *) site[SITESTATS_MAX_SITES];
} __attribute__((aligned(64)));

struct sitestats {
	pthread_mutex_t mu; /* appends to names */
	_Atomic unsigned n_names;
	char *names[SITESTATS_MAX_SITES];
	unsigned workers;
	struct sitestats_slot *slots;
};

struct sitestats *sitestats_new(unsigned workers)
{
	struct sitestats *s = calloc(1, sizeof(*s));
	unsigned i, j;

	if (s == NULL)
		return NULL;
	if (workers == 0)
		workers = 1;
	s->slots = aligned_alloc(64, sizeof(*s->slots) * workers);
	s->names[0] = strdup("-");
	if (s->slots == NULL || s->names[0] == NULL) {
		free(s->names[0]);
		free(s->slots);
		free(s);
		return NULL;
	}
	for (i = 0; i < workers; i++)
		for (j = 0; j < SITESTATS_MAX_SITES; j++)
			atomic_init(&s->slots[i].site[j], NULL);
	pthread_mutex_init(&s->mu, NULL);
	atomic_init(&s->n_names, 1);
	s->workers = workers;
	return s;
}

void sitestats_free(struct sitestats *s)
{
	unsigned i, j, n;

	if (s == NULL)
		return;
	n = atomic_load(&s->n_names);
	for (i = 0; i < s->workers; i++)
		for (j = 0; j < n; j++)
			free(atomic_load(&s->slots[i].site[j]));
	for (j = 0; j < n; j++)
		free(s->names[j]);
	free(s->slots);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

unsigned sitestats_intern(struct sitestats *s, const char *name)
{
	unsigned i, n, id = 0;

	pthread_mutex_lock(&s->mu);
	n = atomic_load_explicit(&s->n_names, memory_order_relaxed);
	for (i = 1; i < n; i++)
		if (strcmp(s->names[i], name) == 0)
			break;
	if (i < n) {
		id = i;
	} else if (n < SITESTATS_MAX_SITES &&
		   (s->names[n] = strdup(name)) != NULL) {
		id = n;
		atomic_store_explicit(&s->n_names, n + 1, memory_order_release);
	}
	pthread_mutex_unlock(&s->mu);
	return id;
}

struct sitestats_slot *sitestats_slot(struct sitestats *s, unsigned i)
{
	return &s->slots[i % s->workers];
}

static void add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* The worker's block for site id, allocated on first use; NULL when out
 * of memory (the request goes uncounted, as nothing else can be done on
 * the request path). */
static struct site_counters *block(struct sitestats_slot *w, unsigned id)
{
	struct site_counters *c;

	if (id >= SITESTATS_MAX_SITES)
		id = 0;
	c = atomic_load_explicit(&w->site[id], memory_order_relaxed);
	if (c != NULL)
		return c;
	c = calloc(1, sizeof(*c)); /* all-zero bytes are zero atomics here */
	if (c != NULL)
		atomic_store_explicit(&w->site[id], c, memory_order_release);
	return c;
}

static unsigned code_index(int status)
{
	unsigned lo = 0, hi = N_EXACT;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (codes[mid] == (unsigned)status)
			return mid;
		if (codes[mid] < (unsigned)status)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (status < 100 || status > 599)
		return N_EXACT + 4; /* cannot happen: logged as 5xx */
	return N_EXACT + (unsigned)(status / 100 - 1);
}

static unsigned method_index(const char *m)
{
	unsigned i;

	for (i = 0; i < SS_OTHER; i++)
		if (strcmp(m, method_names[i]) == 0)
			return i;
	return SS_OTHER;
}

void sitestats_count(struct sitestats_slot *w, unsigned id, const char *method,
		     int status, uint64_t duration_us, uint64_t bytes_in,
		     uint64_t bytes_out)
{
	struct site_counters *c = w != NULL ? block(w, id) : NULL;
	unsigned b = 0;
	double secs = (double)duration_us / 1e6;

	if (c == NULL)
		return;
	add(&c->req[code_index(status)][method_index(method)], 1);
	while (b < SS_BUCKETS - 1 && secs > bucket_le[b])
		b++;
	add(&c->dur[b], 1);
	add(&c->dur_sum_us, duration_us);
	add(&c->bytes_in, bytes_in);
	add(&c->bytes_out, bytes_out);
}

void sitestats_upstream_error(struct sitestats_slot *w, unsigned id,
			      int timeout)
{
	struct site_counters *c = w != NULL ? block(w, id) : NULL;

	if (c != NULL)
		add(&c->upstream[timeout ? SS_UP_TIMEOUT : SS_UP_ERROR], 1);
}

unsigned sitestats_names(struct sitestats *s)
{
	return atomic_load_explicit(&s->n_names, memory_order_acquire);
}

const char *sitestats_name(struct sitestats *s, unsigned i)
{
	return s->names[i];
}

static void sum(_Atomic uint64_t *to, _Atomic uint64_t *from, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		atomic_store_explicit(
			&to[k],
			atomic_load_explicit(&to[k], memory_order_relaxed) +
				atomic_load_explicit(&from[k],
						     memory_order_relaxed),
			memory_order_relaxed);
}

void sitestats_read(struct sitestats *s, unsigned i, struct site_counters *out)
{
	unsigned k;

	memset(out, 0, sizeof(*out));
	for (k = 0; k < s->workers; k++) {
		struct site_counters *c = atomic_load_explicit(
			&s->slots[k].site[i], memory_order_acquire);

		if (c == NULL)
			continue;
		sum(&out->req[0][0], &c->req[0][0], SS_CODES * SS_METHODS);
		sum(out->dur, c->dur, SS_BUCKETS);
		sum(&out->dur_sum_us, &c->dur_sum_us, 1);
		sum(&out->bytes_in, &c->bytes_in, 1);
		sum(&out->bytes_out, &c->bytes_out, 1);
		sum(out->upstream, c->upstream, SS_UP_KINDS);
	}
}

const char *sitestats_code_label(unsigned c)
{
	return c < SS_CODES ? code_names[c] : "-";
}

const char *sitestats_method_label(unsigned m)
{
	return m < SS_METHODS ? method_names[m] : "other";
}

double sitestats_bucket_le(unsigned b)
{
	return b < SS_BUCKETS - 1 ? bucket_le[b] : 0;
}
