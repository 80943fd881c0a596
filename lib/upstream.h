/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * upstream: the curl side of one worker (ARCHITECTURE.md §7). One curl
 * multi handle per worker thread, driven through curl's socket API from
 * the worker's own epoll loop (worker.h): curl's sockets are sources in
 * the loop, curl's timer is the loop's timer. A pool of reusable easy
 * handles, and the watch on suspended clients that notices a client
 * leaving while its request waits on the upstream.
 *
 * Threads: everything on the worker thread, except upstream_create and
 * upstream_free (main thread, before the loop runs and after it ended).
 */
#ifndef AP_UPSTREAM_H
#define AP_UPSTREAM_H

#include "xfer.h"

struct upstream;
struct worker;

/* Bind a curl multi to w (sets w's hooks). Returns 0 or -1. */
int upstream_create(struct worker *w, struct upstream **out);
/* After the worker stopped (its stop hook aborted every transfer). */
void upstream_free(struct upstream *u);

/* The worker's loop has ended: no transfer can start (shutdown). */
int upstream_stopped(const struct upstream *u);
/* Start x's transfer (x is in XFER_PROXYING, xfer_begin done). On
 * failure the transfer ends at once (xfer_up_done with an error). */
void upstream_start(struct upstream *u, struct xfer *x);
/* The xfer_ops of a request on this upstream. */
void upstream_unpause(struct upstream *u, struct xfer *x);
void upstream_abort(struct upstream *u, struct xfer *x);
/* The client of x was suspended to wait on the transfer / resumed. A
 * client suspended for a while has its socket watched: its end aborts
 * the transfer (libmicrohttpd does not see a suspended client leave). */
void upstream_client_waits(struct upstream *u, struct xfer *x);
void upstream_client_back(struct upstream *u, struct xfer *x);

#endif
