/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * handler: handler sites (issue 18) — a [site] with `handler = LABEL` is
 * answered by the embedding program's libmicrohttpd access handler of
 * that label (alkproxy_set_handler), after everything proxy.c does first
 * (TLS and SNI, framing checks, rate limit, body limit, the access hook).
 * Here: the table of registered handlers, the access hook's headers
 * handed to the handler, and the calls into the program's handler and
 * its completion callback with the program's own per-request pointer.
 *
 * Threads: the table is written by the main (embedding) thread while the
 * server is not running and read by the workers; the calls run on the
 * worker thread that owns the connection (the completion callback also
 * on the main thread when a daemon stops).
 */
#ifndef AP_HANDLER_H
#define AP_HANDLER_H

#include <microhttpd.h>

#include <stddef.h>

#include "config.h"

struct curl_slist;
struct xfer;

#define HANDLER_MAX 64

struct handler {
	char label[CONFIG_HANDLER_LABEL_MAX + 1];
	MHD_AccessHandlerCallback fn;
	void *cls;
	MHD_RequestCompletedCallback done; /* may be NULL */
	void *done_cls;
};

struct handler_table {
	struct handler h[HANDLER_MAX];
	size_t n;
};

/* Register (fn != NULL) or remove (fn == NULL) the handler of label.
 * 0, or -1: label invalid, table full (HANDLER_MAX). */
int handler_set(struct handler_table *t, const char *label,
		MHD_AccessHandlerCallback fn, void *cls,
		MHD_RequestCompletedCallback done, void *done_cls);
const struct handler *handler_find(const struct handler_table *t,
				   const char *label);

/* Every handler site of cfg has a registered handler: 0, else -1 and err
 * names the first site without one (file:line). */
int handler_check(const struct handler_table *t, const struct config *cfg,
		  char *err, size_t errsz);

/* The access hook's headers ("Name: value" lines, kept in x and split in
 * place) become request headers the handler sees. 0; -1 when the client
 * sent one of those names itself (*clash = the name): the caller refuses
 * the request, so the program never sees a forged value; -2 out of memory. */
int handler_add_headers(struct xfer *x, struct curl_slist *added,
			const char **clash);

/* Call x's handler with the program's per-request pointer; request body
 * bytes it consumes count as received. */
enum MHD_Result handler_call(struct xfer *x, const char *url,
			     const char *method, const char *version,
			     const char *upload_data, size_t *upload_data_size);

/* The request ended: the handler's completion callback, if it was called. */
void handler_completed(struct xfer *x, struct MHD_Connection *conn,
		       enum MHD_RequestTerminationCode toe);

#endif
