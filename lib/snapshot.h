/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * snapshot: an immutable config shared by reference, and the cell that
 * holds the current one. Requests pin the snapshot they started with, so
 * a reload never changes a request in flight; the last reference frees
 * the config.
 *
 * Threads: a snapshot is read-only and its count atomic, so any thread
 * may hold, read and put one. The cell's pointer is swapped by the main
 * thread (reload) and read by every worker, under the cell's mutex, which
 * is held for a pointer copy and an increment only.
 */
#ifndef AP_SNAPSHOT_H
#define AP_SNAPSHOT_H

#include <pthread.h>
#include <stdatomic.h>

#include "config.h"

struct snapshot {
	atomic_int refs;
	struct config *cfg;
	/* per cfg->sites[i], its id in the server's sitestats (metrics);
	 * set by the server before the snapshot is shared, freed with it;
	 * NULL: all "-" */
	unsigned *site_ids;
};

/* A snapshot of cfg with one reference, taking ownership of cfg; NULL
 * when out of memory (cfg is then still the caller's). */
struct snapshot *snapshot_new(struct config *cfg);
/* One more reference. */
struct snapshot *snapshot_ref(struct snapshot *s);
/* Drop a reference; the last one frees the config. NULL is fine. */
void snapshot_put(struct snapshot *s);

struct snapshot_cell {
	pthread_mutex_t mu;
	struct snapshot *cur; /* the cell's own reference */
};

/* The cell starts holding s (the caller's reference passes to it). */
void snapshot_cell_init(struct snapshot_cell *c, struct snapshot *s);
/* Drops the cell's reference. */
void snapshot_cell_destroy(struct snapshot_cell *c);
/* A new reference to the current snapshot. */
struct snapshot *snapshot_cell_get(struct snapshot_cell *c);
/* Make s current (the caller's reference passes to the cell); the
 * previous one loses the cell's reference. */
void snapshot_cell_set(struct snapshot_cell *c, struct snapshot *s);

#endif
