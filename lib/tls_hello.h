/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * tls_hello: a ClientHello checked against our TLS policy before GnuTLS
 * negotiates (see tls_hello.c). Pure functions; any thread.
 */
#ifndef AP_TLS_HELLO_H
#define AP_TLS_HELLO_H

#include <stddef.h>

enum tls_hello_verdict {
	TLS_HELLO_OK,         /* something in common: let GnuTLS negotiate */
	TLS_HELLO_MALFORMED,  /* not a ClientHello we can read: GnuTLS decides */
	TLS_HELLO_NO_VERSION, /* neither TLS 1.3 nor 1.2: protocol_version */
	TLS_HELLO_NO_CIPHER,  /* no AEAD suite of ours: handshake_failure */
	TLS_HELLO_NO_GROUP    /* no X25519/P-256/P-384: handshake_failure */
};

/* msg: the ClientHello body (no handshake header). When sni is not NULL,
 * the server_name (DNS) is copied to it (printable ASCII, others as '?';
 * "" when absent or longer than sni_size - 1). */
enum tls_hello_verdict tls_hello_check(const unsigned char *msg, size_t len,
				       char *sni, size_t sni_size);
/* A static text for the TLS_ERROR line's error field. */
const char *tls_hello_reason(enum tls_hello_verdict v);

#endif
