/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * threads: how the library starts its threads. Every thread it makes
 * (acceptors, workers, the ACME client, housekeeping, certificate watch,
 * libmicrohttpd's internal thread of the port-80 listener) starts with
 * all signals blocked, whatever mask the embedding program's thread has:
 * signals belong to the program (the daemon reads them from a signalfd),
 * never to a library thread that would run a handler it does not expect
 * or end a blocking call with EINTR. Also the monotonic clock their
 * deadlines use. Any thread.
 */
#ifndef AP_THREADS_H
#define AP_THREADS_H

#include <pthread.h>
#include <signal.h>

/* pthread_create with every signal blocked in the new thread. Returns 0
 * or pthread_create's error. */
int thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

/* Block every signal in the calling thread until threads_unblock(&old):
 * for third-party code that starts threads of its own (libmicrohttpd's
 * MHD_start_daemon with an internal thread). */
void threads_block(sigset_t *old);
void threads_unblock(const sigset_t *old);

/* CLOCK_MONOTONIC in milliseconds: the clock of every deadline and timer
 * the library's threads keep (never set back by the wall clock). */
long threads_mono_ms(void);

#endif
