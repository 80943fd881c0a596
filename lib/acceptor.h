/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * acceptor: our own accept loop in front of a libmicrohttpd daemon started
 * with MHD_USE_NO_LISTEN_SOCKET. libmicrohttpd 0.9.75 spins a core when
 * accept() fails with EMFILE while a worker has no connection, and logs
 * every failure; this loop backs off instead, logs at most once per 10 s,
 * refuses connections over max_connections at once (instead of leaving them
 * in the backlog), asks conns.c whether each new connection is within the
 * listener's budgets (SPEC F15), and hands the admitted ones to
 * MHD_add_connection().
 */
#ifndef AP_ACCEPTOR_H
#define AP_ACCEPTOR_H

#include <sys/socket.h>

#include <microhttpd.h>

struct acceptor;
struct conns;
struct ppgate;

/* bind_addr syntax of the config: an IPv4 literal or an IPv6 literal,
 * optionally in brackets. Fills ss/len for port. Returns 0 or -1. */
int acceptor_parse_addr(const char *addr, unsigned port,
			struct sockaddr_storage *ss, socklen_t *len, int *v6);

/* Create a listening TCP socket bound to sa (SO_REUSEADDR, CLOEXEC,
 * non-blocking). Returns the fd or -1 with errno set. */
int acceptor_listen(const struct sockaddr *sa, socklen_t len, int backlog);
/* Local port of a bound socket, 0 on error. */
unsigned acceptor_port(int fd);

/* Hands an admitted socket on (to a libmicrohttpd daemon, or to a
 * worker that adds it to its own): ownership of fd passes, also on
 * failure. Returns 0, or -1 when it was not taken (the socket is closed
 * by then, and the acceptor gives the slot back). Acceptor thread. */
typedef int (*acceptor_add_fn)(void *ud, int fd, const struct sockaddr *sa,
			       socklen_t len);

/* Start the accept thread for listen_fd (ownership passes to the
 * acceptor, also on failure). Every accepted connection is admitted by
 * conns_admit(c) before it is handed on with add(ud, …), and released
 * again if add refuses it; the slot of a connection MHD took is released
 * when MHD reports it closed (server.c). proto names the listener in log
 * lines; c, ud and proto must outlive the acceptor. With a gate
 * (ppgate.h: PROXY protocol; ownership passes, also on failure; freed
 * when the acceptor stops) each connection goes through it instead, and
 * it admits and hands on, to the gate's own pass function. */
int acceptor_start(int listen_fd, acceptor_add_fn add, void *ud,
		   const char *proto, struct conns *c, struct ppgate *gate,
		   struct acceptor **out);
/* An acceptor_add_fn for a daemon with its own thread(s): ud is the
 * struct MHD_Daemon. */
int acceptor_add_mhd(void *ud, int fd, const struct sockaddr *sa,
		     socklen_t len);
/* A connection closed somewhere: retry now if accepting is paused for lack
 * of descriptors. Cheap when not paused; any thread. */
void acceptor_kick(struct acceptor *a);
/* Stop accepting and close the listening socket: new clients are refused
 * by the kernel from here on. Joins the thread. Main thread. */
void acceptor_stop(struct acceptor *a);
void acceptor_free(struct acceptor *a);

#endif
