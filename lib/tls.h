/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * tls: GnuTLS priorities (SPEC F5), certificate loading, and the SNI
 * certificate store consulted by libmicrohttpd's certificate callback.
 */
#ifndef AP_TLS_H
#define AP_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <sys/socket.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "config.h"

/* TLS 1.2/1.3, ECDHE + AEAD only, groups X25519/P-256/P-384. */
extern const char tls_priorities[];

struct tls_bundle; /* immutable set of certificates with their SAN names */
struct tls_store;  /* the current bundle for one listener, swappable */

/* Load every cert/key pair of a manual-mode config. Returns 0 and a new
 * bundle, or -1 with a message in err. */
int tls_bundle_load(const struct config *cfg, struct tls_bundle **out,
		    char *err, size_t errsz);
/* Build a one-certificate bundle from PEM data in memory (ACME). */
int tls_bundle_from_pem(const char *cert_pem, size_t cert_len,
			const char *key_pem, size_t key_len,
			struct tls_bundle **out, char *err, size_t errsz);
void tls_bundle_free(struct tls_bundle *b);
/* Number of names covered; for logs. */
size_t tls_bundle_names(const struct tls_bundle *b);

/* A store serves the listener bound to local_port. bundle may be NULL
 * (handshakes refused until one is set). */
struct tls_store *tls_store_new(void);
void tls_store_register(struct tls_store *s, unsigned local_port);
/* The listener stopped: its handshakes are over (the workers are joined)
 * and its port may go to another server's store. */
void tls_store_unregister(struct tls_store *s);
/* Swap in a new bundle (ownership passes to the store). The old bundle is
 * kept for the grace period, because a handshake in progress may use it;
 * bundles replaced longer ago than that are freed here. */
void tls_store_set(struct tls_store *s, struct tls_bundle *b);
/* The grace period: longer than any handshake can last (the server's
 * absolute head deadline bounds it). The default covers the largest
 * tls_handshake_timeout_secs + header_timeout_secs the config allows. */
#define TLS_STORE_DEFAULT_GRACE_SECS (3600 + 3600 + 10)
void tls_store_set_grace(struct tls_store *s, unsigned grace_secs);
/* The tls-alpn-01 validation certificates (RFC 8737), or NULL when the
 * validation is over; kept apart from the served bundle and handed out
 * only to handshakes that negotiate ALPN acme-tls/1 (ownership passes;
 * replaced ones are retired like bundles). ACME thread. */
void tls_store_set_challenge(struct tls_store *s, struct tls_bundle *b);
/* Log CERT_EXPIRY for each served certificate that has entered a new
 * step since the last call: 14, 7 and 3 days left (the thresholds under a
 * third of its lifetime; a sixth of it for certificates of under nine
 * days) as warnings, expired as an error. Once per step per loaded
 * certificate. Any thread (certwatch, ACME, main after a load). */
void tls_store_check_expiry(struct tls_store *s, time_t now);
/* Replaced bundles not freed yet (tests). */
/* Handshake counters (/metrics), process-wide: ClientHellos given a
 * certificate, and refusals by reason. Any thread. */
enum tls_count {
	TLS_COUNT_HELLOS = 0,
	TLS_FAIL_NO_SNI,
	TLS_FAIL_UNKNOWN_NAME,
	TLS_FAIL_NO_VERSION,
	TLS_FAIL_NO_CIPHER,
	TLS_FAIL_NO_GROUP,
	TLS_COUNT_N
};
void tls_counters(uint64_t out[TLS_COUNT_N]);
const char *tls_count_reason(enum tls_count c); /* a failure's label */

/* The current certificates (up to max): each one's first DNS name and
 * not_after. Any thread. */
struct tls_cert_info {
	char name[256];
	time_t not_after;
};
size_t tls_store_list(struct tls_store *s, struct tls_cert_info *out,
		      size_t max);
/* 1 when every one of names is covered by a current certificate valid at
 * now (n = 0: every current certificate is valid), else 0; 0 too when
 * no certificate is installed. Any thread. */
int tls_store_covers(struct tls_store *s, char *const *names, size_t n,
		     time_t now);
/* Readiness (/health/ready): acme mode, every acme_domains name covered;
 * manual mode, every loaded certificate valid — at now. Any thread. */
int tls_store_ready(struct tls_store *s, const struct config *cfg, time_t now);
/* Names the current bundle covers (0: none installed). Any thread. */
size_t tls_store_names(struct tls_store *s);
size_t tls_store_retired(struct tls_store *s);
void tls_store_free(struct tls_store *s);
/* Issue and accept session tickets on this store's listener (TLS 1.2
 * RFC 5077 tickets and TLS 1.3 PSK resumption), with a random key made
 * here and kept in memory only. Call before the listener starts. -1 if
 * GnuTLS cannot make the key. */
int tls_store_enable_tickets(struct tls_store *s);
/* Per connection, before its handshake: the ClientHello hook that checks
 * SNI for every handshake (resumed ones too) and, when the store has
 * tickets on, enables them with the key of the certificate chosen. */
void tls_session_setup(gnutls_session_t session);
/* Where the TLS log lines (TLS_ERROR, TLS_SNI) find a connection's client:
 * fn(fd, out) returns 0 and fills out, or -1 (then the socket's peer is
 * used). The server sets worker_peer (worker.h), so a client a PROXY
 * header named is the one logged; without it the socket's peer is. Set
 * before a listener starts; any thread reads it. */
typedef int (*tls_peer_fn)(int fd, struct sockaddr_storage *out);
void tls_set_peer_lookup(tls_peer_fn fn);

/* The gnutls_certificate_retrieve_function2 given to libmicrohttpd. */
int tls_cert_callback(gnutls_session_t session,
		      const gnutls_datum_t *req_ca_dn, int nreqs,
		      const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
		      gnutls_pcert_st **pcert, unsigned int *pcert_length,
		      gnutls_privkey_t *pkey);

/* Does a certificate name (possibly "*.example.com") cover host? */
int tls_name_matches(const char *pattern, const char *host);

#endif
