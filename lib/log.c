/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * log: formatting, escaping and sinks for the event log (SPEC F9).
 * Threads: any thread may call log_event(). The level is an atomic; the
 * file descriptor and sink callback are read under a mutex that is held
 * only around the write, so SIGUSR1 reopen never tears a line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

static atomic_int log_level_cur = LOG_LEVEL_INFO;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;
static char *log_path;
static log_sink_fn log_sink;
static void *log_sink_ud;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG",
					  "TRACE"};

void log_set_level(enum log_level level)
{
	atomic_store(&log_level_cur, (int)level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&log_level_cur);
}

int log_enabled(enum log_level level)
{
	return (int)level <= atomic_load_explicit(&log_level_cur,
						  memory_order_relaxed);
}

void log_set_sink(log_sink_fn fn, void *ud)
{
	pthread_mutex_lock(&log_mu);
	log_sink = fn;
	log_sink_ud = ud;
	pthread_mutex_unlock(&log_mu);
}

static int open_append(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
		    0640);
}

int log_open_file(const char *path)
{
	int fd = -1;
	char *copy = NULL;

	if (path != NULL) {
		copy = strdup(path);
		if (copy == NULL)
			return -1;
		fd = open_append(path);
		if (fd < 0) {
			free(copy);
			return -1;
		}
	}
	pthread_mutex_lock(&log_mu);
	if (log_fd >= 0)
		close(log_fd);
	free(log_path);
	log_fd = fd;
	log_path = copy;
	pthread_mutex_unlock(&log_mu);
	return 0;
}

int log_reopen(void)
{
	int fd, rc = 0, err = 0, have = 0;
	char path[1024] = "";

	pthread_mutex_lock(&log_mu);
	if (log_path != NULL) {
		have = 1;
		snprintf(path, sizeof(path), "%s", log_path);
		fd = open_append(log_path);
		if (fd < 0) {
			rc = -1;
			err = errno;
		} else {
			if (log_fd >= 0)
				close(log_fd);
			log_fd = fd;
		}
	}
	pthread_mutex_unlock(&log_mu);
	/* After the lock: log_event() takes it. The first line of the new
	 * file says where it came from; a failure keeps the old file. */
	if (have && rc == 0)
		log_event(LOG_LEVEL_INFO, "LOG_REOPEN", "status", "success",
			  "file", path, LOG_END);
	else if (have)
		log_event(LOG_LEVEL_ERROR, "LOG_REOPEN", "status", "failure",
			  "file", path, "error", strerror(err),
			  "action", "still writing the previous file", LOG_END);
	if (rc != 0)
		errno = err;
	return rc;
}

static int is_bare(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=';
}

size_t log_escape(const char *val, size_t len, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;
	int bare = len > 0;

	if (outsz < 3) {
		if (outsz > 0)
			out[0] = '\0';
		return 0;
	}
	for (i = 0; i < len && bare; i++)
		bare = is_bare((unsigned char)val[i]);
	if (bare) {
		if (len > outsz - 1)
			len = outsz - 1;
		memcpy(out, val, len);
		out[len] = '\0';
		return len;
	}
	out[o++] = '"';
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)val[i];
		char esc[4];
		size_t n;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			n = 2;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			esc[0] = '\\';
			esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			n = 2;
		} else if (c < 0x20 || c >= 0x7f) {
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[c >> 4];
			esc[3] = hex[c & 15];
			n = 4;
		} else {
			esc[0] = (char)c;
			n = 1;
		}
		/* keep room for the closing quote and the NUL */
		if (o + n + 2 > outsz)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o++] = '"';
	out[o] = '\0';
	return o;
}

static size_t format_time(char *buf, size_t sz)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, sz, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(buf + n, sz - n, ".%03ldZ",
			      ts.tv_nsec / 1000000L);
	return n;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += w;
		len -= (size_t)w;
	}
}

void log_mhd(void *cls, const char *fm, va_list ap)
{
	char msg[512];
	size_t n;

	if (!log_enabled(LOG_LEVEL_DEBUG))
		return;
	if (vsnprintf(msg, sizeof(msg), fm, ap) < 0)
		msg[0] = '\0'; /* the buffer is unspecified after an error */
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_event(LOG_LEVEL_DEBUG, "HTTPD", "listener", (const char *)cls,
		  "message", msg, LOG_END);
}

void log_event(enum log_level level, const char *event, ...)
{
	char line[LOG_LINE_MAX + 1];
	size_t n, cap = LOG_LINE_MAX; /* leave room for '\n' */
	va_list ap;
	const char *key;

	if (!log_enabled(level))
		return;
	n = format_time(line, cap);
	n += (size_t)snprintf(line + n, cap - n, " %s %s",
			      level_names[level], event);
	va_start(ap, event);
	while ((key = va_arg(ap, const char *)) != NULL) {
		const char *val = va_arg(ap, const char *);
		size_t klen = strlen(key);

		if (val == NULL)
			val = "-";
		if (n + klen + 4 >= cap)
			break;
		line[n++] = ' ';
		memcpy(line + n, key, klen);
		n += klen;
		line[n++] = '=';
		n += log_escape(val, strlen(val), line + n, cap - n);
	}
	va_end(ap);

	pthread_mutex_lock(&log_mu);
	if (log_sink != NULL) {
		line[n] = '\0';
		log_sink(log_sink_ud, level, event, line, n);
	} else {
		line[n++] = '\n';
		write_all(STDOUT_FILENO, line, n);
		if (log_fd >= 0)
			write_all(log_fd, line, n);
	}
	pthread_mutex_unlock(&log_mu);
}

void log_format_ip(const struct sockaddr *sa, char *out, size_t outsz)
{
	snprintf(out, outsz, "-");
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
			  out, (socklen_t)outsz);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
			&((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], out,
				  (socklen_t)outsz);
		else
			inet_ntop(AF_INET6, a, out, (socklen_t)outsz);
	}
}
