/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * acme: the ACME client thread. One thread per server in acme mode; it
 * alone owns the connection (curl handle and nonce, see acme_http.c), the
 * account key, the order state and the schedule below. What it shares:
 * the TLS store (tls_store_set swaps in a new bundle for new handshakes,
 * tls_store_set_challenge the tls-alpn-01 validation certificate) and the
 * challenge map (http-01 tokens for the plain HTTP listener), both
 * internally locked; and the stop flag, under a mutex with a condition
 * variable, so acme_stop() wakes every wait at once and aborts a transfer
 * from curl's progress callback.
 *
 * Timing (doc/acme.md): renew at the time chosen in the CA's ARI window
 * (RFC 9773) or, without one, when a third of the lifetime remains;
 * re-checked at least every check interval with ±10% jitter; never sooner
 * than the minimum interval after the last issuance; after a failure
 * (an unusable certificate is one) wait base·2^(n-1) (±20% jitter) up to
 * the maximum, or the CA's Retry-After when later. The schedule is kept
 * in state.json (acme_store.h), written before each attempt as the
 * failure it becomes unless it succeeds.
 *
 * Several instances may share acme_cache_dir (issue 20): an attempt is
 * made only under the directory's issuance lock (acme_store_lock), after
 * reading state.json and certificate.json again under it — the instance
 * that held it before may have ordered already, or be backing off. One
 * that finds the lock taken waits and looks again. Every instance checks
 * certificate.json every sync interval (and at acme_sync(), on SIGHUP)
 * and serves a newer certificate it finds there.
 *
 * The test suite shortens these with ALKPROXY_ACME_BACKOFF_BASE_MS,
 * ALKPROXY_ACME_BACKOFF_MAX_MS, ALKPROXY_ACME_CHECK_INTERVAL_MS,
 * ALKPROXY_ACME_MIN_INTERVAL_MS and ALKPROXY_ACME_SYNC_INTERVAL_MS.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>

#include "acme.h"
#include "acme_http.h"
#include "acme_msg.h"
#include "acme_store.h"
#include "ap_autoconf.h"
#include "challenge.h"
#include "jws.h"
#include "log.h"
#include "threads.h"

#define BACKOFF_BASE_MS 30000L		  /* 30 s */
#define BACKOFF_MAX_MS (6L * 3600 * 1000) /* 6 h */
#define CHECK_INTERVAL_MS (12L * 3600 * 1000)
#define POLL_FIRST_MS 250L	/* without Retry-After: 250 ms, doubling */
#define POLL_DEFAULT_MS 2000L	/* … up to this */
#define POLL_MAX_WAIT_MS 60000L /* longest single Retry-After honored */
#define POLL_TOTAL_MS (5L * 60 * 1000) /* give up polling an order after */
#define MIN_INTERVAL_MS (3600L * 1000) /* between two issuances */
#define RETRY_AFTER_MAX_MS (86400L * 1000) /* longest CA Retry-After kept */
#define ARI_POLL_MS (6L * 3600 * 1000)	   /* renewalInfo without Retry-After */
#define ARI_POLL_MIN_MS (60L * 1000)	   /* … and the shortest kept */
#define SYNC_INTERVAL_MS (60L * 1000) /* look at certificate.json */
#define LOCK_RETRY_MS 2000L /* the issuance lock was busy: look again */

struct acme {
	const struct config *cfg;
	struct tls_store *store;
	struct challenge_map *map;

	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop_req;	     /* under mu */
	int sync_req;	     /* under mu: acme_sync() asked */
	atomic_int stopping; /* read by the curl progress callback */

	/* Everything below: the ACME thread only. */
	struct acme_conn conn;
	struct acme_directory dir;
	struct acme_account acct;
	gnutls_privkey_t acct_key;
	char thumb[JWS_THUMB_SIZE];

	int have_cert;	 /* a certificate is being served */
	int names_match; /* it covers exactly acme_domains */
	time_t not_before, not_after;
	char cert_id[ACME_CERT_ID_SIZE]; /* its RFC 9773 identifier, or "" */
	/* ARI (RFC 9773): the CA's suggested window for the served
	 * certificate, the time chosen in it, and when to ask again. */
	time_t ari_start, ari_end, ari_at;
	int64_t ari_next_ms;
	/* external account binding MAC key (acme_eab_hmac_key_file) */
	uint8_t eab_key[JWS_HMAC_KEY_MAX];
	size_t eab_len;
	/* The schedule, saved in state.json after every attempt so a
	 * restart keeps the backoff and the minimum interval. */
	struct acme_state st;
	char *state_key; /* directory and names it applies to */
	long ca_retry_ms; /* Retry-After of the last refused step, or -1 */
	long backoff_base_ms, backoff_max_ms, check_ms, min_interval_ms;
	long sync_ms;
	/* the certificate.json last looked at (a shared directory: another
	 * instance may write a newer one) */
	struct acme_stamp cert_stamp;
	int lock_busy_logged; /* ACME_LOCK busy said for this wait */
	/* for /metrics (acme_numbers): written by the ACME thread, read by
	 * the metrics listener */
	_Atomic uint64_t n_issued, n_failed;
	_Atomic int64_t next_due_ms; /* next planned order, 0: now/none */
};

/* ---- small helpers ---- */

static long env_ms(const char *name, long def)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (v == NULL || *v == '\0')
		return def;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > 30L * 86400 * 1000) {
		log_event(LOG_LEVEL_WARN, "ACME_CONFIG", "variable", name,
			  "value", v, "error", "ignored: not 1..2592000000",
			  LOG_END);
		return def;
	}
	return n;
}

/* ms scaled by a random factor in [1-pct/100, 1+pct/100]. */
static long jitter(long ms, unsigned pct)
{
	uint32_t r = 0;
	double f;

	if (gnutls_rnd(GNUTLS_RND_NONCE, &r, sizeof(r)) < 0)
		r = (uint32_t)time(NULL);
	f = ((double)r / 4294967295.0) * 2.0 - 1.0; /* [-1, 1] */
	ms = (long)((double)ms * (1.0 + f * (double)pct / 100.0));
	return ms < 1 ? 1 : ms;
}

static void iso_time(time_t t, char *out, size_t outsz)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outsz, "-");
}

static void join_names(const struct config *cfg, char *out, size_t outsz)
{
	size_t i, n = 0;

	out[0] = '\0';
	for (i = 0; i < cfg->n_acme_domains && n < outsz; i++)
		n += (size_t)snprintf(out + n, outsz - n, "%s%s", i ? "," : "",
				      cfg->acme_domains[i]);
}

/* Wait up to ms, or until acme_stop() (or, with on_sync, acme_sync():
 * only the main loop's waits, not an order's polling). Returns 1 when
 * stopping. */
static int wait_ms(struct acme *a, long ms, int on_sync)
{
	struct timespec ts;
	int stop;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&a->mu);
	while (!a->stop_req && !(on_sync && a->sync_req) &&
	       pthread_cond_timedwait(&a->cv, &a->mu, &ts) != ETIMEDOUT)
		;
	stop = a->stop_req;
	pthread_mutex_unlock(&a->mu);
	return stop;
}

/* ---- the flow ---- */

/* acme_post with the current account key, account URL and nonce URL. */
static int apost(struct acme *a, const char *step, const char *url,
		 const char *payload, int use_kid, const char *accept,
		 struct acme_resp *r)
{
	int rc;

	a->conn.new_nonce_url = a->dir.new_nonce;
	a->conn.key = a->acct_key;
	a->conn.kid = a->acct.url;
	rc = acme_post(&a->conn, step, url, payload, use_kid, accept, r);
	/* A refusal that says when to come back (rateLimited, 503) sets
	 * the earliest next attempt (acme_main). */
	if (rc == 0 && r->status >= 400 && r->retry_after_ms >= 0)
		a->ca_retry_ms = r->retry_after_ms > RETRY_AFTER_MAX_MS
					 ? RETRY_AFTER_MAX_MS
					 : r->retry_after_ms;
	return rc;
}

static int fetch_directory(struct acme *a, struct acme_resp *r)
{
	acme_directory_clear(&a->dir);
	if (acme_http_do(&a->conn, "directory", a->cfg->acme_directory, NULL, 0,
			 NULL, r) != 0)
		return -1;
	if (r->status != 200 ||
	    acme_parse_directory(r->body, r->len, &a->dir) != 0) {
		acme_report("directory", r);
		return -1;
	}
	return 0;
}

/* Account key from the store, or a new one saved before first use. */
static int load_account(struct acme *a)
{
	const char *dir = a->cfg->acme_cache_dir, *why = "";
	int rc;

	if (a->acct_key != NULL)
		return 0;
	acme_account_clear(&a->acct);
	if (acme_store_ensure_dir(dir, &why) != 0) {
		log_event(LOG_LEVEL_ERROR, "ACME_STORE_ERROR", "file", dir,
			  "error", why, "errno", strerror(errno), LOG_END);
		return -1;
	}
	rc = acme_store_load_account(dir, a->cfg->acme_directory, &a->acct);
	if (rc < 0)
		return -1;
	if (rc == 1 && jws_key_import_pem(a->acct.key_pem, a->acct.key_len,
					  &a->acct_key) != 0) {
		log_event(LOG_LEVEL_ERROR, "ACME_STORE_ERROR", "file",
			  "account.json", "error",
			  "account key unusable; creating a new account", LOG_END);
		acme_account_clear(&a->acct);
		rc = 0;
	}
	if (rc == 0) {
		a->acct.directory = strdup(a->cfg->acme_directory);
		if (a->acct.directory == NULL ||
		    jws_key_generate_pem(&a->acct.key_pem, &a->acct.key_len) !=
			    0 ||
		    jws_key_import_pem(a->acct.key_pem, a->acct.key_len,
				       &a->acct_key) != 0 ||
		    acme_store_save_account(dir, &a->acct) != 0) {
			log_event(LOG_LEVEL_ERROR, "ACME_ERROR", "step",
				  "account key", "error",
				  "cannot create or save the account key",
				  LOG_END);
			acme_account_clear(&a->acct);
			if (a->acct_key != NULL)
				gnutls_privkey_deinit(a->acct_key);
			a->acct_key = NULL;
			return -1;
		}
	}
	if (jws_thumbprint(a->acct_key, a->thumb, sizeof(a->thumb)) != 0)
		return -1;
	return 0;
}

static int register_account(struct acme *a, struct acme_resp *r)
{
	json_t *pl = NULL;
	char *payload = NULL;
	struct acme_account_doc doc;
	int rc = -1;

	if (a->acct.url != NULL)
		return 0;
	pl = json_pack("{s:b, s:[s]}", "termsOfServiceAgreed", 1, "contact",
		       a->cfg->acme_contact);
	if (pl != NULL && a->cfg->acme_eab_kid != NULL) {
		/* RFC 8555 §7.3.4: the account key signed with the MAC key
		 * the CA gave for this key identifier. */
		char *eab = jws_eab(a->cfg->acme_eab_kid, a->eab_key,
				    a->eab_len, a->dir.new_account,
				    a->acct_key);
		json_t *e = eab != NULL ? json_loads(eab, 0, NULL) : NULL;

		free(eab);
		if (e == NULL ||
		    json_object_set_new(pl, "externalAccountBinding", e) != 0)
			goto out;
	} else if (a->dir.eab_required) {
		log_event(LOG_LEVEL_ERROR, "ACME_ERROR", "step", "newAccount",
			  "error",
			  "the CA requires an external account binding: set acme_eab_kid and acme_eab_hmac_key_file",
			  LOG_END);
		goto out;
	}
	payload = pl != NULL ? json_dumps(pl, JSON_COMPACT) : NULL;
	if (payload == NULL)
		goto out;
	if (apost(a, "newAccount", a->dir.new_account, payload, 0, NULL, r) !=
	    0)
		goto out;
	if ((r->status != 200 && r->status != 201) || r->location[0] == '\0' ||
	    strncmp(r->location, "https://", 8) != 0) {
		acme_report("newAccount", r);
		goto out;
	}
	if (acme_parse_account(r->body, r->len, &doc) == 0) {
		int valid = strcmp(doc.status, "valid") == 0;

		acme_account_doc_clear(&doc);
		if (!valid) {
			acme_report("newAccount", r);
			goto out;
		}
	}
	a->acct.url = strdup(r->location);
	if (a->acct.url == NULL)
		goto out;
	log_event(LOG_LEVEL_INFO, "ACME_ACCOUNT", "status",
		  r->status == 201 ? "created" : "existing", "url", a->acct.url,
		  "eab_kid",
		  a->cfg->acme_eab_kid != NULL ? a->cfg->acme_eab_kid : "-",
		  LOG_END);
	if (acme_store_save_account(a->cfg->acme_cache_dir, &a->acct) != 0)
		goto out; /* logged; the account is re-found by key next time */
	rc = 0;
out:
	json_decref(pl);
	free(payload);
	return rc;
}

/* POST-as-GET url until its status leaves the pending states (parsed by
 * parse into doc, status read by get_status). Honors Retry-After. */
static int poll_until(struct acme *a, const char *step, const char *url,
		      const char *const *waiting, struct acme_resp *r,
		      int (*parse)(const char *, size_t, void *), void *doc,
		      void (*clear)(void *), char *(*status)(void *))
{
	long waited = 0, backoff = POLL_FIRST_MS;

	for (;;) {
		long ms;
		size_t i;
		int busy = 0;

		if (apost(a, step, url, NULL, 1, NULL, r) != 0)
			return -1;
		clear(doc);
		if (r->status != 200 || parse(r->body, r->len, doc) != 0) {
			acme_report(step, r);
			return -1;
		}
		for (i = 0; waiting[i] != NULL; i++)
			busy |= strcmp(status(doc), waiting[i]) == 0;
		if (!busy)
			return 0;
		ms = r->retry_after_ms >= 0 ? r->retry_after_ms : backoff;
		if (backoff < POLL_DEFAULT_MS)
			backoff *= 2;
		if (ms < 200)
			ms = 200;
		if (ms > POLL_MAX_WAIT_MS)
			ms = POLL_MAX_WAIT_MS;
		waited += ms;
		if (waited > POLL_TOTAL_MS) {
			log_event(LOG_LEVEL_WARN, "ACME_ERROR", "step", step,
				  "error", "still pending, giving up", LOG_END);
			return -1;
		}
		if (wait_ms(a, ms, 0))
			return -1;
	}
}

/* Adapters so one poll loop serves orders and authorizations. */
static int p_order(const char *b, size_t l, void *d)
{
	return acme_parse_order(b, l, d);
}
static void c_order(void *d)
{
	acme_order_clear(d);
}
static char *s_order(void *d)
{
	return ((struct acme_order *)d)->status;
}
static int p_authz(const char *b, size_t l, void *d)
{
	return acme_parse_authz(b, l, d);
}
static void c_authz(void *d)
{
	acme_authz_clear(d);
}
static char *s_authz(void *d)
{
	return ((struct acme_authz *)d)->status;
}

/* Publish the answer to one challenge: the key authorization under its
 * token for the port-80 listener (http-01), or a validation certificate
 * for the HTTPS listener's acme-tls/1 handshakes (tls-alpn-01). *token is
 * set for http-01 (to withdraw it later). */
static int publish(struct acme *a, const struct acme_authz *az,
		   const struct acme_challenge *ch, char **token)
{
	char ka[512], err[200] = "";
	char *pem = NULL, *key_pem = NULL;
	size_t pem_len = 0, key_len = 0;
	gnutls_privkey_t key = NULL;
	struct tls_bundle *b = NULL;
	int rc = -1;

	if (jws_key_authorization(ch->token, a->thumb, ka, sizeof(ka)) != 0)
		goto out;
	if (ch == &az->http01) {
		if ((*token = strdup(ch->token)) == NULL ||
		    challenge_map_set(a->map, *token, ka) != 0)
			goto out;
		rc = 0;
		goto out;
	}
	if (jws_key_generate_pem(&key_pem, &key_len) != 0 ||
	    jws_key_import_pem(key_pem, key_len, &key) != 0 ||
	    acme_alpn_cert(az->identifier, ka, key, &pem, &pem_len) != 0 ||
	    tls_bundle_from_pem(pem, pem_len, key_pem, key_len, &b, err,
				sizeof(err)) != 0)
		goto out;
	tls_store_set_challenge(a->store, b);
	rc = 0;
out:
	if (rc != 0)
		log_event(LOG_LEVEL_ERROR, "ACME_ERROR", "step", "challenge",
			  "error", "cannot publish the challenge answer",
			  "reason", err[0] != '\0' ? err : "-", LOG_END);
	if (key != NULL)
		gnutls_privkey_deinit(key);
	if (key_pem != NULL) {
		explicit_bzero(key_pem, key_len);
		free(key_pem);
	}
	free(pem);
	return rc;
}

/* Complete one authorization with the configured challenge type. */
static int authorize(struct acme *a, const char *url, struct acme_resp *r)
{
	static const char *const waiting[] = {"pending", "processing", NULL};
	struct acme_authz az;
	const struct acme_challenge *ch;
	const char *type;
	char *token = NULL;
	int alpn = a->cfg->acme_challenge == CONFIG_ACME_TLSALPN01, rc = -1;

	type = alpn ? "tls-alpn-01" : "http-01";
	memset(&az, 0, sizeof(az));
	if (apost(a, "authorization", url, NULL, 1, NULL, r) != 0)
		return -1;
	if (r->status != 200 || acme_parse_authz(r->body, r->len, &az) != 0) {
		acme_report("authorization", r);
		return -1;
	}
	ch = alpn ? &az.alpn01 : &az.http01;
	if (strcmp(az.status, "valid") == 0) {
		log_event(LOG_LEVEL_INFO, "ACME_AUTHZ", "name", az.identifier,
			  "status", "valid", "reused", "yes", LOG_END);
		rc = 0;
		goto out;
	}
	if (strcmp(az.status, "pending") != 0 || ch->type == NULL) {
		log_event(LOG_LEVEL_WARN, "ACME_ERROR", "step", "authorization",
			  "name", az.identifier, "status", az.status, "error",
			  ch->type == NULL ? "the CA offers no challenge of this type"
					   : "not pending",
			  "type", type, LOG_END);
		goto out;
	}
	if (publish(a, &az, ch, &token) != 0)
		goto out;
	log_event(LOG_LEVEL_INFO, "ACME_CHALLENGE", "name", az.identifier,
		  "type", type, "status", "published", LOG_END);
	if (apost(a, "challenge", ch->url, "{}", 1, NULL, r) != 0)
		goto out;
	if (r->status != 200) {
		acme_report("challenge", r);
		goto out;
	}
	if (poll_until(a, "authorization", url, waiting, r, p_authz, &az,
		       c_authz, s_authz) != 0)
		goto out;
	ch = alpn ? &az.alpn01 : &az.http01;
	if (strcmp(az.status, "valid") != 0) {
		log_event(LOG_LEVEL_WARN, "ACME_ERROR", "step", "validation",
			  "name", az.identifier, "status", az.status, "type",
			  ch->error.type, "detail", ch->error.detail, LOG_END);
		goto out;
	}
	log_event(LOG_LEVEL_INFO, "ACME_AUTHZ", "name", az.identifier, "status",
		  "valid", "type", type, LOG_END);
	rc = 0;
out:
	if (token != NULL) {
		challenge_map_del(a->map, token);
		free(token);
	}
	if (alpn)
		tls_store_set_challenge(a->store, NULL);
	acme_authz_clear(&az);
	return rc;
}

/* Serve a chain + key: inspect, swap into the store, remember dates. */
static int install(struct acme *a, const char *chain, size_t chain_len,
		   const char *key, size_t key_len, const char *event)
{
	struct acme_cert_info info;
	struct tls_bundle *b = NULL;
	char err[200] = "", nb[32], na[32], ra[32], names[1024];

	if (acme_cert_inspect(chain, chain_len, a->cfg->acme_domains,
			      a->cfg->n_acme_domains, &info) != 0 ||
	    tls_bundle_from_pem(chain, chain_len, key, key_len, &b, err,
				sizeof(err)) != 0) {
		log_event(LOG_LEVEL_ERROR, "ACME_ERROR", "step", event, "error",
			  "certificate or key unusable", "reason",
			  err[0] != '\0' ? err : "unreadable", LOG_END);
		return -1;
	}
	tls_store_set(a->store, b);
	a->have_cert = 1;
	a->names_match = info.names_match;
	a->not_before = info.not_before;
	a->not_after = info.not_after;
	memcpy(a->cert_id, info.cert_id, sizeof(a->cert_id));
	a->ari_start = a->ari_end = a->ari_at = 0;
	a->ari_next_ms = 0; /* ask the CA about the new one */
	iso_time(info.not_before, nb, sizeof(nb));
	iso_time(info.not_after, na, sizeof(na));
	iso_time(info.not_after - (info.not_after - info.not_before) / 3, ra,
		 sizeof(ra));
	join_names(a->cfg, names, sizeof(names));
	log_event(LOG_LEVEL_INFO, event, "serial", info.serial, "names", names,
		  "not_before", nb, "not_after", na, "renew_after", ra,
		  "names_match", info.names_match ? "yes" : "no", LOG_END);
	return 0;
}

/* acme_profile against the profiles the directory announces: *out the
 * name to send, or NULL (none configured, or the CA announces none:
 * logged, the order goes without). -1: the CA does not offer it. */
static int choose_profile(struct acme *a, const char **out)
{
	const char *want = a->cfg->acme_profile;
	char offered[1024];
	size_t i, n = 0;

	*out = NULL;
	if (want == NULL)
		return 0;
	if (a->dir.n_profiles == 0) {
		log_event(LOG_LEVEL_WARN, "ACME_ORDER", "profile", want,
			  "status", "the CA announces no profiles", "action",
			  "ordering without a profile", LOG_END);
		return 0;
	}
	if (acme_directory_has_profile(&a->dir, want)) {
		*out = want;
		return 0;
	}
	offered[0] = '\0';
	for (i = 0; i < a->dir.n_profiles && n < sizeof(offered); i++)
		n += (size_t)snprintf(offered + n, sizeof(offered) - n, "%s%s",
				      i ? "," : "", a->dir.profiles[i]);
	log_event(LOG_LEVEL_ERROR, "ACME_ERROR", "step", "newOrder", "error",
		  "acme_profile is not offered by the CA", "profile", want,
		  "offered", offered, LOG_END);
	return -1;
}

static int issue(struct acme *a)
{
	static const char *const order_waiting[] = {"pending", "ready",
						    "processing", NULL};
	static const char *const ready_waiting[] = {"pending", NULL};
	struct acme_cert_info info;
	struct acme_resp r;
	struct acme_order ord;
	struct acme_cert_cache cc;
	gnutls_privkey_t ckey = NULL;
	gnutls_datum_t csr = {NULL, 0};
	char *payload = NULL, *csr64 = NULL, *order_url = NULL, *fin = NULL;
	char *key_pem = NULL, names[1024];
	size_t key_len = 0, i;
	int rc = -1, attempt, reregistered = 0;
	const char *profile = NULL, *replaces = NULL;

	memset(&r, 0, sizeof(r));
	memset(&ord, 0, sizeof(ord));
	memset(&cc, 0, sizeof(cc));
	memset(&info, 0, sizeof(info));
	info.names_match = 1;
	join_names(a->cfg, names, sizeof(names));
	if (fetch_directory(a, &r) != 0 || load_account(a) != 0)
		goto out;
	if (choose_profile(a, &profile) != 0)
		goto out;
	/* RFC 9773 §5: a renewal names the certificate it replaces (the CA
	 * then exempts it from rate limits). */
	if (a->have_cert && a->names_match && a->cert_id[0] != '\0' &&
	    a->dir.renewal_info != NULL)
		replaces = a->cert_id;
	payload = acme_order_payload(a->cfg->acme_domains,
				     a->cfg->n_acme_domains, profile, replaces);
	if (payload == NULL)
		goto out;
	/* A CA that forgot the account (a reset test CA, a deactivated
	 * account) gets one new registration with the same key; a refused
	 * "replaces" (the CA does not know that certificate) one order
	 * without it. */
	for (attempt = 0;; attempt++) {
		if (register_account(a, &r) != 0)
			goto out;
		if (apost(a, "newOrder", a->dir.new_order, payload, 1, NULL,
			  &r) != 0)
			goto out;
		if (r.status == 201)
			break;
		if (!reregistered &&
		    (acme_resp_is_problem(&r, "accountDoesNotExist") ||
		     acme_resp_is_problem(&r, "unauthorized"))) {
			log_event(LOG_LEVEL_WARN, "ACME_ACCOUNT", "status",
				  "unknown to the CA", "action", "re-register",
				  LOG_END);
			reregistered = 1;
			free(a->acct.url);
			a->acct.url = NULL;
			continue;
		}
		/* not for a rate limit or an outage: those wait for the
		 * backoff (and the CA's Retry-After) */
		if (replaces != NULL && attempt < 3 && r.status != 429 &&
		    r.status != 503 && (r.status == 409 || r.status == 500 ||
					(r.status >= 400 && r.status < 500))) {
			acme_report("newOrder", &r);
			log_event(LOG_LEVEL_WARN, "ACME_ORDER", "status",
				  "replaces refused", "replaces", replaces,
				  "action", "ordering without it", LOG_END);
			replaces = NULL;
			free(payload);
			payload = acme_order_payload(a->cfg->acme_domains,
						     a->cfg->n_acme_domains,
						     profile, NULL);
			if (payload == NULL)
				goto out;
			continue;
		}
		acme_report("newOrder", &r);
		goto out;
	}
	if (r.location[0] == '\0' ||
	    acme_parse_order(r.body, r.len, &ord) != 0 ||
	    (order_url = strdup(r.location)) == NULL) {
		acme_report("newOrder", &r);
		goto out;
	}
	log_event(LOG_LEVEL_INFO, "ACME_ORDER", "status", ord.status, "url",
		  order_url, "names", names, "profile",
		  profile != NULL ? profile : "-", "replaces",
		  replaces != NULL ? replaces : "-", LOG_END);
	for (i = 0; i < ord.n_authzs; i++)
		if (authorize(a, ord.authzs[i], &r) != 0)
			goto out;
	/* Finalize only an order the CA says is ready (RFC 8555 §7.4). */
	if (poll_until(a, "order", order_url, ready_waiting, &r, p_order, &ord,
		       c_order, s_order) != 0)
		goto out;
	if (strcmp(ord.status, "ready") != 0) {
		log_event(LOG_LEVEL_WARN, "ACME_ERROR", "step", "order",
			  "status", ord.status, "type", ord.error.type,
			  "detail", ord.error.detail, "error",
			  "not ready for finalization", LOG_END);
		goto out;
	}

	/* Finalize with a CSR for a fresh key: SANs exactly the names. */
	if (jws_key_generate_pem(&key_pem, &key_len) != 0 ||
	    jws_key_import_pem(key_pem, key_len, &ckey) != 0 ||
	    acme_csr_der(ckey, a->cfg->acme_domains, a->cfg->n_acme_domains,
			 &csr) != 0 ||
	    (csr64 = jws_b64url(csr.data, csr.size)) == NULL ||
	    (fin = strdup(ord.finalize)) == NULL) {
		log_event(LOG_LEVEL_ERROR, "ACME_ERROR", "step", "csr", "error",
			  "cannot make the key or CSR", LOG_END);
		goto out;
	}
	free(payload);
	payload = NULL;
	{
		json_t *pl = json_pack("{s:s}", "csr", csr64);

		payload = pl != NULL ? json_dumps(pl, JSON_COMPACT) : NULL;
		json_decref(pl);
	}
	if (payload == NULL ||
	    apost(a, "finalize", fin, payload, 1, NULL, &r) != 0)
		goto out;
	if (r.status != 200) {
		acme_report("finalize", &r);
		goto out;
	}
	log_event(LOG_LEVEL_INFO, "ACME_FINALIZE", "status", "submitted", "url",
		  order_url, LOG_END);
	if (poll_until(a, "order", order_url, order_waiting, &r, p_order, &ord,
		       c_order, s_order) != 0)
		goto out;
	if (strcmp(ord.status, "valid") != 0 || ord.certificate == NULL) {
		log_event(LOG_LEVEL_WARN, "ACME_ERROR", "step", "order",
			  "status", ord.status, "type", ord.error.type,
			  "detail", ord.error.detail, LOG_END);
		goto out;
	}
	if (apost(a, "certificate", ord.certificate, NULL, 1,
		  "Accept: application/pem-certificate-chain", &r) != 0)
		goto out;
	if (r.status != 200 || r.len == 0 || memchr(r.body, 0, r.len) != NULL) {
		acme_report("certificate", &r);
		goto out;
	}
	/* A certificate for other names than asked is not served: a CA that
	 * adds or drops a name is a failure, retried with backoff. */
	if (acme_cert_inspect(r.body, r.len, a->cfg->acme_domains,
			      a->cfg->n_acme_domains, &info) != 0 ||
	    !info.names_match) {
		log_event(LOG_LEVEL_WARN, "ACME_ERROR", "step", "certificate",
			  "error",
			  info.names_match ? "certificate unreadable"
					   : "names differ from acme_domains",
			  "action", "not installed", LOG_END);
		goto out;
	}
	if (install(a, r.body, r.len, key_pem, key_len, "ACME_CERT_ISSUED") !=
	    0)
		goto out;
	cc.directory = a->cfg->acme_directory;
	cc.names = a->cfg->acme_domains;
	cc.n_names = a->cfg->n_acme_domains;
	cc.chain = r.body;
	cc.chain_len = r.len;
	cc.key = key_pem;
	cc.key_len = key_len;
	/* A cache failure is logged; the certificate still serves. */
	(void)acme_store_save_cert(a->cfg->acme_cache_dir, &cc);
	rc = 0;
	/* Issued already due for renewal (a lifetime too short for our
	 * schedule, or a skewed clock): it serves, but ordering again at
	 * once would repeat forever, so it counts as a failure. */
	if (a->not_after - (a->not_after - a->not_before) / 3 <= time(NULL)) {
		log_event(LOG_LEVEL_WARN, "ACME_ERROR", "step", "certificate",
			  "error",
			  "already due for renewal when issued (lifetime too short or clock skew)",
			  LOG_END);
		rc = 1;
	}
out:
	if (key_pem != NULL) {
		explicit_bzero(key_pem, key_len);
		free(key_pem);
	}
	if (ckey != NULL)
		gnutls_privkey_deinit(ckey);
	gnutls_free(csr.data);
	free(csr64);
	free(payload);
	free(order_url);
	free(fin);
	acme_order_clear(&ord);
	acme_resp_reset(&r);
	free(r.body);
	return rc;
}

/* ---- behaviour over time ---- */

static time_t renew_at(const struct acme *a)
{
	return a->not_after - (a->not_after - a->not_before) / 3;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void iso_ms(int64_t ms, char *out, size_t outsz)
{
	iso_time((time_t)(ms / 1000), out, outsz);
}

static void save_state(struct acme *a)
{
	/* Logged by the store; the schedule still holds in memory. */
	(void)acme_store_save_state(a->cfg->acme_cache_dir, &a->st);
}

/* Milliseconds to wait before the next attempt, 0 = now: not before the
 * backoff's (or the CA's Retry-After) next attempt; with a certificate
 * for the names, not before it is due and not sooner than the minimum
 * interval after the last issuance. */
static long next_delay(struct acme *a)
{
	int64_t now = now_ms(), due;
	long ms;

	if (a->st.next_attempt_ms > now)
		due = a->st.next_attempt_ms;
	else if (!a->have_cert || !a->names_match)
		return 0;
	else {
		due = (int64_t)(a->ari_at != 0 ? a->ari_at : renew_at(a)) *
		      1000;
		if (a->st.last_issued_ms > 0 &&
		    a->st.last_issued_ms + a->min_interval_ms > due)
			due = a->st.last_issued_ms + a->min_interval_ms;
	}
	if (due <= now)
		return 0;
	atomic_store_explicit(&a->next_due_ms, due, memory_order_relaxed);
	/* wake for the next renewalInfo poll too */
	if (a->have_cert && a->names_match && a->cert_id[0] != '\0' &&
	    a->ari_next_ms < due)
		due = a->ari_next_ms > now ? a->ari_next_ms : now + 1;
	ms = due - now > (int64_t)LONG_MAX ? LONG_MAX : (long)(due - now);
	if (ms > a->check_ms) {
		long j = jitter(a->check_ms, 10);

		ms = j < ms ? j : ms;
	}
	return ms;
}

/* After a failed attempt: the next one after the backoff step, or later
 * if the CA said so; kept in state.json. */
/* The backoff step after the n-th failure in a row: base·2^(n-1), at
 * most the maximum, ±20%. */
static long backoff_step(const struct acme *a, unsigned n)
{
	long ms = a->backoff_base_ms;

	for (unsigned i = 1; i < n && ms < a->backoff_max_ms; i++)
		ms *= 2;
	if (ms > a->backoff_max_ms)
		ms = a->backoff_max_ms;
	return jitter(ms, 20);
}

static void schedule_retry(struct acme *a)
{
	long ms;
	char s[24], f[16], ra[24];

	a->st.failures++;
	ms = backoff_step(a, a->st.failures);
	snprintf(ra, sizeof(ra), "-");
	if (a->ca_retry_ms >= 0) {
		snprintf(ra, sizeof(ra), "%ld", a->ca_retry_ms);
		if (a->ca_retry_ms > ms)
			ms = a->ca_retry_ms;
	}
	a->st.next_attempt_ms = now_ms() + ms;
	save_state(a);
	snprintf(s, sizeof(s), "%ld", ms);
	snprintf(f, sizeof(f), "%u", a->st.failures);
	log_event(LOG_LEVEL_WARN, "ACME_RETRY", "in_ms", s, "failures", f,
		  "retry_after_ms", ra, "serving",
		  a->have_cert ? "previous certificate" : "nothing", LOG_END);
}

/* A uniform random time in [start, end] (RFC 9773 §4.2). */
static time_t pick_in(time_t start, time_t end)
{
	uint32_t r = 0;

	if (gnutls_rnd(GNUTLS_RND_NONCE, &r, sizeof(r)) < 0)
		r = (uint32_t)time(NULL);
	return start + (time_t)((double)(end - start) * ((double)r / 4294967295.0));
}

/* Ask the CA's renewalInfo when the served certificate should be renewed
 * (RFC 9773). Sets ari_at (0: no answer, the third-of-lifetime rule
 * applies) and when to ask again (the answer's Retry-After). */
static void ari_check(struct acme *a)
{
	struct acme_resp r;
	char url[ACME_MSG_MAX_URL + ACME_CERT_ID_SIZE + 2], s1[32], s2[32],
		s3[32];
	time_t start, end, latest;
	long next = ARI_POLL_MS;

	memset(&r, 0, sizeof(r));
	r.retry_after_ms = -1;
	if ((a->dir.new_nonce == NULL && fetch_directory(a, &r) != 0) ||
	    a->dir.renewal_info == NULL) {
		/* no ARI at this CA: ask again after a check interval */
		a->ari_next_ms = now_ms() + a->check_ms;
		goto out;
	}
	snprintf(url, sizeof(url), "%s/%s", a->dir.renewal_info, a->cert_id);
	acme_resp_reset(&r);
	if (acme_http_do(&a->conn, "renewalInfo", url, NULL, 0, NULL, &r) !=
		    0 ||
	    r.status != 200 ||
	    acme_parse_renewal_info(r.body, r.len, &start, &end) != 0) {
		if (r.status != 0)
			acme_report("renewalInfo", &r);
		a->ari_next_ms = now_ms() + a->check_ms;
		goto out;
	}
	if (r.retry_after_ms >= 0)
		next = r.retry_after_ms;
	if (next < ARI_POLL_MIN_MS)
		next = ARI_POLL_MIN_MS;
	if (next > RETRY_AFTER_MAX_MS)
		next = RETRY_AFTER_MAX_MS;
	a->ari_next_ms = now_ms() + next;
	if (start == a->ari_start && end == a->ari_end && a->ari_at != 0)
		goto out; /* the same window: keep the time chosen in it */
	a->ari_start = start;
	a->ari_end = end;
	a->ari_at = pick_in(start, end);
	/* Never let a window that reaches past the certificate's end make
	 * it expire: renew with a sixth of its lifetime left at the latest. */
	latest = a->not_after - (a->not_after - a->not_before) / 6;
	if (a->ari_at > latest)
		a->ari_at = latest;
	iso_time(start, s1, sizeof(s1));
	iso_time(end, s2, sizeof(s2));
	iso_time(a->ari_at, s3, sizeof(s3));
	log_event(LOG_LEVEL_INFO, "ACME_ARI", "cert_id", a->cert_id,
		  "window_start", s1, "window_end", s2, "renew_at", s3, LOG_END);
out:
	free(r.body);
}

/* acme_sync() was called since the last look (and is now cleared). */
static int take_sync_req(struct acme *a)
{
	int r;

	pthread_mutex_lock(&a->mu);
	r = a->sync_req;
	a->sync_req = 0;
	pthread_mutex_unlock(&a->mu);
	return r;
}

/* If certificate.json changed since we last looked (or force), serve the
 * certificate in it when it is for this directory and these names, still
 * valid, and newer than the one served: another instance sharing the
 * directory ordered it. The file is only read, never set aside (it may be
 * a newer version's, or be replaced that moment). The version seen is
 * remembered only once it was decided on — a read or an install that
 * failed is tried again at the next look. */
static void sync_cache(struct acme *a, int force)
{
	struct acme_cert_cache cc;
	struct acme_cert_info info;
	struct acme_stamp st;
	int rc;

	if (acme_store_cert_stamp(a->cfg->acme_cache_dir, &st) != 0)
		return;
	if (!force && memcmp(&st, &a->cert_stamp, sizeof(st)) == 0)
		return;
	memset(&cc, 0, sizeof(cc));
	rc = acme_store_peek_cert(a->cfg->acme_cache_dir, &cc);
	if (rc < 0)
		return;
	if (rc == 1 && cc.directory != NULL &&
	    strcmp(cc.directory, a->cfg->acme_directory) == 0) {
		if (acme_cert_inspect(cc.chain, cc.chain_len,
				      a->cfg->acme_domains,
				      a->cfg->n_acme_domains, &info) != 0) {
			acme_cert_cache_clear(&cc);
			return;
		}
		if (info.names_match && info.not_after > time(NULL) &&
		    (!a->have_cert || !a->names_match ||
		     info.not_after > a->not_after) &&
		    install(a, cc.chain, cc.chain_len, cc.key, cc.key_len,
			    "ACME_CERT_SYNCED") != 0) {
			acme_cert_cache_clear(&cc);
			return;
		}
	}
	a->cert_stamp = st;
	acme_cert_cache_clear(&cc);
}

/* The limits load_state puts on a saved schedule, so a clock that was
 * ahead when it was written (here or on another instance) cannot stall
 * the client. */
static void clamp_state(struct acme *a)
{
	int64_t now = now_ms(), cap = a->backoff_max_ms > RETRY_AFTER_MAX_MS
					      ? a->backoff_max_ms
					      : RETRY_AFTER_MAX_MS;

	if (a->st.next_attempt_ms > now + cap)
		a->st.next_attempt_ms = now + cap;
	if (a->st.last_issued_ms > now)
		a->st.last_issued_ms = now;
}

/* Under the issuance lock: the schedule as the last holder left it. */
static void sync_state(struct acme *a)
{
	struct acme_state st;

	memset(&st, 0, sizeof(st));
	if (acme_store_load_state(a->cfg->acme_cache_dir, &st) == 1 &&
	    st.key != NULL && strcmp(st.key, a->state_key) == 0) {
		acme_state_clear(&a->st);
		a->st = st;
		clamp_state(a);
		return;
	}
	acme_state_clear(&st);
}

/* Take the cache directory's issuance lock for an attempt. Returns the
 * descriptor (>= 0); -2 to go on without it, where the file system has no
 * locks to give (logged); -1 to wait and try again: another instance holds
 * it (logged once per wait), or it could not be taken for now (logged). */
static int take_lock(struct acme *a)
{
	char holder[200];
	int fd = acme_store_lock(a->cfg->acme_cache_dir, holder,
				 sizeof(holder));
	int err = errno;

	if (fd == -1) {
		if (!a->lock_busy_logged)
			log_event(LOG_LEVEL_INFO, "ACME_LOCK", "status",
				  "busy", "holder",
				  holder[0] != '\0' ? holder : "-", "action",
				  "waiting for its certificate", LOG_END);
		a->lock_busy_logged = 1;
		return -1;
	}
	if (fd == -2) {
		int unsupported = err == ENOLCK || err == EOPNOTSUPP ||
				  err == ENOSYS || err == EINVAL;

		log_event(LOG_LEVEL_WARN, "ACME_LOCK", "status", "error",
			  "error", strerror(err), "action",
			  unsupported ? "ordering without it" : "retrying",
			  LOG_END);
		return unsupported ? -2 : -1;
	}
	a->lock_busy_logged = 0;
	return fd;
}

static void *acme_main(void *arg)
{
	struct acme *a = arg;

	for (;;) {
		long ms;
		int rc, ari_early, lock;

		sync_cache(a, take_sync_req(a));
		tls_store_check_expiry(a->store, time(NULL));
		if (a->have_cert && a->names_match && a->cert_id[0] != '\0' &&
		    now_ms() >= a->ari_next_ms)
			ari_check(a);
		if (atomic_load(&a->stopping))
			break;
		ms = next_delay(a);
		if (ms > a->sync_ms)
			ms = a->sync_ms;
		if (ms > 0) {
			a->lock_busy_logged = 0; /* a next busy wait is told */
			if (wait_ms(a, ms, 1))
				break;
			continue; /* re-check: the clock may have moved */
		}
		lock = take_lock(a);
		if (lock == -1) {
			if (wait_ms(a,
				    a->sync_ms < LOCK_RETRY_MS ? a->sync_ms
							       : LOCK_RETRY_MS,
				    1))
				break;
			continue;
		}
		/* The last holder may have ordered, or be backing off: look
		 * at both files whatever was seen of them before. */
		sync_state(a);
		sync_cache(a, 1);
		if (next_delay(a) > 0) {
			acme_store_unlock(lock);
			continue;
		}
		if (a->have_cert) {
			char na[32];

			iso_time(a->not_after, na, sizeof(na));
			log_event(LOG_LEVEL_INFO, "ACME_RENEW", "reason",
				  !a->names_match ? "names changed"
				  : a->ari_at != 0 ? "ari window"
						   : "due",
				  "not_after", na, LOG_END);
		}
		a->ca_retry_ms = -1;
		/* The attempt is on disk as the failure it becomes unless it
		 * succeeds: a kill or crash during it must not make the next
		 * start order at once. */
		{
			struct acme_state pre = a->st;

			pre.failures = a->st.failures + 1;
			pre.next_attempt_ms =
				now_ms() + backoff_step(a, pre.failures);
			(void)acme_store_save_state(a->cfg->acme_cache_dir,
						    &pre);
		}
		/* ARI asking for a renewal of a certificate we have only just
		 * received (a window in the past: a skewed clock, a CA bug)
		 * would renew at every minimum interval: the renewal happens,
		 * but counts as a failure, so the backoff spaces them out. */
		ari_early = a->have_cert && a->names_match && a->ari_at != 0 &&
			    a->ari_at <= time(NULL) &&
			    a->st.last_issued_ms > 0 &&
			    now_ms() - a->st.last_issued_ms <
				    2 * (int64_t)a->min_interval_ms;
		atomic_store_explicit(&a->next_due_ms, 0, memory_order_relaxed);
		rc = issue(a);
		if (rc >= 0)
			a->st.last_issued_ms = now_ms();
		if (rc >= 0 || !atomic_load(&a->stopping))
			atomic_fetch_add_explicit(rc >= 0 ? &a->n_issued
							  : &a->n_failed,
						  1, memory_order_relaxed);
		if (rc == 0 && ari_early) {
			log_event(LOG_LEVEL_WARN, "ACME_ARI", "status",
				  "window already past soon after issuance",
				  "action", "backoff", LOG_END);
			rc = 1;
		}
		if (rc == 0) {
			a->st.failures = 0;
			a->st.next_attempt_ms = 0;
			save_state(a);
			acme_store_unlock(lock);
			continue;
		}
		if (atomic_load(&a->stopping)) {
			acme_store_unlock(lock);
			break;
		}
		schedule_retry(a);
		acme_store_unlock(lock);
	}
	return NULL;
}

/* The schedule saved by an earlier run, if it was for this directory and
 * these names (otherwise it starts afresh). */
static int load_state(struct acme *a)
{
	char names[1024], na[32];
	size_t n;

	join_names(a->cfg, names, sizeof(names));
	n = strlen(a->cfg->acme_directory) + strlen(names) + 2;
	a->state_key = malloc(n);
	if (a->state_key == NULL)
		return -1;
	snprintf(a->state_key, n, "%s %s", a->cfg->acme_directory, names);
	if (acme_store_load_state(a->cfg->acme_cache_dir, &a->st) != 1 ||
	    strcmp(a->st.key, a->state_key) != 0) {
		acme_state_clear(&a->st);
		a->st.key = strdup(a->state_key);
		return a->st.key == NULL ? -1 : 0;
	}
	/* A clock that was ahead when the file was written must not stall
	 * the client: no next attempt beyond the longest wait we would
	 * choose, no issuance in the future. */
	clamp_state(a);
	if (a->st.next_attempt_ms > now_ms()) {
		char f[16];

		iso_ms(a->st.next_attempt_ms, na, sizeof(na));
		snprintf(f, sizeof(f), "%u", a->st.failures);
		log_event(LOG_LEVEL_INFO, "ACME_CACHE", "status", "backoff",
			  "failures", f, "next_attempt", na, LOG_END);
	}
	return 0;
}

/* Serve the cached certificate if it is still valid. */
static void load_cache(struct acme *a)
{
	struct acme_cert_cache cc;
	struct acme_cert_info info;
	const char *why = NULL;
	int rc;

	(void)acme_store_cert_stamp(a->cfg->acme_cache_dir, &a->cert_stamp);
	rc = acme_store_load_cert(a->cfg->acme_cache_dir, &cc);
	if (rc != 1) {
		log_event(LOG_LEVEL_INFO, "ACME_CACHE", "status",
			  rc == 0 ? "empty" : "unreadable", LOG_END);
		return;
	}
	if (acme_cert_inspect(cc.chain, cc.chain_len, a->cfg->acme_domains,
			      a->cfg->n_acme_domains, &info) != 0)
		why = "certificate unreadable";
	else if (info.not_after <= time(NULL))
		why = "expired";
	if (why == NULL && install(a, cc.chain, cc.chain_len, cc.key,
				   cc.key_len, "ACME_CERT_LOADED") != 0)
		why = "certificate or key unusable";
	if (why == NULL && a->names_match &&
	    (cc.directory == NULL ||
	     strcmp(cc.directory, a->cfg->acme_directory) != 0)) {
		/* e.g. a staging certificate after switching to production:
		 * it serves until the new one is issued, which is ordered
		 * now rather than at renewal time. */
		a->names_match = 0;
		log_event(LOG_LEVEL_INFO, "ACME_CACHE", "status",
			  "other directory", "action", "ordering", LOG_END);
	} else if (why != NULL)
		log_event(LOG_LEVEL_WARN, "ACME_CACHE", "status", "ignored",
			  "reason", why, LOG_END);
	else if (!a->names_match)
		log_event(LOG_LEVEL_INFO, "ACME_CACHE", "status",
			  "names changed", "action", "ordering", LOG_END);
	acme_cert_cache_clear(&cc);
}

/* The external account binding MAC key, base64url in its file. */
static int load_eab_key(struct acme *a, char *err, size_t errsz)
{
	const char *path = a->cfg->acme_eab_hmac_key_file;
	char buf[4096]; /* what --validate reads too */
	size_t n = 0;
	long k = -1;
	FILE *f = fopen(path, "re");

	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf), f);
		if (ferror(f) || !feof(f))
			n = 0;
		fclose(f);
	}
	if (n > 0)
		k = jws_hmac_key_read(buf, n, a->eab_key, sizeof(a->eab_key));
	explicit_bzero(buf, sizeof(buf));
	if (k < 16) {
		snprintf(err, errsz,
			 "acme_eab_hmac_key_file %s: %s", path,
			 f == NULL ? strerror(errno)
				   : "not a base64url key of at least 16 bytes");
		return -1;
	}
	a->eab_len = (size_t)k;
	return 0;
}

int acme_start(const struct config *cfg, struct tls_store *store,
	       struct challenge_map *map, struct acme **out, char *err,
	       size_t errsz)
{
	pthread_condattr_t ca;
	struct acme *a;
	char names[1024];
	const char *why = "";

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	a->cfg = cfg;
	a->store = store;
	a->map = map;
	pthread_mutex_init(&a->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&a->stopping, 0);
	atomic_init(&a->n_issued, 0);
	atomic_init(&a->n_failed, 0);
	atomic_init(&a->next_due_ms, 0);
	a->backoff_base_ms =
		env_ms("ALKPROXY_ACME_BACKOFF_BASE_MS", BACKOFF_BASE_MS);
	a->backoff_max_ms =
		env_ms("ALKPROXY_ACME_BACKOFF_MAX_MS", BACKOFF_MAX_MS);
	a->check_ms =
		env_ms("ALKPROXY_ACME_CHECK_INTERVAL_MS", CHECK_INTERVAL_MS);
	a->min_interval_ms =
		env_ms("ALKPROXY_ACME_MIN_INTERVAL_MS", MIN_INTERVAL_MS);
	a->sync_ms = env_ms("ALKPROXY_ACME_SYNC_INTERVAL_MS", SYNC_INTERVAL_MS);
	a->ca_retry_ms = -1;
	a->conn.stopping = &a->stopping;
	a->conn.ca_file = cfg->acme_ca_file;
	a->conn.curl = curl_easy_init();
	if (a->conn.curl == NULL) {
		snprintf(err, errsz, "cannot create the ACME HTTP client");
		goto fail;
	}
	/* A cache directory another user owns (or one that stays writable
	 * by others) could swap our keys: refuse to start rather than
	 * trust it; temporary files an interrupted write left go now. */
	if (acme_store_ensure_dir(cfg->acme_cache_dir, &why) != 0) {
		snprintf(err, errsz, "acme_cache_dir %s: %s (%s)",
			 cfg->acme_cache_dir, why, strerror(errno));
		goto fail;
	}
	join_names(cfg, names, sizeof(names));
	log_event(LOG_LEVEL_INFO, "ACME_START", "directory",
		  cfg->acme_directory, "names", names, "cache",
		  cfg->acme_cache_dir, LOG_END);
	if (cfg->acme_eab_hmac_key_file != NULL &&
	    load_eab_key(a, err, errsz) != 0)
		goto fail;
	if (load_state(a) != 0) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	/* http-01 answers where any instance sharing the directory can
	 * give them: the CA's request may reach another one */
	if (cfg->acme_challenge == CONFIG_ACME_HTTP01 &&
	    challenge_map_share(map, cfg->acme_cache_dir) != 0)
		log_event(LOG_LEVEL_WARN, "ACME_CACHE", "status",
			  "cannot share http-01 answers", "error",
			  strerror(errno), LOG_END);
	load_cache(a);
	if (thread_start(&a->thread, acme_main, a) != 0) {
		snprintf(err, errsz, "cannot start the ACME thread");
		goto fail;
	}
	a->started = 1;
	*out = a;
	return 0;
fail:
	acme_stop(a);
	return -1;
}

void acme_stop(struct acme *a)
{
	if (a == NULL)
		return;
	atomic_store(&a->stopping, 1);
	pthread_mutex_lock(&a->mu);
	a->stop_req = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	if (a->started)
		pthread_join(a->thread, NULL);
	if (a->conn.curl != NULL)
		curl_easy_cleanup(a->conn.curl);
	acme_directory_clear(&a->dir);
	acme_account_clear(&a->acct);
	acme_state_clear(&a->st);
	free(a->state_key);
	if (a->acct_key != NULL)
		gnutls_privkey_deinit(a->acct_key);
	explicit_bzero(a->conn.nonce, sizeof(a->conn.nonce));
	explicit_bzero(a->eab_key, sizeof(a->eab_key));
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

void acme_sync(struct acme *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	a->sync_req = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

void acme_numbers(struct acme *a, uint64_t *issued, uint64_t *failed,
		  time_t *next)
{
	int64_t due = atomic_load_explicit(&a->next_due_ms, memory_order_relaxed);

	*issued = atomic_load_explicit(&a->n_issued, memory_order_relaxed);
	*failed = atomic_load_explicit(&a->n_failed, memory_order_relaxed);
	*next = (time_t)(due / 1000);
}
