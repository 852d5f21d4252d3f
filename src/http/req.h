/* What a plugin may do with the request it is called for (http/filter.h
 * callbacks get it as fc->r): read the request, add headers both ways,
 * answer locally, identify the consumer, allocate request-lived memory,
 * and find the loop for async work. Every function here is for the
 * request's worker thread, inside a callback or, for a paused plugin,
 * before it resumes. Memory handed out lives until the request ends. */
#ifndef RG_HTTP_REQ_H
#define RG_HTTP_REQ_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/err.h"

struct rg_req;

/* The worker's loop (timers and other async work of a paused plugin). */
uv_loop_t *rg_req_loop(const struct rg_req *r);

/* The request id (X-Request-ID), NUL-terminated. */
const char *rg_req_id(const struct rg_req *r);

/* The response status once known (HEADER and LOG), else 0. */
int rg_req_status(const struct rg_req *r);

/* The value of the client's request header @name (any case) in
 * *@len bytes, not NUL-terminated, or NULL when absent (the first of
 * several); valid until the request ends. */
const char *rg_req_header(const struct rg_req *r, const char *name,
                          size_t *len);

/* @n bytes aligned for any type, freed when the request ends; NULL on
 * ENOMEM. */
void *rg_req_alloc(struct rg_req *r, size_t n);

/* Where an added header goes. */
enum rg_hdir {
    RG_TO_UPSTREAM, /* the request sent upstream (REWRITE, ACCESS) */
    RG_TO_CLIENT,   /* the response (any phase before the head is sent:
                       up to HEADER) */
};

/* Add header @name: @value (copied) in direction @dir, after the headers
 * already there. Names are checked as HTTP tokens and values for CR, LF
 * and NUL; the framing headers the gateway writes itself
 * (Content-Length, Transfer-Encoding, Host, Connection, Upgrade, TE,
 * Trailer, Keep-Alive) are refused. 0, -EINVAL (bad or refused name, bad
 * value, or too late: the head went out), -ENOMEM. */
int rg_req_add_header(struct rg_req *r, enum rg_hdir dir, const char *name,
                      const char *value) RG_MUST_CHECK;

/* Replace header @name in direction @dir: the headers of that name that
 * plugins added before are dropped (and, upstream, the client's), then
 * @name: @value is added (NULL: none is). As rg_req_add_header. */
int rg_req_set_header(struct rg_req *r, enum rg_hdir dir, const char *name,
                      const char *value) RG_MUST_CHECK;

/* Answer the request locally with @status (200..599, not 204 or 304) and JSON body @body
 * (@len bytes, copied; NULL: {"message":"<reason>"}). The callback then
 * returns RG_FILTER_RESPOND (or a paused plugin resumes with it). REWRITE
 * and ACCESS only. 0, -EINVAL, -ENOMEM. */
int rg_req_respond(struct rg_req *r, int status, const char *body,
                   size_t len) RG_MUST_CHECK;

/* Say why the plugin is failing the request: it then returns
 * RG_FILTER_ERROR (or a paused plugin resumes with it), and the client is
 * told rg_status_of(@err) (@err a negative code of core/err.h: -ENOMEM
 * 503, RG_EUPSTREAM 502...; anything else counts as RG_EPLUGIN, the
 * default: 500), if the response has not started (else the connection is
 * cut). Thread: the request's worker. */
void rg_req_fail(struct rg_req *r, int err);

/* The whole request body, for a plugin that asked for it
 * (RG_FILTER_REQ_BODY): 0 with *@p (not NUL-terminated; NULL when empty)
 * and *@len, in ACCESS; -EINVAL when no plugin of the route's chain asked
 * for it. */
int rg_req_body(const struct rg_req *r, const char **p, size_t *len);

/* The request's Content-Length, or -1 when it has none. */
int64_t rg_req_content_length(const struct rg_req *r);

/* 1 when the request body is chunked (Transfer-Encoding: chunked). */
int rg_req_chunked(const struct rg_req *r);

/* Cap the request body at @max bytes in all (the smallest of several
 * calls holds), for a body streamed to the upstream after ACCESS:
 * the bytes are counted as they arrive, as max_body_size is, and past the
 * cap the request is refused with 413 and {"message": @message} (kept:
 * static or config memory; no quotes or backslashes) and its connection
 * closes; once the response started, the connection is cut instead. The
 * upstream may have had part of the body by then. ACCESS. */
void rg_req_cap_body(struct rg_req *r, uint64_t max, const char *message);

/* Replace the request body sent upstream (copied; Content-Length
 * follows). ACCESS, with the body buffered. 0, -EINVAL, -ENOMEM. */
int rg_req_set_body(struct rg_req *r, const char *p, size_t len)
    RG_MUST_CHECK;

/* The whole response body in BODY_FILTER (RG_FILTER_RESP_BODY): as
 * rg_req_body. */
int rg_resp_body(const struct rg_req *r, const char **p, size_t *len);

/* Replace the response body (copied; Content-Length follows). BODY. */
int rg_resp_set_body(struct rg_req *r, const char *p, size_t len)
    RG_MUST_CHECK;

/* The request method as an RG_M_* bit (config/gateway.h); 0 for a method
 * without one. */
unsigned rg_req_method(const struct rg_req *r);

/* How many of the client's request headers are named @name (any case). */
unsigned rg_req_header_count(const struct rg_req *r, const char *name);

/* The query string of the request (without "?"; "" with *@len 0 when
 * there is none), as it will be sent upstream; valid until the request
 * ends or rg_req_set_query. */
const char *rg_req_query(const struct rg_req *r, size_t *len);

/* Send @p (@len bytes, without "?"; 0: no query) upstream as the query
 * instead (copied). REWRITE and ACCESS. 0 or -ENOMEM. */
int rg_req_set_query(struct rg_req *r, const char *p, size_t len)
    RG_MUST_CHECK;

/* Do not send the client's request headers named @name (any case)
 * upstream (a credential a plugin hides). REWRITE and ACCESS. */
void rg_req_hide_header(struct rg_req *r, const char *name);

/* The client's address into *@out: the peer's or, with @forwarded, the
 * one X-Forwarded-For names when the peer is in proxy.trusted_ips: the
 * list (all such headers, in order) is walked from its right end past
 * trusted addresses, as nginx's real_ip_recursive; an element that is not
 * an address stops the walk at the last good one. */
struct sockaddr_storage;
void rg_req_client_addr(const struct rg_req *r, int forwarded,
                        struct sockaddr_storage *out);

/* The parsed config of the request's generation: its consumers and
 * credentials, immutable while the request lives. */
struct rg_gateway;
const struct rg_gateway *rg_req_gateway(const struct rg_req *r);

/* The id of that generation (http/gen.h: 1, 2, ... per process, never
 * reused): a per-worker cache built from the config keys its entries by
 * it, so what an older config admitted is not served under a newer one. */
uint64_t rg_req_gen_id(const struct rg_req *r);

/* The consumer with username @name (NUL-terminated), as an index for
 * rg_req_set_consumer, or RG_NO_INDEX. A scan of the consumers (the
 * authentication plugins compile their own credential maps). */
size_t rg_req_find_consumer(const struct rg_req *r, const char *name);

/* The request's consumer (an index into rg_req_gateway's consumers), or
 * RG_NO_INDEX when no plugin identified one. */
size_t rg_req_consumer(const struct rg_req *r);

/* The claims of the request's verified token, for the plugins after the
 * one that verified it (jwt sets a jansson object): an opaque pointer,
 * @drop(@claims) runs when the request ends (or when claims are set
 * again). 0 or -ENOMEM (then @drop ran already). ACCESS. */
int rg_req_set_claims(struct rg_req *r, void *claims,
                      void (*drop)(void *claims)) RG_MUST_CHECK;
void *rg_req_claims(const struct rg_req *r);

/* Whether a plugin identified the request's consumer by a credential
 * (not as the anonymous consumer), and say so. Kong's rule for several
 * authentication plugins on one route rests on it: one with `anonymous`
 * set does nothing once another found a credential. ACCESS. */
int rg_req_authenticated(const struct rg_req *r);
void rg_req_set_authenticated(struct rg_req *r, int yes);

/* The credential that identified the request's consumer (set by the
 * authentication plugins with the consumer; NULL: none, or anonymous).
 * ACCESS. */
struct rg_cred;
void rg_req_set_credential(struct rg_req *r, const struct rg_cred *cred);
const struct rg_cred *rg_req_credential(const struct rg_req *r);

/* The matched route, an index into rg_req_gateway's routes (its service
 * is that route's), from ACCESS on. */
size_t rg_req_route(const struct rg_req *r);

/* Make consumer @index (RG_NO_INDEX: none) the request's consumer: from
 * the next plugin on, instances scoped to that consumer apply (Kong's
 * precedence). ACCESS. */
void rg_req_set_consumer(struct rg_req *r, size_t index);

/* ---- for a response cache (plugins/proxy_cache.c) ---- */

/* The normalised request path (without the query), NUL-terminated, in
 * *@len bytes; valid until the request ends. */
const char *rg_req_path(const struct rg_req *r, size_t *len);

/* Where the response the HEADER and BODY phases see comes from. */
enum rg_resp_source {
    RG_RESP_UPSTREAM = 0, /* the upstream's response */
    RG_RESP_PLUGIN,       /* a plugin's local reply (rg_req_respond...) */
    RG_RESP_GATEWAY,      /* the gateway's own error: the upstream failed
                             (connect, reset, timeout: 502/503/504), or
                             a malformed or unroutable request */
};
enum rg_resp_source rg_resp_source(const struct rg_req *r);

/* rg_req_respond for a refusal that stands for the upstream being
 * unavailable (the circuit breaker's): HEADER sees it as the gateway's
 * own error (RG_RESP_GATEWAY), so proxy-cache's stale_if_error and
 * fallback replace it as they replace a failed upstream's 502/503/504.
 * ACCESS. */
int rg_req_respond_unavailable(struct rg_req *r, int status, const char *body,
                               size_t len) RG_MUST_CHECK;

/* The status of the gateway's own error reply (a failed upstream:
 * 502/503/504; or a malformed request), also when a plugin replaced it
 * in HEADER (a stale cache entry); 0 when there was none. LOG. */
int rg_req_gateway_status(const struct rg_req *r);

/* The upstream's response header @name (any case; the first of
 * several) in *@len bytes, not NUL-terminated; and the @i-th header
 * (from 0: 0 with its name and value, -ENOENT past the end). HEADER and
 * BODY on an upstream response (rg_resp_source RG_RESP_UPSTREAM), before
 * the response started; NULL / -ENOENT otherwise. Headers a plugin hid
 * (rg_resp_hide_header) are left out; hop-by-hop ones are listed. */
const char *rg_resp_header(const struct rg_req *r, const char *name,
                           size_t *len);
int rg_resp_header_at(const struct rg_req *r, size_t i, const char **name,
                      size_t *nlen, const char **value, size_t *vlen);

/* Answer with a stored response: @status (200..599, not 204 or 304),
 * header lines @fields ("Name: value\r\n"..., @flen bytes: not checked,
 * they must come from a parsed response and hold no framing header) in
 * place of the JSON Content-Type of local replies, and body @body (@blen
 * bytes). Nothing is copied (the hit path writes the body straight from
 * the cache): @fields and @body must stay valid until the phase returns,
 * when the reply has been written (or copied by the write queue).
 * Headers plugins add go after @fields.
 * In ACCESS the callback then returns RG_FILTER_RESPOND; in HEADER, on a
 * local reply (rg_resp_source not RG_RESP_UPSTREAM), it replaces that
 * reply (stale-if-error, a fallback) and the callback continues.
 * 0 or -EINVAL (status, phase, or the response started). */
int rg_req_respond_stored(struct rg_req *r, int status, const char *fields,
                          size_t flen, const char *body, size_t blen)
    RG_MUST_CHECK;

/* ---- Rewriting the request line and the response head (issue 10's
 * transformers) ---- */

/* The path the request goes upstream with (no query; Kong's join of the
 * service path and the stripped request path, or what
 * rg_req_set_upstream_path set), NUL-terminated in the arena; NULL on
 * ENOMEM. ACCESS. */
const char *rg_req_upstream_path(struct rg_req *r);

/* Send the request upstream with path @path (copied) instead: it must
 * start with "/" and hold only visible ASCII without '?' and '#' (the
 * query stays rg_req_query's). ACCESS. 0, -EINVAL, -ENOMEM. */
int rg_req_set_upstream_path(struct rg_req *r, const char *path)
    RG_MUST_CHECK;

/* Send the request upstream with method @name (an HTTP token, copied;
 * not HEAD or CONNECT, whose answers frame differently) instead of the
 * client's; rg_req_method still reads the client's. ACCESS. 0, -EINVAL,
 * -ENOMEM. */
int rg_req_set_method(struct rg_req *r, const char *name) RG_MUST_CHECK;

/* Do not send the upstream's response headers named @name (any case) to
 * the client; headers plugins added are rg_req_set_header's. HEADER. */
void rg_resp_hide_header(struct rg_req *r, const char *name);

/* Answer the client with @status instead (200..599, not 204 or 304: the
 * body is framed as the upstream's; the reason phrase becomes the
 * standard one). HEADER, on an upstream response or a local reply. 0 or
 * -EINVAL. */
int rg_resp_set_status(struct rg_req *r, int status) RG_MUST_CHECK;

/* Milliseconds from the start of the last upstream attempt to now, or
 * -1 when no attempt started (a local reply before proxying). */
int64_t rg_req_upstream_ms(const struct rg_req *r);

/* ---- What the access log says of plugins' decisions (obs, issue 12) */

/* The response cache's status for the log (@status: static, proxy-cache's
 * X-Cache-Status value: "Hit", "Miss", "Bypass", "Refresh", "Fallback"...;
 * the last call holds). Any phase. */
void rg_req_log_cache(struct rg_req *r, const char *status);

/* A rate limiter's decision for the log: @refused or allowed, with
 * @remaining left in its tightest window (-1: unknown). A refusal is
 * kept over a later allowance (several limiters on one request). */
enum { RG_LIMIT_NONE, RG_LIMIT_ALLOWED, RG_LIMIT_REFUSED };
void rg_req_log_limit(struct rg_req *r, int refused, int64_t remaining);

#endif
