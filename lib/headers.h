/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * headers: the edge-proxy header rules of SPEC F3 — request framing checks
 * (the anti-smuggling rules libmicrohttpd does not apply), hop-by-hop
 * filtering in both directions. Pure functions; no allocation, no state
 * beyond the caller's struct.
 */
#ifndef AP_HEADERS_H
#define AP_HEADERS_H

#include <stddef.h>
#include <stdint.h>

/* Accumulates what the request's header lines say about framing. */
struct headers_framing {
	unsigned n_host;
	unsigned n_content_length;
	unsigned n_transfer_encoding;
	int chunked;                 /* Transfer-Encoding: chunked */
	uint64_t content_length;     /* valid when n_content_length == 1 */
	const char *host;            /* borrowed from the header value */
	size_t host_len;
	/* every Connection value, joined with ", " (they all nominate
	 * hop-by-hop headers); too long is an error */
	char connection[512];
	size_t connection_len;
	const char *error;           /* first problem found, NULL if none */
};

/* Feed one request header line. Returns 0, or -1 after setting
 * f->error when the request must be refused with 400. */
int headers_check_request(struct headers_framing *f, const char *name,
			  size_t name_len, const char *value, size_t value_len);
/* Final checks after all lines were fed (CL with TE, repeats). */
int headers_check_done(struct headers_framing *f);

/* RFC 9110 token characters only, non-empty. */
int headers_is_token(const char *s, size_t len);
/* No control characters other than HTAB, no DEL. */
int headers_value_ok(const char *v, size_t len);
/* Hop-by-hop headers removed in both directions (SPEC F3 list). */
int headers_is_hop_by_hop(const char *name);
/* Append one Connection value to a ", "-joined list in buf (cap bytes,
 * NUL-terminated). Returns 0, or -1 when it does not fit. */
int headers_conn_append(char *buf, size_t cap, size_t *len, const char *v,
			size_t vlen);
/* Does the comma-separated Connection value nominate name? */
int headers_connection_names(const char *conn, const char *name);
/* Headers the proxy itself sets toward the upstream and therefore drops
 * from the client's request: X-Forwarded-*, X-Real-IP, framing, Expect. */
int headers_drop_request(const char *name, const char *conn);
/* Response headers dropped: hop-by-hop, those nominated by the upstream's
 * Connection header, Server, Content-Length (passed as the response
 * size), Date is kept. */
int headers_drop_response(const char *name, const char *conn);

/* The authority of an absolute-form request-target ("http://host:port/…",
 * scheme case-insensitive): 1 with *h and *hlen set (up to the first '/', '?'
 * or '#'), else 0. The caller normalizes it like a Host value. */
int headers_absolute_host(const char *target, const char **h, size_t *hlen);

/* The request target's form (RFC 9112 §3.2), from headers_request_line. */
enum headers_target_kind {
	HEADERS_TARGET_ORIGIN,   /* "/path?query" */
	HEADERS_TARGET_ABSOLUTE, /* "http[s]://authority/path?query" */
	HEADERS_TARGET_ASTERISK, /* "*", OPTIONS only */
	HEADERS_TARGET_CONNECT   /* CONNECT's authority-form: refused */
};
struct headers_target {
	enum headers_target_kind kind;
	const char *authority;   /* absolute-form: borrowed from the target */
	size_t authority_len;
	/* what the upstream gets (borrowed from the target): the whole
	 * origin-form target, or the absolute-form's path and query, to be
	 * prefixed with "/" when origin_needs_slash ("" or "?q") */
	const char *origin;
	int origin_needs_slash;
};
/* Check the request line's method and raw target (as received, before any
 * decoding): the method a token, the target visible ASCII without '#' and
 * in origin-, absolute- (http/https, a host, no user information) or
 * asterisk-form (OPTIONS). Returns NULL when valid (*out filled), else a
 * static reason for the log; CONNECT gets "CONNECT is not proxied" with
 * out->kind HEADERS_TARGET_CONNECT (answered 405, not 400). */
const char *headers_request_line(const char *method, const char *target,
				 struct headers_target *out);

/* One upstream response header line as libcurl hands it over (with its
 * line end). */
enum headers_line_kind {
	HEADERS_LINE_STATUS, /* a valid status line ("HTTP/1.x NNN reason",
				NNN in 100..599): start over; a malformed
				one is HEADERS_LINE_BAD */
	HEADERS_LINE_END,    /* the empty line ending the head */
	HEADERS_LINE_FIELD,  /* "Name: value"; *name and *value are set */
	HEADERS_LINE_BAD     /* obs-fold, no colon, a name that is not a
				token or a control character (NUL, CR…) in
				the value: the response gets 502 */
};
/* Classify line (len bytes, not NUL-terminated). For a field, the name
 * and the value without surrounding blanks and line end are returned as
 * pointers into line. */
enum headers_line_kind headers_parse_response_line(const char *line,
						   size_t len,
						   const char **name,
						   size_t *name_len,
						   const char **value,
						   size_t *value_len);
/* More names than this in the Connection lines of one upstream
 * response (all lines together): refused. */
#define HEADERS_MAX_CONNECTION_TOKENS 64
/* Pass every header of hdrs ("Name\0Value\0" pairs, len bytes) that
 * headers_drop_response would keep to emit(ud, name, value), checking
 * the names against every Connection header of hdrs (no length limit).
 * Returns the number emitted, or -1 (nothing emitted) when hdrs is not a
 * sequence of complete pairs or its Connection headers name more than
 * HEADERS_MAX_CONNECTION_TOKENS (empty list elements do not count). */
int headers_filter_response(const char *hdrs, size_t len,
			    void (*emit)(void *ud, const char *name,
					 const char *value),
			    void *ud);

#endif
