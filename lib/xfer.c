/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * xfer: the request state machine (see xfer.h). No system calls, no
 * libmicrohttpd, no curl calls: effects go through x->ops.
 *
 * Download pacing: libcurl 8 (Debian 13) reads up to 64 KiB from the
 * upstream each time a paused transfer is unpaused, before its write
 * callback can pause it again, and buffers what did not fit without
 * limit; so every unpause must take more than that, or curl's buffer
 * grows by the difference each time (a 1 GiB download grew the process
 * by 500 MiB when unpausing at 32 KiB free). The download ring therefore
 * grows to XFER_RING_MAX on the first chunk that does not fit, and
 * curl is unpaused only when half of it is free.
 *
 * With hold_upload the upload waits while the download is paused:
 * libcurl from 8.10.1 reads the upstream socket on every pass over a
 * transfer that still sends, paused or not, one buffer (64 KiB) each
 * time, and keeps what it read (its cw-pause writer): an upstream that
 * answers before it has read the request body made curl hold the whole
 * answer while the upload went on (Debian 13: 277 MiB RSS for a 256 MiB
 * answer). With both directions paused it does not read, and memory is
 * bounded by the ring. Older libcurl (Debian 12's 7.88) does not read
 * while paused: there the upload goes on and the kernel's socket
 * buffers hold the answer, so an upstream that streams its answer while
 * it reads (an echo) keeps working for bodies of a few MiB. Either way
 * an upstream that needs more of the body before it reads on ends in a
 * standoff that upstream.c's stuck scan ends after read_timeout_secs.
 *
 * Ordering rule: the client is suspended before the upstream is unpaused,
 * never after. curl may call back inside curl_easy_pause (a paused
 * download delivers its held chunk at once), and that callback must find
 * the client already waiting, or its resume is lost and both sides wait
 * for ever.
 *
 * Threads: the worker thread serving the request (xfer.h).
 */
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "xfer.h"

struct xfer *xfer_new(const struct xfer_ops *ops, void *ctx,
		      const char *target)
{
	struct xfer *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return NULL;
	x->target = strdup(target != NULL ? target : "");
	if (x->target == NULL) {
		free(x);
		return NULL;
	}
	x->refs = 1;
	x->ops = ops;
	x->ctx = ctx;
	x->client_fd = -1;
	x->resp_size = -1;
	x->resp_head_budget = XFER_RESP_HEADERS_MAX; /* proxy.c sets it */
	x->body_size = -1;
	clock_gettime(CLOCK_MONOTONIC, &x->t_start);
	return x;
}

void xfer_ref(struct xfer *x)
{
	x->refs++;
}

void xfer_put(struct xfer *x)
{
	if (x == NULL || --x->refs > 0)
		return;
	ring_free(&x->up_ring);
	ring_free(&x->down_ring);
	curl_slist_free_all(x->req_headers);
	free(x->target);
	free(x->method_long);
	free(x->resp_hdrs);
	if (x->snap != NULL)
		snapshot_put(x->snap);
	free(x);
}

const char *xfer_method(const struct xfer *x)
{
	return x->method_long != NULL ? x->method_long : x->method;
}

/* Not the coarse clock: curl's timer is kept in it (upstream.c), and a
 * clock a few ms behind the loop's would fire curl's deadlines late. */
long xfer_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L + 1;
}

static void suspend(struct xfer *x, enum xfer_wait why)
{
	x->wait = why;
	x->ops->suspend(x);
}

/* Resume the client if it waits for why (XFER_WAIT_NONE: for anything). */
static void wake(struct xfer *x, enum xfer_wait why)
{
	if (x->wait == XFER_WAIT_NONE || x->client_gone ||
	    (why != XFER_WAIT_NONE && x->wait != why))
		return;
	x->wait = XFER_WAIT_NONE;
	x->ops->resume(x);
}

/* curl's pause is per direction but our unpause (CURLPAUSE_CONT) is for
 * both: with hold_upload the send side is not woken while the download
 * is paused. */
static void unpause_send(struct xfer *x)
{
	if (x->send_paused && !(x->recv_paused && x->hold_upload) &&
	    x->up_state == XFER_UP_RUNNING) {
		x->send_paused = 0;
		x->ops->unpause(x);
	}
}

/* ---- client side ---- */

int xfer_begin(struct xfer *x)
{
	if (ring_init(&x->down_ring, XFER_RING_SIZE) != 0 ||
	    (x->has_body && ring_init(&x->up_ring, XFER_RING_SIZE) != 0))
		return -1;
	x->state = XFER_PROXYING;
	x->up_state = XFER_UP_RUNNING;
	xfer_ref(x); /* the transfer's, dropped by xfer_up_done() */
	return 0;
}

size_t xfer_client_push(struct xfer *x, const char *data, size_t len)
{
	size_t n;

	if (x->up_state != XFER_UP_RUNNING)
		return len; /* answered or failed: drain the body */
	n = ring_write(&x->up_ring, data, len);
	x->client_moved += n;
	if (n < len)
		suspend(x, XFER_WAIT_SPACE);
	if (n > 0)
		unpause_send(x);
	return n;
}

int xfer_client_body_end(struct xfer *x)
{
	x->upload_done = 1;
	if (x->head_ready) {
		unpause_send(x);
		return 1;
	}
	suspend(x, XFER_WAIT_HEAD);
	unpause_send(x); /* curl reads the end of the body */
	return 0;
}

ssize_t xfer_client_pull(struct xfer *x, char *buf, size_t max)
{
	size_t n = ring_read(&x->down_ring, buf, max);

	if (n > 0) {
		x->client_moved += n;
		if (x->recv_paused && x->up_state == XFER_UP_RUNNING &&
		    ring_space(&x->down_ring) >= x->down_ring.cap / 2) {
			x->recv_paused = x->send_paused = 0;
			x->ops->unpause(x); /* may refill the ring at once */
		}
		return (ssize_t)n;
	}
	if (x->up_state == XFER_UP_DONE)
		return x->result == CURLE_OK ? XFER_PULL_END : XFER_PULL_ERROR;
	suspend(x, XFER_WAIT_BODY);
	if (x->recv_paused) { /* cannot stay paused with an empty ring */
		x->recv_paused = x->send_paused = 0;
		x->ops->unpause(x);
	}
	return 0;
}

void xfer_client_cancel(struct xfer *x)
{
	if (x->up_state == XFER_UP_RUNNING)
		x->ops->abort(x);
}

void xfer_client_gone(struct xfer *x)
{
	x->client_gone = 1;
	x->wait = XFER_WAIT_NONE;
	if (x->up_state == XFER_UP_RUNNING)
		x->ops->abort(x);
}

/* ---- upstream side ---- */

size_t xfer_up_pull(struct xfer *x, char *buf, size_t max)
{
	size_t n;

	if (x->recv_paused && x->hold_upload) { /* see hold_upload above */
		x->send_paused = 1;
		return XFER_UP_WAIT;
	}
	n = ring_read(&x->up_ring, buf, max);
	if (n == 0 && !x->upload_done) {
		x->send_paused = 1;
		return XFER_UP_WAIT;
	}
	if (n > 0)
		wake(x, XFER_WAIT_SPACE);
	return n;
}

void xfer_up_head(struct xfer *x, long status)
{
	x->status = status;
	x->head_ready = 1;
	wake(x, XFER_WAIT_HEAD);
}

int xfer_up_push(struct xfer *x, const char *data, size_t len)
{
	if (ring_space(&x->down_ring) < len &&
	    x->down_ring.cap < XFER_RING_MAX)
		ring_grow(&x->down_ring, XFER_RING_MAX); /* may fail: fine */
	if (ring_space(&x->down_ring) < len) {
		/* all or nothing: curl hands the same chunk again later */
		x->recv_paused = 1;
		return -1;
	}
	ring_write(&x->down_ring, data, len);
	wake(x, XFER_WAIT_BODY);
	return 0;
}

int xfer_up_done(struct xfer *x, CURLcode result, long connect_time_us)
{
	if (x->up_state != XFER_UP_RUNNING)
		return 0;
	x->up_state = XFER_UP_DONE;
	x->result = result;
	x->connect_time_us = connect_time_us;
	x->head_ready = 1; /* an error head: proxy.c sees status 0 */
	x->send_paused = x->recv_paused = 0;
	wake(x, XFER_WAIT_NONE);
	xfer_put(x); /* the transfer's reference */
	return 1;
}
