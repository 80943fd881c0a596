/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * server: owns one proxy instance — the HTTPS libmicrohttpd daemon (poll
 * mode thread pool), the upstream threads, the SNI certificate store and
 * the current config snapshot. Called from the main (embedding) thread;
 * server_snapshot() and server_pick_upstream() from MHD workers.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "ap_autoconf.h"
#include "log.h"
#include "proxy.h"
#include "server.h"
#include "tls.h"
#include "upstream.h"

/* Small per-connection pools: MHD clears the whole pool on every
 * keep-alive request, and it also bounds the request head size. */
#define CONNECTION_MEMORY (32 * 1024)

struct server {
	struct config *cfg; /* static part: the config the server started with */
	pthread_mutex_t snap_mu;
	struct snapshot *snap;
	struct tls_store *tls;
	struct upstream_pool *ups;
	struct MHD_Daemon *https;
	unsigned https_port;
	atomic_int stopping;
};

static struct snapshot *snapshot_new(struct config *cfg)
{
	struct snapshot *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	atomic_init(&s->refs, 1);
	s->cfg = cfg;
	return s;
}

void snapshot_put(struct snapshot *s)
{
	if (s != NULL && atomic_fetch_sub(&s->refs, 1) == 1) {
		config_free(s->cfg);
		free(s);
	}
}

struct snapshot *server_snapshot(struct server *srv)
{
	struct snapshot *s;

	pthread_mutex_lock(&srv->snap_mu);
	s = srv->snap;
	atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&srv->snap_mu);
	return s;
}

int server_stopping(const struct server *srv)
{
	return atomic_load(&srv->stopping);
}

struct upstream *server_pick_upstream(struct server *srv)
{
	return upstream_pick(srv->ups);
}

unsigned server_https_port(const struct server *srv)
{
	return srv->https_port;
}

int server_create(struct config *cfg, struct server **out, char *err,
		  size_t errsz)
{
	struct server *srv;
	struct tls_bundle *b = NULL;

	*out = NULL;
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		config_free(cfg);
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	pthread_mutex_init(&srv->snap_mu, NULL);
	srv->cfg = cfg;
	srv->snap = snapshot_new(cfg);
	srv->tls = tls_store_new();
	if (srv->snap == NULL || srv->tls == NULL) {
		if (srv->snap == NULL)
			config_free(cfg);
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	if (cfg->tls_mode == CONFIG_TLS_MANUAL) {
		if (tls_bundle_load(cfg, &b, err, errsz) != 0)
			goto fail;
		tls_store_set(srv->tls, b);
	}
	*out = srv;
	return 0;
fail:
	server_free(srv);
	return -1;
}

static void mhd_log(void *cls, const char *fm, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fm, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_event(LOG_LEVEL_DEBUG, "HTTPD", "message", msg, NULL);
}

static int parse_bind(const char *addr, unsigned port,
		      struct sockaddr_storage *ss, int *v6)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	char buf[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(addr);

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*v6 = 0;
		return 0;
	}
	if (addr[0] == '[' && len > 2 && len < sizeof(buf) &&
	    addr[len - 1] == ']') {
		memcpy(buf, addr + 1, len - 2);
		buf[len - 2] = '\0';
		addr = buf;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*v6 = 1;
		return 0;
	}
	return -1;
}

int server_start(struct server *srv, char *err, size_t errsz)
{
	const struct config *cfg = srv->cfg;
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *di;
	unsigned flags;
	char portbuf[64];
	int v6;

	if (parse_bind(cfg->bind_addr, cfg->https_port, &ss, &v6) != 0) {
		snprintf(err, errsz, "bind_addr %s is not an IP address",
			 cfg->bind_addr);
		return -1;
	}
	{
		char w[16], n[16];

		snprintf(w, sizeof(w), "%u", cfg->workers);
		snprintf(n, sizeof(n), "%zu", cfg->n_sites);
		log_event(LOG_LEVEL_INFO, "STARTUP", "version",
			  PACKAGE_VERSION, "revision", SOURCE_REVISION,
			  "workers", w, "sites", n, "tls_mode",
			  cfg->tls_mode == CONFIG_TLS_MANUAL ? "manual" : "acme",
			  NULL);
	}
	if (upstream_pool_start(cfg->workers, &srv->ups) != 0) {
		snprintf(err, errsz, "cannot start upstream threads");
		return -1;
	}
	flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_TLS |
		MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (v6)
		flags |= MHD_USE_IPv6;
	srv->https = MHD_start_daemon(
		flags, 0, NULL, NULL, proxy_access, srv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->workers,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout_secs,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024U,
		MHD_OPTION_HTTPS_PRIORITIES, tls_priorities,
		MHD_OPTION_HTTPS_CERT_CALLBACK, tls_cert_callback,
		MHD_OPTION_URI_LOG_CALLBACK, proxy_uri_log, srv,
		MHD_OPTION_NOTIFY_COMPLETED, proxy_completed, srv,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
		MHD_OPTION_STRICT_FOR_CLIENT, 1,
		MHD_OPTION_END);
	if (srv->https == NULL) {
		snprintf(err, errsz, "cannot listen on %s port %u",
			 cfg->bind_addr, cfg->https_port);
		upstream_pool_stop(srv->ups);
		srv->ups = NULL;
		return -1;
	}
	di = MHD_get_daemon_info(srv->https, MHD_DAEMON_INFO_BIND_PORT);
	srv->https_port = di != NULL ? di->port : cfg->https_port;
	tls_store_register(srv->tls, srv->https_port);
	snprintf(portbuf, sizeof(portbuf), v6 ? "[%s]:%u" : "%s:%u",
		 cfg->bind_addr, srv->https_port);
	log_event(LOG_LEVEL_INFO, "LISTENING", "proto", "https", "addr",
		  portbuf, NULL);
	return 0;
}

void server_stop(struct server *srv)
{
	if (srv == NULL || srv->https == NULL)
		return;
	atomic_store(&srv->stopping, 1);
	/* Every suspended connection must be resumed before MHD stops:
	 * aborting the transfers resumes each one. */
	upstream_pool_abort_all(srv->ups);
	while (upstream_pool_active(srv->ups) > 0) {
		struct timespec ts = {0, 10 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(srv->https);
	srv->https = NULL;
	upstream_pool_stop(srv->ups);
	srv->ups = NULL;
	log_event(LOG_LEVEL_INFO, "SHUTDOWN", "status", "stopped", NULL);
}

void server_free(struct server *srv)
{
	if (srv == NULL)
		return;
	server_stop(srv);
	snapshot_put(srv->snap);
	tls_store_free(srv->tls);
	pthread_mutex_destroy(&srv->snap_mu);
	free(srv);
}
