/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * challenge: the ACME HTTP-01 token map (see challenge.h). A fixed array
 * of at most CHALLENGE_MAP_MAX entries under one mutex: the ACME thread
 * publishes and withdraws tokens, the port-80 listener looks them up.
 * Strings are copied in and out, so no caller holds a pointer into it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "challenge.h"

struct challenge_entry {
	char *token;
	char *key_auth;
};

struct challenge_map {
	pthread_mutex_t mu;
	struct challenge_entry e[CHALLENGE_MAP_MAX];
	size_t n;
};

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
	return rc;
}

const char *challenge_token(const char *target)
{
	return strncmp(target, CHALLENGE_PREFIX, sizeof(CHALLENGE_PREFIX) - 1) == 0
		       ? target + sizeof(CHALLENGE_PREFIX) - 1
		       : NULL;
}
