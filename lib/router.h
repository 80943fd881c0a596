/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * router: the site table lookup (SPEC F1). A request's Host (or its
 * absolute-form authority) is normalised with host_normalize() first;
 * the config's site names were normalised the same way when loaded.
 * Host syntax lives in host.c, used by the config parser as well, so
 * the parser never calls the router (only the router uses the config's
 * types).
 */
#ifndef AP_ROUTER_H
#define AP_ROUTER_H

#include "config.h"

/* The site for a normalised host name, or NULL (also for NULL
 * arguments). The result points into cfg. */
const struct config_site *router_find_site(const struct config *cfg,
					   const char *host);

#endif
