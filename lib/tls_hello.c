/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * tls_hello: does a ClientHello have anything in common with our TLS
 * policy (tls.c's priorities)? A pure function over untrusted bytes
 * (fuzz/fuzz_tls_hello.c). tls.c calls it from GnuTLS's ClientHello hook,
 * on the worker thread running the handshake, to refuse a hopeless
 * handshake with the alert RFC 8446 asks for (libmicrohttpd closes a
 * failed handshake without any) and a TLS_ERROR line.
 *
 * The message is the ClientHello body (RFC 8446 §4.1.2, RFC 5246
 * §7.4.1.2): legacy_version, random, legacy_session_id, cipher_suites,
 * legacy_compression_methods, extensions. Only supported_versions (43),
 * supported_groups (10) and server_name (0) are looked at.
 */
#include <string.h>

#include "tls_hello.h"

struct rd {
	const unsigned char *p;
	size_t n;
};

static int take(struct rd *r, size_t k, struct rd *out)
{
	if (r->n < k)
		return -1;
	if (out != NULL) {
		out->p = r->p;
		out->n = k;
	}
	r->p += k;
	r->n -= k;
	return 0;
}

static int u8(struct rd *r, unsigned *v)
{
	if (r->n < 1)
		return -1;
	*v = r->p[0];
	return take(r, 1, NULL);
}

static int u16(struct rd *r, unsigned *v)
{
	if (r->n < 2)
		return -1;
	*v = (unsigned)r->p[0] << 8 | r->p[1];
	return take(r, 2, NULL);
}

/* A vector with a 1- or 2-byte length prefix. */
static int vec(struct rd *r, int len_bytes, struct rd *out)
{
	unsigned len;

	if ((len_bytes == 1 ? u8(r, &len) : u16(r, &len)) != 0)
		return -1;
	return take(r, len, out);
}

static int in_set(unsigned v, const unsigned short *set, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (set[i] == v)
			return 1;
	return 0;
}

/* Does the list of 16-bit values have one of set? -1 if malformed. */
static int any_of(struct rd list, const unsigned short *set, size_t n)
{
	unsigned v = 0;
	int found = 0;

	if (list.n % 2 != 0)
		return -1;
	while (list.n > 0 && u16(&list, &v) == 0)
		found |= in_set(v, set, n);
	return found;
}

/* What tls.c's priority string allows. */
static const unsigned short suites13[] = {0x1301, 0x1302, 0x1303};
static const unsigned short suites12[] = {
	0xc02b, 0xc02c, 0xcca9, /* ECDHE-ECDSA AES-GCM, ChaCha20 */
	0xc02f, 0xc030, 0xcca8, /* ECDHE-RSA */
};
static const unsigned short groups[] = {0x001d, 0x0017, 0x0018};
static const unsigned short v13[] = {0x0304};
static const unsigned short v12[] = {0x0303};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void copy_sni(struct rd ext, char *sni, size_t sni_size)
{
	struct rd list, name;
	unsigned type;
	size_t i;

	if (sni == NULL || sni_size == 0)
		return;
	if (vec(&ext, 2, &list) != 0 || u8(&list, &type) != 0 || type != 0 ||
	    vec(&list, 2, &name) != 0 || name.n == 0 || name.n >= sni_size)
		return;
	for (i = 0; i < name.n; i++) {
		unsigned char c = name.p[i];

		sni[i] = c > 0x20 && c < 0x7f ? (char)c : '?';
	}
	sni[name.n] = '\0';
}

enum tls_hello_verdict tls_hello_check(const unsigned char *msg, size_t len,
				       char *sni, size_t sni_size)
{
	struct rd r = {msg, len}, suites, exts, e, body, list;
	unsigned legacy, type;
	int has_versions = 0, has_groups = 0, tls13 = 0, tls12 = 0;
	int group_ok = 0, s13, s12;

	if (sni != NULL && sni_size > 0)
		sni[0] = '\0';
	if (u16(&r, &legacy) != 0 || take(&r, 32, NULL) != 0 ||
	    vec(&r, 1, NULL) != 0 || vec(&r, 2, &suites) != 0 ||
	    suites.n == 0 || vec(&r, 1, NULL) != 0)
		return TLS_HELLO_MALFORMED;
	exts.n = 0;
	exts.p = r.p;
	if (r.n > 0 && (vec(&r, 2, &exts) != 0 || r.n != 0))
		return TLS_HELLO_MALFORMED;
	while (exts.n > 0) {
		if (u16(&exts, &type) != 0 || vec(&exts, 2, &e) != 0)
			return TLS_HELLO_MALFORMED;
		body = e;
		if (type == 43) { /* supported_versions */
			if (vec(&body, 1, &list) != 0)
				return TLS_HELLO_MALFORMED;
			has_versions = 1;
			tls13 = any_of(list, v13, N(v13));
			tls12 = any_of(list, v12, N(v12));
			if (tls13 < 0 || tls12 < 0)
				return TLS_HELLO_MALFORMED;
		} else if (type == 10) { /* supported_groups */
			if (vec(&body, 2, &list) != 0)
				return TLS_HELLO_MALFORMED;
			has_groups = 1;
			group_ok = any_of(list, groups, N(groups));
			if (group_ok < 0)
				return TLS_HELLO_MALFORMED;
		} else if (type == 0) {
			copy_sni(body, sni, sni_size);
		}
	}
	if (!has_versions) {
		tls13 = 0;
		tls12 = legacy >= 0x0303;
	}
	if (!tls13 && !tls12)
		return TLS_HELLO_NO_VERSION;
	s13 = any_of(suites, suites13, N(suites13));
	s12 = any_of(suites, suites12, N(suites12));
	if (s13 < 0 || s12 < 0)
		return TLS_HELLO_MALFORMED;
	s13 = tls13 && s13;
	s12 = tls12 && s12;
	if (!s13 && !s12)
		return TLS_HELLO_NO_CIPHER;
	/* TLS 1.3 needs a common group; TLS 1.2 without the extension
	 * means P-256 (RFC 8422 §4) */
	if ((s13 && has_groups && group_ok) ||
	    (s12 && (!has_groups || group_ok)))
		return TLS_HELLO_OK;
	return TLS_HELLO_NO_GROUP;
}

const char *tls_hello_reason(enum tls_hello_verdict v)
{
	switch (v) {
	case TLS_HELLO_OK: return "ok";
	case TLS_HELLO_MALFORMED: return "malformed ClientHello";
	case TLS_HELLO_NO_VERSION: return "no common protocol version";
	case TLS_HELLO_NO_CIPHER: return "no common cipher suite";
	case TLS_HELLO_NO_GROUP: return "no common group";
	}
	return "?";
}
