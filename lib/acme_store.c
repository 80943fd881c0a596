/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * acme_store: the account and certificate cache in acme_cache_dir, as
 * jansson JSON files written atomically with mode 0600 (see acme_store.h).
 * Threads: the ACME thread only. The process umask is left alone (it is
 * process-wide and other threads create files); every file and directory
 * is created with an explicit mode instead and fchmod'ed to it, so a loose
 * umask cannot widen it. Key material read or written here is wiped from
 * the buffers that held it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "acme_store.h"
#include "log.h"

#define ACCOUNT_FILE "account.json"
#define CERT_FILE "certificate.json"
#define STATE_FILE "state.json"
#define LOCK_FILE "issue.lock"
/* A temporary file younger than this may be another instance's write in
 * progress (a shared cache directory): left alone. */
#define STALE_TEMP_SECS 300
#define STORE_VERSION 1
/* Bounds on what a cached file may hold. */
#define STORE_MAX_NAMES 100
#define STORE_MAX_STR (256 * 1024)

static void wipe_free(char *p, size_t len)
{
	if (p == NULL)
		return;
	explicit_bzero(p, len);
	free(p);
}

static int dir_fail(const char **why, const char *reason, int err)
{
	if (why != NULL)
		*why = reason;
	errno = err;
	return -1;
}

/* ".account.json.", ".certificate.json." or ".state.json." and mkostemp's six random
 * characters: what acme_store_write_atomic leaves when it is killed
 * between mkostemp and rename. */
static int is_stale_temp(const char *n)
{
	static const char *const names[] = {ACCOUNT_FILE, CERT_FILE,
					     STATE_FILE};
	size_t i, l;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		l = strlen(names[i]);
		if (n[0] == '.' && strncmp(n + 1, names[i], l) == 0 &&
		    n[1 + l] == '.' && strlen(n + 2 + l) == 6)
			return 1;
	}
	return 0;
}

static void remove_stale_temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		struct stat st;

		if (!is_stale_temp(e->d_name) ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir,
				     e->d_name) >= sizeof(path))
			continue;
		if (lstat(path, &st) != 0 ||
		    st.st_mtime > time(NULL) - STALE_TEMP_SECS)
			continue;
		if (unlink(path) == 0)
			log_event(LOG_LEVEL_WARN, "ACME_CACHE", "status",
				  "stale_temp_removed", "file", e->d_name,
				  LOG_END);
	}
	closedir(d);
}

int acme_store_ensure_dir(const char *dir, const char **why)
{
	char path[PATH_MAX];
	size_t len = strlen(dir), i;
	struct stat st;

	if (len == 0 || len >= sizeof(path))
		return dir_fail(why, "path too long", ENAMETOOLONG);
	memcpy(path, dir, len + 1);
	for (i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return dir_fail(why, "cannot create it", errno);
		path[i] = i < len ? '/' : '\0';
	}
	/* stat, not lstat: a symbolic link to a directory of ours is fine
	 * (the checks below are on the directory it names) */
	if (stat(dir, &st) != 0)
		return dir_fail(why, "cannot stat it", errno);
	if (!S_ISDIR(st.st_mode))
		return dir_fail(why, "not a directory", ENOTDIR);
	if (st.st_uid != geteuid())
		return dir_fail(why,
				"owned by another user than the one the "
				"proxy runs as; chown it or choose another "
				"acme_cache_dir",
				EPERM);
	/* Never chmod it ourselves: acme_cache_dir = /tmp as root would
	 * take /tmp from everybody. */
	if ((st.st_mode & 022) != 0)
		return dir_fail(why,
				"group or others may write it; chmod 0700 it "
				"or choose another acme_cache_dir",
				EPERM);
	remove_stale_temps(dir);
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int acme_store_write_atomic(const char *dir, const char *name, const void *data,
			    size_t len)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int fd = -1, dfd = -1, rc = -1, saved;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >=
		    sizeof(tmp) ||
	    (size_t)snprintf(dst, sizeof(dst), "%s/%s", dir, name) >=
		    sizeof(dst)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fchmod(fd, 0600) != 0 || write_all(fd, data, len) != 0 ||
	    fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, dst) != 0)
		goto out;
	tmp[0] = '\0';
	/* The rename is durable only once the directory is on disk. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0)
		goto out;
	rc = 0;
out:
	saved = errno;
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (tmp[0] != '\0')
		unlink(tmp);
	errno = saved;
	return rc;
}

/* Read dir/name whole. Returns 1 with *buf (NUL-terminated, caller wipes
 * and frees), 0 if absent, -1 on error (errno set). */
static int read_whole(const char *dir, const char *name, char **buf,
		      size_t *len)
{
	char path[PATH_MAX];
	struct stat st;
	size_t got = 0;
	char *b = NULL;
	int fd, rc = -1;

	*buf = NULL;
	*len = 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) != 0)
		goto out;
	if (!S_ISREG(st.st_mode) || st.st_size > ACME_STORE_MAX_FILE) {
		errno = EFBIG;
		goto out;
	}
	b = malloc((size_t)st.st_size + 1);
	if (b == NULL)
		goto out;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	b = NULL;
	rc = 1;
out:
	if (b != NULL)
		wipe_free(b, (size_t)st.st_size + 1);
	close(fd);
	return rc;
}

/* A file that cannot be used: say so and move it out of the way, so the
 * next save starts clean and the bad copy stays for inspection. */
static void quarantine(const char *dir, const char *name, const char *why)
{
	char from[PATH_MAX], to[PATH_MAX];

	log_event(LOG_LEVEL_ERROR, "ACME_STORE_ERROR", "file", name, "error",
		  why, "action", "ignored, will be recreated", LOG_END);
	if ((size_t)snprintf(from, sizeof(from), "%s/%s", dir, name) >=
		    sizeof(from) ||
	    (size_t)snprintf(to, sizeof(to), "%s/%s.corrupt", dir, name) >=
		    sizeof(to))
		return;
	(void)rename(from, to);
}

/* A string member of at most STORE_MAX_STR bytes, copied; NULL if absent
 * or of the wrong type. */
static char *get_str(json_t *obj, const char *key, size_t *len)
{
	json_t *v = json_object_get(obj, key);
	char *s;
	size_t n;

	if (!json_is_string(v))
		return NULL;
	n = json_string_length(v);
	if (n == 0 || n > STORE_MAX_STR || memchr(json_string_value(v), 0, n))
		return NULL;
	s = malloc(n + 1);
	if (s == NULL)
		return NULL;
	memcpy(s, json_string_value(v), n + 1);
	if (len != NULL)
		*len = n;
	return s;
}

void acme_account_clear(struct acme_account *a)
{
	if (a == NULL)
		return;
	free(a->directory);
	free(a->url);
	wipe_free(a->key_pem, a->key_len);
	memset(a, 0, sizeof(*a));
}

int acme_store_load_account(const char *dir, const char *directory_url,
			    struct acme_account *a)
{
	json_error_t jerr;
	json_t *root = NULL;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(a, 0, sizeof(*a));
	rc = read_whole(dir, ACCOUNT_FILE, &buf, &len);
	if (rc <= 0) {
		if (rc < 0)
			log_event(LOG_LEVEL_ERROR, "ACME_STORE_ERROR", "file",
				  ACCOUNT_FILE, "error", strerror(errno), LOG_END);
		return rc;
	}
	rc = 0;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		quarantine(dir, ACCOUNT_FILE,
			   root == NULL ? jerr.text : "not a JSON object");
		goto out;
	}
	if (json_integer_value(json_object_get(root, "version")) !=
		    STORE_VERSION ||
	    (a->directory = get_str(root, "directory", NULL)) == NULL ||
	    (a->key_pem = get_str(root, "key", &a->key_len)) == NULL) {
		acme_account_clear(a);
		quarantine(dir, ACCOUNT_FILE, "missing or invalid members");
		goto out;
	}
	a->url = get_str(root, "url", NULL); /* may be absent */
	if (strcmp(a->directory, directory_url) != 0) {
		/* An account belongs to one CA: start afresh (the old file
		 * is replaced when the new account is saved). */
		log_event(LOG_LEVEL_WARN, "ACME_ACCOUNT", "status",
			  "other directory", "cached", a->directory,
			  "directory", directory_url, LOG_END);
		acme_account_clear(a);
		goto out;
	}
	rc = 1;
out:
	if (root != NULL) {
		/* The parsed tree holds a copy of the key: wipe it too. */
		json_t *k = json_object_get(root, "key");

		if (json_is_string(k))
			explicit_bzero((char *)(uintptr_t)json_string_value(k),
				       json_string_length(k));
		json_decref(root);
	}
	wipe_free(buf, len);
	return rc;
}

/* Serialize root, write it atomically, wipe the text. */
static int save_json(const char *dir, const char *name, json_t *root)
{
	char *text;
	size_t len;
	int rc;

	text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (text == NULL)
		return -1;
	len = strlen(text);
	rc = acme_store_write_atomic(dir, name, text, len);
	if (rc != 0)
		log_event(LOG_LEVEL_ERROR, "ACME_STORE_ERROR", "file", name,
			  "error", strerror(errno), LOG_END);
	explicit_bzero(text, len);
	free(text);
	return rc;
}

/* jansson copies strings it is given; wipe its copy of a key. */
static void wipe_member(json_t *root, const char *key)
{
	json_t *k = json_object_get(root, key);

	if (json_is_string(k))
		explicit_bzero((char *)(uintptr_t)json_string_value(k),
			       json_string_length(k));
}

int acme_store_save_account(const char *dir, const struct acme_account *a)
{
	json_t *root;
	int rc = -1;

	root = json_pack("{s:i, s:s, s:s%, s:s?}", "version", STORE_VERSION,
			 "directory", a->directory, "key", a->key_pem,
			 a->key_len, "url", a->url);
	if (root == NULL)
		return -1;
	rc = save_json(dir, ACCOUNT_FILE, root);
	wipe_member(root, "key");
	json_decref(root);
	return rc;
}

void acme_cert_cache_clear(struct acme_cert_cache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n_names; i++)
		free(c->names[i]);
	free(c->names);
	free(c->directory);
	free(c->chain);
	wipe_free(c->key, c->key_len);
	memset(c, 0, sizeof(*c));
}

static int load_cert(const char *dir, struct acme_cert_cache *c, int aside);

int acme_store_load_cert(const char *dir, struct acme_cert_cache *c)
{
	return load_cert(dir, c, 1);
}

int acme_store_peek_cert(const char *dir, struct acme_cert_cache *c)
{
	return load_cert(dir, c, 0);
}

/* aside: a bad file is moved aside (the instance that owns the
 * directory's files now); otherwise only reported as absent. */
static int load_cert(const char *dir, struct acme_cert_cache *c, int aside)
{
	json_error_t jerr;
	json_t *root = NULL, *names, *v;
	char *buf = NULL;
	size_t len = 0, i;
	int rc;

	memset(c, 0, sizeof(*c));
	rc = read_whole(dir, CERT_FILE, &buf, &len);
	if (rc <= 0) {
		if (rc < 0)
			log_event(LOG_LEVEL_ERROR, "ACME_STORE_ERROR", "file",
				  CERT_FILE, "error", strerror(errno), LOG_END);
		return rc;
	}
	rc = 0;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		if (aside)
			quarantine(dir, CERT_FILE,
				   root == NULL ? jerr.text
						: "not a JSON object");
		goto out;
	}
	names = json_object_get(root, "names");
	if (json_integer_value(json_object_get(root, "version")) !=
		    STORE_VERSION ||
	    !json_is_array(names) || json_array_size(names) == 0 ||
	    json_array_size(names) > STORE_MAX_NAMES ||
	    (c->chain = get_str(root, "chain", &c->chain_len)) == NULL ||
	    (c->key = get_str(root, "key", &c->key_len)) == NULL)
		goto bad;
	v = json_object_get(root, "directory");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || json_string_length(v) > 2048 ||
		    (c->directory = strdup(json_string_value(v))) == NULL)
			goto bad;
	}
	c->names = calloc(json_array_size(names), sizeof(*c->names));
	if (c->names == NULL)
		goto bad;
	json_array_foreach(names, i, v)
	{
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > 253)
			goto bad;
		c->names[i] = strdup(json_string_value(v));
		if (c->names[i] == NULL)
			goto bad;
		c->n_names = i + 1;
	}
	rc = 1;
	goto out;
bad:
	acme_cert_cache_clear(c);
	if (aside)
		quarantine(dir, CERT_FILE, "missing or invalid members");
out:
	if (root != NULL) {
		wipe_member(root, "key");
		json_decref(root);
	}
	wipe_free(buf, len);
	return rc;
}

int acme_store_save_cert(const char *dir, const struct acme_cert_cache *c)
{
	json_t *root = NULL, *names;
	size_t i;
	int rc = -1;

	names = json_array();
	if (names == NULL)
		return -1;
	for (i = 0; i < c->n_names; i++)
		if (json_array_append_new(names, json_string(c->names[i])) != 0)
			goto out;
	root = json_pack("{s:i, s:s?, s:O, s:s%, s:s%}", "version",
			 STORE_VERSION, "directory", c->directory, "names", names,
			 "chain", c->chain, c->chain_len, "key", c->key,
			 c->key_len);
	if (root == NULL)
		goto out;
	rc = save_json(dir, CERT_FILE, root);
	wipe_member(root, "key");
out:
	json_decref(names);
	json_decref(root);
	return rc;
}

/* state.json: when the client may order next (acme_store.h). */
void acme_state_clear(struct acme_state *st)
{
	if (st == NULL)
		return;
	free(st->key);
	memset(st, 0, sizeof(*st));
}

static int get_i64(json_t *root, const char *name, int64_t *out)
{
	json_t *v = json_object_get(root, name);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (int64_t)json_integer_value(v);
	return 0;
}

int acme_store_load_state(const char *dir, struct acme_state *st)
{
	json_t *root = NULL;
	char *buf = NULL;
	size_t len = 0, klen = 0;
	int64_t failures = 0;
	int rc;

	memset(st, 0, sizeof(*st));
	rc = read_whole(dir, STATE_FILE, &buf, &len);
	if (rc != 1)
		return rc;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	st->key = get_str(root, "key", &klen);
	if (root == NULL || st->key == NULL ||
	    json_integer_value(json_object_get(root, "version")) !=
		    STORE_VERSION ||
	    get_i64(root, "failures", &failures) != 0 ||
	    failures > 1000000 ||
	    get_i64(root, "next_attempt_ms", &st->next_attempt_ms) != 0 ||
	    get_i64(root, "last_issued_ms", &st->last_issued_ms) != 0) {
		acme_state_clear(st);
		quarantine(dir, STATE_FILE, "not a valid state file");
		rc = 0;
	} else
		st->failures = (unsigned)failures;
	json_decref(root);
	free(buf);
	return rc;
}

int acme_store_save_state(const char *dir, const struct acme_state *st)
{
	json_t *root;
	int rc;

	root = json_pack("{s:i, s:s, s:I, s:I, s:I}", "version", STORE_VERSION,
			 "key", st->key != NULL ? st->key : "", "failures",
			 (json_int_t)st->failures, "next_attempt_ms",
			 (json_int_t)st->next_attempt_ms, "last_issued_ms",
			 (json_int_t)st->last_issued_ms);
	if (root == NULL)
		return -1;
	rc = save_json(dir, STATE_FILE, root);
	json_decref(root);
	return rc;
}

int acme_store_lock(const char *dir, char *holder, size_t holdersz)
{
	char path[PATH_MAX], host[256] = "-", stamp[32], text[400];
	time_t now = time(NULL);
	struct tm tm;
	ssize_t n;
	int fd, len;

	if (holdersz > 0)
		holder[0] = '\0';
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, LOCK_FILE) >=
	    sizeof(path))
		return -2;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -2;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int busy = errno == EWOULDBLOCK;

		if (busy && holdersz > 1) {
			n = pread(fd, holder, holdersz - 1, 0);
			holder[n > 0 ? (size_t)n : 0] = '\0';
			holder[strcspn(holder, "\n")] = '\0';
		}
		close(fd);
		return busy ? -1 : -2;
	}
	/* who holds it, for the others' log lines */
	(void)gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	len = snprintf(text, sizeof(text), "pid %ld on %s since %s\n",
		       (long)getpid(), host, stamp);
	if (ftruncate(fd, 0) != 0 ||
	    pwrite(fd, text, (size_t)len, 0) != (ssize_t)len)
		len = 0; /* the lock holds all the same */
	return fd;
}

void acme_store_unlock(int fd)
{
	if (fd < 0)
		return;
	if (ftruncate(fd, 0) != 0) {
		/* the holder's line stays: it only informs */
	}
	close(fd); /* releases the flock */
}

int acme_store_cert_stamp(const char *dir, struct acme_stamp *out)
{
	char path[PATH_MAX];
	struct stat st;

	memset(out, 0, sizeof(*out));
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, CERT_FILE) >=
		    sizeof(path) ||
	    stat(path, &st) != 0)
		return -1;
	out->dev = (uint64_t)st.st_dev;
	out->ino = (uint64_t)st.st_ino;
	out->size = (int64_t)st.st_size;
	out->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
			st.st_mtim.tv_nsec;
	return 0;
}
