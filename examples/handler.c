/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* handler: a libmicrohttpd service behind libalkproxy's front door.
 * Usage: handler CONFIG.ini — the config's sites with `handler = app` are
 * answered by app() below, the others are proxied to their upstreams; all
 * get the proxy's TLS, SNI, limits and logs. /private/… needs
 * "Authorization: Bearer letmein" (access()), which tells app() the user.
 * SIGTERM/SIGINT drain for 5 s and exit. */
#include <alkproxy.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct req { size_t body; }; /* the handler's own per-request state */

/* An unchanged libmicrohttpd access handler. */
static enum MHD_Result app(void *cls, struct MHD_Connection *c,
			   const char *url, const char *method,
			   const char *version, const char *upload,
			   size_t *upload_size, void **con_cls)
{
	struct req *r = *con_cls;
	const char *user;
	char text[512];
	struct MHD_Response *res;
	enum MHD_Result ret;

	(void)cls; (void)version; (void)upload;
	if (r == NULL) { /* first call: the head is here */
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_size > 0) { /* body bytes */
		r->body += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	user = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-User");
	snprintf(text, sizeof(text), "app: %s %s body=%zu user=%s\n", method,
		 url, r->body, user != NULL ? user : "-");
	res = MHD_create_response_from_buffer(strlen(text), text,
					      MHD_RESPMEM_MUST_COPY);
	if (res == NULL)
		return MHD_NO;
	MHD_add_response_header(res, "Content-Type", "text/plain");
	ret = MHD_queue_response(c, MHD_HTTP_OK, res);
	MHD_destroy_response(res);
	return ret;
}

static void app_done(void *cls, struct MHD_Connection *c, void **con_cls,
		     enum MHD_RequestTerminationCode toe)
{
	(void)cls; (void)c; (void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

/* The program's policy, for every site: a bearer token for /private. */
static int check_access(void *ud, alkproxy_rq *rq)
{
	const char *auth = alkproxy_rq_header(rq, "Authorization");

	(void)ud;
	if (strncmp(alkproxy_rq_path(rq), "/private", 8) != 0)
		return 0;
	if (auth == NULL || strcmp(auth, "Bearer letmein") != 0)
		return 401;
	return alkproxy_rq_add_header(rq, "X-User", "alice") == 0 ? 0 : 500;
}

static void on_log(void *ud, enum alkproxy_log_level level, const char *event,
		   const char *fields, const char *line)
{
	(void)ud; (void)level; (void)event; (void)fields;
	printf("%s\n", line);
	fflush(stdout);
}

static void on_diag(void *ud, int is_error, const char *msg)
{
	(void)ud; (void)is_error;
	fprintf(stderr, "handler: %s\n", msg);
}

int main(int argc, char **argv)
{
	alkproxy *p = NULL;
	sigset_t set;
	int sig = 0, rc;

	if (argc != 2)
		return 2;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts */
	alkproxy_set_log_callback(on_log, NULL);
	if ((rc = alkproxy_create_file(&p, argv[1], on_diag, NULL)) != 0 ||
	    (rc = alkproxy_set_handler(p, "app", app, NULL, app_done, NULL)) ||
	    (rc = alkproxy_set_access_callback(p, check_access, NULL)) != 0 ||
	    (rc = alkproxy_start(p)) != 0) {
		fprintf(stderr, "handler: %s\n", alkproxy_strerror(rc));
		alkproxy_free(p);
		return 1;
	}
	printf("handler: serving on port %u\n", alkproxy_https_port(p));
	fflush(stdout);
	sigwait(&set, &sig);
	alkproxy_shutdown(p, 5);
	alkproxy_free(p);
	return 0;
}
