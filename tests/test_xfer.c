/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Unit tests for the request state machine (xfer.c), driven without
 * sockets: fake ops stand for libmicrohttpd's suspend/resume and curl's
 * unpause/abort and record every call. Proves suspend/resume ordering (no
 * lost wakeup when curl calls back inside an unpause), pause/unpause on
 * empty and full rings, the upload waiting while the download is paused,
 * abort from either side, completion exactly once,
 * and (under ASan in the sanitizer build) that the last reference frees
 * the request.
 */
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "xfer.h"

struct fake {
	int suspended; /* the client connection, as libmicrohttpd sees it */
	int n_suspend, n_resume, n_unpause, n_abort;
	int bad_resume; /* resume of a client that was not suspended */
	/* curl's held chunk: delivered inside the next unpause */
	const char *held;
	int held_taken;
};

static struct fake *fk(struct xfer *x)
{
	return x->ctx;
}

static void f_suspend(struct xfer *x)
{
	fk(x)->suspended = 1;
	fk(x)->n_suspend++;
}

static void f_resume(struct xfer *x)
{
	if (!fk(x)->suspended)
		fk(x)->bad_resume++;
	fk(x)->suspended = 0;
	fk(x)->n_resume++;
}

static void f_unpause(struct xfer *x)
{
	struct fake *f = fk(x);

	f->n_unpause++;
	if (f->held != NULL)
		f->held_taken = xfer_up_push(x, f->held, strlen(f->held)) == 0;
	if (f->held_taken)
		f->held = NULL;
}

static void f_abort(struct xfer *x)
{
	fk(x)->n_abort++;
	xfer_up_done(x, CURLE_ABORTED_BY_CALLBACK, 0);
}

static const struct xfer_ops ops = {f_suspend, f_resume, f_unpause, f_abort};

static struct xfer *started(struct fake *f, int has_body)
{
	struct xfer *x;

	memset(f, 0, sizeof(*f));
	x = xfer_new(&ops, f, "/t");
	if (x == NULL)
		exit(99);
	x->has_body = has_body;
	if (xfer_begin(x) != 0)
		exit(99);
	return x;
}

/* A GET: the client waits for the head, then reads the body. */
static void test_small_get(void)
{
	struct fake f;
	struct xfer *x = started(&f, 0);
	char buf[64];

	CHECK(x->refs == 2); /* the client's and the transfer's */
	CHECK(x->state == XFER_PROXYING && x->up_state == XFER_UP_RUNNING);
	CHECK(xfer_client_body_end(x) == 0);
	CHECK(f.suspended && x->wait == XFER_WAIT_HEAD);
	CHECK(xfer_up_push(x, "hel", 3) == 0); /* body before head: no wake */
	CHECK(f.suspended && f.n_resume == 0);
	xfer_up_head(x, 200);
	CHECK(!f.suspended && f.n_resume == 1 && x->status == 200);
	CHECK(xfer_up_push(x, "lo", 2) == 0);
	CHECK(f.n_resume == 1); /* not waiting: no resume */
	CHECK(xfer_up_done(x, CURLE_OK, 10) == 1);
	CHECK(x->refs == 1 && x->up_state == XFER_UP_DONE);
	CHECK(xfer_client_pull(x, buf, sizeof(buf)) == 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK(xfer_client_pull(x, buf, sizeof(buf)) == XFER_PULL_END);
	CHECK(f.n_abort == 0 && f.bad_resume == 0);
	xfer_client_gone(x);
	CHECK(f.n_abort == 0);
	xfer_put(x);
}

/* Upload: a full ring suspends the client until curl reads; an empty
 * ring pauses curl until the client writes. */
static void test_upload_backpressure(void)
{
	struct fake f;
	struct xfer *x = started(&f, 1);
	static char big[XFER_RING_SIZE + 100];
	char buf[1000];
	size_t n;

	memset(big, 'u', sizeof(big));
	/* curl asks first: nothing yet, it pauses */
	CHECK(xfer_up_pull(x, buf, sizeof(buf)) == XFER_UP_WAIT);
	CHECK(x->send_paused);
	n = xfer_client_push(x, big, 10);
	CHECK(n == 10 && f.n_unpause == 1 && !x->send_paused);
	CHECK(!f.suspended);
	/* fill the ring: the rest does not fit, the client waits (the
	 * upload ring does not grow) */
	n = xfer_client_push(x, big, sizeof(big));
	CHECK(n == XFER_RING_SIZE - 10 && x->up_ring.cap == XFER_RING_SIZE);
	CHECK(f.suspended && x->wait == XFER_WAIT_SPACE);
	CHECK(f.n_unpause == 1); /* curl was not paused */
	/* curl reads: the client is resumed once */
	CHECK(xfer_up_pull(x, buf, sizeof(buf)) == sizeof(buf));
	CHECK(!f.suspended && f.n_resume == 1);
	CHECK(xfer_up_pull(x, buf, sizeof(buf)) == sizeof(buf));
	CHECK(f.n_resume == 1);
	/* drain, then pause again on the empty ring */
	while ((n = xfer_up_pull(x, buf, sizeof(buf))) != XFER_UP_WAIT)
		CHECK(n > 0);
	CHECK(x->send_paused);
	/* end of the body: curl is unpaused to read the end, the client
	 * waits for the head; the next pull says 0 (end), not "wait" */
	CHECK(xfer_client_body_end(x) == 0);
	CHECK(f.suspended && x->wait == XFER_WAIT_HEAD && f.n_unpause == 2);
	CHECK(xfer_up_pull(x, buf, sizeof(buf)) == 0);
	CHECK(f.suspended); /* the end of the upload wakes nobody */
	xfer_up_head(x, 201);
	CHECK(!f.suspended && f.n_resume == 2);
	xfer_up_done(x, CURLE_OK, 1);
	CHECK(f.bad_resume == 0);
	xfer_client_gone(x);
	xfer_put(x);
}

static char chunk[16 * 1024];

/* Push chunks until the download ring refuses one; returns how many fit. */
static int fill(struct xfer *x)
{
	int n = 0;

	while (xfer_up_push(x, chunk, sizeof(chunk)) == 0)
		n++;
	return n;
}

/* Download: a full ring grows once, then pauses curl; the client unpauses
 * it when half of the ring is free again; an empty ring suspends the
 * client. */
static void test_download_backpressure(void)
{
	struct fake f;
	struct xfer *x = started(&f, 0);
	static char buf[XFER_RING_MAX];
	int i;

	memset(chunk, 'd', sizeof(chunk));
	CHECK(xfer_client_body_end(x) == 0);
	xfer_up_head(x, 200);
	for (i = 0; i < 4; i++)
		CHECK(xfer_up_push(x, chunk, sizeof(chunk)) == 0);
	CHECK(x->down_ring.cap == XFER_RING_SIZE && !x->recv_paused);
	/* the first chunk that does not fit grows the ring, once */
	CHECK(xfer_up_push(x, chunk, sizeof(chunk)) == 0);
	CHECK(x->down_ring.cap == XFER_RING_MAX);
	CHECK(fill(x) == XFER_RING_MAX / (int)sizeof(chunk) - 5);
	CHECK(x->recv_paused && x->down_ring.cap == XFER_RING_MAX);
	CHECK(ring_len(&x->down_ring) == XFER_RING_MAX);
	CHECK(xfer_up_push(x, chunk, sizeof(chunk)) == -1); /* no more growth */
	/* a quarter read: not enough room yet */
	CHECK(xfer_client_pull(x, buf, XFER_RING_MAX / 4) ==
	      XFER_RING_MAX / 4);
	CHECK(f.n_unpause == 0 && x->recv_paused);
	CHECK(xfer_client_pull(x, buf, XFER_RING_MAX / 4) ==
	      XFER_RING_MAX / 4);
	CHECK(f.n_unpause == 1 && !x->recv_paused);
	CHECK(xfer_up_push(x, chunk, sizeof(chunk)) == 0);
	/* empty the ring: the client waits, bytes wake it */
	CHECK(xfer_client_pull(x, buf, sizeof(buf)) ==
	      XFER_RING_MAX / 2 + (ssize_t)sizeof(chunk));
	CHECK(xfer_client_pull(x, buf, sizeof(buf)) == 0);
	CHECK(f.suspended && x->wait == XFER_WAIT_BODY);
	CHECK(xfer_up_push(x, "x", 1) == 0);
	CHECK(!f.suspended && f.n_resume == 2);
	xfer_up_done(x, CURLE_OK, 1);
	CHECK(xfer_client_pull(x, buf, sizeof(buf)) == 1);
	CHECK(xfer_client_pull(x, buf, sizeof(buf)) == XFER_PULL_END);
	CHECK(f.bad_resume == 0);
	xfer_client_gone(x);
	xfer_put(x);
}

/* An early answer during an upload: with hold_upload (libcurl >= 8.10.1)
 * the upload is paused while the download is (curl reads the upstream on
 * every upload pass and would keep what it read); client bytes do not
 * unpause curl then, and the download's unpause resumes both directions.
 * Without it (older libcurl) the upload goes on. */
static void test_upload_waits_for_download(void)
{
	struct fake f;
	struct xfer *x = started(&f, 1);
	static char buf[XFER_RING_MAX];

	x->hold_upload = 1;
	memset(chunk, 'e', sizeof(chunk));
	CHECK(xfer_client_push(x, "abc", 3) == 3);
	CHECK(xfer_up_pull(x, buf, 2) == 2);
	xfer_up_head(x, 200);
	fill(x);
	CHECK(x->recv_paused && !x->send_paused);
	/* curl asks for upload bytes: the ring has one, but it waits */
	CHECK(xfer_up_pull(x, buf, sizeof(buf)) == XFER_UP_WAIT);
	CHECK(x->send_paused && ring_len(&x->up_ring) == 1);
	/* more client bytes: stored, curl stays paused */
	CHECK(xfer_client_push(x, "de", 2) == 2);
	CHECK(f.n_unpause == 0 && x->send_paused);
	/* the end of the body does not unpause it either */
	CHECK(xfer_client_body_end(x) == 1);
	CHECK(f.n_unpause == 0);
	/* the client reads half of the answer: one unpause, both ways */
	CHECK(xfer_client_pull(x, buf, XFER_RING_MAX / 2) ==
	      XFER_RING_MAX / 2);
	CHECK(f.n_unpause == 1 && !x->recv_paused && !x->send_paused);
	CHECK(xfer_up_pull(x, buf, sizeof(buf)) == 3);
	CHECK(memcmp(buf, "cde", 3) == 0);
	CHECK(xfer_up_pull(x, buf, sizeof(buf)) == 0); /* end of body */
	xfer_up_done(x, CURLE_OK, 1);
	CHECK(xfer_client_pull(x, buf, sizeof(buf)) == XFER_RING_MAX / 2);
	CHECK(xfer_client_pull(x, buf, sizeof(buf)) == XFER_PULL_END);
	CHECK(f.bad_resume == 0);
	xfer_client_gone(x);
	xfer_put(x);
}

/* Without hold_upload the upload goes on while the download is paused. */
static void test_upload_goes_on(void)
{
	struct fake f;
	struct xfer *x = started(&f, 1);
	static char buf[XFER_RING_MAX];

	memset(chunk, 'g', sizeof(chunk));
	CHECK(xfer_client_push(x, "abc", 3) == 3);
	xfer_up_head(x, 200);
	fill(x);
	CHECK(x->recv_paused);
	CHECK(xfer_up_pull(x, buf, sizeof(buf)) == 3);
	CHECK(xfer_up_pull(x, buf, sizeof(buf)) == XFER_UP_WAIT);
	CHECK(xfer_client_push(x, "de", 2) == 2);
	CHECK(f.n_unpause == 1 && !x->send_paused); /* curl woken to send */
	CHECK(xfer_up_pull(x, buf, sizeof(buf)) == 2);
	xfer_client_gone(x);
	xfer_put(x);
}

/* curl delivers a held chunk inside curl_easy_pause: the client must be
 * suspended before the unpause, so that the chunk's wakeup reaches it. */
static void test_unpause_calls_back(void)
{
	struct fake f;
	struct xfer *x = started(&f, 0);
	static char buf[XFER_RING_MAX];

	CHECK(xfer_client_body_end(x) == 0);
	xfer_up_head(x, 200);
	memset(chunk, 'f', sizeof(chunk));
	fill(x);
	CHECK(x->recv_paused && ring_len(&x->down_ring) == XFER_RING_MAX);
	f.held = "held";
	/* reading it all unpauses; the held chunk lands at once */
	CHECK(xfer_client_pull(x, buf, sizeof(buf)) == XFER_RING_MAX);
	CHECK(f.held_taken && ring_len(&x->down_ring) == 4);
	CHECK(xfer_client_pull(x, buf, sizeof(buf)) == 4);
	/* a full ring again, curl paused on another chunk */
	fill(x);
	CHECK(xfer_client_pull(x, buf, XFER_RING_MAX / 4) ==
	      XFER_RING_MAX / 4);
	/* quarter read: still paused, no unpause yet */
	CHECK(x->recv_paused && f.n_unpause == 1);
	f.held = "late";
	f.held_taken = 0;
	CHECK(xfer_client_pull(x, buf, sizeof(buf)) ==
	      XFER_RING_MAX * 3 / 4);
	CHECK(f.n_unpause == 2 && f.held_taken);
	/* the ring was refilled inside the unpause: data, no suspend */
	CHECK(xfer_client_pull(x, buf, sizeof(buf)) == 4);
	/* an empty ring with curl paused: the client is suspended first,
	 * then the unpause delivers, and its wakeup resumes the client */
	fill(x);
	x->down_ring.len = 0; /* as if read without passing the half mark */
	x->down_ring.head = 0;
	f.held = "last";
	f.held_taken = 0;
	CHECK(xfer_client_pull(x, buf, sizeof(buf)) == 0);
	CHECK(f.held_taken);
	CHECK(!f.suspended && x->wait == XFER_WAIT_NONE); /* not lost */
	CHECK(f.bad_resume == 0);
	CHECK(xfer_client_pull(x, buf, sizeof(buf)) == 4);
	xfer_client_gone(x); /* aborts the running transfer */
	CHECK(f.n_abort == 1 && x->up_state == XFER_UP_DONE);
	xfer_put(x);
}

/* The client leaves while the transfer runs: abort once, never resume. */
static void test_client_gone(void)
{
	struct fake f;
	struct xfer *x = started(&f, 0);

	CHECK(xfer_client_body_end(x) == 0);
	xfer_ref(x); /* keep it to look after the transfer's end */
	xfer_client_gone(x);
	CHECK(f.n_abort == 1 && x->up_state == XFER_UP_DONE);
	CHECK(f.n_resume == 0); /* gone: never resumed */
	CHECK(x->refs == 2);
	CHECK(xfer_up_done(x, CURLE_OK, 0) == 0); /* exactly once */
	CHECK(x->result == CURLE_ABORTED_BY_CALLBACK);
	xfer_client_cancel(x);
	CHECK(f.n_abort == 1);
	xfer_put(x);
	xfer_put(x);
}

/* The upstream fails mid-body: the waiting client wakes to an error; an
 * upload after the end is drained, not kept. */
static void test_upstream_fails(void)
{
	struct fake f;
	struct xfer *x = started(&f, 1);
	char buf[16];

	CHECK(xfer_client_push(x, "abc", 3) == 3);
	xfer_up_head(x, 200);
	CHECK(xfer_client_pull(x, buf, sizeof(buf)) == 0);
	CHECK(f.suspended && x->wait == XFER_WAIT_BODY);
	CHECK(xfer_up_done(x, CURLE_RECV_ERROR, 5) == 1);
	CHECK(!f.suspended && f.n_resume == 1);
	CHECK(xfer_client_pull(x, buf, sizeof(buf)) == XFER_PULL_ERROR);
	CHECK(xfer_client_push(x, "more", 4) == 4); /* drained */
	CHECK(!f.suspended);
	CHECK(xfer_client_body_end(x) == 1); /* head known: answer */
	CHECK(f.n_unpause == 0 && f.bad_resume == 0);
	xfer_client_gone(x);
	CHECK(f.n_abort == 0);
	xfer_put(x);
}

/* The body is too large, or the head is refused: the client cancels. */
static void test_cancel(void)
{
	struct fake f;
	struct xfer *x = started(&f, 1);

	CHECK(xfer_up_pull(x, NULL, 0) == XFER_UP_WAIT);
	xfer_client_cancel(x);
	CHECK(f.n_abort == 1 && x->up_state == XFER_UP_DONE);
	CHECK(!x->send_paused && x->head_ready && x->status == 0);
	CHECK(f.n_resume == 0); /* the client was not waiting */
	xfer_client_cancel(x);
	CHECK(f.n_abort == 1);
	xfer_client_gone(x);
	xfer_put(x);
}

/* Never routed: no transfer, no ring, one reference. */
static void test_never_started(void)
{
	struct fake f;
	struct xfer *x;

	memset(&f, 0, sizeof(f));
	x = xfer_new(&ops, &f, NULL);
	CHECK(x != NULL && x->refs == 1 && x->state == XFER_NEW);
	CHECK(strcmp(x->target, "") == 0 && x->client_fd == -1);
	strcpy(x->method, "GET");
	CHECK(strcmp(xfer_method(x), "GET") == 0);
	xfer_client_gone(x);
	CHECK(f.n_abort == 0 && x->up_state == XFER_UP_IDLE);
	xfer_put(x);
}

int main(void)
{
	test_small_get();
	test_upload_backpressure();
	test_download_backpressure();
	test_upload_waits_for_download();
	test_upload_goes_on();
	test_unpause_calls_back();
	test_client_gone();
	test_upstream_fails();
	test_cancel();
	test_never_started();
	UNIT_DONE();
}
