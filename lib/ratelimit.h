/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * ratelimit: one token bucket per client address (SPEC F8), shared by every
 * MHD worker thread, and the housekeeping thread that evicts idle buckets.
 *
 * Semantics are nginx's `limit_req … burst=N nodelay` as SPEC F8 states
 * them: a full bucket holds `burst` tokens, it refills at `rate` tokens per
 * second, each request takes one token and a request that finds no token
 * is refused at once. (nginx itself lets burst+1 through at once; the spec
 * counts exactly burst.) A new address starts with a full bucket.
 *
 * Key: the TCP peer only. IPv4 addresses count per /32, IPv6 per /64, and
 * an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address
 * (addrkey.h: the connection caps key clients the same way).
 */
#ifndef AP_RATELIMIT_H
#define AP_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

/* Default hard cap on buckets: about 45 MB at the very most (40 bytes per
 * bucket plus 4 per hash slot), reached only by a flood of distinct
 * addresses; memory grows with the addresses actually seen. */
#define RATELIMIT_DEFAULT_MAX_ENTRIES 1000000

struct ratelimit;

/*
 * New empty table holding at most max_entries buckets in total (at least
 * one per lock stripe; 0 selects RATELIMIT_DEFAULT_MAX_ENTRIES). Memory
 * grows with the number of addresses seen, up to the cap. When the cap
 * is reached, a new address takes the bucket of the address in its stripe
 * that was seen least recently: legitimate new clients are never refused
 * for lack of room, and the price is that a client idle for longest may
 * find a fresh, full bucket later. Returns NULL when out of memory.
 * Free with ratelimit_free().
 */
struct ratelimit *ratelimit_new(size_t max_entries);
/* Frees the table (NULL is fine). No other thread may use it any more. */
void ratelimit_free(struct ratelimit *rl);

/* Milliseconds of the clock ratelimit_allow() and the housekeeper expect
 * (CLOCK_MONOTONIC_COARSE: cheap, a few ms of resolution). */
uint64_t ratelimit_now_ms(void);

/*
 * Take one token from peer's bucket at time now_ms. Returns 1 when the
 * request may proceed, 0 when it is limited. rate (tokens per second) and
 * burst (bucket size) come with every call so that a reload takes effect
 * on existing buckets at once: a bucket holding more than the new burst
 * is clamped to it. Both are clamped to 1..1000000. A peer that is
 * neither AF_INET nor AF_INET6 (or NULL), and the rare case of no memory
 * for a new bucket in an empty stripe, is allowed: the limiter fails open
 * rather than refusing service. Any thread; locks one stripe.
 */
int ratelimit_allow(struct ratelimit *rl, const struct sockaddr *peer,
		    unsigned rate, unsigned burst, uint64_t now_ms);

/*
 * Log a refused request for fail2ban (SPEC F10, F15):
 *   WARN RATE_LIMIT client_ip=IP [client_net=NET/64] host=… path=… status=429 [proto=PROTO]
 * client_net for an IPv6 peer (the bucket it counts in), proto when not
 * NULL (the port-80 listener says "http"). ip is peer as log_format_ip()
 * writes it; path must already be without its query. Any thread.
 */
void ratelimit_log_refusal(const struct sockaddr *peer, const char *ip,
			   const char *host, const char *path,
			   const char *proto);

/* Remove buckets not used for more than max_idle_secs; returns how many
 * were removed. Any thread; locks one stripe at a time. */
size_t ratelimit_evict(struct ratelimit *rl, uint64_t now_ms,
		       unsigned max_idle_secs);
/* Number of buckets now (a sum over the stripes, not a snapshot). */
size_t ratelimit_count(const struct ratelimit *rl);
/* Buckets taken over because their stripe was full, since the last call
 * (read and reset). */
size_t ratelimit_take_cap_evictions(struct ratelimit *rl);

/*
 * Housekeeping thread: every interval_secs it removes buckets idle longer
 * than age_secs, both read from settings() before each wait so a reload
 * changes them. settings() is called on the housekeeping thread and must
 * be thread-safe. Logs RATE_LIMIT_EVICT (debug) and, when the cap forced
 * evictions since the last run, RATE_LIMIT_TABLE_FULL (warn, once per
 * interval).
 */
typedef void (*ratelimit_settings_fn)(void *ud, unsigned *interval_secs,
				      unsigned *age_secs);
struct ratelimit_housekeeper;

/* Starts the thread (all signals blocked in it). rl and ud are borrowed
 * and must outlive ratelimit_housekeeper_stop(). Returns NULL on failure
 * (no thread is running then). */
struct ratelimit_housekeeper *
ratelimit_housekeeper_start(struct ratelimit *rl,
			    ratelimit_settings_fn settings, void *ud);
/* Re-read the settings now (after a reload); the next run is then due one
 * new interval after the previous run. NULL is fine. */
void ratelimit_housekeeper_wake(struct ratelimit_housekeeper *hk);
/* Stop promptly, join and free. NULL is fine. */
void ratelimit_housekeeper_stop(struct ratelimit_housekeeper *hk);

#endif
