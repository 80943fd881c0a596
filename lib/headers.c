/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * headers: request framing checks and header filtering (SPEC F3).
 * Called from the MHD worker threads (request side) and the upstream
 * threads (response side); everything here is a pure function.
 */
#include <string.h>
#include <strings.h>

#include "headers.h"

static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int headers_is_token(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if (!is_tchar((unsigned char)s[i]))
			return 0;
	return 1;
}

int headers_value_ok(const char *v, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

static int name_is(const char *name, size_t len, const char *lit)
{
	return strlen(lit) == len && strncasecmp(name, lit, len) == 0;
}

static int parse_content_length(const char *v, size_t len, uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	if (len == 0 || len > 19)
		return -1;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	if (n > (uint64_t)INT64_MAX)
		return -1;
	*out = n;
	return 0;
}

static int fail(struct headers_framing *f, const char *why)
{
	if (f->error == NULL)
		f->error = why;
	return -1;
}

int headers_check_request(struct headers_framing *f, const char *name,
			  size_t name_len, const char *value, size_t value_len)
{
	if (!headers_is_token(name, name_len))
		return fail(f, "header name is not a token");
	if (!headers_value_ok(value, value_len))
		return fail(f, "control character in header value");
	if (name_is(name, name_len, "host")) {
		f->n_host++;
		f->host = value;
		f->host_len = value_len;
	} else if (name_is(name, name_len, "content-length")) {
		uint64_t n;

		f->n_content_length++;
		if (parse_content_length(value, value_len, &n) != 0)
			return fail(f, "invalid Content-Length");
		f->content_length = n;
	} else if (name_is(name, name_len, "transfer-encoding")) {
		f->n_transfer_encoding++;
		if (value_len != 7 || strncasecmp(value, "chunked", 7) != 0)
			return fail(f, "unsupported Transfer-Encoding");
		f->chunked = 1;
	} else if (name_is(name, name_len, "connection")) {
		if (headers_conn_append(f->connection, sizeof(f->connection),
					&f->connection_len, value,
					value_len) != 0)
			return fail(f, "Connection header too long");
	}
	return 0;
}

int headers_check_done(struct headers_framing *f)
{
	if (f->error != NULL)
		return -1;
	if (f->n_host > 1)
		return fail(f, "repeated Host");
	if (f->n_content_length > 1)
		return fail(f, "repeated Content-Length");
	if (f->n_transfer_encoding > 1)
		return fail(f, "repeated Transfer-Encoding");
	if (f->n_content_length > 0 && f->n_transfer_encoding > 0)
		return fail(f, "Content-Length with Transfer-Encoding");
	return 0;
}

int headers_is_hop_by_hop(const char *name)
{
	static const char *const hop[] = {
		"connection", "keep-alive", "proxy-connection",
		"proxy-authorization", "proxy-authenticate", "te", "trailer",
		"transfer-encoding", "upgrade"};
	size_t i;

	for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (strcasecmp(name, hop[i]) == 0)
			return 1;
	return 0;
}

int headers_conn_append(char *buf, size_t cap, size_t *len, const char *v,
			size_t vlen)
{
	size_t sep = *len > 0 ? 2 : 0;

	if (*len + sep + vlen + 1 > cap)
		return -1;
	if (sep) {
		buf[(*len)++] = ',';
		buf[(*len)++] = ' ';
	}
	memcpy(buf + *len, v, vlen);
	*len += vlen;
	buf[*len] = '\0';
	return 0;
}

/* The next element of a comma-separated header value at p (RFC 9110
 * §5.6.1: empty elements and the whitespace around them skipped): its
 * start and length; returns where to go on, or NULL at the end. */
static const char *list_next(const char *p, const char **start, size_t *len)
{
	const char *end;

	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	if (*p == '\0')
		return NULL;
	*start = p;
	while (*p != '\0' && *p != ',')
		p++;
	end = p;
	while (end > *start && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*len = (size_t)(end - *start);
	return p;
}

int headers_connection_names(const char *conn, const char *name)
{
	size_t nlen = strlen(name), len;
	const char *p = conn, *start;

	if (conn == NULL || nlen == 0)
		return 0;
	while ((p = list_next(p, &start, &len)) != NULL)
		if (len == nlen && strncasecmp(start, name, nlen) == 0)
			return 1;
	return 0;
}

/*
 * Request headers the upstream never gets from the client (besides every
 * X-Forwarded-*, checked by prefix). Ours (framing, X-Real-IP), Host
 * (written by us from the routed authority, never dropped by a Connection nomination, never left to
 * curl), and every header that frameworks read as the client's address,
 * scheme, port, prefix or original URL: a client could otherwise claim
 * them (Spring's ForwardedHeaderFilter, gorilla/handlers.ProxyHeaders,
 * chi's RealIP, Symfony's trusted headers, IIS URL Rewrite).
 */
static const char *const request_dropped[] = {
	"content-length", "expect", "host",
	"x-real-ip", "forwarded", "x-original-forwarded-for",
	"x-original-url", "x-rewrite-url", "x-original-host",
	"true-client-ip", "x-client-ip", "x-cluster-client-ip",
	"cf-connecting-ip", "fastly-client-ip", "x-url-scheme", "front-end-https",
};

int headers_drop_request(const char *name, const char *conn)
{
	size_t i;

	if (headers_is_hop_by_hop(name) || headers_connection_names(conn, name))
		return 1;
	if (strncasecmp(name, "x-forwarded-", 12) == 0)
		return 1; /* every one: SPEC F16 */
	for (i = 0; i < sizeof(request_dropped) / sizeof(request_dropped[0]);
	     i++)
		if (strcasecmp(name, request_dropped[i]) == 0)
			return 1;
	return 0;
}

int headers_drop_response(const char *name, const char *conn)
{
	return headers_is_hop_by_hop(name) ||
	       headers_connection_names(conn, name) ||
	       strcasecmp(name, "server") == 0 ||
	       strcasecmp(name, "content-length") == 0;
}

/* RFC 9112 §4: "HTTP/1.x" SP 3DIGIT [SP reason-phrase] line end, the code
 * 100..599, the phrase of HTAB, SP, VCHAR and obs-text. We check it
 * ourselves: libcurl 8 passes "HTTP/1.1 2000 OK" on as 200 (issue 15). */
static int status_line_ok(const char *line, size_t len)
{
	size_t i;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 ||
	    (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
	    line[9] < '1' || line[9] > '5' || line[10] < '0' ||
	    line[10] > '9' || line[11] < '0' || line[11] > '9')
		return 0;
	if (len == 12)
		return 1;
	if (line[12] != ' ')
		return 0;
	for (i = 13; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c != '\t' && (c < 0x20 || c == 0x7f))
			return 0;
	}
	return 1;
}

enum headers_line_kind headers_parse_response_line(const char *line,
						   size_t len,
						   const char **name,
						   size_t *name_len,
						   const char **value,
						   size_t *value_len)
{
	const char *colon, *v, *end = line + len;

	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0)
		return status_line_ok(line, len) ? HEADERS_LINE_STATUS
						 : HEADERS_LINE_BAD;
	if ((len == 2 && line[0] == '\r' && line[1] == '\n') ||
	    (len == 1 && line[0] == '\n'))
		return HEADERS_LINE_END;
	while (end > line && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	colon = memchr(line, ':', (size_t)(end - line));
	/* obs-fold (leading blank), garbage, or a name with NUL or other
	 * non-token bytes, which would also break the "Name\0Value\0" list */
	if (colon == NULL || !headers_is_token(line, (size_t)(colon - line)))
		return HEADERS_LINE_BAD;
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (!headers_value_ok(v, (size_t)(end - v)))
		return HEADERS_LINE_BAD;
	*name = line;
	*name_len = (size_t)(colon - line);
	*value = v;
	*value_len = (size_t)(end - v);
	return HEADERS_LINE_FIELD;
}

/* The pair at p (within end): sets *v and returns the next pair, or NULL
 * when the name or the value has no terminating NUL inside the list. */
static const char *pair_next(const char *p, const char *end, const char **v)
{
	const char *z = memchr(p, '\0', (size_t)(end - p));

	if (z == NULL)
		return NULL;
	*v = z + 1;
	z = memchr(*v, '\0', (size_t)(end - *v));
	return z != NULL ? z + 1 : NULL;
}

struct conn_token {
	const char *p;
	size_t len;
};

/* Split a Connection value into its tokens; -1 when more than max. */
static int conn_tokens(const char *v, struct conn_token *t, size_t *n,
		       size_t max)
{
	const char *start;
	size_t len;

	while ((v = list_next(v, &start, &len)) != NULL) {
		if (*n == max)
			return -1;
		t[*n].p = start;
		t[(*n)++].len = len;
	}
	return 0;
}

static int nominated(const struct conn_token *t, size_t n, const char *name)
{
	size_t i, len = strlen(name);

	for (i = 0; i < n; i++)
		if (t[i].len == len && strncasecmp(t[i].p, name, len) == 0)
			return 1;
	return 0;
}

int headers_filter_response(const char *hdrs, size_t len,
			    void (*emit)(void *ud, const char *name,
					 const char *value),
			    void *ud)
{
	const char *end, *p, *v = NULL, *next;
	struct conn_token tok[HEADERS_MAX_CONNECTION_TOKENS];
	size_t n_tok = 0;
	int n = 0;

	if (len == 0)
		return 0;
	if (hdrs == NULL)
		return -1;
	end = hdrs + len;
	/* Check the list and collect the tokens of every Connection line
	 * once: a header is then compared with those only (O(headers x
	 * tokens), both bounded; a scan of the whole list, or of every
	 * Connection value, per header let an upstream burn a worker's CPU
	 * for seconds). More tokens than the bound: refused (502). */
	for (p = hdrs; p < end; p = next) {
		if ((next = pair_next(p, end, &v)) == NULL)
			return -1;
		if (strcasecmp(p, "connection") == 0 &&
		    conn_tokens(v, tok, &n_tok,
				HEADERS_MAX_CONNECTION_TOKENS) != 0)
			return -1;
	}
	for (p = hdrs; p < end; p = next) {
		next = pair_next(p, end, &v);
		if (next == NULL)
			break; /* not reached: the list was checked */
		if (headers_is_hop_by_hop(p) || nominated(tok, n_tok, p) ||
		    strcasecmp(p, "server") == 0 ||
		    strcasecmp(p, "content-length") == 0)
			continue;
		emit(ud, p, v);
		n++;
	}
	return n;
}

int headers_absolute_host(const char *target, const char **h, size_t *hlen)
{
	const char *p;

	if (strncasecmp(target, "http://", 7) == 0)
		p = target + 7;
	else if (strncasecmp(target, "https://", 8) == 0)
		p = target + 8;
	else
		return 0;
	*h = p;
	*hlen = strcspn(p, "/?#");
	return 1;
}

/* RFC 9112 §3.2: a target byte is visible ASCII; '#' never (a fragment is
 * not sent), SP, TAB, controls, DEL and bytes >= 0x80 never. */
static int target_bytes_ok(const char *t)
{
	for (; *t != '\0'; t++) {
		unsigned char c = (unsigned char)*t;

		if (c <= 0x20 || c >= 0x7f || c == '#')
			return 0;
	}
	return 1;
}

const char *headers_request_line(const char *method, const char *target,
				 struct headers_target *out)
{
	const char *auth;
	size_t alen;

	memset(out, 0, sizeof(*out));
	if (!headers_is_token(method, strlen(method)))
		return "method is not a token";
	if (strcmp(method, "CONNECT") == 0) {
		out->kind = HEADERS_TARGET_CONNECT;
		return "CONNECT is not proxied";
	}
	if (!target_bytes_ok(target))
		return "invalid byte in the request target";
	if (target[0] == '/') {
		out->kind = HEADERS_TARGET_ORIGIN;
		out->origin = target;
		return NULL;
	}
	if (strcmp(target, "*") == 0) {
		if (strcmp(method, "OPTIONS") != 0)
			return "'*' target for a method other than OPTIONS";
		out->kind = HEADERS_TARGET_ASTERISK;
		out->origin = target;
		return NULL;
	}
	if (!headers_absolute_host(target, &auth, &alen))
		return "request target is not origin- or absolute-form";
	if (alen == 0)
		return "absolute-form target without a host";
	if (memchr(auth, '@', alen) != NULL)
		return "user information in the request target";
	out->kind = HEADERS_TARGET_ABSOLUTE;
	out->authority = auth;
	out->authority_len = alen;
	/* origin-form: the rest, "/" when empty, "/?q" for "?q" */
	out->origin = auth + alen;
	out->origin_needs_slash = out->origin[0] != '/';
	return NULL;
}
