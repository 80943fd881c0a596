/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * conns: admission of client connections on one listener (SPEC F15).
 * Each listener (HTTPS, plain HTTP) has its own budget, so a flood of one
 * can never take the slots of the other, and inside it a cap per client
 * address, keyed like the rate limiter (addrkey.h: IPv4 /32, IPv6 /64),
 * counted from accept() so a connection that never finishes its handshake
 * counts too. Every refusal is logged as
 *
 *   CONN_LIMIT client_ip=… [client_net=…/64] limit=per_ip|total proto=… max=N suppressed=N
 *
 * at warn, at most one line per address per CONNS_LOG_EVERY_SECS (and one
 * `limit=total` line per listener per that time), the refusals in between
 * counted in suppressed=.
 *
 * Threads: conns_admit() runs on the listener's acceptor thread,
 * conns_release() on whichever thread closes the connection (MHD
 * workers); the address table and the log state are under the object's
 * mutex, the open count and the settings are atomics. new/free on the
 * main thread.
 */
#ifndef AP_CONNS_H
#define AP_CONNS_H

#include <stdint.h>
#include <sys/socket.h>

#define CONNS_LOG_EVERY_SECS 10

struct conns;
struct cidr;

/* New, empty admission state for a listener named proto ("https",
 * "http"; the string must outlive the object) with max_total slots.
 * per_ip_ceiling caps whatever conns_set_per_ip() later asks for (0 = no
 * ceiling). The per-address cap starts off. NULL when out of memory. */
struct conns *conns_new(const char *proto, unsigned max_total,
			unsigned per_ip_ceiling);
/* NULL is fine. No connection may be admitted or released any more. */
void conns_free(struct conns *c);

/* Addresses the per-address cap never counts, copied (the PROXY protocol
 * balancers: their connections carry other clients; ppgate_new sets
 * them). Only while no connection of c is open (before its listener
 * starts). Returns 0, or -1 out of memory (unchanged). */
int conns_set_exempt(struct conns *c, const struct cidr *ranges, size_t n);
/* The per-address cap (max_connections_per_ip; 0 = off), limited to the
 * ceiling given to conns_new(). Takes effect for the next accept: a
 * reload lowering it closes nothing. Any thread. */
void conns_set_per_ip(struct conns *c, unsigned per_ip);
/* The cap in force (after the ceiling). */
unsigned conns_per_ip(const struct conns *c);
/* From now on every conns_admit() refuses, silently (shutdown). */
void conns_close(struct conns *c);
/* A connection refused by another stage of the listener (the PROXY
 * protocol gate): counted with the others. Any thread. */
void conns_note_refused(struct conns *c);
/* Connections refused since creation (per address or total, and those
 * noted above). */
uint64_t conns_refused(const struct conns *c);
/* Admit again (a server started again after a stop). */
void conns_reopen(struct conns *c);

/* Admit one new connection from peer: returns 1 and counts it, or 0 (over
 * the per-address cap, over the total, or closed) and logs the refusal
 * as above. An address of another family (or NULL) is counted in the
 * total only. The caller closes a refused socket at once. */
int conns_admit(struct conns *c, const struct sockaddr *peer);
/* For a connection admitted with a NULL peer (a balancer's, whose client
 * is known only once its PROXY header is read: ppgate.c): count it for
 * peer's address too. Returns 1, or 0 over the per-address cap (logged as
 * by conns_admit; the slot of the total is still taken: release it with
 * conns_release(c, NULL)). Acceptor thread, like conns_admit. */
int conns_claim(struct conns *c, const struct sockaddr *peer);
/* An admitted connection from peer closed (or was not taken after all). */
void conns_release(struct conns *c, const struct sockaddr *peer);
/* Connections admitted and not released. */
unsigned conns_open(const struct conns *c);
/* Connections counted for peer's address (0 for none); for tests. */
unsigned conns_count_of(struct conns *c, const struct sockaddr *peer);

#endif
