/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * unit.h: the smallest test harness that reports what failed and where.
 * CHECK() records a failure and goes on; a test program exits 1 if any
 * check failed (automake counts it as FAIL), 0 otherwise.
 */
#ifndef AP_UNIT_H
#define AP_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failures;
static int unit_checks;

#define CHECK(cond)                                                         \
	do {                                                                \
		unit_checks++;                                              \
		if (!(cond)) {                                              \
			unit_failures++;                                    \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n",        \
				__FILE__, __LINE__, #cond);                 \
		}                                                           \
	} while (0)

#define CHECK_STR(a, b)                                                     \
	do {                                                                \
		const char *unit_a_ = (a), *unit_b_ = (b);                  \
		unit_checks++;                                              \
		if (unit_a_ == NULL || unit_b_ == NULL ||                   \
		    strcmp(unit_a_, unit_b_) != 0) {                        \
			unit_failures++;                                    \
			fprintf(stderr,                                     \
				"%s:%d: CHECK_STR failed: \"%s\" != \"%s\"\n", \
				__FILE__, __LINE__,                         \
				unit_a_ ? unit_a_ : "(null)",               \
				unit_b_ ? unit_b_ : "(null)");              \
		}                                                           \
	} while (0)

#define UNIT_DONE()                                                         \
	do {                                                                \
		fprintf(stderr, "%d checks, %d failed\n", unit_checks,      \
			unit_failures);                                     \
		return unit_failures ? 1 : 0;                               \
	} while (0)

#endif
