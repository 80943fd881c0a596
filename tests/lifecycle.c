/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * lifecycle: what an embedding program may rely on (issue 18, item 1),
 * through the public API only (t_lifecycle.sh runs it):
 *  - states: created -> running -> stopped -> running again; a call not
 *    valid in the state gives ALKPROXY_ESTATE and changes nothing; a
 *    restarted handle serves (it used to accept and fail every request);
 *  - error codes say what failed (a taken port: ALKPROXY_ELISTEN) and a
 *    start error reaches the create call's diag callback;
 *  - every library thread has the signals blocked, although the calling
 *    thread has none blocked;
 *  - version: the header's number and the library's agree;
 *  - alkproxy_stats() and the per-request callback (issue 18, item 5)
 *    count what was served: requests by class, bytes, and one typed
 *    record per request with the REQUEST line's data;
 *  - the access callback (item 3) refuses with the status it returns and
 *    adds request headers the client cannot forge.
 * Usage: lifecycle CONFIG CA_CERT (the config's https_port must be 0). It
 * sets a log callback, so nothing goes to stdout; stderr must stay empty
 * (the shell test checks). Prints "ok: …"/"FAIL: …" lines; exit 1 on a
 * failure.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "alkproxy.h"

static int fails;
static char last_diag[1024];

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
	(void)is_error;
	snprintf(last_diag, sizeof(last_diag), "%s", msg);
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

/* What the request callback saw (worker threads: under a mutex). */
static pthread_mutex_t rq_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned rq_n, rq_200_health, rq_404, rq_echo;
static uint64_t rq_bytes_out;
static char rq_last[512];

static void on_request(void *ud, const struct alkproxy_request *r)
{
	(void)ud;
	pthread_mutex_lock(&rq_mu);
	rq_n++;
	if (r->status == 200 && strcmp(r->path, "/health") == 0 &&
	    strcmp(r->method, "GET") == 0 && r->host != NULL &&
	    strcmp(r->client_ip, "127.0.0.1") == 0 && r->site == NULL &&
	    r->error == NULL)
		rq_200_health++; /* answered by the proxy: no site */
	if (r->status == 200 && strcmp(r->path, "/echo") == 0 &&
	    strcmp(r->host, "a.test") == 0 &&
	    r->site != NULL && strcmp(r->site, "a.test") == 0 &&
	    r->upstream != NULL && r->bytes_out > 0)
		rq_echo++;
	if (r->status == 404)
		rq_404++;
	rq_bytes_out += r->bytes_out;
	snprintf(rq_last, sizeof(rq_last),
		 "status=%d method=%s host=%s path=%s client_ip=%s site=%s "
		 "upstream=%s in=%llu out=%llu us=%llu",
		 r->status, r->method, r->host, r->path, r->client_ip,
		 r->site ? r->site : "-", r->upstream ? r->upstream : "-",
		 (unsigned long long)r->bytes_in,
		 (unsigned long long)r->bytes_out,
		 (unsigned long long)r->duration_us);
	pthread_mutex_unlock(&rq_mu);
}

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
	char *buf = ud;
	size_t have, add = s * n;

	if (buf != NULL) {
		have = strlen(buf);
		if (have + add >= 4096)
			add = 4095 - have;
		memcpy(buf + have, p, add);
		buf[have + add] = '\0';
	}
	return s * n;
}

/* The access policy under test: /echo needs "X-Token: good"; the user
 * it stands for goes to the upstream as X-Auth-User. */
static int add_reserved_rc = -1, add_bad_rc = -1;

static int policy(void *ud, alkproxy_rq *rq)
{
	const char *t = alkproxy_rq_header(rq, "x-token");

	(void)ud;
	if (strcmp(alkproxy_rq_path(rq), "/echo") != 0)
		return 0;
	if (t == NULL || strcmp(t, "good") != 0)
		return 401;
	add_reserved_rc = alkproxy_rq_add_header(rq, "X-Forwarded-For", "1.2.3.4");
	add_bad_rc = alkproxy_rq_add_header(rq, "X-Evil", "a\r\nInjected: 1");
	return alkproxy_rq_add_header(rq, "X-Auth-User", "alice") ==
			       ALKPROXY_OK &&
		       strcmp(alkproxy_rq_site(rq), "a.test") == 0 &&
		       strcmp(alkproxy_rq_method(rq), "GET") == 0
		       ? 0
		       : 500;
}

/* GET with up to two extra request headers; the status, or 0, and the
 * body (up to 4 KiB) in out. */
static long get_h(unsigned port, const char *ca, const char *path,
		  const char *h1, const char *h2, char *out)
{
	CURL *c = curl_easy_init();
	char url[256], res[128];
	struct curl_slist *r, *hs = NULL;
	long code = 0;

	out[0] = '\0';
	snprintf(url, sizeof(url), "https://a.test:%u%s", port, path);
	snprintf(res, sizeof(res), "a.test:%u:127.0.0.1", port);
	r = curl_slist_append(NULL, res);
	if (h1 != NULL)
		hs = curl_slist_append(hs, h1);
	if (h2 != NULL)
		hs = curl_slist_append(hs, h2);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_RESOLVE, r);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	curl_slist_free_all(r);
	curl_slist_free_all(hs);
	return code;
}

/* GET https://a.test:port/health; the status, or 0. */
static long health(unsigned port, const char *ca)
{
	char body[4096];

	return get_h(port, ca, "/health", NULL, NULL, body);
}

/* Threads of this process other than the calling one whose blocked mask
 * lacks SIGTERM, SIGINT, SIGHUP or SIGUSR1; -1 if /proc cannot be read.
 * *n gets the number of other threads looked at. */
static int unblocked_threads(int *n)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int bad = 0;
	pid_t self = getpid();

	*n = 0;
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char path[300], line[256];
		unsigned long long blk = 0;
		FILE *f;
		size_t i;

		if (e->d_name[0] == '.' || atoi(e->d_name) == self)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status",
			 e->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue; /* ended meanwhile */
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, "SigBlk:", 7) == 0)
				blk = strtoull(line + 7, NULL, 16);
		fclose(f);
		(*n)++;
		for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			if (!(blk & (1ULL << (sigs[i] - 1)))) {
				bad++;
				break;
			}
	}
	closedir(d);
	return bad;
}

int main(int argc, char **argv)
{
	alkproxy *p = NULL, *q = NULL;
	sigset_t none;
	unsigned port1, port2;
	int rc, n, bad;
	char ini[4096], v[32];
	FILE *f;
	size_t len;

	if (argc != 3) {
		fprintf(stderr, "usage: lifecycle CONFIG CA_CERT\n");
		return 2;
	}
	/* The program's own thread: nothing blocked. */
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	alkproxy_set_log_callback(quiet_log, NULL);

	snprintf(v, sizeof(v), "%d.%d.%d", ALKPROXY_VERSION_MAJOR,
		 ALKPROXY_VERSION_MINOR, ALKPROXY_VERSION_PATCH);
	CHECK("version: header number = library number",
	      alkproxy_version_num() == (unsigned long)ALKPROXY_VERSION_NUM);
	CHECK("version: the string starts with the header's X.Y.Z",
	      strncmp(alkproxy_version(), v, strlen(v)) == 0 &&
		      alkproxy_version()[strlen(v)] == ' ');

	rc = alkproxy_create_file(&p, argv[1], diag, NULL);
	CHECK("create", rc == ALKPROXY_OK && p != NULL);
	if (p == NULL)
		return 1;
	CHECK("request callback set before start",
	      alkproxy_set_request_callback(p, on_request, NULL) ==
		      ALKPROXY_OK);
	CHECK("access callback set before start",
	      alkproxy_set_access_callback(p, policy, NULL) == ALKPROXY_OK);
	CHECK("stop before start: ESTATE", alkproxy_stop(p) == ALKPROXY_ESTATE);
	CHECK("shutdown before start: ESTATE",
	      alkproxy_shutdown(p, 0) == ALKPROXY_ESTATE);
	CHECK("no port before start", alkproxy_https_port(p) == 0);
	CHECK("start", alkproxy_start(p) == ALKPROXY_OK);
	port1 = alkproxy_https_port(p);
	CHECK("serves after start", port1 != 0 && health(port1, argv[2]) == 200);
	CHECK("start while running: ESTATE",
	      alkproxy_start(p) == ALKPROXY_ESTATE);
	CHECK("request callback while running: ESTATE",
	      alkproxy_set_request_callback(p, NULL, NULL) == ALKPROXY_ESTATE);
	{
		struct alkproxy_stats st;
		static char body_buf[4096];
		double echo_body = 0;
		unsigned i;
		long code;

		/* the query is dropped from the record's path */
		for (i = 0; i < 4; i++)
			code = get_h(port1, argv[2], "/health?q=secret", NULL,
				     NULL, body_buf);
		{
			code = get_h(port1, argv[2], "/echo", "X-Token: good",
				     "X-Auth-User: mallory", body_buf);
			echo_body = (double)strlen(body_buf);
			CHECK("a request through the upstream, allowed by the access callback",
			      code == 200 && echo_body > 0);
			CHECK("access: the upstream got the callback's X-Auth-User",
			      strstr(body_buf, "header: X-Auth-User: alice\n") != NULL);
			CHECK("access: the client's X-Auth-User was dropped",
			      strstr(body_buf, "mallory") == NULL);
			CHECK("access: a header the proxy writes cannot be added",
			      add_reserved_rc == ALKPROXY_EINVAL &&
				      strstr(body_buf, "1.2.3.4") == NULL);
			CHECK("access: a value with CR LF cannot be added",
			      add_bad_rc == ALKPROXY_EINVAL &&
				      strstr(body_buf, "Injected") == NULL);
			code = get_h(port1, argv[2], "/echo", "X-Token: bad",
				     NULL, body_buf);
			CHECK("access: refused with the callback's 401",
			      code == 401);
		}
		/* the request callback runs after the response went out */
		for (i = 0; i < 100; i++) {
			pthread_mutex_lock(&rq_mu);
			code = rq_n;
			pthread_mutex_unlock(&rq_mu);
			if (code >= 7)
				break;
			usleep(20000);
		}
		CHECK("alkproxy_stats", alkproxy_stats(p, &st, sizeof(st)) ==
						ALKPROXY_OK);
		printf("# stats: requests=%llu 2xx=%llu 4xx=%llu out=%llu "
		       "open=%llu\n",
		       (unsigned long long)st.requests,
		       (unsigned long long)st.responses[2],
		       (unsigned long long)st.responses[4],
		       (unsigned long long)st.bytes_out,
		       (unsigned long long)st.connections_open);
		/* 1 (serves after start) + 4 + 1 allowed + 1 refused */
		CHECK("stats: 7 requests, 6 2xx, one 4xx",
		      st.requests == 7 && st.responses[2] == 6 &&
			      st.responses[4] == 1);
		CHECK("stats: body bytes out = what the client got from the upstream",
		      st.bytes_out == (uint64_t)echo_body);
		CHECK("stats: nothing rate-limited or refused",
		      st.rate_limited == 0 && st.connections_refused == 0);
		pthread_mutex_lock(&rq_mu);
		printf("# last request: %s\n", rq_last);
		CHECK("callback: one record per request", rq_n == 7);
		CHECK("callback: typed fields of GET /health (query dropped)",
		      rq_200_health == 5);
		CHECK("callback: GET /echo routed to site a.test and its upstream",
		      rq_echo == 1);
		CHECK("callback: bytes_out per request add up",
		      rq_bytes_out == st.bytes_out);
		pthread_mutex_unlock(&rq_mu);
		{
			struct alkproxy_stats small;

			memset(&small, 0xff, sizeof(small));
			CHECK("stats: a smaller struct gets its part",
			      alkproxy_stats(p, &small, offsetof(struct alkproxy_stats, bytes_in)) ==
					      ALKPROXY_OK &&
				      small.requests == 7 &&
				      small.bytes_in == UINT64_MAX);
		}
	}
	bad = unblocked_threads(&n);
	printf("# %d library threads\n", n);
	CHECK("every library thread blocks the signals", n >= 3 && bad == 0);
	CHECK("stop", alkproxy_stop(p) == ALKPROXY_OK);
	CHECK("stop again: ESTATE", alkproxy_stop(p) == ALKPROXY_ESTATE);
	CHECK("no port when stopped", alkproxy_https_port(p) == 0);
	CHECK("start again after stop", alkproxy_start(p) == ALKPROXY_OK);
	port2 = alkproxy_https_port(p);
	CHECK("serves after the restart",
	      port2 != 0 && health(port2, argv[2]) == 200);
	CHECK("restart's threads block the signals too",
	      unblocked_threads(&n) == 0);

	/* A second handle on the port the first holds: ELISTEN, and the
	 * reason reaches the create call's diag callback. */
	f = fopen(argv[1], "r");
	len = f != NULL ? fread(ini, 1, sizeof(ini) - 1, f) : 0;
	if (f != NULL)
		fclose(f);
	ini[len] = '\0';
	{
		char *at = strstr(ini, "https_port = 0\n"), fixed[4096];

		if (at != NULL) {
			snprintf(fixed, sizeof(fixed), "%.*shttps_port = %u\n%s",
				 (int)(at - ini), ini, port2,
				 at + strlen("https_port = 0\n"));
			rc = alkproxy_create_string(&q, fixed, "second.ini",
						    diag, NULL);
			CHECK("second handle created", rc == ALKPROXY_OK);
			last_diag[0] = '\0';
			rc = q != NULL ? alkproxy_start(q) : -1;
			CHECK("taken port: ELISTEN", rc == ALKPROXY_ELISTEN);
			CHECK("the start error reaches diag",
			      strncmp(last_diag, "start: cannot listen", 20) == 0);
			printf("# diag: %s\n", last_diag);
			CHECK("failed start leaves the handle stopped",
			      q != NULL && alkproxy_stop(q) == ALKPROXY_ESTATE);
			alkproxy_free(q);
		} else
			CHECK("config has https_port = 0", 0);
	}
	CHECK("the first handle still serves",
	      health(port2, argv[2]) == 200);
	CHECK("shutdown", alkproxy_shutdown(p, 1) == ALKPROXY_OK);
	CHECK("shutdown again: ESTATE",
	      alkproxy_shutdown(p, 1) == ALKPROXY_ESTATE);
	alkproxy_free(p);
	curl_global_cleanup();
	return fails ? 1 : 0;
}
