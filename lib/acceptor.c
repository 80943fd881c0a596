/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * acceptor: one thread per listener that accepts connections and hands
 * them to libmicrohttpd. Threads: the acceptor thread owns the listening
 * socket; acceptor_kick() (any thread) writes the eventfd; start, stop and
 * free run on the main thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "acceptor.h"
#include "conns.h"
#include "log.h"
#include "ppgate.h"
#include "threads.h"

/* Out of descriptors: try again after this long, or when one frees. */
#define PAUSE_MS 250
/* At most one ACCEPT_ERROR line per this many seconds. */
#define LOG_EVERY_SECS 10

struct acceptor {
	pthread_t thread;
	int started;
	int listen_fd;
	int wake_fd;
	acceptor_add_fn add;
	void *add_ud;
	const char *proto;
	struct conns *conns;
	struct ppgate *gate; /* PROXY protocol stage, or NULL */
	atomic_int stop;
	atomic_int paused;
	time_t last_log;
	unsigned long suppressed;
};

int acceptor_parse_addr(const char *addr, unsigned port,
			struct sockaddr_storage *ss, socklen_t *len, int *v6)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(addr);

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		*v6 = 0;
		return 0;
	}
	if (addr[0] == '[' && n > 2 && n < sizeof(buf) && addr[n - 1] == ']') {
		memcpy(buf, addr + 1, n - 2);
		buf[n - 2] = '\0';
		addr = buf;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
		return -1;
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons((uint16_t)port);
	*len = sizeof(*s6);
	*v6 = 1;
	return 0;
}

int acceptor_listen(const struct sockaddr *sa, socklen_t len, int backlog)
{
	int fd, one = 1, saved;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (sa->sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) !=
		     0) ||
	    bind(fd, sa, len) != 0 || listen(fd, backlog) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

unsigned acceptor_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

static void log_error(struct acceptor *a, int err)
{
	time_t now = time(NULL);
	char n[32];

	if (a->last_log != 0 && now - a->last_log < LOG_EVERY_SECS) {
		a->suppressed++;
		return;
	}
	snprintf(n, sizeof(n), "%lu", a->suppressed);
	log_event(LOG_LEVEL_ERROR, "ACCEPT_ERROR", "proto", a->proto, "error",
		  strerror(err), "suppressed", n, LOG_END);
	a->last_log = now;
	a->suppressed = 0;
}

/* Accept until the backlog is empty; returns the pause in ms (0 = none). */
static int accept_batch(struct acceptor *a)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd, one = 1;

		fd = accept4(a->listen_fd, (struct sockaddr *)&ss, &len,
			     SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			switch (errno) {
			case EAGAIN:
				return 0;
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				log_error(a, errno);
				return PAUSE_MS;
			default:
				log_error(a, errno);
				return PAUSE_MS;
			}
		}
		/* Answers are written in one go; waiting for an ACK of the
		 * previous segment only adds latency. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (a->gate != NULL) { /* it admits, reads, hands on */
			ppgate_take(a->gate, fd, (struct sockaddr *)&ss, len);
			continue;
		}
		if (!conns_admit(a->conns, (struct sockaddr *)&ss)) {
			/* Over a budget or stopping: refuse now rather than
			 * keep the client waiting in the backlog. */
			close(fd);
			continue;
		}
		if (a->add(a->add_ud, fd, (struct sockaddr *)&ss, len) != 0)
			conns_release(a->conns, (struct sockaddr *)&ss);
	}
}


static void *acceptor_main(void *arg)
{
	struct acceptor *a = arg;
	long paused_until = 0; /* accepting resumes then (0: not paused) */

	while (!atomic_load(&a->stop)) {
		struct pollfd pfd[3];
		int n, timeout = -1;
		nfds_t nfds = 2;

		pfd[0].fd = a->wake_fd;
		pfd[0].events = POLLIN;
		/* poll() skips a negative descriptor */
		pfd[1].fd = a->gate != NULL ? ppgate_fd(a->gate) : -1;
		pfd[1].events = POLLIN;
		if (paused_until != 0) {
			long d = paused_until - threads_mono_ms();

			timeout = d > 0 ? (int)d : 0;
		} else {
			/* While paused the listening socket is not polled
			 * at all, so a full descriptor table cannot make
			 * this loop spin. */
			pfd[2].fd = a->listen_fd;
			pfd[2].events = POLLIN;
			nfds = 3;
		}
		if (a->gate != NULL) {
			long w = ppgate_wait_ms(a->gate);

			if (w >= 0 && (timeout < 0 || w < timeout))
				timeout = w > 60000 ? 60000 : (int)w;
		}
		n = poll(pfd, nfds, timeout);
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			uint64_t v;

			if (read(a->wake_fd, &v, sizeof(v)) < 0)
				v = 0; /* EAGAIN: another wakeup took it */
			paused_until = 0; /* a descriptor freed: try now */
		}
		if (atomic_load(&a->stop))
			break;
		if (a->gate != NULL)
			ppgate_run(a->gate);
		if (paused_until != 0 && threads_mono_ms() < paused_until)
			continue;
		n = accept_batch(a);
		paused_until = n != 0 ? threads_mono_ms() + n : 0;
		atomic_store(&a->paused, n != 0);
	}
	return NULL;
}

int acceptor_add_mhd(void *ud, int fd, const struct sockaddr *sa,
		     socklen_t len)
{
	/* MHD closes the socket itself if it cannot take it. */
	return MHD_add_connection(ud, fd, sa, len) == MHD_YES ? 0 : -1;
}

int acceptor_start(int listen_fd, acceptor_add_fn add, void *ud,
		   const char *proto, struct conns *c, struct ppgate *gate,
		   struct acceptor **out)
{
	struct acceptor *a;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		close(listen_fd);
		ppgate_free(gate);
		return -1;
	}
	a->gate = gate;
	a->listen_fd = listen_fd;
	a->add = add;
	a->add_ud = ud;
	a->proto = proto;
	a->conns = c;
	a->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	a->started = 1;
	/* Published before the first accept: a connection it hands on may
	 * close, and kick it, at once. */
	*out = a;
	if (a->wake_fd < 0 ||
	    thread_start(&a->thread, acceptor_main, a) != 0) {
		*out = NULL;
		a->started = 0;
		acceptor_free(a);
		return -1;
	}
	return 0;
}

void acceptor_kick(struct acceptor *a)
{
	uint64_t one = 1;

	if (a != NULL &&
	    atomic_load_explicit(&a->paused, memory_order_relaxed) &&
	    write(a->wake_fd, &one, sizeof(one)) < 0)
		return; /* the counter is already non-zero: it will wake */
}

void acceptor_stop(struct acceptor *a)
{
	uint64_t one = 1;

	if (a == NULL || !a->started)
		return;
	atomic_store(&a->stop, 1);
	if (write(a->wake_fd, &one, sizeof(one)) < 0)
		one = 0; /* already signalled */
	pthread_join(a->thread, NULL);
	a->started = 0;
	if (a->listen_fd >= 0) {
		close(a->listen_fd);
		a->listen_fd = -1;
	}
	/* A connection still waiting for its PROXY header is closed: the
	 * listener takes no new client from here on. */
	ppgate_free(a->gate);
	a->gate = NULL;
}

void acceptor_free(struct acceptor *a)
{
	if (a == NULL)
		return;
	acceptor_stop(a);
	if (a->listen_fd >= 0)
		close(a->listen_fd);
	if (a->wake_fd >= 0)
		close(a->wake_fd);
	ppgate_free(a->gate);
	free(a);
}
