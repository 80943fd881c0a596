/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * mhd_static: libmicrohttpd alone, configured like reverse-proxy's client
 * side (POLL-mode thread pool, TLS through GnuTLS with reverse-proxy's
 * priority string, 32 KiB connection pool, TCP_NODELAY), answering every
 * request with the same 1 KiB body from memory. bench/run.sh scenario 7
 * uses it to measure what the client side of the prescribed design costs
 * by itself, without the upstream half (curl threads, hand-offs).
 *
 *   mhd_static PORT CERT.pem KEY.pem THREADS
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

/* lib/tls.c's tls_priorities, copied so the tool builds on its own. */
static const char priorities[] =
	"NONE:+VERS-TLS1.3:+VERS-TLS1.2:+ECDHE-ECDSA:+ECDHE-RSA:"
	"+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:+AEAD:"
	"+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"
	"+SIGN-ECDSA-SECP256R1-SHA256:+SIGN-ECDSA-SECP384R1-SHA384:"
	"+SIGN-ECDSA-SECP521R1-SHA512:+SIGN-ECDSA-SHA256:+SIGN-ECDSA-SHA384:"
	"+SIGN-ECDSA-SHA512:+SIGN-RSA-PSS-RSAE-SHA256:"
	"+SIGN-RSA-PSS-RSAE-SHA384:+SIGN-RSA-PSS-RSAE-SHA512:"
	"+SIGN-RSA-SHA256:+SIGN-RSA-SHA384:+SIGN-RSA-SHA512:"
	"+SIGN-EdDSA-Ed25519:+COMP-NULL:+CTYPE-SRV-X509:%SERVER_PRECEDENCE";

static struct MHD_Response *resp;

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = calloc(1, (size_t)n + 1);
		if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

static void notify(void *cls, struct MHD_Connection *c, void **sc,
		   enum MHD_ConnectionNotificationCode toe)
{
	const union MHD_ConnectionInfo *ci;
	int one = 1;

	(void)cls;
	(void)sc;
	if (toe != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci != NULL)
		(void)setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one,
				 sizeof(one));
}

/* Answer on the final call, like the proxy (a response queued on the
 * first call of a request costs keep-alive in 0.9.75). */
static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *data,
			       size_t *size, void **ctx)
{
	static int seen;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)data;
	if (*ctx == NULL) {
		*ctx = &seen;
		return MHD_YES;
	}
	if (*size != 0) {
		*size = 0;
		return MHD_YES;
	}
	return MHD_queue_response(c, 200, resp);
}

int main(int argc, char **argv)
{
	static char body[1024];
	struct MHD_Daemon *d;
	char *cert, *key;
	sigset_t set;
	int sig;

	if (argc != 5) {
		fprintf(stderr, "usage: mhd_static PORT CERT KEY THREADS\n");
		return 2;
	}
	cert = slurp(argv[2]);
	key = slurp(argv[3]);
	if (cert == NULL || key == NULL) {
		fprintf(stderr, "mhd_static: cannot read %s or %s\n", argv[2],
			argv[3]);
		return 1;
	}
	memset(body, 'x', sizeof(body));
	resp = MHD_create_response_from_buffer(sizeof(body), body,
					       MHD_RESPMEM_PERSISTENT);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d = MHD_start_daemon(MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_TLS |
				     MHD_USE_ERROR_LOG,
			     (uint16_t)atoi(argv[1]), NULL, NULL, handler, NULL,
			     MHD_OPTION_THREAD_POOL_SIZE,
			     (unsigned)atoi(argv[4]),
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
			     MHD_OPTION_CONNECTION_TIMEOUT, 300u,
			     MHD_OPTION_CONNECTION_LIMIT, 4096u,
			     MHD_OPTION_HTTPS_MEM_CERT, cert,
			     MHD_OPTION_HTTPS_MEM_KEY, key,
			     MHD_OPTION_HTTPS_PRIORITIES, priorities,
			     MHD_OPTION_NOTIFY_CONNECTION, notify, NULL,
			     MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "mhd_static: MHD_start_daemon failed\n");
		return 1;
	}
	printf("READY\n");
	fflush(stdout);
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	MHD_destroy_response(resp);
	free(cert);
	free(key);
	return 0;
}
