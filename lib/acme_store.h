/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * acme_store: the files the ACME client keeps in acme_cache_dir (SPEC F6).
 *   account.json      {"version":1,"directory":URL,"url":ACCOUNT_URL|null,
 *                      "key":PKCS#8 PEM}  — the account key and URL
 *   certificate.json  {"version":1,"directory":URL,"names":[…],
 *                      "chain":PEM,"key":PEM}
 *                     — the issued chain and its private key, in one file
 *                       so they can never be out of step
 *   state.json        {"version":1,"key":DIRECTORY+" "+NAMES,"failures":N,
 *                      "next_attempt_ms":T,"last_issued_ms":T}
 *                     — when the client may order next (backoff after
 *                       failures, the minimum interval after an issuance),
 *                       so a restart does not order again at once
 *   issue.lock        "pid N on HOST since TIME" — the issuance lock
 *                     (flock) that several instances sharing the
 *                     directory take to order one at a time (issue 20)
 * Every file is mode 0600, written atomically (temp file in the same
 * directory, fsync, rename, fsync of the directory) under a 077 umask.
 * A corrupt or partial file is logged (ACME_STORE_ERROR), moved aside to
 * NAME.corrupt and treated as absent: the client then registers a new
 * account or orders a new certificate. Only the ACME thread (and tests)
 * call these functions.
 */
#ifndef AP_ACME_STORE_H
#define AP_ACME_STORE_H

#include <stddef.h>
#include <stdint.h>

/* Largest file the store reads back. */
#define ACME_STORE_MAX_FILE (1024 * 1024)

struct acme_account {
	char *directory; /* directory URL the account belongs to */
	char *url;	 /* account URL (kid); NULL until registered */
	char *key_pem;	 /* PKCS#8 PEM, NUL-terminated; wiped on clear */
	size_t key_len;
};

struct acme_cert_cache {
	char *directory; /* directory URL it was issued by; NULL if unknown */
	char **names; /* the names the certificate was ordered for */
	size_t n_names;
	char *chain; /* PEM chain, NUL-terminated */
	size_t chain_len;
	char *key; /* PEM private key, NUL-terminated; wiped on clear */
	size_t key_len;
};

/* Create dir (and missing parents) with mode 0700, and check it: a
 * directory (a symbolic link is followed), owned by the effective user, not
 * writable by group or others (else refused: someone else could swap our
 * key files; it is never chmod'ed for the operator). Temporary files an interrupted write left in it
 * (".NAME." and six random characters; they may hold keys) are removed
 * once 5 minutes old (a younger one may be another instance's write in
 * progress, in a shared directory). Returns 0, or -1 with
 * errno set and, when why is not NULL, *why a static reason for the log. */
int acme_store_ensure_dir(const char *dir, const char **why);

/* Write data to dir/name atomically with mode 0600. Returns 0 or -1 (errno
 * kept); on failure the previous file, if any, is untouched. */
int acme_store_write_atomic(const char *dir, const char *name, const void *data,
			    size_t len);

/* Load account.json into *a. Returns 1 if loaded, 0 if absent, corrupt
 * (logged, moved aside) or for another directory, -1 on I/O error. On
 * return other than 1, *a is empty. Free with acme_account_clear. */
int acme_store_load_account(const char *dir, const char *directory_url,
			    struct acme_account *a);
int acme_store_save_account(const char *dir, const struct acme_account *a);
/* Wipe the key and free every member; a may be zeroed or NULL. */
void acme_account_clear(struct acme_account *a);

/* Load certificate.json. Returns 1, 0 (absent or corrupt, logged) or -1.
 * The caller checks the certificate itself (names, dates, key). */
int acme_store_load_cert(const char *dir, struct acme_cert_cache *c);
/* The same, for a look at a directory other instances share: a file that
 * cannot be used is reported as absent (0) and left where it is — it may
 * be a newer version's, or be replaced at that moment. */
int acme_store_peek_cert(const char *dir, struct acme_cert_cache *c);
int acme_store_save_cert(const char *dir, const struct acme_cert_cache *c);
void acme_cert_cache_clear(struct acme_cert_cache *c);

/* The schedule kept across restarts. key says which directory and names
 * it is for (another key: ignore it); times are ms since the epoch, 0 =
 * none. */
struct acme_state {
	char *key;
	unsigned failures;	 /* failed attempts since the last issuance */
	int64_t next_attempt_ms; /* no order before (backoff, Retry-After) */
	int64_t last_issued_ms;	 /* the last successful issuance */
};
/* Returns 1 loaded, 0 absent or corrupt (logged, moved aside), -1 on I/O
 * error; *st empty unless 1. */
int acme_store_load_state(const char *dir, struct acme_state *st);
int acme_store_save_state(const char *dir, const struct acme_state *st);
void acme_state_clear(struct acme_state *st);

/* The issuance lock: flock(LOCK_EX | LOCK_NB) on dir/issue.lock, which
 * then names its holder. Returns the descriptor that holds it (give it to
 * acme_store_unlock), -1 when another process holds it (its line copied
 * into holder), -2 on another error (errno). The kernel drops the lock
 * with its holder's process, however it ends: there is no stale lock to
 * clear; on NFS the Linux client maps flock to a POSIX lock that the
 * server's lease drops when the holder's host goes away. */
int acme_store_lock(const char *dir, char *holder, size_t holdersz);
void acme_store_unlock(int fd);

/* What identifies one version of certificate.json: a rename (every save)
 * changes the inode, a change in place the size or time. */
struct acme_stamp {
	uint64_t dev, ino;
	int64_t size, mtime_ns;
};
/* 0 and *out, or -1 when the file is absent (*out zeroed). */
int acme_store_cert_stamp(const char *dir, struct acme_stamp *out);

#endif
