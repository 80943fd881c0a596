/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * config: the INI contract of SPEC.md parsed with inih into validated,
 * immutable structures. Every error names file:line. A struct config is
 * never modified after config_load_*() returns; threads share it read-only
 * (snapshot.c pins it by reference counting). The parser is
 * config_load.c (the load), config_keys.c (every key), config_check.c
 * (whole-file rules) and config_parse.c (what they share); config.c frees.
 */
#ifndef AP_CONFIG_H
#define AP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "cidr.h"

enum config_tls_mode { CONFIG_TLS_ACME = 0, CONFIG_TLS_MANUAL = 1 };

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
	LOG_LEVEL_TRACE = 4
};

/* longest handler label (config key handler, alkproxy_set_handler) */
#define CONFIG_HANDLER_LABEL_MAX 64
/* most proxy_protocol_from ranges */
#define CONFIG_MAX_PROXY_FROM 64

struct config_site {
	char *host;          /* lower-case, no port, no trailing dot */
	/* handler = LABEL: answered by the embedding program's handler of
	 * that label (alkproxy_set_handler), not proxied; the upstream
	 * fields are then NULL/0. Exactly one of handler and upstream. */
	char *handler;
	char *upstream;      /* as written: "host:port" or "[v6]:port" */
	char *upstream_host; /* host part without brackets */
	unsigned upstream_port;
	int upstream_https;  /* upstream_scheme = https */
	char *upstream_url;  /* "http://host:port" / "https://[v6]:port" */
	char *upstream_ca_file; /* upstream_ca_file: CA bundle to verify an https upstream; NULL = system store */
	unsigned connect_timeout_secs; /* default 5 */
	unsigned read_timeout_secs;    /* default 60 */
	unsigned line;                 /* line of the [site …] header */
};

struct config_cert {
	char *name;      /* "" for the [tls] pair, else the section name */
	char *cert_path;
	char *key_path;
	unsigned line;      /* line of the section header */
	unsigned cert_line; /* line of cert_path, for messages */
	unsigned key_line;  /* line of key_path, for messages */
};

enum config_acme_challenge {
	CONFIG_ACME_HTTP01 = 0, /* on http_port (the port-80 listener) */
	CONFIG_ACME_TLSALPN01   /* on the HTTPS listener, ALPN acme-tls/1 */
};

struct config {
	char *path; /* file name used in messages */

	/* [server] (static) */
	char *bind_addr;
	int allow_wildcard_bind;
	unsigned https_port;     /* 443; 0 = any free port (tests, embedding) */
	unsigned http_port;      /* 80; 0 disables the plain listener */
	unsigned workers;        /* 0 in the file = one per CPU, resolved here */
	unsigned max_connections;            /* 1024 */
	unsigned idle_timeout_secs;          /* 60 */
	unsigned tls_handshake_timeout_secs; /* 10 */
	/* a request head must be complete this long after the handshake
	 * (first request) or idle (later requests) allowance ran out */
	unsigned header_timeout_secs;        /* 10 */
	unsigned shutdown_timeout_secs;      /* 30 */
	/* proxy_protocol_from: the balancers whose connections start with a
	 * PROXY protocol header (and must); none = the protocol is off */
	struct cidr *proxy_from;
	size_t n_proxy_from;

	/* [tls] */
	enum config_tls_mode tls_mode; /* acme */
	char **acme_domains;
	size_t n_acme_domains;
	char *acme_contact;
	char *acme_directory; /* resolved URL (production/staging expanded) */
	char *acme_cache_dir; /* /var/lib/reverse-proxy/acme-cache */
	char *acme_ca_file;   /* NULL if unset */
	enum config_acme_challenge acme_challenge; /* http-01 */
	char *acme_profile;	      /* NULL: the CA's default */
	char *acme_eab_kid;	      /* external account binding, or NULL */
	char *acme_eab_hmac_key_file; /* with acme_eab_kid */
	int session_tickets;  /* true: resume TLS sessions from tickets */
	struct config_cert *certs; /* manual mode: [tls] pair first, then [certificate …] */
	size_t n_certs;

	/* [logging] */
	enum log_level log_level; /* info */
	char *log_file;           /* NULL if unset */

	/* [rate_limit] */
	unsigned rl_requests_per_second; /* 10 */
	unsigned rl_burst;               /* 20 */
	unsigned rl_eviction_interval_secs; /* 60 */
	unsigned rl_eviction_age_secs;      /* 300 */

	/* [limits] */
	uint64_t body_limit_bytes; /* 104857600 */
	/* open connections per client address (IPv4 /32, IPv6 /64) on each
	 * listener, counted from accept; 0 = no cap (SPEC F15) */
	unsigned max_connections_per_ip; /* 128 */
	/* bytes per second a client must move, averaged over 10 s, while it
	 * alone holds up an upstream transfer (a body trickling in, or a
	 * response read slowly); 0 = no minimum (issue 16) */
	unsigned client_min_rate; /* 500 */

	/* [metrics] (static): the Prometheus listener, off when listen is
	 * absent; a non-loopback address needs allow_public */
	char *metrics_host; /* IP literal without brackets, or NULL (off) */
	unsigned metrics_port; /* 0: any free port */
	int metrics_allow_public;

	struct config_site *sites;
	size_t n_sites;
};

/*
 * Diagnostics sink: called once per error or warning, in file order.
 * file is the name given to the loader; line is 0 when the message is not
 * about one line (e.g. a missing required key, reported at the section).
 */
typedef void (*config_diag_fn)(void *ud, int is_error, const char *file,
			       unsigned line, const char *msg);

/*
 * Parse and validate. On success returns 0 and *out owns a new config (free
 * with config_free). On any error returns -1, *out is NULL, and every
 * problem found was reported through diag (which may be NULL). Warnings do
 * not fail the load. check_files = 1 also opens cert/key files and checks
 * that each key matches its certificate.
 */
/* Bits of config_load_*'s flags (historically check_files: 1 still
 * means "check the files"). CONFIG_CERTS_ONLY: the file of a certificate
 * manager (alkproxy_certs_*): [tls] and [logging] only — no [site], no
 * bind_addr, HTTP-01 answered by the program, tls-alpn-01 refused. */
#define CONFIG_CHECK_FILES 1
#define CONFIG_CERTS_ONLY 2
int config_load_file(const char *path, int check_files, config_diag_fn diag,
		     void *ud, struct config **out);
int config_load_string(const char *text, const char *name, int check_files,
		       config_diag_fn diag, void *ud, struct config **out);
void config_free(struct config *cfg);

const char *config_log_level_name(enum log_level l);

/* A handler label (the [site] key handler, alkproxy_set_handler): 1 to
 * CONFIG_HANDLER_LABEL_MAX of A-Z a-z 0-9 . _ - */
int config_handler_label_valid(const char *label);

#endif
