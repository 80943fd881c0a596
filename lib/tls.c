/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * tls: certificate bundles and the SNI store (SPEC F5), the tls-alpn-01
 * validation certificates (RFC 8737) and the CERT_EXPIRY check.
 * Threads: a bundle's certificates are immutable after load, except each
 * one's expiry_step, written under the store's mutex by whoever runs
 * tls_store_check_expiry (certwatch, ACME or main thread). A store's
 * current and challenge pointers are swapped under its mutex by the main
 * or ACME thread and read by MHD workers in the GnuTLS callbacks; the
 * process-wide registry (stores by port) is under registry_mu and the
 * alpn_challenges counter is atomic (workers read it per handshake).
 * Replaced bundles are retired and freed only after a grace period
 * (tls_store_set_grace) that outlasts any handshake that can still hold
 * the old certificate, or when the store is freed (after the daemon
 * stopped; a stopped server's store leaves the registry first).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "certpair.h"
#include "log.h"
#include "tls.h"
#include "tls_hello.h"

const char tls_priorities[] =
	"NONE:+VERS-TLS1.3:+VERS-TLS1.2:+ECDHE-ECDSA:+ECDHE-RSA:"
	"+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:+AEAD:"
	"+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"
	"+SIGN-ECDSA-SECP256R1-SHA256:+SIGN-ECDSA-SECP384R1-SHA384:"
	"+SIGN-ECDSA-SECP521R1-SHA512:+SIGN-ECDSA-SHA256:+SIGN-ECDSA-SHA384:"
	"+SIGN-ECDSA-SHA512:+SIGN-RSA-PSS-RSAE-SHA256:"
	"+SIGN-RSA-PSS-RSAE-SHA384:+SIGN-RSA-PSS-RSAE-SHA512:"
	"+SIGN-RSA-SHA256:+SIGN-RSA-SHA384:+SIGN-RSA-SHA512:"
	"+SIGN-EdDSA-Ed25519:+COMP-NULL:+CTYPE-SRV-X509";

/* GnuTLS's session ticket master key: 64 bytes (name, cipher, MAC). */
#define TICKET_KEY_SIZE 64

struct tls_cert {
	struct certpair pair; /* chain, key, names (certpair.c) */
	/* the last CERT_EXPIRY step logged for it (under the store's mutex;
	 * see tls_store_check_expiry) */
	int expiry_step;
	/* This certificate's session ticket key (tls_store_set derives it
	 * when the store has tickets on), so a ticket resumes only under a
	 * name the certificate the client saw covers. */
	int has_ticket_key;
	unsigned char ticket_key[TICKET_KEY_SIZE];
};

struct tls_bundle {
	struct tls_cert *certs;
	size_t n_certs;
	struct tls_bundle *retired_next;
	long retired_ms; /* CLOCK_MONOTONIC when replaced */
};

struct tls_store {
	pthread_mutex_t mu;
	struct tls_bundle *cur;
	/* tls-alpn-01 validation certificates (RFC 8737), served only to
	 * a handshake that negotiated ALPN acme-tls/1; NULL when no
	 * validation is under way */
	struct tls_bundle *challenge;
	struct tls_bundle *retired; /* newest first */
	unsigned grace_secs;
	unsigned port;
	/* Session ticket master key (RFC 5077 / RFC 8446 §4.6.1), made at
	 * start, in memory only; {NULL, 0} = tickets off. Each certificate's
	 * ticket key is derived from it (derive_ticket_keys). Set before the
	 * listener starts and never changed, so read without the lock. */
	gnutls_datum_t ticket_key;
	struct tls_store *next;
};

static const struct tls_cert *bundle_find(const struct tls_bundle *b,
					  const char *host);

/* Handshake counters for /metrics (tls.h): process-wide, relaxed atomic
 * adds on the handshake path only. */
static _Atomic uint64_t tls_counts[TLS_COUNT_N];

static void count(enum tls_count c)
{
	atomic_fetch_add_explicit(&tls_counts[c], 1, memory_order_relaxed);
}

void tls_counters(uint64_t out[TLS_COUNT_N])
{
	unsigned i;

	for (i = 0; i < TLS_COUNT_N; i++)
		out[i] = atomic_load_explicit(&tls_counts[i],
					      memory_order_relaxed);
}

const char *tls_count_reason(enum tls_count c)
{
	switch (c) {
	case TLS_FAIL_NO_SNI: return "no_sni";
	case TLS_FAIL_UNKNOWN_NAME: return "unknown_name";
	case TLS_FAIL_NO_VERSION: return "no_common_version";
	case TLS_FAIL_NO_CIPHER: return "no_common_cipher";
	case TLS_FAIL_NO_GROUP: return "no_common_group";
	default: return "-";
	}
}

/* Registry of stores by local port: the GnuTLS callback carries no user
 * pointer, so the listener is found from the connection's socket. */
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tls_store *registry;

/* Stores with a tls-alpn-01 certificate set: while 0 (nearly always),
 * handshakes offer only libmicrohttpd's http/1.1 and http/1.0. */
static atomic_int alpn_challenges;

#define ACME_TLS_ALPN "acme-tls/1"

static void cert_clear(struct tls_cert *c)
{
	certpair_clear(&c->pair);
	gnutls_memset(c->ticket_key, 0, sizeof(c->ticket_key));
	c->has_ticket_key = 0;
}

void tls_bundle_free(struct tls_bundle *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n_certs; i++)
		cert_clear(&b->certs[i]);
	free(b->certs);
	free(b);
}

size_t tls_bundle_names(const struct tls_bundle *b)
{
	size_t i, n = 0;

	for (i = 0; b != NULL && i < b->n_certs; i++)
		n += b->certs[i].pair.n_names;
	return n;
}

static int cert_load_mem(struct tls_cert *c, const char *cert,
			 size_t cert_len, const char *key, size_t key_len,
			 char *err, size_t errsz)
{
	return certpair_from_pem(&c->pair, cert, cert_len, key, key_len, err,
				 errsz) == CERTPAIR_OK
		       ? 0
		       : -1;
}

int tls_bundle_from_pem(const char *cert_pem, size_t cert_len,
			const char *key_pem, size_t key_len,
			struct tls_bundle **out, char *err, size_t errsz)
{
	struct tls_bundle *b;

	*out = NULL;
	b = calloc(1, sizeof(*b));
	if (b == NULL || (b->certs = calloc(1, sizeof(*b->certs))) == NULL) {
		free(b);
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	b->n_certs = 1;
	if (cert_load_mem(&b->certs[0], cert_pem, cert_len, key_pem, key_len,
			  err, errsz) != 0) {
		tls_bundle_free(b);
		return -1;
	}
	*out = b;
	return 0;
}

int tls_bundle_load(const struct config *cfg, struct tls_bundle **out,
		    char *err, size_t errsz)
{
	struct tls_bundle *b;
	size_t i;

	*out = NULL;
	b = calloc(1, sizeof(*b));
	if (b == NULL ||
	    (b->certs = calloc(cfg->n_certs ? cfg->n_certs : 1,
			       sizeof(*b->certs))) == NULL) {
		free(b);
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	for (i = 0; i < cfg->n_certs; i++) {
		const struct config_cert *cc = &cfg->certs[i];
		gnutls_datum_t cd = {NULL, 0}, kd = {NULL, 0};
		char why[200];
		int r;

		b->n_certs = i + 1;
		if (gnutls_load_file(cc->cert_path, &cd) < 0) {
			snprintf(err, errsz, "%s: cannot read", cc->cert_path);
			goto fail;
		}
		if (gnutls_load_file(cc->key_path, &kd) < 0) {
			gnutls_free(cd.data);
			snprintf(err, errsz, "%s: cannot read", cc->key_path);
			goto fail;
		}
		why[0] = '\0';
		r = cert_load_mem(&b->certs[i], (const char *)cd.data, cd.size,
				  (const char *)kd.data, kd.size, why,
				  sizeof(why));
		gnutls_memset(kd.data, 0, kd.size);
		gnutls_free(kd.data);
		gnutls_free(cd.data);
		if (r != 0) {
			snprintf(err, errsz, "%s: %s", cc->cert_path, why);
			goto fail;
		}
	}
	*out = b;
	return 0;
fail:
	tls_bundle_free(b);
	return -1;
}

struct tls_store *tls_store_new(void)
{
	struct tls_store *s = calloc(1, sizeof(*s));

	if (s != NULL) {
		pthread_mutex_init(&s->mu, NULL);
		/* the longest possible head deadline, until told better */
		s->grace_secs = TLS_STORE_DEFAULT_GRACE_SECS;
	}
	return s;
}

/* Take s out of the registry (caller holds registry_mu). */
static void unlink_locked(struct tls_store *s)
{
	struct tls_store **pp;

	for (pp = &registry; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	s->next = NULL;
}

void tls_store_register(struct tls_store *s, unsigned local_port)
{
	pthread_mutex_lock(&registry_mu);
	/* at the head: the newest listener on a port wins, and a restarted
	 * server's store is listed once */
	unlink_locked(s);
	s->port = local_port;
	s->next = registry;
	registry = s;
	pthread_mutex_unlock(&registry_mu);
}

void tls_store_unregister(struct tls_store *s)
{
	pthread_mutex_lock(&registry_mu);
	unlink_locked(s);
	s->port = 0;
	pthread_mutex_unlock(&registry_mu);
}

static long tls_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void tls_store_set_grace(struct tls_store *s, unsigned grace_secs)
{
	pthread_mutex_lock(&s->mu);
	s->grace_secs = grace_secs;
	pthread_mutex_unlock(&s->mu);
}

/* Each certificate's ticket key: HMAC-SHA-512 of its leaf (DER) under the
 * store's master key. Tickets issued under one certificate do not decrypt
 * under another's key, so a ticket offered with a name of a different
 * certificate falls back to a full handshake (RFC 8446 §4.2.11 lets a
 * client resume only under names the original certificate covers; GnuTLS
 * 3.7 does not compare names for TLS 1.3). The same certificate re-read
 * on SIGHUP gets the same key, so its tickets survive the reload. */
static void derive_ticket_keys(const struct tls_store *s, struct tls_bundle *b)
{
	size_t i;

	for (i = 0; b != NULL && i < b->n_certs; i++) {
		struct tls_cert *c = &b->certs[i];

		c->has_ticket_key =
			s->ticket_key.data != NULL && c->pair.n_pcerts > 0 &&
			gnutls_hmac_get_len(GNUTLS_MAC_SHA512) ==
				TICKET_KEY_SIZE &&
			gnutls_hmac_fast(GNUTLS_MAC_SHA512, s->ticket_key.data,
					 s->ticket_key.size,
					 c->pair.pcerts[0].cert.data,
					 c->pair.pcerts[0].cert.size,
					 c->ticket_key) == 0;
	}
}

/* Put *slot's bundle on the retired list, install b, and cut the list
 * after the last bundle still in its grace period (newest first). Under
 * s->mu; returns the bundles to free (after unlocking). */
static struct tls_bundle *swap_locked(struct tls_store *s,
				      struct tls_bundle **slot,
				      struct tls_bundle *b, long now)
{
	struct tls_bundle **pp, *old = NULL;

	if (*slot != NULL) {
		(*slot)->retired_ms = now;
		(*slot)->retired_next = s->retired;
		s->retired = *slot;
	}
	*slot = b;
	for (pp = &s->retired; *pp != NULL; pp = &(*pp)->retired_next) {
		if (now - (*pp)->retired_ms >= 1000L * (long)s->grace_secs) {
			old = *pp;
			*pp = NULL;
			break;
		}
	}
	return old;
}

static void free_chain(struct tls_bundle *old)
{
	while (old != NULL) {
		struct tls_bundle *n = old->retired_next;

		tls_bundle_free(old);
		old = n;
	}
}

void tls_store_set(struct tls_store *s, struct tls_bundle *b)
{
	struct tls_bundle *old;
	long now = tls_mono_ms();

	derive_ticket_keys(s, b);
	pthread_mutex_lock(&s->mu);
	old = swap_locked(s, &s->cur, b, now);
	pthread_mutex_unlock(&s->mu);
	free_chain(old);
}

void tls_store_set_challenge(struct tls_store *s, struct tls_bundle *b)
{
	struct tls_bundle *old;
	int had, has = b != NULL;

	pthread_mutex_lock(&s->mu);
	had = s->challenge != NULL;
	old = swap_locked(s, &s->challenge, b, tls_mono_ms());
	pthread_mutex_unlock(&s->mu);
	if (has && !had)
		atomic_fetch_add(&alpn_challenges, 1);
	else if (had && !has)
		atomic_fetch_sub(&alpn_challenges, 1);
	free_chain(old);
}

/* The CERT_EXPIRY step a certificate is in: 0 none, 1..3 the 14/7/3-day
 * warnings (those shorter than a third of its lifetime: a certificate
 * renewed at a third left never reaches them; one of under nine days gets
 * a single warning at a sixth of its lifetime instead), 4 expired.
 * *days: the threshold crossed, in days (0 for the sixth). */
static int expiry_step(time_t nb, time_t na, time_t now, int *days)
{
	static const int thresholds[] = {14, 7, 3};
	time_t life = na > nb ? na - nb : 0, left = na - now;
	int step = 0, any = 0;
	unsigned i;

	*days = 0;
	if (na == (time_t)-1 || nb == (time_t)-1)
		return 0; /* dates unreadable (or past 2038 on 32 bits) */
	if (left <= 0)
		return 4;
	for (i = 0; i < 3; i++) {
		time_t t = (time_t)thresholds[i] * 86400;

		if (t > life / 3)
			continue;
		any = 1;
		if (left <= t) {
			step = (int)i + 1;
			*days = thresholds[i];
		}
	}
	if (!any && left <= life / 6)
		step = 3;
	return step;
}

void tls_store_check_expiry(struct tls_store *s, time_t now)
{
	struct {
		time_t not_after;
		int step, days;
		char names[200];
	} due[8];
	size_t n = 0, i, j;

	pthread_mutex_lock(&s->mu);
	for (i = 0; s->cur != NULL && i < s->cur->n_certs; i++) {
		struct tls_cert *c = &s->cur->certs[i];
		int days, step = expiry_step(c->pair.not_before,
					     c->pair.not_after, now, &days);
		size_t k = 0;

		if (step <= c->expiry_step)
			continue;
		if (n == sizeof(due) / sizeof(due[0]))
			break; /* the rest at the next check */
		c->expiry_step = step;
		due[n].not_after = c->pair.not_after;
		due[n].step = step;
		due[n].days = days;
		due[n].names[0] = '\0';
		for (j = 0; j < c->pair.n_names && k < sizeof(due[n].names);
		     j++)
			k += (size_t)snprintf(due[n].names + k,
					      sizeof(due[n].names) - k, "%s%s",
					      j ? "," : "", c->pair.names[j]);
		n++;
	}
	pthread_mutex_unlock(&s->mu);
	for (i = 0; i < n; i++) {
		char na[32], left[24], th[16];
		struct tm tm;

		if (gmtime_r(&due[i].not_after, &tm) == NULL ||
		    strftime(na, sizeof(na), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			snprintf(na, sizeof(na), "-");
		snprintf(left, sizeof(left), "%.1f",
			 (double)(due[i].not_after - now) / 86400.0);
		snprintf(th, sizeof(th), "%d", due[i].days);
		if (due[i].step == 4)
			log_event(LOG_LEVEL_ERROR, "CERT_EXPIRY", "status",
				  "expired", "names", due[i].names,
				  "not_after", na, LOG_END);
		else
			log_event(LOG_LEVEL_WARN, "CERT_EXPIRY", "status",
				  "expiring", "names", due[i].names,
				  "not_after", na, "days_left", left,
				  "threshold_days",
				  due[i].days ? th : "sixth of lifetime",
				  LOG_END);
	}
}

size_t tls_store_list(struct tls_store *s, struct tls_cert_info *out,
		      size_t max)
{
	size_t i, n = 0;

	pthread_mutex_lock(&s->mu);
	for (i = 0; s->cur != NULL && i < s->cur->n_certs && n < max; i++) {
		const struct certpair *p = &s->cur->certs[i].pair;

		snprintf(out[n].name, sizeof(out[n].name), "%s",
			 p->n_names > 0 ? p->names[0] : "-");
		out[n].not_after = p->not_after;
		n++;
	}
	pthread_mutex_unlock(&s->mu);
	return n;
}

int tls_store_covers(struct tls_store *s, char *const *names, size_t n,
		     time_t now)
{
	size_t i, k;
	int all = 1;

	pthread_mutex_lock(&s->mu);
	if (s->cur == NULL || s->cur->n_certs == 0)
		all = 0;
	for (i = 0; all && i < n; i++) {
		const struct tls_cert *c = bundle_find(s->cur, names[i]);

		all = c != NULL && c->pair.not_after > now &&
		      c->pair.not_before <= now;
	}
	/* manual mode (no names): every loaded certificate still valid */
	for (k = 0; all && n == 0 && k < s->cur->n_certs; k++)
		all = s->cur->certs[k].pair.not_after > now;
	pthread_mutex_unlock(&s->mu);
	return all;
}

int tls_store_ready(struct tls_store *s, const struct config *cfg, time_t now)
{
	if (cfg->tls_mode == CONFIG_TLS_ACME)
		return tls_store_covers(s, cfg->acme_domains,
					cfg->n_acme_domains, now);
	return tls_store_covers(s, NULL, 0, now);
}

size_t tls_store_names(struct tls_store *s)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->cur != NULL ? tls_bundle_names(s->cur) : 0;
	pthread_mutex_unlock(&s->mu);
	return n;
}

size_t tls_store_retired(struct tls_store *s)
{
	const struct tls_bundle *b;
	size_t n = 0;

	pthread_mutex_lock(&s->mu);
	for (b = s->retired; b != NULL; b = b->retired_next)
		n++;
	pthread_mutex_unlock(&s->mu);
	return n;
}

void tls_store_free(struct tls_store *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&registry_mu);
	unlink_locked(s);
	pthread_mutex_unlock(&registry_mu);
	tls_bundle_free(s->cur);
	if (s->challenge != NULL) {
		tls_bundle_free(s->challenge);
		atomic_fetch_sub(&alpn_challenges, 1);
	}
	while (s->retired != NULL) {
		struct tls_bundle *b = s->retired;

		s->retired = b->retired_next;
		tls_bundle_free(b);
	}
	if (s->ticket_key.data != NULL) {
		gnutls_memset(s->ticket_key.data, 0, s->ticket_key.size);
		gnutls_free(s->ticket_key.data);
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int tls_store_enable_tickets(struct tls_store *s)
{
	if (s->ticket_key.data != NULL)
		return 0;
	if (gnutls_session_ticket_key_generate(&s->ticket_key) < 0) {
		s->ticket_key.data = NULL;
		s->ticket_key.size = 0;
		return -1;
	}
	pthread_mutex_lock(&s->mu);
	derive_ticket_keys(s, s->cur);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int tls_name_matches(const char *pattern, const char *host)
{
	const char *dot;

	if (strcasecmp(pattern, host) == 0)
		return 1;
	if (pattern[0] != '*' || pattern[1] != '.')
		return 0;
	/* "*.example.com" covers exactly one more label. */
	dot = strchr(host, '.');
	return dot != NULL && dot != host && strcasecmp(dot, pattern + 1) == 0;
}

static const struct tls_cert *bundle_find(const struct tls_bundle *b,
					  const char *host)
{
	size_t i, j;

	for (i = 0; i < b->n_certs; i++)
		for (j = 0; j < b->certs[i].pair.n_names; j++)
			if (strcasecmp(b->certs[i].pair.names[j], host) == 0)
				return &b->certs[i];
	for (i = 0; i < b->n_certs; i++)
		for (j = 0; j < b->certs[i].pair.n_names; j++)
			if (b->certs[i].pair.names[j][0] == '*' &&
			    tls_name_matches(b->certs[i].pair.names[j], host))
				return &b->certs[i];
	return NULL;
}

static _Atomic(tls_peer_fn) peer_lookup;

void tls_set_peer_lookup(tls_peer_fn fn)
{
	atomic_store(&peer_lookup, fn);
}

static void peer_of(int fd, char *ip, size_t ipsz, unsigned *local_port)
{
	tls_peer_fn fn = atomic_load_explicit(&peer_lookup,
					      memory_order_relaxed);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	snprintf(ip, ipsz, "-");
	*local_port = 0;
	if (fd < 0)
		return;
	if ((fn != NULL && fn(fd, &ss) == 0) ||
	    getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		log_format_ip((struct sockaddr *)&ss, ip, ipsz);
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			*local_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			*local_port =
				ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
}

#define CLIENT_RANDOM_SIZE 32

/* The client random of this handshake, or NULL before the ClientHello:
 * it identifies the handshake (a session pointer can be reused by the
 * next connection). Every step of one handshake runs on one worker
 * thread, so per-thread state keyed by it follows that handshake. */
static const unsigned char *client_random(gnutls_session_t session)
{
	gnutls_datum_t client = {NULL, 0}, server = {NULL, 0};

	gnutls_session_get_random(session, &client, &server);
	return client.data != NULL && client.size == CLIENT_RANDOM_SIZE
		       ? client.data
		       : NULL;
}

/* GnuTLS asks several times per handshake when we have no certificate:
 * log a refusal once per handshake (the last one seen is kept per
 * worker thread). */
static int first_refusal(gnutls_session_t session)
{
	static __thread unsigned char last[CLIENT_RANDOM_SIZE];
	static __thread int have_last;
	const unsigned char *r = client_random(session);

	if (r == NULL)
		return 1;
	if (have_last && memcmp(last, r, sizeof(last)) == 0)
		return 0;
	memcpy(last, r, sizeof(last));
	have_last = 1;
	return 1;
}

/* Refuse the handshake with an unrecognized_name alert (RFC 6066 §3):
 * libmicrohttpd closes a failed handshake without sending one, so send it
 * here, before the ServerHello, as a plaintext record (best effort: the
 * socket is non-blocking and the record is 7 bytes). Once per handshake. */
static void refuse(gnutls_session_t session, const char *ip, const char *sni,
		   const char *error)
{
	if (first_refusal(session)) {
		count(sni[0] == '\0' ? TLS_FAIL_NO_SNI : TLS_FAIL_UNKNOWN_NAME);
		log_event(LOG_LEVEL_WARN, "TLS_ERROR", "client_ip", ip, "sni",
			  sni, "error", error, LOG_END);
		(void)gnutls_alert_send(session, GNUTLS_AL_FATAL,
					GNUTLS_A_UNRECOGNIZED_NAME);
	}
}

/* The certificate for this handshake's SNI name, from the store of the
 * listener the connection came in on; NULL (the handshake refused and
 * logged) when there is no SNI or no certificate covers it. The bundle
 * stays valid for the grace period after a swap (tls_store_set). */
static const struct tls_cert *cert_for(gnutls_session_t session, int acme)
{
	char name[256], ip[INET6_ADDRSTRLEN];
	size_t len = sizeof(name);
	unsigned type = 0, port;
	const struct tls_cert *c = NULL;
	struct tls_store *s, *found = NULL;
	int fd = gnutls_transport_get_int(session);

	peer_of(fd, ip, sizeof(ip), &port);
	if (gnutls_server_name_get(session, name, &len, &type, 0) < 0 ||
	    type != GNUTLS_NAME_DNS || len == 0 || len >= sizeof(name)) {
		refuse(session, ip, "", "missing SNI");
		return NULL;
	}
	name[len] = '\0';
	pthread_mutex_lock(&registry_mu);
	for (s = registry; s != NULL; s = s->next) {
		if (s->port == port || (found == NULL && s->next == NULL &&
					s == registry))
			found = s;
		if (s->port == port)
			break;
	}
	if (found != NULL) {
		struct tls_bundle *b;

		pthread_mutex_lock(&found->mu);
		b = acme ? found->challenge : found->cur;
		if (b != NULL)
			c = bundle_find(b, name);
		pthread_mutex_unlock(&found->mu);
	}
	pthread_mutex_unlock(&registry_mu);
	if (c == NULL)
		refuse(session, ip, name,
		       acme ? "no tls-alpn-01 validation for name"
			    : "no certificate for name");
	else if (acme)
		log_event(LOG_LEVEL_INFO, "ACME_CHALLENGE", "client_ip", ip,
			  "name", name, "type", "tls-alpn-01", "status",
			  "served", LOG_END);
	return c;
}

/* Did this handshake negotiate ALPN acme-tls/1 (a tls-alpn-01
 * validation)? Only possible while a validation is under way. */
static int negotiated_acme(gnutls_session_t session)
{
	gnutls_datum_t p = {NULL, 0};

	return atomic_load_explicit(&alpn_challenges, memory_order_relaxed) >
		       0 &&
	       gnutls_alpn_get_selected_protocol(session, &p) == 0 &&
	       p.size == sizeof(ACME_TLS_ALPN) - 1 &&
	       memcmp(p.data, ACME_TLS_ALPN, p.size) == 0;
}

/* The certificate hello_check chose for the handshake this worker thread
 * runs, so the certificate callback of a full handshake does not look the
 * name up again (two socket calls and two locks). A retired bundle stays
 * valid for the grace period, which outlasts any handshake. */
static __thread unsigned char chosen_random[CLIENT_RANDOM_SIZE];
static __thread const struct tls_cert *chosen;

int tls_cert_callback(gnutls_session_t session,
		      const gnutls_datum_t *req_ca_dn, int nreqs,
		      const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
		      gnutls_pcert_st **pcert, unsigned int *pcert_length,
		      gnutls_privkey_t *pkey)
{
	const struct tls_cert *c = NULL;
	const unsigned char *r = client_random(session);

	(void)req_ca_dn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	if (chosen != NULL && r != NULL &&
	    memcmp(chosen_random, r, sizeof(chosen_random)) == 0)
		c = chosen;
	else
		c = cert_for(session, negotiated_acme(session));
	if (c == NULL)
		return -1;
	*pcert = (gnutls_pcert_st *)(uintptr_t)c->pair.pcerts;
	*pcert_length = c->pair.n_pcerts;
	*pkey = c->pair.key;
	return 0;
}

/* Called by GnuTLS once the ClientHello (with SNI) is parsed, before a
 * session ticket or PSK in it is looked at. A resumed handshake never
 * reaches the certificate callback, so the SNI check happens here for
 * every handshake; and tickets are turned on here, with the key of the
 * certificate that covers this name, so only a ticket issued under that
 * certificate can resume (see derive_ticket_keys). */
static int hello_check(gnutls_session_t session)
{
	const struct tls_cert *c = cert_for(session, negotiated_acme(session));
	const unsigned char *r = client_random(session);
	gnutls_datum_t key;

	chosen = NULL;
	if (c == NULL)
		return GNUTLS_E_UNRECOGNIZED_NAME;
	count(TLS_COUNT_HELLOS);
	if (r != NULL) {
		memcpy(chosen_random, r, sizeof(chosen_random));
		chosen = c;
	}
	if (c->has_ticket_key) {
		key.data = (unsigned char *)(uintptr_t)c->ticket_key;
		key.size = TICKET_KEY_SIZE;
		/* Fails only if a ticket was already used in this handshake
		 * (a second ClientHello after HelloRetryRequest): keep the
		 * first one's key. */
		(void)gnutls_session_ticket_enable_server(session, &key);
	}
	return 0;
}

/* GnuTLS's hook on the received ClientHello, before it is processed: a
 * client with no protocol version, cipher suite or group in common with
 * our priorities gets the alert RFC 8446 §4.1.1 and §6.2 ask for
 * (protocol_version, handshake_failure) and a TLS_ERROR line; GnuTLS
 * would fail the handshake anyway, and libmicrohttpd then closes the
 * connection without any alert. What the parser cannot read is left to
 * GnuTLS. */
static int hello_hook(gnutls_session_t session, unsigned int htype,
		      unsigned when, unsigned int incoming,
		      const gnutls_datum_t *msg)
{
	enum tls_hello_verdict v;
	char sni[256], ip[INET6_ADDRSTRLEN];
	unsigned port;

	if (htype != GNUTLS_HANDSHAKE_CLIENT_HELLO || when != GNUTLS_HOOK_PRE ||
	    !incoming || msg == NULL || msg->data == NULL)
		return 0;
	v = tls_hello_check(msg->data, msg->size, sni, sizeof(sni));
	if (v == TLS_HELLO_OK || v == TLS_HELLO_MALFORMED)
		return 0;
	peer_of(gnutls_transport_get_int(session), ip, sizeof(ip), &port);
	count(v == TLS_HELLO_NO_VERSION  ? TLS_FAIL_NO_VERSION
	      : v == TLS_HELLO_NO_CIPHER ? TLS_FAIL_NO_CIPHER
					 : TLS_FAIL_NO_GROUP);
	log_event(LOG_LEVEL_WARN, "TLS_ERROR", "client_ip", ip, "sni",
		  sni[0] != '\0' ? sni : "-", "error", tls_hello_reason(v),
		  LOG_END);
	(void)gnutls_alert_send(session, GNUTLS_AL_FATAL,
				v == TLS_HELLO_NO_VERSION
					? GNUTLS_A_PROTOCOL_VERSION
					: GNUTLS_A_HANDSHAKE_FAILURE);
	return v == TLS_HELLO_NO_VERSION ? GNUTLS_E_UNSUPPORTED_VERSION_PACKET
					 : GNUTLS_E_NO_CIPHER_SUITES;
}

void tls_session_setup(gnutls_session_t session)
{
	/* While a tls-alpn-01 validation is under way, acme-tls/1 joins
	 * the protocols libmicrohttpd offers; a client that offers only it
	 * (the CA's validator) gets the validation certificate. */
	if (atomic_load_explicit(&alpn_challenges, memory_order_relaxed) > 0) {
		static const char p1[] = "http/1.1", p2[] = "http/1.0",
				  p3[] = ACME_TLS_ALPN;
		gnutls_datum_t prots[3] = {
			{(unsigned char *)(uintptr_t)p1, sizeof(p1) - 1},
			{(unsigned char *)(uintptr_t)p2, sizeof(p2) - 1},
			{(unsigned char *)(uintptr_t)p3, sizeof(p3) - 1}};

		(void)gnutls_alpn_set_protocols(session, prots, 3, 0);
	}
	gnutls_handshake_set_hook_function(session,
					   GNUTLS_HANDSHAKE_CLIENT_HELLO,
					   GNUTLS_HOOK_PRE, hello_hook);
	gnutls_handshake_set_post_client_hello_function(session, hello_check);
}
