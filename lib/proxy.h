/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * proxy: one proxied request ("xfer") and the libmicrohttpd side of the
 * cross-thread request protocol (ARCHITECTURE.md §1–§2). upstream.c owns
 * the curl side of the same object.
 *
 * Locking: xfer->mu protects the rings and the state flags below marked
 * [mu]. Fields marked [mhd] are touched only by the MHD worker thread that
 * serves the connection; [up] only by the upstream thread after START;
 * [ro] are written before START and read-only afterwards.
 * Rules: suspend under mu, resume outside it; never hold mu while calling
 * curl_easy_pause or MHD_queue_response; the command queue lock is a leaf.
 */
#ifndef AP_PROXY_H
#define AP_PROXY_H

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "config.h"
#include "ring.h"

struct server;
struct upstream;
struct snapshot;
struct worker;

#define XFER_RING_SIZE (64 * 1024)
#define XFER_RESP_HEADERS_MAX (64 * 1024)

/* Commands from MHD threads to an upstream thread (bit set). */
enum {
	XFER_CMD_START = 1,
	XFER_CMD_UNPAUSE = 2,
	XFER_CMD_ABORT = 4
};

struct xfer {
	pthread_mutex_t mu;
	atomic_int refs;
	struct server *srv;                 /* [ro] */
	struct upstream *up;                /* [ro] after START */
	struct MHD_Connection *conn;        /* [ro] */
	struct worker *worker;              /* [ro] the loop serving conn */
	struct snapshot *snap;              /* [ro] pinned config */
	const struct config_site *site;     /* [ro] */

	/* request, [ro] after START */
	char *target; /* raw request-target as received */
	char method[24];
	char *method_long; /* methods longer than method[] */
	char client_ip[INET6_ADDRSTRLEN];
	int client_fd; /* watched for hang-up while suspended */
	char host[256]; /* normalized host, for logs */
	struct curl_slist *req_headers;
	int has_body;
	int64_t body_size; /* -1 = chunked / unknown */
	struct timespec t_start;

	/* [mhd] */
	int phase;           /* 0 = before first handler call */
	uint64_t body_seen;  /* body bytes received from the client */
	int too_large;
	int resp_status;     /* status sent to the client, for REQUEST log */
	int started;

	/* [mu] */
	struct ring up_ring, down_ring;
	unsigned suspended : 1;
	unsigned send_paused : 1;
	unsigned recv_paused : 1;
	unsigned upload_done : 1;
	unsigned head_ready : 1;
	unsigned done : 1;
	unsigned mhd_gone : 1;
	/* monotonic ms when suspended, 0 when not; also read without mu by
	 * the upstream thread to pick stalled clients to watch */
	atomic_long susp_since;
	CURLcode result;
	long connect_time_us; /* to tell connect from read timeouts */
	long status;          /* upstream status, 0 if none */
	int64_t resp_size;    /* upstream Content-Length, -1 unknown */
	char *resp_hdrs;      /* "Name\0Value\0" pairs */
	size_t resp_hdrs_len, resp_hdrs_cap;
	int resp_bad;         /* malformed upstream head */

	/* [up] */
	CURL *easy;
	unsigned pending; /* commands being processed */
	struct xfer *proc_next;
	int in_multi;
	int peer_data; /* client sent bytes while suspended: stop watching */
	struct xfer *act_prev, *act_next; /* the thread's active list */

	/* command queue, under the upstream's queue lock */
	unsigned cmd_bits;
	int cmd_queued;
	struct xfer *cmd_next;
};

void xfer_ref(struct xfer *x);
void xfer_put(struct xfer *x);
const char *xfer_method(const struct xfer *x);
/* Resume the MHD connection if it is suspended. Call with mu held;
 * returns 1 when the caller must call MHD_resume_connection after
 * unlocking. */
int xfer_want_resume(struct xfer *x);
/* Suspend the MHD connection; call with mu held, from an MHD callback. */
void xfer_suspend(struct xfer *x);
long xfer_now_ms(void);

/* libmicrohttpd callbacks, registered by server.c (cls = server). */
void *proxy_uri_log(void *cls, const char *uri, struct MHD_Connection *conn);
enum MHD_Result proxy_access(void *cls, struct MHD_Connection *conn,
			     const char *url, const char *method,
			     const char *version, const char *upload_data,
			     size_t *upload_data_size, void **con_cls);
void proxy_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		     enum MHD_RequestTerminationCode toe);

#endif
