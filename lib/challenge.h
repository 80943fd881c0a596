/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * challenge: the ACME HTTP-01 token map (RFC 8555 §8.3) that the ACME
 * thread writes and the port-80 listener reads.
 */
#ifndef AP_CHALLENGE_H
#define AP_CHALLENGE_H

#include <stddef.h>

/* Most tokens published at once (one per authorization in flight). */
#define CHALLENGE_MAP_MAX 128

/*
 * The token → key authorization map. Written by the ACME thread, read by
 * the listener's thread; every call takes the map's mutex, so a lookup
 * never sees a half-written entry. Strings are copied.
 */
/* The HTTP-01 path (RFC 8555 §8.3): PREFIX TOKEN. */
#define CHALLENGE_PREFIX "/.well-known/acme-challenge/"
/* The token part of a request-target under CHALLENGE_PREFIX (up to any
 * '?' is the caller's to cut), or NULL when it is not one. */
const char *challenge_token(const char *target);

struct challenge_map;
struct challenge_map *challenge_map_new(void);
void challenge_map_free(struct challenge_map *m);
/* Share the tokens with other instances using the same cache directory
 * dir (issue 20): from now on a published token (base64url, as RFC 8555
 * has it; another is kept in memory only) is also written to
 * dir/http-01/TOKEN (0600, atomically; removed when withdrawn), and a
 * lookup that misses in memory reads that file. dir/http-01 is made with
 * mode 0700 and must be a directory of ours that group and others cannot
 * write. Any thread (the listener may be reading the map). Returns 0, or
 * -1 with errno (the map then stays as it was). */
int challenge_map_share(struct challenge_map *m, const char *dir);
/* Publish (or replace) token. Returns 0, or -1 when full / out of memory. */
int challenge_map_set(struct challenge_map *m, const char *token,
		      const char *key_auth);
void challenge_map_del(struct challenge_map *m, const char *token);
/* Copy token's key authorization into out. Returns 0, -1 if absent. */
int challenge_map_get(struct challenge_map *m, const char *token,
		      size_t token_len, char *out, size_t outsz);

#endif
