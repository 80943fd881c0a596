/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * server: owns one proxy instance — the HTTPS workers (per worker thread
 * one libmicrohttpd daemon in external epoll mode and one curl multi),
 * the acceptor, the SNI certificate store and the current config
 * snapshot (a snapshot.h cell). Called from the main (embedding) thread;
 * server_snapshot() and the connection hooks from the workers.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "acceptor.h"
#include "acme.h"
#include "conns.h"
#include "ap_autoconf.h"
#include "httpd80.h"
#include "log.h"
#include "proxy.h"
#include "ratelimit.h"
#include "server.h"
#include "snapshot.h"
#include "tls.h"
#include "upstream.h"
#include "worker.h"

/* Small per-connection pools: MHD clears the whole pool on every
 * keep-alive request, and it also bounds the request head size. */
#define CONNECTION_MEMORY (32 * 1024)

struct server {
	struct config *cfg; /* static part: the config the server started with */
	struct snapshot *static_snap; /* keeps cfg alive across reloads */
	struct snapshot_cell snap;    /* the current dynamic config */
	struct tls_store *tls;
	/* the HTTPS side: per worker thread (worker.c) one daemon in
	 * external epoll mode, one curl multi (upstream.c) and the context
	 * its request callbacks get; connections handed round-robin by the
	 * acceptor */
	unsigned n_workers;
	struct MHD_Daemon **https_d;
	struct worker **workers;
	struct upstream **ups;
	struct proxy_ctx *ctx;
	atomic_uint next_worker;
	int running; /* between a successful start and stop */
	unsigned https_port;
	atomic_int stopping;
	/* requests between the URI callback and NOTIFY_COMPLETED */
	atomic_int in_flight;
	/* open client connections, so shutdown can close the idle ones */
	pthread_mutex_t conns_mu;
	struct conn_track *conns;
	/* admission budgets of the two listeners (SPEC F15): HTTPS has
	 * max_connections slots, port 80 its own HTTPD80_MAX_CONNS */
	struct server_listener https_l, http_l;
	struct acceptor *https_acc; /* accept loop of the HTTPS listener */
	/* the static-change warning last given, to give it once */
	char *static_warned;
	/* ACME + plain HTTP (issue 3): the port-80 listener, the client
	 * thread, and the challenge tokens they share */
	struct challenge_map *challenges;
	struct httpd80 *http;
	struct acme *acme;
	/* rate limiting (issue 4): the bucket table shared by the MHD
	 * workers, and the thread that evicts idle buckets */
	struct ratelimit *rl;
	struct ratelimit_housekeeper *rl_hk;
	/* request-head deadlines (slowloris): the thread that closes
	 * connections whose head did not arrive in time */
	pthread_t reaper;
	int reaper_running;
	int reaper_stop;
	pthread_mutex_t reaper_mu;
	pthread_cond_t reaper_cv;
};

static long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

struct snapshot *server_snapshot(struct server *srv)
{
	return snapshot_cell_get(&srv->snap);
}

int server_stopping(const struct server *srv)
{
	return atomic_load(&srv->stopping);
}

unsigned server_http_port(const struct server *srv)
{
	return srv->http != NULL ? httpd80_port(srv->http) : 0;
}

unsigned server_https_port(const struct server *srv)
{
	return srv->https_port;
}

/* ---- rate limiting (issue 4) ---- */

struct ratelimit *server_ratelimit(struct server *srv)
{
	return srv->rl;
}

/* Housekeeping thread: eviction settings of the current snapshot, so a
 * reload changes them. */
static void rl_settings(void *ud, unsigned *interval_secs, unsigned *age_secs)
{
	struct snapshot *s = server_snapshot(ud);

	*interval_secs = s->cfg->rl_eviction_interval_secs;
	*age_secs = s->cfg->rl_eviction_age_secs;
	snapshot_put(s);
}

int server_create(struct config *cfg, struct server **out, char *err,
		  size_t errsz)
{
	struct server *srv;
	struct tls_bundle *b = NULL;
	struct snapshot *s;

	*out = NULL;
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		config_free(cfg);
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	snapshot_cell_init(&srv->snap, NULL);
	pthread_mutex_init(&srv->conns_mu, NULL);
	pthread_mutex_init(&srv->reaper_mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&srv->reaper_cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	srv->cfg = cfg;
	s = snapshot_new(cfg);
	if (s != NULL) {
		srv->static_snap = snapshot_ref(s);
		snapshot_cell_set(&srv->snap, s);
	}
	srv->tls = tls_store_new();
	/* A handshake cannot outlive its connection's head deadline (the
	 * reaper cuts it): replaced certificates are freed after that. */
	if (srv->tls != NULL)
		tls_store_set_grace(srv->tls, cfg->tls_handshake_timeout_secs +
						      cfg->header_timeout_secs +
						      10);
	srv->challenges = challenge_map_new();
	if (s == NULL || srv->tls == NULL || srv->challenges == NULL) {
		if (s == NULL)
			config_free(cfg);
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	if (cfg->session_tickets && tls_store_enable_tickets(srv->tls) != 0) {
		snprintf(err, errsz, "cannot make the TLS session ticket key");
		goto fail;
	}
	srv->rl = ratelimit_new(RATELIMIT_DEFAULT_MAX_ENTRIES);
	srv->https_l.srv = srv;
	srv->https_l.conns = conns_new("https", cfg->max_connections, 0);
	srv->http_l.srv = srv;
	srv->http_l.conns = conns_new("http", HTTPD80_MAX_CONNS,
				      HTTPD80_MAX_CONNS_PER_IP);
	if (srv->rl == NULL || srv->https_l.conns == NULL ||
	    srv->http_l.conns == NULL) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	conns_set_per_ip(srv->https_l.conns, cfg->max_connections_per_ip);
	conns_set_per_ip(srv->http_l.conns, cfg->max_connections_per_ip);
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

/* ---- connection accounting (every listener) ---- */

/* One per open client connection (MHD's socket context): busy while a
 * request is in progress. The list is touched when connections open and
 * close; busy and deadline are atomics its worker sets without the lock.
 * deadline (CLOCK_MONOTONIC ms, 0 = none) is when the connection is cut
 * unless a complete request head has arrived: libmicrohttpd's timeout is
 * one of inactivity, reset by every byte, so a head dribbled a byte at a
 * time would otherwise hold the connection for ever. */
struct conn_track {
	int fd;
	atomic_int busy;
	atomic_long deadline;
	struct sockaddr_storage addr; /* the client, for the log */
	struct conn_track *prev, *next;
};

enum MHD_Result server_accept_policy(void *cls, const struct sockaddr *addr,
				     socklen_t addrlen)
{
	const struct server_listener *l = cls;

	(void)addr;
	(void)addrlen;
	/* The budgets are enforced by the acceptors (conns_admit). */
	return atomic_load(&l->srv->stopping) ? MHD_NO : MHD_YES;
}

/* The client address of conn, copied at once: libmicrohttpd 1.0 reuses
 * one result buffer for every MHD_get_connection_info() call. */
void server_conn_peer(struct MHD_Connection *conn, struct sockaddr_storage *ss)
{
	const union MHD_ConnectionInfo *ai =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	memset(ss, 0, sizeof(*ss));
	ss->ss_family = AF_UNSPEC;
	if (ai == NULL || ai->client_addr == NULL)
		return;
	if (ai->client_addr->sa_family == AF_INET)
		memcpy(ss, ai->client_addr, sizeof(struct sockaddr_in));
	else if (ai->client_addr->sa_family == AF_INET6)
		memcpy(ss, ai->client_addr, sizeof(struct sockaddr_in6));
}

void server_notify_connection(void *cls, struct MHD_Connection *conn,
			      void **socket_context,
			      enum MHD_ConnectionNotificationCode toe)
{
	struct server_listener *l = cls;
	struct server *srv = l->srv;
	const struct config *cfg = srv->cfg;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		unsigned t = cfg->tls_handshake_timeout_secs;
		const union MHD_ConnectionInfo *ci;
		struct conn_track *ct = calloc(1, sizeof(*ct));
		gnutls_session_t session = NULL;
		int fd = -1;

		/* Each result is copied before the next call: libmicrohttpd
		 * 1.0 reuses one buffer for all of them. */
		ci = MHD_get_connection_info(conn,
					     MHD_CONNECTION_INFO_GNUTLS_SESSION);
		if (ci != NULL)
			session = ci->tls_session;
		ci = MHD_get_connection_info(conn,
					     MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci != NULL)
			fd = ci->connect_fd;
		/* The session exists, its handshake has not started (it runs
		 * on this thread once bytes arrive). */
		if (session != NULL) {
			tls_session_setup(session);
			worker_track(conn, session, fd);
		}

		/* The slot was taken by the acceptor (conns_admit). */
		if (ct != NULL && fd >= 0) {
			ct->fd = fd;
			server_conn_peer(conn, &ct->addr);
			/* The handshake and the first head must be done
			 * in this time, however slowly the bytes come. */
			atomic_init(&ct->deadline,
				    mono_ms() +
					    1000L * (long)(t +
							   cfg->header_timeout_secs));
			pthread_mutex_lock(&srv->conns_mu);
			ct->next = srv->conns;
			if (srv->conns != NULL)
				srv->conns->prev = ct;
			srv->conns = ct;
			pthread_mutex_unlock(&srv->conns_mu);
			*socket_context = ct;
		} else {
			free(ct);
		}
		/* Until its first request a connection gets the (shorter)
		 * handshake timeout; proxy_uri_log switches to the idle one. */
		if (t > cfg->idle_timeout_secs)
			t = cfg->idle_timeout_secs;
		MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, t);
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		struct conn_track *ct = *socket_context;
		struct sockaddr_storage peer;
		const union MHD_ConnectionInfo *ci;

		if (ct != NULL) {
			worker_untrack(ct->fd);
			peer = ct->addr;
		} else {
			ci = MHD_get_connection_info(
				conn, MHD_CONNECTION_INFO_CONNECTION_FD);
			if (ci != NULL)
				worker_untrack(ci->connect_fd);
			server_conn_peer(conn, &peer);
		}
		conns_release(l->conns, (const struct sockaddr *)&peer);
		acceptor_kick(srv->https_acc);
		httpd80_kick(srv->http);
		if (ct != NULL) {
			pthread_mutex_lock(&srv->conns_mu);
			if (ct->prev != NULL)
				ct->prev->next = ct->next;
			else
				srv->conns = ct->next;
			if (ct->next != NULL)
				ct->next->prev = ct->prev;
			pthread_mutex_unlock(&srv->conns_mu);
			free(ct);
			*socket_context = NULL;
		}
	}
}

static struct conn_track *conn_track_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

void server_request_begin(struct server *srv, struct MHD_Connection *conn)
{
	struct conn_track *ct = conn_track_of(conn);

	if (ct != NULL) {
		atomic_store(&ct->busy, 1);
		worker_served(ct->fd);
	}
	atomic_fetch_add(&srv->in_flight, 1);
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
				  srv->cfg->idle_timeout_secs);
}

void server_request_end(struct server *srv, struct MHD_Connection *conn)
{
	struct conn_track *ct = conn_track_of(conn);

	if (ct != NULL) {
		atomic_store(&ct->busy, 0);
		server_head_expect(srv, conn, srv->cfg->idle_timeout_secs);
	}
	atomic_fetch_sub(&srv->in_flight, 1);
}

void server_head_expect(struct server *srv, struct MHD_Connection *conn,
			unsigned wait_secs)
{
	struct conn_track *ct = conn_track_of(conn);

	if (ct != NULL)
		atomic_store(&ct->deadline,
			     mono_ms() +
				     1000L * (long)(wait_secs +
						    srv->cfg->header_timeout_secs));
}

void server_head_complete(struct MHD_Connection *conn)
{
	struct conn_track *ct = conn_track_of(conn);

	if (ct != NULL)
		atomic_store(&ct->deadline, 0);
}

/* Shutdown: idle keep-alive connections (and handshakes that never sent a
 * request) are closed now rather than held for the drain. shutdown(2)
 * makes MHD's next read see the end and close the connection itself. */
static void close_idle_connections(struct server *srv)
{
	struct conn_track *ct;

	pthread_mutex_lock(&srv->conns_mu);
	for (ct = srv->conns; ct != NULL; ct = ct->next)
		if (!atomic_load(&ct->busy))
			shutdown(ct->fd, SHUT_RDWR);
	pthread_mutex_unlock(&srv->conns_mu);
}

/* ---- request-head deadlines (slowloris) ---- */

#define REAPER_TICK_MS 250
#define REAPER_BATCH 128 /* connections cut per pass of the lock */

struct reaped {
	char ip[INET6_ADDRSTRLEN];
};

/* Cut connections past their head deadline: shutdown(2) makes the worker's
 * next read see the end, and the worker closes the connection itself (the
 * descriptor stays MHD's). Returns how many were cut; at most
 * REAPER_BATCH per call so the list lock is held briefly, and logged
 * after it is released. */
static unsigned reap_expired(struct server *srv, long now)
{
	struct reaped cut[REAPER_BATCH];
	struct conn_track *ct;
	unsigned n = 0, i;

	pthread_mutex_lock(&srv->conns_mu);
	for (ct = srv->conns; ct != NULL && n < REAPER_BATCH; ct = ct->next) {
		long d = atomic_load(&ct->deadline);

		if (d == 0 || now < d)
			continue;
		atomic_store(&ct->deadline, 0);
		shutdown(ct->fd, SHUT_RDWR);
		log_format_ip((const struct sockaddr *)&ct->addr, cut[n].ip,
			      sizeof(cut[n].ip));
		n++;
	}
	pthread_mutex_unlock(&srv->conns_mu);
	for (i = 0; i < n; i++)
		log_event(LOG_LEVEL_WARN, "HEAD_TIMEOUT", "client_ip",
			  cut[i].ip, "action", "connection closed", LOG_END);
	return n;
}

static void *reaper_main(void *arg)
{
	struct server *srv = arg;

	pthread_mutex_lock(&srv->reaper_mu);
	while (!srv->reaper_stop) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += REAPER_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&srv->reaper_cv, &srv->reaper_mu, &ts);
		if (srv->reaper_stop)
			break;
		pthread_mutex_unlock(&srv->reaper_mu);
		while (reap_expired(srv, mono_ms()) == REAPER_BATCH)
			;
		pthread_mutex_lock(&srv->reaper_mu);
	}
	pthread_mutex_unlock(&srv->reaper_mu);
	return NULL;
}

static int reaper_start(struct server *srv)
{
	srv->reaper_stop = 0;
	if (pthread_create(&srv->reaper, NULL, reaper_main, srv) != 0)
		return -1;
	srv->reaper_running = 1;
	return 0;
}

static void reaper_stop(struct server *srv)
{
	if (!srv->reaper_running)
		return;
	pthread_mutex_lock(&srv->reaper_mu);
	srv->reaper_stop = 1;
	pthread_cond_signal(&srv->reaper_cv);
	pthread_mutex_unlock(&srv->reaper_mu);
	pthread_join(srv->reaper, NULL);
	srv->reaper_running = 0;
}

/* ---- plain HTTP listener and ACME client (issue 3) ---- */

/* After the HTTPS daemon is up: the port-80 listener (both TLS modes:
 * manual mode redirects too) and, in acme mode, the ACME thread. */
static int acme_http_start(struct server *srv, char *err, size_t errsz)
{
	const struct config *cfg = srv->cfg;

	if (cfg->http_port != 0 &&
	    httpd80_start(cfg, &srv->http_l, srv->challenges, srv->https_port,
			  &srv->http, err, errsz) != 0)
		return -1;
	if (cfg->tls_mode == CONFIG_TLS_ACME &&
	    acme_start(cfg, srv->tls, srv->challenges, &srv->acme, err,
		       errsz) != 0)
		return -1;
	return 0;
}

static void acme_http_stop(struct server *srv)
{
	acme_stop(srv->acme);
	srv->acme = NULL;
	httpd80_stop(srv->http);
	srv->http = NULL;
}

/* The acceptor's hand-off (acceptor_add_fn): the next worker in turn. */
static int https_add(void *ud, int fd, const struct sockaddr *sa,
		     socklen_t len)
{
	struct server *srv = ud;
	unsigned i = atomic_fetch_add_explicit(&srv->next_worker, 1,
					       memory_order_relaxed);

	return worker_add(srv->workers[i % srv->n_workers], fd, sa, len);
}

/* Stop the HTTPS workers (each aborts its transfers, which resumes their
 * connections, and resumes what it parked), then their daemons, and free
 * all. Main thread. */
static void https_free(struct server *srv)
{
	unsigned i;

	for (i = 0; srv->workers != NULL && i < srv->n_workers; i++)
		worker_stop(srv->workers[i]);
	for (i = 0; srv->https_d != NULL && i < srv->n_workers; i++)
		if (srv->https_d[i] != NULL)
			MHD_stop_daemon(srv->https_d[i]);
	for (i = 0; srv->ups != NULL && i < srv->n_workers; i++)
		upstream_free(srv->ups[i]);
	for (i = 0; srv->workers != NULL && i < srv->n_workers; i++)
		worker_free(srv->workers[i]);
	free(srv->workers);
	free(srv->https_d);
	free(srv->ups);
	free(srv->ctx);
	srv->workers = NULL;
	srv->https_d = NULL;
	srv->ups = NULL;
	srv->ctx = NULL;
}

/* Worker i: its loop, its curl multi, its daemon, then its thread. */
static int https_worker_start(struct server *srv, unsigned i, unsigned flags)
{
	const struct config *cfg = srv->cfg;

	if (worker_create(srv->https_l.conns, &srv->workers[i]) != 0 ||
	    upstream_create(srv->workers[i], &srv->ups[i]) != 0)
		return -1;
	srv->ctx[i].srv = srv;
	srv->ctx[i].up = srv->ups[i];
	srv->ctx[i].w = srv->workers[i];
	srv->https_d[i] = MHD_start_daemon(
		flags, 0, server_accept_policy, &srv->https_l, proxy_access,
		&srv->ctx[i], MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)cfg->max_connections + 16,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout_secs,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
		MHD_OPTION_HTTPS_PRIORITIES, tls_priorities,
		MHD_OPTION_HTTPS_CERT_CALLBACK, tls_cert_callback,
		MHD_OPTION_URI_LOG_CALLBACK, proxy_uri_log, &srv->ctx[i],
		MHD_OPTION_NOTIFY_COMPLETED, proxy_completed, &srv->ctx[i],
		MHD_OPTION_EXTERNAL_LOGGER, log_mhd, "https",
		MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_NOTIFY_CONNECTION,
		server_notify_connection, &srv->https_l, MHD_OPTION_END);
	if (srv->https_d[i] == NULL ||
	    worker_run(srv->workers[i], srv->https_d[i]) != 0)
		return -1;
	return 0;
}

int server_start(struct server *srv, char *err, size_t errsz)
{
	const struct config *cfg = srv->cfg;
	struct sockaddr_storage ss;
	unsigned flags, i;
	char portbuf[64];
	socklen_t sslen;
	int v6, lfd, ok;

	if (acceptor_parse_addr(cfg->bind_addr, cfg->https_port, &ss, &sslen,
				&v6) != 0) {
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
			  LOG_END);
	}
	lfd = acceptor_listen((struct sockaddr *)&ss, sslen, 1024);
	if (lfd < 0) {
		snprintf(err, errsz, "cannot listen on %s port %u: %s",
			 cfg->bind_addr, cfg->https_port, strerror(errno));
		return -1;
	}
	/* Our acceptor owns the listening socket (see acceptor.c) and hands
	 * each connection to a worker, which adds it to its own daemon
	 * (MHD_add_connection) on its own thread. Each daemon's limit is
	 * set above max_connections, which the acceptor enforces. */
	flags = MHD_USE_EPOLL | MHD_USE_TLS | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
	if (v6)
		flags |= MHD_USE_IPv6;
	srv->https_port = acceptor_port(lfd);
	srv->n_workers = cfg->workers;
	srv->https_d = calloc(srv->n_workers, sizeof(*srv->https_d));
	srv->workers = calloc(srv->n_workers, sizeof(*srv->workers));
	srv->ups = calloc(srv->n_workers, sizeof(*srv->ups));
	srv->ctx = calloc(srv->n_workers, sizeof(*srv->ctx));
	ok = srv->https_d != NULL && srv->workers != NULL && srv->ups != NULL &&
	     srv->ctx != NULL;
	for (i = 0; ok && i < srv->n_workers; i++)
		ok = https_worker_start(srv, i, flags) == 0;
	if (!ok || acceptor_start(lfd, https_add, srv, "https",
				  srv->https_l.conns, &srv->https_acc) != 0) {
		snprintf(err, errsz, "cannot start the HTTPS listener on %s port %u",
			 cfg->bind_addr, cfg->https_port);
		if (!ok)
			close(lfd);
		https_free(srv);
		return -1;
	}
	srv->running = 1;
	tls_store_register(srv->tls, srv->https_port);
	snprintf(portbuf, sizeof(portbuf), v6 ? "[%s]:%u" : "%s:%u",
		 cfg->bind_addr, srv->https_port);
	log_event(LOG_LEVEL_INFO, "LISTENING", "proto", "https", "addr",
		  portbuf, LOG_END);
	if (acme_http_start(srv, err, errsz) != 0) {
		server_stop(srv);
		return -1;
	}
	srv->rl_hk = ratelimit_housekeeper_start(srv->rl, rl_settings, srv);
	if (srv->rl_hk == NULL || reaper_start(srv) != 0) {
		snprintf(err, errsz, "cannot start the housekeeping threads");
		server_stop(srv);
		return -1;
	}
	return 0;
}

void server_stop(struct server *srv)
{
	if (srv == NULL || !srv->running)
		return;
	srv->running = 0;
	atomic_store(&srv->stopping, 1);
	conns_close(srv->https_l.conns);
	conns_close(srv->http_l.conns);
	acme_http_stop(srv);
	/* No hand-off may race the workers' end. Every suspended
	 * connection must be resumed before MHD stops: each worker aborts
	 * its transfers as its loop ends, which resumes them. */
	acceptor_free(srv->https_acc);
	srv->https_acc = NULL;
	https_free(srv);
	ratelimit_housekeeper_stop(srv->rl_hk);
	srv->rl_hk = NULL;
	reaper_stop(srv);
	log_event(LOG_LEVEL_INFO, "SHUTDOWN", "status", "stopped", LOG_END);
}

void server_free(struct server *srv)
{
	if (srv == NULL)
		return;
	server_stop(srv);
	snapshot_cell_destroy(&srv->snap);
	snapshot_put(srv->static_snap);
	free(srv->static_warned);
	pthread_mutex_destroy(&srv->conns_mu);
	pthread_mutex_destroy(&srv->reaper_mu);
	pthread_cond_destroy(&srv->reaper_cv);
	tls_store_free(srv->tls);
	challenge_map_free(srv->challenges);
	ratelimit_housekeeper_stop(srv->rl_hk);
	ratelimit_free(srv->rl);
	conns_free(srv->https_l.conns);
	conns_free(srv->http_l.conns);
	free(srv);
}

/* ---- reload and graceful shutdown (main thread) ---- */

static int str_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/* Names of the static settings that differ, comma-separated, into out. */
static void static_diff(const struct config *a, const struct config *b,
			char *out, size_t outsz)
{
	size_t n = 0, i;
	int domains;

#define DIFF(cond, name)                                                    \
	do {                                                                \
		if ((cond) && n + sizeof(name) + 1 < outsz)                 \
			n += (size_t)snprintf(out + n, outsz - n, "%s%s",   \
					      n ? "," : "", name);          \
	} while (0)
	out[0] = '\0';
	DIFF(str_differs(a->bind_addr, b->bind_addr), "bind_addr");
	DIFF(a->allow_wildcard_bind != b->allow_wildcard_bind,
	     "allow_wildcard_bind");
	DIFF(a->https_port != b->https_port, "https_port");
	DIFF(a->http_port != b->http_port, "http_port");
	DIFF(a->workers != b->workers, "workers");
	DIFF(a->max_connections != b->max_connections, "max_connections");
	DIFF(a->idle_timeout_secs != b->idle_timeout_secs, "idle_timeout_secs");
	DIFF(a->tls_handshake_timeout_secs != b->tls_handshake_timeout_secs,
	     "tls_handshake_timeout_secs");
	DIFF(a->header_timeout_secs != b->header_timeout_secs,
	     "header_timeout_secs");
	DIFF(a->shutdown_timeout_secs != b->shutdown_timeout_secs,
	     "shutdown_timeout_secs");
	DIFF(a->tls_mode != b->tls_mode, "mode");
	domains = a->n_acme_domains != b->n_acme_domains;
	for (i = 0; !domains && i < a->n_acme_domains; i++)
		domains = strcmp(a->acme_domains[i], b->acme_domains[i]) != 0;
	DIFF(domains, "acme_domains");
	DIFF(str_differs(a->acme_contact, b->acme_contact), "acme_contact");
	DIFF(str_differs(a->acme_directory, b->acme_directory),
	     "acme_directory");
	DIFF(str_differs(a->acme_cache_dir, b->acme_cache_dir),
	     "acme_cache_dir");
	DIFF(str_differs(a->acme_ca_file, b->acme_ca_file), "acme_ca_file");
	DIFF(a->session_tickets != b->session_tickets, "session_tickets");
	DIFF(str_differs(a->log_file, b->log_file), "file");
#undef DIFF
}

int server_reload(struct server *srv, struct config *newcfg, char *err,
		  size_t errsz)
{
	struct tls_bundle *b = NULL;
	struct snapshot *ns;
	char changed[512];

	if (srv->cfg->tls_mode == CONFIG_TLS_MANUAL &&
	    newcfg->tls_mode == CONFIG_TLS_MANUAL &&
	    tls_bundle_load(newcfg, &b, err, errsz) != 0) {
		config_free(newcfg);
		return -1;
	}
	static_diff(srv->cfg, newcfg, changed, sizeof(changed));
	ns = snapshot_new(newcfg);
	if (ns == NULL) {
		tls_bundle_free(b);
		config_free(newcfg);
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	snapshot_cell_set(&srv->snap, ns);
	if (b != NULL)
		tls_store_set(srv->tls, b);
	log_set_level(newcfg->log_level);
	conns_set_per_ip(srv->https_l.conns, newcfg->max_connections_per_ip);
	conns_set_per_ip(srv->http_l.conns, newcfg->max_connections_per_ip);
	ratelimit_housekeeper_wake(srv->rl_hk); /* new eviction settings */
	if (changed[0] == '\0') {
		free(srv->static_warned);
		srv->static_warned = NULL;
	} else if (srv->static_warned == NULL ||
		   strcmp(srv->static_warned, changed) != 0) {
		log_event(LOG_LEVEL_WARN, "CONFIG_STATIC_CHANGED", "keys",
			  changed, "action", "restart to apply", LOG_END);
		free(srv->static_warned);
		srv->static_warned = strdup(changed);
	}
	return 0;
}

void server_shutdown(struct server *srv, int timeout_secs)
{
	long deadline;
	char n[16];
	int left;

	if (srv == NULL || !srv->running)
		return;
	if (timeout_secs < 0)
		timeout_secs = (int)srv->cfg->shutdown_timeout_secs;
	atomic_store(&srv->stopping, 1);
	conns_close(srv->https_l.conns);
	conns_close(srv->http_l.conns);
	/* Closing the listening socket makes the kernel refuse new clients
	 * at once instead of leaving them waiting in the backlog. */
	acceptor_stop(srv->https_acc);
	httpd80_stop_accepting(srv->http);
	close_idle_connections(srv);
	snprintf(n, sizeof(n), "%d", atomic_load(&srv->in_flight));
	log_event(LOG_LEVEL_INFO, "SHUTDOWN", "status", "draining",
		  "in_flight", n, LOG_END);
	deadline = mono_ms() + (long)timeout_secs * 1000L;
	while ((left = atomic_load(&srv->in_flight)) > 0 &&
	       mono_ms() < deadline) {
		struct timespec ts = {0, 20 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	if (left > 0) {
		snprintf(n, sizeof(n), "%d", left);
		log_event(LOG_LEVEL_WARN, "SHUTDOWN", "status", "forced",
			  "in_flight", n, LOG_END);
	}
	server_stop(srv);
}
