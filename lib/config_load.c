/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * config_load: config_load_file() and config_load_string() (config.h), the
 * INI contract of SPEC.md read into a validated, immutable struct config.
 * Owns the line-counting reader that feeds inih (Debian's inih 55 gives its
 * handler no line numbers and silently splits lines longer than
 * INI_MAX_LINE) and classifies each line as inih will, the sections
 * ([site …] and [certificate …] entries, duplicates), the defaults (those
 * that depend on other keys are config_check.c's), and the order of a
 * load: read, each key (config_keys.c), the final checks (config_check.c),
 * hand over or free (config.c). Section host names go through host.c, the
 * same rule the requests use.
 * Threads: any thread may load its own configs; the parse state lives on
 * its stack and there is no global state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "config.h"
#include "config_check.h"
#include "config_keys.h"
#include "config_parse.h"
#include "host.h"

/* ---- sections ---- */

static void open_section(struct config_parse *p, const char *text, size_t n)
{
	char word[32];
	const char *arg = NULL;
	size_t wn, an = 0, i;
	enum sect s = SECT_SKIP;
	struct config *cfg = p->cfg;

	p->seen = 0;
	p->sect = SECT_SKIP;
	while (n > 0 && config_parse_is_space(*text))
		text++, n--;
	while (n > 0 && config_parse_is_space(text[n - 1]))
		n--;
	for (wn = 0; wn < n && !config_parse_is_space(text[wn]); wn++)
		;
	if (wn < n) {
		arg = text + wn;
		an = n - wn;
		while (an > 0 && config_parse_is_space(*arg))
			arg++, an--;
	}
	if (wn == 0 || wn >= sizeof(word)) {
		config_parse_diag(p, 1, p->lineno, "unknown section [%.*s]",
				  (int)n, text);
		return;
	}
	memcpy(word, text, wn);
	word[wn] = '\0';
	for (i = 1; i < SECT_SKIP; i++)
		if (strcmp(word, config_parse_sect_names[i]) == 0)
			s = (enum sect)i;
	if (s == SECT_SKIP) {
		config_parse_diag(p, 1, p->lineno, "unknown section [%.*s]",
				  (int)n, text);
		return;
	}
	if (p->certs_only && s != SECT_TLS && s != SECT_LOGGING &&
	    s != SECT_CERT) {
		config_parse_diag(p, 1, p->lineno,
				  "[%s] is not part of a certificate manager's "
				  "configuration ([tls], [certificate NAME], "
				  "[logging])",
				  word);
		return;
	}
	if (s == SECT_SITE || s == SECT_CERT) {
		if (arg == NULL) {
			config_parse_diag(p, 1, p->lineno,
					  "[%s] needs a name: [%s NAME]", word,
					  word);
			return;
		}
	} else if (arg != NULL) {
		config_parse_diag(p, 1, p->lineno, "unknown section [%.*s]",
				  (int)n, text);
		return;
	} else if (p->sect_line[s] != 0) {
		config_parse_diag(p, 1, p->lineno,
				  "duplicate section [%s] (first at line %u)",
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
			config_parse_diag(
				p, 1, p->lineno,
				"site host '%.*s' must not include a port",
				(int)an, arg);
			return;
		}
		if (host_normalize(arg, an, host, sizeof(host)) < 0) {
			config_parse_diag(p, 1, p->lineno,
					  "invalid site host '%.*s'", (int)an,
					  arg);
			return;
		}
		for (i = 0; i < cfg->n_sites; i++) {
			if (strcmp(cfg->sites[i].host, host) == 0) {
				config_parse_diag(
					p, 1, p->lineno,
					"duplicate site %s (first at line %u)",
					host, cfg->sites[i].line);
				return;
			}
		}
		if (cfg->n_sites >= CONFIG_MAX_SITES) {
			config_parse_diag(p, 1, p->lineno,
					  "too many sites (limit %d)",
					  CONFIG_MAX_SITES);
			return;
		}
		site = config_parse_grow(p, cfg->sites, cfg->n_sites,
					 sizeof(*site));
		if (site == NULL)
			return;
		cfg->sites = site;
		site = &cfg->sites[cfg->n_sites++];
		site->line = p->lineno;
		site->connect_timeout_secs = 5;
		site->read_timeout_secs = 60;
		site->host = config_parse_strdup(p, host);
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
				config_parse_diag(
					p, 1, p->lineno,
					"duplicate [certificate %.*s] (first at line %u)",
					(int)an, arg, cfg->certs[i].line);
				return;
			}
		}
		if (cfg->n_certs >= CONFIG_MAX_CERTS) {
			config_parse_diag(p, 1, p->lineno,
					  "too many certificates (limit %d)",
					  CONFIG_MAX_CERTS);
			return;
		}
		c = config_parse_grow(p, cfg->certs, cfg->n_certs, sizeof(*c));
		if (c == NULL)
			return;
		cfg->certs = c;
		c = &cfg->certs[cfg->n_certs++];
		c->line = p->lineno;
		c->name = config_parse_strndup(p, arg, an);
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

/* Classifies a line exactly as inih will, and opens sections. */
static void classify(struct config_parse *p, const char *str)
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
	while (n > 0 && config_parse_is_space(tmp[n - 1]))
		tmp[--n] = '\0';
	for (start = line; *start != '\0' && config_parse_is_space(*start);
	     start++)
		;

	if (*start == '\0' || *start == ';' || *start == '#') {
		p->kind = LK_BLANK;
	} else if (p->have_prev && start > line) {
		p->kind = LK_CONT;
	} else if (*start == '[') {
		end = config_parse_find_chars_or_comment(start + 1, "]");
		if (*end != ']') {
			p->kind = LK_BAD;
			config_parse_diag(p, 1, p->lineno,
					  "section header without ']'");
			return;
		}
		p->kind = LK_SECTION;
		p->have_prev = 0;
		/* inih ignores anything after the ']'; we do not. */
		for (rest = end + 1; config_parse_is_space(*rest); rest++)
			;
		if (*rest != '\0' && !(*rest == ';' && rest > end + 1)) {
			p->sect = SECT_SKIP;
			config_parse_diag(p, 1, p->lineno,
					  "unexpected text after ']'");
			return;
		}
		open_section(p, start + 1, (size_t)(end - start - 1));
	} else {
		end = config_parse_find_chars_or_comment(start, "=:");
		if (*end != '=' && *end != ':') {
			p->kind = LK_BAD;
			config_parse_diag(p, 1, p->lineno,
					  "expected 'key = value'");
			return;
		}
		p->kind = LK_KEY;
		p->have_prev = 1;
		p->prev_key_ok = 1;
		while (end > start && config_parse_is_space(end[-1]))
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
	struct config_parse *p = stream;
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
		config_parse_diag(p, 1, p->lineno, "NUL byte in line");
		p->kind = LK_BAD;
		strcpy(str, "\n");
		return str;
	}
	/* inih reads into num bytes: content + '\n' + NUL must fit. */
	if (content + 2 > (size_t)num) {
		config_parse_diag(p, 1, p->lineno,
				  "line too long (limit %d characters)",
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

/* ---- the load ---- */

/* The defaults of SPEC.md; a [site]'s are set in open_section(). */
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
	cfg->client_min_rate = 500;
	cfg->acme_cache_dir = strdup(ACME_CACHE_DIR);
	if (cfg->acme_cache_dir == NULL) {
		free(cfg);
		return NULL;
	}
	return cfg;
}

static int load_buffer(const char *buf, size_t len, const char *name,
		       int check_files, config_diag_fn dfn, void *ud,
		       struct config **out)
{
	struct config_parse p;
	int r, rc = -1;

	memset(&p, 0, sizeof(p));
	p.buf = buf;
	p.len = len;
	p.file = name;
	p.check_files = (check_files & CONFIG_CHECK_FILES) != 0;
	p.certs_only = (check_files & CONFIG_CERTS_ONLY) != 0;
	p.diag = dfn;
	p.ud = ud;
	p.sect = SECT_NONE;
	p.cfg = config_new();
	if (p.cfg == NULL || (p.cfg->path = strdup(name)) == NULL) {
		config_parse_diag(&p, 1, 0, "out of memory");
		goto out;
	}
	r = ini_parse_stream(reader, &p, config_keys_handler, &p);
	if (r > 0 && p.errors == 0)
		config_parse_diag(&p, 1, (unsigned)r, "syntax error");
	else if (r < 0)
		p.oom = 1;
	if (!p.oom)
		config_check(&p);
	if (p.oom)
		config_parse_diag(&p, 1, 0, "out of memory");
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
	if (config_parse_read_file(path, CONFIG_MAX_FILE, &buf, &len,
				   &why) < 0) {
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
