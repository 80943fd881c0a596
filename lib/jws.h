/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * jws: the small piece of JOSE that ACME (RFC 8555) needs — base64url
 * without padding, ECDSA P-256 keys, the JWK of a public key and its
 * RFC 7638 thumbprint, ES256 signatures in the raw r||s form of RFC 7518,
 * flattened JWS objects, and HTTP-01 key authorizations. Pure functions:
 * no state, callable from any thread (in practice the ACME thread).
 */
#ifndef AP_JWS_H
#define AP_JWS_H

#include <stddef.h>
#include <stdint.h>

#include <gnutls/abstract.h>

/* Length of base64url(n bytes), no padding, without the NUL. */
#define JWS_B64URL_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))
/* A SHA-256 thumbprint in base64url plus NUL. */
#define JWS_THUMB_SIZE 44
/* The canonical JWK of a P-256 key: fixed size, plus margin. */
#define JWS_JWK_SIZE 160

/* Encode len bytes into out (outsz incl. NUL). Returns the length written,
 * or (size_t)-1 if out is too small. */
size_t jws_b64url_encode(const void *in, size_t len, char *out, size_t outsz);
/* Same, into a new malloc'd string (caller frees); NULL on failure. */
char *jws_b64url(const void *in, size_t len);
/* Decode base64url (no padding; '=' padding and whitespace are rejected).
 * Returns the decoded length, or -1 on bad input or if out is too small. */
long jws_b64url_decode(const char *in, size_t len, uint8_t *out, size_t outsz);

/* A new ECDSA P-256 key as PKCS#8 PEM in *pem (malloc'd, NUL-terminated;
 * caller wipes and frees). Returns 0 or -1. */
int jws_key_generate_pem(char **pem, size_t *pem_len);
/* Import a PEM private key; must be ECDSA P-256. Returns 0 and a new key
 * (gnutls_privkey_deinit) or -1. */
int jws_key_import_pem(const char *pem, size_t len, gnutls_privkey_t *out);

/* The canonical JWK of key's public half, exactly
 * {"crv":"P-256","kty":"EC","x":"…","y":"…"} with x and y as 32 bytes
 * each (RFC 7638 member order, no whitespace). Returns 0 or -1. */
int jws_jwk(gnutls_privkey_t key, char *out, size_t outsz);
/* base64url(SHA-256(jwk_json)): the RFC 7638 thumbprint of a canonical JWK
 * string given as is (any key type). out has JWS_THUMB_SIZE bytes. */
int jws_thumbprint_json(const char *jwk_json, char *out, size_t outsz);
/* The thumbprint of key (jws_jwk then jws_thumbprint_json). */
int jws_thumbprint(gnutls_privkey_t key, char *out, size_t outsz);

/* ES256: SHA-256 ECDSA signature of data as raw r||s, 32 bytes each, left
 * padded with zeros. Returns 0 or -1. */
int jws_sign_es256(gnutls_privkey_t key, const void *data, size_t len,
		   uint8_t sig[64]);

/*
 * A flattened JWS (RFC 7515 §7.2.2) for ACME: protected header
 * {"alg":"ES256", "jwk"|"kid", "nonce", "url"}; kid NULL means "jwk" with
 * the key's public JWK (newAccount). payload NULL means POST-as-GET (empty
 * payload). Returns a new malloc'd JSON string (caller frees) or NULL.
 */
char *jws_build(gnutls_privkey_t key, const char *kid, const char *nonce,
		const char *url, const char *payload);

/* Largest external account binding MAC key read. */
#define JWS_HMAC_KEY_MAX 512
/* Decode an EAB MAC key as CAs hand it out (base64url, no padding;
 * surrounding whitespace ignored) into out. With out NULL, only checks it.
 * Returns its length in bytes, or -1. */
long jws_hmac_key_read(const char *text, size_t len, uint8_t *out,
		       size_t outsz);
/* The externalAccountBinding of a newAccount request (RFC 8555 §7.3.4):
 * a flattened JWS, HS256 under hmac_key, protected header {alg, kid, url}
 * (url = the newAccount URL), payload = account_key's public JWK. Returns
 * a new malloc'd JSON string or NULL. */
char *jws_eab(const char *kid, const uint8_t *hmac_key, size_t key_len,
	      const char *url, gnutls_privkey_t account_key);

/* "token.thumbprint" into out. Returns 0, or -1 if the token is not
 * base64url or out is too small. */
int jws_key_authorization(const char *token, const char *thumb, char *out,
			  size_t outsz);

#endif
