/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/**
 * @file alkproxy_mhd.h
 * @brief libalkproxy for libmicrohttpd programs: handler sites and a
 * certificate manager for the program's own daemon.
 *
 * Include it instead of (or after) alkproxy.h when the program uses
 * libmicrohttpd; `pkg-config --cflags --libs alkproxy` covers both.
 */
#ifndef ALKPROXY_MHD_H
#define ALKPROXY_MHD_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "alkproxy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- handler sites ---- */

/**
 * Answer the sites configured with `handler = label` with the program's
 * libmicrohttpd access handler, as if it were registered with
 * MHD_start_daemon: the same arguments, called the same way (first with
 * *upload_data_size 0, then with the body, then once more with 0), the
 * same rules (queue a response with MHD_queue_response; suspend and resume
 * by libmicrohttpd's rules). Before it, a request goes through everything
 * the proxy does for a proxied site: TLS and SNI, framing checks, /health,
 * the rate limit (429), routing, the body limit (413, also for a body
 * larger than body_limit_bytes that arrives chunked: the handler then sees
 * no more of it), the access callback (alkproxy.h) whose added headers the
 * handler reads with MHD_lookup_connection_value; after it, the REQUEST
 * log line (with handler=label), the counters and the request callback.
 * *con_cls is the handler's own, separate from the library's.
 *
 * completed (may be NULL) is called as MHD_OPTION_NOTIFY_COMPLETED would
 * be, once per request for which the handler was called, with the same
 * con_cls pointer.
 *
 * Threads: both run on the HTTPS worker thread that owns the connection,
 * concurrently for different connections, and must not block (a blocked
 * call stalls every connection of that worker); completed also runs on
 * the thread that calls alkproxy_stop/alkproxy_shutdown/alkproxy_free
 * for connections still open then. The libmicrohttpd daemon is the
 * library's; the handler must not stop it or change its options.
 *
 * Register before alkproxy_start (else ALKPROXY_ESTATE); handler NULL
 * removes the label. Labels: 1..64 of A-Z a-z 0-9 . _ -; at most 64
 * handlers (ALKPROXY_EINVAL). alkproxy_start and alkproxy_reload_* refuse
 * (ALKPROXY_ECONFIG, naming file:line of the site) a configuration with a
 * handler site whose label has no handler. Proxied and handler sites mix
 * in one configuration.
 */
ALKPROXY_EXPORT int alkproxy_set_handler(alkproxy *p, const char *label,
					 MHD_AccessHandlerCallback handler,
					 void *handler_cls,
					 MHD_RequestCompletedCallback completed,
					 void *completed_cls);

/* ---- certificate manager for the program's own daemon ---- */

/** Opaque certificate manager. */
typedef struct alkproxy_certs alkproxy_certs;

/**
 * A certificate manager from a configuration with [tls] (acme or manual,
 * the keys of reverse-proxy.ini(5)), optionally [certificate NAME] and
 * [logging] sections, and nothing else ([server], [site]… are errors:
 * the program's daemon has its own). In acme mode the program answers
 * HTTP-01 on its port 80 with alkproxy_certs_http01 (acme_challenge
 * tls-alpn-01 is refused). Files are checked as alkproxy_create_file
 * checks them; diagnostics go to diag as there. *out is NULL on failure.
 * Free with alkproxy_certs_free.
 */
ALKPROXY_EXPORT int alkproxy_certs_create_file(alkproxy_certs **out,
					       const char *path,
					       alkproxy_diag_cb diag, void *ud);
ALKPROXY_EXPORT int alkproxy_certs_create_string(alkproxy_certs **out,
						 const char *ini,
						 const char *name,
						 alkproxy_diag_cb diag,
						 void *ud);

/**
 * Load the certificates (manual mode; ALKPROXY_ETLS if one is unusable)
 * or the ACME cache, and start the ACME client in the background (acme
 * mode: it orders a certificate when none is cached and renews it, as
 * the proxy does). https_port: the local TCP port of the program's
 * HTTPS daemon — handshakes arriving on it get this manager's
 * certificates from alkproxy_certs_cert_callback. Errors also go to the
 * create call's diag. ALKPROXY_ESTATE when already started.
 */
ALKPROXY_EXPORT int alkproxy_certs_start(alkproxy_certs *m,
					 unsigned https_port);

/**
 * For MHD_OPTION_HTTPS_CERT_CALLBACK of the program's daemon
 * (MHD_USE_TLS): the certificate for the client's SNI name, from the
 * started manager registered for the connection's local port. A
 * handshake without SNI, or for a name no certificate covers, is refused
 * (a TLS_ERROR log event). Called by GnuTLS on the daemon's threads;
 * thread-safe. Certificates replaced by a renewal stay valid for the
 * handshakes that hold them.
 */
ALKPROXY_EXPORT int alkproxy_certs_cert_callback(
	gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
	const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
	gnutls_pcert_st **pcert, unsigned int *pcert_length,
	gnutls_privkey_t *pkey);

/**
 * For the program's port-80 handler: when url is
 * /.well-known/acme-challenge/TOKEN of a validation in progress, write its
 * key authorization (the response body, text/plain, status 200) to out
 * (NUL-terminated) and return its length; otherwise (not a challenge, no
 * such token, out too small) return -1: answer as the program would (404).
 * Any thread.
 */
ALKPROXY_EXPORT int alkproxy_certs_http01(alkproxy_certs *m, const char *url,
					  char *out, size_t outsz);

/** How many names the served certificates cover now (0: none yet, e.g.
 * before the first ACME issuance). Any thread. */
ALKPROXY_EXPORT size_t alkproxy_certs_names(alkproxy_certs *m);

/** Stop the ACME client or watch (started → stopped; it may be started
 * again). ALKPROXY_ESTATE when not started. */
ALKPROXY_EXPORT int alkproxy_certs_stop(alkproxy_certs *m);

/** Stop if needed and free everything. NULL is accepted. Stop the
 * program's daemon first: its handshakes use the certificates. */
ALKPROXY_EXPORT void alkproxy_certs_free(alkproxy_certs *m);

#ifdef __cplusplus
}
#endif

#endif
