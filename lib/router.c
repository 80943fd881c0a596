/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * router: which [site] serves a request (see router.h). Reads the
 * immutable config a request pinned; any thread.
 */
#include <string.h>

#include "router.h"

const struct config_site *router_find_site(const struct config *cfg,
					   const char *host)
{
	size_t i;

	if (cfg == NULL || host == NULL)
		return NULL;
	for (i = 0; i < cfg->n_sites; i++)
		if (strcmp(cfg->sites[i].host, host) == 0)
			return &cfg->sites[i];
	return NULL;
}
