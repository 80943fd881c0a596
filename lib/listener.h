/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * listener: the client connections of one server as every listener (the
 * HTTPS workers' daemons, the port-80 daemon) sees them, and the context
 * their request code is given once instead of calling back into server.c.
 *
 * struct conn_table is shared by a server's listeners: the table of open
 * connections with their request-head deadlines (slowloris; cut by the
 * reaper thread, HEAD_TIMEOUT), the count of requests in flight for the
 * graceful drain, and the stopping flag. struct listener is one listener:
 * its admission budget (conns.h), the table, and what a request needs —
 * the current config snapshot, the rate limiter.
 *
 * Threads: conn_table_new/free/start/stop/close_idle and the listener
 * setup on the main thread; the libmicrohttpd hooks and the request
 * functions on the thread serving the connection (an HTTPS worker, or
 * the port-80 daemon's thread); the table's list is under its mutex, the
 * per-connection flags and the counts are atomics.
 */
#ifndef AP_LISTENER_H
#define AP_LISTENER_H

#include <sys/socket.h>

#include <microhttpd.h>

/* The HTTPS listener's per-connection memory pool. Small: libmicrohttpd
 * clears the whole pool on every keep-alive request. It bounds the request
 * head, and the response head must fit in what the request left of it
 * (proxy.c's response head budget). */
#define LISTENER_CONNECTION_MEMORY (32 * 1024)

/* The request-parsing strictness every listener's daemon gets, as option
 * and value for MHD_start_daemon. libmicrohttpd 1.0's parser at level 1
 * ("more strict, within the RFCs") refuses bare LF, obs-fold, NUL,
 * whitespace in or before names and Transfer-Encoding with
 * Content-Length itself. The 0.9.x parser has no such level: its
 * STRICT_FOR_CLIENT 1 adds only the Host check (whose 400 0.9.75 sends
 * twice) and a close for a space in the target, both of which proxy.c
 * checks itself with one 400, so 0.9.x runs at 0 (doc/design.md,
 * platform differences). The new parser and CLIENT_DISCIPLINE_LVL came
 * with 1.0.0 (0.9.76 and 0.9.77 still have the old parser). */
#if MHD_VERSION >= 0x01000000
#define LISTENER_MHD_DISCIPLINE MHD_OPTION_CLIENT_DISCIPLINE_LVL, (int)1
#else
#define LISTENER_MHD_DISCIPLINE MHD_OPTION_STRICT_FOR_CLIENT, (int)0
#endif

struct config;
struct conns;
struct ratelimit;
struct snapshot;
struct snapshot_cell;
struct conn_table;

/* cfg is the server's static config (timeouts); it must outlive the
 * table. NULL when out of memory. */
struct conn_table *conn_table_new(const struct config *cfg);
/* After every listener stopped. NULL is fine. */
void conn_table_free(struct conn_table *tab);
/* Start / stop the reaper thread of the head deadlines. */
int conn_table_start(struct conn_table *tab);
void conn_table_stop(struct conn_table *tab);
/* From now on: new connections refused, responses say Connection: close. */
void conn_table_set_stopping(struct conn_table *tab);
/* Undo it: a server started again after a stop. */
void conn_table_clear_stopping(struct conn_table *tab);
/* Shutdown: idle keep-alive connections (a request completed on them,
 * none in progress) are shut down now; connections that have not sent
 * their first request yet are left to send it (conn_table_fresh). */
void conn_table_close_idle(struct conn_table *tab);
/* Open connections whose first request has not arrived yet (a client
 * that connected just before a shutdown is about to send it): the drain
 * waits for them too, up to their head deadline. Any thread. */
int conn_table_fresh(struct conn_table *tab, unsigned *tracked);
/* (*tracked: every connection libmicrohttpd has; an accepted one still
 * on its way to a worker is not there yet.) */
/* Requests between their URI callback and their completion. */
int conn_table_in_flight(const struct conn_table *tab);

struct listener {
	struct conn_table *table;
	struct conns *conns; /* this listener's admission budget */
	struct snapshot_cell *snap; /* the server's current config */
	struct ratelimit *rl; /* the server's per-address buckets */
	/* a connection of this listener closed: its accept loop, waiting
	 * for a slot or a descriptor, may go on. Set by the owner of that
	 * loop (server.c for HTTPS, httpd80_start for port 80) before the
	 * first connection; the loop must outlive the listener's
	 * connections. NULL: nothing to kick. */
	void (*kick)(void *ud);
	void *kick_ud;
	/* /health/ready (SPEC F18): NULL when the server is ready, else a
	 * one-word reason ("certificate", "stopping"). Set by server.c
	 * before the listener starts; any thread. NULL: always ready. */
	const char *(*unready)(void *ud);
	void *unready_ud;
};

/* A new reference to the current config snapshot (snapshot_put it). */
struct snapshot *listener_snapshot(const struct listener *l);
int listener_stopping(const struct listener *l);

/* libmicrohttpd hooks of every listener (cls = struct listener). */
enum MHD_Result listener_accept_policy(void *cls, const struct sockaddr *addr,
				       socklen_t addrlen);
void listener_notify_connection(void *cls, struct MHD_Connection *conn,
				void **socket_context,
				enum MHD_ConnectionNotificationCode toe);
/* Copy conn's client address into ss (AF_UNSPEC when unknown) at once:
 * libmicrohttpd 1.0 reuses one result buffer for every
 * MHD_get_connection_info() call. */
void listener_conn_peer(struct MHD_Connection *conn,
			struct sockaddr_storage *ss);
/* A request began / completed on conn (the in-flight count, the idle
 * timeout, the next head's deadline). */
void listener_request_begin(struct listener *l, struct MHD_Connection *conn);
void listener_request_end(struct listener *l, struct MHD_Connection *conn);
/* Request-head deadline (slowloris): after a response, the next head on
 * the connection must be complete within wait_secs plus
 * header_timeout_secs, or the connection is closed (HEAD_TIMEOUT); a new
 * connection gets tls_handshake_timeout_secs plus header_timeout_secs.
 * listener_head_complete clears the deadline when a whole head has
 * arrived (the first handler call). */
void listener_head_expect(struct listener *l, struct MHD_Connection *conn,
			  unsigned wait_secs);
void listener_head_complete(struct MHD_Connection *conn);
/* Count a rate-limit refusal on conn's connection; returns how many it
 * has had (worker thread of the connection). */
unsigned listener_conn_refused(struct MHD_Connection *conn);

#endif
