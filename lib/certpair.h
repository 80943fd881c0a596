/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * certpair: the one loader of a certificate chain and its private key
 * (SPEC F5, F17). Manual mode at start and on reload (tls.c), --validate
 * (config_check.c) and the ACME client's install of an issued or cached
 * certificate (through tls.c) all read PEM through certpair_from_pem, so
 * they accept and refuse exactly the same files: every certificate block
 * of the chain must parse, the key must parse, the leaf's public key must
 * be the key's, and the leaf must name at least one DNS subjectAltName.
 * No state; any thread.
 */
#ifndef AP_CERTPAIR_H
#define AP_CERTPAIR_H

#include <stddef.h>
#include <time.h>

#include <gnutls/abstract.h>

#define CERTPAIR_MAX_CHAIN 8

enum certpair_error {
	CERTPAIR_OK = 0,
	CERTPAIR_ECHAIN,    /* the chain (cert file) is unusable */
	CERTPAIR_ENAMES,    /* the leaf has no DNS subjectAltName */
	CERTPAIR_EKEY,	    /* the key (key file) is unusable */
	CERTPAIR_EMISMATCH, /* the key is not the leaf's */
	CERTPAIR_ENOMEM
};

struct certpair {
	gnutls_pcert_st pcerts[CERTPAIR_MAX_CHAIN]; /* leaf first */
	unsigned n_pcerts;
	gnutls_privkey_t key;
	char **names; /* the leaf's DNS subjectAltNames, lower case */
	size_t n_names;
	time_t not_before, not_after; /* the leaf's */
};

/* Read and check a PEM chain and a PEM key into *out (cleared first).
 * Returns CERTPAIR_OK, or an error with a reason in err and *out empty. */
enum certpair_error certpair_from_pem(struct certpair *out, const char *chain,
				      size_t chain_len, const char *key,
				      size_t key_len, char *err, size_t errsz);
/* Free everything; a zeroed or cleared pair is fine. */
void certpair_clear(struct certpair *p);

#endif
