/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * sitestats: the per-site request counters behind /metrics (issue 19,
 * SPEC F18): requests by site, status code and method, a request
 * duration histogram, body bytes in and out, and upstream failures by
 * kind. Sites get a stable id from an append-only name table (a reload
 * that drops a site keeps its series; one that re-adds it continues
 * them), id 0 is "-" (no site: /health, 404 without a route, 400s …).
 * Each worker owns a slot whose per-site blocks it allocates on first use
 * and writes alone, with relaxed atomic loads and stores, no lock; a
 * reader (the metrics listener) sums the slots.
 *
 * Threads: sitestats_intern from the main thread (start, reload) under
 * the table's mutex; sitestats_count/sitestats_upstream_error from the
 * owning worker; sitestats_read_* from any thread.
 */
#ifndef AP_SITESTATS_H
#define AP_SITESTATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config_parse.h" /* CONFIG_MAX_SITES */

/* names: every site of every config this server has run, plus "-" */
#define SITESTATS_MAX_SITES (CONFIG_MAX_SITES * 2 + 1)

/* methods, folded to a fixed set */
enum { SS_GET, SS_HEAD, SS_POST, SS_PUT, SS_DELETE, SS_PATCH, SS_OPTIONS,
       SS_OTHER, SS_METHODS };
/* status codes with a series of their own; others fold into their class
 * (code="2xx" …) */
#define SS_CODES 44
/* duration histogram buckets (seconds), +Inf last */
#define SS_BUCKETS 12
enum { SS_UP_TIMEOUT, SS_UP_ERROR, SS_UP_KINDS };

struct site_counters {
	_Atomic uint64_t req[SS_CODES][SS_METHODS];
	_Atomic uint64_t dur[SS_BUCKETS]; /* per bucket, not cumulative */
	_Atomic uint64_t dur_sum_us;
	_Atomic uint64_t bytes_in, bytes_out;
	_Atomic uint64_t upstream[SS_UP_KINDS];
};

struct sitestats;
struct sitestats_slot;

struct sitestats *sitestats_new(unsigned workers);
void sitestats_free(struct sitestats *s);
/* The id of a site name (a new one is appended), or 0 when the table is
 * full ("-"). Main thread. */
unsigned sitestats_intern(struct sitestats *s, const char *name);
/* Worker i's slot. */
struct sitestats_slot *sitestats_slot(struct sitestats *s, unsigned i);

/* One completed request of site id (0: none). Owning worker only; w NULL
 * (no metrics listener): nothing counted. */
void sitestats_count(struct sitestats_slot *w, unsigned id, const char *method,
		     int status, uint64_t duration_us, uint64_t bytes_in,
		     uint64_t bytes_out);
void sitestats_upstream_error(struct sitestats_slot *w, unsigned id,
			      int timeout);

/* Reading (any thread): how many names; name i; the sum over workers of
 * site i's counters into *out (zero when no worker counted it). */
unsigned sitestats_names(struct sitestats *s);
const char *sitestats_name(struct sitestats *s, unsigned i);
void sitestats_read(struct sitestats *s, unsigned i, struct site_counters *out);

/* The labels: the code of index c ("200", or "2xx"), the method of index
 * m ("GET" … "other"), the upper bound of bucket b in seconds (b <
 * SS_BUCKETS - 1; the last is +Inf). */
const char *sitestats_code_label(unsigned c);
const char *sitestats_method_label(unsigned m);
double sitestats_bucket_le(unsigned b);

#endif
