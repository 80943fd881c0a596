/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * loop_probe: the release-2 worker loop of ARCHITECTURE.md §7 in one file,
 * to prove it before the request path is rebuilt on it (issue 14, step 1).
 *
 * Each worker thread runs ONE epoll loop over: its own libmicrohttpd
 * daemon in external epoll mode with TLS (connections handed in by the
 * acceptor with MHD_add_connection), its own curl multi driven through the
 * socket API (curl_multi_socket_action, a timerfd for curl's timer), and
 * the sockets of parked handshakes. A request is proxied on that thread
 * alone: the handler starts a curl transfer to the upstream, suspends the
 * connection, and the transfer's completion resumes it (1 KiB bodies are
 * buffered whole; streaming with backpressure is the real xfer's job).
 *
 * The problem it must survive: libmicrohttpd (0.9.75 and 1.0.1) in epoll
 * mode keeps a connection whose TLS handshake is waiting for the client in
 * its "e-ready" list for ever (GnuTLS reads the socket itself, so MHD never
 * sees EAGAIN and never clears its read-ready flag); MHD_get_timeout()
 * then says 0 and every MHD_run() retries every such handshake. Guards,
 * chosen with --guard:
 *
 *   none     obey MHD_get_timeout() (spins a core on one stalled client);
 *   backoff  ARCHITECTURE.md §7's candidate: after two zero timeouts that
 *            brought nothing, wait 1, 2, 4 … 16 ms on the epoll set (any
 *            event resets it); MHD_run still walks every stalled handshake;
 *   park     ours: a GnuTLS pull function on every connection notes a
 *            handshake read that found nothing (EAGAIN); after MHD_run the
 *            loop suspends that connection (MHD_suspend_connection takes it
 *            out of the e-ready list and MHD's epoll set) and watches its
 *            socket in the worker's own epoll set; the first byte resumes
 *            it. A stalled handshake then costs nothing at all, however
 *            many there are; the loop keeps the backoff as a safety net.
 *            Suspended connections do not time out in MHD, so parked ones
 *            get the probe's own handshake deadline (--hs-timeout).
 *
 *   loop_probe --port P --upstream-port U --cert C --key K
 *              [--guard none|backoff|park] [--workers N] [--hs-timeout S]
 *
 * Prints LISTENING when ready; on SIGTERM/SIGINT prints per-worker counts
 * (loop turns, MHD_run calls, parks, resumes, handshake deadlines) to
 * stderr. Listens on 127.0.0.1 only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>

/* lib/tls.c's tls_priorities, copied so the tool builds on its own
 * (bench/run.sh checks that the copies agree). */
static const char priorities[] =
	"NONE:+VERS-TLS1.3:+VERS-TLS1.2:+ECDHE-ECDSA:+ECDHE-RSA:"
	"+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:+AEAD:"
	"+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"
	"+SIGN-ECDSA-SECP256R1-SHA256:+SIGN-ECDSA-SECP384R1-SHA384:"
	"+SIGN-ECDSA-SECP521R1-SHA512:+SIGN-ECDSA-SHA256:+SIGN-ECDSA-SHA384:"
	"+SIGN-ECDSA-SHA512:+SIGN-RSA-PSS-RSAE-SHA256:"
	"+SIGN-RSA-PSS-RSAE-SHA384:+SIGN-RSA-PSS-RSAE-SHA512:"
	"+SIGN-RSA-SHA256:+SIGN-RSA-SHA384:+SIGN-RSA-SHA512:"
	"+SIGN-EdDSA-Ed25519:+COMP-NULL:+CTYPE-SRV-X509:%SERVER_PRECEDENCE";

enum guard { GUARD_NONE, GUARD_BACKOFF, GUARD_PARK };
enum kind { K_MHD, K_WAKE, K_TIMER, K_CURL, K_PARKED };

#define MAX_WORKERS 16
#define RESP_MAX (64 * 1024)
#define MAX_EVENTS 128

struct tag {
	enum kind kind;
};

struct worker;

/* Per client connection, indexed by its descriptor (conns[fd]). */
struct pconn {
	struct tag tag; /* K_PARKED, while parked */
	int fd;
	struct worker *w;
	struct MHD_Connection *conn;
	int hs_done; /* the client's Finished arrived */
	int stalled; /* a handshake read found nothing during this MHD_run */
	int parked;
	int closed;  /* MHD reported it closed; freed after the stall list */
	long deadline_ms;
	struct pconn *next_stalled;
	struct pconn *prev_parked, *next_parked;
};

/* One proxied request: lives on its worker thread only. */
struct req {
	struct worker *w;
	struct MHD_Connection *conn;
	CURL *easy;
	char url[512];
	char *body;
	size_t len;
	long status;
	int done, failed, suspended;
};

struct curl_sock {
	struct tag tag;
	curl_socket_t fd;
	int in_set;
};

struct worker {
	int id;
	pthread_t thread;
	int ep;
	struct tag mhd_tag, wake_tag, timer_tag;
	int wake_fd, timer_fd, mhd_fd;
	struct MHD_Daemon *d;
	CURLM *multi;
	/* new connections from the acceptor */
	pthread_mutex_t q_mu;
	int *q;
	size_t q_len, q_cap;
	struct pconn *stalled;
	struct pconn *parked;
	/* finished easy handles kept for the next request (their upstream
	 * connections stay in the multi's cache) */
	CURL *easy_pool[256];
	unsigned n_easy;
	unsigned long long turns, runs, parks, resumes, hs_deadlines, reqs;
};

static enum guard guard = GUARD_PARK;
static unsigned upstream_port;
static unsigned hs_timeout_secs = 10;
static char *cert_pem, *key_pem;
static struct pconn **conns;
static size_t conns_max;
static volatile sig_atomic_t stop;
static struct worker workers[MAX_WORKERS];
static unsigned n_workers = 2;

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = calloc(1, (size_t)n + 1);
		if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

/* ---- handshake parking ---- */

/* GnuTLS reads the socket through this during and after the handshake. A
 * handshake read that finds nothing marks the connection stalled; the
 * loop parks it after MHD_run (not here: we are deep inside MHD). */
static ssize_t pull(gnutls_transport_ptr_t p, void *buf, size_t n)
{
	int fd = (int)(intptr_t)p;
	ssize_t r = recv(fd, buf, n, 0);

	if (r < 0 && errno == EAGAIN && (size_t)fd < conns_max) {
		struct pconn *c = conns[fd];

		if (c != NULL && !c->hs_done && !c->stalled && !c->parked) {
			c->stalled = 1;
			c->next_stalled = c->w->stalled;
			c->w->stalled = c;
		}
		errno = EAGAIN;
	}
	return r;
}

static int hs_hook(gnutls_session_t s, unsigned htype, unsigned when,
		   unsigned incoming, const gnutls_datum_t *msg)
{
	int fd = gnutls_transport_get_int(s);

	(void)when;
	(void)msg;
	if (htype == GNUTLS_HANDSHAKE_FINISHED && incoming && fd >= 0 &&
	    (size_t)fd < conns_max && conns[fd] != NULL)
		conns[fd]->hs_done = 1;
	return 0;
}

static void park(struct worker *w, struct pconn *c)
{
	struct epoll_event ev;

	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.ptr = &c->tag;
	MHD_suspend_connection(c->conn);
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
		MHD_resume_connection(c->conn);
		return;
	}
	c->parked = 1;
	c->prev_parked = NULL;
	c->next_parked = w->parked;
	if (w->parked != NULL)
		w->parked->prev_parked = c;
	w->parked = c;
	w->parks++;
}

static void unpark(struct worker *w, struct pconn *c)
{
	epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->prev_parked != NULL)
		c->prev_parked->next_parked = c->next_parked;
	else
		w->parked = c->next_parked;
	if (c->next_parked != NULL)
		c->next_parked->prev_parked = c->prev_parked;
	c->parked = 0;
	MHD_resume_connection(c->conn);
	w->resumes++;
}

/* After MHD_run: park what stalled, free what closed meanwhile. */
static void park_stalled(struct worker *w)
{
	struct pconn *c = w->stalled, *next;

	w->stalled = NULL;
	for (; c != NULL; c = next) {
		next = c->next_stalled;
		c->stalled = 0;
		if (c->closed)
			free(c);
		else if (!c->hs_done && guard == GUARD_PARK)
			park(w, c);
	}
}

/* Parked connections past their handshake deadline: resumed with the
 * socket shut, so MHD's next handshake read sees the end and closes. */
static void expire_parked(struct worker *w, long now)
{
	struct pconn *c = w->parked, *next;

	for (; c != NULL; c = next) {
		next = c->next_parked;
		if (now < c->deadline_ms)
			continue;
		shutdown(c->fd, SHUT_RDWR);
		unpark(w, c);
		w->hs_deadlines++;
	}
}

static void notify(void *cls, struct MHD_Connection *conn, void **sc,
		   enum MHD_ConnectionNotificationCode toe)
{
	struct worker *w = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci;
		gnutls_session_t s = NULL;
		struct pconn *c;
		int fd;

		ci = MHD_get_connection_info(conn,
					     MHD_CONNECTION_INFO_GNUTLS_SESSION);
		if (ci != NULL)
			s = ci->tls_session;
		ci = MHD_get_connection_info(conn,
					     MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL || s == NULL)
			return;
		fd = ci->connect_fd;
		if (fd < 0 || (size_t)fd >= conns_max)
			return;
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return;
		c->tag.kind = K_PARKED;
		c->fd = fd;
		c->w = w;
		c->conn = conn;
		c->deadline_ms = now_ms() + 1000L * (long)hs_timeout_secs;
		conns[fd] = c;
		*sc = c;
		if (guard == GUARD_PARK) {
			gnutls_transport_set_pull_function(s, pull);
			gnutls_handshake_set_hook_function(
				s, GNUTLS_HANDSHAKE_FINISHED, GNUTLS_HOOK_POST,
				hs_hook);
		}
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		struct pconn *c = *sc;

		if (c == NULL)
			return;
		if ((size_t)c->fd < conns_max && conns[c->fd] == c)
			conns[c->fd] = NULL;
		if (c->parked) /* closed while suspended: stop (MHD_stop) */
			epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
		*sc = NULL;
		if (c->stalled)
			c->closed = 1; /* still on the stall list */
		else
			free(c);
	}
}

/* ---- the request: curl on the same thread ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct req *r = ud;
	size_t len = size * n;

	if (r->len + len > RESP_MAX)
		return 0;
	if (r->body == NULL)
		r->body = malloc(RESP_MAX);
	if (r->body == NULL)
		return 0;
	memcpy(r->body + r->len, p, len);
	r->len += len;
	return len;
}

static void request_done(struct worker *w)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(w->multi, &left)) != NULL) {
		struct req *r = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE,
				  &r->status);
		r->failed = m->data.result != CURLE_OK;
		r->done = 1;
		curl_multi_remove_handle(w->multi, r->easy);
		if (r->suspended) {
			r->suspended = 0;
			MHD_resume_connection(r->conn);
		}
	}
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn,
			       const char *url, const char *method,
			       const char *version, const char *up,
			       size_t *up_size, void **rc)
{
	struct worker *w = cls;
	struct req *r = *rc;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	(void)method;
	(void)version;
	(void)up;
	(void)url;
	if (r == NULL)
		return MHD_NO;
	if (r->easy == NULL) {
		r->w = w;
		r->conn = conn;
		r->easy = w->n_easy > 0 ? w->easy_pool[--w->n_easy]
					: curl_easy_init();
		if (r->easy == NULL)
			return MHD_NO;
		curl_easy_setopt(r->easy, CURLOPT_URL, r->url);
		curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
		curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
		curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(r->easy, CURLOPT_TCP_NODELAY, 1L);
		if (curl_multi_add_handle(w->multi, r->easy) != CURLM_OK)
			return MHD_NO;
		w->reqs++;
		return MHD_YES;
	}
	if (*up_size != 0) {
		*up_size = 0;
		return MHD_YES;
	}
	if (!r->done) {
		/* the final call: wait for the upstream on this thread */
		r->suspended = 1;
		MHD_suspend_connection(conn);
		return MHD_YES;
	}
	resp = MHD_create_response_from_buffer(r->len, r->body != NULL ? r->body : "",
					       MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	ret = MHD_queue_response(conn, r->failed ? 502 : (unsigned)r->status,
				 resp);
	MHD_destroy_response(resp);
	return ret;
}

/* The raw request-target (the handler's url is decoded and has no query). */
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct req *r = calloc(1, sizeof(*r));

	(void)cls;
	(void)conn;
	if (r != NULL)
		snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%u%s",
			 upstream_port, uri != NULL ? uri : "/");
	return r;
}

static void completed(void *cls, struct MHD_Connection *conn, void **rc,
		      enum MHD_RequestTerminationCode toe)
{
	struct req *r = *rc;

	(void)cls;
	(void)conn;
	(void)toe;
	if (r == NULL)
		return;
	if (r->easy != NULL && !r->done)
		curl_multi_remove_handle(r->w->multi, r->easy);
	if (r->easy != NULL && r->w->n_easy < 256)
		r->w->easy_pool[r->w->n_easy++] = r->easy;
	else
		curl_easy_cleanup(r->easy);
	free(r->body);
	free(r);
	*rc = NULL;
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *ud, void *sp)
{
	struct worker *w = ud;
	struct curl_sock *cs = sp;
	struct epoll_event ev;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (cs != NULL) {
			epoll_ctl(w->ep, EPOLL_CTL_DEL, s, NULL);
			curl_multi_assign(w->multi, s, NULL);
			free(cs);
		}
		return 0;
	}
	if (cs == NULL) {
		cs = calloc(1, sizeof(*cs));
		if (cs == NULL)
			return -1;
		cs->tag.kind = K_CURL;
		cs->fd = s;
		curl_multi_assign(w->multi, s, cs);
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) |
		    (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	ev.data.ptr = &cs->tag;
	if (epoll_ctl(w->ep, cs->in_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s,
		      &ev) == 0)
		cs->in_set = 1;
	return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *ud)
{
	struct worker *w = ud;
	struct itimerspec its;

	(void)m;
	memset(&its, 0, sizeof(its));
	if (timeout_ms == 0)
		its.it_value.tv_nsec = 1; /* at once, from the loop */
	else if (timeout_ms > 0) {
		its.it_value.tv_sec = timeout_ms / 1000;
		its.it_value.tv_nsec = (timeout_ms % 1000) * 1000000L;
	}
	timerfd_settime(w->timer_fd, 0, &its, NULL);
	return 0;
}

/* ---- the loop ---- */

static void take_new(struct worker *w)
{
	uint64_t v;
	int *q;
	size_t n, i;

	if (read(w->wake_fd, &v, sizeof(v)) < 0)
		v = 0;
	pthread_mutex_lock(&w->q_mu);
	q = w->q;
	n = w->q_len;
	w->q = NULL;
	w->q_len = w->q_cap = 0;
	pthread_mutex_unlock(&w->q_mu);
	for (i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);

		if (getpeername(q[i], (struct sockaddr *)&ss, &len) != 0 ||
		    MHD_add_connection(w->d, q[i], (struct sockaddr *)&ss,
				       len) != MHD_YES)
			close(q[i]);
	}
	free(q);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[MAX_EVENTS];
	unsigned zero_runs = 0;
	long next_expiry = now_ms() + 1000;

	while (!stop) {
		MHD_UNSIGNED_LONG_LONG t = 0;
		int wait_ms, n, i, progress = 0;

		if (MHD_get_timeout(w->d, &t) != MHD_YES)
			t = 1000;
		if (t > 1000)
			t = 1000;
		if (t > 0) {
			zero_runs = 0;
			wait_ms = (int)t;
		} else if (guard == GUARD_NONE || ++zero_runs <= 2) {
			wait_ms = 0;
		} else {
			unsigned s = zero_runs - 3;

			wait_ms = s >= 4 ? 16 : 1 << s;
		}
		n = epoll_wait(w->ep, evs, MAX_EVENTS, wait_ms);
		w->turns++;
		for (i = 0; i < n; i++) {
			struct tag *tg = evs[i].data.ptr;

			progress = 1;
			switch (tg->kind) {
			case K_MHD:
				break; /* MHD_run below */
			case K_WAKE:
				take_new(w);
				break;
			case K_TIMER: {
				uint64_t v;
				int running;

				if (read(w->timer_fd, &v, sizeof(v)) < 0)
					v = 0;
				curl_multi_socket_action(w->multi,
							 CURL_SOCKET_TIMEOUT, 0,
							 &running);
				break;
			}
			case K_CURL: {
				struct curl_sock *cs = (struct curl_sock *)tg;
				int flags = 0, running;

				if (evs[i].events & (EPOLLIN | EPOLLHUP))
					flags |= CURL_CSELECT_IN;
				if (evs[i].events & EPOLLOUT)
					flags |= CURL_CSELECT_OUT;
				if (evs[i].events & EPOLLERR)
					flags |= CURL_CSELECT_ERR;
				curl_multi_socket_action(w->multi, cs->fd, flags,
							 &running);
				break;
			}
			case K_PARKED:
				unpark(w, (struct pconn *)tg);
				break;
			}
		}
		request_done(w);
		if (progress)
			zero_runs = 0;
		MHD_run(w->d);
		w->runs++;
		park_stalled(w);
		if (now_ms() >= next_expiry) {
			expire_parked(w, now_ms());
			next_expiry = now_ms() + 1000;
		}
	}
	return NULL;
}

static int worker_start(struct worker *w, int id)
{
	struct epoll_event ev;
	const union MHD_DaemonInfo *di;

	w->id = id;
	pthread_mutex_init(&w->q_mu, NULL);
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	w->multi = curl_multi_init();
	if (w->ep < 0 || w->wake_fd < 0 || w->timer_fd < 0 || w->multi == NULL)
		return -1;
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
	curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, 256L);
	w->d = MHD_start_daemon(
		MHD_USE_TLS | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			MHD_USE_NO_LISTEN_SOCKET,
		0, NULL, NULL, handler, w, MHD_OPTION_HTTPS_MEM_CERT, cert_pem,
		MHD_OPTION_HTTPS_MEM_KEY, key_pem, MHD_OPTION_HTTPS_PRIORITIES,
		priorities, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)20000,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
		MHD_OPTION_NOTIFY_CONNECTION, notify, w,
		MHD_OPTION_NOTIFY_COMPLETED, completed, w,
		MHD_OPTION_URI_LOG_CALLBACK, uri_log, w, MHD_OPTION_END);
	if (w->d == NULL)
		return -1;
	di = MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_EPOLL_FD);
	w->mhd_fd = di->epoll_fd;
	w->mhd_tag.kind = K_MHD;
	w->wake_tag.kind = K_WAKE;
	w->timer_tag.kind = K_TIMER;
	ev.events = EPOLLIN;
	ev.data.ptr = &w->mhd_tag;
	epoll_ctl(w->ep, EPOLL_CTL_ADD, w->mhd_fd, &ev);
	ev.data.ptr = &w->wake_tag;
	epoll_ctl(w->ep, EPOLL_CTL_ADD, w->wake_fd, &ev);
	ev.data.ptr = &w->timer_tag;
	epoll_ctl(w->ep, EPOLL_CTL_ADD, w->timer_fd, &ev);
	return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : -1;
}

static void hand_off(struct worker *w, int fd)
{
	uint64_t one = 1;
	int was_empty;

	pthread_mutex_lock(&w->q_mu);
	if (w->q_len == w->q_cap) {
		size_t cap = w->q_cap ? w->q_cap * 2 : 64;
		int *q = realloc(w->q, cap * sizeof(*q));

		if (q == NULL) {
			pthread_mutex_unlock(&w->q_mu);
			close(fd);
			return;
		}
		w->q = q;
		w->q_cap = cap;
	}
	was_empty = w->q_len == 0;
	w->q[w->q_len++] = fd;
	pthread_mutex_unlock(&w->q_mu);
	if (was_empty && write(w->wake_fd, &one, sizeof(one)) < 0)
		one = 0;
}

static void on_stop(int s)
{
	(void)s;
	stop = 1;
}

int main(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL;
	struct sockaddr_in sa;
	struct rlimit rl;
	unsigned port = 0, i, rr = 0;
	int lfd, one = 1;

	for (i = 1; i + 1 < (unsigned)argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			port = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--upstream-port") == 0)
			upstream_port = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--cert") == 0)
			cert = argv[i + 1];
		else if (strcmp(argv[i], "--key") == 0)
			key = argv[i + 1];
		else if (strcmp(argv[i], "--workers") == 0)
			n_workers = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--hs-timeout") == 0)
			hs_timeout_secs = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--guard") == 0)
			guard = strcmp(argv[i + 1], "none") == 0 ? GUARD_NONE
				: strcmp(argv[i + 1], "backoff") == 0
					? GUARD_BACKOFF
					: GUARD_PARK;
		else
			break;
	}
	if (cert == NULL || key == NULL || upstream_port == 0 ||
	    n_workers < 1 || n_workers > MAX_WORKERS) {
		fprintf(stderr, "usage: loop_probe --port P --upstream-port U "
				"--cert C --key K [--guard none|backoff|park] "
				"[--workers N] [--hs-timeout S]\n");
		return 2;
	}
	cert_pem = slurp(cert);
	key_pem = slurp(key);
	if (cert_pem == NULL || key_pem == NULL) {
		fprintf(stderr, "cannot read %s or %s\n", cert, key);
		return 1;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1;
	conns_max = rl.rlim_cur == RLIM_INFINITY ? 1048576 : rl.rlim_cur;
	conns = calloc(conns_max, sizeof(*conns));
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (i = 0; i < n_workers; i++)
		if (worker_start(&workers[i], (int)i) != 0) {
			fprintf(stderr, "worker %u failed to start\n", i);
			return 1;
		}

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(lfd, 4096) != 0) {
		perror("listen");
		return 1;
	}
	printf("LISTENING %u guard=%s workers=%u\n", port,
	       guard == GUARD_NONE ? "none" : guard == GUARD_BACKOFF ? "backoff" : "park",
	       n_workers);
	fflush(stdout);
	while (!stop) {
		struct pollfd pfd = {lfd, POLLIN, 0};
		int fd;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		hand_off(&workers[rr++ % n_workers], fd);
	}
	for (i = 0; i < n_workers; i++) {
		struct worker *w = &workers[i];

		pthread_join(w->thread, NULL);
		fprintf(stderr,
			"worker %u: turns=%llu mhd_runs=%llu requests=%llu "
			"parks=%llu resumes=%llu hs_deadlines=%llu\n",
			i, w->turns, w->runs, w->reqs, w->parks, w->resumes,
			w->hs_deadlines);
	}
	return 0;
}
