/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Unit tests for acme_msg.c: the ACME document parsers (valid documents
 * and hostile ones), problem types, the newOrder payload, CSR contents
 * (subject, SANs exactly the names in order, a valid self-signature) and
 * the inspection of an issued certificate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "acme_msg.h"
#include "jws.h"
#include "unit.h"

#define P(s) s, strlen(s)

static void test_directory(void)
{
	struct acme_directory d;

	CHECK(acme_parse_directory(
		      P("{\"newNonce\":\"https://ca/n\","
			"\"newAccount\":\"https://ca/a\","
			"\"newOrder\":\"https://ca/o\","
			"\"meta\":{\"termsOfService\":\"data:x\"}}"),
		      &d) == 0);
	CHECK_STR(d.new_nonce, "https://ca/n");
	CHECK_STR(d.new_order, "https://ca/o");
	CHECK_STR(d.terms, "data:x");
	acme_directory_clear(&d);
	/* missing member, http:// URL, control bytes, not an object */
	CHECK(acme_parse_directory(P("{\"newNonce\":\"https://ca/n\"}"), &d) <
	      0);
	CHECK(d.new_nonce == NULL);
	CHECK(acme_parse_directory(P("{\"newNonce\":\"http://ca/n\","
				     "\"newAccount\":\"https://ca/a\","
				     "\"newOrder\":\"https://ca/o\"}"),
				   &d) < 0);
	CHECK(acme_parse_directory(P("{\"newNonce\":\"https://ca/n\\r\\nX: y\","
				     "\"newAccount\":\"https://ca/a\","
				     "\"newOrder\":\"https://ca/o\"}"),
				   &d) < 0);
	CHECK(acme_parse_directory(P("[]"), &d) < 0);
	CHECK(acme_parse_directory("", 0, &d) < 0);
	acme_directory_clear(&d);
	CHECK(d.renewal_info == NULL && d.n_profiles == 0);

	/* RFC 9773 renewalInfo, EAB required, profiles (a directory as Let's
	 * Encrypt publishes it in 2025, trimmed); a bad profile name and a
	 * non-https renewalInfo are dropped, not fatal. */
	CHECK(acme_parse_directory(
		      P("{\"newNonce\":\"https://ca/n\","
			"\"newAccount\":\"https://ca/a\","
			"\"newOrder\":\"https://ca/o\","
			"\"renewalInfo\":\"https://ca/ari\","
			"\"meta\":{\"externalAccountRequired\":true,"
			"\"profiles\":{\"classic\":\"The same profile you're "
			"accustomed to\",\"shortlived\":\"https://letsencrypt."
			"org/docs/profiles#shortlived\",\"tlsserver\":\"x\","
			"\"bad name\":\"x\"}}}"),
		      &d) == 0);
	CHECK_STR(d.renewal_info, "https://ca/ari");
	CHECK(d.eab_required == 1);
	CHECK(d.n_profiles == 3);
	CHECK(acme_directory_has_profile(&d, "shortlived"));
	CHECK(acme_directory_has_profile(&d, "tlsserver"));
	CHECK(!acme_directory_has_profile(&d, "bad name"));
	CHECK(!acme_directory_has_profile(&d, "short"));
	acme_directory_clear(&d);
	CHECK(acme_parse_directory(
		      P("{\"newNonce\":\"https://ca/n\","
			"\"newAccount\":\"https://ca/a\","
			"\"newOrder\":\"https://ca/o\","
			"\"renewalInfo\":\"http://ca/ari\","
			"\"meta\":{\"profiles\":[\"classic\"]}}"),
		      &d) == 0);
	CHECK(d.renewal_info == NULL && d.n_profiles == 0 &&
	      d.eab_required == 0);
	acme_directory_clear(&d);
}

static void test_renewal_info(void)
{
	time_t a, b;

	CHECK(acme_parse_time(P("2026-12-05T11:06:04Z")) == 1796468764);
	CHECK(acme_parse_time(P("2026-12-05T11:06:04.123456789Z")) ==
	      1796468764);
	CHECK(acme_parse_time(P("2026-12-05T12:06:04+01:00")) == 1796468764);
	CHECK(acme_parse_time(P("2026-12-05T10:36:04-00:30")) == 1796468764);
	CHECK(acme_parse_time(P("2026-12-05 11:06:04Z")) == -1);
	CHECK(acme_parse_time(P("2026-12-05T11:06:04")) == -1);
	CHECK(acme_parse_time(P("2026-13-05T11:06:04Z")) == -1);
	CHECK(acme_parse_time(P("2026-12-05T11:06:04.Z")) == -1);
	CHECK(acme_parse_time(P("2026-12-05T11:06:04+1:00")) == -1);
	CHECK(acme_parse_time(P("1969-12-31T23:59:59Z")) == -1);
	CHECK(acme_parse_renewal_info(
		      P("{\"suggestedWindow\":{\"start\":"
			"\"2026-12-05T11:06:04Z\",\"end\":"
			"\"2026-12-07T11:06:04Z\"},\"explanationURL\":"
			"\"https://ca/why\"}"),
		      &a, &b) == 0);
	CHECK(a == 1796468764 && b == 1796468764 + 2 * 86400);
	/* end before start, missing end, not an object */
	CHECK(acme_parse_renewal_info(
		      P("{\"suggestedWindow\":{\"start\":"
			"\"2026-12-07T11:06:04Z\",\"end\":"
			"\"2026-12-05T11:06:04Z\"}}"),
		      &a, &b) < 0);
	CHECK(a == 0 && b == 0);
	CHECK(acme_parse_renewal_info(
		      P("{\"suggestedWindow\":{\"start\":"
			"\"2026-12-07T11:06:04Z\"}}"),
		      &a, &b) < 0);
	CHECK(acme_parse_renewal_info(P("[1]"), &a, &b) < 0);
}

static void test_problem(void)
{
	struct acme_problem p;

	CHECK(acme_parse_problem(
		      P("{\"type\":\"urn:ietf:params:acme:error:badNonce\","
			"\"detail\":\"JWS has an invalid anti-replay nonce\"}"),
		      &p) == 0);
	CHECK(acme_problem_is(&p, "badNonce"));
	CHECK(!acme_problem_is(&p, "Nonce"));
	CHECK(!acme_problem_is(&p, "malformed"));
	CHECK_STR(p.detail, "JWS has an invalid anti-replay nonce");
	acme_problem_clear(&p);
	CHECK(acme_parse_problem(P("{\"status\":400}"), &p) < 0);
	CHECK(acme_parse_problem(P("not json"), &p) < 0);
	CHECK(!acme_problem_is(NULL, "badNonce"));
}

static void test_order_authz(void)
{
	struct acme_order o;
	struct acme_authz a;
	struct acme_challenge c;
	struct acme_account_doc ad;

	CHECK(acme_parse_order(P("{\"status\":\"pending\",\"identifiers\":[],"
				 "\"authorizations\":[\"https://ca/z/"
				 "1\",\"https://ca/z/2\"],"
				 "\"finalize\":\"https://ca/f/1\"}"),
			       &o) == 0);
	CHECK_STR(o.status, "pending");
	CHECK(o.n_authzs == 2);
	CHECK(o.n_authzs == 2 && strcmp(o.authzs[1], "https://ca/z/2") == 0);
	CHECK(o.certificate == NULL);
	acme_order_clear(&o);
	CHECK(acme_parse_order(
		      P("{\"status\":\"invalid\",\"authorizations\":[],"
			"\"finalize\":\"https://ca/f/1\",\"error\":"
			"{\"type\":\"urn:ietf:params:acme:error:unauthorized\","
			"\"detail\":\"no\"}}"),
		      &o) == 0);
	CHECK(acme_problem_is(&o.error, "unauthorized"));
	acme_order_clear(&o);
	CHECK(acme_parse_order(
		      P("{\"status\":\"pending\",\"authorizations\":[1],"
			"\"finalize\":\"https://ca/f/1\"}"),
		      &o) < 0);
	CHECK(acme_parse_order(
		      P("{\"status\":\"pending\",\"authorizations\":[],"
			"\"finalize\":\"ftp://ca/f/1\"}"),
		      &o) < 0);

	CHECK(acme_parse_authz(P("{\"status\":\"pending\",\"identifier\":{"
				 "\"type\":\"dns\","
				 "\"value\":\"a.test\"},\"challenges\":["
				 "{\"type\":\"dns-01\",\"status\":\"pending\","
				 "\"url\":\"https://ca/c/0\",\"token\":\"x\"},"
				 "{\"type\":\"http-01\",\"status\":\"pending\","
				 "\"url\":\"https://ca/c/1\","
				 "\"token\":\"tok-EN_1\"}]}"),
			       &a) == 0);
	CHECK_STR(a.identifier, "a.test");
	CHECK_STR(a.http01.url, "https://ca/c/1");
	CHECK_STR(a.http01.token, "tok-EN_1");
	acme_authz_clear(&a);
	/* a token that is not base64url is refused outright */
	CHECK(acme_parse_authz(P("{\"status\":\"pending\",\"identifier\":{"
				 "\"value\":\"a.test\"},"
				 "\"challenges\":[{\"type\":\"http-01\","
				 "\"status\":\"pending\","
				 "\"url\":\"https://ca/c/1\",\"token\":\"../../"
				 "etc\"}]}"),
			       &a) < 0);
	/* no http-01: parsed, no challenge */
	CHECK(acme_parse_authz(P("{\"status\":\"valid\",\"identifier\":{"
				 "\"value\":\"a.test\"},"
				 "\"challenges\":[]}"),
			       &a) == 0);
	CHECK(a.http01.type == NULL);
	acme_authz_clear(&a);
	CHECK(acme_parse_challenge(
		      P("{\"type\":\"http-01\",\"status\":\"invalid\","
			"\"url\":\"https://ca/c/1\",\"token\":\"t\","
			"\"error\":{\"type\":\"urn:ietf:params:acme:error:"
			"connection\"}}"),
		      &c) == 0);
	CHECK(acme_problem_is(&c.error, "connection"));
	acme_challenge_clear(&c);
	CHECK(acme_parse_account(P("{\"status\":\"valid\",\"contact\":[]}"),
				 &ad) == 0);
	CHECK_STR(ad.status, "valid");
	acme_account_doc_clear(&ad);
	CHECK(acme_parse_account(P("{}"), &ad) < 0);
}

static void test_payload(void)
{
	static char n1[] = "b.test", n2[] = "a.test";
	char *names[] = {n1, n2};
	char *s = acme_order_payload(names, 2, NULL, NULL);

	CHECK_STR(s,
		  "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"b.test\"},"
		  "{\"type\":\"dns\",\"value\":\"a.test\"}]}");
	free(s);
	s = acme_order_payload(names, 1, "tlsserver", "aYhb.AIdlQyE");
	CHECK_STR(s,
		  "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"b.test\"}],"
		  "\"profile\":\"tlsserver\",\"replaces\":\"aYhb.AIdlQyE\"}");
	free(s);
}

static gnutls_privkey_t key(void)
{
	gnutls_privkey_t k = NULL;
	char *pem = NULL;
	size_t len;

	if (jws_key_generate_pem(&pem, &len) == 0)
		jws_key_import_pem(pem, len, &k);
	free(pem);
	return k;
}

static void test_csr(void)
{
	static char n1[] = "git.example.test", n2[] = "example.test",
		    n3[] = "www.example.test";
	char *names[] = {n1, n2, n3};
	gnutls_privkey_t k = key();
	gnutls_datum_t der = {NULL, 0};
	gnutls_x509_crq_t crq = NULL;
	char buf[256];
	size_t len;
	unsigned type, i;

	CHECK(k != NULL);
	if (k == NULL)
		return;
	CHECK(acme_csr_der(k, names, 3, &der) == 0);
	CHECK(gnutls_x509_crq_init(&crq) == 0);
	CHECK(gnutls_x509_crq_import(crq, &der, GNUTLS_X509_FMT_DER) == 0);
	CHECK(gnutls_x509_crq_verify(crq, 0) >= 0);
	len = sizeof(buf);
	CHECK(gnutls_x509_crq_get_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0,
					    0, buf, &len) == 0);
	CHECK_STR(buf, "git.example.test");
	for (i = 0; i < 3; i++) {
		len = sizeof(buf);
		CHECK(gnutls_x509_crq_get_subject_alt_name(crq, i, buf, &len,
							   &type, NULL) ==
		      GNUTLS_SAN_DNSNAME);
		buf[len < sizeof(buf) ? len : sizeof(buf) - 1] = '\0';
		CHECK_STR(buf, names[i]);
	}
	len = sizeof(buf);
	CHECK(gnutls_x509_crq_get_subject_alt_name(crq, 3, buf, &len, &type,
						   NULL) ==
	      GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
	CHECK(gnutls_x509_crq_get_pk_algorithm(crq, NULL) == GNUTLS_PK_ECDSA);
	gnutls_x509_crq_deinit(crq);
	gnutls_free(der.data);
	CHECK(acme_csr_der(k, names, 0, &der) < 0);
	gnutls_privkey_deinit(k);
}

/* A self-signed certificate for the names, valid for lifetime seconds. */
static char *make_cert(char *const *names, size_t n, time_t lifetime)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_privkey_t k = key();
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t out = {NULL, 0};
	/* RFC 9773 §4.1's example: its identifier is
	 * aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE */
	unsigned char serial[] = {0x00, 0x87, 0x65, 0x43, 0x21};
	unsigned char aki[] = {0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40,
			       0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0,
			       0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4};
	char *pem = NULL;
	time_t now = time(NULL);
	size_t i;

	if (k == NULL || gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_pubkey_init(&pub) < 0 ||
	    gnutls_pubkey_import_privkey(pub, k, 0, 0) < 0)
		goto out;
	gnutls_x509_crt_set_pubkey(crt, pub);
	gnutls_x509_crt_set_version(crt, 3);
	gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
	gnutls_x509_crt_set_authority_key_id(crt, aki, sizeof(aki));
	gnutls_x509_crt_set_activation_time(crt, now - 10);
	gnutls_x509_crt_set_expiration_time(crt, now + lifetime);
	gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
				      names[0], (unsigned)strlen(names[0]));
	for (i = 0; i < n; i++)
		gnutls_x509_crt_set_subject_alt_name(
			crt, GNUTLS_SAN_DNSNAME, names[i],
			(unsigned)strlen(names[i]), GNUTLS_FSAN_APPEND);
	if (gnutls_x509_crt_privkey_sign(crt, crt, k, GNUTLS_DIG_SHA256, 0) <
		    0 ||
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out) < 0)
		goto out;
	pem = strndup((const char *)out.data, out.size);
out:
	gnutls_free(out.data);
	gnutls_pubkey_deinit(pub);
	gnutls_privkey_deinit(k);
	gnutls_x509_crt_deinit(crt);
	return pem;
}

static void test_inspect(void)
{
	static char n1[] = "a.test", n2[] = "b.test", n3[] = "c.test";
	char *ab[] = {n1, n2}, *ba[] = {n2, n1}, *abc[] = {n1, n2, n3};
	struct acme_cert_info info;
	char *pem = make_cert(ab, 2, 3600);

	CHECK(pem != NULL);
	if (pem == NULL)
		return;
	CHECK(acme_cert_inspect(pem, strlen(pem), ba, 2, &info) == 0);
	CHECK(info.names_match == 1);
	CHECK(info.not_after - info.not_before == 3610);
	CHECK_STR(info.serial, "0087654321");
	CHECK_STR(info.cert_id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	CHECK(acme_cert_inspect(pem, strlen(pem), abc, 3, &info) == 0);
	CHECK(info.names_match == 0);
	CHECK(acme_cert_inspect(pem, strlen(pem), ab, 1, &info) == 0);
	CHECK(info.names_match == 0);
	CHECK(acme_cert_inspect("junk", 4, ab, 2, &info) < 0);
	free(pem);
}

/* The tls-alpn-01 certificate as RFC 8737 §3 wants it: one dNSName, a
 * critical id-pe-acmeIdentifier holding OCTET STRING(SHA-256(keyauth)),
 * signed by the given key. */
static void test_alpn_cert(void)
{
	static const char ka[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
				 ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
	gnutls_privkey_t k = key();
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d, ext = {NULL, 0};
	unsigned char want[34];
	char *pem = NULL, name[64];
	size_t pem_len = 0, nl = sizeof(name);
	unsigned type = 0, critical = 0, verify = 0;

	CHECK(k != NULL);
	CHECK(acme_alpn_cert("a.test", ka, k, &pem, &pem_len) == 0);
	d.data = (unsigned char *)pem;
	d.size = (unsigned)pem_len;
	CHECK(gnutls_x509_crt_init(&crt) == 0);
	CHECK(pem != NULL &&
	      gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) == 0);
	CHECK(gnutls_x509_crt_get_subject_alt_name2(crt, 0, name, &nl, &type,
						    NULL) >= 0);
	CHECK(type == GNUTLS_SAN_DNSNAME && strcmp(name, "a.test") == 0);
	nl = sizeof(name);
	CHECK(gnutls_x509_crt_get_subject_alt_name2(crt, 1, name, &nl, &type,
						    NULL) ==
	      GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
	CHECK(gnutls_x509_crt_get_extension_by_oid2(crt, "1.3.6.1.5.5.7.1.31",
						    0, &ext, &critical) == 0);
	CHECK(critical == 1);
	want[0] = 0x04;
	want[1] = 32;
	gnutls_hash_fast(GNUTLS_DIG_SHA256, ka, strlen(ka), want + 2);
	CHECK(ext.size == sizeof(want) &&
	      memcmp(ext.data, want, sizeof(want)) == 0);
	CHECK(gnutls_x509_crt_verify(crt, &crt, 1, 0, &verify) == 0 &&
	      verify == 0);
	gnutls_free(ext.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_privkey_deinit(k);
	free(pem);
}

int main(void)
{
	gnutls_global_init();
	test_directory();
	test_renewal_info();
	test_problem();
	test_order_authz();
	test_payload();
	test_csr();
	test_inspect();
	test_alpn_cert();
	gnutls_global_deinit();
	UNIT_DONE();
}
