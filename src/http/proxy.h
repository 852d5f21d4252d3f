/* One request's exchange with its upstream: routing, the rewritten head,
 * attempts with retries and timeouts, streaming the body both ways, the
 * response head rewrite, upgrades, local error replies and the access log
 * line. Driven by http/conn.c on the client side and by upstream
 * connections from upstream/pool.c on the other. */
#ifndef RG_HTTP_PROXY_H
#define RG_HTTP_PROXY_H

#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "http/gen.h"
#include "http/filter.h"
#include "http/head.h"
#include "route/router.h"

struct rg_conn;
struct rg_upconn;

/* A client's X-Request-ID is kept when it is 1..this many visible
 * characters (no quote or backslash, so it embeds in JSON as is). */
#define RG_REQUEST_ID_MAX 200

enum rg_resp_framing {
    RG_FRAME_NONE,    /* no body (HEAD, 1xx, 204, 304) */
    RG_FRAME_LENGTH,  /* Content-Length */
    RG_FRAME_CHUNKED, /* re-chunked for the client */
    RG_FRAME_CLOSE,   /* delimited by closing the connection */
};

/* A header a plugin added (http/req.h), in the request's arena. */
struct rg_add_header {
    struct rg_add_header *next;
    const char *name, *value;
    size_t name_len, value_len;
};

struct rg_add_headers {
    struct rg_add_header *head;
    struct rg_add_header **tail;
};

struct rg_req {
    struct rg_conn *c;          /* owner */
    struct rg_req *next_free;   /* in the worker's request cache */
    struct rg_gen *gen;         /* one reference, from start to free */
    struct rg_head head;        /* client's request head */
    struct rg_buf up_head;      /* rewritten head for the upstream */
    struct rg_buf resp_hb;      /* the client's response head */
    char *resp_head;            /* resp_hb's bytes while built and not yet
                                   written (they go out with the first
                                   body bytes), else NULL */
    size_t resp_head_len;
    char *path;                 /* normalised path, in the arena */
    const char *query;          /* "?..." in the head (or the arena:
                                   rg_req_set_query), or NULL */
    size_t query_len;
    char id[RG_REQUEST_ID_MAX + 1]; /* X-Request-ID */
    unsigned method;            /* RG_M_* */
    uint8_t http_minor;
    int64_t content_length;     /* -1 when absent */
    uint64_t body_rcvd;         /* request body bytes read */
    uint64_t head_rcvd;         /* bytes fed to the parser while the head
                                   was not whole (conn.c): what the access
                                   log counts for a head never parsed */
    uint64_t body_cap;          /* bytes, a plugin's cap on the body
                                   (rg_req_cap_body), when has_body_cap */
    const char *body_cap_msg;   /* its refusal's message, kept by the
                                   plugin's config */
    uint64_t resp_body;         /* response body bytes sent */
    uint64_t bytes_out;         /* all bytes queued to the client */
    struct rg_route_match m;
    const struct rg_service *svc;
    const struct rg_upstream_target *tgt;
    const struct rg_upstream_addr *addr; /* the current attempt's */
    unsigned rr_base;           /* the turn of the first attempt */
    size_t peer;                /* balanced: the attempt's peer index in
                                   the upstream's balancer, RG_BAL_NONE */
    size_t host_at, host_len;   /* balanced: where up_head holds the
                                   Host value each attempt replaces with
                                   its target's (host_len 0: none) */
    struct rg_health *busy;     /* balanced: the address counting this
                                   attempt in flight (http/balance.h), or
                                   NULL */
    struct rg_upconn *up;       /* current attempt's connection */
    unsigned attempts;
    unsigned max_retries;
    int status;                 /* response status sent to the client */
    enum rg_resp_framing framing;
    uint64_t t_start;           /* uv_hrtime at head complete */
    uint64_t t_upstream;        /* uv_hrtime at the last attempt's start */
    struct rg_arena arena;      /* what plugins allocate; freed with @r */
    struct rg_filter_state fs;  /* the plugin chain's progress */
    void *claims;               /* rg_req_set_claims's keeping, in the
                                   arena, or NULL */
    struct rg_add_headers up_add;   /* plugins' headers to the upstream */
    struct rg_add_headers resp_add; /* ... and to the client */
    struct rg_arena_buf req_body;  /* the request body, when a plugin
                                      asked for it (RG_FILTER_REQ_BODY) */
    struct rg_arena_buf resp_buf;  /* the response body, likewise */
    int fail_err;               /* a phase failed on the upstream's
                                   response: answer this error instead
                                   (RG_EPLUGIN, RG_ERESPBODY, -ENOMEM...) */
    int local_status;           /* a plugin's reply (rg_req_respond) */
    int local_gw;               /* ... standing for the gateway's own
                                   error (rg_req_respond_unavailable) */
    int gw_status;              /* the gateway's own error reply, kept
                                   when a plugin replaced it (0: none) */
    int plugin_err;             /* why a plugin failed (rg_req_fail), or 0:
                                   RG_EPLUGIN */
    const char *local_body;     /* its JSON body, arena memory */
    const char *up_method;      /* rg_req_set_method's, or NULL: the
                                   client's */
    const char *up_path;        /* rg_req_set_upstream_path's, or NULL:
                                   the service path joined with the
                                   request's */
    size_t local_len;
    const char *local_fields;   /* rg_req_respond_stored's header lines
                                   (borrowed), or NULL: the JSON reply */
    size_t local_flen;
    unsigned chunked : 1;       /* request body is chunked */
    unsigned expect : 1;        /* Expect: 100-continue */
    unsigned upgrade : 1;       /* Connection: upgrade requested */
    unsigned client_close : 1;  /* client asked to close */
    unsigned body_resumed : 1;  /* the parser went past the head */
    unsigned body_done : 1;     /* request fully read from the client */
    unsigned head_sent : 1;     /* this attempt wrote the head upstream */
    unsigned resp_started : 1;  /* a response byte was queued to client */
    unsigned resp_done : 1;
    unsigned up_keepalive : 1;  /* upstream allows reuse */
    unsigned in_backoff : 1;
    unsigned started : 1;       /* the head was valid: the chain runs */
    unsigned header_ran : 1;    /* the HEADER phase ran (once per request) */
    unsigned log_ran : 1;       /* the LOG phase ran */
    unsigned logged : 1;        /* the access log has its line */
    unsigned req_buffering : 1; /* reading the body into req_body before
                                   ACCESS */
    unsigned req_buffered : 1;  /* req_body is what goes upstream */
    unsigned has_body_cap : 1;
    unsigned body_capped : 1;   /* the body went past body_cap */
    unsigned resp_buffering : 1; /* the response body goes to resp_buf,
                                   the head waits for BODY_FILTER */
    unsigned local_reply : 1;   /* the response is a local reply (set
                                   before its HEADER phase) */
    unsigned status_set : 1;    /* a plugin changed the status
                                   (rg_resp_set_status): the reason
                                   phrase is the standard one */
    /* obs (issue 12): what the access log and tracing add. */
    int up_status;            /* the upstream's response status, or 0 */
    uint64_t t_up_head;       /* uv_hrtime at that head (ttfb), or 0 */
    const char *cache_status; /* proxy-cache's X-Cache-Status value
                                 (static), or NULL */
    int64_t limit_remaining;  /* rate-limiting: left in the tightest
                                 window, or -1 */
    uint8_t limit;            /* rate-limiting: RG_LIMIT_* */
    char trace_id[33];        /* W3C trace-id, 32 hex (http/trace.h) */
    char span_id[17];         /* the gateway's span id, 16 hex */
    char trace_flags[3];      /* trace-flags, 2 hex */
    uint8_t trace_new;        /* the trace started here */
};

/* The upstream's response head while HEADER and BODY run on it, else
 * NULL (a local reply, or no upstream connection); plugins may mark its
 * fields hop-by-hop to hide them (rg_resp_hide_header). */
struct rg_head *rg_proxy_resp_head(const struct rg_req *r);

/* Write a new random request id (32 hex digits) into @out. */
struct rg_wctx;
void rg_proxy_new_id(struct rg_wctx *w, char *out, size_t cap);

/* Allocate a request on @c when a message begins. Returns NULL on ENOMEM. */
struct rg_req *rg_proxy_req_new(struct rg_conn *c);

/* Free @r and drop its references; closes any upstream it still holds.
 * Its memory (with the head buffers) may be kept for the worker's next
 * request. Accepts NULL. */
void rg_proxy_req_free(struct rg_req *r);

/* Free the requests @w keeps for reuse and its round-robin counters.
 * Thread: @w's, or after its loop ended. */
void rg_proxy_cache_free(struct rg_wctx *w);

/* The request head is parsed (the parser is paused after it): route and
 * start the first attempt, or answer locally. */
void rg_proxy_start(struct rg_req *r);

/* A span of request body (borrowed) from the parser. Returns 0, or
 * RG_EBODY (over max_body_size or a plugin's cap: 413), -ENOMEM (503) or
 * RG_EUPSTREAM (the upstream write failed: 502), which fail the parse. */
int rg_proxy_body(struct rg_req *r, const char *p, size_t n);

/* The request body ended. */
void rg_proxy_body_done(struct rg_req *r);

/* Client writes drained below the low-water mark: resume upstream reads. */
void rg_proxy_client_drained(struct rg_req *r);

/* Tunnel bytes from the client (borrowed) after an upgrade. */
void rg_proxy_tunnel_data(struct rg_req *r, const char *p, size_t n);

/* The client went away or broke the protocol mid-request: stop the
 * exchange (a paused plugin is detached, the upstream connection closed).
 * @r stays valid until rg_proxy_req_free, but nothing may start on it. */
void rg_proxy_abort(struct rg_req *r);

/* The exchange is over and its response is fully queued: release the
 * upstream connection, write the access log line, and hand the client
 * connection back (@keepalive 0 closes it once writes drain). */
void rg_proxy_finish(struct rg_req *r, int keepalive);

/* The phase @ph of @r's chain ended with @st (not PAUSE), directly or
 * after rg_filter_resume: go on with the request, or answer it (RESPOND:
 * the plugin's reply; ERROR: 500). For http/filter.c. */
void rg_proxy_phase_done(struct rg_req *r, enum rg_phase ph,
                         enum rg_filter_status st);

/* Run the HEADER phase for the response about to go out (once per
 * request; later calls return 0). 0, or -1 when a plugin failed. */
int rg_proxy_run_header(struct rg_req *r);

/* Append to @b the path @r goes upstream with (no query): the one a
 * plugin set (rg_req_set_upstream_path), else Kong's join of the service
 * path and the (stripped) request path. An error stays in @b. */
void rg_proxy_add_path(const struct rg_req *r, struct rg_buf *b);

/* Send the reply a plugin set with rg_req_respond. */
void rg_proxy_reply_local(struct rg_req *r);

/* Append @r's plugin-added headers of @l to @b as "name: value\r\n"
 * lines. An error stays in @b (rg_buf_error). */
void rg_proxy_add_headers(const struct rg_add_headers *l, struct rg_buf *b);

/* Send a local JSON error reply ({"message","request_id"}) for @r, or
 * for a request that never got a head when @r has none. @close forces
 * Connection: close. */
void rg_proxy_reply_error(struct rg_conn *c, struct rg_req *r, int status,
                          const char *message, int close);

#endif
