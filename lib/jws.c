/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * jws: base64url, P-256 keys, JWK, RFC 7638 thumbprints, ES256 and
 * flattened JWS for the ACME client. Owns no state; every buffer is
 * bounded by its caller's size or allocated to an exact computed length.
 * Private key material that passes through here is wiped before release.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jansson.h>

#include "jws.h"

static const char b64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t jws_b64url_encode(const void *in, size_t len, char *out, size_t outsz)
{
	const uint8_t *p = in;
	size_t need, i, o = 0;

	if (len > (SIZE_MAX / 4) - 4)
		return (size_t)-1;
	need = JWS_B64URL_LEN(len);
	if (out == NULL || need >= outsz)
		return (size_t)-1;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
			     p[i + 2];

		out[o++] = b64url_alphabet[(v >> 18) & 63];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
		out[o++] = b64url_alphabet[(v >> 6) & 63];
		out[o++] = b64url_alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;

		out[o++] = b64url_alphabet[(v >> 18) & 63];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		out[o++] = b64url_alphabet[(v >> 18) & 63];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
		out[o++] = b64url_alphabet[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

char *jws_b64url(const void *in, size_t len)
{
	size_t sz;
	char *out;

	if (len > (SIZE_MAX / 4) - 4)
		return NULL;
	sz = JWS_B64URL_LEN(len) + 1;
	out = malloc(sz);
	if (out == NULL)
		return NULL;
	if (jws_b64url_encode(in, len, out, sz) == (size_t)-1) {
		free(out);
		return NULL;
	}
	return out;
}

static int b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

long jws_b64url_decode(const char *in, size_t len, uint8_t *out, size_t outsz)
{
	uint32_t acc = 0;
	size_t i, o = 0;
	int bits = 0;

	/* A lone trailing character carries fewer than 8 bits. */
	if (len % 4 == 1 || len > (size_t)LONG_MAX / 2)
		return -1;
	for (i = 0; i < len; i++) {
		int v = b64url_value(in[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outsz)
				return -1;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits must be zero (canonical encoding). */
	if (acc != 0)
		return -1;
	return (long)o;
}

int jws_key_generate_pem(char **pem, size_t *pem_len)
{
	gnutls_x509_privkey_t xk = NULL;
	gnutls_datum_t d = {NULL, 0};
	int rc = -1;

	*pem = NULL;
	*pem_len = 0;
	if (gnutls_x509_privkey_init(&xk) < 0)
		return -1;
	if (gnutls_x509_privkey_generate(
		    xk, GNUTLS_PK_ECDSA,
		    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0)
		goto out;
	if (gnutls_x509_privkey_export2_pkcs8(xk, GNUTLS_X509_FMT_PEM, NULL,
					      GNUTLS_PKCS_PLAIN, &d) < 0)
		goto out;
	*pem = malloc((size_t)d.size + 1);
	if (*pem == NULL)
		goto out;
	memcpy(*pem, d.data, d.size);
	(*pem)[d.size] = '\0';
	*pem_len = d.size;
	rc = 0;
out:
	if (d.data != NULL) {
		gnutls_memset(d.data, 0, d.size);
		gnutls_free(d.data);
	}
	gnutls_x509_privkey_deinit(xk);
	return rc;
}

int jws_key_import_pem(const char *pem, size_t len, gnutls_privkey_t *out)
{
	gnutls_privkey_t k = NULL;
	gnutls_datum_t d = {(unsigned char *)(uintptr_t)pem, (unsigned)len};
	gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
	unsigned bits = 0;

	*out = NULL;
	if (len > 65536 || gnutls_privkey_init(&k) < 0)
		return -1;
	if (gnutls_privkey_import_x509_raw(k, &d, GNUTLS_X509_FMT_PEM, NULL,
					   0) < 0 ||
	    gnutls_privkey_get_pk_algorithm(k, &bits) != GNUTLS_PK_ECDSA ||
	    gnutls_privkey_export_ecc_raw(k, &curve, NULL, NULL, NULL) < 0 ||
	    curve != GNUTLS_ECC_CURVE_SECP256R1) {
		gnutls_privkey_deinit(k);
		return -1;
	}
	*out = k;
	return 0;
}

/* Copy a big-endian integer into exactly 32 bytes: strip leading zeros,
 * left-pad. Fails if the value does not fit. */
static int fixed32(const gnutls_datum_t *v, uint8_t out[32])
{
	const uint8_t *p = v->data;
	size_t n = v->size;

	while (n > 0 && *p == 0) {
		p++;
		n--;
	}
	if (n > 32)
		return -1;
	memset(out, 0, 32 - n);
	if (n > 0)
		memcpy(out + (32 - n), p, n);
	return 0;
}

int jws_jwk(gnutls_privkey_t key, char *out, size_t outsz)
{
	gnutls_datum_t x = {NULL, 0}, y = {NULL, 0};
	gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
	uint8_t xb[32], yb[32];
	char xs[48], ys[48];
	int rc = -1, n;

	if (gnutls_privkey_export_ecc_raw(key, &curve, &x, &y, NULL) < 0)
		return -1;
	if (curve != GNUTLS_ECC_CURVE_SECP256R1 || fixed32(&x, xb) != 0 ||
	    fixed32(&y, yb) != 0)
		goto out;
	if (jws_b64url_encode(xb, 32, xs, sizeof(xs)) == (size_t)-1 ||
	    jws_b64url_encode(yb, 32, ys, sizeof(ys)) == (size_t)-1)
		goto out;
	n = snprintf(
		out, outsz,
		"{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
		xs, ys);
	if (n < 0 || (size_t)n >= outsz)
		goto out;
	rc = 0;
out:
	gnutls_free(x.data);
	gnutls_free(y.data);
	return rc;
}

int jws_thumbprint_json(const char *jwk_json, char *out, size_t outsz)
{
	uint8_t md[32];

	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, jwk_json, strlen(jwk_json),
			     md) < 0)
		return -1;
	return jws_b64url_encode(md, sizeof(md), out, outsz) == (size_t)-1 ? -1
									   : 0;
}

int jws_thumbprint(gnutls_privkey_t key, char *out, size_t outsz)
{
	char jwk[JWS_JWK_SIZE];

	if (jws_jwk(key, jwk, sizeof(jwk)) != 0)
		return -1;
	return jws_thumbprint_json(jwk, out, outsz);
}

int jws_sign_es256(gnutls_privkey_t key, const void *data, size_t len,
		   uint8_t sig[64])
{
	gnutls_datum_t d = {(unsigned char *)(uintptr_t)data, (unsigned)len};
	gnutls_datum_t der = {NULL, 0}, r = {NULL, 0}, s = {NULL, 0};
	int rc = -1;

	if (len > UINT32_MAX)
		return -1;
	if (gnutls_privkey_sign_data(key, GNUTLS_DIG_SHA256, 0, &d, &der) < 0)
		return -1;
	if (gnutls_decode_rs_value(&der, &r, &s) < 0)
		goto out;
	if (fixed32(&r, sig) != 0 || fixed32(&s, sig + 32) != 0)
		goto out;
	rc = 0;
out:
	gnutls_free(der.data);
	gnutls_free(r.data);
	gnutls_free(s.data);
	return rc;
}

/* The JWS signing input "protected.payload" (RFC 7515 §5.1), malloc'd;
 * *len its length. */
static char *signing_input(const char *prot64, const char *pay64,
			   size_t *len)
{
	size_t n1 = strlen(prot64), n2 = strlen(pay64);
	char *s = malloc(n1 + n2 + 2);

	if (s == NULL)
		return NULL;
	memcpy(s, prot64, n1);
	s[n1] = '.';
	memcpy(s + n1 + 1, pay64, n2 + 1);
	*len = n1 + 1 + n2;
	return s;
}

char *jws_build(gnutls_privkey_t key, const char *kid, const char *nonce,
		const char *url, const char *payload)
{
	json_t *prot = NULL, *jwk = NULL, *out = NULL;
	char *prot_s = NULL, *prot64 = NULL, *pay64 = NULL, *signing = NULL;
	char *result = NULL, sig64[JWS_B64URL_LEN(64) + 1];
	char jwkbuf[JWS_JWK_SIZE];
	uint8_t sig[64];
	size_t slen;

	prot = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "nonce", nonce,
			 "url", url);
	if (prot == NULL)
		goto out;
	if (kid != NULL) {
		if (json_object_set_new(prot, "kid", json_string(kid)) != 0)
			goto out;
	} else {
		if (jws_jwk(key, jwkbuf, sizeof(jwkbuf)) != 0 ||
		    (jwk = json_loads(jwkbuf, 0, NULL)) == NULL ||
		    json_object_set(prot, "jwk", jwk) != 0)
			goto out;
	}
	prot_s = json_dumps(prot, JSON_COMPACT | JSON_SORT_KEYS);
	if (prot_s == NULL)
		goto out;
	prot64 = jws_b64url(prot_s, strlen(prot_s));
	pay64 = payload != NULL ? jws_b64url(payload, strlen(payload))
				: strdup("");
	if (prot64 == NULL || pay64 == NULL)
		goto out;
	signing = signing_input(prot64, pay64, &slen);
	if (signing == NULL)
		goto out;
	if (jws_sign_es256(key, signing, slen, sig) != 0 ||
	    jws_b64url_encode(sig, sizeof(sig), sig64, sizeof(sig64)) ==
		    (size_t)-1)
		goto out;
	out = json_pack("{s:s, s:s, s:s}", "protected", prot64, "payload",
			pay64, "signature", sig64);
	if (out == NULL)
		goto out;
	result = json_dumps(out, JSON_COMPACT);
out:
	json_decref(prot);
	json_decref(jwk);
	json_decref(out);
	free(prot_s);
	free(prot64);
	free(pay64);
	free(signing);
	return result;
}

int jws_key_authorization(const char *token, const char *thumb, char *out,
			  size_t outsz)
{
	size_t i, tl = strlen(token);
	int n;

	/* RFC 8555 §8.3: the token is base64url; anything else could end up
	 * in an HTTP response, so refuse it. */
	if (tl == 0 || tl > 256)
		return -1;
	for (i = 0; i < tl; i++)
		if (b64url_value(token[i]) < 0)
			return -1;
	n = snprintf(out, outsz, "%s.%s", token, thumb);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

long jws_hmac_key_read(const char *text, size_t len, uint8_t *out,
		       size_t outsz)
{
	uint8_t tmp[JWS_HMAC_KEY_MAX];
	long n;

	/* surrounding whitespace (a trailing newline) is not part of it */
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' ||
			   text[len - 1] == ' ' || text[len - 1] == '\t'))
		len--;
	while (len > 0 && (*text == ' ' || *text == '\t' || *text == '\n' ||
			   *text == '\r')) {
		text++;
		len--;
	}
	if (len == 0)
		return -1;
	if (out == NULL) {
		n = jws_b64url_decode(text, len, tmp, sizeof(tmp));
		gnutls_memset(tmp, 0, sizeof(tmp));
		return n;
	}
	return jws_b64url_decode(text, len, out, outsz);
}

char *jws_eab(const char *kid, const uint8_t *hmac_key, size_t key_len,
	      const char *url, gnutls_privkey_t account_key)
{
	json_t *prot = NULL, *out = NULL;
	char *prot_s = NULL, *prot64 = NULL, *pay64 = NULL, *signing = NULL;
	char *result = NULL, sig64[JWS_B64URL_LEN(32) + 1];
	char jwkbuf[JWS_JWK_SIZE];
	uint8_t mac[32];
	size_t slen;

	prot = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid", kid, "url",
			 url);
	if (prot == NULL || jws_jwk(account_key, jwkbuf, sizeof(jwkbuf)) != 0)
		goto out;
	prot_s = json_dumps(prot, JSON_COMPACT | JSON_SORT_KEYS);
	if (prot_s == NULL)
		goto out;
	prot64 = jws_b64url(prot_s, strlen(prot_s));
	pay64 = jws_b64url(jwkbuf, strlen(jwkbuf));
	if (prot64 == NULL || pay64 == NULL)
		goto out;
	signing = signing_input(prot64, pay64, &slen);
	if (signing == NULL)
		goto out;
	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, hmac_key, key_len, signing,
			     slen, mac) != 0 ||
	    jws_b64url_encode(mac, sizeof(mac), sig64, sizeof(sig64)) ==
		    (size_t)-1)
		goto out;
	out = json_pack("{s:s, s:s, s:s}", "protected", prot64, "payload",
			pay64, "signature", sig64);
	if (out != NULL)
		result = json_dumps(out, JSON_COMPACT);
out:
	gnutls_memset(mac, 0, sizeof(mac));
	json_decref(prot);
	json_decref(out);
	free(prot_s);
	free(prot64);
	free(pay64);
	free(signing);
	return result;
}
