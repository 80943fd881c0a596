/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * upstream: curl side of the request protocol (ARCHITECTURE.md §1–§2).
 * Threads: each struct upstream is driven by its own thread; MHD threads
 * only call upstream_post() (queue lock, a leaf lock) and
 * upstream_pool_abort_all() (an atomic flag). Easy handles, the multi
 * handle and the [up] fields of an xfer are touched by this thread alone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>

#include "headers.h"
#include "log.h"
#include "server.h"
#include "upstream.h"
#include "worker.h"

#define EASY_POOL_MAX 64

struct upstream {
	pthread_t thread;
	CURLM *multi;
	pthread_mutex_t qmu;
	struct xfer *qhead, *qtail;
	/* the thread is in (or about to enter) curl_multi_poll with an
	 * empty queue: only then does a post need curl_multi_wakeup (qmu) */
	int polling;
	atomic_int stop;
	atomic_int abort_all;
	struct xfer *active_list; /* this thread's transfers in the multi */
	CURL *easy_pool[EASY_POOL_MAX];
	unsigned n_easy;
};

struct upstream_pool {
	unsigned n;
	unsigned long id; /* unique per pool in the process (upstream_pick) */
	atomic_uint rr;
	struct upstream *ups;
};

static atomic_ulong next_pool_id;

void upstream_post(struct upstream *u, struct xfer *x, unsigned cmd)
{
	int wake = 0;

	pthread_mutex_lock(&u->qmu);
	x->cmd_bits |= cmd;
	if (!x->cmd_queued) {
		x->cmd_queued = 1;
		xfer_ref(x);
		x->cmd_next = NULL;
		if (u->qtail != NULL)
			u->qtail->cmd_next = x;
		else
			u->qhead = x;
		u->qtail = x;
		/* A busy thread finds the command before it polls again;
		 * one about to sleep gets woken (the wakeup is kept by
		 * curl until the poll, so none is lost). */
		wake = u->polling;
		u->polling = 0;
	}
	pthread_mutex_unlock(&u->qmu);
	if (wake)
		curl_multi_wakeup(u->multi);
}

/* ---- curl callbacks (upstream thread, inside curl_multi_perform) ---- */

static void resume_conn(struct xfer *x, int need)
{
	if (need) {
		MHD_resume_connection(x->conn);
		worker_wake(x->worker);
	}
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	size_t n;
	int resume = 0;

	pthread_mutex_lock(&x->mu);
	n = ring_read(&x->up_ring, buf, size * nitems);
	if (n == 0 && !x->upload_done) {
		x->send_paused = 1;
		pthread_mutex_unlock(&x->mu);
		return CURL_READFUNC_PAUSE;
	}
	if (n > 0)
		resume = xfer_want_resume(x);
	pthread_mutex_unlock(&x->mu);
	resume_conn(x, resume);
	return n;
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

static size_t header_cb(char *line, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * nitems, nlen = 0, vlen = 0;
	const char *name = NULL, *v = NULL;
	int resume = 0;

	pthread_mutex_lock(&x->mu);
	if (x->head_ready) { /* trailers of a chunked body: not forwarded */
		pthread_mutex_unlock(&x->mu);
		return len;
	}
	switch (headers_parse_response_line(line, len, &name, &nlen, &v,
					    &vlen)) {
	case HEADERS_LINE_STATUS:
		/* a new status line (after 1xx): start over */
		x->resp_hdrs_len = 0;
		x->resp_size = -1;
		x->resp_bad = 0;
		pthread_mutex_unlock(&x->mu);
		return len;
	case HEADERS_LINE_END: {
		long code = 0;

		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code >= 100 && code < 200) {
			pthread_mutex_unlock(&x->mu);
			return len;
		}
		x->status = code;
		x->head_ready = 1;
		resume = xfer_want_resume(x);
		pthread_mutex_unlock(&x->mu);
		resume_conn(x, resume);
		return len;
	}
	case HEADERS_LINE_BAD:
		x->resp_bad = 1; /* obs-fold, garbage or control bytes: 502 */
		pthread_mutex_unlock(&x->mu);
		return len;
	case HEADERS_LINE_FIELD:
		break;
	}
	if (nlen == 14 && strncasecmp(name, "content-length", 14) == 0) {
		int64_t n = -1;

		if (parse_size(v, vlen, &n) != 0 ||
		    (x->resp_size >= 0 && x->resp_size != n))
			x->resp_bad = 1;
		x->resp_size = n;
	}
	if (append_header(x, name, nlen, v, vlen) != 0)
		x->resp_bad = 1;
	pthread_mutex_unlock(&x->mu);
	return len;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * nmemb;
	int resume;

	pthread_mutex_lock(&x->mu);
	if (ring_space(&x->down_ring) < len) {
		/* all or nothing: curl hands the same chunk again later */
		x->recv_paused = 1;
		pthread_mutex_unlock(&x->mu);
		return CURL_WRITEFUNC_PAUSE;
	}
	ring_write(&x->down_ring, ptr, len);
	resume = xfer_want_resume(x);
	pthread_mutex_unlock(&x->mu);
	resume_conn(x, resume);
	return len;
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

/* Transfer over (success, error, or abort): publish, resume, release. */
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

static void finish(struct upstream *u, struct xfer *x, CURLcode res)
{
	int resume;
	curl_off_t ct = 0;

	if (x->easy != NULL) {
		curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME_T, &ct);
		if (res == CURLE_OK && x->in_multi)
			drop_if_unclean(x);
	}
	if (x->in_multi) {
		curl_multi_remove_handle(u->multi, x->easy);
		x->in_multi = 0;
		if (x->act_prev != NULL)
			x->act_prev->act_next = x->act_next;
		else
			u->active_list = x->act_next;
		if (x->act_next != NULL)
			x->act_next->act_prev = x->act_prev;
		x->act_prev = x->act_next = NULL;
	}
	easy_put(u, x->easy);
	x->easy = NULL;
	pthread_mutex_lock(&x->mu);
	if (!x->done) {
		x->done = 1;
		x->result = res;
		x->connect_time_us = (long)ct;
		if (!x->head_ready)
			x->head_ready = 1; /* error head: proxy.c sees status 0 */
	}
	resume = xfer_want_resume(x);
	pthread_mutex_unlock(&x->mu);
	resume_conn(x, resume);
	server_transfer_end(x->srv);
	xfer_put(x); /* the upstream thread's reference from START */
}

static void run_commands(struct upstream *u)
{
	struct xfer *list, *x, *next;

	pthread_mutex_lock(&u->qmu);
	list = u->qhead;
	u->qhead = u->qtail = NULL;
	for (x = list; x != NULL; x = x->cmd_next) {
		x->pending = x->cmd_bits;
		x->cmd_bits = 0;
		x->cmd_queued = 0;
		x->proc_next = x->cmd_next;
	}
	pthread_mutex_unlock(&u->qmu);

	for (x = list; x != NULL; x = next) {
		unsigned cmd = x->pending;

		next = x->proc_next;
		if (cmd & XFER_CMD_START) {
			/* START carries the upstream thread's reference. */
			if ((cmd & XFER_CMD_ABORT) ||
			    atomic_load(&u->abort_all) ||
			    setup_easy(u, x) != 0) {
				finish(u, x, CURLE_ABORTED_BY_CALLBACK);
				cmd = 0;
			} else if (curl_multi_add_handle(u->multi, x->easy) !=
				   CURLM_OK) {
				finish(u, x, CURLE_FAILED_INIT);
				cmd = 0;
			} else {
				x->in_multi = 1;
				x->act_prev = NULL;
				x->act_next = u->active_list;
				if (u->active_list != NULL)
					u->active_list->act_prev = x;
				u->active_list = x;
			}
		}
		if ((cmd & XFER_CMD_ABORT) && x->in_multi)
			finish(u, x, CURLE_ABORTED_BY_CALLBACK);
		else if ((cmd & XFER_CMD_UNPAUSE) && x->in_multi)
			curl_easy_pause(x->easy, CURLPAUSE_CONT);
		xfer_put(x); /* the queue's reference */
	}
}

static void abort_everything(struct upstream *u)
{
	while (u->active_list != NULL)
		finish(u, u->active_list, CURLE_ABORTED_BY_CALLBACK);
}

/* A suspended MHD connection does not notice its client leaving. Watch
 * the sockets of clients suspended for a while and abort their transfers
 * on EOF or error. Bytes from the client (a pipelined request, a TLS
 * alert) end the watch for that request, so a readable socket never
 * makes this loop spin. */
#define WATCH_MAX 64
#define WATCH_AFTER_MS 500

struct watch {
	struct curl_waitfd fds[WATCH_MAX];
	struct xfer *xs[WATCH_MAX];
	unsigned n;
};

static void watch_collect(struct upstream *u, struct watch *w)
{
	long now = xfer_now_ms();
	struct xfer *x;

	w->n = 0;
	for (x = u->active_list; x != NULL && w->n < WATCH_MAX;
	     x = x->act_next) {
		long since = atomic_load_explicit(&x->susp_since,
						  memory_order_relaxed);

		if (since == 0 || now - since < WATCH_AFTER_MS ||
		    x->peer_data || x->client_fd < 0)
			continue;
		w->fds[w->n].fd = x->client_fd;
		w->fds[w->n].events = CURL_WAIT_POLLIN;
		w->fds[w->n].revents = 0;
		w->xs[w->n++] = x;
	}
}

static void watch_check(struct upstream *u, struct watch *w)
{
	unsigned i;

	for (i = 0; i < w->n; i++) {
		struct xfer *x = w->xs[i];
		char c;
		ssize_t r;

		if (w->fds[i].revents == 0)
			continue;
		r = recv(w->fds[i].fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (r > 0) {
			x->peer_data = 1;
		} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
			log_event(LOG_LEVEL_DEBUG, "CLIENT_GONE", "client_ip",
				  x->client_ip, "host", x->host, LOG_END);
			finish(u, x, CURLE_ABORTED_BY_CALLBACK);
		}
	}
}

static void *upstream_main(void *arg)
{
	struct upstream *u = arg;
	struct watch w;

	while (!atomic_load(&u->stop)) {
		int running = 0, left, sleep_ok;
		CURLMsg *msg;

		run_commands(u);
		if (atomic_load(&u->abort_all))
			abort_everything(u);
		curl_multi_perform(u->multi, &running);
		while ((msg = curl_multi_info_read(u->multi, &left)) != NULL) {
			struct xfer *x = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					  (char **)&x);
			if (x != NULL)
				finish(u, x, msg->data.result);
		}
		watch_collect(u, &w);
		pthread_mutex_lock(&u->qmu);
		sleep_ok = u->polling = u->qhead == NULL;
		pthread_mutex_unlock(&u->qmu);
		if (!sleep_ok)
			continue; /* commands waiting: run them first */
		curl_multi_poll(u->multi, w.fds, w.n, w.n ? 250 : 1000, NULL);
		pthread_mutex_lock(&u->qmu);
		u->polling = 0;
		pthread_mutex_unlock(&u->qmu);
		watch_check(u, &w);
	}
	run_commands(u);
	abort_everything(u);
	return NULL;
}

int upstream_pool_start(unsigned n, struct upstream_pool **out)
{
	struct upstream_pool *p;
	unsigned i;

	*out = NULL;
	if (n == 0)
		n = 1;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -1;
	p->ups = calloc(n, sizeof(*p->ups));
	if (p->ups == NULL) {
		free(p);
		return -1;
	}
	p->id = atomic_fetch_add(&next_pool_id, 1) + 1;
	for (i = 0; i < n; i++) {
		struct upstream *u = &p->ups[i];

		pthread_mutex_init(&u->qmu, NULL);
		u->multi = curl_multi_init();
		if (u->multi == NULL)
			goto fail;
		curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, 256L);
		if (pthread_create(&u->thread, NULL, upstream_main, u) != 0) {
			curl_multi_cleanup(u->multi);
			u->multi = NULL;
			goto fail;
		}
		p->n = i + 1;
	}
	*out = p;
	return 0;
fail:
	upstream_pool_stop(p);
	return -1;
}

/* Each calling thread (an MHD worker) keeps to the upstream thread it
 * was given round-robin on its first call, so with one upstream thread
 * per worker every worker has a partner of its own: the hand-offs of a
 * pair stay between two threads and batch better than requests spread
 * over every upstream thread (doc/performance.md: +13 % requests/s,
 * -9 % CPU per request in scenario 1). Keyed by the pool's id, not its
 * address, so a thread never reuses a choice made for a freed pool. */
struct upstream *upstream_pick(struct upstream_pool *p)
{
	static __thread unsigned long pool_id;
	static __thread unsigned index;

	if (pool_id != p->id) {
		index = atomic_fetch_add(&p->rr, 1);
		pool_id = p->id;
	}
	return &p->ups[index % p->n];
}

void upstream_pool_abort_all(struct upstream_pool *p)
{
	unsigned i;

	for (i = 0; i < p->n; i++) {
		atomic_store(&p->ups[i].abort_all, 1);
		curl_multi_wakeup(p->ups[i].multi);
	}
}

void upstream_pool_stop(struct upstream_pool *p)
{
	unsigned i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++) {
		atomic_store(&p->ups[i].stop, 1);
		curl_multi_wakeup(p->ups[i].multi);
	}
	for (i = 0; i < p->n; i++) {
		struct upstream *u = &p->ups[i];

		pthread_join(u->thread, NULL);
		while (u->n_easy > 0)
			curl_easy_cleanup(u->easy_pool[--u->n_easy]);
		curl_multi_cleanup(u->multi);
		pthread_mutex_destroy(&u->qmu);
	}
	free(p->ups);
	free(p);
}
