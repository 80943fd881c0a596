/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * challenge: the ACME HTTP-01 token map (see challenge.h). A fixed array
 * of at most CHALLENGE_MAP_MAX entries under one mutex: the ACME thread
 * publishes and withdraws tokens, the port-80 listener looks them up.
 * Strings are copied in and out, so no caller holds a pointer into it.
 * With a shared directory (challenge_map_share) each token is also a file
 * DIR/http-01/TOKEN, and a token not in memory is looked up there: the
 * CA's validation request may reach another instance behind the balancer
 * than the one that ordered.
 */
#include <errno.h>
#include <fcntl.h>
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
	char *d = malloc(n);

	if (d == NULL)
		return -1;
	snprintf(d, n, "%s/http-01", dir);
	if (mkdir(d, 0700) != 0 && errno != EEXIST) {
		free(d);
		return -1;
	}
	free(m->dir);
	m->dir = d;
	return 0;
}

/* Write DIR/TOKEN atomically (a reader never sees half of it). */
static void file_put(const struct challenge_map *m, const char *token,
		     const char *key_auth)
{
	char tmp[4096 + TOKEN_FILE_MAX], path[4096 + TOKEN_FILE_MAX];
	size_t len = strlen(key_auth);
	int fd, ok;

	if (m->dir == NULL || !token_ok(token, strlen(token)))
		return;
	snprintf(path, sizeof(path), "%s/%s", m->dir, token);
	snprintf(tmp, sizeof(tmp), "%s/.%s.%ld", m->dir, token, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return;
	ok = write(fd, key_auth, len) == (ssize_t)len;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0)
		unlink(tmp);
}

static int file_get(const struct challenge_map *m, const char *token,
		    size_t token_len, char *out, size_t outsz)
{
	char path[4096 + TOKEN_FILE_MAX];
	ssize_t n;
	int fd;

	if (m->dir == NULL || !token_ok(token, token_len) || outsz == 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%.*s", m->dir, (int)token_len, token);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
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
	if (m->dir != NULL && token_ok(token, strlen(token))) {
		char path[4096 + TOKEN_FILE_MAX];

		snprintf(path, sizeof(path), "%s/%s", m->dir, token);
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
