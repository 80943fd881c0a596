/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Fuzz target: log value escaping. Property checked: the output is one
 * line of printable ASCII — no byte a client sends can start a new line
 * or hide as a control character — and never overruns its buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[512];
	size_t n, i, cap = size % sizeof(out);

	n = log_escape((const char *)data, size, out, cap);
	if (cap > 0 && (n >= cap || out[n] != '\0'))
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] >= 0x7f)
			abort();
	/* a quoted value is always closed */
	if (n > 0 && out[0] == '"' && (n < 2 || out[n - 1] != '"'))
		abort();
	return 0;
}
