/* The admin API server: request objects, auth, dispatch (forwarding to the
 * leader, linearizable and min_revision reads) and the reply helpers. The
 * handlers per area live in admin_creds.c, admin_objects.c,
 * admin_config.c and admin_cluster.c; the write path in admin_write.c. */
#include "config.h"

#include "admin/admin_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "admin/fwd.h"
#include "admin/httpd.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/reqmac.h"
#include "core/secret.h"

#define PREFIX "/admin/v1"

static void dispatch(struct rg_areq *q);

/* ---- request objects ---- */

static void areq_free(struct rg_areq *q)
{
    struct rg_admin *a = q->a;

    json_decref(q->obj);
    rg_free(q->path);
    rg_free(q->target);
    rg_free(q->query);
    rg_free(q->body);
    rg_free(q->headers);
    rg_free(q->ctype);
    rg_free(q);
    if (--a->live == 0 && a->stopped)
        rg_free(a);
}

static void areq_timer_closed(uv_handle_t *h)
{
    areq_free(h->data);
}

void rg_admin__ref(struct rg_areq *q)
{
    q->refs++;
}

void rg_admin__unref(struct rg_areq *q)
{
    if (--q->refs > 0)
        return;
    if (q->timer_on)
        uv_close((uv_handle_t *)&q->timer, areq_timer_closed);
    else
        areq_free(q);
}

static int want_header(const char *name, size_t n)
{
    static const char *const skip[] = {
        "connection", "keep-alive", "transfer-encoding", "content-length",
        "host", "te", "upgrade", "trailer", "proxy-connection",
        "x-request-id", "x-raftgate-forwarded", "x-raftgate-auth", NULL,
    };

    for (unsigned i = 0; skip[i] != NULL; i++)
        if (strlen(skip[i]) == n && strncasecmp(skip[i], name, n) == 0)
            return 0;
    return 1;
}

/* Copy the end-to-end header lines of @h for forwarding. */
static char *copy_headers(const struct rg_head *h)
{
    struct rg_buf b;

    rg_buf_init(&b, 65536);
    for (uint32_t i = 0; i < h->n_fields; i++) {
        const struct rg_field *f = &h->fields[i];

        if (!want_header(rg_field_name(h, f), f->name_len))
            continue;
        if (rg_buf_add_field(&b, rg_field_name(h, f), f->name_len,
                             rg_field_value(h, f), f->value_len) != 0) {
            rg_buf_release(&b);
            return NULL;
        }
    }
    if (b.p == NULL && rg_buf_adds(&b, "") != 0)
        return NULL;
    return rg_buf_detach(&b, NULL);
}

static char *field_dup(const struct rg_head *h, const char *name)
{
    const struct rg_field *f = rg_head_find(h, name);

    return f ? rg_strndup(rg_field_value(h, f), f->value_len) : NULL;
}

_Static_assert(RG_FWD_MAX_RID == RG_CODEC_MAX_RID,
               "a forwarded request keeps its request id");

/* X-Request-Id: the client's (at most RG_CODEC_MAX_RID printable bytes)
 * or a fresh UUID. */
static void take_rid(struct rg_areq *q, const struct rg_head *h)
{
    const struct rg_field *f = rg_head_find(h, "x-request-id");

    if (f != NULL && f->value_len > 0 && f->value_len <= RG_CODEC_MAX_RID) {
        memcpy(q->rid, rg_field_value(h, f), f->value_len);
        q->rid[f->value_len] = '\0';
        for (char *p = q->rid; *p; p++)
            if (*p < 0x21 || *p > 0x7e)
                *p = '_';
        return;
    }
    rg_admin__uuid(q->rid);
}

/* If-Match: a revision, optionally quoted as an entity tag. */
static int take_if_match(struct rg_areq *q, const struct rg_head *h)
{
    const struct rg_field *f = rg_head_find(h, "if-match");
    char v[32], *end;
    size_t n;

    if (f == NULL)
        return 0;
    n = f->value_len;
    if (n >= sizeof(v))
        return -EINVAL;
    memcpy(v, rg_field_value(h, f), n);
    v[n] = '\0';
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v[n - 1] = '\0';
        memmove(v, v + 1, n - 1);
    }
    errno = 0;
    q->if_match = strtoull(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0')
        return -EINVAL;
    q->has_if_match = 1;
    return 0;
}

static char *make_target(const struct rg_httpd_req *req)
{
    size_t pl = strlen(req->path), ql = strlen(req->query);
    char *t = rg_malloc(pl + ql + 2);

    if (t == NULL)
        return NULL;
    memcpy(t, req->path, pl);
    t[pl] = '\0';
    if (ql > 0) {
        t[pl] = '?';
        memcpy(t + pl + 1, req->query, ql + 1);
    }
    return t;
}

static char *strip_path(const char *path)
{
    size_t n;
    char *p;

    if (strncmp(path, PREFIX, sizeof(PREFIX) - 1) == 0 &&
        (path[sizeof(PREFIX) - 1] == '/' || path[sizeof(PREFIX) - 1] == '\0'))
        path += sizeof(PREFIX) - 1;
    p = rg_strdup(*path ? path : "/");
    if (p == NULL)
        return NULL;
    n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    return p;
}

/* auth: 1 when no cluster key is set, or @req carries a valid
 * X-Raftgate-Auth for its method, target, X-Request-Id and body
 * (core/reqmac.h). */
static int node_signed(const struct rg_admin *a,
                       const struct rg_httpd_req *req)
{
    const struct rg_field *f = rg_head_find(req->head, "x-raftgate-auth");
    const struct rg_field *id = rg_head_find(req->head, "x-request-id");
    char target[2048], rid[RG_CODEC_MAX_RID + 1] = "";

    if (a->key == NULL)
        return 1;
    if (f == NULL)
        return 0;
    if (snprintf(target, sizeof(target), "%s%s%s", req->path,
                 req->query[0] ? "?" : "", req->query) >= (int)sizeof(target))
        return 0;
    if (id != NULL) {
        /* a node sends only ids take_rid kept whole */
        if (id->value_len >= sizeof(rid))
            return 0;
        memcpy(rid, rg_field_value(req->head, id), id->value_len);
        rid[id->value_len] = '\0';
    }
    return rg_reqmac_verify(a->key, a->key_len, rg_field_value(req->head, f),
                            f->value_len, req->method, target, rid, req->body,
                            req->body_len, rg_reqmac_now_ms()) == 0;
}

int rg_admin__internal(struct rg_areq *q)
{
    if (q->node_signed)
        return 1;
    rg_admin__error(q, 401,
                    "internal endpoint: a node-to-node call needs a valid "
                    "X-Raftgate-Auth (the cluster key)");
    return 0;
}

static struct rg_areq *areq_new(struct rg_admin *a, struct rg_httpd_req *req)
{
    struct rg_areq *q = rg_calloc(1, sizeof(*q));

    if (q == NULL)
        return NULL;
    q->a = a;
    a->live++;
    q->conn = req->conn;
    q->refs = 1;
    snprintf(q->method, sizeof(q->method), "%s", req->method);
    q->path = strip_path(req->path);
    q->target = make_target(req);
    q->query = rg_strdup(req->query);
    q->body = rg_strndup(req->body, req->body_len);
    q->body_len = req->body_len;
    q->headers = copy_headers(req->head);
    q->ctype = field_dup(req->head, "content-type");
    q->node_signed = node_signed(a, req);
    q->forwarded = rg_head_find(req->head, "x-raftgate-forwarded") != NULL &&
                   q->node_signed;
    take_rid(q, req->head);
    if (q->path == NULL || q->target == NULL || q->query == NULL ||
        q->body == NULL || q->headers == NULL) {
        q->conn = NULL;
        rg_admin__unref(q);
        return NULL;
    }
    q->next = a->pending;
    if (q->next != NULL)
        q->next->prev = q;
    a->pending = q;
    return q;
}

/* ---- replies ---- */

static void unlink_pending(struct rg_areq *q)
{
    if (q->prev != NULL)
        q->prev->next = q->next;
    else
        q->a->pending = q->next;
    if (q->next != NULL)
        q->next->prev = q->prev;
    q->next = q->prev = NULL;
}

void rg_admin__reply(struct rg_areq *q, int status, json_t *body,
                     uint64_t rev, const char *outcome)
{
    char extra[512];
    char *text = NULL;
    int n;

    if (q->conn == NULL) {
        json_decref(body);
        return;
    }
    n = snprintf(extra, sizeof(extra), "X-Request-Id: %s\r\n", q->rid);
    if (rev > 0)
        n += snprintf(extra + n, sizeof(extra) - (size_t)n,
                      "X-Raftgate-Revision: %llu\r\n"
                      "X-Raftgate-Version: %llu\r\n",
                      (unsigned long long)rev, (unsigned long long)rev);
    if (outcome != NULL)
        snprintf(extra + n, sizeof(extra) - (size_t)n,
                 "X-Raftgate-Outcome: %s\r\n", outcome);
    if (body != NULL && status != 204)
        text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(body);
    rg_httpd_respond(q->conn, status, "application/json; charset=utf-8",
                     text ? text : "", text ? strlen(text) : 0, extra);
    rg_admin__jfree(text);
    q->conn = NULL;
    unlink_pending(q);
    if (q->timer_on)
        uv_timer_stop(&q->timer);
    rg_admin__unref(q);
}

void rg_admin__error(struct rg_areq *q, int status, const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    rg_admin__reply(q, status, json_pack("{s:s}", "message", msg),
                    rg_admin__revision(q->a), NULL);
}

void rg_admin__not_proposed(struct rg_areq *q, const char *why)
{
    rg_admin__reply(q, 503, json_pack("{s:s}", "message", why), 0,
                    "not-proposed");
}

void rg_admin__unknown(struct rg_areq *q, const char *why)
{
    rg_admin__reply(q, 504, json_pack("{s:s}", "message", why), 0,
                    "unknown");
}

/* ---- small helpers ---- */

int rg_admin__param(const struct rg_areq *q, const char *name, char *out,
                    size_t cap)
{
    size_t nl = strlen(name);
    const char *p = q->query;

    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);

        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = len - nl - 1;

            if (vl >= cap)
                vl = cap - 1;
            memcpy(out, p + nl + 1, vl);
            out[vl] = '\0';
            return 0;
        }
        p += len + (amp != NULL);
    }
    return -ENOENT;
}

void rg_admin__uuid(char out[37])
{
    unsigned char b[16];
    size_t got = 0;

    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

        if (n > 0)
            got += (size_t)n;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
             b[10], b[11], b[12], b[13], b[14], b[15]);
}

const struct rg_fsm *rg_admin__fsm(const struct rg_admin *a)
{
    return a->raft ? rg_raft_fsm(a->raft) : a->local;
}

uint64_t rg_admin__revision(const struct rg_admin *a)
{
    const struct rg_fsm *f = rg_admin__fsm(a);

    return f ? rg_fsm_revision(f) : 0;
}

int rg_admin__is_leader(const struct rg_admin *a)
{
    struct rg_raft_status st;

    if (a->raft == NULL)
        return 0;
    rg_raft_status(a->raft, &st);
    return st.leader_id != 0 && st.leader_id == st.id;
}

/* ---- forwarding to the leader ---- */

static void on_forwarded(void *arg, int err, const struct rg_fwd_resp *r)
{
    struct rg_areq *q = arg;
    char extra[2048];

    q->fwd = NULL;
    if (err == RG_FWD_ENOTSENT)
        rg_admin__not_proposed(q, "leader unreachable");
    else if (err != 0)
        rg_admin__unknown(q, "no answer from the leader");
    else if (q->conn != NULL) {
        snprintf(extra, sizeof(extra), "X-Request-Id: %s\r\n%s", q->rid,
                 strlen(r->headers) < sizeof(extra) - 100 ? r->headers : "");
        rg_httpd_respond(q->conn, r->status,
                         r->ctype ? r->ctype : "application/json", r->body,
                         r->body_len, extra);
        q->conn = NULL;
        unlink_pending(q);
        rg_admin__unref(q);
    }
    rg_admin__unref(q);
}

void rg_admin__forward(struct rg_areq *q)
{
    char addr[256];
    char *headers;
    struct rg_fwd_req rq = {.method = q->method,
                            .target = q->target,
                            .rid = q->rid,
                            .body = q->body,
                            .len = q->body_len};

    if (q->forwarded) {
        rg_admin__not_proposed(q, "not the leader");
        return;
    }
    if (rg_raft_leader_admin(q->a->raft, addr, sizeof(addr)) != 0) {
        rg_admin__not_proposed(q, "no leader");
        return;
    }
    headers = rg_malloc(strlen(q->headers) + 32);
    if (headers == NULL) {
        rg_admin__not_proposed(q, "out of memory");
        return;
    }
    sprintf(headers, "%sX-Raftgate-Forwarded: 1\r\n", q->headers);
    rq.headers = headers;
    rg_admin__ref(q);
    q->fwd = rg_fwd_start(q->a->loop, addr, &rq, RG_ADMIN_FWD_MS, on_forwarded,
                          q);
    rg_free(headers);
    if (q->fwd == NULL) {
        rg_admin__unref(q);
        rg_admin__not_proposed(q, "cannot reach the leader");
    }
}

/* ---- dispatch ---- */

void rg_admin__route(struct rg_areq *q)
{
    if (strcmp(q->path, "/") == 0 && strcmp(q->method, "GET") == 0) {
        rg_admin__reply(q, 200,
                        json_pack("{s:s,s:s}", "tagline",
                                  "Welcome to raftgate", "version",
                                  PACKAGE_VERSION),
                        0, NULL);
        return;
    }
    if (rg_admin__creds(q) || rg_admin__objects(q) || rg_admin__config(q) ||
        rg_admin__cluster(q))
        return;
    rg_admin__error(q, 404, "Not found");
}

static void on_wait_timeout(uv_timer_t *t)
{
    struct rg_areq *q = t->data;

    q->resume = NULL;
    rg_admin__error(q, 504, "timed out waiting for revision %llu",
                    (unsigned long long)q->min_rev);
}

static void wait_revision(struct rg_areq *q)
{
    if (!q->timer_on) {
        uv_timer_init(q->a->loop, &q->timer);
        q->timer.data = q;
        q->timer_on = 1;
    }
    q->resume = rg_admin__route;
    uv_timer_start(&q->timer, on_wait_timeout, RG_ADMIN_WAIT_MS, 0);
}

void rg_admin_served(struct rg_admin *a, uint64_t revision)
{
    if (a != NULL)
        a->served = revision;
}

void rg_admin_notify(struct rg_admin *a, uint64_t revision)
{
    struct rg_areq *q = a ? a->pending : NULL;

    /* rg_admin__route() may answer and unlink; walk from a saved next. */
    while (q != NULL) {
        struct rg_areq *next = q->next;

        if (q->resume != NULL && q->min_rev > 0 && revision >= q->min_rev) {
            void (*resume)(struct rg_areq *) = q->resume;

            q->resume = NULL;
            uv_timer_stop(&q->timer);
            resume(q);
        }
        q = next;
    }
}

static void on_barrier(void *arg, int status)
{
    struct rg_areq *q = arg;

    if (status == 0)
        rg_admin__route(q);
    else
        rg_admin__not_proposed(q, rg_strerror(status));
    rg_admin__unref(q);
}

/* A read that reflects every write committed before it arrived: on the
 * leader after a barrier, else on the leader by forwarding. The unsafe
 * test switch skips both and reads this node's store, maybe stale. */
static void linearizable(struct rg_areq *q)
{
    int rv;

    if (q->a->unsafe_local_reads) {
        rg_admin__route(q);
        return;
    }
    if (!rg_admin__is_leader(q->a)) {
        rg_admin__forward(q);
        return;
    }
    rg_admin__ref(q);
    rv = rg_raft_barrier(q->a->raft, on_barrier, q);
    if (rv != 0) {
        rg_admin__unref(q);
        rg_admin__not_proposed(q, rg_strerror(rv));
    }
}

static int is_read(const struct rg_areq *q)
{
    return strcmp(q->method, "GET") == 0 || strcmp(q->method, "HEAD") == 0;
}

/* A decimal revision: digits only, at most 2^63-1 (JSON integers). */
static int parse_revision(const char *v, uint64_t *out)
{
    uint64_t r = 0;

    if (*v == '\0')
        return -EINVAL;
    for (; *v; v++) {
        if (*v < '0' || *v > '9' ||
            r > (UINT64_C(0x7fffffffffffffff) - (uint64_t)(*v - '0')) / 10)
            return -EINVAL;
        r = r * 10 + (uint64_t)(*v - '0');
    }
    *out = r;
    return 0;
}

/* Check ?consistency= and ?min_revision=; 0, or answers 400 and -1. */
static int check_params(struct rg_areq *q, int *linear)
{
    char v[64];

    *linear = 0;
    if (rg_admin__param(q, "consistency", v, sizeof(v)) == 0) {
        if (strcmp(v, "linearizable") == 0)
            *linear = 1;
        else if (strcmp(v, "local") != 0) {
            rg_admin__error(q, 400, "consistency: must be local or "
                                    "linearizable");
            return -1;
        }
    }
    if (rg_admin__param(q, "min_revision", v, sizeof(v)) == 0 &&
        (strlen(v) > 20 || parse_revision(v, &q->min_rev) != 0)) {
        q->min_rev = 0;
        rg_admin__error(q, 400, "min_revision: must be a decimal integer "
                                "from 0 to 9223372036854775807");
        return -1;
    }
    return 0;
}

static void dispatch(struct rg_areq *q)
{
    int linear;

    if (check_params(q, &linear) != 0)
        return;
    if (rg_admin__proxy_cache(q))
        return; /* this node's workers: not the leader's */
    if (rg_admin__health_local(q))
        return; /* this node's health state, likewise */
    if (q->a->raft != NULL && !is_read(q) && !rg_admin__is_leader(q->a)) {
        rg_admin__forward(q);
        return;
    }
    if (q->min_rev > 0 && rg_admin__revision(q->a) < q->min_rev) {
        wait_revision(q);
        return;
    }
    if (q->a->raft != NULL && is_read(q) && linear) {
        linearizable(q);
        return;
    }
    rg_admin__route(q);
}

/* Constant-time comparison of the bearer token. */
static int authorized(const struct rg_admin *a, const struct rg_head *h)
{
    const struct rg_field *f = rg_head_find(h, "authorization");
    size_t tl, vl;
    const char *v;
    unsigned char diff = 0;

    if (a->token == NULL)
        return 1;
    if (f == NULL || f->value_len < 7 ||
        strncasecmp(rg_field_value(h, f), "Bearer ", 7) != 0)
        return 0;
    v = rg_field_value(h, f) + 7;
    vl = f->value_len - 7;
    tl = strlen(a->token);
    if (vl != tl)
        return 0;
    for (size_t i = 0; i < tl; i++)
        diff |= (unsigned char)(v[i] ^ a->token[i]);
    return diff == 0;
}

static void on_request(void *arg, struct rg_httpd_req *req)
{
    static const char oom[] = "{\"message\":\"out of memory\"}";
    struct rg_admin *a = arg;
    struct rg_areq *q;

    if (a->stopping || (q = areq_new(a, req)) == NULL) {
        rg_httpd_respond(req->conn, 503, "application/json", oom,
                         sizeof(oom) - 1, NULL);
        return;
    }
    if (!authorized(a, req->head)) {
        rg_admin__error(q, 401, "Unauthorized");
        return;
    }
    if (take_if_match(q, req->head) != 0) {
        rg_admin__error(q, 400, "If-Match: must be a revision number");
        return;
    }
    dispatch(q);
}

/* ---- lifecycle ---- */

static void free_key(struct rg_admin *a)
{
    rg_secret_free(a->key, a->key_len);
    a->key = NULL;
}

struct rg_admin *rg_admin_start(uv_loop_t *loop,
                                const struct rg_admin_conf *c,
                                struct rg_errbuf *eb)
{
    struct rg_admin *a = rg_calloc(1, sizeof(*a));

    if (a == NULL) {
        rg_errbuf_set(eb, "out of memory");
        return NULL;
    }
    a->loop = loop;
    a->raft = c->raft;
    a->unsafe_local_reads = c->unsafe_local_reads;
    a->consul = c->consul;
    a->unsafe_lease_reclaim = c->unsafe_lease_reclaim;
    a->quota = c->quota;
    a->readiness = c->readiness;
    if ((c->token != NULL && c->token[0] != '\0' &&
         (a->token = rg_strdup(c->token)) == NULL) ||
        (c->cluster_key != NULL &&
         (a->key = rg_secret_dup(c->cluster_key, c->cluster_key_len)) ==
             NULL)) {
        rg_free(a->token);
        rg_free(a);
        rg_errbuf_set(eb, "out of memory");
        return NULL;
    }
    a->key_len = a->key != NULL ? c->cluster_key_len : 0;
    a->httpd = rg_httpd_start(loop, c->listen, on_request, a, eb);
    if (a->httpd != NULL && c->tls != NULL)
        rg_httpd_set_tls(a->httpd, c->tls);
    if (a->httpd == NULL) {
        free_key(a);
        rg_free(a->token);
        rg_free(a);
        return NULL;
    }
    if (a->raft != NULL && (a->self = rg_admin__self_start(a, c)) == NULL) {
        rg_errbuf_set(eb, "out of memory");
        rg_httpd_stop(a->httpd);
        free_key(a);
        rg_free(a->token);
        rg_free(a);
        return NULL;
    }
    return a;
}

void rg_admin_set_local(struct rg_admin *a, const struct rg_fsm *f)
{
    a->local = f;
}

void rg_admin_stop(struct rg_admin *a)
{
    if (a == NULL)
        return;
    a->stopping = 1;
    rg_admin__self_stop(a->self);
    a->self = NULL;
    while (a->pending != NULL) {
        struct rg_areq *q = a->pending;

        if (q->fwd != NULL) {
            rg_fwd_cancel(q->fwd);
            q->fwd = NULL;
            rg_admin__unref(q);
        }
        if (q->in_raft)
            rg_admin__unknown(q, "shutting down");
        else
            rg_admin__not_proposed(q, "shutting down");
    }
    rg_httpd_stop(a->httpd);
    a->httpd = NULL;
    rg_free(a->token);
    a->token = NULL;
    free_key(a);
    a->stopped = 1;
    if (a->live == 0)
        rg_free(a);
}
