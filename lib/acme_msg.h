/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * acme_msg: the ACME (RFC 8555) documents the client reads and the
 * certificate material it makes — parsers for directory, account, order,
 * authorization, challenge and problem documents (untrusted bytes from the
 * network: bounded, validated, fuzzed), the CSR, and the checks applied to
 * an issued or cached certificate. No state; any thread.
 */
#ifndef AP_ACME_MSG_H
#define AP_ACME_MSG_H

#include <stddef.h>
#include <time.h>

#include <gnutls/abstract.h>

/* Hard caps on what a server document may hold. */
#define ACME_MSG_MAX_DOC (256 * 1024)
#define ACME_MSG_MAX_URL 2048
#define ACME_MSG_MAX_AUTHZ 100
#define ACME_MSG_MAX_TEXT 1024

/* Every parser: returns 0 and fills *out (free with the matching _clear,
 * which also accepts a zeroed struct), or -1 with *out zeroed. Every URL
 * must be https://, at most ACME_MSG_MAX_URL bytes of printable ASCII
 * without spaces; other strings are bounded by ACME_MSG_MAX_TEXT. */

#define ACME_MSG_MAX_PROFILES 32

struct acme_directory {
	char *new_nonce, *new_account, *new_order;
	char *terms; /* meta.termsOfService, may be NULL */
	char *renewal_info; /* ARI (RFC 9773) base URL; NULL if not offered */
	int eab_required;   /* meta.externalAccountRequired */
	/* meta.profiles' names (at most ACME_MSG_MAX_PROFILES, words of at
	 * most 64 bytes); n_profiles 0 = the CA announces none */
	char *profiles[ACME_MSG_MAX_PROFILES];
	size_t n_profiles;
};
/* Does the directory announce this profile? */
int acme_directory_has_profile(const struct acme_directory *d,
			       const char *name);
int acme_parse_directory(const char *buf, size_t len,
			 struct acme_directory *out);
void acme_directory_clear(struct acme_directory *d);

struct acme_problem {
	char *type; /* e.g. urn:ietf:params:acme:error:badNonce; may be NULL */
	char *detail; /* may be NULL */
};
int acme_parse_problem(const char *buf, size_t len, struct acme_problem *out);
void acme_problem_clear(struct acme_problem *p);
/* Does p->type end with ":error:NAME"? */
int acme_problem_is(const struct acme_problem *p, const char *name);

struct acme_account_doc {
	char *status; /* valid | deactivated | revoked */
};
int acme_parse_account(const char *buf, size_t len,
		       struct acme_account_doc *out);
void acme_account_doc_clear(struct acme_account_doc *a);

struct acme_order {
	char *status; /* pending | ready | processing | valid | invalid */
	char **authzs;
	size_t n_authzs;
	char *finalize;
	char *certificate;	   /* when valid */
	struct acme_problem error; /* when invalid, if given */
};
int acme_parse_order(const char *buf, size_t len, struct acme_order *out);
void acme_order_clear(struct acme_order *o);

struct acme_challenge {
	char *type, *status, *url;
	char *token; /* base64url, checked */
	struct acme_problem error;
};
int acme_parse_challenge(const char *buf, size_t len,
			 struct acme_challenge *out);
void acme_challenge_clear(struct acme_challenge *c);

struct acme_authz {
	char *status;
	char *identifier;	      /* the dns name */
	struct acme_challenge http01; /* type NULL if the server offered none */
	struct acme_challenge alpn01; /* tls-alpn-01, the same */
};
int acme_parse_authz(const char *buf, size_t len, struct acme_authz *out);
void acme_authz_clear(struct acme_authz *a);

/* newOrder payload {"identifiers":[{"type":"dns","value":N}…]} plus
 * "profile" and "replaces" (RFC 9773) when not NULL (malloc'd). */
char *acme_order_payload(char *const *names, size_t n, const char *profile,
			 const char *replaces);

/* A renewalInfo response (RFC 9773 §4.2): the suggested window, RFC 3339
 * times, start < end. Returns 0 or -1. */
int acme_parse_renewal_info(const char *buf, size_t len, time_t *start,
			    time_t *end);
/* An RFC 3339 date-time ("2026-12-05T11:06:04Z", fractions and offsets
 * allowed) as seconds since the epoch; -1 if malformed. */
time_t acme_parse_time(const char *s, size_t len);

/* A DER PKCS#10 request signed by key: CN = names[0], subjectAltName = the
 * names, in order. *der is gnutls-allocated (gnutls_free). Returns 0/-1. */
int acme_csr_der(gnutls_privkey_t key, char *const *names, size_t n,
		 gnutls_datum_t *der);

#define ACME_CERT_ID_SIZE 160

/* The tls-alpn-01 validation certificate (RFC 8737 §3) for name: self-
 * signed by key, its only subjectAltName the dNSName name, a critical
 * acmeIdentifier extension with SHA-256(key_authz). *pem malloc'd PEM.
 * Returns 0/-1. */
int acme_alpn_cert(const char *name, const char *key_authz,
		   gnutls_privkey_t key, char **pem, size_t *pem_len);

/* Facts about the leaf (first) certificate of a PEM chain. */
struct acme_cert_info {
	time_t not_before, not_after;
	char serial[80]; /* hex */
	int names_match; /* its DNS SANs are exactly the given set */
	/* RFC 9773 §4.1 certificate identifier:
	 * base64url(authorityKeyIdentifier) "." base64url(serial);
	 * "" when the leaf has no authority key identifier */
	char cert_id[ACME_CERT_ID_SIZE];
};
int acme_cert_inspect(const char *pem, size_t len, char *const *names, size_t n,
		      struct acme_cert_info *out);

#endif
