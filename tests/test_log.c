/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Unit tests for log.c: the F9 escaping rule, the line format, and the
 * non-blocking stdout sink of issue 13 (lines dropped whole and counted when
 * stdout is a full pipe or socket, LOG_DROPPED once it drains). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

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

/* What a stdout stream held: whole lines by kind, and anything else. */
struct seen {
	int fill;	/* FILL lines, i=0, 1, … in order and whole */
	int drop_lines; /* LOG_DROPPED lines */
	long dropped;	/* sum of n= over the LOG_DROPPED lines */
	int last;	/* LAST lines */
	int bad;	/* lines that are not one whole expected event */
	size_t tail;	/* bytes after the last newline */
};

/* The pad= value of FILL lines: pad_len bytes of 'x'. */
static char pad[LOG_LINE_MAX];
static size_t pad_len;

static void parse_stream(const char *buf, size_t len, struct seen *sn)
{
	const char *p = buf, *end = buf + len, *nl;

	memset(sn, 0, sizeof(*sn));
	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		size_t n = (size_t)(nl - p);
		char want[LOG_LINE_MAX + 1];
		const char *body = p + 24;

		/* 2026-11-29T02:42:41.225Z, then the level */
		if (n < 25 || p[4] != '-' || p[10] != 'T' || p[23] != 'Z' ||
		    p[24] != ' ') {
			sn->bad++;
		} else if (strncmp(body, " INFO FILL ", 11) == 0) {
			snprintf(want, sizeof(want), " INFO FILL i=%d pad=%.*s",
				 sn->fill, (int)pad_len, pad);
			if (n - 24 == strlen(want) &&
			    memcmp(body, want, n - 24) == 0)
				sn->fill++;
			else
				sn->bad++;
		} else if (strncmp(body, " WARN LOG_DROPPED n=", 20) == 0) {
			sn->drop_lines++;
			sn->dropped += strtol(body + 20, NULL, 10);
		} else if (n - 24 == 10 &&
			   memcmp(body, " INFO LAST", 10) == 0) {
			sn->last++;
		} else {
			sn->bad++;
		}
		p = nl + 1;
	}
	sn->tail = (size_t)(end - p);
}

/* Append what fd (non-blocking) holds now to buf[*len..size). */
static void slurp(int fd, char *buf, size_t size, size_t *len)
{
	ssize_t r;

	while (*len < size && (r = read(fd, buf + *len, size - *len)) > 0)
		*len += (size_t)r;
}

/*
 * Point stdout at wr (the write end of a pipe or socket whose other end,
 * rd, nobody reads), log `lines` FILL lines with a pad of plen bytes,
 * read back what got through, then log LAST: the stream must hold whole
 * lines only, a prefix FILL 0..R-1, then LOG_DROPPED n=lines-R, then LAST.
 */
static void check_stall(const char *what, int rd, int wr, int lines,
			size_t plen, int partial)
{
	static char buf[1 << 20];
	size_t len = 0;
	struct seen sn;
	int i, fl;

	pad_len = plen;
	memset(pad, 'x', plen);
	pad[plen] = '\0';
	fflush(stdout);
	CHECK(dup2(wr, STDOUT_FILENO) == STDOUT_FILENO);
	close(wr);
	log_stdout_reset(); /* classify the new stdout at the next line */
	fl = fcntl(rd, F_GETFL);
	CHECK(fl >= 0 && fcntl(rd, F_SETFL, fl | O_NONBLOCK) == 0);

	for (i = 0; i < lines; i++) {
		char num[16];

		snprintf(num, sizeof(num), "%d", i);
		log_event(LOG_LEVEL_INFO, "FILL", "i", num, "pad", pad,
			  LOG_END);
	}
	/* descriptor 1's own file description was left blocking */
	fl = fcntl(STDOUT_FILENO, F_GETFL);
	CHECK(fl >= 0 && !(fl & O_NONBLOCK));
	slurp(rd, buf, sizeof(buf), &len);
	parse_stream(buf, len, &sn);
	fprintf(stderr, "%s: %d of %d lines written, %zu bytes of one more\n",
		what, sn.fill, lines, sn.tail);
	CHECK(sn.bad == 0);
	CHECK(sn.fill > 0 && sn.fill < lines - 1); /* some got through */
	CHECK(sn.drop_lines == 0 && sn.last == 0);
	CHECK(partial ? sn.tail > 0 : sn.tail == 0);

	/* drained: the next line is preceded by the count of those lost */
	log_event(LOG_LEVEL_INFO, "LAST", LOG_END);
	slurp(rd, buf, sizeof(buf), &len);
	parse_stream(buf, len, &sn);
	fprintf(stderr, "%s: after draining, LOG_DROPPED n=%ld\n", what,
		sn.dropped);
	CHECK(sn.bad == 0 && sn.tail == 0);
	CHECK(sn.drop_lines == 1 && sn.last == 1);
	CHECK(sn.dropped == (long)(lines - sn.fill));
	CHECK(len >= 11 && memcmp(buf + len - 11, " INFO LAST\n", 11) == 0);

	/* reported once: the count starts again from zero */
	log_event(LOG_LEVEL_INFO, "LAST", LOG_END);
	slurp(rd, buf, sizeof(buf), &len);
	parse_stream(buf, len, &sn);
	CHECK(sn.bad == 0 && sn.tail == 0);
	CHECK(sn.drop_lines == 1 && sn.last == 2);
	close(rd);
}

/* A terminal is reopened as a private non-blocking description too: the
 * lines arrive whole and descriptor 1 stays blocking. (Filling a terminal
 * is not checked: the pty moves bytes to the reader in a kernel worker,
 * so what a read finds is a matter of timing.) */
static void check_tty(void)
{
	static char buf[8192];
	struct termios tio;
	struct seen sn;
	size_t len = 0;
	int m, s = -1, i, fl;

	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m >= 0 && grantpt(m) == 0 && unlockpt(m) == 0)
		s = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		fprintf(stderr, "tty: no pseudo-terminal (%s), not checked\n",
			strerror(errno));
		if (m >= 0)
			close(m);
		return;
	}
	/* raw: no LF -> CR LF, no echo */
	CHECK(tcgetattr(s, &tio) == 0);
	cfmakeraw(&tio);
	CHECK(tcsetattr(s, TCSANOW, &tio) == 0);
	fflush(stdout);
	CHECK(dup2(s, STDOUT_FILENO) == STDOUT_FILENO);
	close(s);
	log_stdout_reset();
	pad_len = 100;
	memset(pad, 'x', pad_len);
	pad[pad_len] = '\0';
	for (i = 0; i < 3; i++) {
		char num[16];

		snprintf(num, sizeof(num), "%d", i);
		log_event(LOG_LEVEL_INFO, "FILL", "i", num, "pad", pad,
			  LOG_END);
	}
	fl = fcntl(STDOUT_FILENO, F_GETFL);
	CHECK(fl >= 0 && !(fl & O_NONBLOCK));
	for (i = 0; i < 40; i++) { /* at most 2 s */
		struct pollfd pfd = {.fd = m, .events = POLLIN};
		ssize_t r;

		if (poll(&pfd, 1, 50) == 1) {
			r = read(m, buf + len, sizeof(buf) - len);
			if (r > 0)
				len += (size_t)r;
		}
		parse_stream(buf, len, &sn);
		if (sn.fill + sn.bad >= 3 && sn.tail == 0)
			break;
	}
	fprintf(stderr, "tty: %d of 3 lines read\n", sn.fill);
	CHECK(sn.fill == 3 && sn.bad == 0 && sn.tail == 0);
	close(m);
}

static void check_stdout_sinks(void)
{
	int saved, p[2], sp[2], sz = 4096;

	saved = dup(STDOUT_FILENO);
	CHECK(saved >= 0);

	/* A pipe of one page (the smallest) and lines of ~950 bytes: four
	 * fit, the fifth (alone or behind LOG_DROPPED) goes in whole or not
	 * at all. */
	CHECK(pipe2(p, O_CLOEXEC) == 0);
	CHECK(fcntl(p[0], F_SETPIPE_SZ, 4096) == 4096);
	check_stall("pipe", p[0], p[1], 64, 900, 0);

	/* A stream socket (journald) with a small buffer (8 KiB once the
	 * kernel doubles it) and lines close to the longest: AF_UNIX sends
	 * in pieces of at most half the buffer, so the second line is taken
	 * in part, and its rest must come before anything else. LOG_DROPPED
	 * and such a line do not fit one PIPE_BUF write, so they are
	 * written one after the other. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	CHECK(setsockopt(sp[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) == 0);
	check_stall("socket", sp[0], sp[1], 64, 4040, 1);

	check_tty();

	fflush(stdout);
	CHECK(dup2(saved, STDOUT_FILENO) == STDOUT_FILENO);
	close(saved);
	log_stdout_reset();
}

int main(void)
{
	char small[8];
	const char *p;

	log_set_stdout(1); /* as the daemon: the stdout sink is tested here */
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
	/* the longest line: LOG_LINE_MAX bytes, plus the newline on stdout */
	memset(pad, 'y', sizeof(pad) - 1);
	log_event(LOG_LEVEL_INFO, "LONG", "v", pad, "next", "z", LOG_END);
	CHECK(strlen(last_line) == LOG_LINE_MAX);
	CHECK(strstr(last_line, " INFO LONG v=yyyy") != NULL);
	CHECK(strstr(last_line, "next") == NULL);
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

	log_set_level(LOG_LEVEL_INFO);
	check_stdout_sinks();
	UNIT_DONE();
}
