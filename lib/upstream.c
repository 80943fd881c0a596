/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * upstream: one worker's curl multi, driven by curl's socket API from the
 * worker's epoll loop (see upstream.h). curl tells us which sockets to
 * watch (sock_cb) and when to call it back (timer_cb); the loop calls
 * curl_multi_socket_action for the socket events and the timer; finished
 * transfers are collected after every such call.
 *
 * curl callbacks (header_cb, write_cb, read_cb) run inside
 * curl_multi_socket_action or curl_easy_pause and only move bytes through
 * the request's state machine (xfer.c), which may resume the client
 * connection (MHD_resume_connection is safe there). They never call curl
 * or libmicrohttpd otherwise.
 *
 * Threads: the worker thread alone (upstream.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>

#include "config.h"
#include "headers.h"
#include "log.h"
#include "snapshot.h"
#include "upstream.h"
#include "worker.h"

#define EASY_POOL_MAX 64
/* A client suspended this long has its socket watched for its end. */
#define WATCH_AFTER_MS 500
/* How often running transfers are checked for the upload/download
 * standoff (stuck_scan). */
#define STUCK_SCAN_MS 1000

enum { LIST_NONE, LIST_WAITING, LIST_WATCHED };

struct upstream {
	struct worker *w;
	CURLM *multi;
	int stopped; /* the loop ended: no new transfer */
	struct xfer *active; /* transfers in the multi */
	/* suspended clients not yet watched, oldest first; and watched */
	struct xfer *waiting, *waiting_tail, *watched;
	long curl_due; /* monotonic ms (xfer_now_ms) curl wants a call, -1 */
	/* transfers whose socket could not be watched (sock_cb), ended
	 * after curl returns: a -1 from sock_cb would kill the whole multi */
	unsigned n_unwatched;
	long next_scan; /* xfer_now_ms of the next stuck_scan */
	/* libcurl reads a paused download on every pass over a transfer
	 * (8.10.1 on): its uploads must wait with the download (xfer.c) */
	int hold_upload;
	CURL *easy_pool[EASY_POOL_MAX];
	unsigned n_easy;
};

/* One of curl's sockets in the worker's epoll set. */
struct up_sock {
	struct worker_io io;
	struct upstream *u;
	curl_socket_t fd;
};

/* A suspended client's socket, watched for its end. */
struct watch {
	struct worker_io io;
	struct upstream *u;
	struct xfer *x;
};

static void check_done(struct upstream *u);
static void end_unwatched(struct upstream *u);
static void finish(struct upstream *u, struct xfer *x, CURLcode res);

/* ---- curl callbacks ---- */

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	size_t n = xfer_up_pull(ud, buf, size * nitems);

	return n == XFER_UP_WAIT ? CURL_READFUNC_PAUSE : n;
}

static int append_header(struct xfer *x, const char *name, size_t nlen,
			 const char *val, size_t vlen)
{
	size_t need = nlen + vlen + 2;

	if (x->resp_hdrs_len + need > XFER_RESP_HEADERS_MAX)
		return -1;
	if (x->resp_hdrs_len + need > x->resp_hdrs_cap) {
		size_t cap = x->resp_hdrs_cap ? x->resp_hdrs_cap * 2 : 1024;
		char *p;

		while (cap < x->resp_hdrs_len + need)
			cap *= 2;
		p = realloc(x->resp_hdrs, cap);
		if (p == NULL)
			return -1;
		x->resp_hdrs = p;
		x->resp_hdrs_cap = cap;
	}
	memcpy(x->resp_hdrs + x->resp_hdrs_len, name, nlen);
	x->resp_hdrs[x->resp_hdrs_len + nlen] = '\0';
	memcpy(x->resp_hdrs + x->resp_hdrs_len + nlen + 1, val, vlen);
	x->resp_hdrs[x->resp_hdrs_len + need - 1] = '\0';
	x->resp_hdrs_len += need;
	return 0;
}

static int parse_size(const char *v, size_t len, int64_t *out)
{
	int64_t n = 0;
	size_t i;

	if (len == 0 || len > 18)
		return -1;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (v[i] - '0');
	}
	*out = n;
	return 0;
}

/* What libmicrohttpd adds to a response head besides the upstream's
 * fields: status line, Date, Content-Length or Transfer-Encoding,
 * Connection; counted against resp_head_budget with them. */
#define RESP_HEAD_OWN_BYTES 160

static size_t header_cb(char *line, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * nitems, nlen = 0, vlen = 0;
	const char *name = NULL, *v = NULL;

	if (x->head_ready) /* trailers of a chunked body: not forwarded */
		return len;
	switch (headers_parse_response_line(line, len, &name, &nlen, &v,
					    &vlen)) {
	case HEADERS_LINE_STATUS:
		/* a new status line (after 1xx): start over */
		x->resp_hdrs_len = 0;
		x->resp_size = -1;
		x->resp_bad = NULL;
		x->resp_te = 0;
		x->resp_head_bytes = RESP_HEAD_OWN_BYTES;
		return len;
	case HEADERS_LINE_END: {
		long code = 0;

		/* RFC 9112 §6.3: both framings in one response is an
		 * attack or a broken upstream; never pick one (the client
		 * got the Content-Length's bytes of a longer chunked body,
		 * cut and on a clean keep-alive end) */
		if (x->resp_te && x->resp_size >= 0 && x->resp_bad == NULL)
			x->resp_bad = "Content-Length with Transfer-Encoding";
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code < 100 || code >= 200)
			xfer_up_head(x, code);
		return len;
	}
	case HEADERS_LINE_BAD:
		/* obs-fold, garbage or control bytes: 502 */
		if (x->resp_bad == NULL)
			x->resp_bad = "malformed response head";
		return len;
	case HEADERS_LINE_FIELD:
		break;
	}
	x->resp_head_bytes += nlen + vlen + 4; /* "Name: value\r\n" */
	if (x->resp_head_bytes > x->resp_head_budget && x->resp_bad == NULL)
		x->resp_bad = "response head too large";
	if (nlen == 14 && strncasecmp(name, "content-length", 14) == 0) {
		int64_t n = -1;

		if ((parse_size(v, vlen, &n) != 0 ||
		     (x->resp_size >= 0 && x->resp_size != n)) &&
		    x->resp_bad == NULL)
			x->resp_bad = "invalid Content-Length";
		x->resp_size = n;
	} else if (nlen == 17 &&
		   strncasecmp(name, "transfer-encoding", 17) == 0) {
		/* curl removes the chunked coding; any other coding would
		 * reach the client undeclared */
		if ((x->resp_te || vlen != 7 ||
		     strncasecmp(v, "chunked", 7) != 0) &&
		    x->resp_bad == NULL)
			x->resp_bad = "unsupported Transfer-Encoding";
		x->resp_te = 1;
	}
	if (append_header(x, name, nlen, v, vlen) != 0 && x->resp_bad == NULL)
		x->resp_bad = "response head too large";
	return len;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	size_t len = size * nmemb;

	return xfer_up_push(ud, ptr, len) == 0 ? len : CURL_WRITEFUNC_PAUSE;
}

/* ---- the socket API ---- */

static void sock_event(struct worker_io *io, uint32_t events)
{
	struct up_sock *us = (struct up_sock *)io;
	struct upstream *u = us->u;
	int mask = 0, running;

	if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
		mask |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		mask |= CURL_CSELECT_OUT;
	if (events & EPOLLERR)
		mask |= CURL_CSELECT_ERR;
	curl_multi_socket_action(u->multi, us->fd, mask, &running);
	check_done(u);
}

/* The socket of e's transfer cannot be watched (no memory, or the epoll
 * set refuses it): without events it would hang, so it ends after curl
 * returns (end_unwatched). curl is told all is well: an error from the
 * socket callback marks the whole multi dead, every transfer of the
 * worker with it. */
static int sock_failed(struct upstream *u, CURL *e)
{
	struct xfer *x = NULL;

	if (e != NULL &&
	    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x) == CURLE_OK &&
	    x != NULL && !x->unwatched) {
		x->unwatched = 1;
		u->n_unwatched++;
		worker_timer(u->w, 0);
	}
	return 0;
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp,
		   void *socketp)
{
	struct upstream *u = userp;
	struct up_sock *us = socketp;
	uint32_t ev = 0;

	if (what == CURL_POLL_REMOVE) {
		if (us != NULL) {
			worker_io_del(u->w, s, &us->io);
			free(us);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN | EPOLLRDHUP;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (us == NULL) {
		us = calloc(1, sizeof(*us));
		if (us == NULL)
			return sock_failed(u, e);
		us->io.fn = sock_event;
		us->u = u;
		us->fd = s;
		if (worker_io_add(u->w, s, ev, &us->io) != 0) {
			free(us);
			return sock_failed(u, e);
		}
		curl_multi_assign(u->multi, s, us);
		return 0;
	}
	if (worker_io_mod(u->w, s, ev, &us->io) != 0)
		return sock_failed(u, e);
	return 0;
}

static void set_due(struct upstream *u);

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct upstream *u = userp;

	(void)m;
	u->curl_due = timeout_ms < 0 ? -1 : xfer_now_ms() + timeout_ms;
	set_due(u);
	return 0;
}

/* The worker's timer: the earlier of curl's and the next watch. */
static void set_due(struct upstream *u)
{
	long due = u->curl_due, now = xfer_now_ms();

	if (u->waiting != NULL &&
	    (due < 0 || u->waiting->susp_since + WATCH_AFTER_MS < due))
		due = u->waiting->susp_since + WATCH_AFTER_MS;
	if (u->active != NULL && (due < 0 || u->next_scan < due))
		due = u->next_scan;
	worker_timer(u->w, due < 0 ? -1 : due > now ? due - now : 0);
}

/* ---- watching suspended clients ---- */

static void list_del(struct upstream *u, struct xfer *x)
{
	struct xfer **head = x->susp_list == LIST_WAITING ? &u->waiting
							   : &u->watched;

	if (x->susp_list == LIST_NONE)
		return;
	if (x->susp_prev != NULL)
		x->susp_prev->susp_next = x->susp_next;
	else
		*head = x->susp_next;
	if (x->susp_next != NULL)
		x->susp_next->susp_prev = x->susp_prev;
	else if (x->susp_list == LIST_WAITING)
		u->waiting_tail = x->susp_prev;
	x->susp_prev = x->susp_next = NULL;
	x->susp_list = LIST_NONE;
}

static void unwatch(struct upstream *u, struct xfer *x)
{
	struct watch *wt = x->watch_io;

	if (wt != NULL) {
		worker_io_del(u->w, x->client_fd, &wt->io);
		free(wt);
		x->watch_io = NULL;
	}
}

/* Bytes from the client (a pipelined request, a TLS alert) end the watch
 * for this request, so a readable socket never makes the loop spin; its
 * end or an error aborts the transfer, and the resumed connection sees
 * the end itself. */
static void watch_event(struct worker_io *io, uint32_t events)
{
	struct watch *wt = (struct watch *)io;
	struct upstream *u = wt->u;
	struct xfer *x = wt->x;
	ssize_t r;
	char c;

	(void)events;
	r = recv(x->client_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	unwatch(u, x);
	list_del(u, x);
	if (r > 0) {
		x->peer_data = 1;
		return;
	}
	log_event(LOG_LEVEL_DEBUG, "CLIENT_GONE", "client_ip", x->client_ip,
		  "host", x->host, LOG_END);
	finish(u, x, CURLE_ABORTED_BY_CALLBACK);
}

static void watch_due(struct upstream *u)
{
	long now = xfer_now_ms();

	while (u->waiting != NULL &&
	       u->waiting->susp_since + WATCH_AFTER_MS <= now) {
		struct xfer *x = u->waiting;
		struct watch *wt;

		list_del(u, x);
		if (x->peer_data || x->client_fd < 0)
			continue;
		wt = calloc(1, sizeof(*wt));
		if (wt == NULL)
			continue; /* not watched: the read timeout still ends it */
		wt->io.fn = watch_event;
		wt->u = u;
		wt->x = x;
		if (worker_io_add(u->w, x->client_fd, EPOLLIN | EPOLLRDHUP,
				  &wt->io) != 0) {
			free(wt);
			continue;
		}
		x->watch_io = wt;
		x->susp_list = LIST_WATCHED;
		x->susp_next = u->watched;
		if (u->watched != NULL)
			u->watched->susp_prev = x;
		u->watched = x;
	}
}

void upstream_client_waits(struct upstream *u, struct xfer *x)
{
	if (x->susp_list != LIST_NONE || x->peer_data)
		return;
	x->susp_since = xfer_now_ms();
	x->susp_list = LIST_WAITING;
	x->susp_next = NULL;
	x->susp_prev = u->waiting_tail;
	if (u->waiting_tail != NULL)
		u->waiting_tail->susp_next = x;
	else {
		u->waiting = x;
		set_due(u);
	}
	u->waiting_tail = x;
}

void upstream_client_back(struct upstream *u, struct xfer *x)
{
	unwatch(u, x);
	list_del(u, x);
}

/* ---- transfers ---- */

/*
 * The standoff no timeout ends: an upstream that answers a large body
 * while it still reads a large request body. The download ring fills and
 * curl pauses receiving; the upstream (or curl, which stops sending on
 * an error answer) then stops reading the upload, the upload ring fills
 * and the client waits for space; libmicrohttpd cannot send a response
 * before it has read the request, curl's silence timeout does not run
 * while receiving is paused, and the client, still sending, is not
 * watched. A transfer found in that state for read_timeout_secs is ended
 * as a read timeout: the client gets what arrived, then a cut.
 */
/* The client alone holds the transfer up: curl waits for body bytes it
 * has not sent (also while the upload waits for the download: xfer.c,
 * unless the client is blocked on a full upload ring, which is the
 * standoff below), or for room in a download ring it does not empty. */
static int client_holds_up(const struct xfer *x)
{
	return (!x->upload_done && x->wait != XFER_WAIT_SPACE &&
		(x->send_paused || x->recv_paused)) ||
	       (x->recv_paused && x->upload_done);
}

/*
 * A client that trickles its body in, or reads its response a few bytes
 * at a time, keeps an upstream connection (a thread, in a thread-per-
 * connection upstream) for as long as it likes: each byte resets every
 * idle timeout, and curl's silence timeout does not run while it is
 * paused. Small bodies never get here (proxy.c buffers them before the
 * upstream is contacted), small responses neither (they fit the download
 * ring, and the upstream is released when the last byte is in). For the
 * rest: a client that holds the transfer up for a whole window of
 * RATE_WINDOW_MS and moved fewer than client_min_rate bytes per second in
 * it is cut (CLIENT_TOO_SLOW). Returns 1 when x was ended.
 */
#define RATE_WINDOW_MS 10000L

static int slow_client(struct upstream *u, struct xfer *x, long now)
{
	unsigned rate = x->snap->cfg->client_min_rate;
	char got[24];

	if (rate == 0 || !client_holds_up(x)) {
		x->rate_since = 0;
		return 0;
	}
	if (x->rate_since == 0) {
		x->rate_since = now;
		x->rate_base = x->client_moved;
		return 0;
	}
	if (now - x->rate_since < RATE_WINDOW_MS)
		return 0;
	if (x->client_moved - x->rate_base >=
	    (uint64_t)rate * (RATE_WINDOW_MS / 1000)) {
		x->rate_since = now; /* fast enough: a new window */
		x->rate_base = x->client_moved;
		return 0;
	}
	snprintf(got, sizeof(got), "%llu",
		 (unsigned long long)((x->client_moved - x->rate_base) * 1000 /
				      (uint64_t)(now - x->rate_since)));
	log_event(LOG_LEVEL_WARN, "CLIENT_TOO_SLOW", "client_ip", x->client_ip,
		  "host", x->host, "upstream", x->site->upstream, "direction",
		  x->upload_done ? "download" : "upload", "bytes_per_sec", got,
		  LOG_END);
	x->client_cut = 1; /* proxy.c closes the connection */
	finish(u, x, CURLE_ABORTED_BY_CALLBACK);
	return 1;
}

static void stuck_scan(struct upstream *u, long now)
{
	struct xfer *x, *next;

	for (x = u->active; x != NULL; x = next) {
		next = x->act_next;
		if (slow_client(u, x, now))
			continue;
		if (x->wait != XFER_WAIT_SPACE || !x->recv_paused) {
			x->stuck_since = 0;
		} else if (x->stuck_since == 0) {
			x->stuck_since = now;
		} else if (now - x->stuck_since >=
			   1000L * (long)x->site->read_timeout_secs) {
			log_event(LOG_LEVEL_WARN, "UPSTREAM_TIMEOUT", "client_ip",
				  x->client_ip, "host", x->host, "upstream",
				  x->site->upstream, "error",
				  "response buffer full while the request body "
				  "waits",
				  LOG_END);
			finish(u, x, CURLE_OPERATION_TIMEDOUT);
		}
	}
}

static void timer_hook(void *ud)
{
	struct upstream *u = ud;
	long now = xfer_now_ms();
	int running;

	if (u->curl_due >= 0 && now >= u->curl_due) {
		u->curl_due = -1;
		curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0,
					 &running);
		check_done(u);
	}
	if (u->n_unwatched > 0)
		end_unwatched(u);
	if (u->active != NULL && now >= u->next_scan) {
		stuck_scan(u, now);
		u->next_scan = now + STUCK_SCAN_MS;
	}
	watch_due(u);
	set_due(u);
}

static void end_unwatched(struct upstream *u)
{
	struct xfer *x, *next;

	for (x = u->active; x != NULL && u->n_unwatched > 0; x = next) {
		next = x->act_next;
		if (x->unwatched) {
			log_event(LOG_LEVEL_ERROR, "UPSTREAM_ERROR", "client_ip",
				  x->client_ip, "host", x->host, "upstream",
				  x->site->upstream, "error",
				  "cannot watch the upstream socket", LOG_END);
			finish(u, x, CURLE_COULDNT_CONNECT);
		}
	}
}

static void check_done(struct upstream *u)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(u->multi, &left)) != NULL) {
		struct xfer *x = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
				  (char **)&x);
		if (x != NULL)
			finish(u, x, msg->data.result);
	}
	if (u->n_unwatched > 0)
		end_unwatched(u);
}

/* ---- request setup ---- */

static CURL *easy_get(struct upstream *u)
{
	if (u->n_easy > 0)
		return u->easy_pool[--u->n_easy];
	return curl_easy_init();
}

static void easy_put(struct upstream *u, CURL *e)
{
	if (e == NULL)
		return;
	if (u->n_easy < EASY_POOL_MAX) {
		curl_easy_reset(e);
		u->easy_pool[u->n_easy++] = e;
	} else {
		curl_easy_cleanup(e);
	}
}

static int setup_easy(struct upstream *u, struct xfer *x)
{
	const struct config_site *s = x->site;
	const char *m = xfer_method(x);
	CURL *e = easy_get(u);

	if (e == NULL)
		return -1;
	x->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, s->upstream_url);
	curl_easy_setopt(e, CURLOPT_REQUEST_TARGET, x->target);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)s->connect_timeout_secs);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)s->read_timeout_secs);
	/* Pooled connections older than this are not reused: a stale one
	 * cannot be retried for a streamed upload (CURLE_SEND_FAIL_REWIND). */
	curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, 4L);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 64L * 1024);
	curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 64L * 1024);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->req_headers);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	if (s->upstream_https) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
		if (s->upstream_ca_file != NULL)
			curl_easy_setopt(e, CURLOPT_CAINFO, s->upstream_ca_file);
		/* Bytes an upstream sends after its response can hide decrypted
		 * inside the TLS layer, where drop_if_unclean() cannot see
		 * them: never reuse a TLS upstream connection, so they can never
		 * become the next request's response. */
		curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	}
	if (x->has_body) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(e, CURLOPT_READDATA, x);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)x->body_size);
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
	} else if (strcmp(m, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(m, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
	}
	return 0;
}

/*
 * A pooled upstream connection with bytes waiting after a complete
 * response (more than its Content-Length, a second unsolicited response)
 * must never serve the next request: those bytes would be taken as that
 * request's response. curl 7.88 keeps such a connection (a readable socket
 * counts as alive), so shut it down: at its next reuse check curl sees it
 * hung up and opens a fresh one. Bytes that arrive later still reach the
 * liveness check as a hang-up only if the upstream closes; nginx has the
 * same window.
 */
static void drop_if_unclean(struct xfer *x)
{
	curl_socket_t s = CURL_SOCKET_BAD;
	struct curl_tlssessioninfo *ti = NULL;
	int pending = 0;
	char c;

	if (curl_easy_getinfo(x->easy, CURLINFO_ACTIVESOCKET, &s) != CURLE_OK ||
	    s == CURL_SOCKET_BAD)
		return;
	/* Over TLS the extra bytes may already sit decrypted in GnuTLS. */
	if (x->site->upstream_https &&
	    curl_easy_getinfo(x->easy, CURLINFO_TLS_SSL_PTR, &ti) == CURLE_OK &&
	    ti != NULL && ti->backend == CURLSSLBACKEND_GNUTLS &&
	    ti->internals != NULL)
		pending = gnutls_record_check_pending(ti->internals) > 0;
	if (pending || recv(s, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0) {
		log_event(LOG_LEVEL_WARN, "UPSTREAM_ERROR", "client_ip",
			  x->client_ip, "host", x->host, "upstream",
			  x->site->upstream, "error",
			  "data after the response; connection closed", LOG_END);
		shutdown(s, SHUT_RDWR);
	}
}

/* Transfer over (success, error, or abort): release curl's side, then
 * tell the state machine, which resumes a waiting client and drops the
 * transfer's reference. */
static void finish(struct upstream *u, struct xfer *x, CURLcode res)
{
	curl_off_t ct = 0;

	if (x->easy != NULL) {
		curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME_T, &ct);
		if (res == CURLE_OK)
			drop_if_unclean(x);
		curl_multi_remove_handle(u->multi, x->easy);
		if (x->act_prev != NULL)
			x->act_prev->act_next = x->act_next;
		else
			u->active = x->act_next;
		if (x->act_next != NULL)
			x->act_next->act_prev = x->act_prev;
		x->act_prev = x->act_next = NULL;
		easy_put(u, x->easy);
		x->easy = NULL;
	}
	if (x->unwatched) {
		x->unwatched = 0;
		u->n_unwatched--;
	}
	upstream_client_back(u, x);
	xfer_up_done(x, res, (long)ct);
}

int upstream_stopped(const struct upstream *u)
{
	return u->stopped;
}

void upstream_start(struct upstream *u, struct xfer *x)
{
	x->up = u;
	x->hold_upload = u->hold_upload;
	if (u->stopped || setup_easy(u, x) != 0) {
		finish(u, x, CURLE_FAILED_INIT);
		return;
	}
	if (curl_multi_add_handle(u->multi, x->easy) != CURLM_OK) {
		easy_put(u, x->easy);
		x->easy = NULL;
		finish(u, x, CURLE_FAILED_INIT);
		return;
	}
	x->act_prev = NULL;
	x->act_next = u->active;
	if (u->active == NULL) /* the first one: scans start now */
		u->next_scan = xfer_now_ms() + STUCK_SCAN_MS;
	else
		u->active->act_prev = x;
	u->active = x;
}

void upstream_unpause(struct upstream *u, struct xfer *x)
{
	(void)u;
	if (x->easy != NULL)
		curl_easy_pause(x->easy, CURLPAUSE_CONT);
}

void upstream_abort(struct upstream *u, struct xfer *x)
{
	finish(u, x, CURLE_ABORTED_BY_CALLBACK);
}

static void stop_hook(void *ud)
{
	struct upstream *u = ud;

	u->stopped = 1;
	while (u->active != NULL)
		finish(u, u->active, CURLE_ABORTED_BY_CALLBACK);
}

int upstream_create(struct worker *w, struct upstream **out)
{
	struct worker_hooks h;
	struct upstream *u;

	*out = NULL;
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return -1;
	u->w = w;
	u->curl_due = -1;
	/* 8.10.1 reads before it looks at the pause (transfer.c's
	 * sendrecv_dl): checked in curl's sources, 8.10.0 and 7.88 do not */
	u->hold_upload = curl_version_info(CURLVERSION_NOW)->version_num >=
			 0x080a01;
	u->multi = curl_multi_init();
	if (u->multi == NULL) {
		free(u);
		return -1;
	}
	curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, 256L);
	curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
	curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
	h.ud = u;
	h.timer = timer_hook;
	h.stop = stop_hook;
	worker_set_hooks(w, &h);
	*out = u;
	return 0;
}

void upstream_free(struct upstream *u)
{
	if (u == NULL)
		return;
	stop_hook(u);
	while (u->n_easy > 0)
		curl_easy_cleanup(u->easy_pool[--u->n_easy]);
	/* closes the pooled connections: sock_cb removes their sources */
	curl_multi_cleanup(u->multi);
	free(u);
}
