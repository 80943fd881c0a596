/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * metrics: the Prometheus text exposition (format 0.0.4) of one server's
 * numbers (issue 19, SPEC F18), written from a struct metrics_src the
 * server fills for each scrape. Names and labels: doc/operator-guide.md
 * "Metrics" and reverse-proxy.ini(5) [metrics].
 * Threads: the metrics listener's thread, one scrape at a time.
 */
#ifndef AP_METRICS_H
#define AP_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sitestats.h"
#include "stats.h"
#include "tls.h"

#define METRICS_MAX_CERTS 64

struct metrics_src {
	const char *version, *revision;
	struct sitestats *sites;
	uint64_t stats[STATS_COUNT];
	uint64_t conns_refused_https, conns_refused_http;
	unsigned conns_open, in_flight;
	uint64_t tls[TLS_COUNT_N];
	struct tls_cert_info certs[METRICS_MAX_CERTS];
	size_t n_certs;
	int acme; /* acme mode: the two below are meaningful */
	uint64_t acme_issued, acme_failed;
	time_t acme_next; /* 0: none planned */
	uint64_t reloads_ok, reloads_failed;
	int ready; /* /health/ready would answer 200 */
};

/* A growable text buffer; oom set when an append failed. */
struct mbuf {
	char *p;
	size_t len, cap;
	int oom;
};
void mbuf_printf(struct mbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void mbuf_free(struct mbuf *b);

/* The whole exposition into b. */
void metrics_render(const struct metrics_src *m, struct mbuf *b);

#endif
