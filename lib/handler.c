/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * handler: handler sites (see handler.h).
 * Threads: see handler.h.
 */
#include <curl/curl.h>

#include <stdio.h>
#include <string.h>

#include "handler.h"
#include "xfer.h"

int handler_set(struct handler_table *t, const char *label,
		MHD_AccessHandlerCallback fn, void *cls,
		MHD_RequestCompletedCallback done, void *done_cls)
{
	size_t len, i;

	if (label == NULL || !config_handler_label_valid(label))
		return -1;
	len = strlen(label);
	for (i = 0; i < t->n; i++)
		if (strcmp(t->h[i].label, label) == 0)
			break;
	if (fn == NULL) { /* remove */
		if (i < t->n) {
			t->h[i] = t->h[t->n - 1];
			t->n--;
		}
		return 0;
	}
	if (i == t->n) {
		if (t->n == HANDLER_MAX)
			return -1;
		t->n++;
	}
	memcpy(t->h[i].label, label, len + 1);
	t->h[i].fn = fn;
	t->h[i].cls = cls;
	t->h[i].done = done;
	t->h[i].done_cls = done_cls;
	return 0;
}

const struct handler *handler_find(const struct handler_table *t,
				   const char *label)
{
	size_t i;

	for (i = 0; t != NULL && i < t->n; i++)
		if (strcmp(t->h[i].label, label) == 0)
			return &t->h[i];
	return NULL;
}

int handler_check(const struct handler_table *t, const struct config *cfg,
		  char *err, size_t errsz)
{
	size_t i;

	for (i = 0; i < cfg->n_sites; i++) {
		const struct config_site *s = &cfg->sites[i];

		if (s->handler == NULL || handler_find(t, s->handler) != NULL)
			continue;
		snprintf(err, errsz,
			 "%s:%u: [site %s]: no handler '%s' is registered "
			 "(alkproxy_set_handler; the reverse-proxy daemon "
			 "has none)",
			 cfg->path, s->line, s->host, s->handler);
		return -1;
	}
	return 0;
}

int handler_add_headers(struct xfer *x, struct curl_slist *added,
			const char **clash)
{
	struct curl_slist *l;

	/* Kept until the request ends (freed with x): libmicrohttpd keeps
	 * the pointers. */
	x->req_headers = added;
	for (l = added; l != NULL; l = l->next) {
		char *name = l->data, *colon = strchr(name, ':');

		if (colon == NULL) /* proxy_access_add_header writes "N: v" */
			return -2;
		*colon = '\0';
		if (MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND,
						name) != NULL) {
			*clash = name;
			return -1;
		}
	}
	for (l = added; l != NULL; l = l->next) {
		const char *name = l->data, *value = name + strlen(name) + 1;

		while (*value == ' ')
			value++;
		if (MHD_set_connection_value(x->conn, MHD_HEADER_KIND, name,
					     value) != MHD_YES)
			return -2;
	}
	return 0;
}

enum MHD_Result handler_call(struct xfer *x, const char *url,
			     const char *method, const char *version,
			     const char *upload_data, size_t *upload_data_size)
{
	size_t before = *upload_data_size;
	enum MHD_Result r;

	x->handler_called = 1;
	r = x->handler->fn(x->handler->cls, x->conn, url, method, version,
			   upload_data, upload_data_size, &x->handler_cls);
	if (*upload_data_size <= before)
		x->body_seen += before - *upload_data_size;
	return r;
}

void handler_completed(struct xfer *x, struct MHD_Connection *conn,
		       enum MHD_RequestTerminationCode toe)
{
	if (x->handler == NULL || !x->handler_called ||
	    x->handler->done == NULL)
		return;
	/* answered 413 by the library after the handler saw part of the
	 * body: not the handler's completed request */
	if (x->too_large && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		toe = MHD_REQUEST_TERMINATED_WITH_ERROR;
	x->handler->done(x->handler->done_cls, conn, &x->handler_cls, toe);
}
