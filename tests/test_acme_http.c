/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Unit tests for acme_http.c's response-header capture (the headers come
 * from the CA, i.e. from the network): over-long values are dropped, not
 * kept from an earlier header and never read uninitialised (regression for
 * bbb614c: a Retry-After of 64+ bytes left a stack buffer uninitialised).
 * The file is included to reach its static functions.
 */
#include "../lib/acme_http.c"

#include "unit.h"

static size_t feed(struct acme_resp *r, const char *line)
{
	char buf[4096];
	size_t n = strlen(line);

	memcpy(buf, line, n + 1);
	return on_header(buf, 1, n, r);
}

static void long_line(char *out, size_t outsz, const char *name, char fill,
		      size_t n)
{
	size_t nl = strlen(name);

	CHECK(nl + n + 3 < outsz);
	memcpy(out, name, nl);
	memset(out + nl, fill, n);
	memcpy(out + nl + n, "\r\n", 3);
}

static void test_headers(void)
{
	static struct acme_resp r;
	char line[ACME_MSG_MAX_URL + 100];

	r.retry_after_ms = -1;
	CHECK(feed(&r, "Replay-Nonce: abc\r\n") == 19);
	CHECK_STR(r.nonce, "abc");
	CHECK(feed(&r, "location:  https://ca/order/1 \r\n") > 0);
	CHECK_STR(r.location, "https://ca/order/1");
	CHECK(feed(&r, "Retry-After: 7\r\n") > 0);
	CHECK(r.retry_after_ms == 7000);

	/* over-long values: dropped, the earlier value is not kept */
	long_line(line, sizeof(line), "Replay-Nonce: ", 'n', NONCE_MAX + 10);
	CHECK(feed(&r, line) == strlen(line));
	CHECK_STR(r.nonce, "");
	long_line(line, sizeof(line), "Location: https://ca/", 'l',
		  ACME_MSG_MAX_URL);
	CHECK(feed(&r, line) == strlen(line));
	CHECK_STR(r.location, "");
	r.retry_after_ms = -1;
	long_line(line, sizeof(line), "Retry-After: ", '1', 100);
	CHECK(feed(&r, line) == strlen(line));
	CHECK(r.retry_after_ms == -1); /* ignored, not parsed from garbage */

	/* garbage and out-of-range values are ignored */
	CHECK(feed(&r, "Retry-After: soon\r\n") > 0);
	CHECK(r.retry_after_ms == -1);
	CHECK(feed(&r, "Retry-After: 999999999\r\n") > 0);
	CHECK(r.retry_after_ms == -1);
	/* a new status line (after 1xx) forgets the earlier headers */
	CHECK(feed(&r, "Replay-Nonce: def\r\n") > 0);
	CHECK(feed(&r, "HTTP/1.1 200 OK\r\n") > 0);
	CHECK_STR(r.nonce, "");
	CHECK_STR(r.location, "");
}

int main(void)
{
	test_headers();
	UNIT_DONE();
}
