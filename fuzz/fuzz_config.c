/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * fuzz_config: feeds arbitrary bytes to the INI loader (no file checks),
 * as a proxy's configuration and as a certificate manager's.
 * Built with libFuzzer (-fsanitize=fuzzer) or with replay.c for make check.
 */
#include "config.h"
#include "router.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	char *text;

	/* The loader takes a C string: embedded NULs end the text early. */
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (config_load_string(text, "fuzz.ini", 0, NULL, NULL, &cfg) == 0) {
		if (cfg->n_sites > 0)
			(void)router_find_site(cfg, cfg->sites[0].host);
		config_free(cfg);
	}
	/* the same bytes as a certificate manager's file (alkproxy_certs) */
	cfg = NULL;
	if (config_load_string(text, "fuzz.ini", CONFIG_CERTS_ONLY, NULL, NULL,
			       &cfg) == 0)
		config_free(cfg);
	free(text);
	return 0;
}
