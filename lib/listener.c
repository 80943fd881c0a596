/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * listener: client connections as every listener sees them (listener.h):
 * the MHD accept policy and connection notifications, the table of open
 * connections with their head deadlines and its reaper thread, the
 * in-flight count of the graceful drain.
 * Threads: see listener.h.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>

#include "config.h"
#include "conns.h"
#include "listener.h"
#include "log.h"
#include "snapshot.h"
#include "tls.h"
#include "worker.h"
#include "threads.h"

struct conn_table {
	const struct config *cfg;
	atomic_int stopping;
	/* requests between the URI callback and NOTIFY_COMPLETED */
	atomic_int in_flight;
	/* open client connections, so shutdown can close the idle ones
	 * and the reaper can cut late heads */
	pthread_mutex_t mu;
	struct conn_track *head;
	/* request-head deadlines (slowloris): the thread that closes
	 * connections whose head did not arrive in time */
	pthread_t reaper;
	int reaper_running;
	int reaper_stop;
	pthread_mutex_t reaper_mu;
	pthread_cond_t reaper_cv;
};


struct conn_table *conn_table_new(const struct config *cfg)
{
	struct conn_table *tab = calloc(1, sizeof(*tab));
	pthread_condattr_t ca;

	if (tab == NULL)
		return NULL;
	tab->cfg = cfg;
	pthread_mutex_init(&tab->mu, NULL);
	pthread_mutex_init(&tab->reaper_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&tab->reaper_cv, &ca);
	pthread_condattr_destroy(&ca);
	return tab;
}

void conn_table_free(struct conn_table *tab)
{
	if (tab == NULL)
		return;
	conn_table_stop(tab);
	pthread_mutex_destroy(&tab->mu);
	pthread_mutex_destroy(&tab->reaper_mu);
	pthread_cond_destroy(&tab->reaper_cv);
	free(tab);
}

void conn_table_set_stopping(struct conn_table *tab)
{
	atomic_store(&tab->stopping, 1);
}

void conn_table_clear_stopping(struct conn_table *tab)
{
	atomic_store(&tab->stopping, 0);
}

int conn_table_in_flight(const struct conn_table *tab)
{
	return atomic_load(&tab->in_flight);
}

struct snapshot *listener_snapshot(const struct listener *l)
{
	return snapshot_cell_get(l->snap);
}

int listener_stopping(const struct listener *l)
{
	return atomic_load(&l->table->stopping);
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
	/* a request completed on it: idle now means kept alive, not "its
	 * client has yet to send the first request" (conn_table_close_idle) */
	atomic_int served;
	atomic_long deadline;
	struct sockaddr_storage addr; /* the client, for the log */
	unsigned refused; /* 429s on it (its worker thread only) */
	struct conn_track *prev, *next;
};

enum MHD_Result listener_accept_policy(void *cls, const struct sockaddr *addr,
				       socklen_t addrlen)
{
	const struct listener *l = cls;

	(void)addr;
	(void)addrlen;
	/* The budgets are enforced by the acceptors (conns_admit). */
	return listener_stopping(l) ? MHD_NO : MHD_YES;
}

/* The client address of conn, copied at once: libmicrohttpd 1.0 reuses
 * one result buffer for every MHD_get_connection_info() call. */
void listener_conn_peer(struct MHD_Connection *conn,
			struct sockaddr_storage *ss)
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

void listener_notify_connection(void *cls, struct MHD_Connection *conn,
				void **socket_context,
				enum MHD_ConnectionNotificationCode toe)
{
	struct listener *l = cls;
	struct conn_table *tab = l->table;
	const struct config *cfg = tab->cfg;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		unsigned t = cfg->tls_handshake_timeout_secs;
		const union MHD_ConnectionInfo *ci;
		struct conn_track *ct = calloc(1, sizeof(*ct));
		gnutls_session_t session = NULL;
		struct sockaddr_storage peer;
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
		/* the client: the socket's peer, or the one a PROXY header
		 * named (ppgate.c) */
		listener_conn_peer(conn, &peer);
		/* The session exists, its handshake has not started (it runs
		 * on this thread once bytes arrive). */
		if (session != NULL) {
			tls_session_setup(session);
			worker_track(conn, session, fd, &peer);
		}

		/* The slot was taken by the acceptor (conns_admit). */
		if (ct != NULL && fd >= 0) {
			ct->fd = fd;
			ct->addr = peer;
			/* The handshake and the first head must be done
			 * in this time, however slowly the bytes come. */
			atomic_init(&ct->deadline,
				    threads_mono_ms() +
					    1000L * (long)(t +
							   cfg->header_timeout_secs));
			pthread_mutex_lock(&tab->mu);
			ct->next = tab->head;
			if (tab->head != NULL)
				tab->head->prev = ct;
			tab->head = ct;
			pthread_mutex_unlock(&tab->mu);
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
			listener_conn_peer(conn, &peer);
		}
		conns_release(l->conns, (const struct sockaddr *)&peer);
		if (l->kick != NULL)
			l->kick(l->kick_ud);
		if (ct != NULL) {
			pthread_mutex_lock(&tab->mu);
			if (ct->prev != NULL)
				ct->prev->next = ct->next;
			else
				tab->head = ct->next;
			if (ct->next != NULL)
				ct->next->prev = ct->prev;
			pthread_mutex_unlock(&tab->mu);
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

void listener_request_begin(struct listener *l, struct MHD_Connection *conn)
{
	struct conn_track *ct = conn_track_of(conn);

	if (ct != NULL) {
		atomic_store(&ct->busy, 1);
		worker_served(ct->fd);
	}
	atomic_fetch_add(&l->table->in_flight, 1);
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
				  l->table->cfg->idle_timeout_secs);
}

void listener_request_end(struct listener *l, struct MHD_Connection *conn)
{
	struct conn_track *ct = conn_track_of(conn);

	if (ct != NULL) {
		atomic_store(&ct->busy, 0);
		atomic_store(&ct->served, 1);
		listener_head_expect(l, conn, l->table->cfg->idle_timeout_secs);
	}
	atomic_fetch_sub(&l->table->in_flight, 1);
}

void listener_head_expect(struct listener *l, struct MHD_Connection *conn,
			  unsigned wait_secs)
{
	struct conn_track *ct = conn_track_of(conn);

	if (ct != NULL)
		atomic_store(&ct->deadline,
			     threads_mono_ms() +
				     1000L * (long)(wait_secs +
						    l->table->cfg->header_timeout_secs));
}

unsigned listener_conn_refused(struct MHD_Connection *conn)
{
	struct conn_track *ct = conn_track_of(conn);

	return ct != NULL ? ++ct->refused : 1;
}

void listener_head_complete(struct MHD_Connection *conn)
{
	struct conn_track *ct = conn_track_of(conn);

	if (ct != NULL)
		atomic_store(&ct->deadline, 0);
}

/* Shutdown: idle keep-alive connections (and handshakes that never sent a
 * request) are closed now rather than held for the drain. shutdown(2)
 * makes MHD's next read see the end and close the connection itself. */
void conn_table_close_idle(struct conn_table *tab)
{
	struct conn_track *ct;

	pthread_mutex_lock(&tab->mu);
	for (ct = tab->head; ct != NULL; ct = ct->next)
		if (!atomic_load(&ct->busy) && atomic_load(&ct->served))
			shutdown(ct->fd, SHUT_RDWR);
	pthread_mutex_unlock(&tab->mu);
}

int conn_table_fresh(struct conn_table *tab, unsigned *tracked)
{
	struct conn_track *ct;
	int n = 0;

	*tracked = 0;
	pthread_mutex_lock(&tab->mu);
	for (ct = tab->head; ct != NULL; ct = ct->next) {
		n += !atomic_load(&ct->busy) && !atomic_load(&ct->served);
		(*tracked)++;
	}
	pthread_mutex_unlock(&tab->mu);
	return n;
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
static unsigned reap_expired(struct conn_table *tab, long now)
{
	struct reaped cut[REAPER_BATCH];
	struct conn_track *ct;
	unsigned n = 0, i;

	pthread_mutex_lock(&tab->mu);
	for (ct = tab->head; ct != NULL && n < REAPER_BATCH; ct = ct->next) {
		long d = atomic_load(&ct->deadline);

		if (d == 0 || now < d)
			continue;
		atomic_store(&ct->deadline, 0);
		shutdown(ct->fd, SHUT_RDWR);
		log_format_ip((const struct sockaddr *)&ct->addr, cut[n].ip,
			      sizeof(cut[n].ip));
		n++;
	}
	pthread_mutex_unlock(&tab->mu);
	for (i = 0; i < n; i++)
		log_event(LOG_LEVEL_WARN, "HEAD_TIMEOUT", "client_ip",
			  cut[i].ip, "action", "connection closed", LOG_END);
	return n;
}

static void *reaper_main(void *arg)
{
	struct conn_table *tab = arg;

	pthread_mutex_lock(&tab->reaper_mu);
	while (!tab->reaper_stop) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += REAPER_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&tab->reaper_cv, &tab->reaper_mu, &ts);
		if (tab->reaper_stop)
			break;
		pthread_mutex_unlock(&tab->reaper_mu);
		while (reap_expired(tab, threads_mono_ms()) == REAPER_BATCH)
			;
		pthread_mutex_lock(&tab->reaper_mu);
	}
	pthread_mutex_unlock(&tab->reaper_mu);
	return NULL;
}

int conn_table_start(struct conn_table *tab)
{
	tab->reaper_stop = 0;
	if (thread_start(&tab->reaper, reaper_main, tab) != 0)
		return -1;
	tab->reaper_running = 1;
	return 0;
}

void conn_table_stop(struct conn_table *tab)
{
	if (!tab->reaper_running)
		return;
	pthread_mutex_lock(&tab->reaper_mu);
	tab->reaper_stop = 1;
	pthread_cond_signal(&tab->reaper_cv);
	pthread_mutex_unlock(&tab->reaper_mu);
	pthread_join(tab->reaper, NULL);
	tab->reaper_running = 0;
}

