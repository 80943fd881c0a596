/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * test_config: the INI contract of SPEC.md: defaults, every validation rule
 * with its file:line, inih's line-length and multiline pitfalls, host
 * normalization, manual-mode cert/key checks with throwaway keys.
 */
#include "config.h"
#include "host.h"
#include "router.h"
#include "unit.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

static char diags[16384];

static void collect(void *ud, int is_error, const char *file, unsigned line,
		    const char *msg)
{
	size_t n = strlen(diags);

	(void)ud;
	snprintf(diags + n, sizeof(diags) - n, "%s %s:%u: %s\n",
		 is_error ? "E" : "W", file, line, msg);
}

static int load(const char *text, struct config **cfg)
{
	diags[0] = '\0';
	return config_load_string(text, "t.ini", 0, collect, NULL, cfg);
}

/* Loads text; expects failure and a diagnostic containing want. */
static int fails_with(const char *text, const char *want)
{
	struct config *cfg = NULL;
	int rc = load(text, &cfg);

	if (rc != -1 || cfg != NULL || strstr(diags, want) == NULL) {
		fprintf(stderr, "--- expected failure with \"%s\", got rc=%d:\n%s",
			want, rc, diags);
		config_free(cfg);
		return 0;
	}
	return 1;
}

#define BASE "[server]\nbind_addr = 127.0.0.1\n" /* lines 1-2 */
#define ACME                                                                \
	"[tls]\nacme_domains = a.example\n"                                 \
	"acme_contact = mailto:x@example.org\n" /* 3 lines */
#define SITE "[site a.example]\nupstream = 127.0.0.1:3000\n" /* 2 lines */

static void test_defaults(void)
{
	struct config *cfg = NULL;

	CHECK(load(BASE ACME SITE, &cfg) == 0);
	CHECK(cfg != NULL);
	if (cfg == NULL) {
		fprintf(stderr, "%s", diags);
		return;
	}
	CHECK(diags[0] == '\0');
	CHECK_STR(cfg->path, "t.ini");
	CHECK_STR(cfg->bind_addr, "127.0.0.1");
	CHECK(cfg->allow_wildcard_bind == 0);
	CHECK(cfg->session_tickets == 1);
	CHECK(cfg->https_port == 443);
	CHECK(cfg->http_port == 80);
	CHECK(cfg->workers >= 1 && cfg->workers <= 64);
	CHECK(cfg->max_connections == 1024);
	CHECK(cfg->idle_timeout_secs == 60);
	CHECK(cfg->tls_handshake_timeout_secs == 10);
	CHECK(cfg->header_timeout_secs == 10);
	CHECK(cfg->shutdown_timeout_secs == 30);
	CHECK(cfg->tls_mode == CONFIG_TLS_ACME);
	CHECK(cfg->n_acme_domains == 1);
	CHECK_STR(cfg->acme_domains[0], "a.example");
	CHECK_STR(cfg->acme_contact, "mailto:x@example.org");
	CHECK_STR(cfg->acme_directory,
		  "https://acme-v02.api.letsencrypt.org/directory");
	CHECK_STR(cfg->acme_cache_dir, "/var/lib/reverse-proxy/acme-cache");
	CHECK(cfg->acme_ca_file == NULL);
	CHECK(cfg->n_certs == 0);
	CHECK(cfg->log_level == LOG_LEVEL_INFO);
	CHECK(cfg->log_file == NULL);
	CHECK(cfg->rl_requests_per_second == 10);
	CHECK(cfg->rl_burst == 20);
	CHECK(cfg->rl_eviction_interval_secs == 60);
	CHECK(cfg->rl_eviction_age_secs == 300);
	CHECK(cfg->body_limit_bytes == 104857600);
	CHECK(cfg->n_sites == 1);
	CHECK_STR(cfg->sites[0].host, "a.example");
	CHECK_STR(cfg->sites[0].upstream, "127.0.0.1:3000");
	CHECK_STR(cfg->sites[0].upstream_host, "127.0.0.1");
	CHECK(cfg->sites[0].upstream_port == 3000);
	CHECK(cfg->sites[0].upstream_https == 0);
	CHECK_STR(cfg->sites[0].upstream_url, "http://127.0.0.1:3000");
	CHECK(cfg->sites[0].connect_timeout_secs == 5);
	CHECK(cfg->sites[0].read_timeout_secs == 60);
	CHECK(cfg->sites[0].line == 6);
	CHECK_STR(config_log_level_name(cfg->log_level), "info");
	config_free(cfg);
	config_free(NULL);
}

static void test_full(void)
{
	static const char text[] =
		"; the SPEC example, every key set\n"
		"[server]\n"
		"bind_addr = ::\n"
		"allow_wildcard_bind = yes\n"
		"https_port = 0\n"
		"http_port = 8080\n"
		"workers = 3\n"
		"max_connections = 10\n"
		"idle_timeout_secs = 7\n"
		"tls_handshake_timeout_secs = 8\n"
		"header_timeout_secs = 11\n"
		"shutdown_timeout_secs = 9\n"
		"[tls]\n"
		"mode = acme\n"
		"acme_domains = Git.Alk.Dev, alk.dev.  ; inline comment\n"
		"acme_contact = mailto:admin@alk.dev\n"
		"acme_directory = staging\n"
		"acme_cache_dir = /tmp/cache\n"
		"acme_ca_file = /tmp/ca.pem\n"
		"[logging]\n"
		"level = trace\n"
		"file = /tmp/access.log\n"
		"[rate_limit]\n"
		"requests_per_second = 1\n"
		"burst = 2\n"
		"eviction_interval_secs = 3\n"
		"eviction_age_secs = 4\n"
		"[limits]\n"
		"body_limit_bytes = 0\n"
		"[site GIT.alk.dev]\n"
		"upstream = [::1]:3000\n"
		"upstream_scheme = https\n"
		"connect_timeout_secs = 2\n"
		"read_timeout_secs = 3\n"
		"# hash comment\n"
		"[site alk.dev.]\n"
		"upstream = localhost:8000\n";
	struct config *cfg = NULL;
	const struct config_site *s;

	CHECK(load(text, &cfg) == 0);
	if (cfg == NULL) {
		fprintf(stderr, "%s", diags);
		return;
	}
	CHECK(diags[0] == '\0');
	CHECK_STR(cfg->bind_addr, "::");
	CHECK(cfg->allow_wildcard_bind == 1);
	CHECK(cfg->https_port == 0 && cfg->http_port == 8080);
	CHECK(cfg->workers == 3);
	CHECK(cfg->max_connections == 10);
	CHECK(cfg->idle_timeout_secs == 7);
	CHECK(cfg->tls_handshake_timeout_secs == 8);
	CHECK(cfg->header_timeout_secs == 11);
	CHECK(cfg->shutdown_timeout_secs == 9);
	CHECK(cfg->n_acme_domains == 2);
	CHECK_STR(cfg->acme_domains[0], "git.alk.dev");
	CHECK_STR(cfg->acme_domains[1], "alk.dev");
	CHECK_STR(cfg->acme_directory,
		  "https://acme-staging-v02.api.letsencrypt.org/directory");
	CHECK_STR(cfg->acme_cache_dir, "/tmp/cache");
	CHECK_STR(cfg->acme_ca_file, "/tmp/ca.pem");
	CHECK(cfg->log_level == LOG_LEVEL_TRACE);
	CHECK_STR(cfg->log_file, "/tmp/access.log");
	CHECK(cfg->rl_requests_per_second == 1 && cfg->rl_burst == 2);
	CHECK(cfg->rl_eviction_interval_secs == 3);
	CHECK(cfg->rl_eviction_age_secs == 4);
	CHECK(cfg->body_limit_bytes == 0);
	CHECK(cfg->n_sites == 2);
	s = router_find_site(cfg, "git.alk.dev");
	CHECK(s != NULL);
	if (s != NULL) {
		CHECK_STR(s->upstream_host, "::1");
		CHECK(s->upstream_port == 3000);
		CHECK(s->upstream_https == 1);
		CHECK_STR(s->upstream_url, "https://[::1]:3000");
		CHECK(s->connect_timeout_secs == 2);
		CHECK(s->read_timeout_secs == 3);
		CHECK(s->line == 30);
	}
	s = router_find_site(cfg, "alk.dev");
	CHECK(s != NULL && s->line == 36);
	CHECK(router_find_site(cfg, "ALK.dev") == NULL); /* caller normalizes */
	CHECK(router_find_site(cfg, "other.dev") == NULL);
	CHECK(router_find_site(NULL, "alk.dev") == NULL);
	config_free(cfg);
}

static void test_url_directory(void)
{
	struct config *cfg = NULL;

	CHECK(load(BASE ACME "acme_directory = https://localhost:14000/dir\n"
			     "acme_directory = production\n" SITE,
		   &cfg) == -1);
	CHECK(strstr(diags, "t.ini:7: duplicate key acme_directory") != NULL);
	CHECK(load(BASE ACME "acme_directory = https://localhost:14000/dir\n"
		   SITE, &cfg) == 0);
	if (cfg != NULL)
		CHECK_STR(cfg->acme_directory, "https://localhost:14000/dir");
	config_free(cfg);
}

static void test_errors(void)
{
	/* structure */
	CHECK(fails_with(BASE "[bogus]\nx = 1\n", "E t.ini:3: unknown section"));
	CHECK(fails_with(BASE "[server extra]\n", "t.ini:3: unknown section"));
	CHECK(fails_with(BASE ACME SITE "nope = 1\n",
			 "t.ini:8: unknown key nope in [site]"));
	CHECK(fails_with("x = 1\n" BASE, "t.ini:1: key x outside any section"));
	CHECK(fails_with(BASE "just words\n", "t.ini:3: expected 'key = value'"));
	CHECK(fails_with(BASE "[tls\n", "t.ini:3: section header without ']'"));
	CHECK(fails_with(BASE "[server]\n", "t.ini:3: duplicate section [server]"));
	CHECK(fails_with(BASE "bind_addr = 127.0.0.2\n",
			 "t.ini:3: duplicate key bind_addr"));
	CHECK(fails_with(BASE "[site]\n", "t.ini:3: [site] needs a name"));
	CHECK(fails_with(BASE "https_port =\n", "t.ini:3: empty value"));
	CHECK(fails_with(BASE "  continued\n",
			 "t.ini:3: indented line continues bind_addr"));

	/* numbers */
	CHECK(fails_with(BASE "https_port = 65536\n", "t.ini:3: https_port must"));
	CHECK(fails_with(BASE "https_port = -1\n", "t.ini:3: https_port must"));
	CHECK(fails_with(BASE "https_port = +1\n", "t.ini:3: https_port must"));
	CHECK(fails_with(BASE "https_port = 4 4\n", "t.ini:3: https_port must"));
	CHECK(fails_with(BASE "https_port = 0x10\n", "t.ini:3: https_port must"));
	CHECK(fails_with(BASE "idle_timeout_secs = 0\n",
			 "t.ini:3: idle_timeout_secs must"));
	CHECK(fails_with(BASE "workers = 65\n", "t.ini:3: workers must"));
	CHECK(fails_with("[limits]\nbody_limit_bytes = 99999999999999999999999\n"
			 BASE, "t.ini:2: body_limit_bytes must"));
	CHECK(fails_with(BASE "max_connections = 18446744073709551617\n",
			 "t.ini:3: max_connections must"));

	/* booleans, enums */
	CHECK(fails_with(BASE "allow_wildcard_bind = maybe\n",
			 "t.ini:3: allow_wildcard_bind must be true or false"));
	CHECK(fails_with(BASE ACME "session_tickets = sometimes\n" SITE,
			 "t.ini:6: session_tickets must be true or false"));
	CHECK(fails_with(BASE "[logging]\nlevel = loud\n", "t.ini:4: level must"));
	CHECK(fails_with(BASE "[tls]\nmode = magic\n", "t.ini:4: mode must"));

	/* server */
	CHECK(fails_with("[server]\nhttp_port = 81\n",
			 "t.ini:1: missing required key bind_addr"));
	CHECK(fails_with("[logging]\n", "t.ini:0: missing required key bind_addr"));
	CHECK(fails_with("[server]\nbind_addr = example.com\n",
			 "t.ini:2: bind_addr 'example.com' is not"));
	CHECK(fails_with("[server]\nbind_addr = 0.0.0.0\n",
			 "t.ini:2: bind_addr 0.0.0.0 listens on every address"));
	CHECK(fails_with("[server]\nbind_addr = ::\n",
			 "t.ini:2: bind_addr :: listens"));
	/* HTTP-01 needs the plain listener */
	CHECK(fails_with(BASE "http_port = 0\n" ACME SITE,
			 "t.ini:3: acme mode answers HTTP-01 challenges on "
			 "http_port, which cannot be 0"));
	CHECK(fails_with(BASE "https_port = 8443\nhttp_port = 8443\n",
			 "t.ini:4: https_port and http_port are both 8443"));

	/* sites */
	CHECK(fails_with(BASE "[site a.example:8443]\nupstream = h:1\n",
			 "t.ini:3: site host 'a.example:8443' must not include a port"));
	CHECK(fails_with(BASE "[site ::1]\nupstream = h:1\n",
			 "t.ini:3: site host '::1' must not include a port"));
	/* inih ends a section name at the first ']': IPv6 sites cannot be
	 * written, and trailing text is an error rather than ignored. */
	CHECK(fails_with(BASE "[site [::1]]\nupstream = h:1\n",
			 "t.ini:3: unexpected text after ']'"));
	CHECK(fails_with(BASE "[server] x\n", "t.ini:3: unexpected text"));
	CHECK(fails_with(BASE "[site a b]\nupstream = h:1\n",
			 "t.ini:3: invalid site host 'a b'"));
	CHECK(fails_with(BASE "[site a..b]\nupstream = h:1\n",
			 "t.ini:3: invalid site host"));
	CHECK(fails_with(BASE "[site us@r]\nupstream = h:1\n",
			 "t.ini:3: invalid site host"));
	CHECK(fails_with(BASE SITE "[site A.Example.]\nupstream = h:1\n",
			 "t.ini:5: duplicate site a.example (first at line 3)"));
	CHECK(fails_with(BASE "[site x.example]\nread_timeout_secs = 5\n",
			 "t.ini:3: [site x.example] needs upstream"));
	CHECK(fails_with(BASE "[site x.example]\nupstream = 127.0.0.1\n",
			 "t.ini:4: invalid upstream '127.0.0.1': a port is required"));
	CHECK(fails_with(BASE "[site x.example]\nupstream = h:0\n",
			 "t.ini:4: invalid upstream 'h:0': port must be 1..65535"));
	CHECK(fails_with(BASE "[site x.example]\nupstream = h:70000\n",
			 "t.ini:4: invalid upstream"));
	CHECK(fails_with(BASE "[site x.example]\nupstream = ::1:80\n",
			 "t.ini:4: invalid upstream '::1:80': IPv6 addresses need brackets"));
	CHECK(fails_with(BASE "[site x.example]\nupstream = [::g]:80\n",
			 "t.ini:4: invalid upstream '[::g]:80': invalid IPv6"));
	CHECK(fails_with(BASE "[site x.example]\nupstream = [::1]\n",
			 "t.ini:4: invalid upstream '[::1]': a port is required"));
	CHECK(fails_with(BASE "[site x.example]\nupstream = h/x:80\n",
			 "t.ini:4: invalid upstream 'h/x:80': invalid host"));
	CHECK(fails_with(BASE "[site x.example]\nupstream = h:80\n"
			 "upstream_scheme = ftp\n",
			 "t.ini:5: upstream_scheme must be http or https"));

	/* acme */
	CHECK(fails_with(BASE "[tls]\nacme_contact = mailto:a@b\n" SITE,
			 "t.ini:3: acme mode needs acme_domains"));
	CHECK(fails_with(BASE "[tls]\nacme_domains = a.example\n" SITE,
			 "t.ini:3: acme mode needs acme_contact"));
	CHECK(fails_with(BASE SITE, "t.ini:0: acme mode needs acme_domains"));
	CHECK(fails_with(BASE "[tls]\nacme_domains = a.example\n"
			 "acme_contact = admin@alk.dev\n" SITE,
			 "t.ini:5: acme_contact must be mailto:"));
	CHECK(fails_with(BASE "[tls]\nacme_domains = a.example\n"
			 "acme_contact = mailto:nobody\n" SITE,
			 "t.ini:5: acme_contact must be mailto:"));
	CHECK(fails_with(BASE ACME "acme_directory = http://x/dir\n" SITE,
			 "t.ini:6: acme_directory must be production, staging"));
	CHECK(fails_with(BASE ACME "acme_directory = prod\n" SITE,
			 "t.ini:6: acme_directory must be"));
	CHECK(fails_with(BASE "[tls]\nacme_domains = a.example, b.example:443\n"
			 "acme_contact = mailto:a@b\n" SITE,
			 "t.ini:4: invalid acme_domains entry 'b.example:443'"));
	CHECK(fails_with(BASE "[tls]\nacme_domains = a.example, A.example\n"
			 "acme_contact = mailto:a@b\n" SITE,
			 "t.ini:4: duplicate acme_domains entry a.example"));

	/* manual */
	CHECK(fails_with(BASE "[tls]\nmode = manual\n" SITE,
			 "t.ini:3: manual mode needs cert_path and key_path"));
	CHECK(fails_with(BASE "[tls]\nmode = manual\ncert_path = /c.pem\n" SITE,
			 "t.ini:5: [tls] needs both cert_path and key_path"));
	CHECK(fails_with(BASE "[tls]\nmode = manual\n[certificate x]\n"
			 "key_path = /k.pem\n" SITE,
			 "t.ini:5: [certificate x] needs both"));
	CHECK(fails_with(BASE "[tls]\nmode = manual\n[certificate x]\n"
			 "cert_path = /c\nkey_path = /k\n[certificate x]\n" SITE,
			 "t.ini:8: duplicate [certificate x] (first at line 5)"));
}

/* Every error is reported, not only the first. */
static void test_collects_all(void)
{
	struct config *cfg = NULL;

	CHECK(load("[server]\nbind_addr = 127.0.0.1\nhttps_port = x\n"
		   "http_port = y\n[nope]\n[site a:1]\n",
		   &cfg) == -1);
	CHECK(cfg == NULL);
	CHECK(strstr(diags, "t.ini:3: https_port") != NULL);
	CHECK(strstr(diags, "t.ini:4: http_port") != NULL);
	CHECK(strstr(diags, "t.ini:5: unknown section") != NULL);
	CHECK(strstr(diags, "t.ini:6: site host") != NULL);
	CHECK(strstr(diags, "acme mode needs acme_domains") != NULL);
}

static void test_warnings(void)
{
	struct config *cfg = NULL;

	/* An acme domain without a site warns but loads. */
	CHECK(load(BASE "[tls]\nacme_domains = a.example,\n"
			"   other.example\n"
			"acme_contact = mailto:x@example.org\n" SITE,
		   &cfg) == 0);
	CHECK(strstr(diags, "W t.ini:5: acme_domains entry other.example has no [site") !=
	      NULL);
	config_free(cfg);

	/* No sites at all is allowed. */
	cfg = NULL;
	CHECK(load(BASE "[tls]\nacme_domains = a.example\n"
			"acme_contact = mailto:x@example.org\n",
		   &cfg) == 0);
	CHECK(strstr(diags, "W t.ini:0: no [site HOST]") != NULL);
	config_free(cfg);

	/* A NULL diag callback is fine. */
	cfg = NULL;
	CHECK(config_load_string("[x]\n", "n", 0, NULL, NULL, &cfg) == -1);
	CHECK(cfg == NULL);
}

static void test_multiline(void)
{
	struct config *cfg = NULL;
	size_t i;

	CHECK(load(BASE "[tls]\n"
			"acme_domains = a.example, b.example,\n"
			"    c.example ; a comment\n"
			"\n"
			"\td.example, e.example\n"
			"    ; an indented comment is still a comment\n"
			"acme_contact = mailto:x@example.org\n"
			"[site a.example]\nupstream = h:1\n"
			"[site b.example]\nupstream = h:1\n"
			"[site c.example]\nupstream = h:1\n"
			"[site d.example]\nupstream = h:1\n"
			"[site e.example]\nupstream = h:1\n",
		   &cfg) == 0);
	CHECK(cfg != NULL && cfg->n_acme_domains == 5);
	if (cfg == NULL)
		fprintf(stderr, "%s", diags);
	if (cfg != NULL && cfg->n_acme_domains == 5) {
		static const char *want[] = { "a.example", "b.example",
					      "c.example", "d.example",
					      "e.example" };

		for (i = 0; i < 5; i++)
			CHECK_STR(cfg->acme_domains[i], want[i]);
	}
	CHECK(diags[0] == '\0');
	config_free(cfg);

	/* An invalid entry on a continuation line names that line. */
	CHECK(fails_with(BASE "[tls]\nacme_domains = a.example,\n"
			 "  bad_one!\nacme_contact = mailto:x@y\n" SITE,
			 "t.ini:5: invalid acme_domains entry 'bad_one!'"));
}

static void test_long_line(void)
{
	char text[1024];
	char longname[400];
	struct config *cfg = NULL;

	/* 198 characters fit in inih's 200-byte buffer with "\n\0". */
	memset(longname, 'a', sizeof(longname));
	snprintf(text, sizeof(text), BASE "log_ok = %.*s\n", 189, longname);
	CHECK(strlen(text) - strlen(BASE) == 198 + 1);
	CHECK(load(text, &cfg) == -1);
	CHECK(strstr(diags, "t.ini:3: unknown key log_ok") != NULL);
	CHECK(strstr(diags, "too long") == NULL);

	/* One more and it must be an error, not a split line. */
	snprintf(text, sizeof(text),
		 BASE "[logging]\nfile = /%.*s\nlevel = debug\n", 191, longname);
	CHECK(load(text, &cfg) == -1);
	CHECK(strstr(diags, "t.ini:4: line too long") != NULL);
	CHECK(strstr(diags, "aaa") == NULL); /* the tail was not parsed */

	/* The same without a final newline. */
	snprintf(text, sizeof(text), BASE "[logging]\nfile = /%.*s", 191,
		 longname);
	CHECK(load(text, &cfg) == -1);
	CHECK(strstr(diags, "t.ini:4: line too long") != NULL);

	/* Section names longer than inih's 50 bytes are not truncated. */
	snprintf(text, sizeof(text),
		 BASE ACME "[site %.*s.example]\nupstream = h:1\n", 60,
		 longname);
	CHECK(load(text, &cfg) == 0);
	CHECK(cfg != NULL && cfg->n_sites == 1 &&
	      strlen(cfg->sites[0].host) == 68);
	config_free(cfg);
}

static void test_odd_input(void)
{
	struct config *cfg = NULL;

	/* BOM, CRLF, ':' separator, case-insensitive bools. */
	CHECK(load("\xef\xbb\xbf[server]\r\nbind_addr: 127.0.0.1\r\n"
		   "allow_wildcard_bind = TRUE\r\n" ACME SITE,
		   &cfg) == 0);
	CHECK(cfg != NULL && cfg->allow_wildcard_bind == 1);
	config_free(cfg);
	cfg = NULL;
	CHECK(load(BASE ACME "session_tickets = off\n" SITE, &cfg) == 0);
	CHECK(cfg != NULL && cfg->session_tickets == 0);
	config_free(cfg);
	cfg = NULL;
	CHECK(load("", &cfg) == -1);
	CHECK(strstr(diags, "missing required key bind_addr") != NULL);
	CHECK(load("[server]\nbind_addr = 127.0.0.1\x01\n", &cfg) == -1);
	CHECK(strchr(diags, '\x01') == NULL); /* control bytes are escaped */
	CHECK(load("[server] ; a comment\nbind_addr = 127.0.0.1\n" ACME SITE,
		   &cfg) == 0);
	config_free(cfg);
	cfg = NULL;
	CHECK(config_load_string(NULL, "x", 0, NULL, NULL, &cfg) == -1);
	CHECK(config_load_file("/nonexistent/x.ini", 0, collect, NULL, &cfg) ==
	      -1);
}

static void test_normalize(void)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
		{ "example.com", "example.com" },
		{ "Example.COM.:8443", "example.com" },
		{ "EXAMPLE.com.", "example.com" },
		{ "a:1", "a" },
		{ "127.0.0.1:80", "127.0.0.1" },
		{ "[::1]", "[::1]" },
		{ "[::1]:443", "[::1]" },
		{ "[2001:DB8::1]", "[2001:db8::1]" },
		{ "in_ternal", "in_ternal" },
		{ "x-y.z", "x-y.z" },
	};
	static const char *const bad[] = {
		"", ".", "a..b", ".a", "a b", "a@b", "a:", "a:x", "a:123456",
		"a:65536", "a:1:2", "::1", "[::1", "[]", "[x]", "[::1]x",
		"[::1]:", "a..", "a/b", "a\tb", "[fe80::1%eth0]",
	};
	char out[300], small[4];
	char big[300];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		memset(out, 0, sizeof(out));
		CHECK(host_normalize(ok[i].in, strlen(ok[i].in), out,
					    sizeof(out)) == 0);
		CHECK_STR(out, ok[i].out);
	}
	/* a NUL inside brackets (found by fuzz_route): inet_pton would stop
	 * at it and "[::1" plus junk would be returned */
	CHECK(host_normalize("[::1\0\n]", 7, out, sizeof(out)) == -1);
	CHECK(host_normalize("a\0b", 3, out, sizeof(out)) == -1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = host_normalize(bad[i], strlen(bad[i]), out,
					      sizeof(out));

		if (r != -1)
			fprintf(stderr, "accepted bad host '%s'\n", bad[i]);
		CHECK(r == -1);
	}
	/* Not NUL-terminated input: only inlen bytes count. */
	CHECK(host_normalize("abc.def", 3, out, sizeof(out)) == 0);
	CHECK_STR(out, "abc");
	CHECK(host_normalize("a\0b", 3, out, sizeof(out)) == -1);
	CHECK(host_normalize("abcd", 4, small, sizeof(small)) == -1);
	CHECK(host_normalize("abc", 3, small, sizeof(small)) == 0);
	CHECK(host_normalize("abc", 3, out, 0) == -1);
	/* Length limits: 63 per label, 253 in all. */
	memset(big, 'a', sizeof(big));
	CHECK(host_normalize(big, 63, out, sizeof(out)) == 0);
	CHECK(host_normalize(big, 64, out, sizeof(out)) == -1);
	for (i = 63; i < sizeof(big); i += 64)
		big[i] = '.';
	CHECK(host_normalize(big, 253, out, sizeof(out)) == 0);
	CHECK(host_normalize(big, 254, out, sizeof(out)) == -1);
}

/* ---- manual mode with real files ---- */

static int write_pem(const char *path, const gnutls_datum_t *d)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (f == NULL)
		return -1;
	ok = fwrite(d->data, 1, d->size, f) == d->size;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* A throwaway EC key and self-signed certificate for host (with it as
 * DNS subjectAltName when san). */
static int make_pair2(const char *cert_path, const char *key_path,
		      const char *cn, int san)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d = { NULL, 0 };
	unsigned char serial[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	time_t now = time(NULL);
	int rc = -1;

	if (gnutls_x509_privkey_init(&key) < 0 ||
	    gnutls_x509_privkey_generate(
		    key, GNUTLS_PK_ECDSA,
		    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
	    gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_set_version(crt, 3) < 0 ||
	    gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) < 0 ||
	    gnutls_x509_crt_set_activation_time(crt, now - 60) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt, now + 86400) < 0 ||
	    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
					  cn, (unsigned)strlen(cn)) < 0 ||
	    (san && gnutls_x509_crt_set_subject_alt_name(
			    crt, GNUTLS_SAN_DNSNAME, cn, (unsigned)strlen(cn),
			    GNUTLS_FSAN_SET) < 0) ||
	    gnutls_x509_crt_set_key(crt, key) < 0 ||
	    gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0)
		goto out;
	if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d) < 0 ||
	    write_pem(cert_path, &d) < 0)
		goto out;
	gnutls_free(d.data);
	d.data = NULL;
	if (gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &d) < 0 ||
	    write_pem(key_path, &d) < 0)
		goto out;
	rc = 0;
out:
	gnutls_free(d.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return rc;
}

static int make_pair(const char *cert_path, const char *key_path,
		     const char *cn)
{
	return make_pair2(cert_path, key_path, cn, 1);
}

/* dst = the contents of a, then of b. */
static int concat(const char *dst, const char *a, const char *b)
{
	char buf[8192];
	size_t n1 = 0, n2 = 0;
	FILE *f;

	if ((f = fopen(a, "r")) != NULL) {
		n1 = fread(buf, 1, sizeof(buf) / 2, f);
		fclose(f);
	}
	if ((f = fopen(b, "r")) != NULL) {
		n2 = fread(buf + n1, 1, sizeof(buf) / 2, f);
		fclose(f);
	}
	if (n1 == 0 || n2 == 0 || (f = fopen(dst, "w")) == NULL)
		return -1;
	fwrite(buf, 1, n1 + n2, f);
	return fclose(f);
}

static int load_files(const char *text, struct config **cfg)
{
	diags[0] = '\0';
	return config_load_string(text, "m.ini", 1, collect, NULL, cfg);
}

static void test_manual(void)
{
	char dir[] = "/tmp/test_config.XXXXXX";
	char c1[64], k1[64], c2[64], k2[64], text[2048];
	struct config *cfg = NULL;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(c1, sizeof(c1), "%s/c1.pem", dir);
	snprintf(k1, sizeof(k1), "%s/k1.pem", dir);
	snprintf(c2, sizeof(c2), "%s/c2.pem", dir);
	snprintf(k2, sizeof(k2), "%s/k2.pem", dir);
	CHECK(make_pair(c1, k1, "one.example") == 0);
	CHECK(make_pair(c2, k2, "two.example") == 0);

	/* Matching pairs: [tls] first, then [certificate …] in order. */
	snprintf(text, sizeof(text),
		 BASE "[certificate two]\ncert_path = %s\nkey_path = %s\n"
		      "[tls]\nmode = manual\ncert_path = %s\nkey_path = %s\n"
		      SITE, c2, k2, c1, k1);
	CHECK(load_files(text, &cfg) == 0);
	if (cfg == NULL) {
		fprintf(stderr, "%s", diags);
	} else {
		CHECK(cfg->tls_mode == CONFIG_TLS_MANUAL);
		CHECK(cfg->n_certs == 2);
		CHECK_STR(cfg->certs[0].name, "");
		CHECK_STR(cfg->certs[0].cert_path, c1);
		CHECK_STR(cfg->certs[0].key_path, k1);
		CHECK(cfg->certs[0].key_line == 9);
		CHECK_STR(cfg->certs[1].name, "two");
		CHECK_STR(cfg->certs[1].cert_path, c2);
		CHECK(cfg->certs[1].line == 3);
	}
	config_free(cfg);
	cfg = NULL;

	/* Mismatched: the error names the key's line. */
	snprintf(text, sizeof(text),
		 BASE "[tls]\nmode = manual\ncert_path = %s\nkey_path = %s\n"
		      SITE, c1, k2);
	CHECK(load_files(text, &cfg) == -1);
	CHECK(strstr(diags, "m.ini:6: key ") != NULL);
	CHECK(strstr(diags, "does not match certificate") != NULL);
	/* Without check_files the same text loads. */
	diags[0] = '\0';
	CHECK(config_load_string(text, "m.ini", 0, collect, NULL, &cfg) == 0);
	config_free(cfg);
	cfg = NULL;

	/* Unreadable files, reported with their own lines. */
	snprintf(text, sizeof(text),
		 BASE "[tls]\nmode = manual\ncert_path = %s/none.pem\n"
		      "key_path = %s\n"
		      "[certificate b]\ncert_path = %s\nkey_path = %s/none\n"
		      "[certificate c]\ncert_path = %s\nkey_path = %s\n" SITE,
		 dir, k1, c2, dir, k1, c1);
	CHECK(load_files(text, &cfg) == -1);
	CHECK(strstr(diags, "m.ini:5: cannot read certificate") != NULL);
	CHECK(strstr(diags, "m.ini:9: cannot read key") != NULL);
	CHECK(strstr(diags, "m.ini:11: ") != NULL &&
	      strstr(diags, "cannot load certificate chain") != NULL);

	/* A directory is not a file; a cert is not a key. */
	snprintf(text, sizeof(text),
		 BASE "[tls]\nmode = manual\ncert_path = %s\nkey_path = %s\n"
		      SITE, c1, c1);
	CHECK(load_files(text, &cfg) == -1);
	CHECK(strstr(diags, "m.ini:6: ") != NULL &&
	      strstr(diags, "cannot load private key") != NULL);

	/* What the proxy would refuse to start with, --validate refuses
	 * too (one loader, certpair.c): a leaf without a DNS name, a chain
	 * whose second block is malformed, a chain whose key belongs to its
	 * second certificate. */
	{
		char c3[64], k3[64], bad[64], swapped[64];
		FILE *f;

		snprintf(c3, sizeof(c3), "%s/c3.pem", dir);
		snprintf(k3, sizeof(k3), "%s/k3.pem", dir);
		snprintf(bad, sizeof(bad), "%s/bad.pem", dir);
		snprintf(swapped, sizeof(swapped), "%s/sw.pem", dir);
		CHECK(make_pair2(c3, k3, "three.example", 0) == 0);
		snprintf(text, sizeof(text),
			 BASE "[tls]\nmode = manual\ncert_path = %s\n"
			      "key_path = %s\n" SITE, c3, k3);
		CHECK(load_files(text, &cfg) == -1);
		CHECK(strstr(diags, "m.ini:5: ") != NULL &&
		      strstr(diags, "no DNS subjectAltName") != NULL);
		CHECK(concat(bad, c1, c1) == 0);
		f = fopen(bad, "r+");
		CHECK(f != NULL);
		if (f != NULL) {
			/* a byte inside the second block's base64 */
			long at;

			fseek(f, 0, SEEK_END);
			at = ftell(f) - 100;
			fseek(f, at, SEEK_SET);
			fputc('!', f);
			fclose(f);
		}
		snprintf(text, sizeof(text),
			 BASE "[tls]\nmode = manual\ncert_path = %s\n"
			      "key_path = %s\n" SITE, bad, k1);
		CHECK(load_files(text, &cfg) == -1);
		CHECK(strstr(diags, "m.ini:5: ") != NULL &&
		      strstr(diags, "cannot load certificate chain") != NULL);
		CHECK(concat(swapped, c1, c2) == 0);
		snprintf(text, sizeof(text),
			 BASE "[tls]\nmode = manual\ncert_path = %s\n"
			      "key_path = %s\n" SITE, swapped, k2);
		CHECK(load_files(text, &cfg) == -1);
		CHECK(strstr(diags, "m.ini:6: key ") != NULL &&
		      strstr(diags, "does not match certificate") != NULL);
		CHECK(concat(swapped, c1, c2) == 0);
		snprintf(text, sizeof(text),
			 BASE "[tls]\nmode = manual\ncert_path = %s\n"
			      "key_path = %s\n" SITE, swapped, k1);
		CHECK(load_files(text, &cfg) == 0);
		config_free(cfg);
		cfg = NULL;
		unlink(c3);
		unlink(k3);
		unlink(bad);
		unlink(swapped);
	}
	snprintf(text, sizeof(text),
		 BASE "[tls]\nmode = manual\ncert_path = %s\nkey_path = %s\n"
		      SITE, dir, k1);
	CHECK(load_files(text, &cfg) == -1);
	CHECK(strstr(diags, "m.ini:5: cannot read certificate") != NULL &&
	      strstr(diags, "not a regular file") != NULL);

	/* Through config_load_file too. */
	{
		char ini[80];
		FILE *f;

		snprintf(ini, sizeof(ini), "%s/c.ini", dir);
		snprintf(text, sizeof(text),
			 BASE "[tls]\nmode = manual\ncert_path = %s\n"
			      "key_path = %s\n" SITE, c2, k1);
		f = fopen(ini, "w");
		CHECK(f != NULL);
		if (f != NULL) {
			fputs(text, f);
			fclose(f);
		}
		diags[0] = '\0';
		CHECK(config_load_file(ini, 1, collect, NULL, &cfg) == -1);
		CHECK(strstr(diags, "/c.ini:6: key") != NULL);
		CHECK(config_load_file(ini, 0, collect, NULL, &cfg) == 0);
		CHECK(cfg != NULL && strcmp(cfg->path, ini) == 0);
		config_free(cfg);
		cfg = NULL;
		/* A NUL byte in a file is an error on its line. */
		f = fopen(ini, "w");
		CHECK(f != NULL);
		if (f != NULL) {
			fwrite("[server]\nbind_addr = 1.2.3.4\0x\n", 1, 32, f);
			fclose(f);
		}
		diags[0] = '\0';
		CHECK(config_load_file(ini, 0, collect, NULL, &cfg) == -1);
		CHECK(strstr(diags, "/c.ini:2: NUL byte") != NULL);
		unlink(ini);
	}

	unlink(c1);
	unlink(k1);
	unlink(c2);
	unlink(k2);
	rmdir(dir);
}

/* [site] handler = LABEL (issue 18): one of handler and upstream. */
static void test_handler_sites(void)
{
	struct config *cfg = NULL;

	CHECK(load(BASE ACME SITE "[site app.example]\nhandler = app-1.v2_x\n",
		   &cfg) == 0);
	if (cfg != NULL) {
		CHECK(cfg->n_sites == 2);
		CHECK_STR(cfg->sites[1].handler, "app-1.v2_x");
		CHECK(cfg->sites[1].upstream == NULL);
		CHECK(cfg->sites[1].upstream_url == NULL);
		CHECK(cfg->sites[0].handler == NULL);
	}
	config_free(cfg);
	CHECK(fails_with(BASE "[site x.example]\nhandler = app\nupstream = h:1\n",
			 "t.ini:3: [site x.example] has both handler and upstream"));
	CHECK(fails_with(BASE "[site x.example]\nhandler = a b\n",
			 "t.ini:4: invalid handler label 'a b'"));
	CHECK(fails_with(BASE "[site x.example]\nhandler = a/b\n",
			 "t.ini:4: invalid handler label"));
	CHECK(fails_with(BASE "[site x.example]\nhandler = "
			 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
			 "t.ini:4: invalid handler label"));
	CHECK(fails_with(BASE "[site x.example]\nhandler = app\nupstream_scheme = https\n",
			 "t.ini:3: [site x.example] has a handler: upstream_scheme"));
	CHECK(fails_with(BASE "[site x.example]\nhandler = a\nhandler = b\n",
			 "t.ini:5: duplicate key handler"));
}

/* A certificate manager's file (CONFIG_CERTS_ONLY): [tls], [certificate]
 * and [logging] only; no bind_addr, no port 80, no tls-alpn-01. */
static void test_certs_only(void)
{
	struct config *cfg = NULL;
	int rc;

	diags[0] = '\0';
	rc = config_load_string(ACME "[logging]\nlevel = warn\n", "t.ini",
				CONFIG_CERTS_ONLY, collect, NULL, &cfg);
	CHECK(rc == 0);
	CHECK_STR(diags, ""); /* no "no [site]" or "acme_domains" warnings */
	config_free(cfg);
	cfg = NULL;
	diags[0] = '\0';
	rc = config_load_string(BASE ACME SITE, "t.ini", CONFIG_CERTS_ONLY,
				collect, NULL, &cfg);
	CHECK(rc == -1 && cfg == NULL);
	CHECK(strstr(diags, "t.ini:1: [server] is not part of a certificate "
			    "manager's configuration") != NULL);
	CHECK(strstr(diags, "t.ini:6: [site] is not part of") != NULL);
	diags[0] = '\0';
	rc = config_load_string(ACME "acme_challenge = tls-alpn-01\n", "t.ini",
				CONFIG_CERTS_ONLY, collect, NULL, &cfg);
	CHECK(rc == -1);
	CHECK(strstr(diags, "t.ini:4: a certificate manager answers http-01 only") !=
	      NULL);
}

/* [metrics] (issue 19): listen syntax, loopback unless allow_public. */
static void test_metrics(void)
{
	struct config *cfg = NULL;

	CHECK(load(BASE ACME SITE "[metrics]\nlisten = 127.0.0.1:9464\n", &cfg) ==
	      0);
	if (cfg != NULL) {
		CHECK_STR(cfg->metrics_host, "127.0.0.1");
		CHECK(cfg->metrics_port == 9464);
		CHECK(cfg->metrics_allow_public == 0);
	}
	config_free(cfg);
	cfg = NULL;
	CHECK(load(BASE ACME SITE "[metrics]\nlisten = [::1]:0\n", &cfg) == 0);
	if (cfg != NULL) {
		CHECK_STR(cfg->metrics_host, "::1");
		CHECK(cfg->metrics_port == 0);
	}
	config_free(cfg);
	cfg = NULL;
	CHECK(load(BASE ACME SITE "[metrics]\nlisten = 192.0.2.7:9464\n"
				  "allow_public = true\n",
		   &cfg) == 0);
	config_free(cfg);
	cfg = NULL;
	CHECK(load(BASE ACME SITE, &cfg) == 0);
	if (cfg != NULL)
		CHECK(cfg->metrics_host == NULL);
	config_free(cfg);
	CHECK(fails_with(BASE ACME SITE "[metrics]\nlisten = 192.0.2.7:9464\n",
			 "t.ini:9: [metrics] listen 192.0.2.7 is not a loopback "
			 "address; set allow_public = true"));
	CHECK(fails_with(BASE ACME SITE "[metrics]\nlisten = 0.0.0.0:9464\n",
			 "t.ini:9: [metrics] listen 0.0.0.0 is not a loopback"));
	CHECK(fails_with(BASE ACME SITE "[metrics]\nlisten = localhost:9464\n",
			 "t.ini:9: [metrics] listen 'localhost:9464' must be"));
	CHECK(fails_with(BASE ACME SITE "[metrics]\nlisten = 127.0.0.1\n",
			 "t.ini:9: [metrics] listen '127.0.0.1' must be"));
	CHECK(fails_with(BASE ACME SITE "[metrics]\nlisten = 127.0.0.1:70000\n",
			 "t.ini:9: [metrics] listen '127.0.0.1:70000' must be"));
	CHECK(fails_with(BASE ACME SITE "[metrics]\nlisten = ::1:9464\n",
			 "t.ini:9: [metrics] listen '::1:9464' must be"));
	CHECK(fails_with(BASE ACME SITE "[metrics]\nlisten = [127.0.0.1]:9464\n",
			 "t.ini:9: [metrics] listen '[127.0.0.1]:9464' must be"));
	CHECK(fails_with(BASE ACME SITE "[metrics]\nlisten = 127.0.0.1:-1\n",
			 "t.ini:9: [metrics] listen"));
	CHECK(fails_with(BASE ACME SITE "[metrics]\nlisten = 127.0.0.1:80\n",
			 "t.ini:9: [metrics] listen port 80 is also https_port or http_port"));
	CHECK(fails_with(BASE ACME SITE "[metrics]\nport = 1\n",
			 "t.ini:9: unknown key port in [metrics]"));
}

int main(void)
{
	test_metrics();
	test_handler_sites();
	test_certs_only();
	test_defaults();
	test_full();
	test_url_directory();
	test_errors();
	test_collects_all();
	test_warnings();
	test_multiline();
	test_long_line();
	test_odd_input();
	test_normalize();
	test_manual();
	UNIT_DONE();
}
