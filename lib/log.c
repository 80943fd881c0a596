/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * log: formatting, escaping and sinks for the event log (SPEC F9), and the
 * non-blocking stdout sink (issue 13).
 * Owns: the level, the file sink (log_fd, log_path), the callback sink,
 * whether stdout is a sink at all (out_on: the daemon turns it on, an
 * embedding program may), and the stdout state (out_*: how descriptor 1 is written, a private
 * descriptor for it, the unwritten remainder of one line, the count of
 * dropped lines). Must not touch: signal dispositions or masks, and the
 * flags of descriptor 1 (its open file description is shared with the
 * shell or service manager that started us).
 * Threads: any thread may call log_event(). The level is an atomic;
 * everything else is read and written under log_mu, which is held only
 * around the writes of one line, so SIGUSR1 reopen never tears a line.
 *
 * Why stdout is written without blocking, and how: if nobody reads our
 * stdout (journald stalled, a `| tee` stopped), blocking writes would stop
 * every thread that logs, and every request logs. Setting O_NONBLOCK on
 * descriptor 1 would change it for every process sharing it, so a pipe or
 * a terminal is reopened through /proc/self/fd/1 as a private
 * non-blocking file description, and a socket (journald's stream) is
 * written with send(MSG_DONTWAIT | MSG_NOSIGNAL). A line the sink has no
 * room for is dropped and counted; LOG_DROPPED reports the count when
 * lines get through again. A writer thread with a queue was not chosen: it
 * would add a wakeup per line on the request path, still need a bound and
 * a drop rule when the queue fills, and lose what is queued at exit; here
 * nothing is queued but the remainder of one partly written line.
 * A pipe whose reader is gone gives EPIPE, and SIGPIPE, which the daemon
 * ignores (bin/reverse-proxy.c); an embedder that keeps the default
 * disposition dies of it, as it would from its own write to that pipe.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

_Static_assert(LOG_LINE_MAX + 1 <= PIPE_BUF,
	       "a line with its newline must fit one atomic pipe write");

/* How descriptor 1 is written. */
enum out_kind {
	OUT_UNSET,    /* not classified yet: at the first line */
	OUT_BLOCKING, /* write(2) to fd 1: a regular file, /dev/null, … */
	OUT_PRIVATE,  /* write(2) to out_fd, a non-blocking reopen of fd 1 */
	OUT_SOCKET,   /* send(2) to fd 1 with MSG_DONTWAIT */
};

static atomic_int log_level_cur = LOG_LEVEL_INFO;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
/* All of the following under log_mu. */
static int log_fd = -1;
static char *log_path;
static log_sink_fn log_sink;
static void *log_sink_ud;
/* stdout is a sink only when asked (log_set_stdout: the daemon); a
 * program that embeds the library keeps its stdout to itself */
static int out_on;
static enum out_kind out_kind = OUT_UNSET;
static int out_fd = -1;
/* The unwritten end of the last line a socket or terminal took in part:
 * finished before any other line is written, so lines are never glued. */
static char out_pend[PIPE_BUF];
static size_t out_pend_off, out_pend_len;
/* Lines not written to stdout since the last LOG_DROPPED. */
static unsigned long long out_dropped;

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

void log_set_stdout(int on)
{
	pthread_mutex_lock(&log_mu);
	out_on = on != 0;
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

/* Build one line into line[0..size-1]: at most size - 1 bytes, so that
 * line[returned length] is free for the newline (or the NUL the callback
 * sink gets). size >= 32. */
static size_t format_line(char *line, size_t size, enum log_level level,
			  const char *event, va_list ap)
{
	size_t n, cap = size; /* log_escape() keeps one byte for its NUL */
	const char *key;
	int w;

	n = format_time(line, cap);
	w = snprintf(line + n, cap - n, " %s %s", level_names[level], event);
	if (w < 0)
		w = 0;
	n += (size_t)w;
	if (n > cap - 1) /* an event name too long for the line: cut */
		n = cap - 1;
	while ((key = va_arg(ap, const char *)) != NULL) {
		const char *val = va_arg(ap, const char *);
		size_t klen = strlen(key);

		if (val == NULL)
			val = "-";
		/* ' ', the key, '=', and at least "" with the NUL */
		if (n + klen + 5 > cap)
			break;
		line[n++] = ' ';
		memcpy(line + n, key, klen);
		n += klen;
		line[n++] = '=';
		n += log_escape(val, strlen(val), line + n, cap - n);
	}
	return n;
}

static size_t format_event(char *line, size_t size, enum log_level level,
			   const char *event, ...) __attribute__((sentinel));
static size_t format_event(char *line, size_t size, enum log_level level,
			   const char *event, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, event);
	n = format_line(line, size, level, event, ap);
	va_end(ap);
	return n;
}

/* Decide how to write descriptor 1 (under log_mu, at the first line). */
static void out_classify(void)
{
	struct stat st;

	out_kind = OUT_BLOCKING;
	if (fstat(STDOUT_FILENO, &st) != 0)
		return; /* closed: the writes fail as they always did */
	if (S_ISSOCK(st.st_mode)) {
		out_kind = OUT_SOCKET;
	} else if (S_ISFIFO(st.st_mode) ||
		   (S_ISCHR(st.st_mode) && isatty(STDOUT_FILENO))) {
		/* A new open file description of the same pipe or terminal:
		 * its O_NONBLOCK is ours alone. Without /proc, for a pipe or
		 * terminal of another user (EACCES) or a FIFO whose reader is
		 * gone (ENXIO), stdout stays blocking. */
		out_fd = open("/proc/self/fd/1",
			      O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (out_fd >= 0)
			out_kind = OUT_PRIVATE;
	}
}

/* One write that does not block (under log_mu): bytes taken, or -1. */
static ssize_t out_try(const char *buf, size_t len)
{
	ssize_t w;

	do {
		if (out_kind == OUT_SOCKET)
			w = send(STDOUT_FILENO, buf, len,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			w = write(out_fd, buf, len);
	} while (w < 0 && errno == EINTR);
	return w;
}

/* Try to finish the pending remainder (under log_mu); 1 if none is left. */
static int out_flush_pending(void)
{
	ssize_t w;

	if (out_pend_len == 0)
		return 1;
	w = out_try(out_pend + out_pend_off, out_pend_len);
	if (w <= 0)
		return 0;
	out_pend_off += (size_t)w;
	out_pend_len -= (size_t)w;
	return out_pend_len == 0;
}

/* Write whole lines, len <= PIPE_BUF, to the non-blocking stdout (under
 * log_mu, nothing pending): 1 if they are written or their remainder is
 * now pending, 0 if the sink took none of it. A pipe takes at most
 * PIPE_BUF bytes whole or not at all; a socket or terminal may take part. */
static int out_line(const char *line, size_t len)
{
	ssize_t w = out_try(line, len);

	if (w <= 0)
		return 0;
	if ((size_t)w < len) {
		out_pend_off = 0;
		out_pend_len = len - (size_t)w;
		memcpy(out_pend, line + w, out_pend_len);
	}
	return 1;
}

/* After drops, with nothing pending (under log_mu): write LOG_DROPPED and
 * the line. Formatted like any other event and written whatever the level:
 * it is what says lines are missing. Not through log_event(): we hold
 * log_mu. Returns 1 if the line was written (or is pending). */
static int out_dropped_then(const char *line, size_t len)
{
	static char both[PIPE_BUF]; /* under log_mu */
	char d[96], num[24];
	size_t dn;
	int took;

	snprintf(num, sizeof(num), "%llu", out_dropped);
	dn = format_event(d, sizeof(d), LOG_LEVEL_WARN, "LOG_DROPPED", "n", num,
			  LOG_END);
	d[dn++] = '\n';
	if (dn + len <= sizeof(both)) {
		/* One write: a pipe takes both or neither, so a sink that has
		 * room for the short report but not for the line does not get
		 * a LOG_DROPPED per dropped line. */
		memcpy(both, d, dn);
		memcpy(both + dn, line, len);
		took = out_line(both, dn + len);
	} else {
		took = out_line(d, dn);
		if (took)
			took = 2;
	}
	if (!took)
		return 0;
	out_dropped = 0;
	if (log_fd >= 0)
		write_all(log_fd, d, dn);
	if (took == 2 && (out_pend_len > 0 || !out_line(line, len)))
		return 0;
	return 1;
}

static void write_stdout(const char *line, size_t len)
{
	int done;

	if (out_kind == OUT_UNSET)
		out_classify();
	if (out_kind == OUT_BLOCKING) {
		write_all(STDOUT_FILENO, line, len);
		return;
	}
	/* The rest of a line taken in part comes first; while it cannot be
	 * finished, new lines are dropped. */
	if (!out_flush_pending())
		done = 0;
	else if (out_dropped > 0)
		done = out_dropped_then(line, len);
	else
		done = out_line(line, len);
	if (!done)
		out_dropped++;
}

static void write_sinks(const char *line, size_t len)
{
	if (out_on)
		write_stdout(line, len);
	if (log_fd >= 0)
		write_all(log_fd, line, len);
}

void log_event(enum log_level level, const char *event, ...)
{
	char line[LOG_LINE_MAX + 1];
	size_t n;
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, event);
	n = format_line(line, sizeof(line), level, event, ap);
	va_end(ap);

	pthread_mutex_lock(&log_mu);
	if (log_sink != NULL) {
		line[n] = '\0';
		log_sink(log_sink_ud, level, event, line, n);
	} else {
		line[n++] = '\n';
		write_sinks(line, n);
	}
	pthread_mutex_unlock(&log_mu);
}

void log_stdout_reset(void)
{
	pthread_mutex_lock(&log_mu);
	if (out_fd >= 0)
		close(out_fd);
	out_fd = -1;
	out_kind = OUT_UNSET;
	out_pend_off = 0;
	out_pend_len = 0;
	out_dropped = 0;
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
