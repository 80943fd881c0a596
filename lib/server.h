/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * server: lifecycle of one proxy instance — the HTTPS libmicrohttpd daemon,
 * the upstream threads, the certificate store and the current config
 * snapshot.
 */
#ifndef AP_SERVER_H
#define AP_SERVER_H

#include <stdatomic.h>

#include "config.h"

/* An immutable config shared by reference: requests pin the snapshot they
 * started with, so a reload never changes a request in flight. */
struct snapshot {
	atomic_int refs;
	struct config *cfg;
};

struct server;

/* Takes ownership of cfg (also on failure). */
int server_create(struct config *cfg, struct server **out, char *err,
		  size_t errsz);
/* Bind and start serving. Logs LISTENING with the bound address. */
int server_start(struct server *srv, char *err, size_t errsz);
/* Bound HTTPS port (after start). */
unsigned server_https_port(const struct server *srv);
/* Stop serving: abort transfers, stop MHD, join threads. */
void server_stop(struct server *srv);
void server_free(struct server *srv);

struct snapshot *server_snapshot(struct server *srv); /* new reference */
void snapshot_put(struct snapshot *s);
int server_stopping(const struct server *srv);
struct upstream *server_pick_upstream(struct server *srv);

#endif
