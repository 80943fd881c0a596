/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * upstream: the upstream threads. Each owns one curl multi handle, a pool
 * of reusable easy handles, and a command queue fed by MHD threads.
 * Every curl call on a request's easy handle happens on its thread.
 */
#ifndef AP_UPSTREAM_H
#define AP_UPSTREAM_H

#include "proxy.h"

struct upstream_pool;

/* Starts n threads. Returns 0 or -1. */
int upstream_pool_start(unsigned n, struct upstream_pool **out);
/* Pick a thread for a new request (round-robin). */
struct upstream *upstream_pick(struct upstream_pool *p);
/* Queue commands for x on its thread; takes a reference while queued.
 * May be called with x->mu held: the queue lock is a leaf lock. */
void upstream_post(struct upstream *u, struct xfer *x, unsigned cmd);
/* Abort every transfer now and refuse new ones (shutdown). */
void upstream_pool_abort_all(struct upstream_pool *p);
/* Stop and join the threads; frees the pool. */
void upstream_pool_stop(struct upstream_pool *p);

#endif
