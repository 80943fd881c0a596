/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * metrics_http: the /metrics listener (see metrics_http.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "acceptor.h"
#include "log.h"
#include "sockact.h"
#include "metrics_http.h"
#include "threads.h"

#define METRICS_CONNS 16
#define METRICS_TIMEOUT_SECS 10
#define METRICS_MEMORY (16 * 1024)
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_http {
	struct MHD_Daemon *d;
	metrics_render_fn fn;
	void *ud;
	unsigned port;
};

static enum MHD_Result plain(struct MHD_Connection *c, unsigned status,
			     const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		strlen(text), (void *)(uintptr_t)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	if (status == 405)
		MHD_add_response_header(r, "Allow", "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
			      const char *url, const char *method,
			      const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct metrics_http *h = cls;
	struct MHD_Response *r;
	struct mbuf b;
	enum MHD_Result ret;

	(void)version;
	(void)upload;
	if (*con_cls == NULL) { /* the head is here; wait for any body */
		*con_cls = h;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		*upload_size = 0; /* a body is not ours to read: dropped */
		return MHD_YES;
	}
	if (strcmp(url, "/metrics") != 0)
		return plain(c, 404, "Not Found\n");
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return plain(c, 405, "Method Not Allowed\n");
	memset(&b, 0, sizeof(b));
	h->fn(h->ud, &b);
	if (b.oom) {
		mbuf_free(&b);
		return plain(c, 500, "out of memory\n");
	}
	if (b.p == NULL)
		mbuf_printf(&b, "%s", ""); /* an empty scrape: still a buffer */
	if (b.oom) {
		mbuf_free(&b);
		return plain(c, 500, "out of memory\n");
	}
	r = MHD_create_response_from_buffer(b.len, b.p, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		mbuf_free(&b);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", CONTENT_TYPE);
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

int metrics_http_start(const char *host, unsigned port, metrics_render_fn fn,
		       void *ud, struct metrics_http **out, char *err,
		       size_t errsz)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct metrics_http *h;
	sigset_t mask;
	char addr[80];
	int v6, lfd, inherited;

	*out = NULL;
	if (acceptor_parse_addr(host, port, &ss, &sslen, &v6) != 0) {
		snprintf(err, errsz, "[metrics] listen %s is not an IP address",
			 host);
		return -1;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	h->fn = fn;
	h->ud = ud;
	lfd = sockact_listen("metrics", (struct sockaddr *)&ss, sslen, 64,
			     &inherited);
	if (lfd < 0) {
		snprintf(err, errsz, "cannot listen on %s port %u (metrics): %s",
			 host, port, strerror(errno));
		free(h);
		return -1;
	}
	h->port = acceptor_port(lfd);
	threads_block(&mask); /* the daemon's thread inherits it */
	h->d = MHD_start_daemon(
		MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
			(v6 ? MHD_USE_IPv6 : 0),
		0, NULL, NULL, handle, h, MHD_OPTION_LISTEN_SOCKET, lfd,
		MHD_OPTION_EXTERNAL_LOGGER, log_mhd, "metrics",
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONNS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_TIMEOUT_SECS,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)METRICS_MEMORY,
		MHD_OPTION_END);
	threads_unblock(&mask);
	if (h->d == NULL) {
		close(lfd);
		snprintf(err, errsz, "cannot start the metrics listener on %s port %u",
			 host, port);
		free(h);
		return -1;
	}
	snprintf(addr, sizeof(addr), v6 ? "[%s]:%u" : "%s:%u", host, h->port);
	log_event(LOG_LEVEL_INFO, "LISTENING", "proto", "metrics", "addr", addr,
		  LOG_END);
	*out = h;
	return 0;
}

unsigned metrics_http_port(const struct metrics_http *h)
{
	return h != NULL ? h->port : 0;
}

void metrics_http_stop(struct metrics_http *h)
{
	if (h == NULL)
		return;
	MHD_stop_daemon(h->d); /* closes the listening socket too */
	free(h);
}
