/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/**
 * @file alkproxy.h
 * @brief libalkproxy: a hardened TLS reverse proxy to embed in a C program,
 * and the module that puts it in front of a libmicrohttpd service (handler
 * sites) or gives such a service its certificates (certificate manager).
 *
 * One handle (struct alkproxy) is one proxy instance: TLS termination with
 * SNI certificates, host routing, streaming forwarding to upstreams.
 * Functions return 0 (ALKPROXY_OK) or a positive enum alkproxy_err value.
 * Unless stated otherwise, a handle is used from one thread at a time.
 */
#ifndef ALKPROXY_H
#define ALKPROXY_H

#include <stddef.h>
#include <stdint.h>

/* The handler sites and the certificate manager speak libmicrohttpd's and
 * GnuTLS's types (pkg-config --cflags alkproxy includes both). */
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(ALKPROXY_BUILDING) && defined(__GNUC__)
#define ALKPROXY_EXPORT __attribute__((visibility("default")))
#else
#define ALKPROXY_EXPORT
#endif

/** This header's version X.Y.Z, as (X << 16) | (Y << 8) | Z in
 * ALKPROXY_VERSION_NUM (compare with alkproxy_version_num() for the
 * library actually loaded). */
#define ALKPROXY_VERSION_MAJOR 0
#define ALKPROXY_VERSION_MINOR 2
#define ALKPROXY_VERSION_PATCH 0
#define ALKPROXY_VERSION_NUM                                                   \
	((ALKPROXY_VERSION_MAJOR << 16) | (ALKPROXY_VERSION_MINOR << 8) |      \
	 ALKPROXY_VERSION_PATCH)

/** Error codes. Numbers are stable; new codes are only appended. */
enum alkproxy_err {
	ALKPROXY_OK = 0,
	ALKPROXY_EINVAL = 1,  /**< bad argument */
	ALKPROXY_ECONFIG = 2, /**< the configuration is invalid, or a file or
				   directory it names is unusable (e.g. the
				   ACME cache directory at start) */
	ALKPROXY_ENOMEM = 3,  /**< out of memory */
	ALKPROXY_ELISTEN = 4, /**< cannot bind or listen */
	ALKPROXY_ETLS = 5,    /**< certificates or the TLS setup failed */
	ALKPROXY_ESTATE = 6,  /**< call not valid in the handle's state */
	ALKPROXY_ESYSTEM = 7  /**< a thread or another system resource */
};

/** Opaque proxy instance. */
typedef struct alkproxy alkproxy;

/**
 * Receives configuration diagnostics, one per call, as
 * "file:line: message" (errors) or "file:line: warning: message".
 * The string is valid only during the call.
 */
typedef void (*alkproxy_diag_cb)(void *ud, int is_error, const char *msg);

/** Event levels, most severe first (the config's [logging] level). */
enum alkproxy_log_level {
	ALKPROXY_LOG_ERROR = 0,
	ALKPROXY_LOG_WARN = 1,
	ALKPROXY_LOG_INFO = 2,
	ALKPROXY_LOG_DEBUG = 3,
	ALKPROXY_LOG_TRACE = 4
};

/**
 * Receives one log event: its level, its name (e.g. "REQUEST"), its fields
 * as escaped `key=value` pairs separated by spaces, and the whole formatted
 * line (timestamp, level, event, fields) as the daemon would print it. The
 * strings are valid only during the call. Called from any of the proxy's
 * threads, one call at a time (calls are serialized); the callback must not
 * call back into the library.
 */
typedef void (*alkproxy_log_cb)(void *ud, enum alkproxy_log_level level,
				const char *event, const char *fields,
				const char *line);

/**
 * Route every event to cb instead of stdout and the log file (NULL restores
 * them; see alkproxy_set_log_stdout). Logging is process-wide: it applies to every handle in the
 * process. Thread-safe.
 */
ALKPROXY_EXPORT void alkproxy_set_log_callback(alkproxy_log_cb cb, void *ud);

/**
 * Also write every event to standard output (on = 1), as the
 * reverse-proxy daemon does: one line per event, never blocking (lines
 * nobody reads are dropped and counted in a LOG_DROPPED event). Off by
 * default: the library writes nothing to the program's stdout or stderr;
 * events go to the log callback, else to the [logging] file, else
 * nowhere. Process-wide; thread-safe.
 */
ALKPROXY_EXPORT void alkproxy_set_log_stdout(int on);

/**
 * Take the listening sockets a service manager passes (systemd socket
 * activation: LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES = https, http,
 * metrics) instead of binding, matched to the listeners by name or
 * address; the variables are unset once read. Off by default (the
 * program's own listeners may be socket-activated); the daemon turns it
 * on. Process-wide; call before the first alkproxy_start().
 */
ALKPROXY_EXPORT void alkproxy_set_socket_activation(int on);

/** Static text for an error code; never NULL, never to be freed. */
ALKPROXY_EXPORT const char *alkproxy_strerror(int err);

/** Version string "X.Y.Z (revision)"; static, never freed. */
ALKPROXY_EXPORT const char *alkproxy_version(void);
/** The loaded library's version as ALKPROXY_VERSION_NUM encodes it. */
ALKPROXY_EXPORT unsigned long alkproxy_version_num(void);

/**
 * Parse and validate a configuration file, including the certificate and
 * key files it names, without starting anything. Diagnostics go to diag
 * (may be NULL). Returns ALKPROXY_OK or ALKPROXY_ECONFIG.
 * Thread-safe.
 */
ALKPROXY_EXPORT int alkproxy_validate_file(const char *path,
					   alkproxy_diag_cb diag, void *ud);

/**
 * Create a proxy from a configuration file (or, for _string, from an INI
 * text in memory; name is used in diagnostics). Loads certificates but
 * binds nothing. On success *out owns a new handle, to be released with
 * alkproxy_free(). On failure *out is NULL, diag was called for every
 * problem found and the code says what failed (ECONFIG, ETLS, ENOMEM,
 * ESYSTEM). The strings are copied; the caller keeps ownership. diag and
 * ud are kept: alkproxy_start() reports its errors through them too, so
 * ud must stay valid until alkproxy_free() (or pass NULL).
 *
 * A handle's states: created → running (alkproxy_start) → stopped
 * (alkproxy_stop, alkproxy_shutdown, or a failed start) → running again
 * (alkproxy_start). A call not valid in the current state returns
 * ALKPROXY_ESTATE and changes nothing. Every thread the library starts
 * has all signals blocked (signals stay with the program), and the
 * library writes nothing to stderr; its log goes to stdout unless a log
 * callback or a log file is set.
 */
ALKPROXY_EXPORT int alkproxy_create_file(alkproxy **out, const char *path,
					 alkproxy_diag_cb diag, void *ud);
ALKPROXY_EXPORT int alkproxy_create_string(alkproxy **out, const char *ini,
					   const char *name,
					   alkproxy_diag_cb diag, void *ud);

/**
 * Bind the listeners and start the worker and upstream threads. Returns
 * when the proxy is serving. Valid when created or stopped (a stopped
 * handle starts again with its current configuration); when running it
 * gives ALKPROXY_ESTATE. On failure nothing keeps running, the handle is
 * stopped, a STARTUP_FAILED event is logged, the create call's diag gets
 * "start: reason", and the code says what failed (ELISTEN, ECONFIG,
 * ESYSTEM, ENOMEM).
 */
ALKPROXY_EXPORT int alkproxy_start(alkproxy *p);

/** The HTTPS port actually bound (useful with https_port = 0); 0 before
 * alkproxy_start(). */
ALKPROXY_EXPORT unsigned alkproxy_https_port(const alkproxy *p);

/**
 * Reload: parse and validate a new configuration and, if it is valid,
 * apply its dynamic part (sites, rate limit, body limit, log level, manual
 * certificates) to new requests; requests in flight finish with the
 * configuration they started with. If it is invalid the running
 * configuration stays and ALKPROXY_ECONFIG is returned; every problem went
 * to diag and a CONFIG_RELOAD status=failure event was logged. Changes to
 * static settings (listeners, workers, limits of [server], ACME, log file)
 * need a restart: they are reported once with a CONFIG_STATIC_CHANGED
 * warning. Call from the thread that owns the handle.
 */
ALKPROXY_EXPORT int alkproxy_reload_file(alkproxy *p, const char *path,
					 alkproxy_diag_cb diag, void *ud);
ALKPROXY_EXPORT int alkproxy_reload_string(alkproxy *p, const char *ini,
					   const char *name,
					   alkproxy_diag_cb diag, void *ud);

/**
 * Graceful shutdown: stop accepting, let requests in flight finish for up
 * to timeout_secs (negative: the configured shutdown_timeout_secs), close
 * idle keep-alive connections, abort what is left, join every thread.
 * Returns ALKPROXY_OK and the handle is stopped (alkproxy_start() may
 * run it again); ALKPROXY_ESTATE when it is not running.
 */
ALKPROXY_EXPORT int alkproxy_shutdown(alkproxy *p, int timeout_secs);

/**
 * Raise the soft RLIMIT_NOFILE of the process to its hard limit (what a
 * daemon does at start; an embedding program may prefer its own policy).
 * Creating a proxy fails with ALKPROXY_ECONFIG when max_connections needs
 * more descriptors than the soft limit allows.
 */
ALKPROXY_EXPORT void alkproxy_raise_nofile(void);

/** The plain-HTTP port actually bound (redirects and ACME challenges);
 * 0 before alkproxy_start() or when http_port = 0. */
ALKPROXY_EXPORT unsigned alkproxy_http_port(const alkproxy *p);

/** Reopen the log file (after rotation). Thread-safe. */
ALKPROXY_EXPORT int alkproxy_reopen_logs(alkproxy *p);

/**
 * Stop at once: transfers in flight are aborted, threads are joined
 * (alkproxy_shutdown(p, 0)). ALKPROXY_ESTATE (and nothing done) when the
 * handle is not running.
 */
ALKPROXY_EXPORT int alkproxy_stop(alkproxy *p);

/**
 * Counters of a handle since its creation (they survive a restart).
 * Requests are those of the HTTPS listener that reached the REQUEST log
 * line (the proxy's own answers too: /health, 404, 429, 502…).
 */
struct alkproxy_stats {
	uint64_t requests;	/**< completed requests */
	uint64_t responses[6];	/**< [1]..[5]: by status class 1xx..5xx */
	uint64_t bytes_in;	/**< request body bytes received */
	uint64_t bytes_out;	/**< response body bytes relayed from upstreams */
	uint64_t rate_limited;	/**< requests refused by the rate limiter (429) */
	uint64_t upstream_errors; /**< 502/504 answered for an upstream */
	uint64_t connections_refused; /**< by max_connections(_per_ip), both listeners */
	uint64_t connections_open;    /**< HTTPS connections open now */
};

/**
 * Fill *out with the handle's counters; size is sizeof(*out) as the caller
 * was compiled with (a larger struct of a newer header gets the fields
 * this library knows, the rest zeroed). Lock-free (per-thread counters,
 * read without stopping anyone); any thread; any state.
 */
ALKPROXY_EXPORT int alkproxy_stats(const alkproxy *p, struct alkproxy_stats *out,
				   size_t size);

/** One completed request (see alkproxy_set_request_callback). Strings are
 * valid during the call only; path has no query string. */
struct alkproxy_request {
	int status;		/**< status sent (499: the client left first) */
	const char *method;	/**< "-" when the request line never came */
	const char *host;	/**< normalized Host, "-" if none */
	const char *path;
	const char *client_ip;
	const char *site;	/**< the [site] it was routed to, or NULL */
	const char *upstream;	/**< that site's upstream, or NULL */
	const char *error;	/**< NULL, "client_abort", "timeout", "aborted" */
	uint64_t bytes_in, bytes_out; /**< as in alkproxy_stats */
	uint64_t duration_us;	/**< from the request line to the end */
	/** a handler site's label (alkproxy_set_handler), else NULL; such a
	 * request's bytes_out is 0: libmicrohttpd does not tell what the
	 * program's response sent */
	const char *handler;
};
typedef void (*alkproxy_request_cb)(void *ud, const struct alkproxy_request *r);

/**
 * Call cb for every completed request of this handle (the data of its
 * REQUEST log line, typed). cb runs on the worker thread that served the
 * request, concurrently for different requests: it must be thread-safe
 * and quick, and must not call into the library. Set it while the handle
 * is not running (else ALKPROXY_ESTATE); NULL removes it.
 */
ALKPROXY_EXPORT int alkproxy_set_request_callback(alkproxy *p,
						  alkproxy_request_cb cb,
						  void *ud);

/** A routed request as the access callback sees it; valid during the
 * callback only. */
typedef struct alkproxy_rq alkproxy_rq;

/**
 * The program's access policy: called for every request that passed the
 * proxy's own checks (framing, rate limit, body limit) and was routed to
 * a site, before it is forwarded; not for /health or requests answered
 * by the proxy (400, 404, 429…). Return 0 to let it through, or a status
 * 400..599 to answer it with that status (plain-text reason; logged as
 * ACCESS_REFUSED); any other value is answered 500. Runs on a worker
 * thread, concurrently for different requests: thread-safe, quick, no
 * blocking, no call into the library except the alkproxy_rq_* functions.
 */
typedef int (*alkproxy_access_cb)(void *ud, alkproxy_rq *rq);
/** Set (or, NULL, remove) the access callback; only while the handle is
 * not running (else ALKPROXY_ESTATE). */
ALKPROXY_EXPORT int alkproxy_set_access_callback(alkproxy *p,
						 alkproxy_access_cb cb,
						 void *ud);
/** The request's method, normalized host, path (no query), client
 * address and site (the [site] name): strings owned by the library. */
ALKPROXY_EXPORT const char *alkproxy_rq_method(const alkproxy_rq *rq);
ALKPROXY_EXPORT const char *alkproxy_rq_host(const alkproxy_rq *rq);
ALKPROXY_EXPORT const char *alkproxy_rq_path(const alkproxy_rq *rq);
ALKPROXY_EXPORT const char *alkproxy_rq_client_ip(const alkproxy_rq *rq);
ALKPROXY_EXPORT const char *alkproxy_rq_site(const alkproxy_rq *rq);
/** A request header's value (name case-insensitive), or NULL. */
ALKPROXY_EXPORT const char *alkproxy_rq_header(const alkproxy_rq *rq,
					       const char *name);
/**
 * Add a header to the request the upstream gets (e.g. the user an auth
 * check found); a header of that name from the client is dropped, so it
 * cannot be forged. For a handler site (alkproxy_set_handler) the program's
 * handler sees the header; a request whose client sent one of that name
 * is answered 400 (BAD_REQUEST), as libmicrohttpd cannot drop it. ALKPROXY_EINVAL for a name that is not a token, a
 * value with control bytes or over 8 KiB, or a header the proxy writes
 * itself (Host, X-Forwarded-*, X-Real-IP, framing and hop-by-hop ones);
 * ALKPROXY_ENOMEM. The strings are copied.
 */
ALKPROXY_EXPORT int alkproxy_rq_add_header(alkproxy_rq *rq, const char *name,
					   const char *value);

/** Stop if needed and free everything. NULL is accepted. */
ALKPROXY_EXPORT void alkproxy_free(alkproxy *p);

/* ---- handler sites ---- */

/**
 * Answer the sites configured with `handler = label` with the program's
 * libmicrohttpd access handler, as if it were registered with
 * MHD_start_daemon: the same arguments, called the same way (first with
 * *upload_data_size 0, then with the body, then once more with 0), the
 * same rules (queue a response with MHD_queue_response; suspend and resume
 * by libmicrohttpd's rules). Before it, a request goes through everything
 * the proxy does for a proxied site: TLS and SNI, framing checks, /health,
 * the rate limit (429), routing, the body limit (413, also for a body
 * larger than body_limit_bytes that arrives chunked: the handler then sees
 * no more of it), the access callback (alkproxy.h) whose added headers the
 * handler reads with MHD_lookup_connection_value; after it, the REQUEST
 * log line (with handler=label), the counters and the request callback.
 * *con_cls is the handler's own, separate from the library's.
 *
 * Differences from a daemon of the program's own: the daemon is the
 * library's (no MHD_ALLOW_UPGRADE, so no protocol upgrades; the
 * connection memory pool, about 32 KiB, holds the request head and the
 * access callback's headers too; the connection timeout is the config's
 * idle_timeout_secs); only origin-form request-targets reach a handler
 * (an absolute-form one is answered 400); the access callback sees the
 * same percent-decoded path as the handler's url.
 *
 * completed (may be NULL) is called as MHD_OPTION_NOTIFY_COMPLETED would
 * be, once per request for which the handler was called, with the same
 * con_cls pointer.
 *
 * Stopping (alkproxy_stop, alkproxy_shutdown once its drain time is up,
 * alkproxy_free): a connection the handler suspended and has not resumed
 * is resumed by the library and closed without calling the handler again
 * (libmicrohttpd would abort the process otherwise); completed runs for
 * it. Once completed ran for a request, the program must not resume its
 * connection any more.
 *
 * Threads: both run on the HTTPS worker thread that owns the connection,
 * concurrently for different connections, and must not block (a blocked
 * call stalls every connection of that worker); completed also runs on
 * the thread that calls alkproxy_stop/alkproxy_shutdown/alkproxy_free
 * for connections still open then. The libmicrohttpd daemon is the
 * library's; the handler must not stop it or change its options.
 *
 * Register before alkproxy_start (else ALKPROXY_ESTATE); handler NULL
 * removes the label. Labels: 1..64 of A-Z a-z 0-9 . _ -; at most 64
 * handlers (ALKPROXY_EINVAL). alkproxy_start and alkproxy_reload_* refuse
 * (ALKPROXY_ECONFIG, naming file:line of the site) a configuration with a
 * handler site whose label has no handler. Proxied and handler sites mix
 * in one configuration.
 */
ALKPROXY_EXPORT int alkproxy_set_handler(alkproxy *p, const char *label,
					 MHD_AccessHandlerCallback handler,
					 void *handler_cls,
					 MHD_RequestCompletedCallback completed,
					 void *completed_cls);

/* ---- certificate manager for the program's own daemon ---- */

/** Opaque certificate manager. */
typedef struct alkproxy_certs alkproxy_certs;

/**
 * A certificate manager from a configuration with [tls] (acme or manual,
 * the keys of reverse-proxy.ini(5)), optionally [certificate NAME] and
 * [logging] sections, and nothing else ([server], [site]… are errors:
 * the program's daemon has its own). In acme mode the program answers
 * HTTP-01 on its port 80 with alkproxy_certs_http01 (acme_challenge
 * tls-alpn-01 is refused). Files are checked as alkproxy_create_file
 * checks them; diagnostics go to diag as there. *out is NULL on failure.
 * Its [logging] (level, file) applies to the process-wide log, as a
 * handle's does: the last one created sets it.
 * Free with alkproxy_certs_free.
 */
ALKPROXY_EXPORT int alkproxy_certs_create_file(alkproxy_certs **out,
					       const char *path,
					       alkproxy_diag_cb diag, void *ud);
ALKPROXY_EXPORT int alkproxy_certs_create_string(alkproxy_certs **out,
						 const char *ini,
						 const char *name,
						 alkproxy_diag_cb diag,
						 void *ud);

/**
 * Load the certificates (manual mode; ALKPROXY_ETLS if one is unusable)
 * or the ACME cache, and start the ACME client in the background (acme
 * mode: it orders a certificate when none is cached and renews it, as
 * the proxy does). https_port: the local TCP port of the program's
 * HTTPS daemon — handshakes arriving on it get this manager's
 * certificates from alkproxy_certs_cert_callback. Errors also go to the
 * create call's diag. ALKPROXY_ESTATE when already started.
 */
ALKPROXY_EXPORT int alkproxy_certs_start(alkproxy_certs *m,
					 unsigned https_port);

/**
 * For MHD_OPTION_HTTPS_CERT_CALLBACK of the program's daemon
 * (MHD_USE_TLS): the certificate for the client's SNI name, from the
 * started manager registered for the connection's local port (when the
 * process has one manager or proxy handle running and nothing else, that
 * one serves every port). A
 * handshake without SNI, or for a name no certificate covers, is refused
 * (a TLS_ERROR log event). Called by GnuTLS on the daemon's threads;
 * thread-safe. Certificates replaced by a renewal stay valid for the
 * handshakes that hold them.
 */
ALKPROXY_EXPORT int alkproxy_certs_cert_callback(
	gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
	const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
	gnutls_pcert_st **pcert, unsigned int *pcert_length,
	gnutls_privkey_t *pkey);

/**
 * For the program's port-80 handler: when url is
 * /.well-known/acme-challenge/TOKEN of a validation in progress, write its
 * key authorization (the response body, text/plain, status 200) to out
 * (NUL-terminated) and return its length; otherwise (not a challenge, no
 * such token, out too small) return -1: answer as the program would (404).
 * Any thread.
 */
ALKPROXY_EXPORT int alkproxy_certs_http01(alkproxy_certs *m, const char *url,
					  char *out, size_t outsz);

/** How many names the served certificates cover now (0: none yet, e.g.
 * before the first ACME issuance). Any thread. */
ALKPROXY_EXPORT size_t alkproxy_certs_names(alkproxy_certs *m);

/** Stop the ACME client or watch (started → stopped; it may be started
 * again). ALKPROXY_ESTATE when not started. */
ALKPROXY_EXPORT int alkproxy_certs_stop(alkproxy_certs *m);

/** Stop if needed and free everything. NULL is accepted. Stop the
 * program's daemon first: its handshakes use the certificates. */
ALKPROXY_EXPORT void alkproxy_certs_free(alkproxy_certs *m);


#ifdef __cplusplus
}
#endif

#endif
