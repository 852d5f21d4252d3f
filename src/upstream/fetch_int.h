/* The internals fetch.c (the loop and curl's multi handle) and
 * fetch_xfer.c (one transfer: its options, body and headers, its result)
 * share. Not for other modules. Thread: the fetcher's loop. */
#ifndef RG_UPSTREAM_FETCH_INT_H
#define RG_UPSTREAM_FETCH_INT_H

#include <curl/curl.h>

#include "core/buf.h"
#include "upstream/fetch.h"

struct rg_fetch_sock; /* fetch.c's: one watched socket */

struct rg_fetch { /* one transfer */
    struct rg_fetcher *f;
    struct rg_fetch *prev, *next; /* in f->active, or next in f->done */
    CURL *easy;                   /* owned */
    struct curl_slist *hdrs;      /* owned: the request headers */
    char *want;                   /* owned: want_header's name, or NULL */
    size_t want_len;
    struct rg_buf body; /* capped at max_body */
    struct rg_buf hval; /* want's value; capped */
    rg_fetch_cb cb;
    void *arg;
    const char *why;        /* our own abort's reason, or NULL */
    int err;                /* our own abort's code, or 0 */
    CURLcode code;          /* curl's result, once done */
    unsigned done : 1;      /* out of the multi, queued or called */
    unsigned cancelled : 1; /* done, but its callback must not run */
    unsigned have_hval : 1;
    unsigned doomed : 1; /* a socket of it could not be watched */
    char errbuf[CURL_ERROR_SIZE];
};

struct rg_fetcher { /* one per loop */
    uv_loop_t *loop;
    CURLM *multi; /* owned; NULL once closing */
    uv_timer_t timer;
    struct rg_fetch *active;           /* in the multi handle */
    struct rg_fetch *done, *done_tail; /* finished, callbacks pending */
    struct rg_fetch_sock *socks;       /* every socket watched now */
    unsigned n_active;
    unsigned n_doomed; /* doomed since the last reap */
    unsigned n_open;   /* uv handles not yet closed */
    unsigned closing : 1;
};

/* A transfer for @url (its scheme checked) with @o, set up but not yet in
 * the multi handle, into *@out. 0, -EINVAL (scheme, a request header),
 * -ENOMEM or -EIO (curl refused an option). */
int rg_fetch__new(struct rg_fetcher *f, const char *url,
                  const struct rg_fetch_opts *o,
                  struct rg_fetch **out) RG_MUST_CHECK;

/* Free @x, out of the multi handle (or never in it). */
void rg_fetch__free(struct rg_fetch *x);

/* Call @x's callback with its result (x->code and what was received). */
void rg_fetch__complete(struct rg_fetch *x);

#endif
