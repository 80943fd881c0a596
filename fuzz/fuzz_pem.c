/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Fuzz target: certificate chain and key PEM loading (tls_bundle_from_pem),
 * which reads files an operator or the ACME server supplies. The input is
 * split at the first NUL byte into certificate PEM and key PEM. The key
 * part also goes through jws_key_import_pem, the ACME account key loader
 * (acme_cache_dir/account.key).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jws.h"
#include "tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *cert = (const char *)data;
	const uint8_t *nul = memchr(data, 0, size);
	size_t cert_len = nul != NULL ? (size_t)(nul - data) : size;
	const char *key = nul != NULL ? (const char *)nul + 1 : "";
	size_t key_len = nul != NULL ? size - cert_len - 1 : 0;
	struct tls_bundle *b = NULL;
	char err[256];
	gnutls_privkey_t k = NULL;

	if (tls_bundle_from_pem(cert, cert_len, key, key_len, &b, err,
				sizeof(err)) == 0)
		tls_bundle_free(b);
	if (jws_key_import_pem(key, key_len, &k) == 0)
		gnutls_privkey_deinit(k);
	return 0;
}
