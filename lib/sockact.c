/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * sockact: systemd socket activation (see sockact.h). The protocol is
 * sd_listen_fds(3)'s: LISTEN_PID must be our PID, LISTEN_FDS the count of
 * descriptors from SD_LISTEN_FDS_START (3), LISTEN_FDNAMES their names
 * separated by ':'. Each descriptor is checked to be a listening stream
 * socket before it is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acceptor.h"
#include "log.h"
#include "sockact.h"

#define FDS_START 3
#define FDS_MAX 16

struct inherited {
	int fd;
	char name[64];
	int used;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int enabled; /* sockact_enable: the daemon; a program may */
static int loaded;
static struct inherited fds[FDS_MAX];
static int n_fds;

static int parse_uint(const char *s, unsigned long *out)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

/* Read the environment once (under mu). */
static void load(void)
{
	const char *names = getenv("LISTEN_FDNAMES");
	unsigned long pid, n, i;
	char num[24];

	loaded = 1;
	if (parse_uint(getenv("LISTEN_PID"), &pid) != 0 ||
	    pid != (unsigned long)getpid() ||
	    parse_uint(getenv("LISTEN_FDS"), &n) != 0 || n == 0)
		goto out;
	if (n > FDS_MAX) {
		snprintf(num, sizeof(num), "%lu", n);
		log_event(LOG_LEVEL_WARN, "SOCKET_ACTIVATION", "status",
			  "too many", "fds", num, "used", "16", LOG_END);
		n = FDS_MAX;
	}
	for (i = 0; i < n; i++) {
		int fd = FDS_START + (int)i, type = 0, acc = 0;
		socklen_t tl = sizeof(type), al = sizeof(acc);
		size_t k = 0;

		fds[n_fds].fd = fd;
		fds[n_fds].name[0] = '\0';
		/* the i-th name of "a:b:c" */
		for (const char *p = names; p != NULL && *p != '\0'; p++) {
			if (*p == ':') {
				if (k++ == i)
					break;
				continue;
			}
			if (k == i) {
				size_t l = strlen(fds[n_fds].name);

				if (l + 1 < sizeof(fds[n_fds].name)) {
					fds[n_fds].name[l] = *p;
					fds[n_fds].name[l + 1] = '\0';
				}
			}
		}
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 ||
		    type != SOCK_STREAM ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) != 0 ||
		    !acc) {
			snprintf(num, sizeof(num), "%d", fd);
			log_event(LOG_LEVEL_WARN, "SOCKET_ACTIVATION", "status",
				  "ignored", "fd", num, "name",
				  fds[n_fds].name[0] ? fds[n_fds].name : "-",
				  "error", "not a listening stream socket",
				  LOG_END);
			continue;
		}
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		n_fds++;
	}
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

/* Same family, address and port (any port when want's is 0)? */
static int same_addr(int fd, const struct sockaddr *want)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
	    ss.ss_family != want->sa_family)
		return 0;
	if (want->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&ss, *b = (const void *)want;

		return a->sin_addr.s_addr == b->sin_addr.s_addr &&
		       (b->sin_port == 0 || a->sin_port == b->sin_port);
	}
	if (want->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&ss, *b = (const void *)want;

		return memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0 &&
		       (b->sin6_port == 0 || a->sin6_port == b->sin6_port);
	}
	return 0;
}

int sockact_listen(const char *name, const struct sockaddr *sa,
		   socklen_t len, int backlog, int *inherited)
{
	int i, found = -1;

	*inherited = 0;
	pthread_mutex_lock(&mu);
	if (!loaded && enabled)
		load();
	for (i = 0; i < n_fds && found < 0; i++)
		if (!fds[i].used && strcmp(fds[i].name, name) == 0)
			found = i;
	for (i = 0; i < n_fds && found < 0; i++)
		if (!fds[i].used && same_addr(fds[i].fd, sa))
			found = i;
	if (found >= 0)
		fds[found].used = 1;
	pthread_mutex_unlock(&mu);
	if (found < 0)
		return acceptor_listen(sa, len, backlog);
	{
		char num[16], port[16];

		snprintf(num, sizeof(num), "%d", fds[found].fd);
		snprintf(port, sizeof(port), "%u", acceptor_port(fds[found].fd));
		log_event(LOG_LEVEL_INFO, "SOCKET_ACTIVATION", "status",
			  "inherited", "listener", name, "fd", num, "port",
			  port, LOG_END);
	}
	*inherited = 1;
	return fds[found].fd;
}

void sockact_enable(int on)
{
	pthread_mutex_lock(&mu);
	enabled = on != 0;
	pthread_mutex_unlock(&mu);
}

void sockact_report_unused(void)
{
	int i;
	char num[24];

	pthread_mutex_lock(&mu);
	for (i = 0; i < n_fds; i++) {
		if (fds[i].used)
			continue;
		snprintf(num, sizeof(num), "%d", fds[i].fd);
		log_event(LOG_LEVEL_WARN, "SOCKET_ACTIVATION", "status",
			  "unused", "fd", num, "name",
			  fds[i].name[0] ? fds[i].name : "-", LOG_END);
		fds[i].used = 1; /* once */
	}
	pthread_mutex_unlock(&mu);
}
