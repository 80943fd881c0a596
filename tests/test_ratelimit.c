/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Unit tests for ratelimit.c (SPEC F8) on a synthetic clock: burst, refill
 * at the configured rate, address grouping (IPv4 /32, IPv6 /64, v4-mapped),
 * rate/burst changes, idle eviction, the entry cap under a million distinct
 * addresses with bounded memory, and the housekeeping thread.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "ratelimit.h"
#include "unit.h"

static struct sockaddr_storage addr(const char *s)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(1234);
	} else if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(4321);
	} else {
		fprintf(stderr, "bad test address %s\n", s);
		exit(99);
	}
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

/* Requests allowed out of n sent at the same instant. */
static unsigned allowed_of(struct ratelimit *rl, const char *a, unsigned n,
			   unsigned rate, unsigned burst, uint64_t now)
{
	struct sockaddr_storage ss = addr(a);
	unsigned i, ok = 0;

	for (i = 0; i < n; i++)
		ok += (unsigned)ratelimit_allow(rl, SA(ss), rate, burst, now);
	return ok;
}

static void test_burst_and_refill(void)
{
	struct ratelimit *rl = ratelimit_new(1000);
	struct sockaddr_storage ss = addr("203.0.113.50");
	uint64_t t = 1000000;
	unsigned i, ok;

	CHECK(rl != NULL);
	/* a full bucket: exactly 20 pass, the 21st is refused */
	for (i = 0; i < 20; i++)
		CHECK(ratelimit_allow(rl, SA(ss), 10, 20, t) == 1);
	CHECK(ratelimit_allow(rl, SA(ss), 10, 20, t) == 0);
	CHECK(ratelimit_allow(rl, SA(ss), 10, 20, t) == 0);
	/* 10/s: one token per 100 ms, none before */
	CHECK(ratelimit_allow(rl, SA(ss), 10, 20, t + 99) == 0);
	CHECK(ratelimit_allow(rl, SA(ss), 10, 20, t + 100) == 1);
	CHECK(ratelimit_allow(rl, SA(ss), 10, 20, t + 100) == 0);
	/* partial refills add up without loss: 4 x 25 ms = one token */
	CHECK(ratelimit_allow(rl, SA(ss), 10, 20, t + 125) == 0);
	CHECK(ratelimit_allow(rl, SA(ss), 10, 20, t + 150) == 0);
	CHECK(ratelimit_allow(rl, SA(ss), 10, 20, t + 175) == 0);
	CHECK(ratelimit_allow(rl, SA(ss), 10, 20, t + 200) == 1);
	/* sustained: one request every 100 ms for 10 minutes all pass, one
	 * extra per tick is always refused */
	t += 200;
	ok = 0;
	for (i = 1; i <= 6000; i++) {
		ok += (unsigned)ratelimit_allow(rl, SA(ss), 10, 20,
						t + i * 100);
		ok += (unsigned)ratelimit_allow(rl, SA(ss), 10, 20,
						t + i * 100);
	}
	CHECK(ok == 6000);
	t += 6000 * 100;
	/* 1 s of silence refills 10 tokens, 2 s (or a day) the full 20 */
	CHECK(allowed_of(rl, "203.0.113.50", 30, 10, 20, t + 1000) == 10);
	t += 1000;
	CHECK(allowed_of(rl, "203.0.113.50", 30, 10, 20, t + 2000) == 20);
	t += 2000;
	CHECK(allowed_of(rl, "203.0.113.50", 30, 10, 20,
			 t + 86400000ULL * 400) == 20);
	t += 86400000ULL * 400;
	/* a clock read a little before the last use never refills
	 * backwards (threads read the clock before taking the lock) */
	CHECK(allowed_of(rl, "203.0.113.50", 5, 10, 20, t - 5) == 0);
	/* another address is untouched by all of this */
	CHECK(allowed_of(rl, "203.0.113.51", 21, 10, 20, t) == 20);
	CHECK(ratelimit_count(rl) == 2);
	ratelimit_free(rl);
}

/* Refill exact at rates that do not divide 1000 ms evenly, over a long
 * run: no drift. */
static void test_no_drift(void)
{
	struct ratelimit *rl = ratelimit_new(1000);
	struct sockaddr_storage ss = addr("198.51.100.7");
	uint64_t t = 5, end;
	unsigned long ok = 0;

	CHECK(allowed_of(rl, "198.51.100.7", 3, 3, 3, t) == 3);
	/* at 3/s, polling every 7 ms for one simulated hour: exactly
	 * 3 * 3600 tokens are earned */
	end = t + 3600 * 1000;
	while (t < end) {
		t += 7;
		if (t > end)
			t = end;
		ok += (unsigned long)ratelimit_allow(rl, SA(ss), 3, 3, t);
	}
	CHECK(ok == 3 * 3600);
	ratelimit_free(rl);
}

static void test_grouping(void)
{
	struct ratelimit *rl = ratelimit_new(1000);
	uint64_t t = 77;

	/* IPv6: one /64 shares a bucket, the next /64 has its own */
	CHECK(allowed_of(rl, "2001:db8:1:2::1", 10, 1, 20, t) == 10);
	CHECK(allowed_of(rl, "2001:db8:1:2:ffff:ffff:ffff:ffff", 15, 1, 20,
			 t) == 10);
	CHECK(allowed_of(rl, "2001:db8:1:3::1", 21, 1, 20, t) == 20);
	/* IPv4-mapped IPv6 is the IPv4 address */
	CHECK(allowed_of(rl, "192.0.2.1", 5, 1, 20, t) == 5);
	CHECK(allowed_of(rl, "::ffff:192.0.2.1", 20, 1, 20, t) == 15);
	/* IPv4 is per /32 */
	CHECK(allowed_of(rl, "192.0.2.2", 21, 1, 20, t) == 20);
	/* a /64 whose bytes spell an IPv4 address is not that address */
	CHECK(allowed_of(rl, "::ffff:0:0:0", 1, 1, 20, t) == 1);
	CHECK(allowed_of(rl, "::", 1, 1, 20, t) == 1);
	CHECK(ratelimit_count(rl) == 5);
	/* no address: allowed, no bucket */
	CHECK(ratelimit_allow(rl, NULL, 1, 1, t) == 1);
	{
		struct sockaddr un = {.sa_family = AF_UNIX};

		CHECK(ratelimit_allow(rl, &un, 1, 1, t) == 1);
		CHECK(ratelimit_allow(rl, &un, 1, 1, t) == 1);
	}
	CHECK(ratelimit_count(rl) == 5);
	ratelimit_free(rl);
}

static void test_dynamic(void)
{
	struct ratelimit *rl = ratelimit_new(1000);
	struct sockaddr_storage ss = addr("10.0.0.1");
	uint64_t t = 1000;

	CHECK(allowed_of(rl, "10.0.0.1", 25, 10, 20, t) == 20);
	/* a higher rate applies to the existing bucket at once */
	CHECK(ratelimit_allow(rl, SA(ss), 100, 20, t + 9) == 0);
	CHECK(ratelimit_allow(rl, SA(ss), 100, 20, t + 10) == 1);
	t += 10;
	/* a larger burst: the bucket keeps its tokens and fills to 50 */
	CHECK(allowed_of(rl, "10.0.0.1", 60, 100, 50, t + 10000) == 50);
	t += 10000;
	/* a smaller burst clamps a full bucket at once */
	CHECK(allowed_of(rl, "10.0.0.1", 60, 100, 50, t + 10000) == 50);
	t += 10000;
	CHECK(allowed_of(rl, "10.0.0.1", 1, 100, 50, t + 10000) == 1);
	t += 10000;
	CHECK(allowed_of(rl, "10.0.0.1", 60, 100, 5, t) == 5);
	/* out-of-range settings are clamped, never divide by zero */
	CHECK(allowed_of(rl, "10.0.0.2", 3, 0, 0, t) == 1);
	CHECK(allowed_of(rl, "10.0.0.2", 3, 0, 0, t + 999) == 0);
	CHECK(allowed_of(rl, "10.0.0.2", 3, 0, 0, t + 1000) == 1);
	CHECK(allowed_of(rl, "10.0.0.3", 3, 1000000, 1000000, t) == 3);
	CHECK(allowed_of(rl, "10.0.0.4", 3, 4000000000u, 4000000000u, t) == 3);
	ratelimit_free(rl);
}

static void test_evict(void)
{
	struct ratelimit *rl = ratelimit_new(1000);
	uint64_t t = 1000000;
	char a[32];
	unsigned i;

	for (i = 0; i < 100; i++) {
		snprintf(a, sizeof(a), "10.1.0.%u", i);
		CHECK(allowed_of(rl, a, 1, 10, 20, t + i * 1000) == 1);
	}
	CHECK(ratelimit_count(rl) == 100);
	/* at t+150 s with 60 s max idle: used at t+0 .. t+89 s go */
	CHECK(ratelimit_evict(rl, t + 150000, 60) == 90);
	CHECK(ratelimit_count(rl) == 10);
	CHECK(ratelimit_evict(rl, t + 150000, 60) == 0);
	/* a bucket in use stays: touched at t+200 s it survives 59 s */
	CHECK(allowed_of(rl, "10.1.0.99", 20, 10, 20, t + 200000) == 20);
	CHECK(ratelimit_evict(rl, t + 259000, 60) == 9);
	CHECK(ratelimit_count(rl) == 1);
	/* with its state: still empty at the instant it was emptied */
	CHECK(allowed_of(rl, "10.1.0.99", 1, 10, 20, t + 200000) == 0);
	/* an evicted address comes back with a full bucket */
	CHECK(allowed_of(rl, "10.1.0.0", 21, 10, 20, t + 259000) == 20);
	CHECK(ratelimit_evict(rl, t + 999999999, 1) == 2);
	CHECK(ratelimit_count(rl) == 0);
	/* slots are reused after eviction */
	for (i = 0; i < 100; i++) {
		snprintf(a, sizeof(a), "10.2.0.%u", i);
		CHECK(allowed_of(rl, a, 1, 10, 20, t) == 1);
	}
	CHECK(ratelimit_count(rl) == 100);
	ratelimit_free(rl);
}

static long vm_kb(const char *field)
{
	char line[256];
	long v = -1;
	size_t fl = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, fl) == 0 && line[fl] == ':')
			v = strtol(line + fl + 1, NULL, 10);
	fclose(f);
	return v;
}

/* A million distinct addresses (IPv4 and IPv6 /64s) against a cap of
 * 64,000 buckets: the count never passes the cap, memory stays near
 * cap * (bucket size), the oldest addresses are gone and the newest kept,
 * and a client active throughout keeps its (empty) bucket. */
static void test_cap_million(void)
{
	const size_t cap = 64000;
	struct ratelimit *rl = ratelimit_new(cap);
	struct sockaddr_storage v4 = addr("0.0.0.0"), v6 = addr("2001:db8::1");
	struct sockaddr_storage hot = addr("192.0.2.99");
	struct sockaddr_in *s4 = (struct sockaddr_in *)&v4;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&v6;
	long rss0, rss1, hwm1;
	size_t before;
	uint64_t t = 1000;
	uint32_t i, over = 0, hot_ok = 0;

	CHECK(rl != NULL);
	CHECK(allowed_of(rl, "192.0.2.99", 20, 1, 20, t) == 20);
	rss0 = vm_kb("VmRSS");
	for (i = 0; i < 1000000; i++) {
		if (i % 2 == 0) {
			s4->sin_addr.s_addr = htonl(0x0a000000u + i);
			(void)ratelimit_allow(rl, SA(v4), 1, 20, t);
		} else {
			uint32_t be = htonl(i);

			memcpy(&s6->sin6_addr.s6_addr[4], &be, 4);
			(void)ratelimit_allow(rl, SA(v6), 1, 20, t);
		}
		if (ratelimit_count(rl) > cap)
			over++;
		if (i % 1000 == 0) {
			/* the active client, one request a millisecond:
			 * always limited, never handed a fresh bucket */
			hot_ok += (uint32_t)ratelimit_allow(rl, SA(hot), 1, 20,
							    t);
			t++;
		}
	}
	rss1 = vm_kb("VmRSS");
	hwm1 = vm_kb("VmHWM");
	CHECK(over == 0);
	CHECK(ratelimit_count(rl) <= cap);
	CHECK(ratelimit_count(rl) >= cap - 64);
	/* the cap replaced close to a million buckets */
	CHECK(ratelimit_take_cap_evictions(rl) >= 1000000 - cap);
	CHECK(ratelimit_take_cap_evictions(rl) == 0);
	/* the active client kept its bucket: 999 ms at 1/s earned no token
	 * (a bucket handed out afresh would have had 20) ... */
	CHECK(hot_ok == 0);
	/* ... and at 1000 ms exactly one */
	CHECK(allowed_of(rl, "192.0.2.99", 5, 1, 20, t) == 1);
	/* 64,000 buckets are about 2.8 MB; allow 16 MB for the allocator.
	 * A table that kept every address would need 40+ MB. */
	fprintf(stderr, "rss %ld -> %ld KiB (peak %ld), %zu buckets\n", rss0,
		rss1, hwm1, ratelimit_count(rl));
	CHECK(rss0 > 0 && rss1 > 0 && rss1 - rss0 < 16 * 1024);
	/* the first addresses are gone: at the instant of their first use
	 * (no refill) they have a full bucket again instead of 19 tokens */
	CHECK(allowed_of(rl, "10.0.0.0", 21, 1, 20, 1000) == 20);
	/* the last ones are kept: 19 tokens left at the same instant */
	CHECK(allowed_of(rl, "10.15.66.62", 21, 1, 20, 2000) == 19);
	/* idle eviction empties the table */
	before = ratelimit_count(rl);
	CHECK(ratelimit_evict(rl, t + 3600000, 60) == before);
	CHECK(ratelimit_count(rl) == 0);
	ratelimit_free(rl);
}

/* Small caps: never more buckets than the cap (or one per stripe). */
static void test_small_cap(void)
{
	struct ratelimit *rl = ratelimit_new(1);
	struct sockaddr_storage ss = addr("0.0.0.0");
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	uint32_t i;

	for (i = 0; i < 10000; i++) {
		s4->sin_addr.s_addr = htonl(i);
		CHECK(ratelimit_allow(rl, SA(ss), 1, 1, 5) == 1);
	}
	CHECK(ratelimit_count(rl) <= 64);
	ratelimit_free(rl);
	rl = ratelimit_new(0); /* default cap */
	CHECK(rl != NULL);
	ratelimit_free(rl);
	ratelimit_free(NULL);
}

/* Four threads share one bucket and churn their own addresses while the
 * cap recycles buckets and eviction walks the stripes: the shared bucket
 * still hands out exactly its burst. */
struct stress_arg {
	struct ratelimit *rl;
	unsigned id;
	unsigned shared_ok;
};

static void *stress_main(void *p)
{
	struct stress_arg *a = p;
	struct sockaddr_storage shared = addr("198.51.100.1");
	struct sockaddr_storage own = addr("10.0.0.0");
	struct sockaddr_in *s4 = (struct sockaddr_in *)&own;
	uint32_t i;

	for (i = 0; i < 200000; i++) {
		s4->sin_addr.s_addr = htonl(0x0a000000u + a->id * 1000000u + i);
		(void)ratelimit_allow(a->rl, SA(own), 1, 5, 100);
		if (i % 100 == 0)
			a->shared_ok += (unsigned)ratelimit_allow(
				a->rl, SA(shared), 1, 1000, 100);
		if (a->id == 0 && i % 10000 == 0)
			(void)ratelimit_evict(a->rl, 100, 60);
	}
	return NULL;
}

static void test_threads(void)
{
	struct ratelimit *rl = ratelimit_new(10000);
	struct stress_arg a[4];
	pthread_t th[4];
	unsigned i, total = 0;

	for (i = 0; i < 4; i++) {
		a[i].rl = rl;
		a[i].id = i;
		a[i].shared_ok = 0;
		CHECK(pthread_create(&th[i], NULL, stress_main, &a[i]) == 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += a[i].shared_ok;
	}
	/* 4 x 2000 requests at one instant on a bucket of 1000, while the
	 * cap replaces 800,000 addresses around it: exactly 1000 pass */
	CHECK(total == 1000);
	CHECK(ratelimit_count(rl) <= 10000);
	ratelimit_free(rl);
}

static unsigned hk_calls;

static void hk_settings(void *ud, unsigned *interval, unsigned *age)
{
	(void)ud;
	__atomic_add_fetch(&hk_calls, 1, __ATOMIC_RELAXED);
	*interval = 1;
	*age = 1;
}

static void hk_settings_slow(void *ud, unsigned *interval, unsigned *age)
{
	(void)ud;
	*interval = 3600;
	*age = 3600;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void test_housekeeper(void)
{
	struct ratelimit *rl = ratelimit_new(1000);
	struct ratelimit_housekeeper *hk;
	struct timespec t0, t1;
	uint64_t now = ratelimit_now_ms();
	int i;
	long ms;

	/* stamped 10 s ago: idle past the 1 s age at the first run */
	CHECK(allowed_of(rl, "10.9.0.1", 1, 1, 1,
			 now > 10000 ? now - 10000 : 0) == 1);
	CHECK(allowed_of(rl, "10.9.0.2", 1, 1, 1,
			 now > 10000 ? now - 10000 : 0) == 1);
	hk = ratelimit_housekeeper_start(rl, hk_settings, NULL);
	CHECK(hk != NULL);
	/* bounded wait: the first run is due 1 s after the start */
	for (i = 0; i < 100 && ratelimit_count(rl) != 0; i++)
		sleep_ms(50);
	CHECK(ratelimit_count(rl) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ratelimit_housekeeper_stop(hk);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	     (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK(ms < 5000); /* vs. an interval of 1 h; generous for slow runs */
	CHECK(__atomic_load_n(&hk_calls, __ATOMIC_RELAXED) >= 1);

	/* an hour-long interval: stop is prompt (a condition variable, not
	 * a sleep), and nothing was evicted in the meantime */
	CHECK(allowed_of(rl, "10.9.0.3", 1, 1, 1, 0) == 1);
	hk = ratelimit_housekeeper_start(rl, hk_settings_slow, NULL);
	CHECK(hk != NULL);
	ratelimit_housekeeper_wake(hk);
	sleep_ms(50);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ratelimit_housekeeper_stop(hk);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	     (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK(ms < 5000); /* vs. an interval of 1 h; generous for slow runs */
	CHECK(ratelimit_count(rl) == 1);
	ratelimit_housekeeper_stop(NULL);
	ratelimit_housekeeper_wake(NULL);
	ratelimit_free(rl);
}

int main(void)
{
	log_set_level(LOG_LEVEL_ERROR);
	test_burst_and_refill();
	test_no_drift();
	test_grouping();
	test_dynamic();
	test_evict();
	test_small_cap();
	test_housekeeper();
	test_threads();
	test_cap_million();
	UNIT_DONE();
}
