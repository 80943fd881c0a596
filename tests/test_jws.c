/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Unit tests for jws.c: base64url (RFC 4648 §10 vectors, RFC 7515 A.1),
 * the RFC 7638 §3.1 thumbprint vector, the P-256 JWK, ES256 signatures in
 * raw r||s form checked by GnuTLS's own verifier, flattened JWS, and key
 * authorizations.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>

#include "jws.h"
#include "unit.h"

static void test_b64url(void)
{
	static const char *const plain[] = {"",	    "f",     "fo",    "foo",
					    "foob", "fooba", "foobar"};
	static const char *const enc[] = {
		"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
	/* RFC 7515 A.1: the JOSE header with its CRLF and space. */
	static const char hdr[] = "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}";
	static const uint8_t urlchars[] = {0xfb, 0xff};
	char out[128];
	uint8_t dec[64];
	size_t i;
	long n;

	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		CHECK(jws_b64url_encode(plain[i], strlen(plain[i]), out,
					sizeof(out)) == strlen(enc[i]));
		CHECK_STR(out, enc[i]);
		n = jws_b64url_decode(enc[i], strlen(enc[i]), dec, sizeof(dec));
		CHECK(n == (long)strlen(plain[i]));
		CHECK(n >= 0 && memcmp(dec, plain[i], (size_t)n) == 0);
	}
	CHECK(jws_b64url_encode(hdr, strlen(hdr), out, sizeof(out)) !=
	      (size_t)-1);
	CHECK_STR(out, "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9");
	CHECK(jws_b64url_encode(urlchars, 2, out, sizeof(out)) == 3);
	CHECK_STR(out, "-_8");
	/* too small an output buffer */
	CHECK(jws_b64url_encode("foobar", 6, out, 8) == (size_t)-1);
	CHECK(jws_b64url_encode("foobar", 6, out, 9) == 8);
	/* rejected: padding, bad characters, a lone char, non-canonical */
	CHECK(jws_b64url_decode("Zg==", 4, dec, sizeof(dec)) < 0);
	CHECK(jws_b64url_decode("Zm9+", 4, dec, sizeof(dec)) < 0);
	CHECK(jws_b64url_decode("Z", 1, dec, sizeof(dec)) < 0);
	CHECK(jws_b64url_decode("Zh", 2, dec, sizeof(dec)) < 0);
	CHECK(jws_b64url_decode("Zm9vYmFy", 8, dec, 5) < 0);
	{
		char *s = jws_b64url("foob", 4);

		CHECK_STR(s, "Zm9vYg");
		free(s);
	}
}

static void test_thumbprint_rfc7638(void)
{
	/* RFC 7638 §3.1: the members in lexicographic order, no spaces. */
	static const char jwk[] =
		"{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":"
		"\"0vx7agoebGcQSuuPiLJXZpt"
		"N9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6t"
		"Soc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl"
		"93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZ"
		"gnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI"
		"4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur"
		"-kEgU8awapJzKnqDKgw\"}";
	char th[JWS_THUMB_SIZE];

	CHECK(jws_thumbprint_json(jwk, th, sizeof(th)) == 0);
	CHECK_STR(th, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

static gnutls_privkey_t new_key(void)
{
	gnutls_privkey_t k = NULL;
	char *pem = NULL;
	size_t len = 0;

	CHECK(jws_key_generate_pem(&pem, &len) == 0);
	CHECK(pem != NULL && strstr(pem, "BEGIN PRIVATE KEY") != NULL);
	CHECK(jws_key_import_pem(pem, len, &k) == 0);
	free(pem);
	return k;
}

/* Verify a raw r||s ES256 signature with GnuTLS after re-encoding it as
 * DER, independently of the signing path. */
static int verify_rs(gnutls_privkey_t k, const void *data, size_t len,
		     const uint8_t sig[64])
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t r = {(unsigned char *)(uintptr_t)sig, 32};
	gnutls_datum_t s = {(unsigned char *)(uintptr_t)sig + 32, 32};
	gnutls_datum_t der = {NULL, 0};
	gnutls_datum_t d = {(unsigned char *)(uintptr_t)data, (unsigned)len};
	int ok = 0;

	if (gnutls_pubkey_init(&pub) == 0 &&
	    gnutls_pubkey_import_privkey(pub, k, 0, 0) == 0 &&
	    gnutls_encode_rs_value(&der, &r, &s) == 0)
		ok = gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_ECDSA_SHA256,
						0, &d, &der) >= 0;
	gnutls_free(der.data);
	gnutls_pubkey_deinit(pub);
	return ok;
}

static void test_jwk_and_es256(void)
{
	gnutls_privkey_t k = new_key();
	gnutls_ecc_curve_t curve;
	gnutls_datum_t x = {NULL, 0}, y = {NULL, 0};
	char jwk[JWS_JWK_SIZE], th[JWS_THUMB_SIZE], th2[JWS_THUMB_SIZE];
	json_t *j;
	uint8_t sig[64], xb[40];
	int i, all_ok = 1, rejected = 1;
	long n;

	if (k == NULL)
		return;
	CHECK(jws_jwk(k, jwk, sizeof(jwk)) == 0);
	/* exact canonical layout */
	{
		static const char pre[] =
			"{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"";

		CHECK(strncmp(jwk, pre, strlen(pre)) == 0);
		/* prefix, x, "","y":", y, "} */
		CHECK(strlen(jwk) == strlen(pre) + 43 + 7 + 43 + 2);
		CHECK(strncmp(jwk + strlen(pre) + 43, "\",\"y\":\"", 7) == 0);
	}
	j = json_loads(jwk, 0, NULL);
	CHECK(j != NULL);
	if (j != NULL) {
		const char *xs = json_string_value(json_object_get(j, "x"));
		const char *ys = json_string_value(json_object_get(j, "y"));

		CHECK(xs != NULL && ys != NULL);
		n = xs ? jws_b64url_decode(xs, strlen(xs), xb, sizeof(xb)) : -1;
		CHECK(n == 32);
		CHECK(gnutls_privkey_export_ecc_raw2(
			      k, &curve, &x, &y, NULL,
			      GNUTLS_EXPORT_FLAG_NO_LZ) == 0);
		/* x as exported, left-padded to 32 bytes, equals the JWK's */
		CHECK(x.size <= 32 && n == 32 &&
		      memcmp(xb + 32 - x.size, x.data, x.size) == 0);
		n = ys ? jws_b64url_decode(ys, strlen(ys), xb, sizeof(xb)) : -1;
		CHECK(n == 32);
		gnutls_free(x.data);
		gnutls_free(y.data);
		json_decref(j);
	}
	CHECK(jws_thumbprint(k, th, sizeof(th)) == 0);
	CHECK(jws_thumbprint_json(jwk, th2, sizeof(th2)) == 0);
	CHECK_STR(th, th2);
	CHECK(strlen(th) == 43);

	/* Many signatures, so some have an r or s with leading zero bytes
	 * (DER drops them; the raw form must keep 32 bytes each). */
	for (i = 0; i < 300; i++) {
		char msg[32];

		snprintf(msg, sizeof(msg), "message %d", i);
		if (jws_sign_es256(k, msg, strlen(msg), sig) != 0 ||
		    !verify_rs(k, msg, strlen(msg), sig))
			all_ok = 0;
		sig[5] ^= 1;
		if (verify_rs(k, msg, strlen(msg), sig))
			rejected = 0;
	}
	CHECK(all_ok);
	CHECK(rejected);
	gnutls_privkey_deinit(k);
}

static void test_jws_build(void)
{
	gnutls_privkey_t k = new_key();
	json_t *o, *p;
	char *s, buf[1024], signing[2048];
	uint8_t sig[80];
	long n;
	const char *prot, *pay, *sg;

	if (k == NULL)
		return;
	s = jws_build(k, NULL, "nonce-1", "https://ca.test/new-acct",
		      "{\"a\":1}");
	CHECK(s != NULL);
	o = s ? json_loads(s, 0, NULL) : NULL;
	CHECK(o != NULL);
	prot = json_string_value(json_object_get(o, "protected"));
	pay = json_string_value(json_object_get(o, "payload"));
	sg = json_string_value(json_object_get(o, "signature"));
	CHECK(prot != NULL && pay != NULL && sg != NULL);
	if (prot != NULL && pay != NULL && sg != NULL) {
		n = jws_b64url_decode(prot, strlen(prot), (uint8_t *)buf,
				      sizeof(buf) - 1);
		CHECK(n > 0);
		buf[n > 0 ? n : 0] = '\0';
		p = json_loads(buf, 0, NULL);
		CHECK_STR(json_string_value(json_object_get(p, "alg")),
			  "ES256");
		CHECK_STR(json_string_value(json_object_get(p, "nonce")),
			  "nonce-1");
		CHECK_STR(json_string_value(json_object_get(p, "url")),
			  "https://ca.test/new-acct");
		CHECK(json_is_object(json_object_get(p, "jwk")));
		CHECK(json_object_get(p, "kid") == NULL);
		json_decref(p);
		CHECK_STR(pay, "eyJhIjoxfQ");
		n = jws_b64url_decode(sg, strlen(sg), sig, sizeof(sig));
		CHECK(n == 64);
		snprintf(signing, sizeof(signing), "%s.%s", prot, pay);
		CHECK(n == 64 && verify_rs(k, signing, strlen(signing), sig));
	}
	json_decref(o);
	free(s);

	/* kid form, POST-as-GET: empty payload */
	s = jws_build(k, "https://ca.test/acct/1", "n2", "https://ca.test/o/1",
		      NULL);
	o = s ? json_loads(s, 0, NULL) : NULL;
	CHECK(o != NULL);
	CHECK_STR(json_string_value(json_object_get(o, "payload")), "");
	prot = json_string_value(json_object_get(o, "protected"));
	if (prot != NULL) {
		n = jws_b64url_decode(prot, strlen(prot), (uint8_t *)buf,
				      sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		p = json_loads(buf, 0, NULL);
		CHECK_STR(json_string_value(json_object_get(p, "kid")),
			  "https://ca.test/acct/1");
		CHECK(json_object_get(p, "jwk") == NULL);
		json_decref(p);
	}
	json_decref(o);
	free(s);
	gnutls_privkey_deinit(k);
}

static void test_key_authorization(void)
{
	char out[128];

	CHECK(jws_key_authorization("tok_EN-1", "THUMB", out, sizeof(out)) ==
	      0);
	CHECK_STR(out, "tok_EN-1.THUMB");
	CHECK(jws_key_authorization("bad/token", "T", out, sizeof(out)) < 0);
	CHECK(jws_key_authorization("bad\r\ntoken", "T", out, sizeof(out)) < 0);
	CHECK(jws_key_authorization("", "T", out, sizeof(out)) < 0);
	CHECK(jws_key_authorization("abc", "T", out, 4) < 0);
}

static void test_import_rejects(void)
{
	gnutls_privkey_t k = NULL;

	CHECK(jws_key_import_pem("garbage", 7, &k) < 0);
	CHECK(k == NULL);
}

/* Decode a base64url member of obj into a NUL-terminated malloc'd string. */
static char *b64member(json_t *obj, const char *name, long *len)
{
	json_t *v = json_object_get(obj, name);
	uint8_t *buf;

	*len = -1;
	if (!json_is_string(v))
		return NULL;
	buf = malloc(json_string_length(v) + 1);
	if (buf == NULL)
		return NULL;
	*len = jws_b64url_decode(json_string_value(v), json_string_length(v),
				 buf, json_string_length(v) + 1);
	if (*len < 0) {
		free(buf);
		return NULL;
	}
	buf[*len] = 0;
	return (char *)buf;
}

/* External account binding (RFC 8555 §7.3.4), checked as a CA checks
 * it: HS256 over protected.payload with the decoded MAC key, protected
 * header exactly alg/kid/url, payload the account key's JWK. */
static void test_eab(void)
{
	static const char key_text[] =
		"  zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W\n";
	uint8_t mac_key[JWS_HMAC_KEY_MAX], mac[32];
	char jwk[JWS_JWK_SIZE], *eab, *prot, *pay, *pem = NULL, *signing;
	char sig64[64];
	long klen, plen, ylen;
	size_t pem_len;
	gnutls_privkey_t k = NULL;
	json_t *root, *h;

	klen = jws_hmac_key_read(key_text, strlen(key_text), mac_key,
				 sizeof(mac_key));
	CHECK(klen == 48);
	CHECK(jws_hmac_key_read(key_text, strlen(key_text), NULL, 0) == 48);
	CHECK(jws_hmac_key_read("abc=", 4, NULL, 0) == -1); /* padding */
	CHECK(jws_hmac_key_read(" \n", 2, NULL, 0) == -1);
	CHECK(jws_hmac_key_read("a+b/", 4, NULL, 0) == -1); /* base64, not url */
	if (klen != 48 || jws_key_generate_pem(&pem, &pem_len) != 0 ||
	    jws_key_import_pem(pem, pem_len, &k) != 0) {
		CHECK(0);
		free(pem);
		return;
	}
	free(pem);
	eab = jws_eab("kid-1", mac_key, (size_t)klen,
		      "https://ca.test/new-acct", k);
	CHECK(eab != NULL);
	root = eab != NULL ? json_loads(eab, 0, NULL) : NULL;
	CHECK(root != NULL);
	prot = b64member(root, "protected", &plen);
	pay = b64member(root, "payload", &ylen);
	CHECK(prot != NULL && pay != NULL);
	h = prot != NULL ? json_loads(prot, 0, NULL) : NULL;
	CHECK(json_object_size(h) == 3);
	CHECK_STR(json_string_value(json_object_get(h, "alg")), "HS256");
	CHECK_STR(json_string_value(json_object_get(h, "kid")), "kid-1");
	CHECK_STR(json_string_value(json_object_get(h, "url")),
		  "https://ca.test/new-acct");
	CHECK(json_object_get(h, "nonce") == NULL);
	CHECK(jws_jwk(k, jwk, sizeof(jwk)) == 0);
	CHECK(pay != NULL && strcmp(pay, jwk) == 0);
	{
		const char *p64 = json_string_value(
				   json_object_get(root, "protected")),
			   *y64 = json_string_value(
				   json_object_get(root, "payload"));
		size_t n = strlen(p64) + strlen(y64) + 2;

		signing = malloc(n);
		snprintf(signing, n, "%s.%s", p64, y64);
		CHECK(gnutls_hmac_fast(GNUTLS_MAC_SHA256, mac_key,
				       (size_t)klen, signing, strlen(signing),
				       mac) == 0);
		CHECK(jws_b64url_encode(mac, sizeof(mac), sig64,
					sizeof(sig64)) == 43);
		CHECK_STR(json_string_value(json_object_get(root, "signature")),
			  sig64);
		free(signing);
	}
	json_decref(h);
	json_decref(root);
	free(prot);
	free(pay);
	free(eab);
	gnutls_privkey_deinit(k);
}

int main(void)
{
	gnutls_global_init();
	test_b64url();
	test_thumbprint_rfc7638();
	test_jwk_and_es256();
	test_jws_build();
	test_key_authorization();
	test_import_rejects();
	test_eab();
	gnutls_global_deinit();
	UNIT_DONE();
}
