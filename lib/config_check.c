/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * config_check: the checks run once the whole file is read (config_check.h):
 * required keys, bind_addr against wildcards, port clashes, what each TLS
 * mode needs, every [site] has an upstream, and the defaults that depend
 * on other keys. With check_files it also reads the files the config names
 * and checks that each key matches its certificate (what --validate does).
 * Does not read the config file or look at single keys (config_keys.c).
 * Threads: the thread running the load; no global mutable state.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certpair.h"
#include "config.h"
#include "config_check.h"
#include "config_parse.h"
#include "jws.h"

/* The same loader the proxy starts with (certpair.c), so --validate
 * accepts exactly what a start accepts. */
static void check_pair(struct config_parse *p, const struct config_cert *c)
{
	struct certpair pair;
	size_t klen = 0, clen = 0;
	char *cbuf = NULL, *kbuf = NULL, why2[200];
	const char *why;

	if (config_parse_read_file(c->cert_path, CONFIG_MAX_PEM, &cbuf, &clen,
				   &why) < 0) {
		config_parse_diag(p, 1, c->cert_line,
				  "cannot read certificate %s: %s",
				  c->cert_path, why);
		goto out;
	}
	if (config_parse_read_file(c->key_path, CONFIG_MAX_PEM, &kbuf, &klen,
				   &why) < 0) {
		config_parse_diag(p, 1, c->key_line, "cannot read key %s: %s",
				  c->key_path, why);
		goto out;
	}
	switch (certpair_from_pem(&pair, cbuf, clen, kbuf, klen, why2,
				  sizeof(why2))) {
	case CERTPAIR_OK:
		certpair_clear(&pair);
		break;
	case CERTPAIR_ECHAIN:
	case CERTPAIR_ENAMES:
		config_parse_diag(p, 1, c->cert_line, "%s: %s", c->cert_path,
				  why2);
		break;
	case CERTPAIR_EKEY:
		config_parse_diag(p, 1, c->key_line, "%s: %s", c->key_path,
				  why2);
		break;
	case CERTPAIR_EMISMATCH:
		config_parse_diag(p, 1, c->key_line,
				  "key %s does not match certificate %s",
				  c->key_path, c->cert_path);
		break;
	case CERTPAIR_ENOMEM:
		config_parse_diag(p, 1, c->key_line, "out of memory");
		break;
	}
out:
	if (kbuf != NULL)
		explicit_bzero(kbuf, klen);
	free(kbuf);
	free(cbuf);
}

/* 127.0.0.0/8 or ::1 */
static int is_loopback(const char *addr)
{
	unsigned char a[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, addr, a) == 1)
		return a[0] == 127;
	return inet_pton(AF_INET6, addr, a) == 1 &&
	       IN6_IS_ADDR_LOOPBACK((struct in6_addr *)(void *)a);
}

static int is_wildcard(const char *addr)
{
	unsigned char a[sizeof(struct in6_addr)];
	size_t i, n;

	if (inet_pton(AF_INET, addr, a) == 1)
		n = 4;
	else if (inet_pton(AF_INET6, addr, a) == 1)
		n = 16;
	else
		return 0;
	for (i = 0; i < n; i++)
		if (a[i] != 0)
			return 0;
	return 1;
}

static void finish_manual(struct config_parse *p)
{
	struct config *cfg = p->cfg;
	size_t i;

	if (p->tls_cert != NULL || p->tls_key != NULL) {
		struct config_cert *c;

		if (p->tls_cert == NULL || p->tls_key == NULL) {
			config_parse_diag(
				p, 1,
				p->tls_cert ? p->tls_cert_line
					    : p->tls_key_line,
				"[tls] needs both cert_path and key_path");
		} else if ((c = config_parse_grow(p, cfg->certs, cfg->n_certs,
						  sizeof(*c))) != NULL) {
			cfg->certs = c;
			memmove(&cfg->certs[1], &cfg->certs[0],
				cfg->n_certs * sizeof(*c));
			cfg->n_certs++;
			c = &cfg->certs[0];
			memset(c, 0, sizeof(*c));
			c->name = config_parse_strdup(p, "");
			c->cert_path = p->tls_cert;
			c->key_path = p->tls_key;
			c->cert_line = p->tls_cert_line;
			c->key_line = p->tls_key_line;
			c->line = p->sect_line[SECT_TLS];
			p->tls_cert = p->tls_key = NULL;
		}
	}
	if (cfg->n_certs == 0)
		config_parse_diag(
			p, 1, p->sect_line[SECT_TLS],
			"manual mode needs cert_path and key_path in [tls] or a [certificate NAME] section");
	for (i = 0; i < cfg->n_certs && !p->oom; i++) {
		const struct config_cert *c = &cfg->certs[i];

		if (c->cert_path == NULL || c->key_path == NULL) {
			config_parse_diag(
				p, 1, c->line,
				"[certificate %s] needs both cert_path and key_path",
				c->name);
			continue;
		}
		if (p->check_files)
			check_pair(p, c);
	}
}

/* A [site] for name? (router.c answers this for requests; the parser
 * does not depend on the request side.) */
static int has_site(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->n_sites; i++)
		if (strcmp(cfg->sites[i].host, name) == 0)
			return 1;
	return 0;
}

static void finish_acme(struct config_parse *p)
{
	struct config *cfg = p->cfg;
	unsigned tls_line = p->sect_line[SECT_TLS];
	size_t i;

	if (cfg->n_acme_domains == 0)
		config_parse_diag(p, 1, tls_line,
				  "acme mode needs acme_domains in [tls]");
	if (p->certs_only && cfg->acme_challenge == CONFIG_ACME_TLSALPN01)
		config_parse_diag(
			p, 1, p->challenge_line,
			"a certificate manager answers http-01 only (through "
			"the program's port-80 handler), not tls-alpn-01");
	if (cfg->http_port == 0 && cfg->acme_challenge == CONFIG_ACME_HTTP01 &&
	    !p->certs_only)
		config_parse_diag(
			p, 1, p->http_line ? p->http_line : tls_line,
			"acme mode answers HTTP-01 challenges on http_port, which "
			"cannot be 0 (unless acme_challenge = tls-alpn-01)");
	if (cfg->https_port != 443 &&
	    cfg->acme_challenge == CONFIG_ACME_TLSALPN01)
		config_parse_diag(
			p, 0, p->challenge_line,
			"tls-alpn-01 is validated on port 443; https_port is %u "
			"(fine behind a port forward)",
			cfg->https_port);
	if ((cfg->acme_eab_kid == NULL) != (cfg->acme_eab_hmac_key_file == NULL))
		config_parse_diag(
			p, 1,
			p->eab_kid_line ? p->eab_kid_line : p->eab_key_line,
			"acme_eab_kid and acme_eab_hmac_key_file go together");
	if (p->check_files && cfg->acme_eab_hmac_key_file != NULL) {
		char *buf = NULL;
		size_t len = 0;
		const char *why;

		if (config_parse_read_file(cfg->acme_eab_hmac_key_file, 4096,
					   &buf, &len, &why) < 0)
			config_parse_diag(
				p, 1, p->eab_key_line,
				"cannot read acme_eab_hmac_key_file %s: %s",
				cfg->acme_eab_hmac_key_file, why);
		else if (jws_hmac_key_read(buf, len, NULL, 0) < 16)
			config_parse_diag(
				p, 1, p->eab_key_line,
				"acme_eab_hmac_key_file %s: not a base64url key of at least 16 bytes",
				cfg->acme_eab_hmac_key_file);
		if (buf != NULL)
			explicit_bzero(buf, len);
		free(buf);
	}
	if (cfg->acme_contact == NULL && p->contact_line == 0)
		config_parse_diag(p, 1, tls_line,
				  "acme mode needs acme_contact in [tls]");
	for (i = 0; i < cfg->n_acme_domains && !p->certs_only; i++)
		if (!has_site(cfg, cfg->acme_domains[i]))
			config_parse_diag(
				p, 0, p->domain_lines[i],
				"acme_domains entry %s has no [site %s]",
				cfg->acme_domains[i], cfg->acme_domains[i]);
	if (p->tls_cert != NULL || p->tls_key != NULL || cfg->n_certs > 0)
		config_parse_diag(p, 0,
				  p->tls_cert_line  ? p->tls_cert_line
				  : p->tls_key_line ? p->tls_key_line
						    : cfg->certs[0].line,
				  "certificate files are ignored in acme mode");
	if (p->check_files && cfg->acme_ca_file != NULL) {
		char *buf = NULL;
		size_t len;
		const char *why;

		if (config_parse_read_file(cfg->acme_ca_file, CONFIG_MAX_PEM,
					   &buf, &len, &why) < 0)
			config_parse_diag(p, 1, p->ca_line,
					  "cannot read acme_ca_file %s: %s",
					  cfg->acme_ca_file, why);
		free(buf);
	}
}

void config_check(struct config_parse *p)
{
	struct config *cfg = p->cfg;
	size_t i;

	if (cfg->bind_addr == NULL && p->bind_line == 0 && !p->certs_only)
		config_parse_diag(p, 1, p->sect_line[SECT_SERVER],
				  "missing required key bind_addr in [server]");
	if (cfg->bind_addr != NULL && !cfg->allow_wildcard_bind &&
	    is_wildcard(cfg->bind_addr))
		config_parse_diag(
			p, 1, p->bind_line,
			"bind_addr %s listens on every address; set allow_wildcard_bind = true to allow it",
			cfg->bind_addr);
	if (cfg->metrics_host != NULL && !cfg->metrics_allow_public &&
	    !is_loopback(cfg->metrics_host))
		config_parse_diag(
			p, 1, p->metrics_line,
			"[metrics] listen %s is not a loopback address; set allow_public = true to serve metrics to the network",
			cfg->metrics_host);
	if (cfg->metrics_host != NULL && cfg->metrics_port != 0 &&
	    (cfg->metrics_port == cfg->https_port ||
	     cfg->metrics_port == cfg->http_port))
		config_parse_diag(p, 1, p->metrics_line,
				  "[metrics] listen port %u is also https_port or http_port",
				  cfg->metrics_port);
	if (cfg->https_port != 0 && cfg->https_port == cfg->http_port)
		config_parse_diag(p, 1,
				  p->https_line > p->http_line ? p->https_line
							       : p->http_line,
				  "https_port and http_port are both %u",
				  cfg->https_port);
	if (cfg->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg->workers = n < 1 ? 1 :
			       n > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS :
							(unsigned)n;
	}

	if (cfg->acme_directory == NULL)
		cfg->acme_directory = config_parse_strdup(p, ACME_PRODUCTION);
	if (cfg->tls_mode == CONFIG_TLS_MANUAL)
		finish_manual(p);
	else
		finish_acme(p);

	for (i = 0; i < cfg->n_sites && !p->oom; i++) {
		struct config_site *s = &cfg->sites[i];
		int v6 = strchr(s->upstream_host ? s->upstream_host : "", ':') !=
			 NULL;

		if (s->handler != NULL && s->upstream_host != NULL) {
			config_parse_diag(
				p, 1, s->line,
				"[site %s] has both handler and upstream: one of them",
				s->host);
			continue;
		}
		if (s->handler != NULL) {
			if (s->upstream_https || s->upstream_ca_file != NULL)
				config_parse_diag(
					p, 1, s->line,
					"[site %s] has a handler: upstream_scheme and upstream_ca_file do not apply",
					s->host);
			continue;
		}
		if (s->upstream_host == NULL) {
			config_parse_diag(p, 1, s->line,
					  "[site %s] needs upstream (or handler)",
					  s->host);
			continue;
		}
		if (p->check_files && s->upstream_ca_file != NULL) {
			char *buf = NULL;
			size_t len;
			const char *why;

			if (config_parse_read_file(s->upstream_ca_file,
						   CONFIG_MAX_PEM, &buf, &len,
						   &why) < 0)
				config_parse_diag(
					p, 1, s->line,
					"[site %s]: cannot read upstream_ca_file %s: %s",
					s->host, s->upstream_ca_file, why);
			free(buf);
		}
		if (asprintf(&s->upstream_url, "%s://%s%s%s:%u",
			     s->upstream_https ? "https" : "http",
			     v6 ? "[" : "", s->upstream_host, v6 ? "]" : "",
			     s->upstream_port) < 0) {
			s->upstream_url = NULL;
			p->oom = 1;
		}
	}
	if (cfg->n_sites == 0 && !p->certs_only)
		config_parse_diag(
			p, 0, 0,
			"no [site HOST] sections: every request gets 404");
}
