/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * server: lifecycle of one proxy instance — the HTTPS workers (daemon and
 * curl multi per worker thread), the certificate store and the current
 * config snapshot.
 */
#ifndef AP_SERVER_H
#define AP_SERVER_H

#include <stdatomic.h>

#include <sys/socket.h>

#include <microhttpd.h>

#include "config.h"

struct server;
struct conns;

/* One listener of the server: the cls of its MHD daemon's accept-policy
 * and connection-notify callbacks, so a closing connection gives its slot
 * back to the budget it was admitted from (conns.h). Owned by the
 * server; conns is set before the listener starts. */
struct server_listener {
	struct server *srv;
	struct conns *conns;
};

/* Takes ownership of cfg (also on failure). */
int server_create(struct config *cfg, struct server **out, char *err,
		  size_t errsz);
/* Bind and start serving. Logs LISTENING with the bound address. */
int server_start(struct server *srv, char *err, size_t errsz);
/* Bound HTTPS port (after start). */
unsigned server_https_port(const struct server *srv);
/* Bound plain-HTTP port, 0 when http_port = 0. */
unsigned server_http_port(const struct server *srv);
/* Stop serving: abort transfers, stop MHD, join threads. */
void server_stop(struct server *srv);
void server_free(struct server *srv);

struct snapshot;
/* A new reference to the current config snapshot (snapshot.h; put it
 * with snapshot_put). Any thread. */
struct snapshot *server_snapshot(struct server *srv);
int server_stopping(const struct server *srv);
/* The per-address rate-limit table (SPEC F8), shared by every MHD worker;
 * owned by the server, valid until server_free(). */
struct ratelimit *server_ratelimit(struct server *srv);

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

/* Copy conn's client address into ss (AF_UNSPEC when unknown) at once:
 * libmicrohttpd 1.0 reuses one result buffer for every
 * MHD_get_connection_info() call. Any thread serving conn. */
void server_conn_peer(struct MHD_Connection *conn,
		      struct sockaddr_storage *ss);
/* libmicrohttpd connection hooks shared by every listener; cls is the
 * listener's struct server_listener. */
enum MHD_Result server_accept_policy(void *cls, const struct sockaddr *addr,
				     socklen_t addrlen);
void server_notify_connection(void *cls, struct MHD_Connection *conn,
			      void **socket_context,
			      enum MHD_ConnectionNotificationCode toe);
/* In-flight request accounting, from proxy.c. */
void server_request_begin(struct server *srv, struct MHD_Connection *conn);
void server_request_end(struct server *srv, struct MHD_Connection *conn);
/* Request-head deadline (slowloris): after a response, the next head on
 * the connection must be complete within wait_secs plus
 * header_timeout_secs, or the connection is closed (HEAD_TIMEOUT);
 * a new connection gets tls_handshake_timeout_secs plus
 * header_timeout_secs. server_head_complete clears the deadline when a
 * whole head has arrived (the first handler call). Worker thread. */
void server_head_expect(struct server *srv, struct MHD_Connection *conn,
			unsigned wait_secs);
void server_head_complete(struct MHD_Connection *conn);

#endif
