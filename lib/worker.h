/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * worker: one event-loop thread owning one libmicrohttpd daemon in
 * external epoll mode (ARCHITECTURE.md §7, issue 14). The loop waits on
 * one epoll set holding the daemon's epoll descriptor, an eventfd for
 * connections handed in by the acceptor, and the sockets of parked
 * handshakes, and calls MHD_run() after every wakeup. Idle connections
 * cost nothing: nothing scans them (the poll-mode daemon of release 1
 * rebuilt and scanned the whole set on every wakeup).
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
 * Threads: worker_start/stop/free on the main thread; worker_add() from
 * any thread (the acceptor); worker_track()/worker_untrack() from the
 * daemon's callbacks, i.e. on the worker's own thread; everything else in
 * the loop belongs to the worker thread alone.
 */
#ifndef AP_WORKER_H
#define AP_WORKER_H

#include <sys/socket.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>

struct worker;
struct conns;

/*
 * Start a loop thread for d, a daemon started with MHD_USE_EPOLL,
 * MHD_ALLOW_SUSPEND_RESUME and MHD_USE_NO_LISTEN_SOCKET and no internal
 * thread. c is the listener's admission state: a connection that MHD
 * refuses in worker_add() gives its slot back there. d and c must outlive
 * the worker. Returns 0 or -1.
 */
int worker_start(struct MHD_Daemon *d, struct conns *c, struct worker **out);
/* Hand an accepted socket to the worker (ownership passes, also on
 * failure): it is added to the daemon on the worker thread. Any thread.
 * Returns 0, or -1 when it could not be queued (the socket is closed and
 * the caller gives the slot back). */
int worker_add(struct worker *w, int fd, const struct sockaddr *sa,
	       socklen_t len);
/* From MHD's connection-started notification (on the worker thread): set
 * up handshake parking for the connection's session. */
void worker_track(struct MHD_Connection *conn, gnutls_session_t s, int fd);
/* A request began on the connection (on the worker thread): from now on
 * it is a keep-alive connection that MHD reads itself, never parked
 * (parking costs four system calls; a handshake is done by now). */
void worker_served(int fd);
/* From MHD's connection-closed notification (on the worker thread). */
void worker_untrack(int fd);
/* The worker whose thread calls this, or NULL (not a worker thread). */
struct worker *worker_current(void);
/* Wake the loop (any thread). Call it after MHD_resume_connection() from
 * another thread: libmicrohttpd 0.9.75 and 1.0.1 in external epoll mode
 * can consume the resume's own wakeup inside an MHD_run() that has
 * already passed its check for resumed connections, and
 * MHD_get_timeout() does not count them, so without this the loop may
 * sleep up to a second on a resumed connection. NULL is fine. */
void worker_wake(struct worker *w);
/* Stop the loop: parked connections are resumed first, so that the
 * daemon holds none suspended by us; joins the thread. The daemon is then
 * the caller's to stop. Main thread. NULL is fine. */
void worker_stop(struct worker *w);
void worker_free(struct worker *w);

#endif
