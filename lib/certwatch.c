/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * certwatch: one thread per manual-mode server that calls
 * tls_store_check_expiry every interval (certwatch.h). It shares only the
 * store (internally locked) and its own stop flag, under a mutex with a
 * condition variable so certwatch_stop wakes it at once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "certwatch.h"
#include "log.h"
#include "threads.h"

#define CHECK_INTERVAL_MS (3600L * 1000)

struct certwatch {
	struct tls_store *store;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop; /* under mu */
	long interval_ms;
};

static long interval_ms(void)
{
	const char *v = getenv("ALKPROXY_CERT_CHECK_INTERVAL_MS");
	char *end;
	long n;

	if (v == NULL || *v == '\0')
		return CHECK_INTERVAL_MS;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < 100 || n > 86400L * 1000) {
		log_event(LOG_LEVEL_WARN, "CONFIG_ENV", "variable",
			  "ALKPROXY_CERT_CHECK_INTERVAL_MS", "value", v,
			  "error", "ignored: not 100..86400000", LOG_END);
		return CHECK_INTERVAL_MS;
	}
	return n;
}

static void *certwatch_main(void *arg)
{
	struct certwatch *w = arg;
	struct timespec ts;

	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		pthread_mutex_unlock(&w->mu);
		tls_store_check_expiry(w->store, time(NULL));
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += w->interval_ms / 1000;
		ts.tv_nsec += (w->interval_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&w->mu);
		while (!w->stop &&
		       pthread_cond_timedwait(&w->cv, &w->mu, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int certwatch_start(struct tls_store *store, struct certwatch **out)
{
	pthread_condattr_t ca;
	struct certwatch *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (w == NULL)
		return -1;
	w->store = store;
	w->interval_ms = interval_ms();
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (thread_start(&w->thread, certwatch_main, w) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return -1;
	}
	*out = w;
	return 0;
}

void certwatch_stop(struct certwatch *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
