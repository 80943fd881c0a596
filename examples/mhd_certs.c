/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* mhd_certs: a plain libmicrohttpd HTTPS service that gets its
 * certificates from libalkproxy's certificate manager (ACME or manual
 * pairs, renewed in the background). Usage:
 *   mhd_certs CERTS.ini HTTPS_PORT HTTP_PORT
 * CERTS.ini has [tls] (and optionally [logging]) as reverse-proxy.ini(5)
 * describes it. The lines marked "alkproxy" are all the service adds to
 * the libmicrohttpd code it had. SIGTERM/SIGINT stop it. */
#include <alkproxy.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static alkproxy_certs *certs;                                    /* alkproxy */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
			     const char *text)
{
	char buf[512];
	struct MHD_Response *r;
	enum MHD_Result ret;

	snprintf(buf, sizeof(buf), "%s", text);
	r = MHD_create_response_from_buffer(strlen(buf), buf,
					    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* The service itself, on HTTPS. */
static enum MHD_Result on_https(void *cls, struct MHD_Connection *c,
				const char *url, const char *method,
				const char *version, const char *upload,
				size_t *upload_size, void **con_cls)
{
	(void)cls; (void)url; (void)method; (void)version; (void)upload;
	(void)upload_size; (void)con_cls;
	return reply(c, MHD_HTTP_OK, "hello from mhd_certs\n");
}

/* Port 80: ACME HTTP-01 tokens, else a pointer to HTTPS. */
static enum MHD_Result on_http(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	char ka[512];                                            /* alkproxy */

	(void)cls; (void)method; (void)version; (void)upload;
	(void)upload_size; (void)con_cls;
	if (alkproxy_certs_http01(certs, url, ka, sizeof(ka)) >= 0) /* alkproxy */
		return reply(c, MHD_HTTP_OK, ka);                /* alkproxy */
	return reply(c, MHD_HTTP_NOT_FOUND, "use https\n");
}

static void on_diag(void *ud, int is_error, const char *msg)
{
	(void)ud; (void)is_error;
	fprintf(stderr, "mhd_certs: %s\n", msg);
}

int main(int argc, char **argv)
{
	struct MHD_Daemon *https, *http;
	unsigned https_port, http_port;
	sigset_t set;
	int sig = 0;

	if (argc != 4)
		return 2;
	https_port = (unsigned)atoi(argv[2]);
	http_port = (unsigned)atoi(argv[3]);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts */
	if (alkproxy_certs_create_file(&certs, argv[1], on_diag, NULL) != 0 || /* alkproxy */
	    alkproxy_certs_start(certs, https_port) != 0) {     /* alkproxy */
		alkproxy_certs_free(certs);                      /* alkproxy */
		return 1;
	}
	https = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS, (uint16_t)https_port,
		NULL, NULL, on_https, NULL,
		MHD_OPTION_HTTPS_CERT_CALLBACK, alkproxy_certs_cert_callback, /* alkproxy */
		MHD_OPTION_END);
	http = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD,
				(uint16_t)http_port, NULL, NULL, on_http, NULL,
				MHD_OPTION_END);
	if (https == NULL || http == NULL) {
		fprintf(stderr, "mhd_certs: cannot start the daemons\n");
		if (https != NULL)
			MHD_stop_daemon(https);
		if (http != NULL)
			MHD_stop_daemon(http);
		alkproxy_certs_free(certs);                      /* alkproxy */
		return 1;
	}
	printf("mhd_certs: serving on ports %u and %u\n", https_port, http_port);
	fflush(stdout);
	sigwait(&set, &sig);
	MHD_stop_daemon(http);
	MHD_stop_daemon(https);
	alkproxy_certs_free(certs);                              /* alkproxy */
	return 0;
}
