/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Fuzz target: base64url decoding of arbitrary bytes, and the round trip
 * encode(decode(x)) == x for every input the decoder accepts; also the
 * encoder on the raw bytes with exact and short output buffers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *dec;
	char *enc;
	long n;
	size_t need = JWS_B64URL_LEN(size) + 1;

	if (size > 65536)
		return 0;
	dec = malloc(size + 1);
	enc = malloc(need);
	if (dec == NULL || enc == NULL)
		goto out;
	n = jws_b64url_decode((const char *)data, size, dec, size + 1);
	if (n >= 0) {
		char *again = jws_b64url(dec, (size_t)n);

		if (again == NULL || strlen(again) != size ||
		    memcmp(again, data, size) != 0)
			abort();
		free(again);
	}
	if (jws_b64url_encode(data, size, enc, need) != need - 1)
		abort();
	if (jws_b64url_encode(data, size, enc, need - 1) != (size_t)-1)
		abort();
out:
	free(dec);
	free(enc);
	return 0;
}
