/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Unit tests for challenge.c: the ACME HTTP-01 token map (set, replace,
 * exact-length lookup, delete, bounded), and its tokens shared through a
 * cache directory with another instance's map (issue 20). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "challenge.h"
#include "unit.h"

static void test_map(void)
{
	struct challenge_map *m = challenge_map_new();
	char out[64], tok[32];
	int i, full = 0;

	CHECK(m != NULL);
	if (m == NULL)
		return;
	CHECK(challenge_map_get(m, "t1", 2, out, sizeof(out)) < 0);
	CHECK(challenge_map_set(m, "t1", "t1.thumb") == 0);
	CHECK(challenge_map_get(m, "t1", 2, out, sizeof(out)) == 0);
	CHECK_STR(out, "t1.thumb");
	CHECK(challenge_map_get(m, "t1x", 2, out, sizeof(out)) == 0);
	CHECK(challenge_map_get(m, "t", 1, out, sizeof(out)) < 0);
	CHECK(challenge_map_set(m, "t1", "t1.other") == 0);
	CHECK(challenge_map_get(m, "t1", 2, out, sizeof(out)) == 0);
	CHECK_STR(out, "t1.other");
	CHECK(challenge_map_get(m, "t1", 2, out, 4) < 0);
	challenge_map_del(m, "t1");
	CHECK(challenge_map_get(m, "t1", 2, out, sizeof(out)) < 0);
	challenge_map_del(m, "absent");
	for (i = 0; i < CHALLENGE_MAP_MAX + 5; i++) {
		snprintf(tok, sizeof(tok), "tok%d", i);
		if (challenge_map_set(m, tok, "ka") != 0)
			full++;
	}
	CHECK(full == 5);
	challenge_map_free(m);
	challenge_map_free(NULL);
}

static void test_shared(void)
{
	struct challenge_map *a = challenge_map_new(), *b = challenge_map_new(),
			     *c = challenge_map_new();
	char dir[256], path[400], out[64];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/challenge-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	CHECK(a != NULL && b != NULL && c != NULL && mkdtemp(dir) != NULL);
	if (a == NULL || b == NULL || c == NULL)
		return;
	CHECK(challenge_map_share(a, dir) == 0);
	CHECK(challenge_map_share(b, dir) == 0);
	snprintf(path, sizeof(path), "%s/http-01", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(challenge_map_set(a, "Tok-en_1", "Tok-en_1.thumb") == 0);
	snprintf(path, sizeof(path), "%s/http-01/Tok-en_1", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	/* the other instance answers it */
	CHECK(challenge_map_get(b, "Tok-en_1", 8, out, sizeof(out)) == 0);
	CHECK_STR(out, "Tok-en_1.thumb");
	CHECK(challenge_map_get(b, "Tok-en_1?x", 8, out, sizeof(out)) == 0);
	CHECK(challenge_map_get(b, "Tok-en_1", 8, out, 5) < 0);
	/* a map not sharing the directory does not */
	CHECK(challenge_map_get(c, "Tok-en_1", 8, out, sizeof(out)) < 0);
	/* withdrawn: gone for both */
	challenge_map_del(a, "Tok-en_1");
	CHECK(stat(path, &st) != 0);
	CHECK(challenge_map_get(b, "Tok-en_1", 8, out, sizeof(out)) < 0);
	/* a token that is not base64url never becomes a path */
	CHECK(challenge_map_set(a, "../evil", "x") == 0);
	snprintf(path, sizeof(path), "%s/evil", dir);
	CHECK(stat(path, &st) != 0);
	CHECK(challenge_map_get(b, "../evil", 7, out, sizeof(out)) < 0);
	CHECK(challenge_map_get(a, "../evil", 7, out, sizeof(out)) == 0);
	challenge_map_del(a, "../evil");
	/* a directory others may write is refused (they could answer the
	 * CA for us); the map keeps the one it had */
	snprintf(path, sizeof(path), "%s/http-01", dir);
	CHECK(chmod(path, 0770) == 0);
	errno = 0;
	CHECK(challenge_map_share(c, dir) == -1 && errno == EPERM);
	CHECK(challenge_map_set(a, "tok2", "tok2.thumb") == 0);
	CHECK(challenge_map_get(c, "tok2", 4, out, sizeof(out)) < 0);
	challenge_map_del(a, "tok2");
	challenge_map_free(a);
	challenge_map_free(b);
	challenge_map_free(c);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

int main(void)
{
	test_map();
	test_shared();
	UNIT_DONE();
}
