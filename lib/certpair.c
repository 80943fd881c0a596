/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * certpair: reads a PEM chain and key and checks that they belong
 * together (certpair.h). Used by tls.c (manual mode, reload, ACME) and
 * config_check.c (--validate). No state; any thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "certpair.h"

#define PEM_CERT_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_X509_BEGIN "-----BEGIN X509 CERTIFICATE-----" /* legacy */

void certpair_clear(struct certpair *p)
{
	unsigned i;
	size_t j;

	if (p == NULL)
		return;
	for (i = 0; i < p->n_pcerts; i++)
		gnutls_pcert_deinit(&p->pcerts[i]);
	if (p->key != NULL)
		gnutls_privkey_deinit(p->key);
	for (j = 0; j < p->n_names; j++)
		free(p->names[j]);
	free(p->names);
	memset(p, 0, sizeof(*p));
}

/* Certificate blocks in the PEM text: each must come out as a
 * certificate, or the file is refused (GnuTLS would skip some). */
static unsigned count_blocks(const char *pem, size_t len)
{
	size_t n = sizeof(PEM_CERT_BEGIN) - 1, m = sizeof(PEM_X509_BEGIN) - 1, i;
	unsigned blocks = 0;

	for (i = 0; i < len; i++) {
		if (pem[i] != '-')
			continue;
		if (i + n <= len && memcmp(pem + i, PEM_CERT_BEGIN, n) == 0) {
			blocks++;
			i += n - 1;
		} else if (i + m <= len &&
			   memcmp(pem + i, PEM_X509_BEGIN, m) == 0) {
			blocks++;
			i += m - 1;
		}
	}
	return blocks;
}

static int add_name(struct certpair *p, const char *name, size_t len)
{
	char **grown, *s;
	size_t i;

	grown = realloc(p->names, (p->n_names + 1) * sizeof(*grown));
	if (grown == NULL)
		return -1;
	p->names = grown;
	s = malloc(len + 1);
	if (s == NULL)
		return -1;
	/* SAN names compare case-insensitively. */
	for (i = 0; i < len; i++)
		s[i] = (name[i] >= 'A' && name[i] <= 'Z')
			       ? (char)(name[i] - 'A' + 'a')
			       : name[i];
	s[len] = '\0';
	p->names[p->n_names++] = s;
	return 0;
}

/* Names and dates of the leaf. */
static enum certpair_error read_leaf(struct certpair *p, char *err,
				     size_t errsz)
{
	gnutls_x509_crt_t crt = NULL;
	enum certpair_error rc = CERTPAIR_ECHAIN;
	unsigned idx;

	if (gnutls_x509_crt_init(&crt) < 0)
		return CERTPAIR_ENOMEM;
	if (gnutls_x509_crt_import(crt, &p->pcerts[0].cert,
				   GNUTLS_X509_FMT_DER) < 0) {
		snprintf(err, errsz, "cannot parse the certificate");
		goto out;
	}
	p->not_before = gnutls_x509_crt_get_activation_time(crt);
	p->not_after = gnutls_x509_crt_get_expiration_time(crt);
	for (idx = 0;; idx++) {
		char name[256];
		size_t len = sizeof(name) - 1;
		unsigned type = 0;
		int r;

		r = gnutls_x509_crt_get_subject_alt_name2(crt, idx, name, &len,
							  &type, NULL);
		if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (r == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue;
		if (r < 0) {
			snprintf(err, errsz, "cannot read subjectAltName: %s",
				 gnutls_strerror(r));
			goto out;
		}
		if (type != GNUTLS_SAN_DNSNAME)
			continue;
		if (add_name(p, name, len) != 0) {
			rc = CERTPAIR_ENOMEM;
			snprintf(err, errsz, "out of memory");
			goto out;
		}
	}
	if (p->n_names == 0) {
		rc = CERTPAIR_ENAMES;
		snprintf(err, errsz, "certificate has no DNS subjectAltName");
		goto out;
	}
	rc = CERTPAIR_OK;
out:
	gnutls_x509_crt_deinit(crt);
	return rc;
}

/* Is key the private half of the leaf's public key? */
static enum certpair_error check_match(struct certpair *p, char *err,
				       size_t errsz)
{
	gnutls_pubkey_t pub = NULL;
	unsigned char id1[64], id2[64];
	size_t n1 = sizeof(id1), n2 = sizeof(id2);
	enum certpair_error rc = CERTPAIR_EMISMATCH;

	if (gnutls_pubkey_init(&pub) < 0)
		return CERTPAIR_ENOMEM;
	if (gnutls_pubkey_import_privkey(pub, p->key, 0, 0) < 0) {
		rc = CERTPAIR_EKEY;
		snprintf(err, errsz, "cannot read the key's public half");
	} else if (gnutls_pubkey_get_key_id(p->pcerts[0].pubkey,
					    GNUTLS_KEYID_USE_SHA256, id1,
					    &n1) < 0 ||
		   gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, id2,
					    &n2) < 0 ||
		   n1 != n2 || memcmp(id1, id2, n1) != 0) {
		snprintf(err, errsz, "key does not match the certificate");
	} else
		rc = CERTPAIR_OK;
	gnutls_pubkey_deinit(pub);
	return rc;
}

enum certpair_error certpair_from_pem(struct certpair *out, const char *chain,
				      size_t chain_len, const char *key,
				      size_t key_len, char *err, size_t errsz)
{
	gnutls_datum_t cd = {(unsigned char *)(uintptr_t)chain,
			     (unsigned)chain_len};
	gnutls_datum_t kd = {(unsigned char *)(uintptr_t)key,
			     (unsigned)key_len};
	unsigned n = CERTPAIR_MAX_CHAIN, blocks;
	enum certpair_error rc;
	int r;

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	if (chain_len > UINT32_MAX || key_len > UINT32_MAX) {
		snprintf(err, errsz, "file too large");
		return CERTPAIR_ECHAIN;
	}
	blocks = count_blocks(chain, chain_len);
	if (blocks > CERTPAIR_MAX_CHAIN) {
		snprintf(err, errsz,
			 "cannot load certificate chain: more than %d certificates",
			 CERTPAIR_MAX_CHAIN);
		return CERTPAIR_ECHAIN;
	}
	r = gnutls_pcert_list_import_x509_raw(out->pcerts, &n, &cd,
					      GNUTLS_X509_FMT_PEM, 0);
	if (r < 0 || n == 0) {
		snprintf(err, errsz, "cannot load certificate chain: %s",
			 r < 0 ? gnutls_strerror(r) : "empty");
		return CERTPAIR_ECHAIN;
	}
	out->n_pcerts = n;
	if (n != blocks) {
		snprintf(err, errsz,
			 "cannot load certificate chain: %u of its %u certificate blocks are readable",
			 n, blocks);
		rc = CERTPAIR_ECHAIN;
		goto fail;
	}
	rc = read_leaf(out, err, errsz);
	if (rc != CERTPAIR_OK)
		goto fail;
	if (gnutls_privkey_init(&out->key) < 0) {
		rc = CERTPAIR_ENOMEM;
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	r = gnutls_privkey_import_x509_raw(out->key, &kd, GNUTLS_X509_FMT_PEM,
					   NULL, 0);
	if (r < 0) {
		rc = CERTPAIR_EKEY;
		snprintf(err, errsz, "cannot load private key: %s",
			 gnutls_strerror(r));
		goto fail;
	}
	rc = check_match(out, err, errsz);
	if (rc == CERTPAIR_OK)
		return rc;
fail:
	certpair_clear(out);
	return rc;
}
