/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Unit tests for the SNI store's retirement of replaced certificate
 * bundles: a bundle replaced on reload or renewal is kept for the grace
 * period (a handshake may still use it) and freed after it, so reloads
 * do not grow the process (ASan checks the frees in the sanitizer build).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include "tls.h"
#include "unit.h"

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
		*len = fread(buf, 1, (size_t)n, f);
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

/* fuzz/corpus/pem/valid is "certificate PEM\0key PEM". */
static struct tls_bundle *bundle(const char *pem, size_t len)
{
	const char *nul = memchr(pem, '\0', len);
	struct tls_bundle *b = NULL;
	char err[256];

	if (nul == NULL)
		return NULL;
	if (tls_bundle_from_pem(pem, (size_t)(nul - pem), nul + 1,
				len - (size_t)(nul - pem) - 1, &b, err,
				sizeof(err)) != 0) {
		fprintf(stderr, "bundle: %s\n", err);
		return NULL;
	}
	return b;
}

int main(void)
{
	size_t len = 0;
	char *pem = read_all(PEM_SAMPLE, &len);
	struct tls_store *s;
	int i;

	gnutls_global_init();
	CHECK(pem != NULL);
	if (pem == NULL)
		UNIT_DONE();

	{
		struct tls_bundle *b0 = bundle(pem, len);

		CHECK(b0 != NULL); /* the sample loads */
		tls_bundle_free(b0);
	}
	/* no grace: every replaced bundle goes at the next swap */
	s = tls_store_new();
	tls_store_set_grace(s, 0);
	for (i = 0; i < 50; i++)
		tls_store_set(s, bundle(pem, len));
	CHECK(tls_store_retired(s) == 0);
	tls_store_free(s);

	/* a long grace keeps them (a handshake may still use one) */
	s = tls_store_new();
	tls_store_set_grace(s, 3600);
	for (i = 0; i < 5; i++)
		tls_store_set(s, bundle(pem, len));
	CHECK(tls_store_retired(s) == 4);
	/* shortening it frees the old ones at the next swap */
	tls_store_set_grace(s, 0);
	tls_store_set(s, bundle(pem, len));
	CHECK(tls_store_retired(s) == 0);
	tls_store_free(s); /* the current bundle is freed with the store */

	/* the default keeps them */
	s = tls_store_new();
	tls_store_set(s, bundle(pem, len));
	tls_store_set(s, bundle(pem, len));
	CHECK(tls_store_retired(s) == 1);
	tls_store_free(s);

	free(pem);
	gnutls_global_deinit();
	UNIT_DONE();
}
