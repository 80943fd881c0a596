/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * server: owns one proxy instance — the HTTPS workers (per worker thread
 * one libmicrohttpd daemon in external epoll mode and one curl multi),
 * the acceptor, the SNI certificate store and the current config
 * snapshot (a snapshot.h cell), the request counters (stats.h) and the
 * program's hooks; it starts and stops the port-80 listener, the ACME
 * thread (acme mode) or the certificate watch (manual mode) and the
 * housekeeping threads. Called from the main (embedding) thread, again
 * after a stop; server_snapshot(), server_stats() and the connection
 * hooks from the workers or any thread.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "acceptor.h"
#include "acme.h"
#include "certwatch.h"
#include "conns.h"
#include "ap_autoconf.h"
#include "handler.h"
#include "httpd80.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "ppgate.h"
#include "proxy.h"
#include "ratelimit.h"
#include "sitestats.h"
#include "server.h"
#include "snapshot.h"
#include "sockact.h"
#include "stats.h"
#include "threads.h"
#include "tls.h"
#include "upstream.h"
#include "worker.h"

#define CONNECTION_MEMORY LISTENER_CONNECTION_MEMORY

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
	/* the open connections of both listeners, their head deadlines,
	 * the in-flight count and the stopping flag (listener.h) */
	struct conn_table *table;
	/* the two listeners, each with its admission budget (SPEC F15):
	 * HTTPS has max_connections slots, port 80 its own
	 * HTTPD80_MAX_CONNS */
	struct listener https_l, http_l;
	struct acceptor *https_acc; /* accept loop of the HTTPS listener */
	/* the static-change warning last given, to give it once */
	char *static_warned;
	/* ACME + plain HTTP (issue 3): the port-80 listener, the client
	 * thread, and the challenge tokens they share */
	struct challenge_map *challenges;
	struct httpd80 *http;
	struct acme *acme;
	struct certwatch *certwatch; /* manual mode: CERT_EXPIRY checks */
	/* request counters, one slot per worker (stats.h), kept across
	 * restarts; the embedding program's per-request callback */
	struct stats_slot *stats;
	struct proxy_hooks hooks;
	/* rate limiting (issue 4): the bucket table shared by the MHD
	 * workers, and the thread that evicts idle buckets */
	struct ratelimit *rl;
	struct ratelimit_housekeeper *rl_hk;
	/* metrics (issue 19): per-site counters (one slot per worker), the
	 * reload counts, and the [metrics] listener while running */
	struct sitestats *sitestats;
	_Atomic uint64_t reloads_ok, reloads_failed;
	struct metrics_http *metrics;
};


unsigned server_http_port(const struct server *srv)
{
	return srv->http != NULL ? httpd80_port(srv->http) : 0;
}

unsigned server_https_port(const struct server *srv)
{
	return srv->https_port;
}

/* ---- the listeners ---- */

/* A connection of the HTTPS listener closed: its accept loop, paused for
 * a slot or a descriptor, may go on. (The port-80 listener's kick is set
 * by httpd80_start, which owns that loop.) The acceptor outlives the
 * workers: server_stop frees it after https_free. */
static void kick_https(void *ud)
{
	struct server *srv = ud;

	acceptor_kick(srv->https_acc);
}

static void listener_init(struct server *srv, struct listener *l)
{
	l->table = srv->table;
	l->snap = &srv->snap;
	l->rl = srv->rl;
}

/* ---- rate limiting (issue 4) ---- */

/* Housekeeping thread: eviction settings of the current snapshot, so a
 * reload changes them. */
static void rl_settings(void *ud, unsigned *interval_secs, unsigned *age_secs)
{
	struct server *srv = ud;
	struct snapshot *s = snapshot_cell_get(&srv->snap);

	*interval_secs = s->cfg->rl_eviction_interval_secs;
	*age_secs = s->cfg->rl_eviction_age_secs;
	snapshot_put(s);
}

static const char *server_unready(void *ud);

/* Each site of s's config gets its id in the per-site counters (a name
 * seen before keeps its id, so its series continue across reloads).
 * Before s is shared. 0, or -1 when out of memory. */
static int assign_site_ids(struct server *srv, struct snapshot *s)
{
	size_t i, n = s->cfg->n_sites;

	s->site_ids = calloc(n ? n : 1, sizeof(*s->site_ids));
	if (s->site_ids == NULL)
		return -1;
	for (i = 0; i < n; i++)
		s->site_ids[i] = sitestats_intern(srv->sitestats,
						  s->cfg->sites[i].host);
	return 0;
}

int server_create(struct config *cfg, struct server **out, char *err,
		  size_t errsz)
{
	struct server *srv;
	struct tls_bundle *b = NULL;
	struct snapshot *s;
	int rc = SERVER_ENOMEM;

	*out = NULL;
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		config_free(cfg);
		snprintf(err, errsz, "out of memory");
		return SERVER_ENOMEM;
	}
	snapshot_cell_init(&srv->snap, NULL);
	srv->cfg = cfg;
	srv->sitestats = sitestats_new(cfg->workers);
	s = snapshot_new(cfg);
	if (s != NULL && (srv->sitestats == NULL ||
			  assign_site_ids(srv, s) != 0)) {
		snapshot_put(s); /* frees cfg */
		sitestats_free(srv->sitestats);
		free(srv);
		snprintf(err, errsz, "out of memory");
		return SERVER_ENOMEM;
	}
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
		rc = SERVER_ETLS;
		goto fail;
	}
	srv->stats = stats_new(cfg->workers);
	srv->rl = ratelimit_new(RATELIMIT_DEFAULT_MAX_ENTRIES);
	srv->table = conn_table_new(cfg);
	listener_init(srv, &srv->https_l);
	srv->https_l.conns = conns_new("https", cfg->max_connections, 0);
	srv->https_l.kick = kick_https;
	srv->https_l.kick_ud = srv;
	srv->https_l.unready = server_unready;
	srv->https_l.unready_ud = srv;
	listener_init(srv, &srv->http_l);
	srv->http_l.unready = server_unready;
	srv->http_l.unready_ud = srv;
	srv->http_l.conns = conns_new("http", HTTPD80_MAX_CONNS,
				      HTTPD80_MAX_CONNS_PER_IP);
	if (srv->rl == NULL || srv->table == NULL || srv->stats == NULL ||
	    srv->https_l.conns == NULL || srv->http_l.conns == NULL) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	conns_set_per_ip(srv->https_l.conns, cfg->max_connections_per_ip);
	conns_set_per_ip(srv->http_l.conns, cfg->max_connections_per_ip);
	if (cfg->tls_mode == CONFIG_TLS_MANUAL) {
		if (tls_bundle_load(cfg, &b, err, errsz) != 0) {
			rc = SERVER_ETLS;
			goto fail;
		}
		tls_store_set(srv->tls, b);
	}
	*out = srv;
	return 0;
fail:
	server_free(srv);
	return rc;
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
		return SERVER_ELISTEN;
	/* what stops the ACME client at start is its cache directory or
	 * key file */
	if (cfg->tls_mode == CONFIG_TLS_ACME &&
	    acme_start(cfg, srv->tls, srv->challenges, &srv->acme, err,
		       errsz) != 0)
		return SERVER_ECONFIG;
	/* manual certificates: CERT_EXPIRY (the ACME thread does it in
	 * acme mode) */
	if (cfg->tls_mode == CONFIG_TLS_MANUAL &&
	    certwatch_start(srv->tls, &srv->certwatch) != 0) {
		snprintf(err, errsz, "cannot start the certificate watch");
		return SERVER_ESYSTEM;
	}
	return 0;
}

/* /health/ready and reverse_proxy_ready (SPEC F18): NULL when ready —
 * the config is loaded (it is, the server runs on one) and every name is
 * covered by a valid certificate — else why not, in one word. Any
 * thread. */
static const char *server_unready(void *ud)
{
	struct server *srv = ud;
	struct snapshot *cur;
	int ok;

	if (listener_stopping(&srv->https_l))
		return "stopping\n";
	cur = snapshot_cell_get(&srv->snap);
	ok = tls_store_ready(srv->tls, cur->cfg, time(NULL));
	snapshot_put(cur);
	return ok ? NULL : "certificate\n";
}

/* One scrape (the metrics listener's thread): the numbers of this
 * server, read without stopping anyone. */
static void render_metrics(void *ud, struct mbuf *out)
{
	struct server *srv = ud;
	struct metrics_src *m = calloc(1, sizeof(*m));

	if (m == NULL) {
		out->oom = 1;
		return;
	}
	m->version = PACKAGE_VERSION;
	m->revision = SOURCE_REVISION;
	m->sites = srv->sitestats;
	stats_sum(srv->stats, srv->cfg->workers, m->stats);
	m->conns_refused_https = conns_refused(srv->https_l.conns);
	m->conns_refused_http = conns_refused(srv->http_l.conns);
	m->conns_open = conns_open(srv->https_l.conns);
	m->in_flight = (unsigned)conn_table_in_flight(srv->table);
	tls_counters(m->tls);
	m->n_certs = tls_store_list(srv->tls, m->certs, METRICS_MAX_CERTS);
	if (srv->acme != NULL) {
		m->acme = 1;
		acme_numbers(srv->acme, &m->acme_issued, &m->acme_failed,
			     &m->acme_next);
	}
	m->reloads_ok = atomic_load(&srv->reloads_ok);
	m->reloads_failed = atomic_load(&srv->reloads_failed);
	m->ready = server_unready(srv) == NULL;
	metrics_render(m, out);
	free(m);
}

void server_count_reload(struct server *srv, int ok)
{
	atomic_fetch_add(ok ? &srv->reloads_ok : &srv->reloads_failed, 1);
}

static void acme_http_stop(struct server *srv)
{
	certwatch_stop(srv->certwatch);
	srv->certwatch = NULL;
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
	srv->ctx[i].l = &srv->https_l;
	srv->ctx[i].up = srv->ups[i];
	srv->ctx[i].w = srv->workers[i];
	srv->ctx[i].st = &srv->stats[i];
	srv->ctx[i].hooks = &srv->hooks;
	/* per-site counting only for a [metrics] listener */
	srv->ctx[i].ss = cfg->metrics_host != NULL
				 ? sitestats_slot(srv->sitestats, i)
				 : NULL;
	/* the logger first: an option before it would report to stderr */
	srv->https_d[i] = MHD_start_daemon(
		flags, 0, listener_accept_policy, &srv->https_l, proxy_access,
		&srv->ctx[i], MHD_OPTION_EXTERNAL_LOGGER, log_mhd, "https",
		MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)cfg->max_connections + 16,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout_secs,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
		MHD_OPTION_HTTPS_PRIORITIES, tls_priorities,
		MHD_OPTION_HTTPS_CERT_CALLBACK, tls_cert_callback,
		MHD_OPTION_URI_LOG_CALLBACK, proxy_uri_log, &srv->ctx[i],
		MHD_OPTION_NOTIFY_COMPLETED, proxy_completed, &srv->ctx[i],
		LISTENER_MHD_DISCIPLINE, MHD_OPTION_NOTIFY_CONNECTION,
		listener_notify_connection, &srv->https_l, MHD_OPTION_END);
	srv->ctx[i].handled = NULL;
	srv->ctx[i].stopping = 0;
	worker_on_stop(srv->workers[i], proxy_stop_handlers, &srv->ctx[i]);
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
	struct ppgate *gate = NULL;
	int v6, lfd, ok, rc, inherited;

	/* every handler site needs its handler (registered by now) */
	{
		struct snapshot *cur = snapshot_cell_get(&srv->snap);

		rc = handler_check(&srv->hooks.handlers, cur->cfg, err, errsz);
		snapshot_put(cur);
		if (rc != 0)
			return SERVER_ECONFIG;
	}
	/* a server stopped before starts again from a clean slate */
	conn_table_clear_stopping(srv->table);
	conns_reopen(srv->https_l.conns);
	conns_reopen(srv->http_l.conns);
	if (acceptor_parse_addr(cfg->bind_addr, cfg->https_port, &ss, &sslen,
				&v6) != 0) {
		snprintf(err, errsz, "bind_addr %s is not an IP address",
			 cfg->bind_addr);
		return SERVER_ECONFIG;
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
	lfd = sockact_listen("https", (struct sockaddr *)&ss, sslen, 1024,
			     &inherited);
	if (lfd < 0) {
		snprintf(err, errsz, "cannot listen on %s port %u: %s",
			 cfg->bind_addr, cfg->https_port, strerror(errno));
		return SERVER_ELISTEN;
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
	/* before the first accept: an inherited socket (socket activation)
	 * may have connections waiting in its backlog already */
	tls_store_register(srv->tls, srv->https_port);
	/* TLS log lines name the client a PROXY header carried */
	tls_set_peer_lookup(worker_peer);
	srv->n_workers = cfg->workers;
	srv->https_d = calloc(srv->n_workers, sizeof(*srv->https_d));
	srv->workers = calloc(srv->n_workers, sizeof(*srv->workers));
	srv->ups = calloc(srv->n_workers, sizeof(*srv->ups));
	srv->ctx = calloc(srv->n_workers, sizeof(*srv->ctx));
	ok = srv->https_d != NULL && srv->workers != NULL && srv->ups != NULL &&
	     srv->ctx != NULL;
	for (i = 0; ok && i < srv->n_workers; i++)
		ok = https_worker_start(srv, i, flags) == 0;
	if (ok && cfg->n_proxy_from > 0) {
		gate = ppgate_new(cfg->proxy_from, cfg->n_proxy_from,
				  cfg->header_timeout_secs, "https",
				  srv->https_l.conns, https_add, srv);
		ok = gate != NULL;
	}
	if (!ok || acceptor_start(lfd, https_add, srv, "https",
				  srv->https_l.conns, gate,
				  &srv->https_acc) != 0) {
		snprintf(err, errsz, "cannot start the HTTPS listener on %s port %u",
			 cfg->bind_addr, cfg->https_port);
		if (!ok)
			close(lfd);
		https_free(srv);
		tls_store_unregister(srv->tls);
		return SERVER_ESYSTEM;
	}
	srv->running = 1;
	snprintf(portbuf, sizeof(portbuf), v6 ? "[%s]:%u" : "%s:%u",
		 cfg->bind_addr, srv->https_port);
	log_event(LOG_LEVEL_INFO, "LISTENING", "proto", "https", "addr",
		  portbuf, LOG_END);
	rc = acme_http_start(srv, err, errsz);
	if (rc != 0) {
		server_stop(srv);
		return rc;
	}
	if (cfg->metrics_host != NULL &&
	    metrics_http_start(cfg->metrics_host, cfg->metrics_port,
			       render_metrics, srv, &srv->metrics, err,
			       errsz) != 0) {
		server_stop(srv);
		return SERVER_ELISTEN;
	}
	sockact_report_unused();
	srv->rl_hk = ratelimit_housekeeper_start(srv->rl, rl_settings, srv);
	if (srv->rl_hk == NULL || conn_table_start(srv->table) != 0) {
		snprintf(err, errsz, "cannot start the housekeeping threads");
		server_stop(srv);
		return SERVER_ESYSTEM;
	}
	return 0;
}

void server_stop(struct server *srv)
{
	if (srv == NULL || !srv->running)
		return;
	srv->running = 0;
	conn_table_set_stopping(srv->table);
	conns_close(srv->https_l.conns);
	conns_close(srv->http_l.conns);
	metrics_http_stop(srv->metrics);
	srv->metrics = NULL;
	acme_http_stop(srv);
	/* No hand-off may race the workers' end. Every suspended
	 * connection must be resumed before MHD stops: each worker aborts
	 * its transfers as its loop ends, which resumes them. The workers'
	 * closing connections still kick the stopped acceptor: it is freed
	 * after them. */
	acceptor_stop(srv->https_acc);
	https_free(srv);
	acceptor_free(srv->https_acc);
	srv->https_acc = NULL;
	tls_store_unregister(srv->tls);
	ratelimit_housekeeper_stop(srv->rl_hk);
	srv->rl_hk = NULL;
	conn_table_stop(srv->table);
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
	tls_store_free(srv->tls);
	challenge_map_free(srv->challenges);
	ratelimit_housekeeper_stop(srv->rl_hk);
	ratelimit_free(srv->rl);
	conns_free(srv->https_l.conns);
	conns_free(srv->http_l.conns);
	conn_table_free(srv->table);
	stats_free(srv->stats);
	sitestats_free(srv->sitestats);
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
	DIFF(a->n_proxy_from != b->n_proxy_from ||
		     (a->n_proxy_from != 0 &&
		      memcmp(a->proxy_from, b->proxy_from,
			     a->n_proxy_from * sizeof(*a->proxy_from)) != 0),
	     "proxy_protocol_from");
	DIFF(a->tls_mode != b->tls_mode, "mode");
	DIFF(str_differs(a->metrics_host, b->metrics_host) ||
		     a->metrics_port != b->metrics_port ||
		     a->metrics_allow_public != b->metrics_allow_public,
	     "[metrics]");
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
	DIFF(a->acme_challenge != b->acme_challenge, "acme_challenge");
	DIFF(str_differs(a->acme_profile, b->acme_profile), "acme_profile");
	DIFF(str_differs(a->acme_eab_kid, b->acme_eab_kid), "acme_eab_kid");
	DIFF(str_differs(a->acme_eab_hmac_key_file, b->acme_eab_hmac_key_file),
	     "acme_eab_hmac_key_file");
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

	/* another instance sharing acme_cache_dir may have renewed: look,
	 * whether or not this file loads */
	acme_sync(srv->acme);
	if (handler_check(&srv->hooks.handlers, newcfg, err, errsz) != 0) {
		config_free(newcfg);
		return -1;
	}
	if (srv->cfg->tls_mode == CONFIG_TLS_MANUAL &&
	    newcfg->tls_mode == CONFIG_TLS_MANUAL &&
	    tls_bundle_load(newcfg, &b, err, errsz) != 0) {
		config_free(newcfg);
		return -1;
	}
	static_diff(srv->cfg, newcfg, changed, sizeof(changed));
	ns = snapshot_new(newcfg);
	if (ns == NULL || assign_site_ids(srv, ns) != 0) {
		tls_bundle_free(b);
		if (ns != NULL)
			snapshot_put(ns); /* frees newcfg */
		else
			config_free(newcfg);
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	snapshot_cell_set(&srv->snap, ns);
	if (b != NULL) {
		tls_store_set(srv->tls, b);
		tls_store_check_expiry(srv->tls, time(NULL));
	}
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

/* The drain also waits for connections accepted just before the stop:
 * those still on their way from the acceptor to a worker (admitted, not
 * yet libmicrohttpd's) and those whose first request has not come. */
static int handoff_or_fresh(struct server *srv)
{
	unsigned tracked, admitted;
	int fresh = conn_table_fresh(srv->table, &tracked);

	admitted = conns_open(srv->https_l.conns) + conns_open(srv->http_l.conns);
	return fresh > 0 || admitted > tracked;
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
	conn_table_set_stopping(srv->table);
	/* Closing the listening socket makes the kernel refuse new clients
	 * at once instead of leaving them waiting in the backlog — unless a
	 * service manager holds it too (socket activation): then they wait
	 * for the next start. The accept loops stop first (joined), so no
	 * connection is taken from the backlog only to be dropped by the
	 * closed admission below. */
	acceptor_stop(srv->https_acc);
	httpd80_stop_accepting(srv->http);
	conns_close(srv->https_l.conns);
	conns_close(srv->http_l.conns);
	conn_table_close_idle(srv->table);
	snprintf(n, sizeof(n), "%d", conn_table_in_flight(srv->table));
	log_event(LOG_LEVEL_INFO, "SHUTDOWN", "status", "draining",
		  "in_flight", n, LOG_END);
	deadline = threads_mono_ms() + (long)timeout_secs * 1000L;
	/* Requests in progress, and connections whose client has yet to
	 * send its first request (it connected just before the signal; with
	 * socket activation it must not be the one request a restart
	 * loses): each is bounded by its head deadline. */
	while (((left = conn_table_in_flight(srv->table)) > 0 ||
		handoff_or_fresh(srv)) &&
	       threads_mono_ms() < deadline) {
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

/* ---- what the embedding program sees (api.c) ---- */

void server_set_request_hook(struct server *srv,
			     void (*fn)(void *ud,
					const struct proxy_request_info *r),
			     void *ud)
{
	srv->hooks.request_done = fn;
	srv->hooks.ud = ud;
}

void server_set_access_hook(struct server *srv,
			    int (*fn)(void *ud, struct proxy_access *a),
			    void *ud)
{
	srv->hooks.access = fn;
	srv->hooks.access_ud = ud;
}

int server_set_handler(struct server *srv, const char *label,
		       MHD_AccessHandlerCallback fn, void *cls,
		       MHD_RequestCompletedCallback done, void *done_cls)
{
	return handler_set(&srv->hooks.handlers, label, fn, cls, done,
			   done_cls);
}

void server_stats(const struct server *srv, uint64_t counters[STATS_COUNT],
		  unsigned *open, uint64_t *refused)
{
	stats_sum(srv->stats, srv->cfg->workers, counters);
	*open = conns_open(srv->https_l.conns);
	*refused = conns_refused(srv->https_l.conns) +
		   conns_refused(srv->http_l.conns);
}
