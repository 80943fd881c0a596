/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * acme_http: HTTP for the ACME client (see acme_http.h). Threads: the ACME
 * thread only; the stop flag it reads is an atomic owned by acme.c, so
 * acme_stop() can abort a transfer from the main thread through curl's
 * progress callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "acme_http.h"
#include "ap_autoconf.h"
#include "jws.h"
#include "log.h"

/* Consecutive badNonce answers tolerated for one request. A CA rejects a
 * good nonce rarely; Pebble's test mode rejects up to half of them. */
#define NONCE_RETRIES 16

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct acme_resp *r = ud;
	size_t n = size * nmemb;

	if (r->len + n > ACME_MSG_MAX_DOC) {
		r->too_big = 1;
		return 0; /* aborts the transfer */
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		char *nb;

		while (cap < r->len + n + 1)
			cap *= 2;
		nb = realloc(r->body, cap);
		if (nb == NULL)
			return 0;
		r->body = nb;
		r->cap = cap;
	}
	memcpy(r->body + r->len, ptr, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

/* Copy a header value if line is "name: value", trimmed; 1 if matched. */
static int header_value(const char *line, size_t len, const char *name,
			char *out, size_t outsz)
{
	size_t nl = strlen(name), vl;
	const char *v;

	if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
		return 0;
	v = line + nl + 1;
	vl = len - nl - 1;
	while (vl > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' ||
			  v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	if (vl >= outsz) {
		out[0] = '\0'; /* too long to be valid: leave it empty */
		return 1;
	}
	memcpy(out, v, vl);
	out[vl] = '\0';
	return 1;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct acme_resp *r = ud;
	size_t n = size * nmemb;
	char v[64];

	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		/* A new response (after 1xx): forget earlier headers. */
		r->location[0] = '\0';
		r->nonce[0] = '\0';
		r->retry_after_ms = -1;
		return n;
	}
	if (header_value(ptr, n, "Location", r->location,
			 sizeof(r->location)) ||
	    header_value(ptr, n, "Replay-Nonce", r->nonce, sizeof(r->nonce)))
		return n;
	if (header_value(ptr, n, "Retry-After", v, sizeof(v)) && v[0]) {
		char *end;
		long s = strtol(v, &end, 10);

		if (*end == '\0' && s >= 0 && s < 86400) {
			r->retry_after_ms = s * 1000;
		} else {
			time_t t = curl_getdate(v, NULL);

			if (t > 0)
				r->retry_after_ms =
					t > time(NULL)
						? (long)(t - time(NULL)) * 1000
						: 0;
		}
	}
	return n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut,
		       curl_off_t un)
{
	struct acme_conn *c = ud;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return atomic_load(c->stopping) ? 1 : 0;
}

void acme_resp_reset(struct acme_resp *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
	r->retry_after_ms = -1;
}

/* One request. body NULL: GET (or HEAD if head). Returns 0 when a response
 * arrived (any status), -1 on a transport error (logged under step). */
int acme_http_do(struct acme_conn *c, const char *step, const char *url,
		 const char *body, int head, const char *accept,
		 struct acme_resp *r)
{
	struct curl_slist *hdrs = NULL, *h;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode cc;

	acme_resp_reset(r);
	curl_easy_reset(c->curl);
	h = curl_slist_append(
		hdrs, body != NULL ? "Content-Type: application/jose+json"
				   : "Content-Type:");
	if (h != NULL) {
		hdrs = h;
		h = curl_slist_append(
			hdrs,
			accept != NULL ? accept : "Accept: application/json");
	}
	if (h == NULL) {
		curl_slist_free_all(hdrs);
		return -1;
	}
	hdrs = h;
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT,
			 "reverse-proxy/" PACKAGE_VERSION " (acme)");
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, c);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
	if (c->ca_file != NULL)
		curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->ca_file);
	if (body != NULL) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE,
				 (long)strlen(body));
	} else if (head) {
		curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
	}
	cc = curl_easy_perform(c->curl);
	curl_slist_free_all(hdrs);
	if (cc != CURLE_OK) {
		if (!atomic_load(c->stopping))
			log_event(LOG_LEVEL_WARN, "ACME_ERROR", "step", step,
				  "url", url, "error",
				  r->too_big  ? "response too large"
				  : errbuf[0] ? errbuf
					      : curl_easy_strerror(cc),
				  LOG_END);
		return -1;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->nonce[0] != '\0')
		snprintf(c->nonce, sizeof(c->nonce), "%s", r->nonce);
	return 0;
}

/* Log the server's problem document (or the bare status) for step. */
void acme_report(const char *step, const struct acme_resp *r)
{
	struct acme_problem p;
	char st[16];

	snprintf(st, sizeof(st), "%ld", r->status);
	if (acme_parse_problem(r->body, r->len, &p) != 0)
		memset(&p, 0, sizeof(p));
	log_event(LOG_LEVEL_WARN, "ACME_ERROR", "step", step, "status", st,
		  "type", p.type, "detail", p.detail, LOG_END);
	acme_problem_clear(&p);
}

int acme_resp_is_problem(const struct acme_resp *r, const char *name)
{
	struct acme_problem p;
	int is;

	if (acme_parse_problem(r->body, r->len, &p) != 0)
		return 0;
	is = acme_problem_is(&p, name);
	acme_problem_clear(&p);
	return is;
}

/*
 * A signed POST (payload NULL: POST-as-GET). Gets a nonce when none is
 * left, and retries on badNonce with the fresh nonce the error carried.
 * use_kid 0 signs with the JWK (newAccount). Returns 0 when the server
 * answered (check r->status), -1 otherwise (logged).
 */
int acme_post(struct acme_conn *c, const char *step, const char *url,
	      const char *payload, int use_kid, const char *accept,
	      struct acme_resp *r)
{
	int i;

	for (i = 0; i < NONCE_RETRIES; i++) {
		char *jws;
		int rc;

		if (c->nonce[0] == '\0' &&
		    (acme_http_do(c, "newNonce", c->new_nonce_url, NULL, 1,
				  NULL, r) != 0 ||
		     c->nonce[0] == '\0')) {
			if (r->status != 0)
				acme_report("newNonce", r);
			return -1;
		}
		jws = jws_build(c->key, use_kid ? c->kid : NULL, c->nonce, url,
				payload);
		/* A nonce is good for one request, whatever happens. */
		c->nonce[0] = '\0';
		if (jws == NULL) {
			log_event(LOG_LEVEL_ERROR, "ACME_ERROR", "step", step,
				  "error", "cannot sign request", LOG_END);
			return -1;
		}
		rc = acme_http_do(c, step, url, jws, 0, accept, r);
		free(jws);
		if (rc != 0)
			return -1;
		if (r->status == 400 && acme_resp_is_problem(r, "badNonce")) {
			log_event(LOG_LEVEL_DEBUG, "ACME_NONCE_RETRY", "step",
				  step, LOG_END);
			continue;
		}
		return 0;
	}
	acme_report(step, r);
	return -1;
}
