/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * config_parse: private to the config loader (config_load.c, config_keys.c,
 * config_check.c; nothing outside lib/config*.c includes it). The state of
 * one load, struct config_parse, with the limits it enforces, and the helpers
 * every stage of a load shares: diagnostics that name file:line and count
 * errors, allocation that records out-of-memory instead of failing, inih's
 * character rules, the capped file reader.
 * Threads: a struct config_parse lives on the stack of the thread that
 * called config_load_*() and no other thread sees it.
 */
#ifndef AP_CONFIG_PARSE_H
#define AP_CONFIG_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define CONFIG_MAX_FILE (1024 * 1024)
#define CONFIG_MAX_PEM (1024 * 1024)
#define CONFIG_MAX_SITES 4096
#define CONFIG_MAX_CERTS 1024
#define CONFIG_MAX_DOMAINS 1024
#define CONFIG_MAX_WORKERS 64

#define ACME_PRODUCTION "https://acme-v02.api.letsencrypt.org/directory"
#define ACME_STAGING "https://acme-staging-v02.api.letsencrypt.org/directory"
#define ACME_CACHE_DIR "/var/lib/reverse-proxy/acme-cache"

enum sect {
	SECT_NONE,
	SECT_SERVER,
	SECT_TLS,
	SECT_LOGGING,
	SECT_RATE_LIMIT,
	SECT_LIMITS,
	SECT_SITE,
	SECT_CERT,
	SECT_METRICS,
	SECT_SKIP, /* unknown or invalid section: its keys are not reported */
	SECT_COUNT
};

enum line_kind { LK_BLANK, LK_SECTION, LK_KEY, LK_CONT, LK_BAD };

struct config_parse {
	/* input */
	const char *buf;
	size_t len, pos;
	const char *file;
	int check_files;
	int certs_only; /* CONFIG_CERTS_ONLY: a certificate manager's file */
	config_diag_fn diag;
	void *ud;

	/* reader state, mirrors inih's view of the current line */
	unsigned lineno;
	enum line_kind kind;
	int have_prev;      /* a key line was seen since the section header */
	char prev_key[256]; /* that key, for continuation lines */
	int prev_key_ok;    /* 0: errors on it were already reported */

	/* section state */
	enum sect sect;
	size_t cur;           /* index into sites / certs */
	uint32_t seen;        /* keys seen in the current section */
	unsigned sect_line[SECT_COUNT]; /* header line of unique sections */

	/* lines needed by the final checks */
	unsigned bind_line, https_line, http_line, contact_line, ca_line;
	unsigned metrics_line; /* the [metrics] listen line */
	unsigned challenge_line, eab_kid_line, eab_key_line;
	unsigned *domain_lines;

	/* [tls] cert pair, moved to certs[0] at the end */
	char *tls_cert, *tls_key;
	unsigned tls_cert_line, tls_key_line;

	unsigned errors;
	int oom;
	struct config *cfg;
};

/* Section names by enum sect ("server", "tls", …); NULL for the others. */
extern const char *const config_parse_sect_names[SECT_COUNT];

/*
 * Reports one problem through p->diag, naming p->file and line (0: not about
 * one line), with control bytes replaced by '?'. is_error counts it in
 * p->errors, which fails the load; warnings do not.
 */
void config_parse_diag(struct config_parse *p, int is_error, unsigned line,
		       const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* strdup()/strndup() that set p->oom on failure; the caller owns the copy. */
char *config_parse_strdup(struct config_parse *p, const char *s);
char *config_parse_strndup(struct config_parse *p, const char *s, size_t n);

/*
 * Returns arr (n elements of sz bytes) grown by one zeroed element, or NULL
 * with p->oom set and arr untouched.
 */
void *config_parse_grow(struct config_parse *p, void *arr, size_t n,
			size_t sz);

/* isspace() in the C locale, as inih uses it. */
int config_parse_is_space(char c);

/* inih's find_chars_or_comment(): stops at chars or at " ;" comments. */
char *config_parse_find_chars_or_comment(char *s, const char *chars);

/*
 * Reads a whole regular file of at most cap bytes. On success returns 0 and
 * *out is a new NUL-terminated buffer of *outlen bytes (the caller frees
 * it); on failure returns -1, *out is NULL and *why a static reason.
 */
int config_parse_read_file(const char *path, size_t cap, char **out,
			   size_t *outlen, const char **why);

#endif
