/* The plugin phase engine (docs/architecture.md §3; docs/style.md "The plugin shape"):
 * the vtable every plugin implements, the chain compiled per route and
 * config generation, and the runner the request path calls at each phase.
 *
 * Phases: REWRITE -> ACCESS -> (proxy) -> HEADER_FILTER -> BODY_FILTER ->
 * LOG. REWRITE runs the global plugins only, before routing (as in Kong:
 * neither route, service nor consumer is known yet); the other phases run
 * the matched route's chain. A request that matches no route gets its 404
 * with the global chain's HEADER and LOG (no ACCESS: as in Kong, the
 * router answers). HEADER runs once per request, on the upstream's
 * response or on a local reply (plugin or error; a plugin may replace the
 * latter there with rg_req_respond_stored, as the proxy-cache serves a
 * stale entry for a gateway 502); LOG runs once on every way out, client
 * aborts included.
 *
 * Bodies: when an instance wants RG_FILTER_REQ_BODY, the whole request
 * body is read (capped, 413 past it) before ACCESS and sent upstream with
 * a Content-Length, so retries can replay it; with RG_FILTER_RESP_BODY
 * the response head waits until BODY has seen the whole body (capped,
 * 502 past it) and goes out with the final length. Without them bodies
 * stream and no plugin sees them.
 *
 * Compilation (rg_chain_build) resolves, once per generation and route,
 * which instance of each plugin type applies, with Kong's precedence:
 *   consumer+route+service > consumer+route > consumer+service >
 *   route+service > consumer > route > service > global
 * and sorts the types by priority (highest first; ACCESS also honours
 * Kong 3 `ordering`). Instances scoped to a consumer are looked up in O(1)
 * by consumer index when the request has one; everything else is a flat
 * array the request walks with an index. An empty chain is a NULL
 * pointer and costs the request one branch per phase. */
#ifndef RG_HTTP_FILTER_H
#define RG_HTTP_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "config/gateway.h"
#include "config/schema.h"
#include "core/err.h"

struct rg_req;

enum rg_phase {
    RG_PHASE_REWRITE = 0,
    RG_PHASE_ACCESS,
    RG_PHASE_HEADER,  /* header_filter */
    RG_PHASE_BODY,    /* body_filter: the whole body, once */
    RG_PHASE_LOG,
    RG_PHASE_COUNT,
};

/* What a callback returns (Envoy's status contract). */
enum rg_filter_status {
    RG_FILTER_CONTINUE = 0, /* go on to the next plugin */
    RG_FILTER_PAUSE,        /* async work started: the plugin calls
                               rg_filter_resume() exactly once later,
                               unless on_detach runs first (ACCESS and
                               REWRITE only) */
    RG_FILTER_RESPOND,      /* rg_req_respond() set a local reply: skip the
                               rest of this phase and the upstream
                               (REWRITE and ACCESS only) */
    RG_FILTER_ERROR,        /* fail the request: 500 (or the status of
                               the code given to rg_req_fail) before the
                               response started, else the connection is
                               cut */
};

/* What an instance needs (rg_filter_ops.wants). */
enum {
    RG_FILTER_REQ_BODY = 1 << 0,  /* needs the whole request body before
                                     ACCESS (buffered in the arena, capped) */
    RG_FILTER_RESP_BODY = 1 << 1, /* needs the whole response body in
                                     BODY_FILTER (buffered likewise) */
};

/* Arguments of every callback. @conf is the instance's typed config
 * (immutable, shared by all workers); @ctx is this request's private
 * state for the plugin (ctx_size bytes from the request arena, zeroed;
 * NULL when ctx_size is 0). Thread: the request's worker. */
struct rg_filter_call {
    struct rg_req *r;
    const void *conf;
    void *ctx;
};

typedef enum rg_filter_status (*rg_filter_fn)(const struct rg_filter_call *fc);

/* A plugin. Registration is the explicit table in src/plugins/registry.c.
 * Every callback may be NULL: the phase is skipped for this plugin. */
struct rg_filter_ops {
    struct rg_plugin_schema schema; /* name, conf_parse, conf_free... */
    int priority;        /* Kong's PRIORITY: higher runs first */
    const char *pending; /* non-NULL: the config is read, nothing is
                            enforced yet (the issue that will); each
                            generation logs a warning. No plugin is
                            pending since issue 10; kept for those that
                            land in steps */
    size_t ctx_size;     /* per-request state, bytes */
    /* The RG_FILTER_* needs of an instance with typed config @conf, and
     * the cap for a body it buffers in *@body_max (bytes; left alone: 1
     * MiB); past the cap a request body answers 413, a response body
     * 502. NULL: no needs. Called when a chain is compiled. */
    unsigned (*wants)(const void *conf, uint32_t *body_max);
    rg_filter_fn on_rewrite;
    rg_filter_fn on_access;
    rg_filter_fn on_header;
    rg_filter_fn on_body;
    rg_filter_fn on_log;
    /* The request ended while this plugin was paused: cancel the async
     * work; rg_filter_resume must not be called any more. */
    void (*on_detach)(const struct rg_filter_call *fc);
};

struct rg_chain;

/* The engine's per-request state, embedded in struct rg_req (fs). */
struct rg_filter_state {
    const struct rg_chain *chain;      /* the route's (ACCESS on), NULL:
                                          empty */
    size_t consumer;                   /* RG_NO_INDEX until a plugin
                                          identifies one */
    uint8_t authenticated;             /* ... by a credential */
    const struct rg_cred *cred;        /* ... that one */
    unsigned proto;                    /* RG_PROTO_* of the request */
    void **ctx;                        /* per catalog type, arena memory */
    const struct rg_filter_ops *paused; /* the plugin that paused */
    const void *paused_conf;
    unsigned paused_type;
    uint16_t idx;                      /* next index in the phase order */
    uint8_t phase;                     /* the phase that paused */
};

/* Compile the chain of route @route (an index into @gw->routes, or
 * RG_NO_INDEX for the global chain: global instances only) from @gw's
 * plugin instances; @ops[t] is the runtime of catalog type t (@gw->catalog
 * and @ops come from the same registry). Disabled instances are left out.
 * Returns 0 with *@out set (NULL when no plugin applies: the empty chain),
 * or -ENOMEM. @gw and @ops are kept: they must outlive the chain (both
 * live in one config generation). Thread: any (the control thread). */
int rg_chain_build(const struct rg_gateway *gw,
                   const struct rg_filter_ops *const *ops, size_t route,
                   struct rg_chain **out) RG_MUST_CHECK;

/* Free @c; accepts NULL. */
void rg_chain_free(struct rg_chain *c);

/* The union of RG_FILTER_* flags of the chain's plugins (0 for NULL). */
unsigned rg_chain_flags(const struct rg_chain *c);

/* The smallest cap among the chain's instances that buffer a body of
 * that kind (@flag RG_FILTER_REQ_BODY or RG_FILTER_RESP_BODY). Consumer-
 * scoped instances count too: the body is read before the consumer is
 * known. */
uint32_t rg_chain_body_max(const struct rg_chain *c, unsigned flag);

/* For tests and the debug endpoint: the number of plugin types in @c and
 * the instance that applies to type slot @i for consumer @consumer
 * (RG_NO_INDEX: none), or NULL when none does. */
size_t rg_chain_len(const struct rg_chain *c);
const struct rg_plugin_inst *rg_chain_inst(const struct rg_chain *c,
                                           size_t i, size_t consumer);
const struct rg_filter_ops *rg_chain_ops(const struct rg_chain *c, size_t i);
/* The type slots phase @ph visits, in order, into @out (at most @cap);
 * returns how many there are. */
size_t rg_chain_phase_order(const struct rg_chain *c, enum rg_phase ph,
                            size_t *out, size_t cap);

/* Run phase @ph of @r's chain from where it stopped. Returns
 * RG_FILTER_CONTINUE when every plugin went on, or the first other
 * status (PAUSE: the request waits for rg_filter_resume). The request
 * carries {chain, phase, index}; the runner never searches. Thread: the
 * request's worker. */
enum rg_filter_status rg_filter_run(struct rg_req *r, enum rg_phase ph);

/* A plugin that paused calls this once its async work ends, with
 * RG_FILTER_CONTINUE, RG_FILTER_RESPOND or RG_FILTER_ERROR; the phase goes
 * on from the next plugin (or stops) on the request's worker, before this
 * returns. Never after on_detach. */
void rg_filter_resume(struct rg_req *r, enum rg_filter_status st);

/* The request ends while a plugin is paused (the client went away): call
 * that plugin's on_detach, after which it must not resume. No-op when
 * nothing is paused. */
void rg_filter_detach(struct rg_req *r);

#endif
