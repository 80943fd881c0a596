/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Unit tests for httpd80.c: the redirect Location built only from a valid
 * Host and a printable request-target (injection attempts refused).
 */
#include <stdio.h>
#include <string.h>

#include "httpd80.h"
#include "listener.h"
#include "unit.h"

/* The listener's hooks (listener.c) are never called: these tests do
 * not start a daemon. */
enum MHD_Result listener_accept_policy(void *cls, const struct sockaddr *addr,
				       socklen_t addrlen)
{
	(void)cls;
	(void)addr;
	(void)addrlen;
	return MHD_YES;
}

void listener_notify_connection(void *cls, struct MHD_Connection *conn,
				void **socket_context,
				enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	(void)conn;
	(void)socket_context;
	(void)toe;
}

struct snapshot *listener_snapshot(const struct listener *l)
{
	(void)l;
	return NULL;
}

void listener_conn_peer(struct MHD_Connection *conn,
			struct sockaddr_storage *ss)
{
	(void)conn;
	memset(ss, 0, sizeof(*ss));
}

void listener_head_expect(struct listener *l, struct MHD_Connection *conn,
			  unsigned wait_secs)
{
	(void)l;
	(void)conn;
	(void)wait_secs;
}

void listener_head_complete(struct MHD_Connection *conn)
{
	(void)conn;
}

static const char *loc(const char *host, const char *target, unsigned port)
{
	static char out[512];

	if (httpd80_location(host, host ? strlen(host) : 0, target, port, out,
			     sizeof(out)) != 0)
		return "ERR";
	return out;
}

static void test_location(void)
{
	CHECK_STR(loc("a.test", "/", 443), "https://a.test/");
	CHECK_STR(loc("A.Test.:80", "/x/y?q=1&r=%20", 443),
		  "https://a.test/x/y?q=1&r=%20");
	CHECK_STR(loc("a.test", "/p", 8443), "https://a.test:8443/p");
	CHECK_STR(loc("[::1]:80", "/p", 443), "https://[::1]/p");
	CHECK_STR(loc("ignored.test", "http://b.test:80/z?q", 443),
		  "https://b.test/z?q");
	CHECK_STR(loc("ignored.test", "http://b.test?q", 443),
		  "https://b.test/?q");
	/* injection attempts and invalid hosts */
	CHECK_STR(loc("a.test\r\nSet-Cookie: x=1", "/", 443), "ERR");
	CHECK_STR(loc("a.test/evil", "/", 443), "ERR");
	CHECK_STR(loc("evil.test@a.test", "/", 443), "ERR");
	CHECK_STR(loc("a.test:80:81", "/", 443), "ERR");
	CHECK_STR(loc("a.test:x", "/", 443), "ERR");
	CHECK_STR(loc("", "/", 443), "ERR");
	CHECK_STR(loc(NULL, "/", 443), "ERR");
	CHECK_STR(loc("a test", "/", 443), "ERR");
	CHECK_STR(loc("a.test", "/a b", 443), "ERR");
	CHECK_STR(loc("a.test", "/a\r\nX: y", 443), "ERR");
	CHECK_STR(loc("a.test", "/\x7f", 443), "ERR");
	CHECK_STR(loc("a.test", "*", 443), "ERR");
	CHECK_STR(loc("a.test", "a.test:443", 443), "ERR");
	CHECK_STR(loc("a.test", "", 443), "ERR");
	CHECK_STR(loc("a.test", "http://evil@b.test/", 443), "ERR");
	CHECK_STR(loc("a.test", "http:///x", 443), "ERR");
	/* a path that looks like another host stays under our host */
	CHECK_STR(loc("a.test", "//evil.test/x", 443),
		  "https://a.test//evil.test/x");
	{
		char out[16];

		CHECK(httpd80_location("a.test", 6, "/long/path", 443, out,
				       sizeof(out)) < 0);
	}
}

int main(void)
{
	test_location();
	UNIT_DONE();
}
