/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Unit tests for log.c: the F9 escaping rule and the line format. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "log.h"
#include "unit.h"

static const char *esc(const char *s, size_t len)
{
	static char out[256];

	log_escape(s, len, out, sizeof(out));
	return out;
}
#define ESC(lit) esc(lit, sizeof(lit) - 1)

static char last_line[LOG_LINE_MAX + 1];
static void sink(void *ud, enum log_level level, const char *event,
		 const char *line, size_t len)
{
	(void)ud;
	(void)level;
	(void)event;
	memcpy(last_line, line, len + 1);
}

int main(void)
{
	char small[8];
	const char *p;

	CHECK_STR(ESC("abc"), "abc");
	CHECK_STR(ESC("/user/repo.git"), "/user/repo.git");
	CHECK_STR(ESC(""), "\"\"");
	CHECK_STR(ESC("a b"), "\"a b\"");
	CHECK_STR(ESC("a\"b"), "\"a\\\"b\"");
	CHECK_STR(ESC("a\\b"), "\"a\\\\b\"");
	CHECK_STR(ESC("k=v"), "\"k=v\"");
	CHECK_STR(ESC("a\nb"), "\"a\\nb\"");
	CHECK_STR(ESC("a\rb"), "\"a\\rb\"");
	CHECK_STR(ESC("a\tb"), "\"a\\tb\"");
	CHECK_STR(ESC("a\0b"), "\"a\\x00b\"");
	CHECK_STR(ESC("\x1b[31m"), "\"\\x1b[31m\"");
	CHECK_STR(ESC("caf\xc3\xa9"), "\"caf\\xc3\\xa9\"");
	CHECK_STR(ESC("\x7f"), "\"\\x7f\"");
	/* a forged field stays inside one quoted value */
	CHECK_STR(ESC("/x client_ip=1.2.3.4"), "\"/x client_ip=1.2.3.4\"");
	CHECK_STR(ESC("/x\nINFO RATE_LIMIT client_ip=1.2.3.4"),
		  "\"/x\\nINFO RATE_LIMIT client_ip=1.2.3.4\"");
	/* truncation never splits an escape and always closes the quote */
	log_escape("ab\ncd", 5, small, 7);
	CHECK_STR(small, "\"ab\\n\"");
	log_escape("abcdefghij", 10, small, sizeof(small));
	CHECK_STR(small, "abcdefg");
	log_escape("\xff\xff\xff", 3, small, sizeof(small));
	CHECK_STR(small, "\"\\xff\"");

	log_set_sink(sink, NULL);
	log_set_level(LOG_LEVEL_INFO);
	log_event(LOG_LEVEL_INFO, "REQUEST", "client_ip", "203.0.113.50",
		  "path", "/a b", "status", "200", LOG_END);
	p = strchr(last_line, ' ');
	CHECK(p != NULL && strlen(last_line) > 24 && last_line[10] == 'T' &&
	      last_line[23] == 'Z');
	CHECK_STR(p, " INFO REQUEST client_ip=203.0.113.50 path=\"/a b\" "
		     "status=200");
	last_line[0] = '\0';
	log_event(LOG_LEVEL_DEBUG, "X", "k", "v", LOG_END);
	CHECK_STR(last_line, ""); /* below the level: not written */
	log_set_level(LOG_LEVEL_TRACE);
	log_event(LOG_LEVEL_DEBUG, "X", "k", NULL, LOG_END);
	CHECK(strstr(last_line, " DEBUG X k=-") != NULL);
	log_set_sink(NULL, NULL);

	/* client addresses: one spelling per client on dual-stack sockets */
	{
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
		char ip[INET6_ADDRSTRLEN];

		memset(&v4, 0, sizeof(v4));
		v4.sin_family = AF_INET;
		inet_pton(AF_INET, "192.0.2.7", &v4.sin_addr);
		log_format_ip((struct sockaddr *)&v4, ip, sizeof(ip));
		CHECK_STR(ip, "192.0.2.7");
		memset(&v6, 0, sizeof(v6));
		v6.sin6_family = AF_INET6;
		inet_pton(AF_INET6, "::ffff:192.0.2.7", &v6.sin6_addr);
		log_format_ip((struct sockaddr *)&v6, ip, sizeof(ip));
		CHECK_STR(ip, "192.0.2.7");
		inet_pton(AF_INET6, "2001:db8::1", &v6.sin6_addr);
		log_format_ip((struct sockaddr *)&v6, ip, sizeof(ip));
		CHECK_STR(ip, "2001:db8::1");
		log_format_ip(NULL, ip, sizeof(ip));
		CHECK_STR(ip, "-");
	}
	UNIT_DONE();
}
