/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * acme_msg: parsers for the ACME server's JSON documents, the CSR, and the
 * inspection of issued certificates. Everything the server sends is
 * untrusted: sizes are capped, URLs and tokens are checked character by
 * character before anything else sees them. Stateless; any thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jansson.h>

#include "acme_msg.h"
#include "jws.h"

static json_t *load(const char *buf, size_t len)
{
	json_t *root;

	if (buf == NULL || len == 0 || len > ACME_MSG_MAX_DOC)
		return NULL;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (root != NULL && !json_is_object(root)) {
		json_decref(root);
		root = NULL;
	}
	return root;
}

/* A copy of a string member that passes ok(); NULL otherwise. */
static char *member(json_t *obj, const char *key, size_t max,
		    int (*ok)(const char *, size_t))
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	size_t n;
	char *copy;

	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n > max || memchr(s, 0, n) != NULL)
		return NULL;
	if (ok != NULL && !ok(s, n))
		return NULL;
	copy = malloc(n + 1);
	if (copy != NULL)
		memcpy(copy, s, n + 1);
	return copy;
}

static int url_ok(const char *s, size_t n)
{
	size_t i;

	if (n <= 8 || strncmp(s, "https://", 8) != 0)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static int token_ok(const char *s, size_t n)
{
	size_t i;

	if (n > 256)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/* Words such as a status or type: printable ASCII without spaces. */
static int word_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

void acme_directory_clear(struct acme_directory *d)
{
	if (d == NULL)
		return;
	free(d->new_nonce);
	free(d->new_account);
	free(d->new_order);
	free(d->terms);
	free(d->renewal_info);
	for (size_t i = 0; i < d->n_profiles; i++)
		free(d->profiles[i]);
	memset(d, 0, sizeof(*d));
}

int acme_directory_has_profile(const struct acme_directory *d,
			       const char *name)
{
	size_t i;

	for (i = 0; i < d->n_profiles; i++)
		if (strcmp(d->profiles[i], name) == 0)
			return 1;
	return 0;
}

int acme_parse_directory(const char *buf, size_t len,
			 struct acme_directory *out)
{
	json_t *root = load(buf, len), *meta, *pval;
	const char *pname;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	out->new_nonce = member(root, "newNonce", ACME_MSG_MAX_URL, url_ok);
	out->new_account = member(root, "newAccount", ACME_MSG_MAX_URL, url_ok);
	out->new_order = member(root, "newOrder", ACME_MSG_MAX_URL, url_ok);
	/* termsOfService is informational and may be any URL scheme. */
	out->terms = member(json_object_get(root, "meta"), "termsOfService",
			    ACME_MSG_MAX_URL, word_ok);
	out->renewal_info =
		member(root, "renewalInfo", ACME_MSG_MAX_URL, url_ok);
	meta = json_object_get(root, "meta");
	out->eab_required =
		json_is_true(json_object_get(meta, "externalAccountRequired"));
	/* meta.profiles: {"name": "description", …}; names kept if they
	 * are words, descriptions ignored. */
	json_object_foreach(json_object_get(meta, "profiles"), pname, pval) {
		size_t n = strlen(pname);

		(void)pval;
		if (out->n_profiles == ACME_MSG_MAX_PROFILES || n == 0 ||
		    n > 64 || !word_ok(pname, n))
			continue;
		out->profiles[out->n_profiles] = strdup(pname);
		if (out->profiles[out->n_profiles] != NULL)
			out->n_profiles++;
	}
	if (out->new_nonce != NULL && out->new_account != NULL &&
	    out->new_order != NULL)
		rc = 0;
	else
		acme_directory_clear(out);
	json_decref(root);
	return rc;
}

void acme_problem_clear(struct acme_problem *p)
{
	if (p == NULL)
		return;
	free(p->type);
	free(p->detail);
	memset(p, 0, sizeof(*p));
}

static void problem_from(json_t *obj, struct acme_problem *p)
{
	memset(p, 0, sizeof(*p));
	if (!json_is_object(obj))
		return;
	p->type = member(obj, "type", ACME_MSG_MAX_TEXT, word_ok);
	/* detail is free text; the log escapes it. */
	p->detail = member(obj, "detail", ACME_MSG_MAX_TEXT, NULL);
}

int acme_parse_problem(const char *buf, size_t len, struct acme_problem *out)
{
	json_t *root = load(buf, len);

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	problem_from(root, out);
	json_decref(root);
	if (out->type == NULL && out->detail == NULL)
		return -1;
	return 0;
}

int acme_problem_is(const struct acme_problem *p, const char *name)
{
	size_t tl, nl = strlen(name);

	if (p == NULL || p->type == NULL)
		return 0;
	tl = strlen(p->type);
	return tl > nl + 7 && strcmp(p->type + tl - nl, name) == 0 &&
	       strncmp(p->type + tl - nl - 7, ":error:", 7) == 0;
}

void acme_account_doc_clear(struct acme_account_doc *a)
{
	if (a == NULL)
		return;
	free(a->status);
	memset(a, 0, sizeof(*a));
}

int acme_parse_account(const char *buf, size_t len,
		       struct acme_account_doc *out)
{
	json_t *root = load(buf, len);

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	out->status = member(root, "status", 32, word_ok);
	json_decref(root);
	return out->status != NULL ? 0 : -1;
}

void acme_order_clear(struct acme_order *o)
{
	size_t i;

	if (o == NULL)
		return;
	free(o->status);
	for (i = 0; i < o->n_authzs; i++)
		free(o->authzs[i]);
	free(o->authzs);
	free(o->finalize);
	free(o->certificate);
	acme_problem_clear(&o->error);
	memset(o, 0, sizeof(*o));
}

int acme_parse_order(const char *buf, size_t len, struct acme_order *out)
{
	json_t *root = load(buf, len), *arr, *v;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	out->status = member(root, "status", 32, word_ok);
	out->finalize = member(root, "finalize", ACME_MSG_MAX_URL, url_ok);
	out->certificate =
		member(root, "certificate", ACME_MSG_MAX_URL, url_ok);
	problem_from(json_object_get(root, "error"), &out->error);
	arr = json_object_get(root, "authorizations");
	if (out->status == NULL || out->finalize == NULL ||
	    !json_is_array(arr) || json_array_size(arr) > ACME_MSG_MAX_AUTHZ)
		goto out;
	out->authzs = calloc(json_array_size(arr) + 1, sizeof(*out->authzs));
	if (out->authzs == NULL)
		goto out;
	json_array_foreach(arr, i, v)
	{
		json_t *wrap = json_pack("{s:O}", "u", v);

		out->authzs[i] = wrap != NULL ? member(wrap, "u",
						       ACME_MSG_MAX_URL, url_ok)
					      : NULL;
		json_decref(wrap);
		if (out->authzs[i] == NULL)
			goto out;
		out->n_authzs = i + 1;
	}
	rc = 0;
out:
	if (rc != 0)
		acme_order_clear(out);
	json_decref(root);
	return rc;
}

void acme_challenge_clear(struct acme_challenge *c)
{
	if (c == NULL)
		return;
	free(c->type);
	free(c->status);
	free(c->url);
	free(c->token);
	acme_problem_clear(&c->error);
	memset(c, 0, sizeof(*c));
}

static int challenge_from(json_t *obj, struct acme_challenge *c)
{
	memset(c, 0, sizeof(*c));
	if (!json_is_object(obj))
		return -1;
	c->type = member(obj, "type", 64, word_ok);
	c->status = member(obj, "status", 32, word_ok);
	c->url = member(obj, "url", ACME_MSG_MAX_URL, url_ok);
	c->token = member(obj, "token", 256, token_ok);
	problem_from(json_object_get(obj, "error"), &c->error);
	if (c->type == NULL || c->status == NULL || c->url == NULL) {
		acme_challenge_clear(c);
		return -1;
	}
	return 0;
}

int acme_parse_challenge(const char *buf, size_t len,
			 struct acme_challenge *out)
{
	json_t *root = load(buf, len);
	int rc;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	rc = challenge_from(root, out);
	json_decref(root);
	return rc;
}

void acme_authz_clear(struct acme_authz *a)
{
	if (a == NULL)
		return;
	free(a->status);
	free(a->identifier);
	acme_challenge_clear(&a->http01);
	acme_challenge_clear(&a->alpn01);
	memset(a, 0, sizeof(*a));
}

int acme_parse_authz(const char *buf, size_t len, struct acme_authz *out)
{
	json_t *root = load(buf, len), *arr, *v, *id;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	out->status = member(root, "status", 32, word_ok);
	id = json_object_get(root, "identifier");
	out->identifier = member(id, "value", 253, word_ok);
	arr = json_object_get(root, "challenges");
	if (out->status == NULL || out->identifier == NULL ||
	    !json_is_array(arr) || json_array_size(arr) > 16)
		goto out;
	json_array_foreach(arr, i, v)
	{
		json_t *t = json_object_get(v, "type");
		struct acme_challenge *c = NULL;

		if (json_is_string(t) &&
		    strcmp(json_string_value(t), "http-01") == 0)
			c = &out->http01;
		else if (json_is_string(t) &&
			 strcmp(json_string_value(t), "tls-alpn-01") == 0)
			c = &out->alpn01;
		if (c == NULL || c->type != NULL)
			continue; /* another type, or a second of one */
		if (challenge_from(v, c) != 0 || c->token == NULL)
			goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		acme_authz_clear(out);
	json_decref(root);
	return rc;
}

char *acme_order_payload(char *const *names, size_t n, const char *profile,
			 const char *replaces)
{
	json_t *ids, *root;
	char *s = NULL;
	size_t i;

	ids = json_array();
	if (ids == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (json_array_append_new(ids,
					  json_pack("{s:s, s:s}", "type", "dns",
						    "value", names[i])) != 0)
			goto out;
	root = json_pack("{s:O, s:s*, s:s*}", "identifiers", ids, "profile",
			 profile, "replaces", replaces);
	if (root != NULL) {
		s = json_dumps(root, JSON_COMPACT);
		json_decref(root);
	}
out:
	json_decref(ids);
	return s;
}

int acme_csr_der(gnutls_privkey_t key, char *const *names, size_t n,
		 gnutls_datum_t *der)
{
	gnutls_x509_crq_t crq = NULL;
	gnutls_pubkey_t pub = NULL;
	size_t i;
	int rc = -1;

	der->data = NULL;
	der->size = 0;
	if (n == 0 || gnutls_x509_crq_init(&crq) < 0)
		return -1;
	if (gnutls_pubkey_init(&pub) < 0 ||
	    gnutls_pubkey_import_privkey(pub, key, 0, 0) < 0 ||
	    gnutls_x509_crq_set_pubkey(crq, pub) < 0 ||
	    gnutls_x509_crq_set_version(crq, 1) < 0 ||
	    gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0,
					  names[0],
					  (unsigned)strlen(names[0])) < 0)
		goto out;
	for (i = 0; i < n; i++)
		if (gnutls_x509_crq_set_subject_alt_name(
			    crq, GNUTLS_SAN_DNSNAME, names[i],
			    (unsigned)strlen(names[i]), GNUTLS_FSAN_APPEND) < 0)
			goto out;
	if (gnutls_x509_crq_set_key_usage(crq, GNUTLS_KEY_DIGITAL_SIGNATURE) <
		    0 ||
	    gnutls_x509_crq_set_key_purpose_oid(crq, GNUTLS_KP_TLS_WWW_SERVER,
						0) < 0 ||
	    gnutls_x509_crq_privkey_sign(crq, key, GNUTLS_DIG_SHA256, 0) < 0 ||
	    gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_DER, der) < 0)
		goto out;
	rc = 0;
out:
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crq_deinit(crq);
	return rc;
}

static int digits(const char *s, size_t n, int *out)
{
	size_t i;

	*out = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*out = *out * 10 + (s[i] - '0');
	}
	return 0;
}

time_t acme_parse_time(const char *s, size_t len)
{
	struct tm tm;
	int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
	size_t i = 19;
	time_t t;

	/* YYYY-MM-DDTHH:MM:SS */
	if (len < 20 || len > 64 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' ||
	    digits(s, 4, &y) || digits(s + 5, 2, &mo) ||
	    digits(s + 8, 2, &d) || digits(s + 11, 2, &h) ||
	    digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
		return -1;
	if (s[i] == '.') { /* fraction: ignored */
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == 20)
			return -1;
	}
	if (i == len)
		return -1;
	if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len)
		sign = 0;
	else if ((s[i] == '+' || s[i] == '-') && i + 6 == len &&
		 s[i + 3] == ':' && !digits(s + i + 1, 2, &oh) &&
		 !digits(s + i + 4, 2, &om) && oh < 24 && om < 60)
		sign = s[i] == '+' ? 1 : -1;
	else
		return -1;
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
	    h > 23 || mi > 59 || se > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	return t - sign * (time_t)(oh * 3600 + om * 60);
}

int acme_parse_renewal_info(const char *buf, size_t len, time_t *start,
			    time_t *end)
{
	json_t *root = load(buf, len), *w, *a, *b;
	int rc = -1;

	*start = *end = 0;
	if (root == NULL)
		return -1;
	w = json_object_get(root, "suggestedWindow");
	a = json_object_get(w, "start");
	b = json_object_get(w, "end");
	if (json_is_string(a) && json_is_string(b)) {
		*start = acme_parse_time(json_string_value(a),
					 json_string_length(a));
		*end = acme_parse_time(json_string_value(b),
				       json_string_length(b));
		if (*start != (time_t)-1 && *end != (time_t)-1 && *start < *end)
			rc = 0;
	}
	if (rc != 0)
		*start = *end = 0;
	json_decref(root);
	return rc;
}

int acme_cert_inspect(const char *pem, size_t len, char *const *names, size_t n,
		      struct acme_cert_info *out)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d = {(unsigned char *)(uintptr_t)pem, (unsigned)len};
	unsigned char serial[40];
	size_t sl = sizeof(serial), i, found = 0, idx;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > ACME_MSG_MAX_DOC ||
	    gnutls_x509_crt_init(&crt) < 0)
		return -1;
	/* The first certificate of the PEM chain is the leaf. */
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0)
		goto out;
	out->not_before = gnutls_x509_crt_get_activation_time(crt);
	out->not_after = gnutls_x509_crt_get_expiration_time(crt);
	if (out->not_before == (time_t)-1 || out->not_after == (time_t)-1 ||
	    out->not_after <= out->not_before)
		goto out;
	if (gnutls_x509_crt_get_serial(crt, serial, &sl) == 0) {
		unsigned char aki[64];
		size_t al = sizeof(aki), k;
		unsigned crit = 0;

		for (i = 0; i < sl && 2 * i + 2 < sizeof(out->serial); i++)
			snprintf(out->serial + 2 * i, 3, "%02x", serial[i]);
		/* RFC 9773 §4.1: the key identifier of the issuer and the
		 * serial's DER content octets, each base64url. */
		if (gnutls_x509_crt_get_authority_key_id(crt, aki, &al, &crit) >=
			    0 &&
		    al > 0 &&
		    (k = jws_b64url_encode(aki, al, out->cert_id,
					   sizeof(out->cert_id))) !=
			    (size_t)-1 &&
		    k + 1 < sizeof(out->cert_id)) {
			out->cert_id[k] = '.';
			if (jws_b64url_encode(serial, sl, out->cert_id + k + 1,
					      sizeof(out->cert_id) - k - 1) ==
			    (size_t)-1)
				out->cert_id[0] = '\0';
		} else
			out->cert_id[0] = '\0';
	}
	out->names_match = 1;
	for (idx = 0;; idx++) {
		char name[256];
		size_t nl = sizeof(name) - 1;
		unsigned type = 0;
		int r = gnutls_x509_crt_get_subject_alt_name2(
			crt, (unsigned)idx, name, &nl, &type, NULL);

		if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (r < 0 || idx > 1000) {
			out->names_match = 0;
			break;
		}
		if (type != GNUTLS_SAN_DNSNAME)
			continue;
		name[nl] = '\0';
		for (i = 0; i < n; i++)
			if (strcasecmp(names[i], name) == 0)
				break;
		if (i == n)
			out->names_match = 0;
		else
			found++;
	}
	/* Every configured name present (names are distinct, see config). */
	if (found != n)
		out->names_match = 0;
	rc = 0;
out:
	gnutls_x509_crt_deinit(crt);
	return rc;
}

/* DER of an OCTET STRING holding the SHA-256 of the key authorization:
 * the acmeIdentifier extension's value (RFC 8737 §3). */
#define ACME_ALPN_OID "1.3.6.1.5.5.7.1.31"

int acme_alpn_cert(const char *name, const char *key_authz,
		   gnutls_privkey_t key, char **pem, size_t *pem_len)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t out = {NULL, 0};
	unsigned char ext[2 + 32], serial[16];
	time_t now = time(NULL);
	int rc = -1;

	*pem = NULL;
	*pem_len = 0;
	ext[0] = 0x04; /* OCTET STRING */
	ext[1] = 32;
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, key_authz, strlen(key_authz),
			     ext + 2) != 0 ||
	    gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)) != 0)
		return -1;
	serial[0] &= 0x7f; /* a positive INTEGER */
	serial[0] |= 0x01;
	if (gnutls_x509_crt_init(&crt) < 0 || gnutls_pubkey_init(&pub) < 0 ||
	    gnutls_pubkey_import_privkey(pub, key, 0, 0) < 0 ||
	    gnutls_x509_crt_set_pubkey(crt, pub) < 0 ||
	    gnutls_x509_crt_set_version(crt, 3) < 0 ||
	    gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) < 0 ||
	    gnutls_x509_crt_set_activation_time(crt, now - 3600) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt, now + 7 * 86400) < 0 ||
	    /* exactly one dNSName: the name being validated */
	    gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name,
						 (unsigned)strlen(name),
						 GNUTLS_FSAN_SET) < 0 ||
	    gnutls_x509_crt_set_extension_by_oid(crt, ACME_ALPN_OID, ext,
						 sizeof(ext), 1) < 0 ||
	    gnutls_x509_crt_privkey_sign(crt, crt, key, GNUTLS_DIG_SHA256, 0) <
		    0 ||
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out) < 0)
		goto out;
	*pem = malloc(out.size + 1);
	if (*pem == NULL)
		goto out;
	memcpy(*pem, out.data, out.size);
	(*pem)[out.size] = '\0';
	*pem_len = out.size;
	rc = 0;
out:
	gnutls_free(out.data);
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crt_deinit(crt);
	return rc;
}
