/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * metrics_http: the [metrics] listener (issue 19): plain HTTP on its own
 * address, GET (or HEAD) /metrics only — 404 for another path, 405 for
 * another method — answered with what the render callback writes, in the
 * Prometheus text format. One libmicrohttpd daemon with one internal
 * thread (signals blocked), few connections, short timeouts.
 * Threads: start and stop on the main thread; render on the daemon's.
 */
#ifndef AP_METRICS_HTTP_H
#define AP_METRICS_HTTP_H

#include <stddef.h>

#include "metrics.h"

struct metrics_http;

typedef void (*metrics_render_fn)(void *ud, struct mbuf *out);

/* Listen on host:port (port 0: any). 0, or -1 with err filled. */
int metrics_http_start(const char *host, unsigned port, metrics_render_fn fn,
		       void *ud, struct metrics_http **out, char *err,
		       size_t errsz);
unsigned metrics_http_port(const struct metrics_http *h);
void metrics_http_stop(struct metrics_http *h);

#endif
