/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Fuzz target: an upstream response head, which the proxy does not
 * trust. The input is cut into lines as libcurl hands them to the header
 * callback (each with its "\n"); every line goes through
 * headers_parse_response_line, fields are collected into the
 * "Name\0Value\0" list exactly as upstream.c's append_header does, and the
 * list goes through headers_filter_response, the filter applied before
 * the response is handed to the client. Properties of every forwarded
 * header: a token name, a value without control characters, and never a
 * hop-by-hop header, one nominated by any Connection header, Server or
 * Content-Length. The raw input is also given to the filter as a list, to
 * check that a malformed list is refused rather than overrun.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct list {
	char *buf;
	size_t len;
	unsigned n_emitted;
};

static int append(struct list *l, const char *name, size_t nlen,
		  const char *val, size_t vlen)
{
	char *p = realloc(l->buf, l->len + nlen + vlen + 2);

	if (p == NULL)
		return -1;
	l->buf = p;
	memcpy(p + l->len, name, nlen);
	p[l->len + nlen] = '\0';
	memcpy(p + l->len + nlen + 1, val, vlen);
	p[l->len + nlen + 1 + vlen] = '\0';
	l->len += nlen + vlen + 2;
	return 0;
}

static void check_emit(void *ud, const char *name, const char *value)
{
	struct list *l = ud;
	const char *p, *end = l->buf + l->len;

	if (name < l->buf || value < l->buf || name >= end || value >= end)
		abort();
	if (!headers_is_token(name, strlen(name)) ||
	    !headers_value_ok(value, strlen(value)))
		abort();
	if (headers_is_hop_by_hop(name) || strcasecmp(name, "server") == 0 ||
	    strcasecmp(name, "content-length") == 0)
		abort();
	/* independent walk over the list: no Connection header names it */
	for (p = l->buf; p < end;) {
		const char *v = p + strlen(p) + 1;

		if (strcasecmp(p, "connection") == 0 &&
		    headers_connection_names(v, name))
			abort();
		p = v + strlen(v) + 1;
	}
	l->n_emitted++;
}

static void count_emit(void *ud, const char *name, const char *value)
{
	(void)name;
	(void)value;
	++*(unsigned *)ud;
}

/* The names a Connection value lists (comma-separated, empty elements
 * and surrounding SP/HTAB not counted), counted independently of
 * headers.c's tokenizer. */
static unsigned count_tokens(const char *v, size_t len)
{
	unsigned n = 0;
	int in = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (v[i] == ',')
			in = 0;
		else if (v[i] != ' ' && v[i] != '\t' && !in) {
			in = 1;
			n++;
		}
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *end = in + size, *line, *nl;
	struct list l = {NULL, 0, 0};
	unsigned pairs = 0, raw = 0, conns = 0;
	int bad = 0, n;

	for (line = in; line < end; line = nl) {
		const char *name = NULL, *v = NULL;
		size_t nlen = 0, vlen = 0;
		enum headers_line_kind k;

		nl = memchr(line, '\n', (size_t)(end - line));
		nl = nl != NULL ? nl + 1 : end;
		k = headers_parse_response_line(line, (size_t)(nl - line),
						&name, &nlen, &v, &vlen);
		if (k == HEADERS_LINE_STATUS) {
			l.len = 0;
			pairs = 0;
			conns = 0;
			bad = 0;
		} else if (k == HEADERS_LINE_END) {
			break;
		} else if (k == HEADERS_LINE_BAD) {
			bad = 1;
		} else {
			if (name != line || nlen == 0 || v < name + nlen ||
			    v + vlen > nl ||
			    memchr(name, '\0', nlen) != NULL ||
			    memchr(v, '\0', vlen) != NULL)
				abort();
			if (append(&l, name, nlen, v, vlen) != 0)
				goto out;
			pairs++;
			if (nlen == 10 && strncasecmp(name, "connection", 10) == 0)
				conns += count_tokens(v, vlen);
		}
	}
	(void)bad; /* upstream.c answers 502; the filter must cope anyway */
	n = headers_filter_response(l.buf, l.len, check_emit, &l);
	/* a well-formed list is refused only for too many Connection names */
	if (n < 0 ? conns <= HEADERS_MAX_CONNECTION_TOKENS
		  : ((unsigned)n != l.n_emitted || l.n_emitted > pairs))
		abort();
	n = headers_filter_response(in, size, count_emit, &raw);
	if ((n < 0 && raw != 0) || (n >= 0 && (unsigned)n != raw))
		abort();
out:
	free(l.buf);
	return 0;
}
