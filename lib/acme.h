/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * acme: the ACME (RFC 8555) client thread of acme mode (SPEC F6). It
 * keeps one certificate for all acme_domains in the TLS store: served from
 * the cache at start when still valid, otherwise ordered (HTTP-01 through
 * the challenge map), renewed when a third of its lifetime remains, with
 * exponential backoff after failures. See doc/acme.md.
 */
#ifndef AP_ACME_H
#define AP_ACME_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "challenge.h"
#include "tls.h"

struct acme;

/*
 * Load the cached certificate into store (synchronously, so it serves
 * from the first handshake) and start the client thread. cfg, store and
 * map are borrowed and must outlive acme_stop(). Returns 0 and a handle,
 * or -1 with err set (nothing started). Main thread.
 */
int acme_start(const struct config *cfg, struct tls_store *store,
	       struct challenge_map *map, struct acme **out, char *err,
	       size_t errsz);
/* Ask the thread to stop (it wakes from any wait and aborts a transfer in
 * progress), join it and free the handle. NULL is fine. Main thread. */
void acme_stop(struct acme *a);
/* Look at certificate.json now (a SIGHUP): another instance sharing the
 * cache directory may have put a newer certificate there. Returns at once;
 * the ACME thread does it. NULL is fine. Any thread. */
void acme_sync(struct acme *a);
/* For /metrics, any thread: orders that issued a certificate, orders that
 * failed, and when the next order is planned (seconds since the epoch;
 * 0 when one is under way or none is planned). */
void acme_numbers(struct acme *a, uint64_t *issued, uint64_t *failed,
		  time_t *next);

#endif
