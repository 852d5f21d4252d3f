/* Outbound HTTP(S) and file:// GETs for the control loop (JWKS key sets
 * now, Consul blocking queries later): libcurl's multi interface driven
 * by a libuv loop, one uv_poll_t per socket curl asks about and one timer.
 * Only http, https and file are spoken; redirects are followed at most
 * RG_FETCH_MAX_REDIRS times and only to http or https (only https from an
 * https URL); TLS peers are verified (curl's defaults); every body has a
 * cap. curl's own allocations go through rg_malloc & co. Proxies come from
 * the environment (http_proxy, https_proxy, no_proxy) as curl reads them,
 * unless a fetch asks for none (no_proxy: Consul's local agent).
 * Thread: everything here runs on the fetcher's loop's thread only. */
#ifndef RG_UPSTREAM_FETCH_H
#define RG_UPSTREAM_FETCH_H

#include <stddef.h>
#include <uv.h>

#include "core/err.h"

#define RG_FETCH_TIMEOUT_MS 10000       /* default whole-transfer limit */
#define RG_FETCH_MAX_BODY (1024 * 1024) /* default body cap, bytes */
#define RG_FETCH_MAX_REDIRS 3
#define RG_FETCH_MAX_HEADER 8192 /* cap on want_header's value */

struct rg_fetcher; /* one per loop */
struct rg_fetch;   /* one transfer */

struct rg_fetch_opts {
    long timeout_ms;            /* the whole transfer, ms; 0: default */
    size_t max_body;            /* bytes; past it the fetch fails with
                                   -EMSGSIZE; 0: RG_FETCH_MAX_BODY */
    const char *const *headers; /* "Name: value" request headers,
                                   NULL-terminated, or NULL; copied */
    const char *want_header;    /* a response header's name (any case)
                                   whose value the result carries, e.g.
                                   "X-Consul-Index"; or NULL; copied */
    int no_proxy;               /* 1: connect directly, whatever
                                   http_proxy & co say */
    int direct;                 /* 1: no proxy from the environment and no
                                   redirects followed (health checks of a
                                   target: its own answer counts) */
};

struct rg_fetch_result {
    int err;            /* 0, or -ETIMEDOUT (timeout_ms passed),
                           -ECONNREFUSED (or the failed connect's own
                           errno), -EMSGSIZE (the body over max_body, or
                           want_header's value over RG_FETCH_MAX_HEADER),
                           -ENOENT (a file:// that cannot be read),
                           -ENOMEM, -EIO (any other curl error: TLS, DNS,
                           too many redirects, a refused redirect...) */
    long status;        /* the HTTP status of the last response; 0 for
                           file:// and whenever err != 0 */
    const char *body;   /* NUL-terminated, never NULL ("" on error) */
    size_t len;         /* body bytes, not counting the NUL */
    const char *header; /* want_header's value in the last response
                           (trimmed), or NULL when absent or not asked */
    const char *error;  /* human-readable (curl's message) when err != 0,
                           else NULL */
};

/* Ownership: every pointer in @res is borrowed for the call only. The
 * callback may start fetches, cancel others (or its own, a no-op) and
 * close the fetcher. */
typedef void (*rg_fetch_cb)(void *arg, const struct rg_fetch_result *res);

/* A fetcher on @loop (borrowed; it must outlive the fetcher). Initialises
 * libcurl once per process (curl_global_init_mem, thread-safe). Its timer
 * does not keep the loop alive; transfers in flight do. NULL on failure
 * (ENOMEM, or curl refusing to initialise). */
struct rg_fetcher *rg_fetcher_new(uv_loop_t *loop);

/* Cancel every transfer (no callback runs after this, not even for
 * fetches that finished in the same loop iteration) and close the uv
 * handles; the memory goes in their close callbacks, so the loop must run
 * afterwards. May be called from inside a fetch callback. After it @f
 * must not be used. Accepts NULL. */
void rg_fetcher_close(struct rg_fetcher *f);

/* Start a GET of @url (http://, https:// or file://, scheme in any case)
 * with the options @o (may be NULL for all defaults; borrowed: everything
 * is copied). On 0, @cb(@arg, result) runs exactly once, later, from the
 * loop (never from inside this call) unless the fetch is cancelled or the
 * fetcher closed first; *@out (may be NULL) is the fetch's handle, valid
 * until @cb returns or rg_fetch_cancel. HTTP statuses are not errors: a
 * 404 is err 0, status 404.
 * A header with an empty value ("Accept:") removes curl's own header of
 * that name (curl's rule); "User-Agent: ..." replaces raftgate/<version>.
 * Errors (then @cb is never called and *@out is untouched): -EINVAL for
 * another scheme, or a header that is not one "Name: value" line (no ':'
 * after a name, or a CR or LF in it); -ENOMEM; -EIO when curl refuses an
 * option; -ECANCELED when @f is closing (from a callback after
 * rg_fetcher_close). */
int rg_fetch_start(struct rg_fetcher *f, const char *url,
                   const struct rg_fetch_opts *o, rg_fetch_cb cb, void *arg,
                   struct rg_fetch **out) RG_MUST_CHECK;

/* Stop @x and free it: its callback will not run. Called on the fetch
 * whose callback is running, it does nothing. @x must be a handle from
 * rg_fetch_start that is still valid (see there). */
void rg_fetch_cancel(struct rg_fetch *x);

#endif
