/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * ppgate: the PROXY protocol stage of one listener (SPEC F20), between
 * accept() and the hand-off to libmicrohttpd, when [server]
 * proxy_protocol_from names the balancers. A connection from one of them
 * must start with a PROXY header (v1 or v2): it is read off the socket and
 * the address it carries is handed on as the connection's peer, so every
 * later stage (logs, rate limit, per-address connection cap,
 * X-Forwarded-For, fail2ban lines) sees the client. A connection from
 * anywhere else must not start with one: its first bytes are peeked, left
 * in place, and it is handed on with its own address. Refused:
 *
 *   PROXY_PROTOCOL peer_ip=… proto=https|http error=untrusted|missing|
 *     malformed|too_long|timeout suppressed=N
 *
 * at warn, at most one line per error kind per second (suppressed= counts
 * the lines left out). A balancer's header must arrive within the
 * listener's header_timeout_secs; a header cut short by the peer's
 * shutdown is malformed. A direct client is held here until its first
 * bytes too (they decide), and closed without a line if none come within
 * that time or it shuts its side first; so is a connection closed before
 * its first byte (a balancer's TCP health check). The time spent here
 * comes on top of the handshake and head deadlines, which start at the
 * hand-off.
 *
 * Admission: a connection from a balancer takes a slot of the listener's
 * total at accept (conns_admit with no address) and is counted for the
 * carried address once the header is read (conns_claim). The balancers'
 * addresses are exempt from the per-address cap (conns_set_exempt, made
 * by ppgate_new), so a LOCAL header's connection, which keeps the
 * balancer's address, counts toward the total only.
 *
 * Threads: everything runs on the listener's acceptor thread, except
 * ppgate_new/ppgate_free (main thread, before the acceptor starts and
 * after it is joined).
 */
#ifndef AP_PPGATE_H
#define AP_PPGATE_H

#include <stddef.h>
#include <sys/socket.h>

#include "cidr.h"

struct ppgate;
struct conns;

/* Where a connection goes once through the gate: as acceptor_add_fn
 * (ownership of fd passes, also on failure; 0 taken, -1 not taken and
 * closed). sa is the client the gate settled on. */
typedef int (*ppgate_pass_fn)(void *ud, int fd, const struct sockaddr *sa,
			      socklen_t len);

/* A gate trusting the n ranges (copied; also made c's exempt addresses),
 * giving a header timeout_secs, admitting with c and handing on with
 * pass(ud, …). proto names the listener in log lines; proto, c and ud
 * must outlive the gate. Before the listener's acceptor starts. NULL when
 * out of memory or out of descriptors. */
struct ppgate *ppgate_new(const struct cidr *from, size_t n,
			  unsigned timeout_secs, const char *proto,
			  struct conns *c, ppgate_pass_fn pass, void *ud);
/* Closes the connections still waiting (their slots released). NULL is
 * fine. */
void ppgate_free(struct ppgate *g);

/* A descriptor to poll for input: the gate has work when it is readable. */
int ppgate_fd(const struct ppgate *g);
/* Milliseconds until the next header deadline, -1 when none waits. */
long ppgate_wait_ms(const struct ppgate *g);

/* A connection just accepted from peer (fd non-blocking; ownership
 * passes): admitted, then handed on at once if its first bytes are there,
 * else kept until they are or its deadline passes. */
void ppgate_take(struct ppgate *g, int fd, const struct sockaddr *peer,
		 socklen_t len);
/* Move every waiting connection whose bytes arrived or whose deadline
 * passed. Cheap when there is nothing to do. */
void ppgate_run(struct ppgate *g);
/* Connections waiting for their first bytes now. */
size_t ppgate_waiting(const struct ppgate *g);

#endif
