/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * sockact: systemd socket activation (issue 20, SPEC F20) without
 * libsystemd — the listening sockets a service manager passes in
 * LISTEN_FDS (from descriptor 3 on) when LISTEN_PID is this process,
 * matched to our listeners by LISTEN_FDNAMES ("https", "http", "metrics")
 * or else by address. The environment is read once, then unset, so a
 * child process never takes the sockets for its own.
 *
 * Threads: the main (embedding) thread, while listeners start; the table
 * of inherited sockets is under a mutex.
 */
#ifndef AP_SOCKACT_H
#define AP_SOCKACT_H

#include <sys/socket.h>

/* Take sockets from LISTEN_FDS at all (on = 1; off by default: a program
 * that embeds the library may use socket activation for its own
 * listeners, and the variables are unset once read). Any thread, before
 * the first listener starts. */
void sockact_enable(int on);

/* The listening socket for listener name at sa: an inherited one (named
 * name, or bound to sa's address and port — any port when sa's is 0),
 * made non-blocking and close-on-exec, or else a new one
 * (acceptor_listen). -1 with errno set on failure; *inherited = 1 when
 * it came from the service manager. */
int sockact_listen(const char *name, const struct sockaddr *sa,
		   socklen_t len, int backlog, int *inherited);

/* Log (SOCKET_ACTIVATION status=unused) every inherited socket no
 * listener took. */
void sockact_report_unused(void);

#endif
