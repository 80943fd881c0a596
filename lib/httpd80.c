/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * httpd80: the plain HTTP listener (SPEC F7).
 * Owns one libmicrohttpd daemon in poll mode with one internal thread:
 * every request is answered at once from memory (a token, a redirect or
 * an error), so one thread, small pools and short timeouts are enough.
 * Threads: the daemon's thread runs the callbacks below; the main thread
 * starts and stops it; the ACME thread writes the challenge map
 * (challenge.c), which is the only state shared with it (under the map's
 * mutex).
 * The Location header is assembled only from a Host that passed
 * host_normalize and a request-target of printable ASCII, so no
 * client byte can split a header or point the redirect elsewhere.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <microhttpd.h>

#include "acceptor.h"
#include "host.h"
#include "httpd80.h"
#include "listener.h"
#include "log.h"
#include "ppgate.h"
#include "sockact.h"
#include "ratelimit.h"
#include "snapshot.h"
#include "threads.h"

#define HTTPD80_MEMORY (16 * 1024)
#define HTTPD80_TIMEOUT_SECS 10

/* ---- redirect target ---- */

static int target_char_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

int httpd80_location(const char *host, size_t host_len, const char *target,
		     unsigned https_port, char *out, size_t outsz)
{
	char name[256], port[8] = "";
	const char *path = target;
	size_t i, tl;
	int n;

	if (target == NULL)
		return -1;
	tl = strlen(target);
	if (tl == 0 || tl > HTTPD80_MAX_TARGET)
		return -1;
	for (i = 0; i < tl; i++)
		if (!target_char_ok((unsigned char)target[i]))
			return -1;
	/* absolute-form names the host itself and wins over Host (F1). */
	if (strncasecmp(target, "http://", 7) == 0 ||
	    strncasecmp(target, "https://", 8) == 0) {
		const char *auth = strchr(target, ':') + 3;

		path = auth + strcspn(auth, "/?#");
		host = auth;
		host_len = (size_t)(path - auth);
	} else if (target[0] != '/') {
		return -1; /* authority-form, asterisk-form, garbage */
	}
	if (host == NULL ||
	    host_normalize(host, host_len, name, sizeof(name)) != 0)
		return -1;
	if (https_port != 443)
		snprintf(port, sizeof(port), ":%u", https_port);
	n = snprintf(out, outsz, "https://%s%s%s%s", name, port,
		     path[0] == '/' ? "" : "/", path);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/* ---- the daemon ---- */

struct httpd80 {
	struct MHD_Daemon *d;
	struct acceptor *acc;
	const struct config *cfg;
	struct listener *l;
	struct challenge_map *map;
	unsigned https_port;
	unsigned port;
};

struct req80 {
	int too_long;
	char target[];
};

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	size_t n = uri != NULL ? strlen(uri) : 0;
	struct req80 *r;

	(void)cls;
	(void)conn;
	if (n > HTTPD80_MAX_TARGET) {
		r = calloc(1, sizeof(*r) + 1);
		if (r != NULL)
			r->too_long = 1;
		return r;
	}
	r = calloc(1, sizeof(*r) + n + 1);
	if (r != NULL && n > 0)
		memcpy(r->target, uri, n);
	return r;
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct httpd80 *h = cls;

	(void)toe;
	/* The next head on a kept-alive connection has a deadline too. */
	listener_head_expect(h->l, conn, HTTPD80_TIMEOUT_SECS);
	free(*req_cls);
	*req_cls = NULL;
}

static enum MHD_Result count_hosts(void *cls, enum MHD_ValueKind kind,
				   const char *key, const char *value)
{
	unsigned *n = cls;

	(void)kind;
	(void)value;
	if (strcasecmp(key, "Host") == 0)
		(*n)++;
	return MHD_YES;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
			     const char *body, const char *ctype,
			     const char *location)
{
	struct MHD_Response *resp;
	enum MHD_Result r;

	resp = MHD_create_response_from_buffer(
		strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	if (MHD_add_response_header(resp, "Content-Type", ctype) != MHD_YES ||
	    (location != NULL &&
	     MHD_add_response_header(resp, "Location", location) != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

/* SPEC F15: port 80 takes tokens from the same per-address buckets as
 * HTTPS, so redirects cannot be used to flood; refusals are logged as
 * RATE_LIMIT like proxy.c's, for the same fail2ban filter. */
static int rate_allowed(struct httpd80 *h, const struct sockaddr *peer,
			const char *ip, const char *host, const char *path)
{
	struct snapshot *snap = listener_snapshot(h->l);
	int ok;

	ok = ratelimit_allow(h->l->rl, peer,
			     snap->cfg->rl_requests_per_second,
			     snap->cfg->rl_burst, ratelimit_now_ms());
	snapshot_put(snap);
	if (ok)
		return 1;
	ratelimit_log_refusal(peer, ip, host, path, "http");
	return 0;
}

static const char text_plain[] = "text/plain; charset=utf-8";

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
			      const char *url, const char *method,
			      const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_cls)
{
	struct httpd80 *h = cls;
	struct req80 *r = *req_cls;
	char loc[HTTPD80_MAX_TARGET + 300], ip[64], code[8], p[512];
	struct sockaddr_storage peer;
	const char *host, *tok;
	unsigned status, nhosts = 0;
	enum MHD_Result res;
	size_t pl;
	int challenge, health;

	(void)url;
	(void)version;
	(void)upload_data;
	listener_head_complete(conn);
	if (r == NULL)
		return MHD_NO;
	/* Bodies are not wanted here: answer at once, drop what was sent. */
	*upload_data_size = 0;
	listener_conn_peer(conn, &peer);
	log_format_ip((const struct sockaddr *)&peer, ip, sizeof(ip));
	host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	/* The query string is never logged (F9). */
	pl = r->too_long ? 1 : strcspn(r->target, "?");
	if (pl >= sizeof(p))
		pl = sizeof(p) - 1;
	memcpy(p, r->too_long ? "-" : r->target, pl);
	p[pl] = '\0';
	tok = r->too_long ? NULL : challenge_token(r->target);
	challenge = tok != NULL;

	health = !r->too_long && !challenge &&
		 (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		 ? (strcmp(p, "/health") == 0		? 1
		    : strcmp(p, "/health/ready") == 0 ? 2
							: 0)
		 : 0;
	if (health != 0) {
		/* as on HTTPS (proxy.c): for balancers and monitors, before
		 * the rate limit; ready: the listener's hook says */
		const char *why = health == 2 && h->l->unready != NULL
					  ? h->l->unready(h->l->unready_ud)
					  : NULL;

		status = why == NULL ? 200 : 503;
		res = reply(conn, status, why == NULL ? "OK\n" : why,
			    text_plain, NULL);
	} else if (!challenge &&
	    !rate_allowed(h, (const struct sockaddr *)&peer, ip, host, p)) {
		status = 429;
		res = reply(conn, status, "Too Many Requests", text_plain,
			    NULL);
	} else if (r->too_long) {
		status = 414;
		res = reply(conn, status, "URI Too Long", text_plain, NULL);
	} else if (challenge) {
		char ka[512];

		if (challenge_map_get(h->map, tok, strcspn(tok, "?"), ka,
				      sizeof(ka)) == 0) {
			status = 200;
			res = reply(conn, status, ka, "text/plain", NULL);
		} else {
			status = 404;
			res = reply(conn, status, "Not Found", text_plain,
				    NULL);
		}
	} else {
		MHD_get_connection_values(conn, MHD_HEADER_KIND, count_hosts,
					  &nhosts);
		if (nhosts > 1 ||
		    httpd80_location(host, host != NULL ? strlen(host) : 0,
				     r->target, h->https_port, loc,
				     sizeof(loc)) != 0) {
			status = 400;
			res = reply(conn, status, "Bad Request", text_plain,
				    NULL);
		} else {
			status = 301;
			res = reply(conn, status, "Moved Permanently",
				    text_plain, loc);
		}
	}
	snprintf(code, sizeof(code), "%u", status);
	log_event(LOG_LEVEL_INFO, "REQUEST", "client_ip", ip, "host", host,
		  "method", method, "path", p, "status", code, "proto", "http",
		  LOG_END);
	return res;
}

static void kick80(void *ud)
{
	struct httpd80 *h = ud;

	acceptor_kick(h->acc);
}

int httpd80_start(const struct config *cfg, struct listener *l,
		  struct challenge_map *map, unsigned https_port,
		  struct httpd80 **out, char *err, size_t errsz)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct httpd80 *h;
	struct ppgate *gate = NULL;
	unsigned flags;
	sigset_t mask;
	char addr[80];
	int v6, lfd, inherited;

	*out = NULL;
	if (acceptor_parse_addr(cfg->bind_addr, cfg->http_port, &ss, &sslen,
				&v6) != 0) {
		snprintf(err, errsz, "bind_addr %s is not an IP address",
			 cfg->bind_addr);
		return -1;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	h->cfg = cfg;
	h->l = l;
	/* Closing connections of this listener kick its accept loop; they
	 * all close in httpd80_stop before the loop is freed. */
	l->kick = kick80;
	l->kick_ud = h;
	h->map = map;
	h->https_port = https_port;
	lfd = sockact_listen("http", (struct sockaddr *)&ss, sslen, 256,
			     &inherited);
	if (lfd < 0) {
		snprintf(err, errsz, "cannot listen on %s port %u: %s",
			 cfg->bind_addr, cfg->http_port, strerror(errno));
		free(h);
		return -1;
	}
	/* Accepted by our own loop, like the HTTPS listener (acceptor.c). */
	flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
		MHD_USE_NO_LISTEN_SOCKET;
	if (v6)
		flags |= MHD_USE_IPv6;
	/* libmicrohttpd's internal thread inherits our mask: all blocked */
	threads_block(&mask);
	h->d = MHD_start_daemon(
		flags, 0, listener_accept_policy, l, handle, h,
		MHD_OPTION_EXTERNAL_LOGGER, log_mhd, "http",
		/* above the acceptor's budget (conns.c), which rules */
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTPD80_MAX_CONNS + 16,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTPD80_TIMEOUT_SECS,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTPD80_MEMORY,
		MHD_OPTION_URI_LOG_CALLBACK, uri_log, h,
		MHD_OPTION_NOTIFY_COMPLETED, completed, h,
		MHD_OPTION_NOTIFY_CONNECTION, listener_notify_connection, l,
		LISTENER_MHD_DISCIPLINE, MHD_OPTION_END);
	threads_unblock(&mask);
	h->port = acceptor_port(lfd);
	if (h->d != NULL && cfg->n_proxy_from > 0)
		gate = ppgate_new(cfg->proxy_from, cfg->n_proxy_from,
				  cfg->header_timeout_secs, "http", l->conns,
				  acceptor_add_mhd, h->d);
	if (h->d == NULL || (cfg->n_proxy_from > 0 && gate == NULL) ||
	    acceptor_start(lfd, acceptor_add_mhd, h->d, "http", l->conns,
			   gate, &h->acc) != 0) {
		snprintf(err, errsz, "cannot start the HTTP listener on %s port %u",
			 cfg->bind_addr, cfg->http_port);
		if (h->d == NULL || (cfg->n_proxy_from > 0 && gate == NULL))
			close(lfd);
		if (h->d != NULL)
			MHD_stop_daemon(h->d);
		free(h);
		return -1;
	}
	snprintf(addr, sizeof(addr), v6 ? "[%s]:%u" : "%s:%u", cfg->bind_addr,
		 h->port);
	log_event(LOG_LEVEL_INFO, "LISTENING", "proto", "http", "addr", addr,
		  LOG_END);
	*out = h;
	return 0;
}

unsigned httpd80_port(const struct httpd80 *h)
{
	return h != NULL ? h->port : 0;
}

void httpd80_kick(struct httpd80 *h)
{
	if (h != NULL)
		acceptor_kick(h->acc);
}

void httpd80_stop_accepting(struct httpd80 *h)
{
	if (h != NULL)
		acceptor_stop(h->acc);
}

void httpd80_stop(struct httpd80 *h)
{
	if (h == NULL)
		return;
	acceptor_stop(h->acc);
	MHD_stop_daemon(h->d);
	acceptor_free(h->acc);
	free(h);
}
