/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Fuzz target: the ClientHello check (lib/tls_hello.c) over any bytes a
 * client can send as its first handshake message. Properties: a verdict
 * of the enum, the same with and without the SNI copy, a copied SNI
 * NUL-terminated inside its buffer and printable ASCII.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls_hello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char sni[64];
	enum tls_hello_verdict a, b;
	size_t i, n;

	memset(sni, 'Z', sizeof(sni));
	a = tls_hello_check(data, size, sni, sizeof(sni));
	b = tls_hello_check(data, size, NULL, 0);
	if (a != b || (unsigned)a > TLS_HELLO_NO_GROUP)
		abort();
	n = strnlen(sni, sizeof(sni));
	if (n == sizeof(sni))
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)sni[i] <= 0x20 || (unsigned char)sni[i] >= 0x7f)
			abort();
	if (tls_hello_reason(a) == NULL)
		abort();
	return 0;
}
