/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Fuzz target: routing by Host. The input is a Host header value (or, when
 * it starts with http:// or https://, an absolute-form request-target) from
 * any client; it goes through the same steps as proxy.c: absolute-form
 * authority, host_normalize into a 256-byte buffer, router_find_site
 * over a fixed configuration with several sites. Properties: a normalized
 * host is lower-case ASCII without port or trailing dot, normalizing it
 * again is the identity, and a site is found only for its exact name.
 * The same bytes as a request-target go through headers_request_line
 * (check_request_line states its properties).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "headers.h"
#include "host.h"
#include "router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char conf[] = "[server]\n"
			   "bind_addr = 127.0.0.1\n"
			   "[tls]\n"
			   "mode = manual\n"
			   "cert_path = /nonexistent/cert.pem\n"
			   "key_path = /nonexistent/key.pem\n"
			   "[site alk.dev]\n"
			   "upstream = 127.0.0.1:8080\n"
			   "[site git.alk.dev]\n"
			   "upstream = [::1]:3000\n"
			   "[site xn--bcher-kva.example]\n"
			   "upstream = 127.0.0.1:8081\n"
			   "[site a_b.example]\n"
			   "upstream = 127.0.0.1:8082\n"
			   "[site localhost]\n"
			   "upstream = 127.0.0.1:8083\n";

static struct config *cfg;

static void load_once(void)
{
	if (cfg != NULL)
		return;
	if (config_load_string(conf, "route.ini", 0, NULL, NULL, &cfg) != 0 ||
	    cfg->n_sites < 5) {
		fprintf(stderr, "fuzz_route: fixed configuration rejected\n");
		abort();
	}
}

static void check_host(const char *h, size_t hlen)
{
	char host[256], again[256], upper[256];
	const struct config_site *site;
	size_t n, i;

	/* fuzz/corpus/route/nul-in-brackets: "[::1\0\n]" was accepted
	 * (inet_pton stopped at the NUL) and normalized to "[::1" */
	if (host_normalize(h, hlen, host, sizeof(host)) != 0)
		return;
	n = strlen(host);
	if (n == 0 || n >= sizeof(host) || host[n - 1] == '.')
		abort();
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)host[i];

		if (c <= 0x20 || c >= 0x7f || (c >= 'A' && c <= 'Z'))
			abort();
		if (c == ':' && host[0] != '[')
			abort(); /* a port survived */
	}
	if (host_normalize(host, n, again, sizeof(again)) != 0 ||
	    strcmp(host, again) != 0)
		abort();
	/* Host names are case-insensitive: upper case routes the same. */
	for (i = 0; i < n; i++)
		upper[i] = (char)(host[i] >= 'a' && host[i] <= 'z' ?
					  host[i] - 'a' + 'A' :
					  host[i]);
	if (host_normalize(upper, n, again, sizeof(again)) != 0 ||
	    strcmp(host, again) != 0)
		abort();
	site = router_find_site(cfg, host);
	if (site != NULL && strcmp(site->host, host) != 0)
		abort();
	for (i = 0; i < cfg->n_sites; i++)
		if (strcmp(cfg->sites[i].host, host) == 0 && site == NULL)
			abort();
}

/* headers_request_line on the target with a few methods: a valid target
 * is visible ASCII without '#', and its parts point into it: origin-form
 * starts with '/', absolute-form has a non-empty authority without '@'
 * and an origin part right after it, '*' only for OPTIONS; CONNECT is
 * always refused. */
static void check_request_line(const char *target)
{
	static const char *const methods[] = {"GET", "OPTIONS", "CONNECT",
					      "G\x01T", ""};
	size_t i, tlen = strlen(target);

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		struct headers_target t;
		const char *err = headers_request_line(methods[i], target, &t);
		const char *c;

		if (i >= 2) {
			if (err == NULL)
				abort();
			continue;
		}
		if (err != NULL)
			continue;
		for (c = target; *c != '\0'; c++)
			if ((unsigned char)*c <= 0x20 ||
			    (unsigned char)*c >= 0x7f || *c == '#')
				abort();
		if (t.origin < target || t.origin > target + tlen)
			abort();
		switch (t.kind) {
		case HEADERS_TARGET_ORIGIN:
			if (t.origin != target || target[0] != '/')
				abort();
			break;
		case HEADERS_TARGET_ASTERISK:
			if (strcmp(target, "*") != 0 || i != 1)
				abort();
			break;
		case HEADERS_TARGET_ABSOLUTE:
			if (t.authority_len == 0 ||
			    memchr(t.authority, '@', t.authority_len) != NULL ||
			    t.origin != t.authority + t.authority_len ||
			    t.origin_needs_slash != (t.origin[0] != '/'))
				abort();
			break;
		default:
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *target;
	const char *h;
	size_t hlen;

	load_once();
	check_host((const char *)data, size);
	/* As a request-target: MHD hands it over NUL-terminated. */
	target = malloc(size + 1);
	if (target == NULL)
		return 0;
	memcpy(target, data, size);
	target[size] = '\0';
	if (headers_absolute_host(target, &h, &hlen)) {
		if (h < target || h + hlen > target + size)
			abort();
		check_host(h, hlen);
	}
	check_request_line(target);
	free(target);
	return 0;
}
