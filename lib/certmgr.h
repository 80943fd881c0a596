/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * certmgr: the certificate manager of alkproxy_certs_* (issue 18) — the
 * certificates of a configuration's [tls] section (ACME, or manual pairs
 * with the expiry watch) for a libmicrohttpd daemon of the embedding
 * program: its TLS store is registered under the program's HTTPS port, so
 * tls_cert_callback (MHD_OPTION_HTTPS_CERT_CALLBACK) finds it, and the
 * HTTP-01 tokens are looked up for the program's port-80 handler.
 *
 * Threads: start, stop and free from the program's thread that owns the
 * manager; certmgr_http01 and certmgr_ready from any thread (the token
 * map and the store have their own mutexes); the ACME or certwatch
 * thread runs in between.
 */
#ifndef AP_CERTMGR_H
#define AP_CERTMGR_H

#include <stddef.h>

#include "config.h"

struct certmgr;

enum { CERTMGR_OK = 0, CERTMGR_ENOMEM, CERTMGR_ETLS, CERTMGR_ECONFIG,
       CERTMGR_ESYSTEM };

/* Takes cfg (loaded with CONFIG_CERTS_ONLY) in every case. */
int certmgr_new(struct config *cfg, struct certmgr **out);
/* Load the certificates (manual) or the ACME cache and start the ACME
 * client (acme); handshakes on local port `port` get them. 0 or a
 * CERTMGR_E* code with err filled. */
int certmgr_start(struct certmgr *m, unsigned port, char *err, size_t errsz);
void certmgr_stop(struct certmgr *m);
void certmgr_free(struct certmgr *m);
/* The key authorization for an HTTP-01 request path
 * (/.well-known/acme-challenge/TOKEN) into out: its length, or -1 when
 * the path is not a challenge in progress (or out is too small). */
int certmgr_http01(struct certmgr *m, const char *path, char *out,
		   size_t outsz);
/* How many names the served certificates cover (0: none yet). */
size_t certmgr_names(struct certmgr *m);

#endif
