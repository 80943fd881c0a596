/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Unit tests for challenge.c: the ACME HTTP-01 token map (set, replace,
 * exact-length lookup, delete, bounded). */
#include <stdio.h>
#include <string.h>

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

int main(void)
{
	test_map();
	UNIT_DONE();
}
