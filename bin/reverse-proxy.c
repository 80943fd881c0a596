/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * reverse-proxy: the daemon. CLI (SPEC F12), signals on the main thread
 * through signalfd, and the libalkproxy calls. Everything else lives in
 * the library.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "alkproxy.h"

#define DEFAULT_CONFIG "/etc/reverse-proxy/config.ini"

static void usage(FILE *f)
{
	fprintf(f, "usage: reverse-proxy [--config PATH] [--validate] "
		   "[--help] [--version]\n");
}

static void help(void)
{
	usage(stdout);
	printf("\n"
	       "A hardened TLS reverse proxy.\n\n"
	       "  -c, --config PATH  configuration file (default %s)\n"
	       "  -t, --validate     check the configuration and the files it "
	       "names, then exit\n"
	       "                     (0 valid, 1 invalid)\n"
	       "  -h, --help         show this help\n"
	       "  -V, --version      show the version and source revision\n\n"
	       "Signals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads the "
	       "configuration,\nSIGUSR1 reopens the log file.\n",
	       DEFAULT_CONFIG);
}

/*
 * sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET (a path,
 * or an abstract socket when it starts with '@'). Silently nothing when
 * not run by systemd.
 */
static void notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	size_t len;
	int fd;

	if (path == NULL || path[0] == '\0')
		return;
	len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
		     (const struct sockaddr *)&sa,
		     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	close(fd);
}

static void notify_reloading(void)
{
	struct timespec ts;
	char msg[128];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg),
		 "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
		 (unsigned long long)ts.tv_sec * 1000000ULL +
			 (unsigned long long)ts.tv_nsec / 1000ULL);
	notify(msg);
}

static void diag_print(void *ud, int is_error, const char *msg)
{
	(void)ud;
	(void)is_error;
	fprintf(stderr, "%s\n", msg);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"validate", no_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}};
	const char *path = DEFAULT_CONFIG;
	int validate = 0, c, rc, sfd, status = 0;
	alkproxy *p = NULL;
	sigset_t set;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:thV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 't':
			validate = 1;
			break;
		case 'h':
			help();
			return 0;
		case 'V':
			printf("reverse-proxy %s\n", alkproxy_version());
			return 0;
		case ':':
			fprintf(stderr, "reverse-proxy: option requires a "
					"value: %s\n", argv[optind - 1]);
			usage(stderr);
			return 2;
		default:
			fprintf(stderr, "reverse-proxy: unknown option: %s\n",
				argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "reverse-proxy: unexpected argument: %s\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	/* The descriptors max_connections needs are checked against the
	 * soft limit, so raise it first, as at a real start. */
	alkproxy_raise_nofile();
	if (validate) {
		rc = alkproxy_validate_file(path, diag_print, NULL);
		if (rc == ALKPROXY_OK)
			printf("%s: configuration is valid\n", path);
		return rc == ALKPROXY_OK ? 0 : 1;
	}

	/* Block the signals before any thread starts, so every thread
	 * inherits the mask and only signalfd sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		return 1;
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		perror("signal");
		return 1;
	}
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		perror("signalfd");
		return 1;
	}

	/* events on stdout (journald or the terminal), besides any
	 * [logging] file */
	alkproxy_set_log_stdout(1);
	/* systemd socket activation (reverse-proxy.socket) */
	alkproxy_set_socket_activation(1);
	rc = alkproxy_create_file(&p, path, diag_print, NULL);
	if (rc != ALKPROXY_OK) {
		fprintf(stderr, "reverse-proxy: %s\n", alkproxy_strerror(rc));
		return 1;
	}
	rc = alkproxy_start(p);
	if (rc != ALKPROXY_OK) {
		fprintf(stderr, "reverse-proxy: %s\n", alkproxy_strerror(rc));
		alkproxy_free(p);
		return 1;
	}
	{
		char msg[96];

		snprintf(msg, sizeof(msg),
			 "READY=1\nSTATUS=serving on port %u\nMAINPID=%ld",
			 alkproxy_https_port(p), (long)getpid());
		notify(msg);
	}
	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n = read(sfd, &si, sizeof(si));

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si)) {
			status = 1;
			break;
		}
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			break;
		if (si.ssi_signo == SIGUSR1) {
			alkproxy_reopen_logs(p);
		} else if (si.ssi_signo == SIGHUP) {
			notify_reloading();
			rc = alkproxy_reload_file(p, path, diag_print, NULL);
			notify(rc == ALKPROXY_OK
				       ? "READY=1\nSTATUS=reloaded"
				       : "READY=1\nSTATUS=reload failed, "
					 "running the previous configuration");
		}
	}
	notify("STOPPING=1\nSTATUS=draining");
	alkproxy_shutdown(p, -1);
	alkproxy_free(p);
	close(sfd);
	return status;
}
