/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Fuzz target: a request head's header lines ("Name: value\r\n"…) through
 * the framing checks and the filters, plus the Host normalization the
 * router applies to the Host value. Untrusted bytes from any client.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "headers.h"
#include "host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct headers_framing f;
	char *buf, *line, *save = NULL;
	char host[256];

	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	memset(&f, 0, sizeof(f));
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');
		const char *v;
		size_t vlen;

		if (colon == NULL)
			continue;
		v = colon + 1;
		while (*v == ' ')
			v++;
		vlen = strlen(v);
		headers_check_request(&f, line, (size_t)(colon - line), v, vlen);
		*colon = '\0';
		(void)headers_drop_request(line, f.connection);
		(void)headers_drop_response(line, v);
	}
	(void)headers_check_done(&f);
	if (f.host != NULL)
		(void)host_normalize(f.host, f.host_len, host,
					    sizeof(host));
	(void)host_normalize((const char *)data, size, host,
				    sizeof(host));
	free(buf);
	return 0;
}
