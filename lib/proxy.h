/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * proxy: the libmicrohttpd side of a proxied request (ARCHITECTURE.md §7):
 * checks and routing on the first handler call, the request body into the
 * request's upload ring, the response head and body out of its download
 * ring, the REQUEST log line. The request itself and its state machine
 * are xfer.c's; the curl side is upstream.c's.
 *
 * Threads: the callbacks run on the worker thread that owns the
 * connection's daemon (and the completion callback on the main thread
 * when the daemon stops, after the worker ended).
 */
#ifndef AP_PROXY_H
#define AP_PROXY_H

#include <microhttpd.h>

#include <stdint.h>

#include "handler.h"

struct listener;
struct sitestats_slot;
struct stats_slot;
struct upstream;
struct worker;

/* One completed request, as the REQUEST log line has it (strings valid
 * during the call only; path without the query). */
struct proxy_request_info {
	int status;
	const char *method, *host, *path, *client_ip;
	const char *site;     /* the site's host, or NULL (no route) */
	const char *upstream; /* the site's upstream, or NULL */
	const char *handler;  /* the handler site's label, or NULL */
	const char *error;    /* NULL, or client_abort / timeout / aborted */
	uint64_t bytes_in, bytes_out, duration_us;
};

/* A routed request as the access hook sees it (api.c hands it to the
 * program as alkproxy_rq). Valid during the hook only. */
struct proxy_access {
	struct MHD_Connection *conn;
	const char *method, *host, *path, *client_ip, *site;
	void *add; /* struct curl_slist *: "Name: value" lines to add */
	int oom;
};
/* The value of request header name (case-insensitive), or NULL. */
const char *proxy_access_header(const struct proxy_access *a,
				const char *name);
/* Add a request header for the upstream (replacing any the client sent
 * under that name). 0, or -1: not a token name, a value with control
 * bytes, longer than 8 KiB, or one of the headers the proxy writes
 * itself (Host, X-Forwarded-*, X-Real-IP, framing and hop-by-hop). */
int proxy_access_add_header(struct proxy_access *a, const char *name,
			    const char *value);

/* The embedding program's hooks (alkproxy.h), set while the server is not
 * running; NULL = none. request_done: every completed request. access:
 * every routed request before it is forwarded; 0 lets it through, a
 * status 400..599 answers it with that status (anything else: 500). */
struct proxy_hooks {
	void (*request_done)(void *ud, const struct proxy_request_info *r);
	void *ud;
	int (*access)(void *ud, struct proxy_access *a);
	void *access_ud;
	struct handler_table handlers; /* handler sites (handler.h) */
};

/* What the request code of one worker needs, given once: the cls of the
 * worker daemon's request callbacks. Owned by the server. The listener
 * holds the config snapshot, the rate limiter and the connection table;
 * up and w are the worker's curl multi and loop; st its counter slot,
 * hooks the server's (read-only while running). */
struct proxy_ctx {
	struct listener *l;
	struct upstream *up;
	struct worker *w;
	struct stats_slot *st;
	const struct proxy_hooks *hooks;
	struct sitestats_slot *ss; /* per-site counters (metrics) */
	/* the worker's handler-site requests in progress, and whether the
	 * worker is stopping (proxy_stop_handlers); worker thread only */
	struct xfer *handled;
	int stopping;
};

/* libmicrohttpd callbacks, registered by server.c (cls = proxy_ctx). */
void *proxy_uri_log(void *cls, const char *uri, struct MHD_Connection *conn);
enum MHD_Result proxy_access(void *cls, struct MHD_Connection *conn,
			     const char *url, const char *method,
			     const char *version, const char *upload_data,
			     size_t *upload_data_size, void **con_cls);
void proxy_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		     enum MHD_RequestTerminationCode toe);

/* worker_on_stop (cls = proxy_ctx): libmicrohttpd aborts the process when
 * a daemon stops with a suspended connection, so every connection a
 * program's handler left suspended is resumed, and from then on the
 * handler is not called again: the request is closed (its completion
 * callback runs). Worker thread. */
void proxy_stop_handlers(void *cls);

#endif
