/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * httpd80: the plain HTTP listener (SPEC F7) — ACME HTTP-01 answers for
 * live tokens (from challenge.h's map) and 301 redirects to HTTPS for
 * everything else.
 */
#ifndef AP_HTTPD80_H
#define AP_HTTPD80_H

#include <stddef.h>

#include "challenge.h"
#include "config.h"

/* Longest request-target the listener accepts (longer: 414). */
#define HTTPD80_MAX_TARGET 4096
/* Connection slots of the listener, its own budget apart from the HTTPS
 * listener's max_connections (SPEC F15): a flood on 443 cannot starve
 * ACME HTTP-01 validation. Requests here are answered at once from
 * memory, so few are needed. */
#define HTTPD80_MAX_CONNS 256
/* Ceiling of max_connections_per_ip on this listener: at least 8
 * addresses are needed to fill its slots, as with the HTTPS defaults
 * (1024 / 128). Browsers open at most 6 connections per host. */
#define HTTPD80_MAX_CONNS_PER_IP (HTTPD80_MAX_CONNS / 8)
struct listener;
struct httpd80;

/*
 * Start the listener on cfg->bind_addr:cfg->http_port (0 picks a free
 * port only if the caller asks: http_port 0 means "disabled", so callers
 * do not start it then). Redirects name https_port (omitted when 443).
 * l is this listener's admission budget and the server's connection
 * accounting; every request but an ACME challenge takes a token from the
 * server's rate limiter, like an HTTPS request (429 + RATE_LIMIT when
 * none is left). cfg, l and map must outlive the listener. Logs
 * LISTENING proto=http with the bound address.
 */
int httpd80_start(const struct config *cfg, struct listener *l,
		  struct challenge_map *map, unsigned https_port,
		  struct httpd80 **out, char *err, size_t errsz);
unsigned httpd80_port(const struct httpd80 *h);
/* Stop and free (NULL is fine). Main thread. */
void httpd80_stop(struct httpd80 *h);
/* A connection closed: let a paused accept loop retry (any thread). */
void httpd80_kick(struct httpd80 *h);
/* Shutdown: stop accepting (the listening socket closes); NULL is fine. */
void httpd80_stop_accepting(struct httpd80 *h);

/*
 * Build the redirect Location for host (raw Host header value) and the
 * raw request-target into out. Returns 0, or -1 when either is invalid
 * (the caller answers 400). Exposed for the unit test.
 */
int httpd80_location(const char *host, size_t host_len, const char *target,
		     unsigned https_port, char *out, size_t outsz);

#endif
