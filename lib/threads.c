/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * threads: start threads with every signal blocked (threads.h). A new
 * thread inherits its creator's mask, so the mask is set around
 * pthread_create and put back after. No state.
 */
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "threads.h"

void threads_block(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
}

void threads_unblock(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

int thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t old;
	int rc;

	threads_block(&old);
	rc = pthread_create(t, NULL, fn, arg);
	threads_unblock(&old);
	return rc;
}

long threads_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}
