/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * server: lifecycle of one proxy instance — the HTTPS workers (daemon and
 * curl multi per worker thread), the certificate store and the current
 * config snapshot.
 */
#ifndef AP_SERVER_H
#define AP_SERVER_H

#include <stddef.h>

#include <stdint.h>

#include "config.h"
#include "proxy.h"
#include "stats.h"

struct server;

/* What a failed server_create or server_start ran into (api.c maps these
 * to the public ALKPROXY_E* codes); 0 is success. */
enum server_err {
	SERVER_OK = 0,
	SERVER_ENOMEM = -1,  /* out of memory */
	SERVER_ETLS = -2,    /* certificates or the TLS setup */
	SERVER_ELISTEN = -3, /* a listening socket */
	SERVER_ESYSTEM = -4, /* a thread or another system resource */
	SERVER_ECONFIG = -5  /* the config (e.g. acme_cache_dir unusable) */
};

/* Takes ownership of cfg (also on failure). Returns 0 or a server_err
 * with a message in err. */
int server_create(struct config *cfg, struct server **out, char *err,
		  size_t errsz);
/* Bind and start serving (also again after server_stop). Logs LISTENING
 * with the bound address. Returns 0 or a server_err with err set. */
int server_start(struct server *srv, char *err, size_t errsz);
/* Bound HTTPS port (after start). */
unsigned server_https_port(const struct server *srv);
/* Bound plain-HTTP port, 0 when http_port = 0. */
unsigned server_http_port(const struct server *srv);
/* Stop serving: abort transfers, stop MHD, join threads. */
void server_stop(struct server *srv);
void server_free(struct server *srv);

/* Replace the dynamic configuration (sites, rate limit, body limit, log
 * level, manual certificates) with newcfg for new requests; requests in
 * flight finish on their snapshot. Takes ownership of newcfg. Returns 0,
 * or -1 with err set (the old configuration stays). Static changes are
 * logged once as a warning. Main thread. */
int server_reload(struct server *srv, struct config *newcfg, char *err,
		  size_t errsz);
/* Graceful stop: refuse new connections, let requests in flight finish
 * for up to timeout_secs (negative: the configured shutdown timeout),
 * then abort what remains and stop. Main thread. */
void server_shutdown(struct server *srv, int timeout_secs);

/* The per-request callback (fn NULL: none). Only while not running. */
void server_set_request_hook(struct server *srv,
			     void (*fn)(void *ud,
					const struct proxy_request_info *r),
			     void *ud);
/* The access hook (fn NULL: none). Only while not running. */
/* Register (fn != NULL) or remove a handler site's handler (handler.h);
 * only while not running. 0, or -1 (label invalid, table full). */
int server_set_handler(struct server *srv, const char *label,
		       MHD_AccessHandlerCallback fn, void *cls,
		       MHD_RequestCompletedCallback done, void *done_cls);
/* A reload's outcome, for the metrics (api.c counts failures that never
 * reach server_reload too). Any thread. */
void server_count_reload(struct server *srv, int ok);
void server_set_access_hook(struct server *srv,
			    int (*fn)(void *ud, struct proxy_access *a),
			    void *ud);
/* The request counters summed over the workers, the open HTTPS
 * connections and the connections refused by the limits. Any thread. */
void server_stats(const struct server *srv, uint64_t counters[STATS_COUNT],
		  unsigned *open, uint64_t *refused);

#endif
