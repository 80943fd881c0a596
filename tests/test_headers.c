/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Unit tests for headers.c: framing checks (SPEC F3 smuggling vectors) and
 * hop-by-hop filtering. */
#include <stdlib.h>

#include "headers.h"
#include "unit.h"

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
	CHECK(!headers_drop_request("Host", NULL));
	CHECK(headers_drop_response("Server", NULL));
	CHECK(headers_drop_response("content-length", NULL));
	CHECK(headers_drop_response("X-Hop", "X-Hop"));
	CHECK(!headers_drop_response("Date", NULL));
	CHECK(!headers_drop_response("Set-Cookie", "close"));
	UNIT_DONE();
}
