/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * metrics: Prometheus text exposition (see metrics.h). Every family has
 * HELP and TYPE lines; label values are escaped as the format asks
 * (backslash, double quote, newline); site labels come from the config,
 * the others from fixed sets, so the series are bounded.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* A scrape of many sites stays well below this. */
#define MBUF_MAX (64u * 1024 * 1024)

void mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p != NULL ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = b->cap ? b->cap * 2 : 16384;
			char *np;

			while (cap < b->len + (size_t)n + 1)
				cap *= 2;
			if (cap > MBUF_MAX || (np = realloc(b->p, cap)) == NULL) {
				b->oom = 1;
				return;
			}
			b->p = np;
			b->cap = cap;
		}
	}
}

void mbuf_free(struct mbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* A label value, escaped, into out (always terminated). */
static const char *esc(const char *v, char *out, size_t outsz)
{
	size_t n = 0;

	for (; *v != '\0' && n + 3 < outsz; v++) {
		if (*v == '\\' || *v == '"') {
			out[n++] = '\\';
			out[n++] = *v;
		} else if (*v == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else {
			out[n++] = *v;
		}
	}
	out[n] = '\0';
	return out;
}

static void family(struct mbuf *b, const char *name, const char *type,
		   const char *help)
{
	mbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A site's completed requests (every one lands in one bucket). */
static uint64_t requests(const struct site_counters *c)
{
	uint64_t n = 0;
	unsigned k;

	for (k = 0; k < SS_BUCKETS; k++)
		n += c->dur[k];
	return n;
}

/* One body-bytes family (out: response bytes, else request bytes), a
 * sample for each site that has requests. */
static void bytes_family(const struct metrics_src *m, struct mbuf *b,
			 const struct site_counters *sc, unsigned n,
			 const char *name, const char *help, int out)
{
	char site[600];
	unsigned i;

	family(b, name, "counter", help);
	for (i = 0; i < n; i++)
		if (requests(&sc[i]) != 0)
			mbuf_printf(b, "%s{site=\"%s\"} %llu\n", name,
				    esc(sitestats_name(m->sites, i), site,
					sizeof(site)),
				    (unsigned long long)(out ? sc[i].bytes_out
							     : sc[i].bytes_in));
}

static void sites(const struct metrics_src *m, struct mbuf *b)
{
	unsigned n = sitestats_names(m->sites), i, c, k;
	struct site_counters *sc = malloc(sizeof(*sc) * (n ? n : 1));
	char site[600];

	if (sc == NULL) {
		b->oom = 1;
		return;
	}
	for (i = 0; i < n; i++)
		sitestats_read(m->sites, i, &sc[i]);

	family(b, "reverse_proxy_requests_total", "counter",
	       "Completed requests by site, status code and method.");
	for (i = 0; i < n; i++)
		for (c = 0; c < SS_CODES; c++)
			for (k = 0; k < SS_METHODS; k++)
				if (sc[i].req[c][k] != 0)
					mbuf_printf(
						b,
						"reverse_proxy_requests_total{site=\"%s\",code=\"%s\",method=\"%s\"} %llu\n",
						esc(sitestats_name(m->sites, i), site, sizeof(site)),
						sitestats_code_label(c),
						sitestats_method_label(k),
						(unsigned long long)sc[i].req[c][k]);

	family(b, "reverse_proxy_request_duration_seconds", "histogram",
	       "Time from the request line to the end of the response, by site.");
	for (i = 0; i < n; i++) {
		uint64_t cum;

		if (requests(&sc[i]) == 0)
			continue;
		esc(sitestats_name(m->sites, i), site, sizeof(site));
		cum = 0;
		for (k = 0; k < SS_BUCKETS; k++) {
			cum += sc[i].dur[k];
			if (k < SS_BUCKETS - 1)
				mbuf_printf(b,
					    "reverse_proxy_request_duration_seconds_bucket{site=\"%s\",le=\"%g\"} %llu\n",
					    site, sitestats_bucket_le(k),
					    (unsigned long long)cum);
			else
				mbuf_printf(b,
					    "reverse_proxy_request_duration_seconds_bucket{site=\"%s\",le=\"+Inf\"} %llu\n",
					    site, (unsigned long long)cum);
		}
		mbuf_printf(b,
			    "reverse_proxy_request_duration_seconds_sum{site=\"%s\"} %.6f\n"
			    "reverse_proxy_request_duration_seconds_count{site=\"%s\"} %llu\n",
			    site, (double)sc[i].dur_sum_us / 1e6, site,
			    (unsigned long long)cum);
	}

	bytes_family(m, b, sc, n, "reverse_proxy_request_body_bytes_total",
		     "Request body bytes received from clients, by site.", 0);
	bytes_family(m, b, sc, n, "reverse_proxy_response_body_bytes_total",
		     "Response body bytes sent to clients from upstreams, by site.",
		     1);

	family(b, "reverse_proxy_upstream_errors_total", "counter",
	       "Upstream failures answered 502 (kind=error) or 504 (kind=timeout), by site.");
	for (i = 0; i < n; i++) {
		if (sc[i].upstream[SS_UP_ERROR] == 0 &&
		    sc[i].upstream[SS_UP_TIMEOUT] == 0)
			continue;
		esc(sitestats_name(m->sites, i), site, sizeof(site));
		mbuf_printf(b,
			    "reverse_proxy_upstream_errors_total{site=\"%s\",kind=\"error\"} %llu\n"
			    "reverse_proxy_upstream_errors_total{site=\"%s\",kind=\"timeout\"} %llu\n",
			    site, (unsigned long long)sc[i].upstream[SS_UP_ERROR],
			    site, (unsigned long long)sc[i].upstream[SS_UP_TIMEOUT]);
	}
	free(sc);
}

void metrics_render(const struct metrics_src *m, struct mbuf *b)
{
	char v1[200], v2[200];
	size_t i;

	family(b, "reverse_proxy_build_info", "gauge",
	       "Version and source revision of the running build (always 1).");
	mbuf_printf(b, "reverse_proxy_build_info{version=\"%s\",revision=\"%s\"} 1\n",
		    esc(m->version, v1, sizeof(v1)),
		    esc(m->revision, v2, sizeof(v2)));
	sites(m, b);

	family(b, "reverse_proxy_rate_limited_total", "counter",
	       "Requests refused with 429 by the per-address rate limiter.");
	mbuf_printf(b, "reverse_proxy_rate_limited_total %llu\n",
		    (unsigned long long)m->stats[STATS_RATE_LIMITED]);
	family(b, "reverse_proxy_connections_refused_total", "counter",
	       "Connections refused by max_connections, max_connections_per_ip or the PROXY protocol stage, by listener.");
	mbuf_printf(b,
		    "reverse_proxy_connections_refused_total{listener=\"https\"} %llu\n"
		    "reverse_proxy_connections_refused_total{listener=\"http\"} %llu\n",
		    (unsigned long long)m->conns_refused_https,
		    (unsigned long long)m->conns_refused_http);
	family(b, "reverse_proxy_connections_open", "gauge",
	       "Open client connections of the HTTPS listener.");
	mbuf_printf(b, "reverse_proxy_connections_open %u\n", m->conns_open);
	family(b, "reverse_proxy_connections_idle", "gauge",
	       "Open HTTPS connections without a request in progress (handshaking or kept alive).");
	mbuf_printf(b, "reverse_proxy_connections_idle %u\n",
		    m->conns_open > m->in_flight ? m->conns_open - m->in_flight
						 : 0);
	family(b, "reverse_proxy_requests_in_flight", "gauge",
	       "Requests being served now.");
	mbuf_printf(b, "reverse_proxy_requests_in_flight %u\n", m->in_flight);

	family(b, "reverse_proxy_tls_handshakes_total", "counter",
	       "TLS ClientHellos given a certificate (process-wide).");
	mbuf_printf(b, "reverse_proxy_tls_handshakes_total %llu\n",
		    (unsigned long long)m->tls[TLS_COUNT_HELLOS]);
	family(b, "reverse_proxy_tls_handshake_failures_total", "counter",
	       "TLS handshakes refused, by reason (process-wide).");
	for (i = TLS_FAIL_NO_SNI; i < TLS_COUNT_N; i++)
		mbuf_printf(b,
			    "reverse_proxy_tls_handshake_failures_total{reason=\"%s\"} %llu\n",
			    tls_count_reason((enum tls_count)i),
			    (unsigned long long)m->tls[i]);

	family(b, "reverse_proxy_certificate_not_after_timestamp_seconds", "gauge",
	       "End of validity of each served certificate (seconds since the epoch), by its first DNS name.");
	for (i = 0; i < m->n_certs; i++)
		mbuf_printf(b,
			    "reverse_proxy_certificate_not_after_timestamp_seconds{certificate=\"%s\"} %lld\n",
			    esc(m->certs[i].name, v1, sizeof(v1)),
			    (long long)m->certs[i].not_after);
	if (m->acme) {
		family(b, "reverse_proxy_acme_orders_total", "counter",
		       "ACME certificate orders by result.");
		mbuf_printf(b,
			    "reverse_proxy_acme_orders_total{result=\"issued\"} %llu\n"
			    "reverse_proxy_acme_orders_total{result=\"failed\"} %llu\n",
			    (unsigned long long)m->acme_issued,
			    (unsigned long long)m->acme_failed);
		family(b, "reverse_proxy_acme_next_renewal_timestamp_seconds",
		       "gauge",
		       "When the ACME client plans its next order (seconds since the epoch; 0: none planned).");
		mbuf_printf(b,
			    "reverse_proxy_acme_next_renewal_timestamp_seconds %lld\n",
			    (long long)m->acme_next);
	}
	family(b, "reverse_proxy_config_reloads_total", "counter",
	       "Configuration reloads by result.");
	mbuf_printf(b,
		    "reverse_proxy_config_reloads_total{result=\"success\"} %llu\n"
		    "reverse_proxy_config_reloads_total{result=\"failure\"} %llu\n",
		    (unsigned long long)m->reloads_ok,
		    (unsigned long long)m->reloads_failed);
	family(b, "reverse_proxy_ready", "gauge",
	       "1 when /health/ready answers 200 (config loaded, every name covered by a valid certificate).");
	mbuf_printf(b, "reverse_proxy_ready %d\n", m->ready ? 1 : 0);
}
