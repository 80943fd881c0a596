/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * config_parse: the helpers every stage of a config load shares
 * (config_parse.h): diagnostics, allocation that records out-of-memory,
 * inih's character rules, the capped file reader, the section names. Knows
 * nothing of keys or of the checks; calls no other lib/ module.
 * Threads: whichever thread runs the load; no global mutable state.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_parse.h"

const char *const config_parse_sect_names[SECT_COUNT] = {
	[SECT_SERVER] = "server",	  [SECT_TLS] = "tls",
	[SECT_LOGGING] = "logging",	  [SECT_RATE_LIMIT] = "rate_limit",
	[SECT_LIMITS] = "limits",	  [SECT_SITE] = "site",
	[SECT_CERT] = "certificate",	  [SECT_METRICS] = "metrics",
};

void config_parse_diag(struct config_parse *p, int is_error, unsigned line,
		       const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	size_t i;

	if (is_error)
		p->errors++;
	if (p->diag == NULL)
		return;
	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0'; /* the buffer is unspecified after an error */
	va_end(ap);
	/* Values from the file are echoed: keep control bytes off terminals. */
	for (i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	p->diag(p->ud, is_error, p->file, line, msg);
}

char *config_parse_strdup(struct config_parse *p, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		p->oom = 1;
	return d;
}

char *config_parse_strndup(struct config_parse *p, const char *s, size_t n)
{
	char *d = strndup(s, n);

	if (d == NULL)
		p->oom = 1;
	return d;
}

void *config_parse_grow(struct config_parse *p, void *arr, size_t n, size_t sz)
{
	char *na = reallocarray(arr, n + 1, sz);

	if (na == NULL) {
		p->oom = 1;
		return NULL;
	}
	memset(na + n * sz, 0, sz);
	return na;
}

int config_parse_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

char *config_parse_find_chars_or_comment(char *s, const char *chars)
{
	int was_space = 0;

	while (*s != '\0' && (chars == NULL || strchr(chars, *s) == NULL) &&
	       !(was_space && *s == ';')) {
		was_space = config_parse_is_space(*s);
		s++;
	}
	return s;
}

int config_parse_read_file(const char *path, size_t cap, char **out,
			   size_t *outlen, const char **why)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t r;
	int fd, rc = -1;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		*why = strerror(errno);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		*why = strerror(errno);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		goto out;
	}
	if ((uint64_t)st.st_size > cap) {
		*why = "file too large";
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		*why = "out of memory";
		goto out;
	}
	while (len < (size_t)st.st_size) {
		r = read(fd, buf + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*why = strerror(errno);
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}
