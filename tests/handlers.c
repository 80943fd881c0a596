/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * handlers: handler sites and the certificate manager (issue 18, items 2
 * and 4) as an embedding program uses them, through the public API only
 * (t_handlers.sh runs it):
 *  - a handler that suspends its connection and resumes it from a thread
 *    of the program's own (libmicrohttpd's rules) answers;
 *  - the completion callback runs once per request the handler saw, with
 *    the handler's own con_cls; the request callback's record names the
 *    handler; stats count handler requests;
 *  - a connection a handler suspends and never resumes does not stop the
 *    shutdown (libmicrohttpd would abort the process): it is resumed and
 *    closed, the handler is not called again, its completion runs;
 *  - registration: a bad label is EINVAL, a call while running ESTATE; a
 *    reload that adds a handler site without a handler is refused and the
 *    old configuration keeps serving; one with a registered label works;
 *  - the certificate manager in manual mode gives a plain libmicrohttpd
 *    daemon of this program its certificate (SNI), refuses other names,
 *    counts its names, answers no HTTP-01 token, refuses a [site] in its
 *    configuration and a second start.
 * Usage: handlers CONFIG CA_CERT CERT KEY (CONFIG: https_port = 0, a site
 * h.test with handler = slow, CA_CERT verifies h.test and m.test; CERT and
 * KEY are m.test's pair). Prints "ok: …"/"FAIL: …"; exit 1 on a failure.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "alkproxy.h"

static int fails;
static char last_diag[1024], all_diag[4096];

#define CHECK(desc, cond)                                                      \
	do {                                                                   \
		if (cond)                                                      \
			printf("ok: %s\n", desc);                              \
		else {                                                         \
			printf("FAIL: %s (line %d)\n", desc, __LINE__);        \
			fails++;                                               \
		}                                                              \
	} while (0)

static void diag(void *ud, int is_error, const char *msg)
{
	(void)ud;
	size_t n = strlen(all_diag);

	(void)is_error;
	snprintf(last_diag, sizeof(last_diag), "%s", msg);
	snprintf(all_diag + n, sizeof(all_diag) - n, "%s\n", msg);
}

static void quiet_log(void *ud, enum alkproxy_log_level level,
		      const char *event, const char *fields, const char *line)
{
	(void)ud;
	(void)level;
	(void)event;
	(void)fields;
	(void)line;
}

/* ---- the handler under test: suspends, a program thread resumes ---- */

struct slow_req {
	unsigned magic;
	int resumed;
	struct MHD_Connection *conn;
};
#define SLOW_MAGIC 0x51015eedu

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned n_created, n_completed, n_bad_cls, n_records, n_rec_handler;

static void *resume_later(void *arg)
{
	struct slow_req *r = arg;

	usleep(100 * 1000);
	r->resumed = 1;
	MHD_resume_connection(r->conn); /* from a thread of the program */
	return NULL;
}

static enum MHD_Result slow(void *cls, struct MHD_Connection *c,
			    const char *url, const char *method,
			    const char *version, const char *upload,
			    size_t *upload_size, void **con_cls)
{
	struct slow_req *r = *con_cls;
	struct MHD_Response *res;
	enum MHD_Result ret;
	pthread_t t;
	char text[128];

	(void)cls;
	(void)version;
	(void)upload;
	if (r == NULL) {
		r = calloc(1, sizeof(*r));
		if (r == NULL)
			return MHD_NO;
		r->magic = SLOW_MAGIC;
		r->conn = c;
		*con_cls = r;
		pthread_mutex_lock(&mu);
		n_created++;
		pthread_mutex_unlock(&mu);
		return MHD_YES;
	}
	if (*upload_size > 0) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (!r->resumed) {
		MHD_suspend_connection(c);
		if (pthread_create(&t, NULL, resume_later, r) != 0)
			return MHD_NO;
		pthread_detach(t);
		return MHD_YES;
	}
	snprintf(text, sizeof(text), "slow: %s %s resumed", method, url);
	res = MHD_create_response_from_buffer(strlen(text), text,
					      MHD_RESPMEM_MUST_COPY);
	if (res == NULL)
		return MHD_NO;
	ret = MHD_queue_response(c, 203, res);
	MHD_destroy_response(res);
	return ret;
}

static void slow_done(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct slow_req *r = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	pthread_mutex_lock(&mu);
	n_completed++;
	if (r == NULL || r->magic != SLOW_MAGIC)
		n_bad_cls++;
	pthread_mutex_unlock(&mu);
	free(r);
	*con_cls = NULL;
}

/* A handler that suspends its connection and never resumes it: a stop
 * must still end (libmicrohttpd aborts the process when a daemon stops
 * with a suspended connection) and the completion callback must run. */
static unsigned n_stuck_calls, n_stuck_done;

static enum MHD_Result stuck(void *cls, struct MHD_Connection *c,
			     const char *url, const char *method,
			     const char *version, const char *upload,
			     size_t *upload_size, void **con_cls)
{
	(void)cls; (void)url; (void)method; (void)version; (void)upload;
	(void)upload_size;
	pthread_mutex_lock(&mu);
	n_stuck_calls++;
	pthread_mutex_unlock(&mu);
	if (*con_cls == NULL) {
		*con_cls = &n_stuck_calls;
		return MHD_YES;
	}
	MHD_suspend_connection(c); /* and again, if ever called again */
	return MHD_YES;
}

static void stuck_done(void *cls, struct MHD_Connection *c, void **con_cls,
		       enum MHD_RequestTerminationCode toe)
{
	(void)cls; (void)c; (void)toe;
	pthread_mutex_lock(&mu);
	if (*con_cls == &n_stuck_calls)
		n_stuck_done++;
	pthread_mutex_unlock(&mu);
	*con_cls = NULL;
}

static void on_request(void *ud, const struct alkproxy_request *r)
{
	(void)ud;
	pthread_mutex_lock(&mu);
	n_records++;
	if (r->handler != NULL && strcmp(r->handler, "slow") == 0 &&
	    r->status == 203 && r->upstream == NULL && r->site != NULL &&
	    strcmp(r->site, "h.test") == 0 && strcmp(r->path, "/s") == 0)
		n_rec_handler++;
	pthread_mutex_unlock(&mu);
}

/* ---- a client ---- */

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
	char *buf = ud;
	size_t have = strlen(buf), add = s * n;

	if (have + add >= 4096)
		add = 4095 - have;
	memcpy(buf + have, p, add);
	buf[have + add] = '\0';
	return s * n;
}

static long get_t(const char *host, unsigned port, const char *ca,
		  const char *path, char *out, long timeout_secs);

/* GET https://host:port/path verified with ca; the status (0: no
 * response, e.g. the handshake refused) and the body in out. */
static long get(const char *host, unsigned port, const char *ca,
		const char *path, char *out)
{
	return get_t(host, port, ca, path, out, 5);
}

static long get_t(const char *host, unsigned port, const char *ca,
		  const char *path, char *out, long timeout_secs)
{
	CURL *c = curl_easy_init();
	char url[256], res[128];
	struct curl_slist *r;
	long code = 0;

	out[0] = '\0';
	snprintf(url, sizeof(url), "https://%s:%u%s", host, port, path);
	snprintf(res, sizeof(res), "%s:%u:127.0.0.1", host, port);
	r = curl_slist_append(NULL, res);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_RESOLVE, r);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_secs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	curl_slist_free_all(r);
	return code;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 16384);
	size_t n;

	if (f == NULL || buf == NULL) {
		if (f != NULL)
			fclose(f);
		free(buf);
		return NULL;
	}
	n = fread(buf, 1, 16383, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* ---- the certificate manager with a plain MHD daemon ---- */

static enum MHD_Result hello(void *cls, struct MHD_Connection *c,
			     const char *url, const char *method,
			     const char *version, const char *upload,
			     size_t *upload_size, void **con_cls)
{
	static char text[] = "hello from the program's daemon";
	struct MHD_Response *res;
	enum MHD_Result ret;

	(void)cls; (void)url; (void)method; (void)version; (void)upload;
	(void)upload_size; (void)con_cls;
	res = MHD_create_response_from_buffer(strlen(text), text,
					      MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(c, MHD_HTTP_OK, res);
	MHD_destroy_response(res);
	return ret;
}

static void test_certs(const char *ca, const char *cert, const char *key)
{
	alkproxy_certs *m = NULL;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *di;
	char ini[2048], body[4096], ka[64];
	unsigned port;
	int rc;

	snprintf(ini, sizeof(ini), "[site x.test]\nupstream = 127.0.0.1:1\n");
	all_diag[0] = '\0';
	rc = alkproxy_certs_create_string(&m, ini, "bad.ini", diag, NULL);
	CHECK("certs: a [site] in its configuration is ECONFIG, file:line",
	      rc == ALKPROXY_ECONFIG && m == NULL &&
		      strstr(all_diag, "bad.ini:1: [site] is not part") != NULL);
	printf("# diag: %s", all_diag);
	snprintf(ini, sizeof(ini),
		 "[tls]\nmode = manual\ncert_path = %s\nkey_path = %s\n", cert,
		 key);
	rc = alkproxy_certs_create_string(&m, ini, "certs.ini", diag, NULL);
	CHECK("certs: created (manual)", rc == ALKPROXY_OK && m != NULL);
	if (m == NULL)
		return;
	CHECK("certs: no names before start", alkproxy_certs_names(m) == 0);
	/* the program's own daemon, on a port the kernel picks */
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS, 0,
			     NULL, NULL, hello, NULL,
			     MHD_OPTION_HTTPS_CERT_CALLBACK,
			     alkproxy_certs_cert_callback, MHD_OPTION_END);
	di = d != NULL ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)
		       : NULL;
	port = di != NULL ? di->port : 0;
	CHECK("certs: the program's daemon runs", port != 0);
	CHECK("certs: started", alkproxy_certs_start(m, port) == ALKPROXY_OK);
	CHECK("certs: a second start is ESTATE",
	      alkproxy_certs_start(m, port) == ALKPROXY_ESTATE);
	CHECK("certs: the certificate's three names served",
	      alkproxy_certs_names(m) == 3);
	CHECK("certs: the program's daemon serves the manager's certificate",
	      get("m.test", port, ca, "/", body) == 200 &&
		      strcmp(body, "hello from the program's daemon") == 0);
	CHECK("certs: a name without a certificate is refused",
	      get("other.test", port, ca, "/", body) == 0);
	CHECK("certs: no HTTP-01 token in manual mode",
	      alkproxy_certs_http01(m, "/.well-known/acme-challenge/x", ka,
				    sizeof(ka)) == -1 &&
		      alkproxy_certs_http01(m, "/", ka, sizeof(ka)) == -1);
	CHECK("certs: stop", alkproxy_certs_stop(m) == ALKPROXY_OK);
	CHECK("certs: stop again is ESTATE",
	      alkproxy_certs_stop(m) == ALKPROXY_ESTATE);
	MHD_stop_daemon(d);
	alkproxy_certs_free(m);
}

int main(int argc, char **argv)
{
	alkproxy *p = NULL;
	char body[4096], *ini, *more;
	unsigned port, i;
	struct alkproxy_stats st;
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: handlers CONFIG CA_CERT CERT KEY\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	alkproxy_set_log_callback(quiet_log, NULL);

	rc = alkproxy_create_file(&p, argv[1], diag, NULL);
	CHECK("create", rc == ALKPROXY_OK && p != NULL);
	if (p == NULL)
		return 1;
	last_diag[0] = '\0';
	CHECK("start without the handler: ECONFIG",
	      alkproxy_start(p) == ALKPROXY_ECONFIG &&
		      strstr(last_diag, "no handler 'slow' is registered") !=
			      NULL);
	printf("# diag: %s\n", last_diag);
	CHECK("bad label: EINVAL",
	      alkproxy_set_handler(p, "no/slash", slow, NULL, NULL, NULL) ==
		      ALKPROXY_EINVAL &&
		      alkproxy_set_handler(p, "", slow, NULL, NULL, NULL) ==
			      ALKPROXY_EINVAL);
	CHECK("handler registered",
	      alkproxy_set_handler(p, "slow", slow, NULL, slow_done, NULL) ==
		      ALKPROXY_OK &&
		      alkproxy_set_handler(p, "stuck", stuck, NULL, stuck_done,
					   NULL) == ALKPROXY_OK);
	CHECK("request callback",
	      alkproxy_set_request_callback(p, on_request, NULL) ==
		      ALKPROXY_OK);
	CHECK("start", alkproxy_start(p) == ALKPROXY_OK);
	CHECK("handler while running: ESTATE",
	      alkproxy_set_handler(p, "x", slow, NULL, NULL, NULL) ==
		      ALKPROXY_ESTATE);
	port = alkproxy_https_port(p);
	for (i = 0; i < 3; i++) {
		long code = get("h.test", port, argv[2], "/s", body);

		CHECK("suspended, resumed by a program thread, answered",
		      code == 203 && strcmp(body, "slow: GET /s resumed") == 0);
	}
	for (i = 0; i < 100; i++) {
		pthread_mutex_lock(&mu);
		rc = n_records >= 3 && n_completed >= 3;
		pthread_mutex_unlock(&mu);
		if (rc)
			break;
		usleep(20000);
	}
	pthread_mutex_lock(&mu);
	CHECK("completion callback: once per request, with the handler's con_cls",
	      n_created == 3 && n_completed == 3 && n_bad_cls == 0);
	CHECK("request callback: the record names the handler",
	      n_records == 3 && n_rec_handler == 3);
	pthread_mutex_unlock(&mu);
	CHECK("stats count handler requests",
	      alkproxy_stats(p, &st, sizeof(st)) == ALKPROXY_OK &&
		      st.requests == 3 && st.responses[2] == 3);

	/* reload: a handler site nobody registered is refused, the running
	 * configuration stays; a registered label is accepted */
	ini = read_file(argv[1]);
	more = ini != NULL ? malloc(strlen(ini) + 128) : NULL;
	if (more != NULL) {
		sprintf(more, "%s\n[site n.test]\nhandler = nobody\n", ini);
		last_diag[0] = '\0';
		CHECK("reload with an unregistered handler: ECONFIG",
		      alkproxy_reload_string(p, more, "r.ini", diag, NULL) ==
			      ALKPROXY_ECONFIG);
		CHECK("…still serving the old configuration",
		      get("h.test", port, argv[2], "/s", body) == 203);
		sprintf(more, "%s\n[site n.test]\nhandler = slow\n", ini);
		CHECK("reload with a registered handler",
		      alkproxy_reload_string(p, more, "r.ini", diag, NULL) ==
			      ALKPROXY_OK);
	} else {
		CHECK("read the config", 0);
	}
	free(more);
	free(ini);
	CHECK("a request the handler suspends for good: no answer (1 s)",
	      get_t("s.test", port, argv[2], "/", body, 1) == 0);
	CHECK("shutdown (with a connection still suspended by a handler)",
	      alkproxy_shutdown(p, 1) == ALKPROXY_OK);
	pthread_mutex_lock(&mu);
	CHECK("…its completion callback ran, the handler was not called again",
	      n_stuck_done == 1 && n_stuck_calls == 2);
	pthread_mutex_unlock(&mu);
	pthread_mutex_lock(&mu);
	CHECK("every created request completed",
	      n_created == n_completed && n_bad_cls == 0);
	pthread_mutex_unlock(&mu);
	alkproxy_free(p);

	test_certs(argv[2], argv[3], argv[4]);
	curl_global_cleanup();
	return fails ? 1 : 0;
}
