/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * config.c: the INI contract of SPEC.md read into a validated, immutable
 * struct config. Owns the line-counting reader that feeds inih (Debian's
 * inih 55 gives its handler no line numbers and silently splits lines
 * longer than INI_MAX_LINE), every default, every validation rule, and
 * the cert/key match check used by --validate. Host names go through
 * host.c, the same rule the requests use.
 * No global state: any thread may load or free its own configs; a loaded
 * config is only read afterwards.
 */
#include "config.h"
#include "host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <ini.h>

#define CONFIG_MAX_FILE (1024 * 1024)
#define CONFIG_MAX_PEM (1024 * 1024)
#define CONFIG_MAX_SITES 4096
#define CONFIG_MAX_CERTS 1024
#define CONFIG_MAX_DOMAINS 1024
#define CONFIG_MAX_WORKERS 64

#define ACME_PRODUCTION "https://acme-v02.api.letsencrypt.org/directory"
#define ACME_STAGING "https://acme-staging-v02.api.letsencrypt.org/directory"
#define ACME_CACHE_DIR "/var/lib/reverse-proxy/acme-cache"

enum sect {
	SECT_NONE,
	SECT_SERVER,
	SECT_TLS,
	SECT_LOGGING,
	SECT_RATE_LIMIT,
	SECT_LIMITS,
	SECT_SITE,
	SECT_CERT,
	SECT_SKIP, /* unknown or invalid section: its keys are not reported */
	SECT_COUNT
};

enum line_kind { LK_BLANK, LK_SECTION, LK_KEY, LK_CONT, LK_BAD };

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
	{ NULL, K_SPECIAL, 0, 0, 0 }
};

static const struct key_def tls_keys[] = {
	KX("mode"),
	KX("acme_domains"),
	KX("acme_contact"),
	KX("acme_directory"),
	KS(struct config, "acme_cache_dir", acme_cache_dir),
	KS(struct config, "acme_ca_file", acme_ca_file),
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
	{ NULL, K_SPECIAL, 0, 0, 0 }
};

static const struct key_def site_keys[] = {
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

static const char *const sect_names[SECT_COUNT] = {
	[SECT_SERVER] = "server",	  [SECT_TLS] = "tls",
	[SECT_LOGGING] = "logging",	  [SECT_RATE_LIMIT] = "rate_limit",
	[SECT_LIMITS] = "limits",	  [SECT_SITE] = "site",
	[SECT_CERT] = "certificate",
};

static const struct key_def *const sect_keys[SECT_COUNT] = {
	[SECT_SERVER] = server_keys,	   [SECT_TLS] = tls_keys,
	[SECT_LOGGING] = logging_keys,	   [SECT_RATE_LIMIT] = rate_limit_keys,
	[SECT_LIMITS] = limits_keys,	   [SECT_SITE] = site_keys,
	[SECT_CERT] = cert_keys,
};

struct parse {
	/* input */
	const char *buf;
	size_t len, pos;
	const char *file;
	int check_files;
	config_diag_fn diag;
	void *ud;

	/* reader state, mirrors inih's view of the current line */
	unsigned lineno;
	enum line_kind kind;
	int have_prev;      /* a key line was seen since the section header */
	char prev_key[256]; /* that key, for continuation lines */
	int prev_key_ok;    /* 0: errors on it were already reported */

	/* section state */
	enum sect sect;
	size_t cur;           /* index into sites / certs */
	uint32_t seen;        /* keys seen in the current section */
	unsigned sect_line[SECT_COUNT]; /* header line of unique sections */

	/* lines needed by the final checks */
	unsigned bind_line, https_line, http_line, contact_line, ca_line;
	unsigned *domain_lines;

	/* [tls] cert pair, moved to certs[0] at the end */
	char *tls_cert, *tls_key;
	unsigned tls_cert_line, tls_key_line;

	unsigned errors;
	int oom;
	struct config *cfg;
};

static void diag(struct parse *p, int is_error, unsigned line,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void diag(struct parse *p, int is_error, unsigned line,
		 const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	size_t i;

	if (is_error)
		p->errors++;
	if (p->diag == NULL)
		return;
	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0'; /* the buffer is unspecified after an error */
	va_end(ap);
	/* Values from the file are echoed: keep control bytes off terminals. */
	for (i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	p->diag(p->ud, is_error, p->file, line, msg);
}

static char *pstrdup(struct parse *p, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		p->oom = 1;
	return d;
}

static char *pstrndup(struct parse *p, const char *s, size_t n)
{
	char *d = strndup(s, n);

	if (d == NULL)
		p->oom = 1;
	return d;
}

/* Returns arr (n elements of sz bytes) grown by one zeroed element. */
static void *grow(struct parse *p, void *arr, size_t n, size_t sz)
{
	char *na = reallocarray(arr, n + 1, sz);

	if (na == NULL) {
		p->oom = 1;
		return NULL;
	}
	memset(na + n * sz, 0, sz);
	return na;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

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

/*
 * "host:port" or "[v6]:port", port 1..65535. On success *host is a new
 * string (without brackets). Returns a reason on failure.
 */
static const char *parse_upstream(struct parse *p, const char *v, char **host,
				  unsigned *port)
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
	*host = pstrndup(p, hs, hn);
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

/* ---- sections ---- */

static void open_section(struct parse *p, const char *text, size_t n)
{
	char word[32];
	const char *arg = NULL;
	size_t wn, an = 0, i;
	enum sect s = SECT_SKIP;
	struct config *cfg = p->cfg;

	p->seen = 0;
	p->sect = SECT_SKIP;
	while (n > 0 && is_space(*text))
		text++, n--;
	while (n > 0 && is_space(text[n - 1]))
		n--;
	for (wn = 0; wn < n && !is_space(text[wn]); wn++)
		;
	if (wn < n) {
		arg = text + wn;
		an = n - wn;
		while (an > 0 && is_space(*arg))
			arg++, an--;
	}
	if (wn == 0 || wn >= sizeof(word)) {
		diag(p, 1, p->lineno, "unknown section [%.*s]", (int)n, text);
		return;
	}
	memcpy(word, text, wn);
	word[wn] = '\0';
	for (i = 1; i < SECT_SKIP; i++)
		if (strcmp(word, sect_names[i]) == 0)
			s = (enum sect)i;
	if (s == SECT_SKIP) {
		diag(p, 1, p->lineno, "unknown section [%.*s]", (int)n, text);
		return;
	}
	if (s == SECT_SITE || s == SECT_CERT) {
		if (arg == NULL) {
			diag(p, 1, p->lineno, "[%s] needs a name: [%s NAME]",
			     word, word);
			return;
		}
	} else if (arg != NULL) {
		diag(p, 1, p->lineno, "unknown section [%.*s]", (int)n, text);
		return;
	} else if (p->sect_line[s] != 0) {
		diag(p, 1, p->lineno, "duplicate section [%s] (first at line %u)",
		     word, p->sect_line[s]);
		return;
	}

	if (s == SECT_SITE) {
		char host[HOST_MAX + 3];
		struct config_site *site;
		int has_port = 0;

		if (arg[0] == '[') {
			const char *rb = memchr(arg, ']', an);

			has_port = rb != NULL && rb + 1 < arg + an;
		} else {
			has_port = memchr(arg, ':', an) != NULL;
		}
		if (has_port) {
			diag(p, 1, p->lineno,
			     "site host '%.*s' must not include a port",
			     (int)an, arg);
			return;
		}
		if (host_normalize(arg, an, host, sizeof(host)) < 0) {
			diag(p, 1, p->lineno, "invalid site host '%.*s'",
			     (int)an, arg);
			return;
		}
		for (i = 0; i < cfg->n_sites; i++) {
			if (strcmp(cfg->sites[i].host, host) == 0) {
				diag(p, 1, p->lineno,
				     "duplicate site %s (first at line %u)",
				     host, cfg->sites[i].line);
				return;
			}
		}
		if (cfg->n_sites >= CONFIG_MAX_SITES) {
			diag(p, 1, p->lineno, "too many sites (limit %d)",
			     CONFIG_MAX_SITES);
			return;
		}
		site = grow(p, cfg->sites, cfg->n_sites, sizeof(*site));
		if (site == NULL)
			return;
		cfg->sites = site;
		site = &cfg->sites[cfg->n_sites++];
		site->line = p->lineno;
		site->connect_timeout_secs = 5;
		site->read_timeout_secs = 60;
		site->host = pstrdup(p, host);
		if (site->host == NULL) {
			cfg->n_sites--;
			return;
		}
		p->cur = cfg->n_sites - 1;
	} else if (s == SECT_CERT) {
		struct config_cert *c;

		for (i = 0; i < cfg->n_certs; i++) {
			if (strlen(cfg->certs[i].name) == an &&
			    memcmp(cfg->certs[i].name, arg, an) == 0) {
				diag(p, 1, p->lineno,
				     "duplicate [certificate %.*s] (first at line %u)",
				     (int)an, arg, cfg->certs[i].line);
				return;
			}
		}
		if (cfg->n_certs >= CONFIG_MAX_CERTS) {
			diag(p, 1, p->lineno,
			     "too many certificates (limit %d)",
			     CONFIG_MAX_CERTS);
			return;
		}
		c = grow(p, cfg->certs, cfg->n_certs, sizeof(*c));
		if (c == NULL)
			return;
		cfg->certs = c;
		c = &cfg->certs[cfg->n_certs++];
		c->line = p->lineno;
		c->name = pstrndup(p, arg, an);
		if (c->name == NULL) {
			cfg->n_certs--;
			return;
		}
		p->cur = cfg->n_certs - 1;
	} else {
		p->sect_line[s] = p->lineno;
	}
	p->sect = s;
}

/* ---- the line-counting reader ---- */

/* inih's find_chars_or_comment(): stops at chars or at " ;" comments. */
static char *find_chars_or_comment(char *s, const char *chars)
{
	int was_space = 0;

	while (*s != '\0' && (chars == NULL || strchr(chars, *s) == NULL) &&
	       !(was_space && *s == ';')) {
		was_space = is_space(*s);
		s++;
	}
	return s;
}

/* Classifies a line exactly as inih will, and opens sections. */
static void classify(struct parse *p, const char *str)
{
	char tmp[INI_MAX_LINE + 8];
	char *line = tmp, *start, *end, *rest;
	size_t n = strlen(str);

	if (n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	memcpy(tmp, str, n);
	tmp[n] = '\0';
	if (p->lineno == 1 && (unsigned char)line[0] == 0xEF &&
	    (unsigned char)line[1] == 0xBB && (unsigned char)line[2] == 0xBF)
		line += 3;
	while (n > 0 && is_space(tmp[n - 1]))
		tmp[--n] = '\0';
	for (start = line; *start != '\0' && is_space(*start); start++)
		;

	if (*start == '\0' || *start == ';' || *start == '#') {
		p->kind = LK_BLANK;
	} else if (p->have_prev && start > line) {
		p->kind = LK_CONT;
	} else if (*start == '[') {
		end = find_chars_or_comment(start + 1, "]");
		if (*end != ']') {
			p->kind = LK_BAD;
			diag(p, 1, p->lineno, "section header without ']'");
			return;
		}
		p->kind = LK_SECTION;
		p->have_prev = 0;
		/* inih ignores anything after the ']'; we do not. */
		for (rest = end + 1; is_space(*rest); rest++)
			;
		if (*rest != '\0' && !(*rest == ';' && rest > end + 1)) {
			p->sect = SECT_SKIP;
			diag(p, 1, p->lineno, "unexpected text after ']'");
			return;
		}
		open_section(p, start + 1, (size_t)(end - start - 1));
	} else {
		end = find_chars_or_comment(start, "=:");
		if (*end != '=' && *end != ':') {
			p->kind = LK_BAD;
			diag(p, 1, p->lineno, "expected 'key = value'");
			return;
		}
		p->kind = LK_KEY;
		p->have_prev = 1;
		p->prev_key_ok = 1;
		while (end > start && is_space(end[-1]))
			end--;
		n = (size_t)(end - start);
		if (n >= sizeof(p->prev_key))
			n = sizeof(p->prev_key) - 1;
		memcpy(p->prev_key, start, n);
		p->prev_key[n] = '\0';
	}
}

/* fgets()-like, one physical line per call so inih's count matches ours. */
static char *reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	const char *s, *nl;
	size_t n, content;

	if (p->pos >= p->len || num < 3)
		return NULL;
	s = p->buf + p->pos;
	nl = memchr(s, '\n', p->len - p->pos);
	n = nl ? (size_t)(nl - s) + 1 : p->len - p->pos;
	content = nl ? n - 1 : n;
	p->pos += n;
	p->lineno++;

	if (memchr(s, '\0', content) != NULL) {
		diag(p, 1, p->lineno, "NUL byte in line");
		p->kind = LK_BAD;
		strcpy(str, "\n");
		return str;
	}
	/* inih reads into num bytes: content + '\n' + NUL must fit. */
	if (content + 2 > (size_t)num) {
		diag(p, 1, p->lineno, "line too long (limit %d characters)",
		     num - 2);
		p->kind = LK_BAD;
		strcpy(str, "\n");
		return str;
	}
	memcpy(str, s, n);
	str[n] = '\0';
	classify(p, str);
	return str;
}

/* ---- keys ---- */

static void add_domains(struct parse *p, const char *value)
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

		while (n > 0 && is_space(*s))
			s++, n--;
		while (n > 0 && is_space(s[n - 1]))
			n--;
		if (n == 0)
			goto next;
		if (memchr(s, ':', n) != NULL || s[0] == '[' ||
		    host_normalize(s, n, host, sizeof(host)) < 0) {
			diag(p, 1, p->lineno,
			     "invalid acme_domains entry '%.*s'", (int)n, s);
			goto next;
		}
		for (i = 0; i < cfg->n_acme_domains; i++) {
			if (strcmp(cfg->acme_domains[i], host) == 0) {
				diag(p, 1, p->lineno,
				     "duplicate acme_domains entry %s", host);
				goto next;
			}
		}
		if (cfg->n_acme_domains >= CONFIG_MAX_DOMAINS) {
			diag(p, 1, p->lineno,
			     "too many acme_domains (limit %d)",
			     CONFIG_MAX_DOMAINS);
			return;
		}
		lines = grow(p, p->domain_lines, cfg->n_acme_domains,
			     sizeof(*lines));
		if (lines == NULL)
			return;
		p->domain_lines = lines;
		lines[cfg->n_acme_domains] = p->lineno;
		slot = grow(p, cfg->acme_domains, cfg->n_acme_domains,
			    sizeof(*slot));
		if (slot == NULL)
			return;
		cfg->acme_domains = slot;
		slot[cfg->n_acme_domains] = pstrdup(p, host);
		if (slot[cfg->n_acme_domains] == NULL)
			return;
		cfg->n_acme_domains++;
next:
		if (e == NULL)
			break;
		s = e + 1;
	}
}

static void set_path(struct parse *p, char **dst, unsigned *line,
		     const char *value)
{
	free(*dst);
	*dst = pstrdup(p, value);
	*line = p->lineno;
}

static void special_key(struct parse *p, const char *name, const char *value)
{
	struct config *cfg = p->cfg;
	unsigned ln = p->lineno;

	if (p->sect == SECT_SERVER) { /* bind_addr */
		unsigned char a[sizeof(struct in6_addr)];

		p->bind_line = ln;
		if (inet_pton(AF_INET, value, a) != 1 &&
		    inet_pton(AF_INET6, value, a) != 1) {
			diag(p, 1, ln,
			     "bind_addr '%s' is not an IPv4 or IPv6 address",
			     value);
			return;
		}
		cfg->bind_addr = pstrdup(p, value);
	} else if (p->sect == SECT_TLS && !strcmp(name, "mode")) {
		if (!strcmp(value, "acme"))
			cfg->tls_mode = CONFIG_TLS_ACME;
		else if (!strcmp(value, "manual"))
			cfg->tls_mode = CONFIG_TLS_MANUAL;
		else
			diag(p, 1, ln, "mode must be acme or manual, not '%s'",
			     value);
	} else if (p->sect == SECT_TLS && !strcmp(name, "acme_domains")) {
		add_domains(p, value);
	} else if (p->sect == SECT_TLS && !strcmp(name, "acme_contact")) {
		p->contact_line = ln;
		if (!contact_ok(value))
			diag(p, 1, ln,
			     "acme_contact must be mailto:user@domain, not '%s'",
			     value);
		else
			cfg->acme_contact = pstrdup(p, value);
	} else if (p->sect == SECT_TLS && !strcmp(name, "acme_directory")) {
		const char *url = value;

		if (!strcmp(value, "production"))
			url = ACME_PRODUCTION;
		else if (!strcmp(value, "staging"))
			url = ACME_STAGING;
		else if (!url_ok(value)) {
			diag(p, 1, ln,
			     "acme_directory must be production, staging or an https:// URL, not '%s'",
			     value);
			return;
		}
		cfg->acme_directory = pstrdup(p, url);
	} else if (p->sect == SECT_TLS && !strcmp(name, "cert_path")) {
		set_path(p, &p->tls_cert, &p->tls_cert_line, value);
	} else if (p->sect == SECT_TLS) { /* key_path */
		set_path(p, &p->tls_key, &p->tls_key_line, value);
	} else if (p->sect == SECT_LOGGING) { /* level */
		if (parse_log_level(value, &cfg->log_level) < 0)
			diag(p, 1, ln,
			     "level must be error, warn, info, debug or trace, not '%s'",
			     value);
	} else if (p->sect == SECT_SITE && !strcmp(name, "upstream")) {
		struct config_site *site = &cfg->sites[p->cur];
		const char *why;
		char *host = NULL;
		unsigned port = 0;

		why = parse_upstream(p, value, &host, &port);
		if (why != NULL) {
			diag(p, 1, ln, "invalid upstream '%s': %s", value, why);
			return;
		}
		if (host == NULL)
			return;
		site->upstream_host = host;
		site->upstream_port = port;
		site->upstream = pstrdup(p, value);
	} else if (p->sect == SECT_SITE) { /* upstream_scheme */
		struct config_site *site = &cfg->sites[p->cur];

		if (!strcmp(value, "http"))
			site->upstream_https = 0;
		else if (!strcmp(value, "https"))
			site->upstream_https = 1;
		else
			diag(p, 1, ln,
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

static void *sect_base(struct parse *p)
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

static int handler(void *user, const char *section, const char *name,
		   const char *value)
{
	struct parse *p = user;
	const struct key_def *keys, *k;
	unsigned idx = 0;
	uint64_t v;
	char *base;

	(void)section; /* inih truncates it; open_section() keeps our own */
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
		*find_chars_or_comment(tmp, NULL) = '\0';
		if (p->sect == SECT_TLS && !strcmp(p->prev_key, "acme_domains"))
			add_domains(p, tmp);
		else
			diag(p, 1, p->lineno,
			     "indented line continues %s, which is not a list",
			     p->prev_key);
		return 1;
	}
	if (p->sect == SECT_NONE) {
		diag(p, 1, p->lineno, "key %s outside any section", name);
		p->prev_key_ok = 0;
		return 1;
	}
	keys = sect_keys[p->sect];
	for (k = keys; k->name != NULL; k++, idx++)
		if (!strcmp(k->name, name))
			break;
	if (k->name == NULL) {
		diag(p, 1, p->lineno, "unknown key %s in [%s]", name,
		     sect_names[p->sect]);
		p->prev_key_ok = 0;
		return 1;
	}
	if (p->seen & (1u << idx)) {
		diag(p, 1, p->lineno, "duplicate key %s", name);
		p->prev_key_ok = 0;
		return 1;
	}
	p->seen |= 1u << idx;
	if (*value == '\0' &&
	    !(p->sect == SECT_TLS && !strcmp(name, "acme_domains"))) {
		diag(p, 1, p->lineno, "empty value for %s", name);
		return 1;
	}

	base = sect_base(p);
	switch (k->type) {
	case K_UINT:
	case K_U64:
		if (parse_u64(value, k->min, k->max, &v) < 0) {
			diag(p, 1, p->lineno,
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
			diag(p, 1, p->lineno,
			     "%s must be true or false, not '%s'", name, value);
		break;
	case K_STR: {
		char **dst = (char **)(void *)(base + k->off);

		free(*dst);
		*dst = pstrdup(p, value);
		if (p->sect == SECT_TLS && !strcmp(name, "acme_ca_file"))
			p->ca_line = p->lineno;
		break;
	}
	case K_SPECIAL:
		special_key(p, name, value);
		break;
	}
	return 1;
}

/* ---- files and the final checks ---- */

/* Reads a whole regular file of at most cap bytes; NUL-terminates. */
static int read_file(const char *path, size_t cap, char **out, size_t *outlen,
		     const char **why)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t r;
	int fd, rc = -1;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		*why = strerror(errno);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		*why = strerror(errno);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		goto out;
	}
	if ((uint64_t)st.st_size > cap) {
		*why = "file too large";
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		*why = "out of memory";
		goto out;
	}
	while (len < (size_t)st.st_size) {
		r = read(fd, buf + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*why = strerror(errno);
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

static void check_pair(struct parse *p, const struct config_cert *c)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_privkey_t pk = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t d;
	unsigned char id1[64], id2[64];
	size_t n1 = sizeof(id1), n2 = sizeof(id2), klen = 0, clen = 0;
	char *cbuf = NULL, *kbuf = NULL;
	const char *why;
	int r;

	if (read_file(c->cert_path, CONFIG_MAX_PEM, &cbuf, &clen, &why) < 0) {
		diag(p, 1, c->cert_line, "cannot read certificate %s: %s",
		     c->cert_path, why);
		goto out;
	}
	if (read_file(c->key_path, CONFIG_MAX_PEM, &kbuf, &klen, &why) < 0) {
		diag(p, 1, c->key_line, "cannot read key %s: %s", c->key_path,
		     why);
		goto out;
	}
	if (gnutls_x509_crt_init(&crt) < 0 || gnutls_privkey_init(&pk) < 0 ||
	    gnutls_pubkey_init(&pub) < 0) {
		diag(p, 1, c->key_line, "out of memory");
		goto out;
	}
	d.data = (unsigned char *)cbuf;
	d.size = (unsigned)clen;
	r = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM);
	if (r < 0) {
		diag(p, 1, c->cert_line, "%s is not a PEM certificate: %s",
		     c->cert_path, gnutls_strerror(r));
		goto out;
	}
	d.data = (unsigned char *)kbuf;
	d.size = (unsigned)klen;
	r = gnutls_privkey_import_x509_raw(pk, &d, GNUTLS_X509_FMT_PEM, NULL,
					   0);
	if (r >= 0)
		r = gnutls_pubkey_import_privkey(pub, pk, 0, 0);
	if (r < 0) {
		diag(p, 1, c->key_line, "%s is not a usable PEM key: %s",
		     c->key_path, gnutls_strerror(r));
		goto out;
	}
	if (gnutls_x509_crt_get_key_id(crt, 0, id1, &n1) < 0 ||
	    gnutls_pubkey_get_key_id(pub, 0, id2, &n2) < 0 || n1 != n2 ||
	    memcmp(id1, id2, n1) != 0)
		diag(p, 1, c->key_line, "key %s does not match certificate %s",
		     c->key_path, c->cert_path);
out:
	gnutls_pubkey_deinit(pub);
	gnutls_privkey_deinit(pk);
	gnutls_x509_crt_deinit(crt);
	if (kbuf != NULL)
		explicit_bzero(kbuf, klen);
	free(kbuf);
	free(cbuf);
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

static void finish_manual(struct parse *p)
{
	struct config *cfg = p->cfg;
	size_t i;

	if (p->tls_cert != NULL || p->tls_key != NULL) {
		struct config_cert *c;

		if (p->tls_cert == NULL || p->tls_key == NULL) {
			diag(p, 1, p->tls_cert ? p->tls_cert_line : p->tls_key_line,
			     "[tls] needs both cert_path and key_path");
		} else if ((c = grow(p, cfg->certs, cfg->n_certs,
				     sizeof(*c))) != NULL) {
			cfg->certs = c;
			memmove(&cfg->certs[1], &cfg->certs[0],
				cfg->n_certs * sizeof(*c));
			cfg->n_certs++;
			c = &cfg->certs[0];
			memset(c, 0, sizeof(*c));
			c->name = pstrdup(p, "");
			c->cert_path = p->tls_cert;
			c->key_path = p->tls_key;
			c->cert_line = p->tls_cert_line;
			c->key_line = p->tls_key_line;
			c->line = p->sect_line[SECT_TLS];
			p->tls_cert = p->tls_key = NULL;
		}
	}
	if (cfg->n_certs == 0)
		diag(p, 1, p->sect_line[SECT_TLS],
		     "manual mode needs cert_path and key_path in [tls] or a [certificate NAME] section");
	for (i = 0; i < cfg->n_certs && !p->oom; i++) {
		const struct config_cert *c = &cfg->certs[i];

		if (c->cert_path == NULL || c->key_path == NULL) {
			diag(p, 1, c->line,
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

static void finish_acme(struct parse *p)
{
	struct config *cfg = p->cfg;
	unsigned tls_line = p->sect_line[SECT_TLS];
	size_t i;

	if (cfg->n_acme_domains == 0)
		diag(p, 1, tls_line, "acme mode needs acme_domains in [tls]");
	if (cfg->http_port == 0)
		diag(p, 1, p->http_line ? p->http_line : tls_line,
		     "acme mode answers HTTP-01 challenges on http_port, which "
		     "cannot be 0");
	if (cfg->acme_contact == NULL && p->contact_line == 0)
		diag(p, 1, tls_line, "acme mode needs acme_contact in [tls]");
	for (i = 0; i < cfg->n_acme_domains; i++)
		if (!has_site(cfg, cfg->acme_domains[i]))
			diag(p, 0, p->domain_lines[i],
			     "acme_domains entry %s has no [site %s]",
			     cfg->acme_domains[i], cfg->acme_domains[i]);
	if (p->tls_cert != NULL || p->tls_key != NULL || cfg->n_certs > 0)
		diag(p, 0, p->tls_cert_line ? p->tls_cert_line :
			   p->tls_key_line ? p->tls_key_line : cfg->certs[0].line,
		     "certificate files are ignored in acme mode");
	if (p->check_files && cfg->acme_ca_file != NULL) {
		char *buf = NULL;
		size_t len;
		const char *why;

		if (read_file(cfg->acme_ca_file, CONFIG_MAX_PEM, &buf, &len,
			      &why) < 0)
			diag(p, 1, p->ca_line, "cannot read acme_ca_file %s: %s",
			     cfg->acme_ca_file, why);
		free(buf);
	}
}

static void finish(struct parse *p)
{
	struct config *cfg = p->cfg;
	size_t i;

	if (cfg->bind_addr == NULL && p->bind_line == 0)
		diag(p, 1, p->sect_line[SECT_SERVER],
		     "missing required key bind_addr in [server]");
	if (cfg->bind_addr != NULL && !cfg->allow_wildcard_bind &&
	    is_wildcard(cfg->bind_addr))
		diag(p, 1, p->bind_line,
		     "bind_addr %s listens on every address; set allow_wildcard_bind = true to allow it",
		     cfg->bind_addr);
	if (cfg->https_port != 0 && cfg->https_port == cfg->http_port)
		diag(p, 1, p->https_line > p->http_line ? p->https_line :
							 p->http_line,
		     "https_port and http_port are both %u", cfg->https_port);
	if (cfg->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg->workers = n < 1 ? 1 :
			       n > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS :
							(unsigned)n;
	}

	if (cfg->acme_directory == NULL)
		cfg->acme_directory = pstrdup(p, ACME_PRODUCTION);
	if (cfg->tls_mode == CONFIG_TLS_MANUAL)
		finish_manual(p);
	else
		finish_acme(p);

	for (i = 0; i < cfg->n_sites && !p->oom; i++) {
		struct config_site *s = &cfg->sites[i];
		int v6 = strchr(s->upstream_host ? s->upstream_host : "", ':') !=
			 NULL;

		if (s->upstream_host == NULL) {
			diag(p, 1, s->line, "[site %s] needs upstream", s->host);
			continue;
		}
		if (p->check_files && s->upstream_ca_file != NULL) {
			char *buf = NULL;
			size_t len;
			const char *why;

			if (read_file(s->upstream_ca_file, CONFIG_MAX_PEM, &buf,
				      &len, &why) < 0)
				diag(p, 1, s->line,
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
	if (cfg->n_sites == 0)
		diag(p, 0, 0, "no [site HOST] sections: every request gets 404");
}

static struct config *config_new(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL)
		return NULL;
	cfg->https_port = 443;
	cfg->http_port = 80;
	cfg->max_connections = 1024;
	cfg->idle_timeout_secs = 60;
	cfg->tls_handshake_timeout_secs = 10;
	cfg->header_timeout_secs = 10;
	cfg->shutdown_timeout_secs = 30;
	cfg->tls_mode = CONFIG_TLS_ACME;
	cfg->session_tickets = 1;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->rl_requests_per_second = 10;
	cfg->rl_burst = 20;
	cfg->rl_eviction_interval_secs = 60;
	cfg->rl_eviction_age_secs = 300;
	cfg->body_limit_bytes = 104857600;
	cfg->max_connections_per_ip = 128;
	cfg->acme_cache_dir = strdup(ACME_CACHE_DIR);
	if (cfg->acme_cache_dir == NULL) {
		free(cfg);
		return NULL;
	}
	return cfg;
}

void config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->bind_addr);
	for (i = 0; i < cfg->n_acme_domains; i++)
		free(cfg->acme_domains[i]);
	free(cfg->acme_domains);
	free(cfg->acme_contact);
	free(cfg->acme_directory);
	free(cfg->acme_cache_dir);
	free(cfg->acme_ca_file);
	for (i = 0; i < cfg->n_certs; i++) {
		free(cfg->certs[i].name);
		free(cfg->certs[i].cert_path);
		free(cfg->certs[i].key_path);
	}
	free(cfg->certs);
	free(cfg->log_file);
	for (i = 0; i < cfg->n_sites; i++) {
		free(cfg->sites[i].host);
		free(cfg->sites[i].upstream);
		free(cfg->sites[i].upstream_host);
		free(cfg->sites[i].upstream_url);
		free(cfg->sites[i].upstream_ca_file);
	}
	free(cfg->sites);
	free(cfg);
}

static int load_buffer(const char *buf, size_t len, const char *name,
		       int check_files, config_diag_fn dfn, void *ud,
		       struct config **out)
{
	struct parse p;
	int r, rc = -1;

	memset(&p, 0, sizeof(p));
	p.buf = buf;
	p.len = len;
	p.file = name;
	p.check_files = check_files;
	p.diag = dfn;
	p.ud = ud;
	p.sect = SECT_NONE;
	p.cfg = config_new();
	if (p.cfg == NULL || (p.cfg->path = strdup(name)) == NULL) {
		diag(&p, 1, 0, "out of memory");
		goto out;
	}
	r = ini_parse_stream(reader, &p, handler, &p);
	if (r > 0 && p.errors == 0)
		diag(&p, 1, (unsigned)r, "syntax error");
	else if (r < 0)
		p.oom = 1;
	if (!p.oom)
		finish(&p);
	if (p.oom)
		diag(&p, 1, 0, "out of memory");
	if (p.errors == 0) {
		*out = p.cfg;
		p.cfg = NULL;
		rc = 0;
	}
out:
	free(p.domain_lines);
	free(p.tls_cert);
	free(p.tls_key);
	config_free(p.cfg);
	return rc;
}

int config_load_string(const char *text, const char *name, int check_files,
		       config_diag_fn diag_fn, void *ud, struct config **out)
{
	if (out == NULL)
		return -1;
	*out = NULL;
	if (text == NULL)
		return -1;
	return load_buffer(text, strlen(text), name ? name : "(string)",
			   check_files, diag_fn, ud, out);
}

int config_load_file(const char *path, int check_files, config_diag_fn diag_fn,
		     void *ud, struct config **out)
{
	char *buf = NULL;
	size_t len = 0;
	const char *why;
	int rc;

	if (out == NULL)
		return -1;
	*out = NULL;
	if (path == NULL)
		return -1;
	if (read_file(path, CONFIG_MAX_FILE, &buf, &len, &why) < 0) {
		if (diag_fn != NULL) {
			char msg[256];

			snprintf(msg, sizeof(msg), "cannot read config: %s", why);
			diag_fn(ud, 1, path, 0, msg);
		}
		return -1;
	}
	rc = load_buffer(buf, len, path, check_files, diag_fn, ud, out);
	free(buf);
	return rc;
}
