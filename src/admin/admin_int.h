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
    uint64_t served;             /* rg_admin_served */
    int stopping;                /* rg_admin_stop started */
    int stopped;                 /* free @a when live reaches 0 */
};

/* Called when a proposed write committed; builds the answer. */
typedef void (*rg_areq_ok_fn)(struct rg_areq *q,
                              const struct rg_fsm_result *res, unsigned n);

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
    int forwarded;               /* arrived from another node */
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

/* ---- admin_write.c ---- */

/* Propose @n commands (borrowed) for @q: rid and If-Match filled from @q
 * when the command has none. On commit @q->on_ok runs (every result is
 * OK) or the first failing result is answered (412, 404, 400); not
 * proposed -> 503, unknown -> 504. With @q->committed set (a membership
 * change already committed) every failure is 504 unknown. Single-node
 * mode -> 409. */
void rg_admin__propose(struct rg_areq *q, struct rg_cmd *cmds, unsigned n);

/* Map the first non-OK result to an answer; returns 1 when it answered. */
int rg_admin__result_error(struct rg_areq *q, const struct rg_fsm_result *r,
                           unsigned n);

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

#endif
