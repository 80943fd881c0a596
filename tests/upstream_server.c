/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * upstream_server - a real HTTP/1.1 test upstream for the integration tests.
 *
 * Usage:
 *   upstream_server [--listen ADDR] [--port N] [--tls CERT.pem KEY.pem]
 *                   [--log FILE] [--keepalive-secs N]
 *
 * Listens on ADDR (default 127.0.0.1) port N (default 0 = ephemeral), prints
 * exactly one line "PORT <n>" on stdout, then serves until SIGTERM/SIGINT
 * (exit status 0).  One detached thread per connection; keep-alive is
 * supported (HTTP/1.1 default, HTTP/1.0 only with "Connection: keep-alive");
 * an idle connection is closed after --keepalive-secs (default 15).  With
 * --tls the same modes are served over HTTPS (GnuTLS, priority "NORMAL").
 *
 * Request bodies are framed by Content-Length or Transfer-Encoding: chunked
 * (decoded, trailers consumed) and are always streamed with a fixed buffer.
 * "Expect: 100-continue" is answered with "100 Continue" right before the
 * body is first read.  A body that a mode does not need is read and
 * discarded before the response is sent.
 *
 * Modes (chosen by the path = target up to '?'; parameters from the query):
 *   /echo                  any method; 200 text/plain with lines
 *                          "method: M", "target: RAW", "header: Name: value"
 *                          (one per received header, in order, value with
 *                          surrounding whitespace trimmed), "body-length: N",
 *                          "body-sha256: HEX".
 *   /bytes?n=N[&chunked=1][&seed=S]
 *                          N bytes of xorshift64 data (seed S, default 1;
 *                          each 64-bit output stored little-endian), in
 *                          64 KiB blocks; Content-Length or chunked.  HEAD
 *                          gives the head only.
 *   /early-bytes?n=N       /bytes sent before the request body is read
 *                          (then the body is read and dropped).
 *   /sha?n=N[&seed=S]      200 text/plain "HEX\n": SHA-256 of /bytes output.
 *   /drip?n=N&interval_ms=M[&chunk=K][&seed=S]
 *                          Content-Length N; the /bytes stream, K bytes
 *                          (default 1) at a time, first piece right after the
 *                          head, then one piece every M ms.
 *   /slowhead?ms=M         waits M ms, then 200 "ok\n".
 *   /stall                 reads the request, never responds; blocks until
 *                          the client closes (then logs ABORT and CLOSED).
 *   /close-mid?n=N         head with Content-Length 2N, N bytes, then the
 *                          connection is closed (no TLS close_notify).  No
 *                          DONE line is logged for it.
 *   /status?code=C[&cl=N]  status C (200..599) with body "status C\n"; no body
 *                          for 204, 304 and HEAD. A 304 with cl=N carries
 *                          "Content-Length: N" (the representation's).
 *   /conn-names?n=N        200 "ok\n" with one Connection line naming
 *                          X-N0..X-N<N-1> (N at most 5000), each of those
 *                          headers, and X-Kept: yes.
 *   /hop                   200 "hop\n" with hop-by-hop headers (Connection,
 *                          X-Hop-Custom, Keep-Alive, Proxy-Authenticate,
 *                          Trailer, Upgrade), Server and X-Kept: yes.
 *   /hop-long?n=N          200 "hop\n" with a Connection line of N (1020)
 *                          bytes, then "Connection: X-Secret", X-Secret
 *                          and X-Kept.
 *   /early401              401 "unauthorized\n" sent right after the head,
 *                          before any of the body is read; the body is then
 *                          read and discarded (streaming, any size) and the
 *                          connection kept alive.  If the request carried
 *                          "Expect: 100-continue" (so the client will not
 *                          send the body), the 401 says "Connection: close"
 *                          and the connection is closed instead.
 *
 * Hostile modes (for t_hostile_upstream.sh; each one answers with bytes no
 * sane server sends, then closes the connection without TLS close_notify
 * unless stated otherwise; no DONE line is logged for them):
 *   /bad-status[?form=F]   a garbage status line, then "Content-Length: 3"
 *                          and "bad": F=0 (default) "HTTP/1.1 abc OK",
 *                          F=1 "FOO", F=2 "HTTP/1.1 2000 OK",
 *                          F=3 "HTTP/9.9 200 OK", F=4 "HTTP/1.1 -200 OK".
 *   /huge-headers?n=N[&count=M]
 *                          200 with M (default 1, at most 100000) headers
 *                          "X-Huge-<i>: " + N (at most 64 MiB) 'h' bytes
 *                          each, then Content-Length 3 "ok\n".
 *   /endless-headers[?secs=S][&interval_ms=M]
 *                          "HTTP/1.1 200 OK" and then one header line
 *                          "X-Endless-<i>: v" after another, never the
 *                          empty line: every M ms (default 0 = as fast as
 *                          the peer reads) until S seconds (default 4, at
 *                          most 60) have passed or a write fails.
 *   /bad-chunk[?n=N]       chunked 200: a valid chunk of N bytes (default
 *                          1000) of the /bytes stream, then the chunk-size
 *                          line "zz".
 *   /huge-chunk-line[?n=N][&form=F]
 *                          chunked 200, then a chunk-size line of N bytes
 *                          (default 102400): F=0 (default) N-1 '0' digits
 *                          and "1" (a size with huge leading zeros), F=1
 *                          "1;" and a chunk extension of 'e' bytes; then
 *                          "\r\nx\r\n0\r\n\r\n".
 *   /cl-mismatch?n=N[&more=1]
 *                          Content-Length N, but only N/2 bytes of the
 *                          /bytes stream, then close.  With more=1: N bytes
 *                          followed, in the same write, by a whole second
 *                          response "HTTP/1.1 200 OK\r\nContent-Length: 8
 *                          \r\n\r\nSMUGGLED"; the connection then stays
 *                          open (keep-alive) so that a client reusing it
 *                          would read the smuggled response.
 *   /no-length-close[?n=N] HTTP/1.1 200 with neither Content-Length nor
 *                          Transfer-Encoding, N bytes (default 100000) of
 *                          the /bytes stream, then close: a valid response
 *                          delimited by the close (the SHA-256 is /sha?n=N).
 *                          Logs DONE after the last byte.
 *   /cl-te                 200 with "Content-Length: 5" and
 *                          "Transfer-Encoding: chunked", a 20-byte chunk.
 *   /obs-fold              200 with a folded header line
 *                          "X-Folded: a\r\n b" (obsolete line folding)
 *                          and Content-Length 3 "ok\n".
 *   anything else          404 "not found\n".
 * Malformed requests get 400 and the connection is closed.
 *
 * --log FILE appends one line per event (O_APPEND, one write(2) per line):
 *   REQ <method> <raw-target>          request head received
 *   DONE <raw-target> <status>         response completely written
 *   ABORT <raw-target> t=<ms>          client went away mid-request or
 *                                      mid-response (write failed, read hit
 *                                      EOF/error inside a body, or EOF seen
 *                                      while waiting in /stall, /drip,
 *                                      /slowhead); ms since the epoch
 *   CLOSED t=<ms>                      connection ended
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#define RBUF_SIZE (256 * 1024)
#define HEAD_MAX (64 * 1024)
#define LINE_MAX_LEN (8 * 1024)
#define MAX_HEADERS 4096
#define BLOCK (64 * 1024)
#define BODY_TIMEOUT_MS (600 * 1000)
#define SEND_TIMEOUT_SECS 600

/* ------------------------------------------------------------------ */
/* globals */

static int g_log_fd = -1;
static int g_keepalive_secs = 15;
static int g_tls;
static gnutls_certificate_credentials_t g_cred;
static gnutls_priority_t g_prio;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
	char buf[HEAD_MAX + 256];
	va_list ap;
	int n;
	if (g_log_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof buf - 2)
		n = (int)(sizeof buf - 2);
	buf[n++] = '\n';
	{
		ssize_t w = write(g_log_fd, buf, (size_t)n);
		(void)w;
	}
}

/* ------------------------------------------------------------------ */
/* connection I/O */

struct header {
	const char *name;
	const char *value;
};

struct conn {
	int fd;
	gnutls_session_t s;
	char *rbuf;
	size_t rpos, rlen;
	char *head;           /* copy of the request head, parsed in place */
	struct header *hdrs;
	size_t nhdrs;
	const char *target;   /* current raw target (for logging) */
	int aborted;          /* ABORT already logged for this request */
	int broken;           /* connection unusable */
};

static void conn_abort(struct conn *c)
{
	if (!c->aborted && c->target)
		log_line("ABORT %s t=%lld", c->target, now_ms());
	c->aborted = 1;
	c->broken = 1;
}

/* Wait for readability. 1 ready, 0 timeout, -1 error. */
static int wait_readable(struct conn *c, int timeout_ms)
{
	struct pollfd p;
	int r;
	if (c->s && gnutls_record_check_pending(c->s) > 0)
		return 1;
	p.fd = c->fd;
	p.events = POLLIN;
	p.revents = 0;
	do {
		r = poll(&p, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	return r > 0 ? 1 : 0;
}

/* Raw read into dst. >0 bytes, 0 EOF, -1 error, -2 timeout. */
static ssize_t conn_recv(struct conn *c, char *dst, size_t cap, int timeout_ms)
{
	int w = wait_readable(c, timeout_ms);
	if (w < 0)
		return -1;
	if (w == 0)
		return -2;
	for (;;) {
		if (c->s) {
			ssize_t r = gnutls_record_recv(c->s, dst, cap);
			if (r >= 0)
				return r;
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
				continue;
			if (r == GNUTLS_E_PREMATURE_TERMINATION)
				return 0;
			return -1;
		} else {
			ssize_t r = recv(c->fd, dst, cap, 0);
			if (r >= 0)
				return r;
			if (errno == EINTR)
				continue;
			return -1;
		}
	}
}

/* Make room so that at least `need` bytes fit after rpos. */
static void conn_compact(struct conn *c, size_t need)
{
	if (c->rpos == c->rlen) {
		c->rpos = c->rlen = 0;
		return;
	}
	if (c->rpos > 0 && c->rpos + need > RBUF_SIZE) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
}

/* Read more into rbuf. >0, 0 EOF, -1 error, -2 timeout. */
static ssize_t conn_fill(struct conn *c, int timeout_ms)
{
	ssize_t r;
	conn_compact(c, LINE_MAX_LEN > HEAD_MAX ? LINE_MAX_LEN : HEAD_MAX);
	if (c->rlen >= RBUF_SIZE) {
		if (c->rpos == 0)
			return -1;
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	r = conn_recv(c, c->rbuf + c->rlen, RBUF_SIZE - c->rlen, timeout_ms);
	if (r > 0)
		c->rlen += (size_t)r;
	return r;
}

static int conn_write(struct conn *c, const void *data, size_t len)
{
	const char *p = data;
	if (c->broken)
		return -1;
	while (len > 0) {
		ssize_t r;
		if (c->s) {
			r = gnutls_record_send(c->s, p, len);
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
				continue;
			if (r <= 0) {
				conn_abort(c);
				return -1;
			}
		} else {
			r = send(c->fd, p, len, MSG_NOSIGNAL);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				conn_abort(c);
				return -1;
			}
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/*
 * Sleep ms milliseconds while watching for the client going away.
 * Returns 0 after the full sleep, -1 if the client closed (ABORT logged).
 */
static int sleep_watch(struct conn *c, long long ms)
{
	long long end = now_ms() + ms;
	int watch = 1;
	for (;;) {
		long long left = end - now_ms();
		struct pollfd p;
		int r;
		if (left <= 0)
			return 0;
		if (!watch) {
			struct timespec ts;
			ts.tv_sec = (time_t)(left / 1000);
			ts.tv_nsec = (long)(left % 1000) * 1000000L;
			nanosleep(&ts, NULL);
			continue;
		}
		p.fd = c->fd;
		p.events = POLLIN;
		p.revents = 0;
		r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		if (r == 0)
			continue;
		{
			char ch;
			ssize_t k = recv(c->fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
			if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
				conn_abort(c);
				return -1;
			}
			if (k > 0)
				watch = 0; /* pipelined data / TLS record: stop watching */
		}
	}
}

/* ------------------------------------------------------------------ */
/* helpers */

static int parse_u64(const char *s, size_t len, unsigned long long *out)
{
	unsigned long long v = 0;
	size_t i;
	if (len == 0 || len > 19)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Find parameter `name` in query string q (NULL if none). */
static int get_param(const char *q, const char *name, const char **val, size_t *vlen)
{
	size_t nl = strlen(name);
	if (!q)
		return 0;
	while (*q) {
		const char *amp = strchr(q, '&');
		size_t seg = amp ? (size_t)(amp - q) : strlen(q);
		if (seg >= nl && strncmp(q, name, nl) == 0 && (seg == nl || q[nl] == '=')) {
			*val = seg == nl ? q + nl : q + nl + 1;
			*vlen = seg == nl ? 0 : seg - nl - 1;
			return 1;
		}
		if (!amp)
			break;
		q = amp + 1;
	}
	return 0;
}

/* 1 found+valid, 0 absent (def used), -1 invalid */
static int param_u64(const char *q, const char *name, unsigned long long def, unsigned long long *out)
{
	const char *v;
	size_t vl;
	if (!get_param(q, name, &v, &vl)) {
		*out = def;
		return 0;
	}
	return parse_u64(v, vl, out) == 0 ? 1 : -1;
}

static const char *reason_phrase(int code)
{
	switch (code) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unknown";
	}
}

static int is_tchar(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return 1;
	if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z')
		return 1;
	return strchr("!#$%&'*+-.^_`|~", ch) != NULL && ch != 0;
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;
	for (i = 0; i < n; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * n] = 0;
}

/* Deterministic byte stream: xorshift64, little-endian words. */
struct prng {
	uint64_t x;
};

static void prng_init(struct prng *p, unsigned long long seed)
{
	p->x = seed ? (uint64_t)seed : 0x9E3779B97F4A7C15ULL;
}

/* len must be a multiple of 8 except for the very last call */
static void prng_fill(struct prng *p, unsigned char *out, size_t len)
{
	uint64_t x = p->x;
	size_t i = 0;
	while (i + 8 <= len) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		out[i] = (unsigned char)x;
		out[i + 1] = (unsigned char)(x >> 8);
		out[i + 2] = (unsigned char)(x >> 16);
		out[i + 3] = (unsigned char)(x >> 24);
		out[i + 4] = (unsigned char)(x >> 32);
		out[i + 5] = (unsigned char)(x >> 40);
		out[i + 6] = (unsigned char)(x >> 48);
		out[i + 7] = (unsigned char)(x >> 56);
		i += 8;
	}
	if (i < len) {
		size_t k;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		for (k = 0; i < len; i++, k++)
			out[i] = (unsigned char)(x >> (8 * k));
	}
	p->x = x;
}

/* Streaming generator that works for arbitrary piece sizes. */
struct stream {
	struct prng p;
	unsigned char word[8];
	size_t wpos; /* bytes of word already used; 8 = empty */
};

static void stream_init(struct stream *s, unsigned long long seed)
{
	prng_init(&s->p, seed);
	s->wpos = 8;
}

static void stream_fill(struct stream *s, unsigned char *out, size_t len)
{
	size_t bulk;
	while (len > 0 && s->wpos < 8) {
		*out++ = s->word[s->wpos++];
		len--;
	}
	bulk = len & ~(size_t)7;
	prng_fill(&s->p, out, bulk);
	out += bulk;
	len -= bulk;
	if (len > 0) {
		prng_fill(&s->p, s->word, 8);
		memcpy(out, s->word, len);
		s->wpos = len;
	}
}

/* ------------------------------------------------------------------ */
/* request state */

enum body_mode { BODY_NONE, BODY_LENGTH, BODY_CHUNKED };
enum chunk_state { CH_SIZE, CH_DATA, CH_DATA_END, CH_DONE };

struct request {
	const char *method;
	const char *target;
	const char *path;   /* separate copy: target up to '?' */
	const char *query;  /* after '?' or NULL */
	int is_head;
	int keep_alive;
	int expect_continue;
	enum body_mode bmode;
	unsigned long long remaining;
	enum chunk_state cstate;
	int body_started;
	int body_done;
};

/* Read one line (without CRLF) from the connection buffer. */
static int read_line(struct conn *c, const char **line, size_t *len)
{
	for (;;) {
		char *start = c->rbuf + c->rpos;
		char *nl = memchr(start, '\n', c->rlen - c->rpos);
		if (nl) {
			size_t l = (size_t)(nl - start);
			c->rpos += l + 1;
			if (l > 0 && start[l - 1] == '\r')
				l--;
			*line = start;
			*len = l;
			return 0;
		}
		if (c->rlen - c->rpos > LINE_MAX_LEN)
			return -1;
		{
			ssize_t r = conn_fill(c, BODY_TIMEOUT_MS);
			if (r <= 0)
				return -1;
		}
	}
}

/*
 * Next piece of the request body, pointing into the connection buffer.
 * Returns 1 with data, 0 at end of body, -1 on error (ABORT logged).
 */
static int body_next(struct conn *c, struct request *rq, const char **p, size_t *n)
{
	if (rq->body_done || rq->bmode == BODY_NONE) {
		rq->body_done = 1;
		return 0;
	}
	if (!rq->body_started) {
		rq->body_started = 1;
		if (rq->expect_continue &&
		    conn_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
			return -1;
	}
	for (;;) {
		if (rq->bmode == BODY_LENGTH || rq->cstate == CH_DATA) {
			size_t avail;
			if (rq->remaining == 0) {
				if (rq->bmode == BODY_LENGTH) {
					rq->body_done = 1;
					return 0;
				}
				rq->cstate = CH_DATA_END;
				continue;
			}
			if (c->rpos == c->rlen) {
				ssize_t r = conn_fill(c, BODY_TIMEOUT_MS);
				if (r <= 0) {
					conn_abort(c);
					return -1;
				}
			}
			avail = c->rlen - c->rpos;
			if (avail > rq->remaining)
				avail = (size_t)rq->remaining;
			*p = c->rbuf + c->rpos;
			*n = avail;
			c->rpos += avail;
			rq->remaining -= avail;
			return 1;
		}
		if (rq->cstate == CH_DATA_END) {
			const char *l;
			size_t ll;
			if (read_line(c, &l, &ll) < 0 || ll != 0) {
				conn_abort(c);
				return -1;
			}
			rq->cstate = CH_SIZE;
			continue;
		}
		if (rq->cstate == CH_SIZE) {
			const char *l;
			size_t ll, i;
			unsigned long long v = 0;
			int digits = 0;
			if (read_line(c, &l, &ll) < 0) {
				conn_abort(c);
				return -1;
			}
			for (i = 0; i < ll; i++) {
				int d;
				char ch = l[i];
				if (ch >= '0' && ch <= '9')
					d = ch - '0';
				else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
					d = (ch | 0x20) - 'a' + 10;
				else
					break;
				if (v >> 58) {
					conn_abort(c);
					return -1;
				}
				v = v * 16 + (unsigned)d;
				digits++;
			}
			if (!digits || (i < ll && l[i] != ';' && l[i] != ' ' && l[i] != '\t')) {
				conn_abort(c);
				return -1;
			}
			if (v == 0) {
				/* trailers */
				for (;;) {
					if (read_line(c, &l, &ll) < 0) {
						conn_abort(c);
						return -1;
					}
					if (ll == 0)
						break;
				}
				rq->cstate = CH_DONE;
				rq->body_done = 1;
				return 0;
			}
			rq->remaining = v;
			rq->cstate = CH_DATA;
			continue;
		}
		rq->body_done = 1;
		return 0;
	}
}

static int body_discard(struct conn *c, struct request *rq)
{
	const char *p;
	size_t n;
	int r;
	while ((r = body_next(c, rq, &p, &n)) > 0)
		;
	return r;
}

/* ------------------------------------------------------------------ */
/* responses */

/*
 * Send a status line + headers. clen >= 0: Content-Length; -1: chunked;
 * -2: no length header (204/304).
 */
static int send_head(struct conn *c, struct request *rq, int code, const char *ctype,
		     long long clen, const char *extra)
{
	/* extra: up to ~170 KiB (/conn-names?n=5000) */
	size_t cap = 512 + (extra ? strlen(extra) : 0);
	char *buf = malloc(cap);
	int n, r;
	if (!buf)
		return -1;
	n = snprintf(buf, cap, "HTTP/1.1 %d %s\r\n", code, reason_phrase(code));
	if (ctype)
		n += snprintf(buf + n, cap - (size_t)n, "Content-Type: %s\r\n", ctype);
	if (clen >= 0)
		n += snprintf(buf + n, cap - (size_t)n, "Content-Length: %lld\r\n", clen);
	else if (clen == -1)
		n += snprintf(buf + n, cap - (size_t)n, "Transfer-Encoding: chunked\r\n");
	if (extra)
		n += snprintf(buf + n, cap - (size_t)n, "%s", extra);
	if (!rq->keep_alive)
		n += snprintf(buf + n, cap - (size_t)n, "Connection: close\r\n");
	n += snprintf(buf + n, cap - (size_t)n, "\r\n");
	if (n < 0 || (size_t)n >= cap) {
		free(buf);
		return -1;
	}
	r = conn_write(c, buf, (size_t)n);
	free(buf);
	return r;
}

static int send_simple(struct conn *c, struct request *rq, int code, const char *body, const char *extra)
{
	size_t bl = strlen(body);
	int nobody = rq->is_head || code == 204 || code == 304;
	if (send_head(c, rq, code, (code == 204 || code == 304) ? NULL : "text/plain",
		      (code == 204 || code == 304) ? -2 : (long long)bl, extra) < 0)
		return -1;
	if (!nobody && conn_write(c, body, bl) < 0)
		return -1;
	log_line("DONE %s %d", rq->target, code);
	return 0;
}

static int do_echo(struct conn *c, struct request *rq)
{
	gnutls_hash_hd_t h;
	unsigned char dig[32];
	char hex[65];
	unsigned long long total = 0;
	const char *p;
	size_t n, i, cap;
	int r;
	char *out;
	size_t ol = 0;

	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return -1;
	while ((r = body_next(c, rq, &p, &n)) > 0) {
		gnutls_hash(h, p, n);
		total += n;
	}
	gnutls_hash_deinit(h, dig);
	if (r < 0)
		return -1;
	hex_encode(dig, sizeof dig, hex);

	cap = 256 + strlen(rq->method) + strlen(rq->target);
	for (i = 0; i < c->nhdrs; i++)
		cap += 16 + strlen(c->hdrs[i].name) + strlen(c->hdrs[i].value);
	out = malloc(cap);
	if (!out)
		return -1;
	ol += (size_t)snprintf(out + ol, cap - ol, "method: %s\ntarget: %s\n", rq->method, rq->target);
	for (i = 0; i < c->nhdrs; i++)
		ol += (size_t)snprintf(out + ol, cap - ol, "header: %s: %s\n", c->hdrs[i].name, c->hdrs[i].value);
	ol += (size_t)snprintf(out + ol, cap - ol, "body-length: %llu\nbody-sha256: %s\n", total, hex);
	r = send_head(c, rq, 200, "text/plain", (long long)ol, NULL);
	if (r == 0 && !rq->is_head)
		r = conn_write(c, out, ol);
	free(out);
	if (r < 0)
		return -1;
	log_line("DONE %s %d", rq->target, 200);
	return 0;
}

static int do_bytes(struct conn *c, struct request *rq)
{
	unsigned long long n, seed, chunked;
	struct prng pr;
	unsigned char *buf;
	size_t off;
	if (param_u64(rq->query, "n", 0, &n) <= 0 || param_u64(rq->query, "seed", 1, &seed) < 0 ||
	    param_u64(rq->query, "chunked", 0, &chunked) < 0 || n > (1ULL << 62))
		return send_simple(c, rq, 400, "bad request\n", NULL);
	if (send_head(c, rq, 200, "application/octet-stream", chunked ? -1 : (long long)n, NULL) < 0)
		return -1;
	if (rq->is_head) {
		log_line("DONE %s %d", rq->target, 200);
		return 0;
	}
	buf = malloc(BLOCK + 32);
	if (!buf)
		return -1;
	prng_init(&pr, seed);
	off = 16; /* room for a chunk-size line */
	while (n > 0) {
		size_t blk = n > BLOCK ? BLOCK : (size_t)n;
		prng_fill(&pr, buf + off, blk);
		if (chunked) {
			char hdr[16];
			int hl = snprintf(hdr, sizeof hdr, "%zx\r\n", blk);
			memcpy(buf + off - (size_t)hl, hdr, (size_t)hl);
			memcpy(buf + off + blk, "\r\n", 2);
			if (conn_write(c, buf + off - (size_t)hl, (size_t)hl + blk + 2) < 0)
				break;
		} else if (conn_write(c, buf + off, blk) < 0) {
			break;
		}
		n -= blk;
	}
	free(buf);
	if (n > 0)
		return -1;
	if (chunked && conn_write(c, "0\r\n\r\n", 5) < 0)
		return -1;
	log_line("DONE %s %d", rq->target, 200);
	return 0;
}

static int do_sha(struct conn *c, struct request *rq)
{
	unsigned long long n, seed;
	struct prng pr;
	unsigned char *buf;
	unsigned char dig[32];
	char hex[66];
	gnutls_hash_hd_t h;
	if (param_u64(rq->query, "n", 0, &n) <= 0 || param_u64(rq->query, "seed", 1, &seed) < 0)
		return send_simple(c, rq, 400, "bad request\n", NULL);
	buf = malloc(BLOCK);
	if (!buf)
		return -1;
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
		free(buf);
		return -1;
	}
	prng_init(&pr, seed);
	while (n > 0) {
		size_t blk = n > BLOCK ? BLOCK : (size_t)n;
		prng_fill(&pr, buf, blk);
		gnutls_hash(h, buf, blk);
		n -= blk;
	}
	gnutls_hash_deinit(h, dig);
	free(buf);
	hex_encode(dig, sizeof dig, hex);
	hex[64] = '\n';
	hex[65] = 0;
	return send_simple(c, rq, 200, hex, NULL);
}

static int do_drip(struct conn *c, struct request *rq)
{
	unsigned long long n, ms, k, seed;
	struct stream st;
	unsigned char *buf;
	if (param_u64(rq->query, "n", 0, &n) <= 0 || param_u64(rq->query, "interval_ms", 0, &ms) < 0 ||
	    param_u64(rq->query, "chunk", 1, &k) < 0 || param_u64(rq->query, "seed", 1, &seed) < 0 ||
	    k == 0 || ms > 3600000ULL || n > (1ULL << 62))
		return send_simple(c, rq, 400, "bad request\n", NULL);
	if (k > BLOCK)
		k = BLOCK;
	if (send_head(c, rq, 200, "application/octet-stream", (long long)n, NULL) < 0)
		return -1;
	if (rq->is_head) {
		log_line("DONE %s %d", rq->target, 200);
		return 0;
	}
	buf = malloc(BLOCK);
	if (!buf)
		return -1;
	stream_init(&st, seed);
	while (n > 0) {
		size_t piece = n > k ? (size_t)k : (size_t)n;
		stream_fill(&st, buf, piece);
		if (conn_write(c, buf, piece) < 0)
			break;
		n -= piece;
		if (n > 0 && sleep_watch(c, (long long)ms) < 0)
			break;
	}
	free(buf);
	if (n > 0)
		return -1;
	log_line("DONE %s %d", rq->target, 200);
	return 0;
}

static int do_close_mid(struct conn *c, struct request *rq)
{
	unsigned long long n;
	struct prng pr;
	unsigned char *buf;
	if (param_u64(rq->query, "n", 0, &n) <= 0 || n > (1ULL << 60))
		return send_simple(c, rq, 400, "bad request\n", NULL);
	if (send_head(c, rq, 200, "application/octet-stream", (long long)(2 * n), NULL) < 0)
		return -1;
	buf = malloc(BLOCK);
	if (!buf)
		return -1;
	prng_init(&pr, 1);
	while (n > 0) {
		size_t blk = n > BLOCK ? BLOCK : (size_t)n;
		prng_fill(&pr, buf, blk);
		if (conn_write(c, buf, blk) < 0)
			break;
		n -= blk;
	}
	free(buf);
	c->broken = 1; /* close without close_notify / further requests */
	return -1;
}

static int do_stall(struct conn *c, struct request *rq)
{
	char tmp[4096];
	for (;;) {
		ssize_t r = conn_recv(c, tmp, sizeof tmp, -1);
		if (r == -2)
			continue;
		if (r <= 0)
			break;
	}
	conn_abort(c);
	return -1;
}

static int do_early401(struct conn *c, struct request *rq)
{
	if (rq->bmode != BODY_NONE && rq->expect_continue) {
		rq->keep_alive = 0;
		send_simple(c, rq, 401, "unauthorized\n", NULL);
		c->broken = 1;
		return -1;
	}
	if (send_simple(c, rq, 401, "unauthorized\n", NULL) < 0)
		return -1;
	rq->expect_continue = 0;
	return body_discard(c, rq) < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* hostile modes */

/* Write a NUL-terminated string; -1 if the write failed. */
static int send_str(struct conn *c, const char *str)
{
	return conn_write(c, str, strlen(str));
}

/* The end of every hostile mode: close without close_notify. */
static int hostile_close(struct conn *c)
{
	c->broken = 1;
	return -1;
}

static int do_bad_status(struct conn *c, struct request *rq)
{
	static const char *const lines[] = {
		"HTTP/1.1 abc OK\r\n", "FOO\r\n", "HTTP/1.1 2000 OK\r\n",
		"HTTP/9.9 200 OK\r\n", "HTTP/1.1 -200 OK\r\n",
	};
	unsigned long long form;
	if (param_u64(rq->query, "form", 0, &form) < 0 || form >= sizeof lines / sizeof lines[0])
		return send_simple(c, rq, 400, "bad request\n", NULL);
	if (send_str(c, lines[form]) == 0)
		send_str(c, "Content-Length: 3\r\nConnection: close\r\n\r\nbad");
	return hostile_close(c);
}

static int do_huge_headers(struct conn *c, struct request *rq)
{
	unsigned long long n, count, i;
	char *buf;
	if (param_u64(rq->query, "n", 0, &n) <= 0 || param_u64(rq->query, "count", 1, &count) < 0 ||
	    n > 64ULL * 1024 * 1024 || count > 100000)
		return send_simple(c, rq, 400, "bad request\n", NULL);
	buf = malloc(BLOCK);
	if (!buf)
		return -1;
	memset(buf, 'h', BLOCK);
	if (send_str(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n") < 0)
		goto out;
	for (i = 0; i < count; i++) {
		char name[48];
		unsigned long long left = n;
		snprintf(name, sizeof name, "X-Huge-%llu: ", i);
		if (send_str(c, name) < 0)
			goto out;
		while (left > 0) {
			size_t blk = left > BLOCK ? BLOCK : (size_t)left;
			if (conn_write(c, buf, blk) < 0)
				goto out;
			left -= blk;
		}
		if (send_str(c, "\r\n") < 0)
			goto out;
	}
	send_str(c, "Content-Length: 3\r\nConnection: close\r\n\r\nok\n");
out:
	free(buf);
	return hostile_close(c);
}

static int do_endless_headers(struct conn *c, struct request *rq)
{
	unsigned long long secs, ms, i;
	long long end;
	if (param_u64(rq->query, "secs", 4, &secs) < 0 || param_u64(rq->query, "interval_ms", 0, &ms) < 0 ||
	    secs > 60 || ms > 60000)
		return send_simple(c, rq, 400, "bad request\n", NULL);
	end = now_ms() + (long long)secs * 1000;
	if (send_str(c, "HTTP/1.1 200 OK\r\n") < 0)
		return hostile_close(c);
	for (i = 0; now_ms() < end; i++) {
		char line[64];
		snprintf(line, sizeof line, "X-Endless-%llu: v\r\n", i);
		if (send_str(c, line) < 0)
			break;
		if (ms > 0 && sleep_watch(c, (long long)ms) < 0)
			break;
	}
	return hostile_close(c);
}

static int do_bad_chunk(struct conn *c, struct request *rq)
{
	unsigned long long n;
	struct stream st;
	unsigned char *buf;
	char hdr[32];
	if (param_u64(rq->query, "n", 1000, &n) < 0 || n == 0 || n > BLOCK)
		return send_simple(c, rq, 400, "bad request\n", NULL);
	buf = malloc(BLOCK);
	if (!buf)
		return -1;
	stream_init(&st, 1);
	stream_fill(&st, buf, (size_t)n);
	snprintf(hdr, sizeof hdr, "%llx\r\n", n);
	if (send_head(c, rq, 200, "application/octet-stream", -1, NULL) == 0 && send_str(c, hdr) == 0 &&
	    conn_write(c, buf, (size_t)n) == 0)
		send_str(c, "\r\nzz\r\nxx\r\n0\r\n\r\n");
	free(buf);
	return hostile_close(c);
}

static int do_huge_chunk_line(struct conn *c, struct request *rq)
{
	unsigned long long n, form;
	char *buf;
	if (param_u64(rq->query, "n", 102400, &n) < 0 || param_u64(rq->query, "form", 0, &form) < 0 ||
	    n < 3 || n > 64ULL * 1024 * 1024 || form > 1)
		return send_simple(c, rq, 400, "bad request\n", NULL);
	buf = malloc((size_t)n);
	if (!buf)
		return -1;
	if (form == 0) {
		memset(buf, '0', (size_t)n - 1);
		buf[n - 1] = '1';
	} else {
		memset(buf, 'e', (size_t)n);
		buf[0] = '1';
		buf[1] = ';';
	}
	if (send_head(c, rq, 200, "application/octet-stream", -1, NULL) == 0 && conn_write(c, buf, (size_t)n) == 0)
		send_str(c, "\r\nx\r\n0\r\n\r\n");
	free(buf);
	return hostile_close(c);
}

static int do_cl_mismatch(struct conn *c, struct request *rq)
{
	static const char smuggled[] = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED";
	unsigned long long n, more, send_n;
	struct stream st;
	unsigned char *buf;
	size_t sl = sizeof smuggled - 1;
	if (param_u64(rq->query, "n", 0, &n) <= 0 || param_u64(rq->query, "more", 0, &more) < 0 ||
	    n > 64ULL * 1024 * 1024)
		return send_simple(c, rq, 400, "bad request\n", NULL);
	send_n = more ? n : n / 2;
	buf = malloc((size_t)send_n + sl);
	if (!buf)
		return -1;
	stream_init(&st, 1);
	stream_fill(&st, buf, (size_t)send_n);
	if (more) {
		memcpy(buf + send_n, smuggled, sl);
		send_n += sl;
	}
	if (send_head(c, rq, 200, "application/octet-stream", (long long)n, NULL) < 0 ||
	    conn_write(c, buf, (size_t)send_n) < 0 || !more) {
		free(buf);
		return hostile_close(c);
	}
	free(buf);
	return 0; /* keep-alive: the smuggled bytes stay in the stream */
}

static int do_no_length_close(struct conn *c, struct request *rq)
{
	unsigned long long n;
	struct stream st;
	unsigned char *buf;
	if (param_u64(rq->query, "n", 100000, &n) < 0 || n > (1ULL << 40))
		return send_simple(c, rq, 400, "bad request\n", NULL);
	if (send_str(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n") < 0)
		return hostile_close(c);
	buf = malloc(BLOCK);
	if (!buf)
		return -1;
	stream_init(&st, 1);
	while (n > 0) {
		size_t blk = n > BLOCK ? BLOCK : (size_t)n;
		stream_fill(&st, buf, blk);
		if (conn_write(c, buf, blk) < 0)
			break;
		n -= blk;
	}
	free(buf);
	if (n == 0) {
		/* the close is the end of the body: a clean one (FIN, and
		 * close_notify over TLS) */
		log_line("DONE %s %d", rq->target, 200);
		if (c->s)
			gnutls_bye(c->s, GNUTLS_SHUT_WR);
		shutdown(c->fd, SHUT_WR);
	}
	return hostile_close(c);
}

static int do_obs_fold(struct conn *c, struct request *rq)
{
	(void)rq;
	send_str(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Folded: a\r\n b\r\n"
		    "Content-Length: 3\r\nConnection: close\r\n\r\nok\n");
	return hostile_close(c);
}

static const char HOP_HEADERS[] =
	"Connection: X-Hop-Custom, keep-alive\r\n"
	"X-Hop-Custom: secret\r\n"
	"Keep-Alive: timeout=5\r\n"
	"Proxy-Authenticate: Basic\r\n"
	"Trailer: X-T\r\n"
	"Upgrade: h2c\r\n"
	"Server: upstream-test/1.0\r\n"
	"X-Kept: yes\r\n";

/* /hop-long?n=N: a Connection line of N bytes (a fixed join buffer fills
 * up), then a second one that nominates X-Secret. */
static int do_hop_long(struct conn *c, struct request *rq)
{
	static char extra[6200];
	unsigned long long n;
	size_t k;

	if (param_u64(rq->query, "n", 1020, &n) < 0 || n < 1 || n > 6000)
		return send_simple(c, rq, 400, "bad n\n", NULL);
	k = (size_t)snprintf(extra, sizeof(extra), "Connection: ");
	memset(extra + k, 'x', (size_t)n);
	k += (size_t)n;
	snprintf(extra + k, sizeof(extra) - k,
		 "\r\nConnection: X-Secret\r\nX-Secret: hop-by-hop\r\n"
		 "X-Kept: yes\r\n");
	return send_simple(c, rq, 200, "hop\n", extra);
}

/* /cl-te: "Content-Length: 5" and a chunked body of 20 bytes (both
 * framings: RFC 9112 §6.3 says the chunking wins and the message is
 * suspect), then close. */
static int do_cl_te(struct conn *c, struct request *rq)
{
	(void)rq;
	send_str(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		    "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "14\r\n0123456789abcdefghij\r\n0\r\n\r\n");
	return hostile_close(c);
}

/* /conn-names?n=N: one Connection line naming X-N0 .. X-N<N-1> and each of
 * those headers, then X-Kept; a 200 "ok\n". */
static int do_conn_names(struct conn *c, struct request *rq)
{
	unsigned long long n, i;
	size_t cap, k = 0;
	char *extra;
	int r;

	if (param_u64(rq->query, "n", 10, &n) < 0 || n > 5000)
		return send_simple(c, rq, 400, "bad n\n", NULL);
	cap = 64 + (size_t)n * 32;
	extra = malloc(cap);
	if (extra == NULL)
		return -1;
	k += (size_t)snprintf(extra + k, cap - k, "Connection: close");
	for (i = 0; i < n; i++)
		k += (size_t)snprintf(extra + k, cap - k, ", X-N%llu", i);
	k += (size_t)snprintf(extra + k, cap - k, "\r\n");
	for (i = 0; i < n; i++)
		k += (size_t)snprintf(extra + k, cap - k, "X-N%llu: v\r\n", i);
	snprintf(extra + k, cap - k, "X-Kept: yes\r\n");
	r = send_simple(c, rq, 200, "ok\n", extra);
	free(extra);
	return r;
}

static int dispatch(struct conn *c, struct request *rq)
{
	const char *path = rq->path;
	if (strcmp(path, "/echo") == 0)
		return do_echo(c, rq);
	if (strcmp(path, "/early401") == 0)
		return do_early401(c, rq);
	/* /early-bytes?n=N: /bytes sent before the request body is read (a
	 * service that answers while it still receives), then the body */
	if (strcmp(path, "/early-bytes") == 0)
		return do_bytes(c, rq) < 0 || body_discard(c, rq) < 0 ? -1 : 0;
	/* all other modes: consume the request body first */
	if (body_discard(c, rq) < 0)
		return -1;
	if (strcmp(path, "/bytes") == 0)
		return do_bytes(c, rq);
	if (strcmp(path, "/sha") == 0)
		return do_sha(c, rq);
	if (strcmp(path, "/drip") == 0)
		return do_drip(c, rq);
	if (strcmp(path, "/slowhead") == 0) {
		unsigned long long ms;
		if (param_u64(rq->query, "ms", 0, &ms) < 0 || ms > 3600000ULL)
			return send_simple(c, rq, 400, "bad request\n", NULL);
		if (sleep_watch(c, (long long)ms) < 0)
			return -1;
		return send_simple(c, rq, 200, "ok\n", NULL);
	}
	if (strcmp(path, "/stall") == 0)
		return do_stall(c, rq);
	if (strcmp(path, "/close-mid") == 0)
		return do_close_mid(c, rq);
	if (strcmp(path, "/status") == 0) {
		unsigned long long code, cl;
		char body[32];
		if (param_u64(rq->query, "code", 0, &code) <= 0 || code < 200 || code > 599)
			return send_simple(c, rq, 400, "bad request\n", NULL);
		snprintf(body, sizeof body, "status %llu\n", code);
		if (code == 304 && param_u64(rq->query, "cl", 0, &cl) > 0) {
			/* a 304 with the representation's length */
			char extra[64];
			snprintf(extra, sizeof extra, "Content-Length: %llu\r\n", cl);
			if (send_head(c, rq, 304, NULL, -2, extra) < 0)
				return -1;
			log_line("DONE %s %d", rq->target, 304);
			return 0;
		}
		return send_simple(c, rq, (int)code, body, NULL);
	}
	if (strcmp(path, "/cl-te") == 0)
		return do_cl_te(c, rq);
	if (strcmp(path, "/conn-names") == 0)
		return do_conn_names(c, rq);
	if (strcmp(path, "/hop") == 0)
		return send_simple(c, rq, 200, "hop\n", HOP_HEADERS);
	if (strcmp(path, "/hop-long") == 0)
		return do_hop_long(c, rq);
	if (strcmp(path, "/bad-status") == 0)
		return do_bad_status(c, rq);
	if (strcmp(path, "/huge-headers") == 0)
		return do_huge_headers(c, rq);
	if (strcmp(path, "/endless-headers") == 0)
		return do_endless_headers(c, rq);
	if (strcmp(path, "/bad-chunk") == 0)
		return do_bad_chunk(c, rq);
	if (strcmp(path, "/huge-chunk-line") == 0)
		return do_huge_chunk_line(c, rq);
	if (strcmp(path, "/cl-mismatch") == 0)
		return do_cl_mismatch(c, rq);
	if (strcmp(path, "/no-length-close") == 0)
		return do_no_length_close(c, rq);
	if (strcmp(path, "/obs-fold") == 0)
		return do_obs_fold(c, rq);
	return send_simple(c, rq, 404, "not found\n", NULL);
}

/* ------------------------------------------------------------------ */
/* request head */

static int header_has_token(const char *v, const char *tok)
{
	size_t tl = strlen(tok);
	while (*v) {
		const char *e;
		size_t l;
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		e = v;
		while (*e && *e != ',')
			e++;
		l = (size_t)(e - v);
		while (l > 0 && (v[l - 1] == ' ' || v[l - 1] == '\t'))
			l--;
		if (l == tl && strncasecmp(v, tok, tl) == 0)
			return 1;
		v = e;
	}
	return 0;
}

/*
 * Read and parse a request head. Returns 1 ok, 0 clean close/idle timeout,
 * -1 malformed (400 should be sent), -2 I/O error mid-head.
 */
static int read_head(struct conn *c, struct request *rq, char *pathbuf)
{
	size_t scan = 0, hlen = 0;
	char *h, *line, *end, *sp1, *sp2, *q;
	int first = 1, cl_seen = 0, te_seen = 0;
	unsigned long long cl = 0;
	size_t i;

	/* skip leading empty lines; find the end of the head */
	for (;;) {
		char *buf, *nl;
		int found = 0;
		while (c->rpos < c->rlen && (c->rbuf[c->rpos] == '\r' || c->rbuf[c->rpos] == '\n') && scan == 0)
			c->rpos++;
		buf = c->rbuf + c->rpos;
		while ((nl = memchr(buf + scan, '\n', c->rlen - c->rpos - scan)) != NULL) {
			size_t ls = (size_t)(nl - buf) + 1;
			/* empty line: previous char sequence ends with \n or \n\r */
			size_t prevend = scan;
			size_t linelen = ls - prevend;
			if (linelen == 1 || (linelen == 2 && buf[prevend] == '\r')) {
				hlen = ls;
				found = 1;
				break;
			}
			scan = ls;
		}
		if (found)
			break;
		if (c->rlen - c->rpos > HEAD_MAX)
			return -1;
		conn_compact(c, HEAD_MAX + 1);
		{
			int idle = (c->rlen == c->rpos);
			ssize_t r = conn_fill(c, idle ? g_keepalive_secs * 1000 : BODY_TIMEOUT_MS);
			if (r <= 0)
				return idle ? 0 : -2;
		}
	}
	if (hlen > HEAD_MAX)
		return -1;
	h = c->head;
	memcpy(h, c->rbuf + c->rpos, hlen);
	h[hlen] = 0;
	c->rpos += hlen;
	c->nhdrs = 0;

	line = h;
	while (*line) {
		char *nl = strchr(line, '\n');
		end = nl;
		if (end > line && end[-1] == '\r')
			end--;
		*end = 0;
		if (first) {
			first = 0;
			sp1 = strchr(line, ' ');
			if (!sp1)
				return -1;
			*sp1 = 0;
			sp2 = strchr(sp1 + 1, ' ');
			if (!sp2)
				return -1;
			*sp2 = 0;
			rq->method = line;
			rq->target = sp1 + 1;
			if (!*rq->method || !*rq->target)
				return -1;
			for (q = line; *q; q++)
				if (!is_tchar((unsigned char)*q))
					return -1;
			for (q = sp1 + 1; *q; q++)
				if ((unsigned char)*q < 0x21 || *q == 0x7f)
					return -1;
			if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || sp2[8] < '0' || sp2[8] > '9' || sp2[9])
				return -1;
			rq->keep_alive = sp2[8] != '0';
		} else if (end > line) {
			char *colon = strchr(line, ':');
			char *v, *ve;
			if (!colon || colon == line)
				return -1;
			for (q = line; q < colon; q++)
				if (!is_tchar((unsigned char)*q))
					return -1;
			*colon = 0;
			v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			ve = v + strlen(v);
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				*--ve = 0;
			for (q = v; *q; q++)
				if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f)
					return -1;
			if (c->nhdrs >= MAX_HEADERS)
				return -1;
			c->hdrs[c->nhdrs].name = line;
			c->hdrs[c->nhdrs].value = v;
			c->nhdrs++;
		}
		line = nl + 1;
	}
	if (first)
		return -1;
	c->target = rq->target;

	/* path / query */
	{
		const char *qm = strchr(rq->target, '?');
		size_t pl = qm ? (size_t)(qm - rq->target) : strlen(rq->target);
		memcpy(pathbuf, rq->target, pl);
		pathbuf[pl] = 0;
		rq->path = pathbuf;
		rq->query = qm ? qm + 1 : NULL;
	}
	rq->is_head = strcmp(rq->method, "HEAD") == 0;

	for (i = 0; i < c->nhdrs; i++) {
		const char *n = c->hdrs[i].name, *v = c->hdrs[i].value;
		if (strcasecmp(n, "Content-Length") == 0) {
			unsigned long long x;
			if (parse_u64(v, strlen(v), &x) < 0 || (cl_seen && x != cl))
				return -1;
			cl = x;
			cl_seen = 1;
		} else if (strcasecmp(n, "Transfer-Encoding") == 0) {
			if (strcasecmp(v, "chunked") != 0 || te_seen)
				return -1;
			te_seen = 1;
		} else if (strcasecmp(n, "Connection") == 0) {
			if (header_has_token(v, "close"))
				rq->keep_alive = 0;
			else if (header_has_token(v, "keep-alive"))
				rq->keep_alive = 1;
		} else if (strcasecmp(n, "Expect") == 0) {
			if (strcasecmp(v, "100-continue") == 0)
				rq->expect_continue = 1;
		}
	}
	if (cl_seen && te_seen)
		return -1;
	if (te_seen) {
		rq->bmode = BODY_CHUNKED;
		rq->cstate = CH_SIZE;
	} else if (cl_seen && cl > 0) {
		rq->bmode = BODY_LENGTH;
		rq->remaining = cl;
	} else {
		rq->bmode = BODY_NONE;
	}
	return 1;
}

/* ------------------------------------------------------------------ */
/* connection thread */

static void *conn_thread(void *arg)
{
	struct conn *c = arg;
	char *pathbuf = NULL;

	c->rbuf = malloc(RBUF_SIZE);
	c->head = malloc(HEAD_MAX + 1);
	c->hdrs = calloc(MAX_HEADERS, sizeof *c->hdrs);
	pathbuf = malloc(HEAD_MAX + 1);
	if (!c->rbuf || !c->head || !c->hdrs || !pathbuf)
		goto out;

	if (g_tls) {
		int r;
		if (gnutls_init(&c->s, GNUTLS_SERVER) < 0) {
			c->s = NULL;
			goto out;
		}
		gnutls_priority_set(c->s, g_prio);
		gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, g_cred);
		gnutls_certificate_server_set_request(c->s, GNUTLS_CERT_IGNORE);
		gnutls_transport_set_int(c->s, c->fd);
		gnutls_handshake_set_timeout(c->s, 10000);
		do {
			r = gnutls_handshake(c->s);
		} while (r < 0 && gnutls_error_is_fatal(r) == 0);
		if (r < 0) {
			c->broken = 1;
			goto out;
		}
	}

	for (;;) {
		struct request rq;
		int r;
		memset(&rq, 0, sizeof rq);
		c->target = NULL;
		c->aborted = 0;
		r = read_head(c, &rq, pathbuf);
		if (r == 0 || r == -2)
			break;
		if (r < 0) {
			static const char bad[] =
				"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
				"Content-Length: 12\r\nConnection: close\r\n\r\nbad request\n";
			conn_write(c, bad, sizeof bad - 1);
			break;
		}
		log_line("REQ %s %s", rq.method, rq.target);
		if (dispatch(c, &rq) < 0 || c->broken)
			break;
		if (!rq.keep_alive)
			break;
		if (!rq.body_done && body_discard(c, &rq) < 0)
			break;
	}
out:
	if (c->s) {
		if (!c->broken) {
			gnutls_bye(c->s, GNUTLS_SHUT_WR);
		}
		gnutls_deinit(c->s);
	}
	if (!c->broken)
		shutdown(c->fd, SHUT_WR);
	close(c->fd);
	log_line("CLOSED t=%lld", now_ms());
	free(pathbuf);
	free(c->rbuf);
	free(c->head);
	free(c->hdrs);
	free(c);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* main */

static int g_listen_fd = -1;

static void *accept_thread(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(g_listen_fd, NULL, NULL);
		struct conn *c;
		pthread_t t;
		pthread_attr_t at;
		int one = 1;
		struct timeval tv;
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				usleep(10000);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		tv.tv_sec = SEND_TIMEOUT_SECS;
		tv.tv_usec = 0;
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		c = calloc(1, sizeof *c);
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &at, conn_thread, c) != 0) {
			close(fd);
			free(c);
		}
		pthread_attr_destroy(&at);
	}
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: upstream_server [--listen ADDR] [--port N] [--tls CERT.pem KEY.pem]\n"
			"                       [--log FILE] [--keepalive-secs N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *port = "0", *cert = NULL, *key = NULL, *logf = NULL;
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	sigset_t set;
	pthread_t t;
	int i, one = 1, sig, r;
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			addr = argv[++i];
		else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = argv[++i];
		else if (strcmp(argv[i], "--tls") == 0 && i + 2 < argc) {
			cert = argv[++i];
			key = argv[++i];
		} else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc)
			logf = argv[++i];
		else if (strcmp(argv[i], "--keepalive-secs") == 0 && i + 1 < argc) {
			g_keepalive_secs = atoi(argv[++i]);
			if (g_keepalive_secs <= 0 || g_keepalive_secs > 86400)
				usage();
		} else
			usage();
	}

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (logf) {
		g_log_fd = open(logf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (g_log_fd < 0) {
			perror(logf);
			return 1;
		}
	}
	if (cert) {
		g_tls = 1;
		if (gnutls_global_init() < 0 ||
		    gnutls_certificate_allocate_credentials(&g_cred) < 0 ||
		    gnutls_priority_init(&g_prio, "NORMAL", NULL) < 0) {
			fprintf(stderr, "gnutls init failed\n");
			return 1;
		}
		r = gnutls_certificate_set_x509_key_file(g_cred, cert, key, GNUTLS_X509_FMT_PEM);
		if (r < 0) {
			fprintf(stderr, "loading %s/%s: %s\n", cert, key, gnutls_strerror(r));
			return 1;
		}
	}

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	r = getaddrinfo(addr, port, &hints, &ai);
	if (r != 0) {
		fprintf(stderr, "%s: %s\n", addr, gai_strerror(r));
		return 1;
	}
	g_listen_fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (g_listen_fd < 0) {
		perror("socket");
		return 1;
	}
	setsockopt(g_listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(g_listen_fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(g_listen_fd, 1024) < 0) {
		perror("bind/listen");
		return 1;
	}
	freeaddrinfo(ai);
	if (getsockname(g_listen_fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, serv, sizeof serv,
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		perror("getsockname");
		return 1;
	}
	printf("PORT %s\n", serv);
	fflush(stdout);

	if (pthread_create(&t, NULL, accept_thread, NULL) != 0) {
		fprintf(stderr, "pthread_create failed\n");
		return 1;
	}
	pthread_detach(t);
	do {
		r = sigwait(&set, &sig);
	} while (r != 0);
	exit(0);
}
