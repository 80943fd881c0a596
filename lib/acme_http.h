/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * acme_http: the ACME client's transport — one blocking libcurl easy
 * handle (https only, the configured CA bundle, bounded responses, abort
 * on stop), the Replay-Nonce pool of one, and signed POSTs with badNonce
 * retry. Used by the ACME thread only (acme.c); the struct acme_conn and
 * every response belong to that thread.
 */
#ifndef AP_ACME_HTTP_H
#define AP_ACME_HTTP_H

#include <stdatomic.h>
#include <stddef.h>

#include <curl/curl.h>
#include <gnutls/abstract.h>

#include "acme_msg.h"

#define NONCE_MAX 256

/* One response: status, body (NUL-terminated, at most ACME_MSG_MAX_DOC)
 * and the headers ACME needs. Reset (and freed) by acme_resp_reset. */
struct acme_resp {
	long status;
	char *body;
	size_t len, cap;
	int too_big;
	char location[ACME_MSG_MAX_URL + 1];
	char nonce[NONCE_MAX];
	long retry_after_ms; /* -1 if absent */
};

struct acme_conn {
	CURL *curl;
	const char *ca_file;   /* acme_ca_file or NULL (borrowed) */
	atomic_int *stopping;  /* nonzero aborts transfers (borrowed) */
	char nonce[NONCE_MAX]; /* the next nonce to use, "" if none */
	/* Set by the caller before acme_post (all borrowed): */
	const char *new_nonce_url;
	gnutls_privkey_t key; /* account key */
	const char *kid;      /* account URL; NULL until registered */
};

/* Free the body and clear r (r itself is not freed). */
void acme_resp_reset(struct acme_resp *r);

/* One request. body NULL: GET (or HEAD if head). accept NULL means
 * application/json. Returns 0 when a response arrived (any status), -1 on
 * a transport error (logged as ACME_ERROR under step, unless stopping). */
int acme_http_do(struct acme_conn *c, const char *step, const char *url,
		 const char *body, int head, const char *accept,
		 struct acme_resp *r);

/* A signed POST (payload NULL: POST-as-GET). Fetches a nonce when none is
 * left and retries badNonce answers with the nonce they carry. use_kid 0
 * signs with the JWK (newAccount). Returns 0 when the server answered
 * (check r->status), -1 otherwise (logged). */
int acme_post(struct acme_conn *c, const char *step, const char *url,
	      const char *payload, int use_kid, const char *accept,
	      struct acme_resp *r);

/* Log ACME_ERROR with the server's problem document (or the status). */
void acme_report(const char *step, const struct acme_resp *r);
/* Is r's body a problem document of type …:error:name? */
int acme_resp_is_problem(const struct acme_resp *r, const char *name);

#endif
