/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Fuzz target: every ACME document parser (directory, account, order,
 * authorization, challenge, problem) over the same bytes — all of them
 * read what the ACME server sends, which is untrusted.
 */
#include <stdint.h>
#include <stdlib.h>

#include "acme_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct acme_directory d;
	struct acme_account_doc a;
	struct acme_order o;
	struct acme_authz z;
	struct acme_challenge c;
	struct acme_problem p;
	time_t t1, t2;

	if (acme_parse_directory(buf, size, &d) == 0)
		acme_directory_clear(&d);
	if (acme_parse_account(buf, size, &a) == 0)
		acme_account_doc_clear(&a);
	if (acme_parse_order(buf, size, &o) == 0)
		acme_order_clear(&o);
	if (acme_parse_authz(buf, size, &z) == 0)
		acme_authz_clear(&z);
	if (acme_parse_challenge(buf, size, &c) == 0)
		acme_challenge_clear(&c);
	(void)acme_parse_renewal_info(buf, size, &t1, &t2);
	(void)acme_parse_time(buf, size);
	if (acme_parse_directory(buf, size, &d) == 0) {
		(void)acme_directory_has_profile(&d, "tlsserver");
		acme_directory_clear(&d);
	}
	if (acme_parse_problem(buf, size, &p) == 0) {
		(void)acme_problem_is(&p, "badNonce");
		acme_problem_clear(&p);
	}
	return 0;
}
