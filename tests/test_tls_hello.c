/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Unit tests for the ClientHello check (tls_hello.c) on ClientHellos
 * captured from real clients (fuzz/corpus/tls_hello: OpenSSL 3.0,
 * GnuTLS 3.7, curl, python; made with a capturing listener, see
 * doc/fuzzing.md): the verdict for each, and the SNI copied.
 */
#include <stdio.h>
#include <string.h>

#include "tls_hello.h"
#include "unit.h"

static enum tls_hello_verdict verdict_of(const char *name, char *sni,
					 size_t sni_size)
{
	char path[512];
	unsigned char buf[4096];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", CORPUS, name);
	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		return (enum tls_hello_verdict)-1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return tls_hello_check(buf, n, sni, sni_size);
}

static void expect(const char *name, enum tls_hello_verdict want)
{
	char sni[256];
	enum tls_hello_verdict got = verdict_of(name, sni, sizeof(sni));

	if (got != want)
		fprintf(stderr, "%s: %s, want %s\n", name,
			tls_hello_reason(got), tls_hello_reason(want));
	CHECK(got == want);
	if (want != TLS_HELLO_MALFORMED)
		CHECK(strcmp(sni, "a.test") == 0);
}

int main(void)
{
	char sni[4];

	expect("openssl-default", TLS_HELLO_OK);
	expect("openssl-tls12", TLS_HELLO_OK);
	expect("openssl-tls13-p256", TLS_HELLO_OK);
	expect("gnutls-normal", TLS_HELLO_OK);
	expect("curl-default", TLS_HELLO_OK);
	expect("python-default", TLS_HELLO_OK);
	expect("openssl-tls11", TLS_HELLO_NO_VERSION);
	expect("gnutls-tls11", TLS_HELLO_NO_VERSION);
	expect("openssl-cbc", TLS_HELLO_NO_CIPHER);
	expect("openssl-x448", TLS_HELLO_NO_GROUP);
	expect("gnutls-ffdhe", TLS_HELLO_NO_GROUP);
	expect("truncated", TLS_HELLO_MALFORMED);
	expect("truncated-40", TLS_HELLO_MALFORMED);
	/* an SNI longer than the buffer is not copied */
	CHECK(verdict_of("openssl-default", sni, sizeof(sni)) == TLS_HELLO_OK);
	CHECK(sni[0] == '\0');
	UNIT_DONE();
}
