/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * certmgr: a certificate manager for the program's own libmicrohttpd
 * daemon (see certmgr.h). It is the certificate half of server.c: the
 * same TLS store, ACME client, token map and expiry watch, without
 * listeners of its own.
 * Threads: see certmgr.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme.h"
#include "certmgr.h"
#include "certwatch.h"
#include "challenge.h"
#include "tls.h"

struct certmgr {
	struct config *cfg;
	struct tls_store *store;
	struct challenge_map *map;
	struct acme *acme;	   /* acme mode, while started */
	struct certwatch *watch;   /* manual mode, while started */
	int running;
};

int certmgr_new(struct config *cfg, struct certmgr **out)
{
	struct certmgr *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (m == NULL) {
		config_free(cfg);
		return CERTMGR_ENOMEM;
	}
	m->cfg = cfg;
	m->store = tls_store_new();
	m->map = challenge_map_new();
	if (m->store == NULL || m->map == NULL) {
		certmgr_free(m);
		return CERTMGR_ENOMEM;
	}
	/* The program's daemon has its own timeouts, unknown here: a
	 * replaced certificate stays valid for the default grace. */
	if (cfg->session_tickets && tls_store_enable_tickets(m->store) != 0) {
		certmgr_free(m);
		return CERTMGR_ETLS;
	}
	*out = m;
	return CERTMGR_OK;
}

int certmgr_start(struct certmgr *m, unsigned port, char *err, size_t errsz)
{
	const struct config *cfg = m->cfg;

	if (cfg->tls_mode == CONFIG_TLS_MANUAL) {
		struct tls_bundle *b = NULL;

		if (tls_bundle_load(cfg, &b, err, errsz) != 0)
			return CERTMGR_ETLS;
		tls_store_set(m->store, b);
		tls_store_check_expiry(m->store, time(NULL));
	}
	tls_store_register(m->store, port);
	if (cfg->tls_mode == CONFIG_TLS_ACME &&
	    acme_start(cfg, m->store, m->map, &m->acme, err, errsz) != 0) {
		tls_store_unregister(m->store);
		return CERTMGR_ECONFIG;
	}
	if (cfg->tls_mode == CONFIG_TLS_MANUAL &&
	    certwatch_start(m->store, &m->watch) != 0) {
		tls_store_unregister(m->store);
		snprintf(err, errsz, "cannot start the certificate watch");
		return CERTMGR_ESYSTEM;
	}
	m->running = 1;
	return CERTMGR_OK;
}

void certmgr_stop(struct certmgr *m)
{
	if (m == NULL || !m->running)
		return;
	m->running = 0;
	acme_stop(m->acme);
	m->acme = NULL;
	certwatch_stop(m->watch);
	m->watch = NULL;
	tls_store_unregister(m->store);
}

void certmgr_free(struct certmgr *m)
{
	if (m == NULL)
		return;
	certmgr_stop(m);
	tls_store_free(m->store);
	challenge_map_free(m->map);
	config_free(m->cfg);
	free(m);
}

int certmgr_http01(struct certmgr *m, const char *path, char *out,
		   size_t outsz)
{
	const char *tok = challenge_token(path);

	if (tok == NULL ||
	    challenge_map_get(m->map, tok, strcspn(tok, "?"), out, outsz) != 0)
		return -1;
	return (int)strlen(out);
}

size_t certmgr_names(struct certmgr *m)
{
	return tls_store_names(m->store);
}
