/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * ppgate: the PROXY protocol stage of a listener (see ppgate.h).
 *
 * A waiting connection is registered edge-triggered in the gate's epoll
 * set and its bytes are only peeked: a header is taken off the socket
 * once it is whole (exactly its length, so the client's first bytes stay
 * for libmicrohttpd), and a direct client's bytes are never taken. Edge
 * triggering is what keeps a partial header from waking the loop again
 * until more arrives. All waiting connections have the same timeout, so
 * the list in arrival order is also the list in deadline order.
 *
 * Owns the waiting connections (fd and slot) until they are handed on or
 * closed. Threads: the acceptor thread; new/free on the main thread.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "conns.h"
#include "log.h"
#include "ppgate.h"
#include "proxyproto.h"
#include "threads.h"

#define MAX_EVENTS 64

enum pp_error {
	PPE_UNTRUSTED,
	PPE_MISSING,
	PPE_MALFORMED,
	PPE_TOOBIG,
	PPE_TIMEOUT,
	PPE_COUNT
};

static const char *const error_names[PPE_COUNT] = {
	"untrusted", "missing", "malformed", "too_long", "timeout"};

struct waiting {
	int fd;
	int trusted;
	long deadline_ms;
	socklen_t len;
	struct sockaddr_storage peer;
	struct waiting *prev, *next;
};

struct ppgate {
	struct cidr *from;
	size_t n_from;
	long timeout_ms;
	const char *proto;
	struct conns *conns;
	ppgate_pass_fn pass;
	void *ud;
	int ep;
	struct waiting *head, *tail;
	size_t n_waiting;
	long logged_at[PPE_COUNT];
	unsigned long suppressed[PPE_COUNT];
};


struct ppgate *ppgate_new(const struct cidr *from, size_t n,
			  unsigned timeout_secs, const char *proto,
			  struct conns *c, ppgate_pass_fn pass, void *ud)
{
	struct ppgate *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->from = calloc(n != 0 ? n : 1, sizeof(*g->from));
	g->ep = epoll_create1(EPOLL_CLOEXEC);
	if (g->from == NULL || g->ep < 0) {
		if (g->ep >= 0)
			close(g->ep);
		free(g->from);
		free(g);
		return NULL;
	}
	if (n != 0)
		memcpy(g->from, from, n * sizeof(*from));
	/* the balancers' own addresses never count toward the per-address
	 * cap: a LOCAL header keeps one, and it carries every client */
	if (conns_set_exempt(c, from, n) != 0) {
		close(g->ep);
		free(g->from);
		free(g);
		return NULL;
	}
	g->n_from = n;
	g->timeout_ms = 1000L * (long)timeout_secs;
	g->proto = proto;
	g->conns = c;
	g->pass = pass;
	g->ud = ud;
	return g;
}

int ppgate_fd(const struct ppgate *g)
{
	return g->ep;
}

size_t ppgate_waiting(const struct ppgate *g)
{
	return g->n_waiting;
}

long ppgate_wait_ms(const struct ppgate *g)
{
	long d;

	if (g->head == NULL)
		return -1;
	d = g->head->deadline_ms - threads_mono_ms();
	return d > 0 ? d : 0;
}

static void log_refusal(struct ppgate *g, const struct sockaddr *peer,
			enum pp_error e)
{
	char ip[64], nsup[24];
	long now = threads_mono_ms();

	conns_note_refused(g->conns); /* connections_refused_total */
	if (g->logged_at[e] != 0 && now - g->logged_at[e] < 1000) {
		g->suppressed[e]++;
		return;
	}
	g->logged_at[e] = now != 0 ? now : 1;
	snprintf(nsup, sizeof(nsup), "%lu", g->suppressed[e]);
	g->suppressed[e] = 0;
	log_format_ip(peer, ip, sizeof(ip));
	log_event(LOG_LEVEL_WARN, "PROXY_PROTOCOL", "peer_ip", ip, "proto",
		  g->proto, "error", error_names[e], "suppressed", nsup,
		  LOG_END);
}

/* Out of the gate's epoll set before the descriptor is handed on or
 * closed (and its number reused). */
static void unregister(struct ppgate *g, int fd, int registered)
{
	if (registered)
		epoll_ctl(g->ep, EPOLL_CTL_DEL, fd, NULL);
}

/* Close a connection that is not handed on, giving its slot back. */
static void drop(struct ppgate *g, int fd, const struct sockaddr *peer,
		 int trusted)
{
	close(fd);
	conns_release(g->conns, trusted ? NULL : peer);
}

/* A balancer's header is whole: take it off the socket and hand the
 * connection on as the client it names. */
static void pass_carried(struct ppgate *g, int fd, const struct sockaddr *peer,
			 socklen_t peer_len, long hlen,
			 const struct proxyproto_hdr *h)
{
	const struct sockaddr *sa = h->local ? peer : (const void *)&h->src;
	socklen_t len = h->local ? peer_len : h->src_len;
	unsigned char sink[PROXYPROTO_MAX];
	ssize_t n;

	do
		n = recv(fd, sink, (size_t)hlen, 0);
	while (n < 0 && errno == EINTR);
	if (n != hlen) { /* peeked bytes are there: only a reset loses them */
		drop(g, fd, peer, 1);
		return;
	}
	if (!conns_claim(g->conns, sa)) {
		drop(g, fd, peer, 1);
		return;
	}
	if (g->pass(g->ud, fd, sa, len) != 0)
		conns_release(g->conns, sa);
}

/* Look at what a connection has sent so far. Returns 1 when it is done
 * with (handed on or closed), 0 when it must wait for more bytes. hup: the
 * peer has shut its side, so no more will come. */
static int step(struct ppgate *g, int fd, const struct sockaddr *peer,
		socklen_t peer_len, int trusted, int registered, int hup)
{
	unsigned char buf[PROXYPROTO_MAX];
	struct proxyproto_hdr h;
	ssize_t n;
	long r;

	do
		n = recv(fd, buf, sizeof(buf), MSG_PEEK);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0) { /* closed before a byte, or reset: nothing to say */
		unregister(g, fd, registered);
		drop(g, fd, peer, trusted);
		return 1;
	}
	if (!trusted) {
		int s = proxyproto_sniff(buf, (size_t)n);

		if (s == 0 && !hup)
			return 0;
		unregister(g, fd, registered);
		if (s == 0) { /* a few bytes, then shut: nothing to serve */
			drop(g, fd, peer, 0);
			return 1;
		}
		if (s > 0) {
			log_refusal(g, peer, PPE_UNTRUSTED);
			drop(g, fd, peer, 0);
		} else if (g->pass(g->ud, fd, peer, peer_len) != 0) {
			conns_release(g->conns, peer);
		}
		return 1;
	}
	r = proxyproto_parse(buf, (size_t)n, &h);
	if (r == PROXYPROTO_MORE && !hup)
		return 0;
	unregister(g, fd, registered);
	if (r > 0) {
		pass_carried(g, fd, peer, peer_len, r, &h);
		return 1;
	}
	/* a header cut short by the peer's shutdown is malformed */
	log_refusal(g, peer,
		    r == PROXYPROTO_NONE    ? PPE_MISSING
		    : r == PROXYPROTO_TOOBIG ? PPE_TOOBIG
					     : PPE_MALFORMED);
	drop(g, fd, peer, 1);
	return 1;
}

static void unlink_waiting(struct ppgate *g, struct waiting *w)
{
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		g->head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		g->tail = w->prev;
	g->n_waiting--;
}

void ppgate_take(struct ppgate *g, int fd, const struct sockaddr *peer,
		 socklen_t len)
{
	int trusted = cidr_match(g->from, g->n_from, peer);
	struct epoll_event ev;
	struct waiting *w;

	/* A balancer's connection is counted for its client later. */
	if (!conns_admit(g->conns, trusted ? NULL : peer)) {
		close(fd);
		return;
	}
	if (step(g, fd, peer, len, trusted, 0, 0))
		return;
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		drop(g, fd, peer, trusted);
		return;
	}
	w->fd = fd;
	w->trusted = trusted;
	w->len = len <= sizeof(w->peer) ? len : sizeof(w->peer);
	memcpy(&w->peer, peer, w->len);
	w->deadline_ms = threads_mono_ms() + g->timeout_ms;
	memset(&ev, 0, sizeof(ev));
	/* Registering reports bytes that came since the peek: none is
	 * missed between the two. */
	ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = w;
	if (epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
		drop(g, fd, peer, trusted);
		free(w);
		return;
	}
	w->prev = g->tail;
	if (g->tail != NULL)
		g->tail->next = w;
	else
		g->head = w;
	g->tail = w;
	g->n_waiting++;
}

/* Done with w (its fd handed on or closed by step, or to be closed). */
static void finish(struct ppgate *g, struct waiting *w)
{
	unlink_waiting(g, w);
	free(w);
}

void ppgate_run(struct ppgate *g)
{
	struct epoll_event evs[MAX_EVENTS];
	long now;
	int n, i;

	do {
		n = epoll_wait(g->ep, evs, MAX_EVENTS, 0);
		for (i = 0; i < n; i++) {
			struct waiting *w = evs[i].data.ptr;

			/* Still waiting: it stays registered, and being
			 * edge-triggered, wakes again only for new bytes. */
			if (step(g, w->fd, (struct sockaddr *)&w->peer, w->len,
				 w->trusted, 1,
				 (evs[i].events & (EPOLLRDHUP | EPOLLHUP)) != 0))
				finish(g, w);
		}
	} while (n == MAX_EVENTS);
	now = threads_mono_ms();
	while (g->head != NULL && g->head->deadline_ms <= now) {
		struct waiting *w = g->head;

		epoll_ctl(g->ep, EPOLL_CTL_DEL, w->fd, NULL);
		/* A direct client that has not spoken: closed like an idle
		 * connection, without a line. */
		if (w->trusted)
			log_refusal(g, (struct sockaddr *)&w->peer,
				    PPE_TIMEOUT);
		drop(g, w->fd, (struct sockaddr *)&w->peer, w->trusted);
		finish(g, w);
	}
}

void ppgate_free(struct ppgate *g)
{
	if (g == NULL)
		return;
	while (g->head != NULL) {
		struct waiting *w = g->head;

		drop(g, w->fd, (struct sockaddr *)&w->peer, w->trusted);
		finish(g, w);
	}
	close(g->ep);
	free(g->from);
	free(g);
}
