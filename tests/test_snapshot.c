/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Unit tests for snapshot.c: a pinned snapshot outlives the cell's swap to
 * a newer one, the config is freed with the last reference (ASan's leak
 * check in the sanitizer build sees any reference lost or kept too long),
 * and concurrent readers and a swapping writer keep the counts right.
 */
#include <pthread.h>
#include <stdlib.h>

#include "snapshot.h"
#include "unit.h"

static struct snapshot *fresh(unsigned workers)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct snapshot *s;

	if (cfg == NULL)
		exit(99);
	cfg->workers = workers;
	s = snapshot_new(cfg);
	if (s == NULL)
		exit(99);
	return s;
}

static struct snapshot_cell cell;
static atomic_int stop;

static void *reader(void *arg)
{
	unsigned long n = 0;

	(void)arg;
	while (!atomic_load(&stop)) {
		struct snapshot *s = snapshot_cell_get(&cell);

		/* a pinned snapshot stays whole while the writer swaps */
		if (s->cfg->workers == 0)
			abort();
		snapshot_put(s);
		n++;
	}
	return (void *)n;
}

int main(void)
{
	struct snapshot *a = fresh(1), *pinned;
	pthread_t t[2];
	unsigned i;

	snapshot_cell_init(&cell, a);
	pinned = snapshot_cell_get(&cell);
	CHECK(pinned == a);
	CHECK(atomic_load(&a->refs) == 2);
	snapshot_cell_set(&cell, fresh(2));
	/* the cell dropped its reference; the request's pin keeps it */
	CHECK(atomic_load(&a->refs) == 1);
	CHECK(pinned->cfg->workers == 1);
	snapshot_put(pinned); /* freed here */
	pinned = snapshot_cell_get(&cell);
	CHECK(pinned->cfg->workers == 2);
	snapshot_put(pinned);
	snapshot_put(NULL);

	for (i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, reader, NULL) == 0);
	for (i = 0; i < 20000; i++)
		snapshot_cell_set(&cell, fresh(3 + i % 7));
	atomic_store(&stop, 1);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pinned = snapshot_cell_get(&cell);
	CHECK(atomic_load(&pinned->refs) == 2); /* the cell's and ours */
	snapshot_put(pinned);
	snapshot_cell_destroy(&cell);
	UNIT_DONE();
}
