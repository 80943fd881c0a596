/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * log: one event per line, `TIMESTAMP LEVEL EVENT key=value …` (SPEC F9).
 * Callable from every thread: each line is built in a local buffer and
 * written with one write(2) per sink. Values are escaped so that no byte a
 * client controls can start a new line or forge a field.
 */
#ifndef AP_LOG_H
#define AP_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include "config.h"

/* Longest line written; longer values are truncated (marked with "…"). */
#define LOG_LINE_MAX 4096

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
