/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * worker: the event loop of one libmicrohttpd daemon in external epoll
 * mode, with handshake parking (see worker.h).
 *
 * Per-connection parking state is found from the socket number, because
 * GnuTLS hands the pull function only its transport (the descriptor that
 * libmicrohttpd set with gnutls_transport_set_int). The table is two
 * levels of PARK_CHUNK slots, chunks allocated on first use: memory grows
 * with the descriptor numbers in use, not with RLIMIT_NOFILE. A slot is
 * written and read only by the worker that owns the connection; chunk
 * pointers are installed once with a compare-and-swap.
 *
 * Threads: see worker.h. The queue of handed-in sockets is under q_mu
 * (acceptor and worker); everything else is the worker thread's.
 */
#include <errno.h>
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
#include <time.h>
#include <unistd.h>

#include "conns.h"
#include "worker.h"
#include "threads.h"

#define MAX_EVENTS 128
#define PARK_CHUNK 4096u
/* Zero timeouts obeyed in a row in which MHD_run moved no byte and no
 * event arrived, before the loop waits BACKOFF_MS: a safety net only
 * (parking keeps stalled handshakes out of MHD's ready list). Bytes are
 * counted by the transport functions below, so a connection that MHD
 * serves a TLS record per call (a big upload or download keeps MHD's
 * timeout at 0 all along) is never slowed down. */
#define ZERO_RUNS_OBEYED 8
#define BACKOFF_MS 1
/* The longest wait: MHD's timeouts are checked at least this often. */
#define WAIT_MAX_MS 1000

enum tag_kind { TAG_MHD = 1, TAG_WAKE, TAG_PARK, TAG_IO };

/* The head of every epoll registration; struct worker_io starts the
 * same way (its kind_). */
struct tag {
	int kind;
};

struct park {
	struct tag tag; /* TAG_PARK: in the worker's epoll set while parked */
	int fd;
	struct worker *w;
	struct MHD_Connection *conn;
	unsigned stalled : 1; /* a read before the first request found
			       * nothing during this MHD_run */
	unsigned parked : 1;
	unsigned closed : 1; /* MHD closed it while on the stall list */
	unsigned served : 1; /* a request has begun: never parked again */
	long deadline_ms;    /* parked: MHD's inactivity timeout, ours now */
	struct sockaddr_storage peer; /* the client, for TLS log lines */
	struct park *next_stalled;
	struct park *prev, *next; /* the parked list */
};

struct pending {
	int fd;
	socklen_t len;
	struct sockaddr_storage ss;
};

struct worker {
	pthread_t thread;
	int started;
	atomic_int stop;
	struct MHD_Daemon *d;
	struct conns *conns;
	int ep;
	int wake_fd;
	struct tag mhd_tag, wake_tag;
	struct worker_hooks hooks;
	void (*on_stop)(void *ud); /* worker_on_stop */
	void *on_stop_ud;
	long timer_due; /* monotonic ms of hooks.timer, -1 = none */
	/* the batch of events being dispatched, so that a source removed
	 * during it is not called afterwards (worker_io_del) */
	struct epoll_event *batch;
	int batch_n;
	pthread_mutex_t q_mu;
	struct pending *q;
	size_t q_len, q_cap;
	/* worker_wake() from other threads: kicked says a resume is
	 * pending, sleeping that the loop is (about to be) blocked in
	 * epoll_wait; seq_cst on both sides, so one of the two always sees
	 * the other and no wakeup is lost (Dekker) */
	atomic_int kicked, sleeping;
	struct park *stalled; /* noted by pull() during MHD_run */
	unsigned long moved;  /* reads and writes that moved bytes */
	/* parked connections, oldest first: they all got the same
	 * inactivity timeout (the handshake one), so deadlines ascend */
	struct park *parked, *parked_tail;
};

static _Thread_local struct worker *self;

/* ---- descriptor → parking state ---- */

static _Atomic(struct park **) *park_table;
static size_t park_chunks;
static pthread_once_t park_once = PTHREAD_ONCE_INIT;

static void park_table_init(void)
{
	struct rlimit rl;
	size_t max = 1u << 20;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
	    rl.rlim_max < max)
		max = (size_t)rl.rlim_max;
	park_chunks = (max + PARK_CHUNK - 1) / PARK_CHUNK;
	park_table = calloc(park_chunks, sizeof(*park_table));
	if (park_table == NULL)
		park_chunks = 0;
}

/* The slot of fd, allocating its chunk when create; NULL if none. */
static struct park **park_slot(int fd, int create)
{
	size_t c = (size_t)fd / PARK_CHUNK;
	struct park **chunk, **fresh, **expected = NULL;

	if (fd < 0 || c >= park_chunks)
		return NULL;
	chunk = atomic_load_explicit(&park_table[c], memory_order_acquire);
	if (chunk == NULL && create) {
		fresh = calloc(PARK_CHUNK, sizeof(*fresh));
		if (fresh == NULL)
			return NULL;
		if (atomic_compare_exchange_strong(&park_table[c], &expected,
						   fresh))
			chunk = fresh;
		else {
			free(fresh);
			chunk = expected;
		}
	}
	return chunk != NULL ? &chunk[(size_t)fd % PARK_CHUNK] : NULL;
}

/* ---- parking ---- */

/* GnuTLS reads the socket through this during and after the handshake.
 * A handshake read that finds nothing puts the connection on the stall
 * list; it is parked after MHD_run, not here, deep inside libmicrohttpd. */
static ssize_t pull(gnutls_transport_ptr_t tp, void *buf, size_t n)
{
	int fd = (int)(intptr_t)tp;
	ssize_t r = recv(fd, buf, n, 0);
	int saved = errno;

	if (r > 0 && self != NULL)
		self->moved++;
	if (r < 0 && saved == EAGAIN) {
		struct park **slot = park_slot(fd, 0);
		struct park *p = slot != NULL ? *slot : NULL;

		if (p != NULL && !p->stalled && !p->parked && !p->served) {
			p->stalled = 1;
			p->next_stalled = p->w->stalled;
			p->w->stalled = p;
		}
	}
	errno = saved;
	return r;
}

/* GnuTLS's own writev, counted (see ZERO_RUNS_OBEYED). giovec_t has
 * struct iovec's layout (gnutls.h says so). */
static ssize_t vec_push(gnutls_transport_ptr_t tp, const giovec_t *iov,
			int iovcnt)
{
	struct msghdr m;
	ssize_t r;

	memset(&m, 0, sizeof(m));
	m.msg_iov = (struct iovec *)(uintptr_t)iov;
	m.msg_iovlen = (size_t)iovcnt;
	r = sendmsg((int)(intptr_t)tp, &m, MSG_NOSIGNAL);
	if (r > 0 && self != NULL)
		self->moved++;
	return r;
}


static void park(struct worker *w, struct park *p)
{
	const union MHD_ConnectionInfo *ci;
	struct epoll_event ev;
	unsigned timeout = 0;

	/* Suspended, the connection is out of MHD's timeout lists: its
	 * inactivity timeout is ours to keep while it is parked. */
	ci = MHD_get_connection_info(p->conn,
				     MHD_CONNECTION_INFO_CONNECTION_TIMEOUT);
	if (ci != NULL)
		timeout = ci->connection_timeout;
	p->deadline_ms = timeout != 0 ? threads_mono_ms() + 1000L * (long)timeout : 0;
	MHD_suspend_connection(p->conn);
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.ptr = &p->tag;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, p->fd, &ev) != 0) {
		/* cannot watch it: leave it to MHD (and the backoff) */
		MHD_resume_connection(p->conn);
		return;
	}
	p->parked = 1;
	p->next = NULL;
	p->prev = w->parked_tail;
	if (w->parked_tail != NULL)
		w->parked_tail->next = p;
	else
		w->parked = p;
	w->parked_tail = p;
}

static void parked_unlink(struct worker *w, struct park *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		w->parked = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	else
		w->parked_tail = p->prev;
	p->parked = 0;
}

static void unpark(struct worker *w, struct park *p)
{
	epoll_ctl(w->ep, EPOLL_CTL_DEL, p->fd, NULL);
	parked_unlink(w, p);
	MHD_resume_connection(p->conn);
}

/* Parked connections past their inactivity timeout are resumed with the
 * socket shut down: MHD's next read sees the end and closes them, as its
 * own timeout would have. Returns ms until the next deadline (or -1). */
static long expire_parked(struct worker *w)
{
	long now = threads_mono_ms();

	while (w->parked != NULL) {
		struct park *p = w->parked;

		if (p->deadline_ms == 0 || now < p->deadline_ms)
			return p->deadline_ms != 0 ? p->deadline_ms - now : -1;
		shutdown(p->fd, SHUT_RDWR);
		unpark(w, p);
	}
	return -1;
}

/* After MHD_run: park what stalled; free what closed meanwhile. */
static void park_stalled(struct worker *w)
{
	struct park *p = w->stalled, *next;

	w->stalled = NULL;
	for (; p != NULL; p = next) {
		next = p->next_stalled;
		p->stalled = 0;
		if (p->closed)
			free(p);
		else if (!w->stop)
			park(w, p);
	}
}

void worker_track(struct MHD_Connection *conn, gnutls_session_t s, int fd,
		  const struct sockaddr_storage *peer)
{
	struct worker *w = self;
	struct park **slot, *p;

	if (w == NULL || s == NULL)
		return; /* not a worker's daemon (port 80), or no TLS */
	slot = park_slot(fd, 1);
	if (slot == NULL)
		return; /* out of memory: the backoff still bounds the cost */
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return;
	p->tag.kind = TAG_PARK;
	p->fd = fd;
	p->w = w;
	p->conn = conn;
	p->peer = *peer;
	*slot = p;
	gnutls_transport_set_pull_function(s, pull);
	gnutls_transport_set_vec_push_function(s, vec_push);
}

int worker_peer(int fd, struct sockaddr_storage *out)
{
	struct park **slot = park_slot(fd, 0);

	if (self == NULL || slot == NULL || *slot == NULL)
		return -1;
	*out = (*slot)->peer;
	return 0;
}

void worker_served(int fd)
{
	struct park **slot = park_slot(fd, 0);

	if (slot != NULL && *slot != NULL)
		(*slot)->served = 1;
}

void worker_untrack(int fd)
{
	struct park **slot = park_slot(fd, 0);
	struct park *p = slot != NULL ? *slot : NULL;

	if (p == NULL)
		return;
	*slot = NULL;
	if (p->parked) { /* only when the daemon stops: it closes all */
		epoll_ctl(p->w->ep, EPOLL_CTL_DEL, fd, NULL);
		parked_unlink(p->w, p);
	}
	if (p->stalled)
		p->closed = 1; /* freed by park_stalled() */
	else
		free(p);
}

/* ---- the loop ---- */

static void take_new(struct worker *w)
{
	struct pending *q;
	size_t n, i;
	uint64_t v;

	if (read(w->wake_fd, &v, sizeof(v)) < 0)
		v = 0; /* EAGAIN: another wakeup took it */
	pthread_mutex_lock(&w->q_mu);
	q = w->q;
	n = w->q_len;
	w->q = NULL;
	w->q_len = w->q_cap = 0;
	pthread_mutex_unlock(&w->q_mu);
	for (i = 0; i < n; i++) {
		/* MHD closes the socket itself if it cannot take it. */
		if (MHD_add_connection(w->d, q[i].fd,
				       (struct sockaddr *)&q[i].ss,
				       q[i].len) != MHD_YES)
			conns_release(w->conns, (struct sockaddr *)&q[i].ss);
	}
	free(q);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[MAX_EVENTS];
	unsigned zero_runs = 0;

	/* started by thread_start: signals blocked (threads.h) */
	self = w;
	while (!atomic_load(&w->stop)) {
		MHD_UNSIGNED_LONG_LONG t = 0;
		int wait_ms, n, i;
		long park_ms = expire_parked(w);

		if (MHD_get_timeout(w->d, &t) != MHD_YES || t > WAIT_MAX_MS)
			t = WAIT_MAX_MS;
		if (park_ms >= 0 && (MHD_UNSIGNED_LONG_LONG)park_ms < t)
			t = (MHD_UNSIGNED_LONG_LONG)park_ms + 1;
		if (t > 0) {
			zero_runs = 0;
			wait_ms = (int)t;
		} else if (++zero_runs <= ZERO_RUNS_OBEYED) {
			wait_ms = 0;
		} else {
			wait_ms = BACKOFF_MS;
		}
		if (w->timer_due >= 0) {
			long d = w->timer_due - threads_mono_ms();

			if (d < 0)
				d = 0;
			if (d < wait_ms)
				wait_ms = (int)d;
		}
		if (wait_ms != 0)
			atomic_store(&w->sleeping, 1);
		/* A resume since the last MHD_run: the next MHD_run handles
		 * it, do not sleep first. */
		if (atomic_exchange(&w->kicked, 0))
			wait_ms = 0;
		n = epoll_wait(w->ep, evs, MAX_EVENTS, wait_ms);
		atomic_store(&w->sleeping, 0);
		if (n > 0 || w->moved != 0)
			zero_runs = 0;
		w->moved = 0;
		w->batch = evs;
		w->batch_n = n;
		for (i = 0; i < n; i++) {
			struct tag *tg = evs[i].data.ptr;

			if (tg == NULL)
				continue; /* removed during this batch */
			if (tg->kind == TAG_WAKE)
				take_new(w);
			else if (tg->kind == TAG_PARK)
				unpark(w, (struct park *)tg);
			else if (tg->kind == TAG_IO) {
				struct worker_io *io = (struct worker_io *)tg;

				io->fn(io, evs[i].events);
			}
			/* TAG_MHD: MHD_run below */
		}
		w->batch = NULL;
		w->batch_n = 0;
		if (w->timer_due >= 0 && threads_mono_ms() >= w->timer_due) {
			w->timer_due = -1;
			w->hooks.timer(w->hooks.ud);
		}
		MHD_run(w->d);
		park_stalled(w);
	}
	/* The daemon is stopped by the caller: nothing may stay suspended
	 * by us, and sockets still queued are closed. */
	if (w->on_stop != NULL)
		w->on_stop(w->on_stop_ud);
	if (w->hooks.stop != NULL) {
		w->hooks.stop(w->hooks.ud);
		/* the aborted requests' clients were resumed: a chance to
		 * queue and send their error responses before the close */
		MHD_run(w->d);
		MHD_run(w->d);
	}
	while (w->parked != NULL)
		unpark(w, w->parked);
	park_stalled(w);
	take_new(w);
	self = NULL;
	return NULL;
}

int worker_create(struct conns *c, struct worker **out)
{
	struct epoll_event ev;
	struct worker *w;

	*out = NULL;
	pthread_once(&park_once, park_table_init);
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -1;
	w->ep = -1;
	w->wake_fd = -1;
	w->timer_due = -1;
	w->conns = c;
	atomic_init(&w->stop, 0);
	atomic_init(&w->kicked, 0);
	atomic_init(&w->sleeping, 0);
	pthread_mutex_init(&w->q_mu, NULL);
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->ep < 0 || w->wake_fd < 0)
		goto fail;
	w->mhd_tag.kind = TAG_MHD;
	w->wake_tag.kind = TAG_WAKE;
	ev.events = EPOLLIN;
	ev.data.ptr = &w->wake_tag;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->wake_fd, &ev) != 0)
		goto fail;
	*out = w;
	return 0;
fail:
	worker_free(w);
	return -1;
}

void worker_set_hooks(struct worker *w, const struct worker_hooks *h)
{
	w->hooks = *h;
}

void worker_on_stop(struct worker *w, void (*fn)(void *ud), void *ud)
{
	w->on_stop = fn;
	w->on_stop_ud = ud;
}

int worker_run(struct worker *w, struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *di;
	struct epoll_event ev;

	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
	if (di == NULL || w->started)
		return -1;
	w->d = d;
	ev.events = EPOLLIN;
	ev.data.ptr = &w->mhd_tag;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, di->epoll_fd, &ev) != 0 ||
	    thread_start(&w->thread, worker_main, w) != 0)
		return -1;
	w->started = 1;
	return 0;
}

/* ---- event sources and the timer (worker thread) ---- */

int worker_io_add(struct worker *w, int fd, uint32_t events,
		  struct worker_io *io)
{
	struct epoll_event ev;

	io->kind_ = TAG_IO;
	ev.events = events;
	ev.data.ptr = io;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) == 0)
		return 0;
	/* a descriptor number reused before its old registration went */
	if (errno == EEXIST && epoll_ctl(w->ep, EPOLL_CTL_MOD, fd, &ev) == 0)
		return 0;
	return -1;
}

int worker_io_mod(struct worker *w, int fd, uint32_t events,
		  struct worker_io *io)
{
	struct epoll_event ev;

	ev.events = events;
	ev.data.ptr = io;
	return epoll_ctl(w->ep, EPOLL_CTL_MOD, fd, &ev);
}

void worker_io_del(struct worker *w, int fd, struct worker_io *io)
{
	int i;

	/* EBADF when the owner closed fd already: the kernel dropped it */
	epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL);
	for (i = 0; w->batch != NULL && i < w->batch_n; i++)
		if (w->batch[i].data.ptr == io)
			w->batch[i].data.ptr = NULL;
}

void worker_timer(struct worker *w, long delay_ms)
{
	w->timer_due = delay_ms < 0 ? -1 : threads_mono_ms() + delay_ms;
}

int worker_add(struct worker *w, int fd, const struct sockaddr *sa,
	       socklen_t len)
{
	uint64_t one = 1;
	int was_empty;

	if (len > sizeof(struct sockaddr_storage)) {
		close(fd);
		return -1;
	}
	pthread_mutex_lock(&w->q_mu);
	if (w->q_len == w->q_cap) {
		size_t cap = w->q_cap != 0 ? w->q_cap * 2 : 64;
		struct pending *q = realloc(w->q, cap * sizeof(*q));

		if (q == NULL) {
			pthread_mutex_unlock(&w->q_mu);
			close(fd);
			return -1;
		}
		w->q = q;
		w->q_cap = cap;
	}
	was_empty = w->q_len == 0;
	w->q[w->q_len].fd = fd;
	w->q[w->q_len].len = len;
	memcpy(&w->q[w->q_len].ss, sa, len);
	w->q_len++;
	pthread_mutex_unlock(&w->q_mu);
	/* One wakeup per batch: the worker takes the whole queue. */
	if (was_empty && write(w->wake_fd, &one, sizeof(one)) < 0)
		one = 0; /* the counter is already non-zero: it will wake */
	return 0;
}

void worker_wake(struct worker *w)
{
	uint64_t one = 1;

	if (w == NULL)
		return;
	atomic_store(&w->kicked, 1);
	/* A busy loop sees kicked before it sleeps: no system call. */
	if (atomic_load(&w->sleeping) &&
	    write(w->wake_fd, &one, sizeof(one)) < 0)
		one = 0; /* the counter is already non-zero: it will wake */
}

void worker_stop(struct worker *w)
{
	uint64_t one = 1;

	if (w == NULL || !w->started)
		return;
	atomic_store(&w->stop, 1);
	if (write(w->wake_fd, &one, sizeof(one)) < 0)
		one = 0;
	pthread_join(w->thread, NULL);
	w->started = 0;
}

void worker_free(struct worker *w)
{
	size_t i;

	if (w == NULL)
		return;
	worker_stop(w);
	for (i = 0; i < w->q_len; i++) {
		close(w->q[i].fd);
		conns_release(w->conns, (struct sockaddr *)&w->q[i].ss);
	}
	free(w->q);
	if (w->ep >= 0)
		close(w->ep);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	pthread_mutex_destroy(&w->q_mu);
	free(w);
}
