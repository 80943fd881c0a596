/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * config.c: the struct config data model of config.h outside the loader:
 * config_free() and the log level names. Loading is config_load.c, with
 * config_parse.c, config_keys.c and config_check.c under it; this file
 * calls none of them, so they may all use config.h.
 * Threads: a loaded config is only read; the thread that drops the last
 * reference frees it (snapshot.c).
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"

const char *config_log_level_name(enum log_level l)
{
	switch (l) {
	case LOG_LEVEL_ERROR:
		return "error";
	case LOG_LEVEL_WARN:
		return "warn";
	case LOG_LEVEL_INFO:
		return "info";
	case LOG_LEVEL_DEBUG:
		return "debug";
	case LOG_LEVEL_TRACE:
		return "trace";
	}
	return "unknown";
}

void config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->bind_addr);
	free(cfg->metrics_host);
	free(cfg->proxy_from);
	for (i = 0; i < cfg->n_acme_domains; i++)
		free(cfg->acme_domains[i]);
	free(cfg->acme_domains);
	free(cfg->acme_contact);
	free(cfg->acme_directory);
	free(cfg->acme_cache_dir);
	free(cfg->acme_ca_file);
	free(cfg->acme_profile);
	free(cfg->acme_eab_kid);
	free(cfg->acme_eab_hmac_key_file);
	for (i = 0; i < cfg->n_certs; i++) {
		free(cfg->certs[i].name);
		free(cfg->certs[i].cert_path);
		free(cfg->certs[i].key_path);
	}
	free(cfg->certs);
	free(cfg->log_file);
	for (i = 0; i < cfg->n_sites; i++) {
		free(cfg->sites[i].host);
		free(cfg->sites[i].handler);
		free(cfg->sites[i].upstream);
		free(cfg->sites[i].upstream_host);
		free(cfg->sites[i].upstream_url);
		free(cfg->sites[i].upstream_ca_file);
	}
	free(cfg->sites);
	free(cfg);
}

int config_handler_label_valid(const char *label)
{
	size_t n = strspn(label, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				 "0123456789._-");

	return n > 0 && label[n] == '\0' && n <= CONFIG_HANDLER_LABEL_MAX;
}
