/* Internals shared by the admin API's files: the server state, one request
 * in flight, reply helpers and the write path. Not included outside
 * src/admin/. */
#ifndef RG_ADMIN_ADMIN_INT_H
#define RG_ADMIN_ADMIN_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "admin/admin.h"
#include "raft/rgraft.h"

#define RG_ADMIN_COMMIT_MS 1500   /* write answered 504 unknown after */
#define RG_ADMIN_WAIT_MS 5000     /* ?min_revision bound */
#define RG_ADMIN_FWD_MS 2500      /* forwarded request bound */

struct rg_httpd;
struct rg_fwd;
struct rg_areq;
struct rg_admin_self;

struct rg_admin {
    uv_loop_t *loop;
    struct rg_httpd *httpd;
    char *token;                 /* NULL = no auth */
    struct rg_raft *raft;        /* NULL in single-node mode */
    const struct rg_fsm *local;  /* single-node mode state, borrowed */
    struct rg_admin_self *self;  /* keeps our registry record; NULL in
                                    single-node mode */
    struct rg_areq *pending;     /* requests not answered yet */
    unsigned live;               /* request objects not freed yet */
    int unsafe_local_reads;      /* rg_admin_conf.unsafe_local_reads */
    int unsafe_lease_reclaim;    /* rg_admin_conf.unsafe_lease_reclaim */
    struct rg_quota *quota;      /* rg_admin_conf.quota, or NULL */
    const struct rg_readiness *readiness; /* obs: or NULL */
    uint64_t served;             /* rg_admin_served */
    const struct rg_consul *consul; /* rg_admin_conf.consul, or NULL */
    unsigned char *key;          /* auth: cluster key copy, NULL = none */
    size_t key_len;
    int stopping;                /* rg_admin_stop started */
    int stopped;                 /* free @a when live reaches 0 */
};

/* Called when a proposed write committed; builds the answer. */
typedef void (*rg_areq_ok_fn)(struct rg_areq *q,
                              const struct rg_fsm_result *res, unsigned n);

/* Called when a proposed write was applied with @r (borrowed) its first
 * result that is not OK, before the default answer (412, 404, 400):
 * returns 1 when it answered @q or proposed again, 0 for the default.
 * A request with one proposes its nth attempt under request id
 * "<X-Request-Id>~n" (admin_write.c attempt_rid). */
typedef int (*rg_areq_fail_fn)(struct rg_areq *q,
                               const struct rg_fsm_result *r);

/* One admin request from arrival to answer. Reference-counted: the
 * connection (until answered), a raft callback, a timer and a forward each
 * hold one. */
struct rg_areq {
    struct rg_admin *a;
    struct rg_areq *next, *prev; /* a->pending while not answered */
    void *conn;                  /* httpd connection; NULL once answered */
    int refs;
    char method[16];
    char *path;                  /* owned, "/admin/v1" prefix removed */
    char *target;                /* owned, path as received + "?query" */
    char *query;                 /* owned, "" when none */
    char *body;                  /* owned, NUL-terminated */
    size_t body_len;
    char *headers;               /* owned, end-to-end header lines to
                                    forward ("Name: v\r\n"...) */
    char *ctype;                 /* owned Content-Type or NULL */
    char rid[RG_CODEC_MAX_RID + 1]; /* X-Request-Id, given or made */
    int has_if_match;
    uint64_t if_match;           /* If-Match revision */
    int forwarded;               /* arrived from another node (with a
                                    cluster key: and proved it, auth) */
    int node_signed;             /* auth: a valid X-Raftgate-Auth, or no
                                    cluster key is set */
    int in_raft;                 /* a proposal is in flight */
    int committed;               /* a membership change of this request
                                    committed: a later failure is an
                                    unknown outcome (504), never 503 */
    uv_timer_t timer;
    int timer_on;                /* timer initialised (closed on free) */
    struct rg_fwd *fwd;          /* forward in flight, or NULL */
    uint64_t min_rev;            /* ?min_revision wait */
    void (*resume)(struct rg_areq *q); /* after a wait or barrier */
    rg_areq_ok_fn on_ok;         /* after a committed write */
    rg_areq_fail_fn on_fail;     /* after a refused write, or NULL */
    unsigned attempts;           /* proposals made (on_fail's retries) */
    json_t *obj;                 /* owned scratch for on_ok */
    int ok_status;               /* HTTP status on success */
};

/* Free a string from json_dumps with jansson's own allocator (tests may
 * route jansson through rg_malloc). */
static inline void rg_admin__jfree(void *p)
{
    json_free_t f;

    json_get_alloc_funcs(NULL, &f);
    f(p);
}

/* ---- admin_canon.c ---- */

/* Copy the gateway parser's message @e2 to @eb without its " (line 1)"
 * suffix, which says nothing for a document that was not a user's file. */
void rg_admin__line1_error(struct rg_errbuf *e2, struct rg_errbuf *eb);

/* ---- admin_validate.c ---- */

/* The gateway config of @doc (a declarative document, borrowed and left
 * unchanged), parsed with the plugin registry's catalog: 0 with @gw filled (when not
 * NULL; else parsed and released) and, when @dp_out is not NULL, the view
 * as compact sorted JSON in *@dp_out (rg_malloc'd, *@dp_len bytes); or
 * -EINVAL / -ENOMEM with @eb filled and nothing to free. */
int rg_admin__dataplane_gateway(const json_t *doc, struct rg_gateway *gw,
                                char **dp_out, size_t *dp_len,
                                struct rg_errbuf *eb);

/* ---- admin.c ---- */

/* The state machine to read from (the raft group's or the local one). */
const struct rg_fsm *rg_admin__fsm(const struct rg_admin *a);

/* The revision reads reflect (0 when there is no state). */
uint64_t rg_admin__revision(const struct rg_admin *a);

/* Answer @q once: @status with @body (taken; NULL = no body; a JSON
 * object or array), revision headers when @rev > 0, and
 * X-Raftgate-Outcome when @outcome is set. Later calls are ignored. */
void rg_admin__reply(struct rg_areq *q, int status, json_t *body,
                     uint64_t rev, const char *outcome);

/* Answer {"message": ...} with @status. */
void rg_admin__error(struct rg_areq *q, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Answer 503 + X-Raftgate-Outcome: not-proposed / 504 + unknown. */
void rg_admin__not_proposed(struct rg_areq *q, const char *why);
void rg_admin__unknown(struct rg_areq *q, const char *why);

/* Copy the value of query parameter @name into @out; 0 or -ENOENT. */
int rg_admin__param(const struct rg_areq *q, const char *name, char *out,
                    size_t cap);

void rg_admin__ref(struct rg_areq *q);
void rg_admin__unref(struct rg_areq *q);

/* A fresh random UUID (v4) in @out[37]. */
void rg_admin__uuid(char out[37]);

/* Whether this node leads the raft group. */
int rg_admin__is_leader(const struct rg_admin *a);

/* Forward @q unchanged to the leader and relay the answer. */
void rg_admin__forward(struct rg_areq *q);

/* Run the handler of @q's path (on this node: forwarding, waits and
 * barriers are behind it); answers @q or takes it. */
void rg_admin__route(struct rg_areq *q);

/* ---- admin_leases.c ---- */

/* POST /cluster/leases (internal: control/quota.h). */
void rg_admin__leases(struct rg_areq *q);

/* auth: 1 when @q may use an internal endpoint (POST /cluster/leases,
 * /cluster/breaker): no cluster key is set, or it carries a valid
 * X-Raftgate-Auth. Otherwise answers 401 and returns 0. */
int rg_admin__internal(struct rg_areq *q);

/* ---- admin_write.c ---- */

/* Propose @n commands (borrowed) for @q: rid and If-Match filled from @q
 * when the command has none. On commit @q->on_ok runs (every result is
 * OK) or, unless @q->on_fail took it, the first failing result is
 * answered (412, 404, 400); not
 * proposed -> 503, unknown -> 504. With @q->committed set (a membership
 * change already committed) every failure is 504 unknown. Single-node
 * mode -> 409. */
void rg_admin__propose(struct rg_areq *q, struct rg_cmd *cmds, unsigned n);

/* Map the first non-OK result to an answer; returns 1 when it answered. */
int rg_admin__result_error(struct rg_areq *q, const struct rg_fsm_result *r,
                           unsigned n);

/* ---- admin_store.c: what the object handlers share ---- */

/* Whether @s has the shape of a UUID (any case). */
int rg_admin__is_uuid(const char *s);

/* @s (a UUID) in lower case as a new JSON string, as ids are stored: the
 * config parser compares ids without case, the store exactly. */
json_t *rg_admin__uuid_lower(const char *s);

/* The object of kind @k named by @key (a UUID is an id, anything else a
 * name) and, when @rev is not NULL, its revision; or NULL. Borrowed
 * until the next apply. */
const json_t *rg_admin__lookup(const struct rg_fsm *f, enum rg_kind k,
                               const char *key, uint64_t *rev);

/* The request body as a new JSON object: JSON, or a form (Kong accepts
 * both on every object endpoint); {} when empty. NULL after answering
 * 400. */
json_t *rg_admin__body(struct rg_areq *q);

/* Propose a PUT of @o (borrowed, dumped before return) under its "id"
 * if the object's revision is @if_rev (0: @q's If-Match, if any), or a
 * DELETE of @id (borrowed). As rg_admin__propose: q->on_ok runs on
 * commit. */
void rg_admin__put(struct rg_areq *q, enum rg_kind k, const json_t *o,
                   uint64_t if_rev);
void rg_admin__delete(struct rg_areq *q, enum rg_kind k, const char *id);

/* An rg_areq_fail_fn for a read-modify-write proposed on the revision
 * it read (without If-Match): on a conflict (the object changed since),
 * run @q's handler again from its request, at most RG_ADMIN_RETRIES
 * proposals in all, then 503 not-proposed. 0 for any other result. */
#define RG_ADMIN_RETRIES 8
int rg_admin__retry_conflict(struct rg_areq *q,
                             const struct rg_fsm_result *r);

/* An rg_areq_ok_fn: answer q->obj (taken from @q) with q->ok_status (no
 * body for 204) at the committed revision. */
void rg_admin__saved(struct rg_areq *q, const struct rg_fsm_result *res,
                     unsigned n);

/* Answer Kong's listing {"data": @data (taken), "next": null}. */
void rg_admin__list_reply(struct rg_areq *q, json_t *data);

/* Upstreams (admin_upstreams.c): the target of upstream @up named by
 * @key (its id or its "host[:port]"), or NULL; a target's text with
 * Kong's default port filled in (into @out, @cap bytes); and GET
 * /upstreams/{u}/health (this node's view). */
const json_t *rg_admin__target_of(const struct rg_areq *q, const json_t *up,
                                  const char *key);
void rg_admin__target_norm(const char *s, char *out, size_t cap);
void rg_admin__upstream_health(struct rg_areq *q, const json_t *up);

/* DELETE of upstream @up (borrowed) with its targets, in one entry (Kong
 * deletes them with it); answers 204 with the last revision. */
void rg_admin__upstream_delete(struct rg_areq *q, const json_t *up);

/* POST /upstreams/{u}/targets/{t}/healthy (@down 0) or /unhealthy (1):
 * this node's state of every address of target @t, counters reset (as
 * Kong's; not replicated). */
void rg_admin__target_set_health(struct rg_areq *q, const json_t *up,
                                 const json_t *t, int down);

/* Serve @q here when it is one of those node-local health writes (never
 * forwarded to the leader): 1 when answered. */
int rg_admin__health_local(struct rg_areq *q);

/* Answer Kong's 409 for a value of @field another object holds. */
void rg_admin__unique_violation(struct rg_areq *q, const char *field);

/* Set the CA certificate @o's cert_digest (Kong's: the SHA-256 of its
 * DER in hex) from its cert, on every write so that it follows cert, and
 * *@expired to whether it has expired by this host's clock. Returns it
 * (borrowed from @o), or NULL with none set when cert does not parse:
 * the validator then names what is wrong with it. */
const char *rg_admin__cacert_digest(json_t *o, int *expired);

/* ---- admin_form.c ---- */

/* An application/x-www-form-urlencoded body (@len bytes, borrowed) as a
 * JSON object, Kong's way (see admin_form.c). NULL with a message in @err
 * (@cap bytes) when a key cannot be placed. */
json_t *rg_admin__form_parse(const char *body, size_t len, char *err,
                             size_t cap);

/* ---- admin_self.c ---- */

/* Start keeping this node's registry record in step (cluster mode). Strings
 * in @c are copied. NULL on ENOMEM. */
struct rg_admin_self *rg_admin__self_start(struct rg_admin *a,
                                           const struct rg_admin_conf *c);

/* Stop: cancel a forward in flight and close the timer; the object goes
 * when a raft write in flight has called back. Accepts NULL. */
void rg_admin__self_stop(struct rg_admin_self *s);

/* ---- one handler per area: 1 when it answered or took @q ---- */
int rg_admin__objects(struct rg_areq *q);
int rg_admin__config(struct rg_areq *q);
int rg_admin__cluster(struct rg_areq *q);
int rg_admin__creds(struct rg_areq *q);
/* admin_cache.c: /proxy-cache, answered by this node (never forwarded) */
int rg_admin__proxy_cache(struct rg_areq *q);

/* admin_creds.c: carry the credential lists (keyauth_credentials,
 * jwt_secrets, acls) of @old (a stored consumer, borrowed) into @o, its
 * replacement, where @o names none: in Kong credentials are entities of
 * their own, which a PUT of their consumer leaves alone. */
void rg_admin__creds_keep(json_t *o, const json_t *old);

#endif
