/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * certwatch: the thread of manual TLS mode that re-checks the served
 * certificates' expiry (tls_store_check_expiry: CERT_EXPIRY at 14/7/3
 * days left and when expired) once at start and then every hour, so a
 * certificate nobody renews is reported before it breaks. In acme mode
 * the ACME thread makes the same check. The test suite shortens the
 * interval with ALKPROXY_CERT_CHECK_INTERVAL_MS.
 */
#ifndef AP_CERTWATCH_H
#define AP_CERTWATCH_H

#include "tls.h"

struct certwatch;

/* Start watching store (borrowed; must outlive certwatch_stop). Returns 0
 * and a handle, or -1. Main thread. */
int certwatch_start(struct tls_store *store, struct certwatch **out);
/* Wake, join and free the thread. NULL is fine. Main thread. */
void certwatch_stop(struct certwatch *w);

#endif
