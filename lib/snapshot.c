/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * snapshot: reference-counted immutable configs and the current-snapshot
 * cell (see snapshot.h).
 */
#include <stdlib.h>

#include "snapshot.h"

struct snapshot *snapshot_new(struct config *cfg)
{
	struct snapshot *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	atomic_init(&s->refs, 1);
	s->cfg = cfg;
	return s;
}

struct snapshot *snapshot_ref(struct snapshot *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void snapshot_put(struct snapshot *s)
{
	if (s != NULL && atomic_fetch_sub_explicit(&s->refs, 1,
						   memory_order_acq_rel) == 1) {
		config_free(s->cfg);
		free(s->site_ids);
		free(s);
	}
}

void snapshot_cell_init(struct snapshot_cell *c, struct snapshot *s)
{
	pthread_mutex_init(&c->mu, NULL);
	c->cur = s;
}

void snapshot_cell_destroy(struct snapshot_cell *c)
{
	snapshot_put(c->cur);
	c->cur = NULL;
	pthread_mutex_destroy(&c->mu);
}

struct snapshot *snapshot_cell_get(struct snapshot_cell *c)
{
	struct snapshot *s;

	pthread_mutex_lock(&c->mu);
	s = snapshot_ref(c->cur);
	pthread_mutex_unlock(&c->mu);
	return s;
}

void snapshot_cell_set(struct snapshot_cell *c, struct snapshot *s)
{
	struct snapshot *old;

	pthread_mutex_lock(&c->mu);
	old = c->cur;
	c->cur = s;
	pthread_mutex_unlock(&c->mu);
	snapshot_put(old);
}
