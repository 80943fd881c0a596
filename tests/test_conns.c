/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Unit tests for conns.c (SPEC F15): the per-address cap keyed like the
 * rate limiter (IPv4 /32, IPv6 /64, v4-mapped = IPv4), the listener's
 * total, release, a reload changing the cap, the ceiling, closing, and
 * the CONN_LIMIT lines: their fields, client_net for IPv6, and at most
 * one per address (and one `total` per listener) per 10 s.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addrkey.h"
#include "cidr.h"
#include "conns.h"
#include "log.h"
#include "unit.h"

static struct sockaddr_storage addr(const char *s)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
	} else {
		fprintf(stderr, "bad test address %s\n", s);
		exit(99);
	}
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static char lines[64][LOG_LINE_MAX + 1];
static unsigned n_lines;

static void sink(void *ud, enum log_level level, const char *event,
		 const char *line, size_t len)
{
	(void)ud;
	(void)level;
	if (strcmp(event, "CONN_LIMIT") != 0 || n_lines >= 64)
		return;
	memcpy(lines[n_lines], line, len + 1);
	n_lines++;
}

/* The part of log line i after the timestamp. */
static const char *line_body(unsigned i)
{
	const char *p = i < n_lines ? strchr(lines[i], ' ') : NULL;

	return p != NULL ? p + 1 : "";
}

/* Admit n connections from a; returns how many were admitted. */
static unsigned admit_n(struct conns *c, const char *a, unsigned n)
{
	struct sockaddr_storage ss = addr(a);
	unsigned i, ok = 0;

	for (i = 0; i < n; i++)
		ok += (unsigned)conns_admit(c, SA(ss));
	return ok;
}

static void release_n(struct conns *c, const char *a, unsigned n)
{
	struct sockaddr_storage ss = addr(a);

	while (n-- > 0)
		conns_release(c, SA(ss));
}

static void test_per_ip(void)
{
	struct conns *c = conns_new("https", 1000, 0);
	struct sockaddr_storage v4 = addr("192.0.2.7");
	struct sockaddr_storage mapped = addr("::ffff:192.0.2.7");

	conns_set_per_ip(c, 3);
	n_lines = 0;
	CHECK(admit_n(c, "192.0.2.7", 5) == 3);
	CHECK(conns_count_of(c, SA(v4)) == 3);
	/* the v4-mapped spelling is the same client */
	CHECK(conns_count_of(c, SA(mapped)) == 3);
	CHECK(admit_n(c, "::ffff:192.0.2.7", 1) == 0);
	/* other addresses are not affected */
	CHECK(admit_n(c, "192.0.2.8", 3) == 3);
	CHECK(conns_open(c) == 6);
	/* 3 refusals of 192.0.2.7, one line */
	CHECK(n_lines == 1);
	CHECK_STR(line_body(0), "WARN CONN_LIMIT client_ip=192.0.2.7 "
				"limit=per_ip proto=https max=3 suppressed=0");
	/* a slot freed is a slot to take again, exactly one */
	release_n(c, "192.0.2.7", 1);
	CHECK(admit_n(c, "192.0.2.7", 2) == 1);
	/* the last release removes the entry */
	release_n(c, "192.0.2.7", 3);
	CHECK(conns_count_of(c, SA(v4)) == 0);
	release_n(c, "192.0.2.8", 3);
	CHECK(conns_open(c) == 0);

	/* a reload raising the cap lets the address open more; 0 = off */
	conns_set_per_ip(c, 0);
	CHECK(admit_n(c, "192.0.2.9", 500) == 500);
	conns_set_per_ip(c, 10);
	CHECK(admit_n(c, "192.0.2.9", 1) == 0); /* lowered: none more */
	release_n(c, "192.0.2.9", 500);
	CHECK(conns_open(c) == 0);
	conns_free(c);
}

static void test_ipv6_net(void)
{
	struct conns *c = conns_new("https", 1000, 0);
	char net[ADDRKEY_NET_MAX];
	struct sockaddr_storage a = addr("2001:db8:1:2::1");

	conns_set_per_ip(c, 2);
	n_lines = 0;
	/* every address of one /64 shares the budget */
	CHECK(admit_n(c, "2001:db8:1:2::1", 1) == 1);
	CHECK(admit_n(c, "2001:db8:1:2:ffff::9", 1) == 1);
	CHECK(admit_n(c, "2001:db8:1:2:abcd::1", 1) == 0);
	/* the next /64 has its own */
	CHECK(admit_n(c, "2001:db8:1:3::1", 2) == 2);
	CHECK(n_lines == 1);
	CHECK_STR(line_body(0), "WARN CONN_LIMIT client_ip=2001:db8:1:2:abcd::1 "
				"client_net=2001:db8:1:2::/64 limit=per_ip "
				"proto=https max=2 suppressed=0");
	CHECK(addrkey_format_net(SA(a), net, sizeof(net)) == 1);
	CHECK_STR(net, "2001:db8:1:2::/64");
	a = addr("::ffff:192.0.2.7");
	CHECK(addrkey_format_net(SA(a), net, sizeof(net)) == 0);
	CHECK_STR(net, "");
	conns_free(c);
}

static void test_total_and_close(void)
{
	struct conns *c = conns_new("http", 4, 2);
	struct sockaddr_storage a = addr("198.51.100.1");

	/* the ceiling caps what the config asks for */
	conns_set_per_ip(c, 128);
	CHECK(conns_per_ip(c) == 2);
	n_lines = 0;
	CHECK(admit_n(c, "198.51.100.1", 2) == 2);
	CHECK(admit_n(c, "198.51.100.2", 2) == 2);
	CHECK(admit_n(c, "198.51.100.3", 3) == 0); /* the total is full */
	/* a total refusal gives the address slot back */
	a = addr("198.51.100.3");
	CHECK(conns_count_of(c, SA(a)) == 0);
	a = addr("198.51.100.1");
	CHECK(n_lines == 1);
	CHECK_STR(line_body(0), "WARN CONN_LIMIT client_ip=198.51.100.3 "
				"limit=total proto=http max=4 suppressed=0");
	CHECK(admit_n(c, "198.51.100.1", 1) == 0); /* per_ip: own line */
	CHECK(n_lines == 2);
	CHECK(strstr(line_body(1), "limit=per_ip") != NULL);
	release_n(c, "198.51.100.1", 1);
	conns_close(c);
	CHECK(conns_admit(c, SA(a)) == 0); /* closed: refused, silently */
	CHECK(n_lines == 2);
	release_n(c, "198.51.100.1", 1);
	release_n(c, "198.51.100.2", 2);
	CHECK(conns_open(c) == 0);
	conns_free(c);
}

/* conns_claim and exempt addresses (issue 20): a balancer's connection
 * is admitted without an address, then counted for the client its PROXY
 * header carried; the balancers' own addresses never count. */
static void test_claim_exempt(void)
{
	struct conns *c = conns_new("https", 10, 0);
	struct sockaddr_storage lb = addr("10.0.0.5"), cl = addr("192.0.2.9");
	struct cidr r;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK(cidr_parse("10.0.0.0/24", 11, &r) == 0);
	CHECK(conns_set_exempt(c, &r, 1) == 0);
	conns_set_per_ip(c, 2);
	/* the balancer's own (LOCAL) connections: never capped */
	CHECK(conns_admit(c, NULL) && conns_claim(c, SA(lb)));
	CHECK(conns_admit(c, NULL) && conns_claim(c, SA(lb)));
	CHECK(conns_admit(c, NULL) && conns_claim(c, SA(lb)));
	CHECK(conns_count_of(c, SA(lb)) == 0);
	/* a direct connection from it too */
	CHECK(conns_admit(c, SA(lb)));
	/* carried clients: capped per client */
	CHECK(conns_admit(c, NULL) && conns_claim(c, SA(cl)));
	CHECK(conns_admit(c, NULL) && conns_claim(c, SA(cl)));
	CHECK(conns_admit(c, NULL));
	CHECK(!conns_claim(c, SA(cl)));
	conns_release(c, NULL); /* what the gate does on that refusal */
	CHECK(conns_count_of(c, SA(cl)) == 2);
	CHECK(conns_open(c) == 6);
	/* every release balances what was counted */
	conns_release(c, SA(cl));
	conns_release(c, SA(cl));
	conns_release(c, SA(lb));
	conns_release(c, SA(lb));
	conns_release(c, SA(lb));
	conns_release(c, SA(lb));
	CHECK(conns_open(c) == 0 && conns_count_of(c, SA(cl)) == 0);
	conns_free(c);
}

int main(void)
{
	log_set_sink(sink, NULL);
	log_set_level(LOG_LEVEL_INFO);
	test_per_ip();
	test_ipv6_net();
	test_total_and_close();
	test_claim_exempt();
	log_set_sink(NULL, NULL);
	conns_free(NULL);
	UNIT_DONE();
}
