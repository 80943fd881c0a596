/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * log: one event per line, `TIMESTAMP LEVEL EVENT key=value …` (SPEC F9).
 * Callable from every thread: each line is built in a local buffer and
 * written with one write(2) per sink. Values are escaped so that no byte a
 * client controls can start a new line or forge a field.
 * Writing to stdout never blocks the caller when stdout is a pipe, a
 * terminal or a socket (issue 13; a pipe or terminal only where
 * /proc/self/fd/1 can be opened): a line the reader has no room for is
 * dropped and counted, and a `WARN LOG_DROPPED n=COUNT` line reports the
 * count once stdout takes lines again. The file sink is written blocking
 * and gets every line.
 */
#ifndef AP_LOG_H
#define AP_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include "config.h"

/* Longest line, without its newline; longer values are truncated (a
 * quoted value is closed, fields that no longer fit are left out). A line
 * with its newline fits in PIPE_BUF (4096 on Linux), so one write(2) to a
 * pipe puts all of it or nothing: lines from different threads or
 * processes are never torn or glued together. */
#define LOG_LINE_MAX 4095

/* Receives every formatted line (without the trailing newline) instead of
 * the default sinks when set; used by the library API. */
typedef void (*log_sink_fn)(void *ud, enum log_level level, const char *event,
			    const char *line, size_t len);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
int log_enabled(enum log_level level);
/* Route lines to fn (NULL restores stdout + file). */
void log_set_sink(log_sink_fn fn, void *ud);
/* Open (or reopen, after rotation) the O_APPEND file sink; NULL closes it.
 * Returns 0 or -1 with errno set. */
int log_open_file(const char *path);
int log_reopen(void);
/* For tests (tests/test_log.c) and for a process that points descriptor 1
 * elsewhere after the first line: forget how stdout was classified, close
 * the private descriptor opened for it, discard a pending remainder and
 * reset the count of dropped lines. The next line classifies stdout anew. */
void log_stdout_reset(void);
/* Write events to stdout (1) or not (0, the default). Any thread. */
void log_set_stdout(int on);

/*
 * Log one event. Arguments after event are key, value pairs of strings
 * terminated by a NULL key; a NULL value is written as "-". Keys must be
 * constant identifiers; values are escaped.
 */
void log_event(enum log_level level, const char *event, ...)
	__attribute__((sentinel));
/* The terminating key of log_event(): a typed null pointer (a bare NULL
 * may be an int in a variadic call). */
#define LOG_END ((const char *)NULL)

/* libmicrohttpd's error logger (MHD_OPTION_EXTERNAL_LOGGER): each message
 * becomes a debug-level HTTPD event; cls is the listener's name. */
void log_mhd(void *cls, const char *fm, va_list ap);

/* Escape one value per F9 into out (always NUL-terminated); returns the
 * length written. Bare when printable ASCII without space, '"', '\\' or
 * '='; otherwise double-quoted with \" \\ \n \r \t \xHH escapes. An empty
 * value is written as "". Output is truncated at outsz-1 bytes, never in
 * the middle of an escape sequence, and a quoted value is always closed. */
size_t log_escape(const char *val, size_t len, char *out, size_t outsz);

struct sockaddr;
/* A client address as logged (client_ip=): IPv4 dotted, IPv6 text, an
 * IPv4-mapped IPv6 address as plain IPv4 (so one client has one spelling
 * on dual-stack listeners, for fail2ban); "-" when sa is NULL or of
 * another family. outsz >= INET6_ADDRSTRLEN. */
void log_format_ip(const struct sockaddr *sa, char *out, size_t outsz);

#endif
