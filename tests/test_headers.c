/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Unit tests for headers.c: framing checks (SPEC F3 smuggling vectors) and
 * hop-by-hop filtering. */
#include <stdlib.h>

#include "headers.h"
#include "unit.h"

/* headers_parse_response_line on a C string literal of known length. */
#define LINE(lit)                                                              \
	headers_parse_response_line(lit, sizeof(lit) - 1, &n, &nl, &v, &vl)

struct collect {
	char out[256];
	size_t len;
};

/* Joins "name=value;" of every header the response filter keeps. */
static void collect(void *ud, const char *name, const char *value)
{
	struct collect *c = ud;
	int k = snprintf(c->out + c->len, sizeof(c->out) - c->len, "%s=%s;",
			 name, value);

	if (k > 0 && (size_t)k < sizeof(c->out) - c->len)
		c->len += (size_t)k;
}

/* Feed "Name: value" pairs (NULL-terminated list) and return the verdict. */
static int run(const char *const *h, struct headers_framing *f)
{
	memset(f, 0, sizeof(*f));
	for (; h[0] != NULL; h += 2)
		headers_check_request(f, h[0], strlen(h[0]), h[1], strlen(h[1]));
	return headers_check_done(f);
}

int main(void)
{
	struct headers_framing f;

	{
		const char *h[] = {"Host", "a.test", "Content-Length", "12",
				   NULL};
		CHECK(run(h, &f) == 0);
		CHECK(f.content_length == 12 && f.n_host == 1);
	}
	{
		const char *h[] = {"Host", "a", "Transfer-Encoding", "Chunked",
				   NULL};
		CHECK(run(h, &f) == 0 && f.chunked);
	}
	{
		const char *h[] = {"Host", "a", "Content-Length", "5",
				   "Transfer-Encoding", "chunked", NULL};
		CHECK(run(h, &f) == -1);
		CHECK_STR(f.error, "Content-Length with Transfer-Encoding");
	}
	{
		const char *h[] = {"Transfer-Encoding", "gzip, chunked", NULL};
		CHECK(run(h, &f) == -1);
	}
	{
		const char *h[] = {"Transfer-Encoding", "identity", NULL};
		CHECK(run(h, &f) == -1);
	}
	{
		const char *h[] = {"Transfer-Encoding", "chunked",
				   "Transfer-Encoding", "chunked", NULL};
		CHECK(run(h, &f) == -1);
	}
	{
		const char *h[] = {"Content-Length", "5", "Content-Length", "5",
				   NULL};
		CHECK(run(h, &f) == -1);
		CHECK_STR(f.error, "repeated Content-Length");
	}
	{
		const char *h[] = {"Content-Length", "+5", NULL};
		CHECK(run(h, &f) == -1);
	}
	{
		const char *h[] = {"Content-Length", "99999999999999999999",
				   NULL};
		CHECK(run(h, &f) == -1);
	}
	{
		const char *h[] = {"Host", "a", "host", "b", NULL};
		CHECK(run(h, &f) == -1);
		CHECK_STR(f.error, "repeated Host");
	}
	{
		const char *h[] = {"Transfer-Encoding ", "chunked", NULL};
		CHECK(run(h, &f) == -1);
		CHECK_STR(f.error, "header name is not a token");
	}
	{
		const char *h[] = {"X[y]", "1", NULL};
		CHECK(run(h, &f) == -1);
	}
	{
		const char *h[] = {"X-A", "a\rb", NULL};
		CHECK(run(h, &f) == -1);
		CHECK_STR(f.error, "control character in header value");
	}
	{
		const char *h[] = {"X-A", "a\tb \x80\xff", NULL};
		CHECK(run(h, &f) == 0); /* HTAB and obs-text are allowed */
	}
	memset(&f, 0, sizeof(f));
	CHECK(headers_check_request(&f, "X", 1, "a\0b", 3) == -1);
	CHECK(headers_check_request(&f, "", 0, "a", 1) == -1);

	CHECK(headers_is_hop_by_hop("Connection"));
	CHECK(headers_is_hop_by_hop("keep-alive"));
	CHECK(headers_is_hop_by_hop("TE"));
	CHECK(headers_is_hop_by_hop("Proxy-Authorization"));
	CHECK(!headers_is_hop_by_hop("X-Forwarded-For"));
	CHECK(headers_connection_names("close, X-Foo ,bar", "x-foo"));
	CHECK(headers_connection_names("close,bar", "BAR"));
	CHECK(!headers_connection_names("close, X-Foo", "X-Fo"));
	CHECK(!headers_connection_names(NULL, "x"));
	CHECK(headers_drop_request("X-Forwarded-For", NULL));
	CHECK(headers_drop_request("x-real-ip", NULL));
	CHECK(headers_drop_request("Content-Length", NULL));
	CHECK(headers_drop_request("Expect", NULL));
	CHECK(headers_drop_request("X-Foo", "close, x-foo"));
	CHECK(!headers_drop_request("Authorization", "close"));
	CHECK(headers_drop_request("Host", NULL)); /* proxy.c writes it */
	CHECK(headers_drop_request("Forwarded", NULL));
	CHECK(headers_drop_request("x-forwarded-port", NULL));
	CHECK(headers_drop_request("X-Forwarded-Prefix", NULL));
	CHECK(headers_drop_request("True-Client-IP", NULL));
	CHECK(headers_drop_request("CF-Connecting-IP", NULL));
	CHECK(headers_drop_request("X-Original-URL", NULL));
	CHECK(headers_drop_request("X-Rewrite-URL", NULL));
	CHECK(!headers_drop_request("X-Forwarded", NULL));
	CHECK(headers_drop_request("X-Forwarded-Anything-New", NULL));
	CHECK(headers_drop_request("x-forwarded-", NULL));
	CHECK(headers_drop_response("Server", NULL));
	CHECK(headers_drop_response("content-length", NULL));
	CHECK(headers_drop_response("X-Hop", "X-Hop"));
	CHECK(!headers_drop_response("Date", NULL));
	CHECK(!headers_drop_response("Set-Cookie", "close"));

	/* upstream response lines as libcurl hands them over */
	{
		const char *n = NULL, *v = NULL;
		size_t nl = 0, vl = 0;

		CHECK(LINE("HTTP/1.1 200 OK\r\n") == HEADERS_LINE_STATUS);
		CHECK(LINE("HTTP/1.0 404 Not Found\n") == HEADERS_LINE_STATUS);
		CHECK(LINE("HTTP/1.1 204\r\n") == HEADERS_LINE_STATUS);
		CHECK(LINE("HTTP/1.1 100 Continue\r\n") == HEADERS_LINE_STATUS);
		CHECK(LINE("HTTP/1.1 599 \r\n") == HEADERS_LINE_STATUS);
		CHECK(LINE("HTTP/1.1 200 \xc3\xa9t\xc3\xa9\tok\r\n") ==
		      HEADERS_LINE_STATUS);
		/* issue 15: libcurl 8.14 takes these as 200 */
		CHECK(LINE("HTTP/1.1 2000 OK\r\n") == HEADERS_LINE_BAD);
		CHECK(LINE("HTTP/1.1 20 OK\r\n") == HEADERS_LINE_BAD);
		CHECK(LINE("HTTP/1.1 099 OK\r\n") == HEADERS_LINE_BAD);
		CHECK(LINE("HTTP/1.1 600 OK\r\n") == HEADERS_LINE_BAD);
		CHECK(LINE("HTTP/1.1 -20 OK\r\n") == HEADERS_LINE_BAD);
		CHECK(LINE("HTTP/1.1 abc OK\r\n") == HEADERS_LINE_BAD);
		CHECK(LINE("HTTP/9.9 200 OK\r\n") == HEADERS_LINE_BAD);
		CHECK(LINE("HTTP/1.1  200 OK\r\n") == HEADERS_LINE_BAD);
		CHECK(LINE("HTTP/1.1 200OK\r\n") == HEADERS_LINE_BAD);
		CHECK(LINE("HTTP/1.1 200 O\x01K\r\n") == HEADERS_LINE_BAD);
		CHECK(LINE("HTTP/1.1 200 O\rK\r\n") == HEADERS_LINE_BAD);
		CHECK(LINE("\r\n") == HEADERS_LINE_END);
		CHECK(LINE("\n") == HEADERS_LINE_END);
		CHECK(LINE("X-A:  a b \t\r\n") == HEADERS_LINE_FIELD);
		CHECK(nl == 3 && strncmp(n, "X-A", 3) == 0);
		CHECK(vl == 3 && strncmp(v, "a b", 3) == 0);
		CHECK(LINE("X-Empty:\r\n") == HEADERS_LINE_FIELD && vl == 0);
		CHECK(LINE("X-Obs: a\x80\tb\n") == HEADERS_LINE_FIELD);
		CHECK(LINE(" folded\r\n") == HEADERS_LINE_BAD);
		CHECK(LINE("no colon\r\n") == HEADERS_LINE_BAD);
		CHECK(LINE(": x\r\n") == HEADERS_LINE_BAD);
		CHECK(LINE("Bad Name: x\r\n") == HEADERS_LINE_BAD);
		/* fuzz/corpus/resp_headers/nul: a NUL in the name split the
		 * "Name\0Value\0" list into the wrong pairs */
		CHECK(LINE("X-A\0Evil: 1\r\n") == HEADERS_LINE_BAD);
		CHECK(LINE("X-B: a\0b\r\n") == HEADERS_LINE_BAD);
		CHECK(LINE("X-C: a\rb\r\n") == HEADERS_LINE_BAD);
		CHECK(LINE("X-D: a\x7f\r\n") == HEADERS_LINE_BAD);
	}
	/* the response filter */
	{
		static const char list[] = "Server\0x\0Connection\0close, "
					   "X-Hop\0X-Hop\0"
					   "1\0Date\0d\0Content-Length\0"
					   "5\0Keep-Alive\0k\0X-Keep\0k\0";
		struct collect c = {"", 0};
		char big[1300];
		size_t bl;

		CHECK(headers_filter_response(list, sizeof(list) - 1, collect,
					      &c) == 2);
		CHECK_STR(c.out, "Date=d;X-Keep=k;");
		/* Connection values too long for proxy.c's 1024-byte join
		 * buffer still nominate (fuzz/corpus/resp_headers/
		 * connection-long; X-Secret reached the client) */
		bl = (size_t)snprintf(big, sizeof(big), "Connection%c", 0);
		memset(big + bl, 'x', 1100);
		bl += 1100;
		bl += (size_t)snprintf(big + bl, sizeof(big) - bl,
				       ", x-secret%cX-Secret%c1%cA%cb", 0, 0,
				       0, 0);
		big[bl++] = '\0';
		c.len = 0;
		c.out[0] = '\0';
		CHECK(headers_filter_response(big, bl, collect, &c) == 1);
		CHECK_STR(c.out, "A=b;");
		/* malformed lists are refused whole */
		c.len = 0;
		c.out[0] = '\0';
		CHECK(headers_filter_response("A\0B\0C", 5, collect, &c) == -1);
		CHECK(headers_filter_response("A", 1, collect, &c) == -1);
		CHECK(c.len == 0);
		CHECK(headers_filter_response(NULL, 0, collect, &c) == 0);
	}
	/* 64 Connection names are fine, 65 are refused (in lines of one
	 * or in one line); 20,000 tiny headers are filtered in linear time
	 * (once quadratic) */
	{
		size_t cap = 20000 * 4 + 100 * 16, bl = 0;
		char *big = malloc(cap);
		struct collect c = {"", 0};
		int i;

		CHECK(big != NULL);
		if (big != NULL) {
			for (i = 0; i < HEADERS_MAX_CONNECTION_TOKENS; i++)
				bl += (size_t)snprintf(big + bl, cap - bl,
						       "Connection%cx%c", 0, 0);
			CHECK(headers_filter_response(big, bl, collect, &c) ==
			      0);
			bl += (size_t)snprintf(big + bl, cap - bl,
					       "Connection%cx%c", 0, 0);
			CHECK(headers_filter_response(big, bl, collect, &c) ==
			      -1);
			bl = (size_t)snprintf(big, cap, "Connection%c", 0);
			for (i = 0; i < HEADERS_MAX_CONNECTION_TOKENS; i++)
				bl += (size_t)snprintf(big + bl, cap - bl,
						       ", ,t%d", i);
			big[bl++] = '\0';
			CHECK(headers_filter_response(big, bl, collect, &c) ==
			      0);
			bl = (size_t)snprintf(big, cap, "Connection%c", 0);
			for (i = 0; i <= HEADERS_MAX_CONNECTION_TOKENS; i++)
				bl += (size_t)snprintf(big + bl, cap - bl,
						       "t%d,", i);
			big[bl++] = '\0';
			CHECK(headers_filter_response(big, bl, collect, &c) ==
			      -1);
			bl = 0;
			for (i = 0; i < 20000; i++) {
				memcpy(big + bl, "A\0b\0", 4);
				bl += 4;
			}
			c.len = 0;
			c.out[0] = '\0';
			CHECK(headers_filter_response(big, bl, collect, &c) ==
			      20000);
			free(big);
		}
	}
	/* absolute-form request-targets */
	{
		const char *h = NULL;
		size_t hl = 0;

		CHECK(headers_absolute_host("http://a.test:8/x?y", &h, &hl));
		CHECK(hl == 8 && strncmp(h, "a.test:8", 8) == 0);
		CHECK(headers_absolute_host("HTTPS://b.test?q", &h, &hl));
		CHECK(hl == 6 && strncmp(h, "b.test", 6) == 0);
		CHECK(headers_absolute_host("http://", &h, &hl) && hl == 0);
		CHECK(!headers_absolute_host("/x", &h, &hl));
		CHECK(!headers_absolute_host("ftp://a/", &h, &hl));
	}
	UNIT_DONE();
}
