/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * challenge: the ACME HTTP-01 token map (see challenge.h). A fixed array
 * of at most CHALLENGE_MAP_MAX entries under one mutex: the ACME thread
 * publishes and withdraws tokens, the port-80 listener looks them up.
 * Strings are copied in and out, so no caller holds a pointer into it.
 * With a shared directory (challenge_map_share) each token is also a file
 * DIR/http-01/TOKEN, and a token not in memory is looked up there: the
 * CA's validation request may reach another instance behind the balancer
 * than the one that ordered. The directory name is under the mutex too
 * (the listener may look a token up while it is set); the file I/O is
 * not. A file write that fails leaves the token in memory only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "challenge.h"

struct challenge_entry {
	char *token;
	char *key_auth;
};

struct challenge_map {
	pthread_mutex_t mu;
	struct challenge_entry e[CHALLENGE_MAP_MAX];
	size_t n;
	char *dir; /* DIR/http-01, or NULL; set before any other use */
};

/* Longest token taken as a file name (Let's Encrypt's are 43). */
#define TOKEN_FILE_MAX 128

/* A token is base64url (RFC 8555 §8.3): safe as a file name. */
static int token_ok(const char *t, size_t n)
{
	size_t i;

	if (n == 0 || n > TOKEN_FILE_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = t[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

int challenge_map_share(struct challenge_map *m, const char *dir)
{
	size_t n = strlen(dir) + sizeof("/http-01");
	char *d = malloc(n), *old;
	struct stat st;

	if (d == NULL)
		return -1;
	snprintf(d, n, "%s/http-01", dir);
	if ((mkdir(d, 0700) != 0 && errno != EEXIST) || lstat(d, &st) != 0) {
		free(d);
		return -1;
	}
	/* ours alone, like the cache directory: whoever could write here
	 * could answer the CA for us */
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022) != 0) {
		free(d);
		errno = EPERM;
		return -1;
	}
	/* the listener may be looking up a token right now */
	pthread_mutex_lock(&m->mu);
	old = m->dir;
	m->dir = d;
	pthread_mutex_unlock(&m->mu);
	free(old);
	return 0;
}

/* path = the map's directory + "/" + token (or "/." + token + ".XXXXXX"
 * for a temporary); 0, or -1 when not sharing or the token is not one. */
static int file_path(struct challenge_map *m, const char *token, size_t len,
		     int temp, char *path, size_t pathsz)
{
	int n = -1;

	if (!token_ok(token, len))
		return -1;
	pthread_mutex_lock(&m->mu);
	if (m->dir != NULL)
		n = temp ? snprintf(path, pathsz, "%s/.%.*s.XXXXXX", m->dir,
				    (int)len, token)
			 : snprintf(path, pathsz, "%s/%.*s", m->dir, (int)len,
				    token);
	pthread_mutex_unlock(&m->mu);
	return n < 0 || (size_t)n >= pathsz ? -1 : 0;
}

/* Write the shared file atomically (a reader never sees half of it). */
static void file_put(struct challenge_map *m, const char *token,
		     const char *key_auth)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	size_t len = strlen(key_auth);
	int fd, ok;

	if (file_path(m, token, strlen(token), 0, path, sizeof(path)) != 0 ||
	    file_path(m, token, strlen(token), 1, tmp, sizeof(tmp)) != 0)
		return;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return;
	ok = fchmod(fd, 0600) == 0 &&
	     write(fd, key_auth, len) == (ssize_t)len;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0)
		unlink(tmp);
}

static int file_get(struct challenge_map *m, const char *token,
		    size_t token_len, char *out, size_t outsz)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (outsz == 0 ||
	    file_path(m, token, token_len, 0, path, sizeof(path)) != 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	n = read(fd, out, outsz);
	close(fd);
	if (n <= 0 || (size_t)n >= outsz)
		return -1;
	out[n] = '\0';
	return 0;
}

struct challenge_map *challenge_map_new(void)
{
	struct challenge_map *m = calloc(1, sizeof(*m));

	if (m != NULL)
		pthread_mutex_init(&m->mu, NULL);
	return m;
}

void challenge_map_free(struct challenge_map *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++) {
		free(m->e[i].token);
		free(m->e[i].key_auth);
	}
	pthread_mutex_destroy(&m->mu);
	free(m->dir);
	free(m);
}

int challenge_map_set(struct challenge_map *m, const char *token,
		      const char *key_auth)
{
	char *t = strdup(token), *k = strdup(key_auth);
	size_t i;
	int rc = -1;

	if (t == NULL || k == NULL)
		goto out;
	pthread_mutex_lock(&m->mu);
	for (i = 0; i < m->n; i++)
		if (strcmp(m->e[i].token, token) == 0)
			break;
	if (i < m->n) {
		free(m->e[i].key_auth);
		m->e[i].key_auth = k;
		free(t);
		t = k = NULL;
		rc = 0;
	} else if (m->n < CHALLENGE_MAP_MAX) {
		m->e[m->n].token = t;
		m->e[m->n].key_auth = k;
		m->n++;
		t = k = NULL;
		rc = 0;
	}
	pthread_mutex_unlock(&m->mu);
	if (rc == 0)
		file_put(m, token, key_auth);
out:
	free(t);
	free(k);
	return rc;
}

void challenge_map_del(struct challenge_map *m, const char *token)
{
	size_t i;

	pthread_mutex_lock(&m->mu);
	for (i = 0; i < m->n; i++) {
		if (strcmp(m->e[i].token, token) != 0)
			continue;
		free(m->e[i].token);
		free(m->e[i].key_auth);
		m->e[i] = m->e[--m->n];
		break;
	}
	pthread_mutex_unlock(&m->mu);
	{
		char path[PATH_MAX];

		if (file_path(m, token, strlen(token), 0, path,
			      sizeof(path)) == 0)
			unlink(path);
	}
}

int challenge_map_get(struct challenge_map *m, const char *token,
		      size_t token_len, char *out, size_t outsz)
{
	size_t i;
	int rc = -1;

	pthread_mutex_lock(&m->mu);
	for (i = 0; i < m->n; i++) {
		const char *t = m->e[i].token;

		if (strlen(t) == token_len &&
		    memcmp(t, token, token_len) == 0) {
			if (strlen(m->e[i].key_auth) < outsz) {
				strcpy(out, m->e[i].key_auth);
				rc = 0;
			}
			break;
		}
	}
	pthread_mutex_unlock(&m->mu);
	if (rc != 0)
		rc = file_get(m, token, token_len, out, outsz);
	return rc;
}

const char *challenge_token(const char *target)
{
	return strncmp(target, CHALLENGE_PREFIX, sizeof(CHALLENGE_PREFIX) - 1) == 0
		       ? target + sizeof(CHALLENGE_PREFIX) - 1
		       : NULL;
}
