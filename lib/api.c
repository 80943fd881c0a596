/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * api: the public alkproxy_* functions — thin wrappers that turn the
 * internal modules' results into enum alkproxy_err codes, and keep each
 * handle's state (created, running, stopped) and its callbacks. Threads:
 * a handle's calls come from the thread that owns it (alkproxy.h);
 * alkproxy_stats from any thread; the request and access callbacks are
 * called from the worker threads through request_done and access_fwd.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <curl/curl.h>

#include "alkproxy.h"
#include "certmgr.h"
#include "config.h"
#include "httpd80.h"
#include "log.h"
#include "server.h"
#include "sockact.h"
#include "tls.h"

#include "ap_autoconf.h"

/* A handle's life: created → running ⇄ stopped (alkproxy.h). Calls not
 * valid in the current state return ALKPROXY_ESTATE and change nothing. */
enum handle_state { HANDLE_CREATED, HANDLE_RUNNING, HANDLE_STOPPED };

struct alkproxy {
	struct server *srv;
	enum handle_state state;
	/* the create call's diag callback, kept for alkproxy_start */
	alkproxy_diag_cb diag;
	void *diag_ud;
	/* the per-request callback (the server calls request_done) */
	alkproxy_request_cb req_cb;
	void *req_ud;
	/* the access callback (the server calls access) */
	alkproxy_access_cb acc_cb;
	void *acc_ud;
};

/* The public code for what server_create/server_start ran into. */
static int map_server_err(int rc)
{
	switch (rc) {
	case SERVER_OK: return ALKPROXY_OK;
	case SERVER_ENOMEM: return ALKPROXY_ENOMEM;
	case SERVER_ETLS: return ALKPROXY_ETLS;
	case SERVER_ELISTEN: return ALKPROXY_ELISTEN;
	case SERVER_ECONFIG: return ALKPROXY_ECONFIG;
	default: return ALKPROXY_ESYSTEM;
	}
}

static alkproxy_log_cb user_log_cb;
static void *user_log_ud;

static void log_to_user(void *ud, enum log_level level, const char *event,
			const char *line, size_t len)
{
	const char *fields = line;
	int skip;

	(void)ud;
	(void)len;
	/* line = "TIMESTAMP LEVEL EVENT fields…": skip three words */
	for (skip = 0; skip < 3 && fields != NULL; skip++) {
		fields = strchr(fields, ' ');
		if (fields != NULL)
			fields++;
	}
	if (fields == NULL)
		fields = "";
	user_log_cb(user_log_ud, (enum alkproxy_log_level)level, event, fields,
		    line);
}

void alkproxy_set_log_callback(alkproxy_log_cb cb, void *ud)
{
	/* log_set_sink serializes with writers, so the pair below changes
	 * only while no line is being delivered. */
	log_set_sink(NULL, NULL);
	user_log_cb = cb;
	user_log_ud = ud;
	if (cb != NULL)
		log_set_sink(log_to_user, NULL);
}

void alkproxy_set_log_stdout(int on)
{
	log_set_stdout(on);
}

void alkproxy_set_socket_activation(int on)
{
	sockact_enable(on);
}

struct diag_ctx {
	alkproxy_diag_cb cb;
	void *ud;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

const char *alkproxy_strerror(int err)
{
	switch (err) {
	case ALKPROXY_OK: return "success";
	case ALKPROXY_EINVAL: return "invalid argument";
	case ALKPROXY_ECONFIG: return "invalid configuration";
	case ALKPROXY_ENOMEM: return "out of memory";
	case ALKPROXY_ELISTEN: return "cannot listen";
	case ALKPROXY_ETLS: return "cannot load certificates";
	case ALKPROXY_ESTATE: return "invalid state for this call";
	case ALKPROXY_ESYSTEM: return "system error";
	default: return "unknown error";
	}
}

const char *alkproxy_version(void)
{
	return PACKAGE_VERSION " (" SOURCE_REVISION ")";
}

unsigned long alkproxy_version_num(void)
{
	return ALKPROXY_VERSION_NUM;
}

static void diag_fwd(void *ud, int is_error, const char *file, unsigned line,
		     const char *msg)
{
	struct diag_ctx *d = ud;
	char buf[1024];

	if (d->cb == NULL)
		return;
	if (line > 0)
		snprintf(buf, sizeof(buf), "%s:%u: %s%s", file, line,
			 is_error ? "" : "warning: ", msg);
	else
		snprintf(buf, sizeof(buf), "%s: %s%s", file,
			 is_error ? "" : "warning: ", msg);
	d->cb(d->ud, is_error, buf);
}

/* Each HTTPS connection may hold a client socket and an upstream socket,
 * each port-80 connection one socket; the rest (listeners, log file,
 * ACME, eventfds) fits in the reserve. */
#define FD_RESERVE 64

static int check_nofile(const struct config *cfg, struct diag_ctx *d)
{
	struct rlimit rl;
	unsigned http = cfg->http_port != 0 ? HTTPD80_MAX_CONNS : 0;
	unsigned long long need =
		2ULL * cfg->max_connections + http + FD_RESERVE;
	char msg[512];

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
	    need <= (unsigned long long)rl.rlim_cur)
		return 0;
	snprintf(msg, sizeof(msg),
		 "%s: max_connections = %u needs %llu file descriptors (2 per "
		 "connection + %u for port 80 + %d reserve) but RLIMIT_NOFILE "
		 "is %llu; lower max_connections or raise the limit "
		 "(LimitNOFILE=)",
		 cfg->path, cfg->max_connections, need, http, FD_RESERVE,
		 (unsigned long long)rl.rlim_cur);
	if (d->cb != NULL)
		d->cb(d->ud, 1, msg);
	return -1;
}

void alkproxy_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int alkproxy_validate_file(const char *path, alkproxy_diag_cb diag, void *ud)
{
	struct diag_ctx d = {diag, ud};
	struct config *cfg = NULL;
	int rc = ALKPROXY_OK;

	if (path == NULL)
		return ALKPROXY_EINVAL;
	if (config_load_file(path, 1, diag_fwd, &d, &cfg) != 0)
		return ALKPROXY_ECONFIG;
	if (check_nofile(cfg, &d) != 0)
		rc = ALKPROXY_ECONFIG;
	config_free(cfg);
	return rc;
}

/* Parse a file (path) or a string (ini, named name) with flags
 * (CONFIG_CHECK_FILES, CONFIG_CERTS_ONLY): 0 and *cfg, or an ALKPROXY_E*
 * code (the diagnostics went to d). */
static int load(const char *path, const char *ini, const char *name,
		int flags, struct diag_ctx *d, struct config **cfg)
{
	int rc;

	pthread_once(&global_once, global_init);
	if (global_rc != 0)
		return ALKPROXY_ESYSTEM;
	if (path != NULL)
		rc = config_load_file(path, flags, diag_fwd, d, cfg);
	else
		rc = config_load_string(ini, name != NULL ? name : "(string)",
					flags, diag_fwd, d, cfg);
	return rc == 0 ? ALKPROXY_OK : ALKPROXY_ECONFIG;
}

/* The [logging] of cfg applied to the process-wide log: 0, or -1 (the
 * log file cannot be opened; said to d). */
static int apply_logging(const struct config *cfg, struct diag_ctx *d)
{
	char msg[600];

	log_set_level(cfg->log_level);
	if (cfg->log_file == NULL || log_open_file(cfg->log_file) == 0)
		return 0;
	snprintf(msg, sizeof(msg), "%s: cannot open log file %s", cfg->path,
		 cfg->log_file);
	if (d->cb != NULL)
		d->cb(d->ud, 1, msg);
	return -1;
}

static int create(alkproxy **out, struct config *cfg, struct diag_ctx *d)
{
	alkproxy *p;
	char err[512];
	int rc;

	if (check_nofile(cfg, d) != 0) {
		config_free(cfg);
		return ALKPROXY_ECONFIG;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		config_free(cfg);
		return ALKPROXY_ENOMEM;
	}
	if (apply_logging(cfg, d) != 0) {
		config_free(cfg);
		free(p);
		return ALKPROXY_ECONFIG;
	}
	rc = server_create(cfg, &p->srv, err, sizeof(err));
	if (rc != SERVER_OK) {
		if (d->cb != NULL)
			d->cb(d->ud, 1, err);
		free(p);
		return map_server_err(rc);
	}
	p->state = HANDLE_CREATED;
	p->diag = d->cb;
	p->diag_ud = d->ud;
	*out = p;
	return ALKPROXY_OK;
}

int alkproxy_create_file(alkproxy **out, const char *path,
			 alkproxy_diag_cb diag, void *ud)
{
	struct diag_ctx d = {diag, ud};
	struct config *cfg = NULL;
	int rc;

	if (out == NULL || path == NULL)
		return ALKPROXY_EINVAL;
	*out = NULL;
	rc = load(path, NULL, NULL, CONFIG_CHECK_FILES, &d, &cfg);
	return rc != ALKPROXY_OK ? rc : create(out, cfg, &d);
}

int alkproxy_create_string(alkproxy **out, const char *ini, const char *name,
			   alkproxy_diag_cb diag, void *ud)
{
	struct diag_ctx d = {diag, ud};
	struct config *cfg = NULL;
	int rc;

	if (out == NULL || ini == NULL)
		return ALKPROXY_EINVAL;
	*out = NULL;
	rc = load(NULL, ini, name, CONFIG_CHECK_FILES, &d, &cfg);
	return rc != ALKPROXY_OK ? rc : create(out, cfg, &d);
}

/* Keeps the first error of a failed reload for the CONFIG_RELOAD line. */
struct reload_diag {
	struct diag_ctx user;
	char first[512];
};

static void reload_diag_fwd(void *ud, int is_error, const char *file,
			    unsigned line, const char *msg)
{
	struct reload_diag *r = ud;

	if (is_error && r->first[0] == '\0') {
		if (line > 0)
			snprintf(r->first, sizeof(r->first), "%s:%u: %s", file,
				 line, msg);
		else
			snprintf(r->first, sizeof(r->first), "%s: %s", file,
				 msg);
	}
	diag_fwd(&r->user, is_error, file, line, msg);
}

static int reload(alkproxy *p, const char *path, const char *ini,
		  const char *name, alkproxy_diag_cb diag, void *ud)
{
	struct reload_diag r;
	struct config *cfg = NULL;
	char n[16];
	int rc;

	if (p == NULL || (path == NULL && ini == NULL))
		return ALKPROXY_EINVAL;
	memset(&r, 0, sizeof(r));
	r.user.cb = diag;
	r.user.ud = ud;
	if (path != NULL)
		rc = config_load_file(path, 1, reload_diag_fwd, &r, &cfg);
	else
		rc = config_load_string(ini, name != NULL ? name : "(string)",
					1, reload_diag_fwd, &r, &cfg);
	if (rc == 0) {
		snprintf(n, sizeof(n), "%zu", cfg->n_sites);
		if (server_reload(p->srv, cfg, r.first, sizeof(r.first)) == 0) {
			server_count_reload(p->srv, 1);
			log_event(LOG_LEVEL_INFO, "CONFIG_RELOAD", "status",
				  "success", "sites", n, LOG_END);
			return ALKPROXY_OK;
		}
	}
	server_count_reload(p->srv, 0);
	log_event(LOG_LEVEL_ERROR, "CONFIG_RELOAD", "status", "failure",
		  "error", r.first[0] ? r.first : "invalid configuration", LOG_END);
	return ALKPROXY_ECONFIG;
}

int alkproxy_reload_file(alkproxy *p, const char *path, alkproxy_diag_cb diag,
			 void *ud)
{
	return reload(p, path, NULL, NULL, diag, ud);
}

int alkproxy_reload_string(alkproxy *p, const char *ini, const char *name,
			   alkproxy_diag_cb diag, void *ud)
{
	return reload(p, NULL, ini, name, diag, ud);
}

int alkproxy_shutdown(alkproxy *p, int timeout_secs)
{
	if (p == NULL)
		return ALKPROXY_EINVAL;
	if (p->state != HANDLE_RUNNING)
		return ALKPROXY_ESTATE;
	server_shutdown(p->srv, timeout_secs);
	p->state = HANDLE_STOPPED;
	return ALKPROXY_OK;
}

int alkproxy_start(alkproxy *p)
{
	char err[512], msg[600];
	int rc;

	if (p == NULL)
		return ALKPROXY_EINVAL;
	if (p->state == HANDLE_RUNNING)
		return ALKPROXY_ESTATE;
	rc = server_start(p->srv, err, sizeof(err));
	if (rc != SERVER_OK) {
		log_event(LOG_LEVEL_ERROR, "STARTUP_FAILED", "error", err, LOG_END);
		if (p->diag != NULL) {
			snprintf(msg, sizeof(msg), "start: %s", err);
			p->diag(p->diag_ud, 1, msg);
		}
		p->state = HANDLE_STOPPED;
		return map_server_err(rc);
	}
	p->state = HANDLE_RUNNING;
	return ALKPROXY_OK;
}

unsigned alkproxy_https_port(const alkproxy *p)
{
	return p != NULL && p->state == HANDLE_RUNNING
		       ? server_https_port(p->srv)
		       : 0;
}

unsigned alkproxy_http_port(const alkproxy *p)
{
	return p != NULL && p->state == HANDLE_RUNNING
		       ? server_http_port(p->srv)
		       : 0;
}

int alkproxy_reopen_logs(alkproxy *p)
{
	(void)p;
	return log_reopen() == 0 ? ALKPROXY_OK : ALKPROXY_ESYSTEM;
}

int alkproxy_stop(alkproxy *p)
{
	if (p == NULL)
		return ALKPROXY_EINVAL;
	if (p->state != HANDLE_RUNNING)
		return ALKPROXY_ESTATE;
	server_stop(p->srv);
	p->state = HANDLE_STOPPED;
	return ALKPROXY_OK;
}

void alkproxy_free(alkproxy *p)
{
	if (p == NULL)
		return;
	server_free(p->srv);
	free(p);
}

int alkproxy_stats(const alkproxy *p, struct alkproxy_stats *out, size_t size)
{
	struct alkproxy_stats st;
	uint64_t c[STATS_COUNT];
	unsigned open = 0, k;
	uint64_t refused = 0;

	if (p == NULL || out == NULL)
		return ALKPROXY_EINVAL;
	server_stats(p->srv, c, &open, &refused);
	memset(&st, 0, sizeof(st));
	st.requests = c[STATS_REQUESTS];
	for (k = 0; k < 5; k++)
		st.responses[k + 1] = c[STATS_STATUS_1XX + k];
	st.bytes_in = c[STATS_BYTES_IN];
	st.bytes_out = c[STATS_BYTES_OUT];
	st.rate_limited = c[STATS_RATE_LIMITED];
	st.upstream_errors = c[STATS_UPSTREAM_ERRORS];
	st.connections_refused = refused;
	st.connections_open = open;
	memset(out, 0, size);
	memcpy(out, &st, size < sizeof(st) ? size : sizeof(st));
	return ALKPROXY_OK;
}

/* proxy.c's record as the public one. */
static void request_done(void *ud, const struct proxy_request_info *r)
{
	const alkproxy *p = ud;
	struct alkproxy_request q;

	q.status = r->status;
	q.method = r->method;
	q.host = r->host;
	q.path = r->path;
	q.client_ip = r->client_ip;
	q.site = r->site;
	q.upstream = r->upstream;
	q.error = r->error;
	q.bytes_in = r->bytes_in;
	q.bytes_out = r->bytes_out;
	q.duration_us = r->duration_us;
	q.handler = r->handler;
	p->req_cb(p->req_ud, &q);
}

int alkproxy_set_request_callback(alkproxy *p, alkproxy_request_cb cb,
				  void *ud)
{
	if (p == NULL)
		return ALKPROXY_EINVAL;
	if (p->state == HANDLE_RUNNING)
		return ALKPROXY_ESTATE;
	p->req_cb = cb;
	p->req_ud = ud;
	server_set_request_hook(p->srv, cb != NULL ? request_done : NULL, p);
	return ALKPROXY_OK;
}

/* alkproxy_rq is proxy.c's struct proxy_access. */
static const struct proxy_access *rq_of(const alkproxy_rq *rq)
{
	return (const struct proxy_access *)(const void *)rq;
}

static int access_fwd(void *ud, struct proxy_access *a)
{
	const alkproxy *p = ud;

	return p->acc_cb(p->acc_ud, (alkproxy_rq *)(void *)a);
}

int alkproxy_set_access_callback(alkproxy *p, alkproxy_access_cb cb, void *ud)
{
	if (p == NULL)
		return ALKPROXY_EINVAL;
	if (p->state == HANDLE_RUNNING)
		return ALKPROXY_ESTATE;
	p->acc_cb = cb;
	p->acc_ud = ud;
	server_set_access_hook(p->srv, cb != NULL ? access_fwd : NULL, p);
	return ALKPROXY_OK;
}

const char *alkproxy_rq_method(const alkproxy_rq *rq)
{
	return rq != NULL ? rq_of(rq)->method : NULL;
}

const char *alkproxy_rq_host(const alkproxy_rq *rq)
{
	return rq != NULL ? rq_of(rq)->host : NULL;
}

const char *alkproxy_rq_path(const alkproxy_rq *rq)
{
	return rq != NULL ? rq_of(rq)->path : NULL;
}

const char *alkproxy_rq_client_ip(const alkproxy_rq *rq)
{
	return rq != NULL ? rq_of(rq)->client_ip : NULL;
}

const char *alkproxy_rq_site(const alkproxy_rq *rq)
{
	return rq != NULL ? rq_of(rq)->site : NULL;
}

const char *alkproxy_rq_header(const alkproxy_rq *rq, const char *name)
{
	if (rq == NULL || name == NULL)
		return NULL;
	return proxy_access_header(rq_of(rq), name);
}

int alkproxy_rq_add_header(alkproxy_rq *rq, const char *name,
			   const char *value)
{
	struct proxy_access *a = (struct proxy_access *)(void *)rq;

	if (a == NULL)
		return ALKPROXY_EINVAL;
	if (proxy_access_add_header(a, name, value) == 0)
		return ALKPROXY_OK;
	return a->oom ? ALKPROXY_ENOMEM : ALKPROXY_EINVAL;
}

/* ---- handler sites ---- */

int alkproxy_set_handler(alkproxy *p, const char *label,
			 MHD_AccessHandlerCallback handler, void *handler_cls,
			 MHD_RequestCompletedCallback completed,
			 void *completed_cls)
{
	if (p == NULL || label == NULL)
		return ALKPROXY_EINVAL;
	if (p->state == HANDLE_RUNNING)
		return ALKPROXY_ESTATE;
	return server_set_handler(p->srv, label, handler, handler_cls,
				  completed, completed_cls) == 0
		       ? ALKPROXY_OK
		       : ALKPROXY_EINVAL;
}

/* ---- the certificate manager ---- */

struct alkproxy_certs {
	struct certmgr *m;
	int started;
	alkproxy_diag_cb diag;
	void *diag_ud;
};

static int certs_create(alkproxy_certs **out, struct config *cfg,
			struct diag_ctx *d)
{
	alkproxy_certs *c;
	int rc;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		config_free(cfg);
		return ALKPROXY_ENOMEM;
	}
	if (apply_logging(cfg, d) != 0) {
		config_free(cfg);
		free(c);
		return ALKPROXY_ECONFIG;
	}
	rc = certmgr_new(cfg, &c->m);
	if (rc != CERTMGR_OK) {
		if (d->cb != NULL)
			d->cb(d->ud, 1,
			      rc == CERTMGR_ENOMEM
				      ? "out of memory"
				      : "cannot make the TLS session ticket key");
		free(c);
		return rc == CERTMGR_ENOMEM ? ALKPROXY_ENOMEM : ALKPROXY_ETLS;
	}
	c->diag = d->cb;
	c->diag_ud = d->ud;
	*out = c;
	return ALKPROXY_OK;
}

int alkproxy_certs_create_file(alkproxy_certs **out, const char *path,
			       alkproxy_diag_cb diag, void *ud)
{
	struct diag_ctx d = {diag, ud};
	struct config *cfg = NULL;
	int rc;

	if (out == NULL || path == NULL)
		return ALKPROXY_EINVAL;
	*out = NULL;
	rc = load(path, NULL, NULL, CONFIG_CHECK_FILES | CONFIG_CERTS_ONLY, &d,
		  &cfg);
	return rc != ALKPROXY_OK ? rc : certs_create(out, cfg, &d);
}

int alkproxy_certs_create_string(alkproxy_certs **out, const char *ini,
				 const char *name, alkproxy_diag_cb diag,
				 void *ud)
{
	struct diag_ctx d = {diag, ud};
	struct config *cfg = NULL;
	int rc;

	if (out == NULL || ini == NULL)
		return ALKPROXY_EINVAL;
	*out = NULL;
	rc = load(NULL, ini, name, CONFIG_CHECK_FILES | CONFIG_CERTS_ONLY, &d,
		  &cfg);
	return rc != ALKPROXY_OK ? rc : certs_create(out, cfg, &d);
}

int alkproxy_certs_start(alkproxy_certs *c, unsigned https_port)
{
	char err[512], msg[600];
	int rc;

	if (c == NULL || https_port == 0 || https_port > 65535)
		return ALKPROXY_EINVAL;
	if (c->started)
		return ALKPROXY_ESTATE;
	rc = certmgr_start(c->m, https_port, err, sizeof(err));
	if (rc != CERTMGR_OK) {
		log_event(LOG_LEVEL_ERROR, "STARTUP_FAILED", "error", err,
			  LOG_END);
		if (c->diag != NULL) {
			snprintf(msg, sizeof(msg), "start: %s", err);
			c->diag(c->diag_ud, 1, msg);
		}
		return rc == CERTMGR_ETLS      ? ALKPROXY_ETLS
		       : rc == CERTMGR_ECONFIG ? ALKPROXY_ECONFIG
		       : rc == CERTMGR_ENOMEM  ? ALKPROXY_ENOMEM
					       : ALKPROXY_ESYSTEM;
	}
	c->started = 1;
	return ALKPROXY_OK;
}

int alkproxy_certs_cert_callback(gnutls_session_t session,
				 const gnutls_datum_t *req_ca_dn, int nreqs,
				 const gnutls_pk_algorithm_t *pk_algos,
				 int pk_algos_length, gnutls_pcert_st **pcert,
				 unsigned int *pcert_length,
				 gnutls_privkey_t *pkey)
{
	return tls_cert_callback(session, req_ca_dn, nreqs, pk_algos,
				 pk_algos_length, pcert, pcert_length, pkey);
}

int alkproxy_certs_http01(alkproxy_certs *c, const char *url, char *out,
			  size_t outsz)
{
	if (c == NULL || url == NULL || out == NULL || outsz == 0)
		return -1;
	return certmgr_http01(c->m, url, out, outsz);
}

size_t alkproxy_certs_names(alkproxy_certs *c)
{
	return c != NULL ? certmgr_names(c->m) : 0;
}

int alkproxy_certs_stop(alkproxy_certs *c)
{
	if (c == NULL)
		return ALKPROXY_EINVAL;
	if (!c->started)
		return ALKPROXY_ESTATE;
	certmgr_stop(c->m);
	c->started = 0;
	return ALKPROXY_OK;
}

void alkproxy_certs_free(alkproxy_certs *c)
{
	if (c == NULL)
		return;
	certmgr_free(c->m);
	free(c);
}
