/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * worker: one event-loop thread owning one libmicrohttpd daemon in
 * external epoll mode and, through its hooks and sources, one curl multi
 * (upstream.c): a request is served on this one thread from its first
 * byte to its log line (ARCHITECTURE.md §7, issue 14). The loop waits on
 * one epoll set holding the daemon's epoll descriptor, an eventfd for
 * connections handed in by the acceptor, the sockets of parked
 * handshakes and the sources added with worker_io_add (curl's sockets,
 * watched clients), with the earliest of MHD's timeout, the parked
 * deadlines and the timer of worker_timer; it dispatches the events,
 * calls the timer hook when due, then MHD_run(). Idle connections cost
 * nothing: nothing scans them (the poll-mode daemon of release 1 rebuilt
 * and scanned the whole set on every wakeup).
 *
 * Handshake parking. libmicrohttpd (0.9.75 and 1.0.1) in epoll mode keeps
 * a connection whose TLS handshake waits for the client in its "ready"
 * list for ever: GnuTLS reads the socket itself, MHD never sees EAGAIN
 * and never clears its read-ready flag, so MHD_get_timeout() says 0 and
 * every MHD_run() retries every such handshake — one client stalled after
 * 11 bytes of ClientHello spins a core. A GnuTLS pull function on every
 * connection notes a read that found nothing before the connection's
 * first request (the handshake, or the wait for the first head); after
 * MHD_run the loop suspends that connection (which takes it out of MHD's ready list
 * and epoll set), watches its socket in its own epoll set, and resumes it
 * when a byte (or the end) arrives. A stalled handshake then costs nothing
 * at all, however many there are (bench/loop_probe.sh measures it, see
 * doc/performance.md). Suspended connections do not time out in MHD, so
 * the loop keeps a parked connection's inactivity timeout itself (shut
 * down and resumed when it passes: MHD sees the end and closes it); the
 * server's head deadline (server.c) shuts sockets down too, which wakes a
 * parked connection the same way.
 * As a safety net against a spin nobody has found yet, after 8 zero
 * timeouts in a row in which no byte moved on any TLS connection (the
 * worker's transport functions count them) and no event arrived, the
 * loop waits 1 ms on its epoll set.
 *
 * Threads: worker_create/set_hooks/run/stop/free on the main thread; worker_add() from
 * any thread (the acceptor); worker_track()/worker_untrack() from the
 * daemon's callbacks, i.e. on the worker's own thread; everything else in
 * the loop belongs to the worker thread alone.
 */
#ifndef AP_WORKER_H
#define AP_WORKER_H

#include <stdint.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>

struct worker;
struct conns;

/* Set the worker up (its epoll set, its wakeup descriptor); no thread
 * yet. c is the listener's admission state: a connection that MHD
 * refuses in worker_add() gives its slot back there. Returns 0 or -1. */
int worker_create(struct conns *c, struct worker **out);

/* What the loop calls besides libmicrohttpd (upstream.c's curl multi):
 * timer when the delay given to worker_timer() has passed, stop on the
 * worker thread when the loop ends, before parked connections are
 * resumed. Set before worker_run(). */
struct worker_hooks {
	void *ud;
	void (*timer)(void *ud);
	void (*stop)(void *ud);
};
void worker_set_hooks(struct worker *w, const struct worker_hooks *h);
/* One more call on the worker thread when the loop ends, before the hooks'
 * stop (proxy.c: the connections the program's handlers suspended are
 * resumed). Set before worker_run(). */
void worker_on_stop(struct worker *w, void (*fn)(void *ud), void *ud);

/* Start the loop thread for d, a daemon started with MHD_USE_EPOLL,
 * MHD_ALLOW_SUSPEND_RESUME and MHD_USE_NO_LISTEN_SOCKET and no internal
 * thread. d must outlive the loop. Returns 0 or -1. */
int worker_run(struct worker *w, struct MHD_Daemon *d);

/* A descriptor in the loop's epoll set besides libmicrohttpd's: fn is
 * called on the worker thread with the epoll events. kind_ is the
 * worker's. */
struct worker_io {
	int kind_;
	void (*fn)(struct worker_io *io, uint32_t events);
};
/* Worker thread (or before worker_run / after worker_stop). 0 or -1. */
int worker_io_add(struct worker *w, int fd, uint32_t events,
		  struct worker_io *io);
int worker_io_mod(struct worker *w, int fd, uint32_t events,
		  struct worker_io *io);
/* Remove fd; io is not called again, not even for an event of the batch
 * being dispatched, so the caller may free it at once. */
void worker_io_del(struct worker *w, int fd, struct worker_io *io);
/* Call hooks.timer once, delay_ms from now (0: at the next turn of the
 * loop; negative: never). Replaces the previous delay. Worker thread. */
void worker_timer(struct worker *w, long delay_ms);

/* Hand an accepted socket to the worker (ownership passes, also on
 * failure): it is added to the daemon on the worker thread. Any thread.
 * Returns 0, or -1 when it could not be queued (the socket is closed and
 * the caller gives the slot back). */
int worker_add(struct worker *w, int fd, const struct sockaddr *sa,
	       socklen_t len);
/* From MHD's connection-started notification (on the worker thread): set
 * up handshake parking for the connection's session. */
void worker_track(struct MHD_Connection *conn, gnutls_session_t s, int fd,
		  const struct sockaddr_storage *peer);
/* The client of a tracked connection (peer as given to worker_track: the
 * address a PROXY header carried, where one did): 0, or -1 when fd is not
 * tracked. On the worker thread that owns fd (the TLS callbacks run
 * there); a tls_peer_fn (tls.h). */
int worker_peer(int fd, struct sockaddr_storage *out);
/* A request began on the connection (on the worker thread): from now on
 * it is a keep-alive connection that MHD reads itself, never parked
 * (parking costs four system calls; a handshake is done by now). */
void worker_served(int fd);
/* From MHD's connection-closed notification (on the worker thread). */
void worker_untrack(int fd);
/* Make the loop's next wait a zero one (any thread; from another thread
 * it also wakes the loop). Call it after MHD_resume_connection():
 * libmicrohttpd 0.9.75 and 1.0.1 in external epoll mode can consume the
 * resume's own wakeup inside an MHD_run() that has already passed its
 * check for resumed connections, and MHD_get_timeout() does not count
 * them, so without this the loop may sleep up to a second on a resumed
 * connection. On the worker thread it costs one atomic store. NULL is
 * fine. */
void worker_wake(struct worker *w);
/* Stop the loop: parked connections are resumed first, so that the
 * daemon holds none suspended by us; joins the thread. The daemon is then
 * the caller's to stop. Main thread. NULL is fine. */
void worker_stop(struct worker *w);
void worker_free(struct worker *w);

#endif
