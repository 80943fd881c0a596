/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * config_keys: the keys of the INI contract of SPEC.md. Owns the key table
 * of every section (name, type, range; the defaults are set in
 * config_load.c and config_check.c) and the parsing and validation of each
 * value as its line is read: strict numbers and booleans, log levels,
 * upstream addresses, acme_domains lists (also on continuation lines),
 * contact and directory URLs, cert/key paths.
 * Host names go through host.c, the same rule the requests use. Rules that
 * need more than one line are config_check.c's.
 * Threads: the thread running the load; no global mutable state.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "config.h"
#include "config_keys.h"
#include "config_parse.h"
#include "host.h"

enum ktype { K_UINT, K_U64, K_BOOL, K_STR, K_SPECIAL };

struct key_def {
	const char *name;
	enum ktype type;
	size_t off; /* into the section's base struct */
	uint64_t min, max;
};

#define KU(s, n, f, lo, hi) { n, K_UINT, offsetof(s, f), lo, hi }
#define KS(s, n, f) { n, K_STR, offsetof(s, f), 0, 0 }
#define KX(n) { n, K_SPECIAL, 0, 0, 0 }

static const struct key_def server_keys[] = {
	KX("bind_addr"),
	{ "allow_wildcard_bind", K_BOOL,
	  offsetof(struct config, allow_wildcard_bind), 0, 0 },
	KU(struct config, "https_port", https_port, 0, 65535),
	KU(struct config, "http_port", http_port, 0, 65535),
	KU(struct config, "workers", workers, 0, CONFIG_MAX_WORKERS),
	KU(struct config, "max_connections", max_connections, 1, 1048576),
	KU(struct config, "idle_timeout_secs", idle_timeout_secs, 1, 86400),
	KU(struct config, "tls_handshake_timeout_secs",
	   tls_handshake_timeout_secs, 1, 3600),
	KU(struct config, "header_timeout_secs", header_timeout_secs, 1,
	   3600),
	KU(struct config, "shutdown_timeout_secs", shutdown_timeout_secs, 1,
	   3600),
	KX("proxy_protocol_from"),
	{ NULL, K_SPECIAL, 0, 0, 0 }
};

static const struct key_def tls_keys[] = {
	KX("mode"),
	KX("acme_domains"),
	KX("acme_contact"),
	KX("acme_directory"),
	KS(struct config, "acme_cache_dir", acme_cache_dir),
	KS(struct config, "acme_ca_file", acme_ca_file),
	KX("acme_challenge"),
	KX("acme_profile"),
	KX("acme_eab_kid"),
	KS(struct config, "acme_eab_hmac_key_file", acme_eab_hmac_key_file),
	KX("cert_path"),
	KX("key_path"),
	{ "session_tickets", K_BOOL, offsetof(struct config, session_tickets),
	  0, 0 },
	{ NULL, K_SPECIAL, 0, 0, 0 }
};

static const struct key_def logging_keys[] = {
	KX("level"),
	KS(struct config, "file", log_file),
	{ NULL, K_SPECIAL, 0, 0, 0 }
};

static const struct key_def rate_limit_keys[] = {
	KU(struct config, "requests_per_second", rl_requests_per_second, 1,
	   1000000),
	KU(struct config, "burst", rl_burst, 1, 1000000),
	KU(struct config, "eviction_interval_secs", rl_eviction_interval_secs,
	   1, 86400),
	KU(struct config, "eviction_age_secs", rl_eviction_age_secs, 1,
	   604800),
	{ NULL, K_SPECIAL, 0, 0, 0 }
};

static const struct key_def limits_keys[] = {
	{ "body_limit_bytes", K_U64, offsetof(struct config, body_limit_bytes),
	  0, (uint64_t)1 << 40 },
	KU(struct config, "max_connections_per_ip", max_connections_per_ip, 0,
	   1048576),
	KU(struct config, "client_min_rate", client_min_rate, 0, 1073741824),
	{ NULL, K_SPECIAL, 0, 0, 0 }
};

static const struct key_def site_keys[] = {
	KX("handler"),
	KX("upstream"),
	KX("upstream_scheme"),
	KU(struct config_site, "connect_timeout_secs", connect_timeout_secs, 1,
	   3600),
	KU(struct config_site, "read_timeout_secs", read_timeout_secs, 1,
	   86400),
	KS(struct config_site, "upstream_ca_file", upstream_ca_file),
	{ NULL, K_SPECIAL, 0, 0, 0 }
};

static const struct key_def cert_keys[] = {
	KX("cert_path"),
	KX("key_path"),
	{ NULL, K_SPECIAL, 0, 0, 0 }
};

static const struct key_def metrics_keys[] = {
	KX("listen"),
	{ "allow_public", K_BOOL, offsetof(struct config, metrics_allow_public),
	  0, 0 },
	{ NULL, K_SPECIAL, 0, 0, 0 }
};

static const struct key_def *const sect_keys[SECT_COUNT] = {
	[SECT_SERVER] = server_keys,	   [SECT_TLS] = tls_keys,
	[SECT_LOGGING] = logging_keys,	   [SECT_RATE_LIMIT] = rate_limit_keys,
	[SECT_LIMITS] = limits_keys,	   [SECT_SITE] = site_keys,
	[SECT_CERT] = cert_keys,	   [SECT_METRICS] = metrics_keys,
};

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Strict unsigned decimal: digits only, no sign, no overflow. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!is_digit(*s))
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, int *out)
{
	if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") ||
	    !strcasecmp(s, "on") || !strcmp(s, "1"))
		*out = 1;
	else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") ||
		 !strcasecmp(s, "off") || !strcmp(s, "0"))
		*out = 0;
	else
		return -1;
	return 0;
}

static int parse_log_level(const char *s, enum log_level *out)
{
	static const enum log_level all[] = { LOG_LEVEL_ERROR, LOG_LEVEL_WARN,
					      LOG_LEVEL_INFO, LOG_LEVEL_DEBUG,
					      LOG_LEVEL_TRACE };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(s, config_log_level_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return -1;
}

/* [metrics] listen: "IPv4:PORT" or "[IPv6]:PORT", port 0..65535 (0: any
 * free port). *host gets a new string without brackets. 0 or -1 (errno
 * ENOMEM when out of memory, else EINVAL). */
static int parse_listen(const char *v, char **host, unsigned *port)
{
	unsigned char a[sizeof(struct in6_addr)];
	const char *colon = strrchr(v, ':'), *h = v;
	size_t hl;
	char buf[INET6_ADDRSTRLEN + 2];
	unsigned long n;
	char *end;

	errno = EINVAL;
	if (colon == NULL || colon[1] == '\0')
		return -1;
	hl = (size_t)(colon - v);
	if (hl > 0 && v[0] == '[') {
		if (v[hl - 1] != ']')
			return -1;
		h = v + 1;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(buf))
		return -1;
	memcpy(buf, h, hl);
	buf[hl] = '\0';
	if (h == v ? inet_pton(AF_INET, buf, a) != 1
		   : inet_pton(AF_INET6, buf, a) != 1)
		return -1;
	if (!is_digit(colon[1]))
		return -1;
	n = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || n > 65535)
		return -1;
	free(*host);
	*host = strdup(buf);
	if (*host == NULL) {
		errno = ENOMEM;
		return -1;
	}
	*port = (unsigned)n;
	return 0;
}

/*
 * "host:port" or "[v6]:port", port 1..65535. On success *host is a new
 * string (without brackets). Returns a reason on failure.
 */
static const char *parse_upstream(struct config_parse *p, const char *v,
				  char **host, unsigned *port)
{
	const char *hs, *colon;
	size_t hn;
	uint64_t pv;

	if (v[0] == '[') {
		const char *rb = strchr(v, ']');

		if (rb == NULL || !host_ipv6_ok(v + 1, (size_t)(rb - v) - 1))
			return "invalid IPv6 address";
		if (rb[1] != ':')
			return "a port is required";
		hs = v + 1;
		hn = (size_t)(rb - v) - 1;
		colon = rb + 1;
	} else {
		colon = strrchr(v, ':');
		if (colon == NULL)
			return "a port is required";
		if (memchr(v, ':', (size_t)(colon - v)) != NULL)
			return "IPv6 addresses need brackets: [addr]:port";
		hs = v;
		hn = (size_t)(colon - v);
		if (!host_name_ok(hs, hn))
			return "invalid host";
	}
	if (parse_u64(colon + 1, 1, 65535, &pv) < 0)
		return "port must be 1..65535";
	*host = config_parse_strndup(p, hs, hn);
	*port = (unsigned)pv;
	return NULL;
}

static int contact_ok(const char *s)
{
	const char *at;
	size_t i;

	if (strncmp(s, "mailto:", 7) != 0)
		return 0;
	s += 7;
	at = strchr(s, '@');
	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@'))
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f ||
		    s[i] == ',')
			return 0;
	return 1;
}

static int url_ok(const char *s)
{
	size_t i;

	if (strncmp(s, "https://", 8) != 0 || s[8] == '\0' || s[8] == '/')
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static void add_domains(struct config_parse *p, const char *value)
{
	struct config *cfg = p->cfg;
	const char *s = value;

	while (*s != '\0' && !p->oom) {
		const char *e = strchr(s, ',');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		char host[HOST_MAX + 3];
		char **slot;
		size_t i;
		unsigned *lines;

		while (n > 0 && config_parse_is_space(*s))
			s++, n--;
		while (n > 0 && config_parse_is_space(s[n - 1]))
			n--;
		if (n == 0)
			goto next;
		if (memchr(s, ':', n) != NULL || s[0] == '[' ||
		    host_normalize(s, n, host, sizeof(host)) < 0) {
			config_parse_diag(p, 1, p->lineno,
					  "invalid acme_domains entry '%.*s'",
					  (int)n, s);
			goto next;
		}
		for (i = 0; i < cfg->n_acme_domains; i++) {
			if (strcmp(cfg->acme_domains[i], host) == 0) {
				config_parse_diag(
					p, 1, p->lineno,
					"duplicate acme_domains entry %s",
					host);
				goto next;
			}
		}
		if (cfg->n_acme_domains >= CONFIG_MAX_DOMAINS) {
			config_parse_diag(p, 1, p->lineno,
					  "too many acme_domains (limit %d)",
					  CONFIG_MAX_DOMAINS);
			return;
		}
		lines = config_parse_grow(p, p->domain_lines,
					  cfg->n_acme_domains, sizeof(*lines));
		if (lines == NULL)
			return;
		p->domain_lines = lines;
		lines[cfg->n_acme_domains] = p->lineno;
		slot = config_parse_grow(p, cfg->acme_domains,
					 cfg->n_acme_domains, sizeof(*slot));
		if (slot == NULL)
			return;
		cfg->acme_domains = slot;
		slot[cfg->n_acme_domains] = config_parse_strdup(p, host);
		if (slot[cfg->n_acme_domains] == NULL)
			return;
		cfg->n_acme_domains++;
next:
		if (e == NULL)
			break;
		s = e + 1;
	}
}

static void set_path(struct config_parse *p, char **dst, unsigned *line,
		     const char *value)
{
	free(*dst);
	*dst = config_parse_strdup(p, value);
	*line = p->lineno;
}

/* proxy_protocol_from: "ADDR[/PREFIX], ..." (cidr.h). */
static void add_proxy_from(struct config_parse *p, const char *value)
{
	struct config *cfg = p->cfg;
	const char *s = value;

	for (;;) {
		const char *e = strchr(s, ',');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		struct cidr c, *slot;
		int rc;

		while (n > 0 && config_parse_is_space(*s))
			s++, n--;
		while (n > 0 && config_parse_is_space(s[n - 1]))
			n--;
		rc = n == 0 ? -1 : cidr_parse(s, n, &c);
		if (rc == -2) {
			config_parse_diag(
				p, 1, p->lineno,
				"proxy_protocol_from entry '%.*s' has address bits set past its prefix",
				(int)n, s);
		} else if (rc != 0) {
			config_parse_diag(
				p, 1, p->lineno,
				"proxy_protocol_from entry '%.*s' is not an address or ADDRESS/PREFIX",
				(int)n, s);
		} else if (cfg->n_proxy_from >= CONFIG_MAX_PROXY_FROM) {
			config_parse_diag(p, 1, p->lineno,
					  "too many proxy_protocol_from entries (limit %d)",
					  CONFIG_MAX_PROXY_FROM);
			return;
		} else {
			slot = config_parse_grow(p, cfg->proxy_from,
						 cfg->n_proxy_from,
						 sizeof(*slot));
			if (slot == NULL)
				return;
			cfg->proxy_from = slot;
			slot[cfg->n_proxy_from++] = c;
		}
		if (e == NULL)
			return;
		s = e + 1;
	}
}

static void special_key(struct config_parse *p, const char *name,
			const char *value)
{
	struct config *cfg = p->cfg;
	unsigned ln = p->lineno;

	if (p->sect == SECT_METRICS) { /* listen */
		p->metrics_line = ln;
		if (parse_listen(value, &cfg->metrics_host,
				 &cfg->metrics_port) != 0) {
			if (cfg->metrics_host == NULL && errno == ENOMEM) {
				p->oom = 1;
				return;
			}
			config_parse_diag(
				p, 1, ln,
				"[metrics] listen '%s' must be IPV4:PORT or [IPV6]:PORT (port 0..65535)",
				value);
		}
		return;
	}
	if (p->sect == SECT_SERVER && !strcmp(name, "proxy_protocol_from")) {
		add_proxy_from(p, value);
		return;
	}
	if (p->sect == SECT_SERVER) { /* bind_addr */
		unsigned char a[sizeof(struct in6_addr)];

		p->bind_line = ln;
		if (inet_pton(AF_INET, value, a) != 1 &&
		    inet_pton(AF_INET6, value, a) != 1) {
			config_parse_diag(
				p, 1, ln,
				"bind_addr '%s' is not an IPv4 or IPv6 address",
				value);
			return;
		}
		cfg->bind_addr = config_parse_strdup(p, value);
	} else if (p->sect == SECT_TLS && !strcmp(name, "mode")) {
		if (!strcmp(value, "acme"))
			cfg->tls_mode = CONFIG_TLS_ACME;
		else if (!strcmp(value, "manual"))
			cfg->tls_mode = CONFIG_TLS_MANUAL;
		else
			config_parse_diag(
				p, 1, ln,
				"mode must be acme or manual, not '%s'", value);
	} else if (p->sect == SECT_TLS && !strcmp(name, "acme_domains")) {
		add_domains(p, value);
	} else if (p->sect == SECT_TLS && !strcmp(name, "acme_contact")) {
		p->contact_line = ln;
		if (!contact_ok(value))
			config_parse_diag(
				p, 1, ln,
				"acme_contact must be mailto:user@domain, not '%s'",
				value);
		else
			cfg->acme_contact = config_parse_strdup(p, value);
	} else if (p->sect == SECT_TLS && !strcmp(name, "acme_directory")) {
		const char *url = value;

		if (!strcmp(value, "production"))
			url = ACME_PRODUCTION;
		else if (!strcmp(value, "staging"))
			url = ACME_STAGING;
		else if (!url_ok(value)) {
			config_parse_diag(
				p, 1, ln,
				"acme_directory must be production, staging or an https:// URL, not '%s'",
				value);
			return;
		}
		cfg->acme_directory = config_parse_strdup(p, url);
	} else if (p->sect == SECT_TLS && !strcmp(name, "acme_challenge")) {
		p->challenge_line = ln;
		if (!strcmp(value, "http-01"))
			cfg->acme_challenge = CONFIG_ACME_HTTP01;
		else if (!strcmp(value, "tls-alpn-01"))
			cfg->acme_challenge = CONFIG_ACME_TLSALPN01;
		else
			config_parse_diag(
				p, 1, ln,
				"acme_challenge must be http-01 or tls-alpn-01, not '%s'",
				value);
	} else if (p->sect == SECT_TLS && (!strcmp(name, "acme_profile") ||
					   !strcmp(name, "acme_eab_kid"))) {
		/* A profile name or key identifier as the CA spells it:
		 * printable ASCII without spaces or quotes, bounded. */
		size_t i, n = strlen(value);
		int okv = n > 0 && n <= 256;

		for (i = 0; okv && i < n; i++)
			okv = value[i] > ' ' && value[i] < 127 &&
			      value[i] != '"' && value[i] != '\\';
		if (!okv) {
			config_parse_diag(
				p, 1, ln,
				"%s must be 1 to 256 printable characters without spaces or quotes",
				name);
			return;
		}
		if (!strcmp(name, "acme_profile")) {
			free(cfg->acme_profile);
			cfg->acme_profile = config_parse_strdup(p, value);
		} else {
			p->eab_kid_line = ln;
			free(cfg->acme_eab_kid);
			cfg->acme_eab_kid = config_parse_strdup(p, value);
		}
	} else if (p->sect == SECT_TLS && !strcmp(name, "cert_path")) {
		set_path(p, &p->tls_cert, &p->tls_cert_line, value);
	} else if (p->sect == SECT_TLS) { /* key_path */
		set_path(p, &p->tls_key, &p->tls_key_line, value);
	} else if (p->sect == SECT_LOGGING) { /* level */
		if (parse_log_level(value, &cfg->log_level) < 0)
			config_parse_diag(
				p, 1, ln,
				"level must be error, warn, info, debug or trace, not '%s'",
				value);
	} else if (p->sect == SECT_SITE && !strcmp(name, "handler")) {
		struct config_site *site = &cfg->sites[p->cur];

		if (!config_handler_label_valid(value)) {
			config_parse_diag(
				p, 1, ln,
				"invalid handler label '%s': 1 to %d of A-Z a-z 0-9 . _ -",
				value, CONFIG_HANDLER_LABEL_MAX);
			return;
		}
		site->handler = config_parse_strdup(p, value);
	} else if (p->sect == SECT_SITE && !strcmp(name, "upstream")) {
		struct config_site *site = &cfg->sites[p->cur];
		const char *why;
		char *host = NULL;
		unsigned port = 0;

		why = parse_upstream(p, value, &host, &port);
		if (why != NULL) {
			config_parse_diag(p, 1, ln, "invalid upstream '%s': %s",
					  value, why);
			return;
		}
		if (host == NULL)
			return;
		site->upstream_host = host;
		site->upstream_port = port;
		site->upstream = config_parse_strdup(p, value);
	} else if (p->sect == SECT_SITE) { /* upstream_scheme */
		struct config_site *site = &cfg->sites[p->cur];

		if (!strcmp(value, "http"))
			site->upstream_https = 0;
		else if (!strcmp(value, "https"))
			site->upstream_https = 1;
		else
			config_parse_diag(
				p, 1, ln,
				"upstream_scheme must be http or https, not '%s'",
				value);
	} else if (p->sect == SECT_CERT) {
		struct config_cert *c = &cfg->certs[p->cur];

		if (!strcmp(name, "cert_path"))
			set_path(p, &c->cert_path, &c->cert_line, value);
		else
			set_path(p, &c->key_path, &c->key_line, value);
	}
}

static void *sect_base(struct config_parse *p)
{
	switch (p->sect) {
	case SECT_SITE:
		return &p->cfg->sites[p->cur];
	case SECT_CERT:
		return &p->cfg->certs[p->cur];
	default:
		return p->cfg;
	}
}

int config_keys_handler(void *user, const char *section, const char *name,
			const char *value)
{
	struct config_parse *p = user;
	const struct key_def *keys, *k;
	unsigned idx = 0;
	uint64_t v;
	char *base;

	(void)section; /* inih truncates it; config_load.c keeps our own */
	if (p->sect == SECT_SKIP || p->oom)
		return 1;
	if (p->kind == LK_CONT) {
		char tmp[INI_MAX_LINE + 8];
		size_t n = strlen(value);

		if (!p->prev_key_ok)
			return 1;
		/* inih 55 does not strip inline comments on these lines. */
		if (n >= sizeof(tmp))
			n = sizeof(tmp) - 1;
		memcpy(tmp, value, n);
		tmp[n] = '\0';
		*config_parse_find_chars_or_comment(tmp, NULL) = '\0';
		if (p->sect == SECT_TLS && !strcmp(p->prev_key, "acme_domains"))
			add_domains(p, tmp);
		else
			config_parse_diag(
				p, 1, p->lineno,
				"indented line continues %s, which is not a list",
				p->prev_key);
		return 1;
	}
	if (p->sect == SECT_NONE) {
		config_parse_diag(p, 1, p->lineno, "key %s outside any section",
				  name);
		p->prev_key_ok = 0;
		return 1;
	}
	keys = sect_keys[p->sect];
	for (k = keys; k->name != NULL; k++, idx++)
		if (!strcmp(k->name, name))
			break;
	if (k->name == NULL) {
		config_parse_diag(p, 1, p->lineno, "unknown key %s in [%s]",
				  name, config_parse_sect_names[p->sect]);
		p->prev_key_ok = 0;
		return 1;
	}
	if (p->seen & (1u << idx)) {
		config_parse_diag(p, 1, p->lineno, "duplicate key %s", name);
		p->prev_key_ok = 0;
		return 1;
	}
	p->seen |= 1u << idx;
	if (*value == '\0' &&
	    !(p->sect == SECT_TLS && !strcmp(name, "acme_domains"))) {
		config_parse_diag(p, 1, p->lineno, "empty value for %s", name);
		return 1;
	}

	base = sect_base(p);
	switch (k->type) {
	case K_UINT:
	case K_U64:
		if (parse_u64(value, k->min, k->max, &v) < 0) {
			config_parse_diag(
				p, 1, p->lineno,
				"%s must be a number from %llu to %llu, not '%s'",
				name, (unsigned long long)k->min,
				(unsigned long long)k->max, value);
			break;
		}
		if (k->type == K_UINT)
			*(unsigned *)(void *)(base + k->off) = (unsigned)v;
		else
			*(uint64_t *)(void *)(base + k->off) = v;
		if (p->sect == SECT_SERVER && !strcmp(name, "https_port"))
			p->https_line = p->lineno;
		if (p->sect == SECT_SERVER && !strcmp(name, "http_port"))
			p->http_line = p->lineno;
		break;
	case K_BOOL:
		if (parse_bool(value, (int *)(void *)(base + k->off)) < 0)
			config_parse_diag(p, 1, p->lineno,
					  "%s must be true or false, not '%s'",
					  name, value);
		break;
	case K_STR: {
		char **dst = (char **)(void *)(base + k->off);

		free(*dst);
		*dst = config_parse_strdup(p, value);
		if (p->sect == SECT_TLS && !strcmp(name, "acme_ca_file"))
			p->ca_line = p->lineno;
		if (p->sect == SECT_TLS &&
		    !strcmp(name, "acme_eab_hmac_key_file"))
			p->eab_key_line = p->lineno;
		break;
	}
	case K_SPECIAL:
		special_key(p, name, value);
		break;
	}
	return 1;
}
