/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * xfer: one proxied request and its state machine (ARCHITECTURE.md §7).
 *
 * A request is served by one worker thread from its first byte to its
 * REQUEST log line: the libmicrohttpd callbacks of proxy.c drive the client
 * side, the curl callbacks of upstream.c the upstream side, and both go
 * through the functions below, which move bytes between two bounded rings
 * and decide when either side must wait. What waiting means to the outside
 * world (suspend or resume the client connection, unpause or abort the
 * curl transfer) goes through struct xfer_ops, so tests/test_xfer.c drives
 * the machine without sockets.
 *
 * The client side waits (is suspended) for exactly one reason at a time,
 * x->wait, and is resumed only when that reason is gone or the upstream
 * transfer ends. The upstream side waits (is paused) when its ring is
 * empty (upload) or full (download); the client side unpauses it. The
 * transfer ends exactly once (xfer_up_done), whoever ends it.
 *
 * Threads: every field and function belongs to the worker thread serving
 * the connection. libmicrohttpd may call the completion callback on the
 * main thread when the daemon stops, after the worker thread has ended.
 * No locks: there is no other thread.
 */
#ifndef AP_XFER_H
#define AP_XFER_H

#include <arpa/inet.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <curl/curl.h>

#include "ring.h"

struct MHD_Connection;
struct config_site;
struct snapshot;
struct handler;
struct upstream;
struct xfer;

/* Both rings start at XFER_RING_SIZE (a small request or response fits;
 * malloc stays below its mmap threshold). The download ring grows once to
 * XFER_RING_MAX when a chunk does not fit (a big response); curl is
 * unpaused when half of it is free, so each unpause takes at least two
 * of curl's 64 KiB reads (see xfer.c). The upload ring stays small:
 * growing it did not move the upload rate (doc/performance.md). */
#define XFER_RING_SIZE (64 * 1024)
#define XFER_RING_MAX (256 * 1024)
#define XFER_RESP_HEADERS_MAX (64 * 1024)

/* Where the request is, seen from the client. */
enum xfer_state {
	XFER_NEW,      /* head received, not yet routed (first call) */
	XFER_PROXYING, /* handed to the upstream: body in, head awaited */
	XFER_ANSWERED, /* a response is queued (our own or the upstream's) */
	XFER_HANDLED   /* a handler site's: the program's handler answers */
};

/* The upstream transfer. */
enum xfer_up_state {
	XFER_UP_IDLE,    /* never started */
	XFER_UP_RUNNING, /* in the worker's curl multi */
	XFER_UP_DONE     /* ended: completed, failed or aborted */
};

/* Why the client connection is suspended. */
enum xfer_wait {
	XFER_WAIT_NONE,
	XFER_WAIT_SPACE, /* upload ring full: until the upstream reads */
	XFER_WAIT_HEAD,  /* request read: until the response head */
	XFER_WAIT_BODY   /* download ring empty: until bytes or the end */
};

struct xfer_ops {
	void (*suspend)(struct xfer *x); /* client: stop calling us */
	void (*resume)(struct xfer *x);  /* client: call us again */
	void (*unpause)(struct xfer *x); /* upstream: read/write again */
	/* upstream: stop now; must end with xfer_up_done() */
	void (*abort)(struct xfer *x);
};

struct xfer {
	int refs;
	const struct xfer_ops *ops;
	void *ctx; /* the ops' context (proxy.c: the listener context) */
	enum xfer_state state;
	enum xfer_up_state up_state;
	enum xfer_wait wait;
	struct MHD_Connection *conn;
	struct upstream *up;
	struct snapshot *snap;          /* pinned config */
	const struct config_site *site; /* in snap */

	/* the request */
	char *target; /* raw request-target as received */
	char method[24];
	char *method_long; /* methods longer than method[] */
	char client_ip[INET6_ADDRSTRLEN];
	int client_fd;  /* watched for hang-up while suspended */
	char host[256]; /* normalized host, for logs */
	struct curl_slist *req_headers;
	int has_body;
	int64_t body_size; /* -1 = chunked / unknown */
	struct timespec t_start;
	uint64_t body_seen; /* body bytes received from the client */
	uint64_t body_sent; /* response body bytes relayed to the client */
	int too_large;
	int resp_status; /* status sent to the client, for REQUEST log */
	unsigned deferred_status; /* proxy.c's answer for the next call */
	int force_close; /* proxy.c: its own answer closes the connection */
	const char *reply_body; /* proxy.c: its own answer's body, or NULL */
	/* a handler site's request (handler.c): the program's handler and
	 * its per-request pointer (its con_cls) */
	const struct handler *handler;
	void *handler_cls;
	int handler_called;
	/* on its worker's list of handler requests (proxy_ctx.handled),
	 * so a stop can resume what the program left suspended */
	struct xfer *h_prev, *h_next;
	int h_linked;

	/* the two rings and the wait flags of the upstream side */
	struct ring up_ring, down_ring;
	unsigned send_paused : 1; /* curl waits for upload bytes (or for
				     * recv_paused to end: xfer.c) */
	unsigned recv_paused : 1; /* curl holds a chunk that did not fit */
	unsigned hold_upload : 1; /* the upload waits while recv_paused
				   * (libcurl >= 8.10.1; set by upstream.c) */
	unsigned upload_done : 1; /* the whole request body is in up_ring */
	unsigned head_ready : 1;  /* response head (or failure) known */
	unsigned client_gone : 1; /* libmicrohttpd is done with the request */

	/* the response, written by the upstream side until head_ready */
	CURLcode result;
	long connect_time_us; /* to tell connect from read timeouts */
	long status;          /* upstream status, 0 if none */
	int64_t resp_size;    /* upstream Content-Length, -1 unknown */
	char *resp_hdrs;      /* "Name\0Value\0" pairs */
	size_t resp_hdrs_len, resp_hdrs_cap;
	/* a malformed upstream head (502): why, for the log; NULL if fine */
	const char *resp_bad;
	int resp_te;          /* the head had a Transfer-Encoding line */
	/* bytes of the head the client's connection can take: what
	 * libmicrohttpd's connection pool has left after the request head
	 * (proxy.c); a longer head would reach the client as an empty reply */
	size_t resp_head_budget, resp_head_bytes;

	/* upstream.c's bookkeeping */
	CURL *easy;
	struct xfer *act_prev, *act_next;   /* running transfers */
	struct xfer *susp_prev, *susp_next; /* clients waiting on us */
	long susp_since;                    /* ms, while suspended */
	int susp_list;  /* which upstream list holds it (0 = none) */
	int peer_data;  /* client sent bytes while suspended: not watched */
	int unwatched;  /* its upstream socket could not be watched */
	long stuck_since; /* upload and download both blocked since (ms) */
	/* the client's pace (upstream.c's slow-client check): body bytes
	 * taken from it plus response bytes it took, and where the current
	 * window started (ms, 0 = the client is not holding the transfer
	 * up) with the count then */
	uint64_t client_moved, rate_base;
	long rate_since;
	/* proxy.c: the upstream is not contacted yet; the body is buffered
	 * until it is complete or fills the upload ring */
	int start_deferred;
	/* the client was too slow (upstream.c): its connection is closed
	 * at the next body bytes, or its response is cut */
	int client_cut;
	void *watch_io; /* upstream.c's hang-up watch, while watched */
};

/* A new request with one reference (the caller's). NULL on no memory. */
struct xfer *xfer_new(const struct xfer_ops *ops, void *ctx,
		      const char *target);
void xfer_ref(struct xfer *x);
void xfer_put(struct xfer *x);
const char *xfer_method(const struct xfer *x);
/* Monotonic milliseconds, never 0 (0 means "unset" in susp_since). */
long xfer_now_ms(void);

/* ---- client side (libmicrohttpd callbacks) ---- */

/* Routed: allocate the rings and enter XFER_PROXYING with the upstream
 * side RUNNING; takes the transfer's reference, dropped by
 * xfer_up_done(). The caller then starts the transfer. 0 or -1. */
int xfer_begin(struct xfer *x);
/* Request body bytes: returns how many were taken. Fewer than len (the
 * ring is full) suspends the client (XFER_WAIT_SPACE). After the
 * transfer ended everything is taken and dropped. */
size_t xfer_client_push(struct xfer *x, const char *data, size_t len);
/* The request is complete. Returns 1 when the response head is known
 * (answer now), 0 after suspending the client (XFER_WAIT_HEAD). */
int xfer_client_body_end(struct xfer *x);
/* Response body for the client: bytes copied (> 0); 0 after suspending
 * the client (XFER_WAIT_BODY); XFER_PULL_END at the end of a complete
 * body; XFER_PULL_ERROR when the transfer failed. */
#define XFER_PULL_END (-1)
#define XFER_PULL_ERROR (-2)
ssize_t xfer_client_pull(struct xfer *x, char *buf, size_t max);
/* Stop the upstream transfer if it runs (the body is too large, the
 * response head was refused). */
void xfer_client_cancel(struct xfer *x);
/* libmicrohttpd is done with the request (completed or not): never
 * resumed again; a running transfer is aborted. */
void xfer_client_gone(struct xfer *x);

/* ---- upstream side (curl callbacks) ---- */

/* Upload bytes for curl: count (0 = end of body), or XFER_UP_WAIT after
 * marking the upstream paused (no bytes yet). */
#define XFER_UP_WAIT ((size_t)-1)
size_t xfer_up_pull(struct xfer *x, char *buf, size_t max);
/* The final response head has been received (status >= 200). */
void xfer_up_head(struct xfer *x, long status);
/* Response body bytes: all taken (0), or none (-1: the upstream side is
 * paused and offers the same bytes again after the unpause). */
int xfer_up_push(struct xfer *x, const char *data, size_t len);
/* The transfer ended. The first call publishes the result and resumes a
 * waiting client, and drops the transfer's reference (x may be gone on
 * return); later calls do nothing. Returns 1 on the first call. */
int xfer_up_done(struct xfer *x, CURLcode result, long connect_time_us);

#endif
