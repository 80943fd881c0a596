/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Fuzz target: the JWS side of ACME that sees what the ACME server sends.
 * The input is split at NUL bytes into a challenge token, a Replay-Nonce,
 * a URL, a kid (account Location) and a payload. The token goes through
 * jws_key_authorization (its result is served on port 80, so it must be
 * base64url "token.thumbprint" only); nonce, URL and kid go through
 * jws_build with a fixed P-256 key, and the JWS must parse as JSON whose
 * protected header decodes (jws_b64url_decode) to exactly those values.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gnutls_privkey_t key;
static char thumb[JWS_THUMB_SIZE];

static void key_once(void)
{
	char *pem = NULL;
	size_t len = 0;

	if (key != NULL)
		return;
	if (jws_key_generate_pem(&pem, &len) != 0 ||
	    jws_key_import_pem(pem, len, &key) != 0 ||
	    jws_thumbprint(key, thumb, sizeof(thumb)) != 0) {
		fprintf(stderr, "fuzz_jws: no key\n");
		abort();
	}
	free(pem);
}

static int b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static void check_field(json_t *prot, const char *name, const char *want)
{
	json_t *v = json_object_get(prot, name);

	if (want == NULL) {
		if (v != NULL)
			abort();
		return;
	}
	if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0)
		abort();
}

static void check_jws(const char *jws, const char *kid, const char *nonce,
		      const char *url, const char *payload)
{
	json_t *doc = json_loads(jws, 0, NULL), *prot = NULL;
	const char *p64, *pay64, *sig64;
	uint8_t *buf = NULL;
	long n;

	if (doc == NULL ||
	    json_unpack(doc, "{s:s, s:s, s:s}", "protected", &p64, "payload",
			&pay64, "signature", &sig64) != 0)
		abort();
	buf = malloc(strlen(p64) + strlen(pay64) + 2);
	if (buf == NULL)
		goto out;
	if (strlen(sig64) != JWS_B64URL_LEN(64))
		abort();
	n = jws_b64url_decode(p64, strlen(p64), buf, strlen(p64) + 1);
	if (n < 0)
		abort();
	prot = json_loadb((const char *)buf, (size_t)n, 0, NULL);
	if (prot == NULL)
		abort();
	check_field(prot, "alg", "ES256");
	check_field(prot, "nonce", nonce);
	check_field(prot, "url", url);
	check_field(prot, "kid", kid);
	if ((kid == NULL) != (json_object_get(prot, "jwk") != NULL))
		abort();
	n = jws_b64url_decode(pay64, strlen(pay64), buf, strlen(pay64) + 1);
	if (n < 0 || (size_t)n != strlen(payload) ||
	    memcmp(buf, payload, (size_t)n) != 0)
		abort();
out:
	free(buf);
	json_decref(prot);
	json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *f[5] = {NULL, NULL, NULL, NULL, NULL}, *p, *end, *jws;
	char ka[512];
	int i = 0;

	if (size > 4096)
		return 0;
	key_once();
	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	end = buf + size;
	for (p = buf; i < 5 && p <= end; p += strlen(p) + 1)
		f[i++] = p;
	if (jws_key_authorization(f[0], thumb, ka, sizeof(ka)) == 0) {
		size_t tl = strlen(f[0]), k;

		if (strncmp(ka, f[0], tl) != 0 || ka[tl] != '.' ||
		    strcmp(ka + tl + 1, thumb) != 0)
			abort();
		for (k = 0; k < tl; k++)
			if (!b64url_char(ka[k]))
				abort();
	}
	if (f[1] != NULL && f[2] != NULL) {
		const char *payload = f[4] != NULL ? f[4] : "";

		/* without a kid, the account key's JWK is embedded */
		jws = jws_build(key, f[3], f[1], f[2], payload);
		if (jws != NULL) {
			check_jws(jws, f[3], f[1], f[2], payload);
			free(jws);
		}
	}
	free(buf);
	return 0;
}
