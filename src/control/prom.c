/* GET /metrics: the gateway_* series, summed over the workers' blocks at
 * scrape time (http/metrics.h), in key order. */
#include "control/prom.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control/prom_int.h"
#include "core/alloc.h"
#include "event/worker.h"
#include "http/metrics.h"

#define MAX_WIDTH (RG_MET_BUCKETS + 2)

/* Rows gathered from every worker's table of one kind: a key, then
 * @width counters, each as a uint64_t. */
struct rows {
    unsigned width;
    size_t n, cap;
    uint64_t *p;
    int err;
};

void rg_prom__family(struct rg_buf *b, const char *name, const char *type,
                     const char *help)
{
    rg_buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void rg_prom__value(struct rg_buf *b, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"')
            rg_buf_addf(b, "\\%c", *v);
        else if (*v == '\n')
            rg_buf_adds(b, "\\n");
        else
            rg_buf_add(b, v, 1);
    }
}

void rg_prom__u64(struct rg_buf *b, const char *name, uint64_t v)
{
    rg_buf_addf(b, "%s %llu\n", name, (unsigned long long)v);
}

void rg_prom__one(struct rg_buf *b, const char *name, const char *type,
                  const char *help, uint64_t v)
{
    rg_prom__family(b, name, type, help);
    rg_prom__u64(b, name, v);
}

static void row_add(void *arg, uint32_t key, const uint64_t *v)
{
    struct rows *rs = arg;
    size_t w = rs->width + 1;

    if (rs->err)
        return;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 256;
        uint64_t *p = rg_realloc(rs->p, cap * w * sizeof(*p));

        if (p == NULL) {
            rs->err = -ENOMEM;
            return;
        }
        rs->p = p;
        rs->cap = cap;
    }
    rs->p[rs->n * w] = key;
    memcpy(&rs->p[rs->n * w + 1], v, rs->width * sizeof(*v));
    rs->n++;
}

static int row_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Every worker's rows of the table at @off in struct rg_wmet, sorted by
 * key with equal keys summed (rs->n rows after). */
static int gather(const struct rg_prom_src *s, size_t off, unsigned width,
                  struct rows *rs)
{
    uint64_t tmp[MAX_WIDTH];
    size_t w = width + 1, out = 0;

    rs->width = width;
    for (unsigned i = 0; i < s->n_workers; i++) {
        const struct rg_wmet *m = s->workers[i].x.met;

        if (m != NULL)
            rg_met_table_each((const void *)((const char *)m + off), tmp,
                              row_add, rs);
    }
    if (rs->err || rs->n == 0)
        return rs->err;
    qsort(rs->p, rs->n, w * sizeof(*rs->p), row_cmp);
    for (size_t i = 1; i < rs->n; i++) {
        uint64_t *last = &rs->p[out * w], *row = &rs->p[i * w];

        if (row[0] == last[0])
            for (size_t j = 1; j < w; j++)
                last[j] += row[j];
        else
            memmove(&rs->p[++out * w], row, w * sizeof(*row));
    }
    rs->n = out + 1;
    return 0;
}

static void label(struct rg_buf *b, const char *sep, const char *name,
                  const char *v)
{
    rg_buf_addf(b, "%s%s=\"", sep, name);
    rg_prom__value(b, v != NULL ? v : "");
    rg_buf_adds(b, "\"");
}

/* method, route, service labels of @key (no braces). */
static void key_labels(struct rg_buf *b, uint64_t key)
{
    uint32_t k = (uint32_t)key;

    label(b, "", "method", rg_met_method_name[RG_MET_KEY_METHOD(k)]);
    label(b, ",", "route", rg_met_slot_name(RG_MET_ROUTE, RG_MET_KEY_ROUTE(k)));
    label(b, ",", "service",
          rg_met_slot_name(RG_MET_SERVICE, RG_MET_KEY_SVC(k)));
}

static void requests(struct rg_buf *b, const struct rows *rs)
{
    rg_prom__family(b, "gateway_requests_total", "counter",
                    "Requests answered, by method, route, service and "
                    "status.");
    for (size_t i = 0; i < rs->n; i++) {
        const uint64_t *row = &rs->p[i * 2];

        rg_buf_adds(b, "gateway_requests_total{");
        key_labels(b, row[0]);
        rg_buf_addf(b, ",status=\"%u\"} %llu\n",
                    RG_MET_KEY_STATUS((uint32_t)row[0]),
                    (unsigned long long)row[1]);
    }
}

static void bucket(struct rg_buf *b, uint64_t key, const char *le, uint64_t n)
{
    rg_buf_adds(b, "gateway_request_duration_seconds_bucket{");
    key_labels(b, key);
    rg_buf_addf(b, ",le=\"%s\"} %llu\n", le, (unsigned long long)n);
}

static void durations(struct rg_buf *b, const struct rows *rs)
{
    size_t w = RG_MET_BUCKETS + 3;

    rg_prom__family(b, "gateway_request_duration_seconds", "histogram",
                    "Request duration in seconds, from the request head to "
                    "the end of the response (the seed's "
                    "gateway_request_duration_ms in base units).");
    for (size_t i = 0; i < rs->n; i++) {
        const uint64_t *row = &rs->p[i * w];
        uint64_t cum = 0;
        char le[16];

        for (unsigned j = 0; j < RG_MET_BUCKETS; j++) {
            cum += row[1 + j];
            snprintf(le, sizeof(le), "%g", rg_met_bucket_ms[j] / 1000.0);
            bucket(b, row[0], le, cum);
        }
        cum += row[1 + RG_MET_BUCKETS];
        bucket(b, row[0], "+Inf", cum);
        rg_buf_adds(b, "gateway_request_duration_seconds_sum{");
        key_labels(b, row[0]);
        rg_buf_addf(b, "} %llu.%06llu\n",
                    (unsigned long long)(row[w - 1] / 1000000),
                    (unsigned long long)(row[w - 1] % 1000000));
        rg_buf_adds(b, "gateway_request_duration_seconds_count{");
        key_labels(b, row[0]);
        rg_buf_addf(b, "} %llu\n", (unsigned long long)cum);
    }
}

static void upstreams(struct rg_buf *b, const struct rows *rs)
{
    rg_prom__family(b, "gateway_upstream_status_total", "counter",
                    "Responses from upstreams, by service and status.");
    for (size_t i = 0; i < rs->n; i++) {
        uint32_t k = (uint32_t)rs->p[i * 2];

        rg_buf_adds(b, "gateway_upstream_status_total{");
        label(b, "", "service",
              rg_met_slot_name(RG_MET_SERVICE, RG_MET_KEY_SVC(k)));
        rg_buf_addf(b, ",status=\"%u\"} %llu\n", RG_MET_KEY_STATUS(k),
                    (unsigned long long)rs->p[i * 2 + 1]);
    }
}

/* The sum over workers of the counter at @off in struct rg_wmet. */
static uint64_t sum(const struct rg_prom_src *s, size_t off)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < s->n_workers; i++) {
        const struct rg_wmet *m = s->workers[i].x.met;

        if (m != NULL)
            n += atomic_load_explicit(
                (const _Atomic uint64_t *)((const char *)m + off),
                memory_order_relaxed);
    }
    return n;
}

/* A counter family with one label over the per-worker array at @off
 * in struct rg_wmet (@n counters, @names their label values). */
static void by_label(const struct rg_prom_src *s, struct rg_buf *b,
                     const char *name, const char *help, const char *label,
                     const char *const *names, unsigned n, size_t off)
{
    rg_prom__family(b, name, "counter", help);
    for (unsigned i = 0; i < n; i++)
        rg_buf_addf(
            b, "%s{%s=\"%s\"} %llu\n", name, label, names[i],
            (unsigned long long)sum(s, off + i * sizeof(_Atomic uint64_t)));
}

static void labelled_counters(const struct rg_prom_src *s, struct rg_buf *b)
{
    by_label(s, b, "gateway_rate_limit_hits_total",
             "Requests refused by a rate limit, by the limiter's policy.",
             "limiter_type", rg_met_rl_name, RG_MET_RL_N,
             offsetof(struct rg_wmet, rl));
    by_label(s, b, "gateway_cache_requests_total",
             "Requests the proxy-cache plugin saw, by outcome "
             "(X-Cache-Status).",
             "cache_status", rg_met_cache_name, RG_MET_CACHE_N,
             offsetof(struct rg_wmet, cache));
    by_label(s, b, "raftgate_upstream_attempts_total",
             "Upstream attempts, by connection: a keep-alive one from the "
             "worker's pool, or a new one.",
             "connection", rg_met_upconn_name, 2,
             offsetof(struct rg_wmet, upconn));
}

static void connections(const struct rg_prom_src *s, struct rg_buf *b)
{
    uint64_t full = sum(s, offsetof(struct rg_wmet, req.full)) +
                    sum(s, offsetof(struct rg_wmet, dur.full)) +
                    sum(s, offsetof(struct rg_wmet, ups.full));

    rg_prom__one(b, "raftgate_connections_accepted_total", "counter",
                 "Client connections accepted on the proxy listener (with "
                 "those closed at once past proxy.max_connections).",
                 sum(s, offsetof(struct rg_wmet, accepted)));
    rg_prom__one(b, "raftgate_connections_active", "gauge",
                 "Client connections open now.",
                 s->workers ? rg_workers_conns(s->workers, s->n_workers) : 0);
    rg_prom__one(b, "raftgate_metrics_dropped_total", "counter",
                 "Request metric updates dropped: a worker's table of "
                 "label sets was full.",
                 full);
}

int rg_prom_render(const struct rg_prom_src *s, struct rg_buf *b)
{
    struct rows req = {0}, dur = {0}, ups = {0};
    int rv = gather(s, offsetof(struct rg_wmet, req), 1, &req);

    if (rv == 0)
        rv = gather(s, offsetof(struct rg_wmet, dur), RG_MET_BUCKETS + 2, &dur);
    if (rv == 0)
        rv = gather(s, offsetof(struct rg_wmet, ups), 1, &ups);
    if (rv == 0) {
        requests(b, &req);
        durations(b, &dur);
        upstreams(b, &ups);
        labelled_counters(s, b);
        connections(s, b);
        rg_prom__node(s, b);
        rv = rg_buf_error(b);
    }
    rg_free(req.p);
    rg_free(dur.p);
    rg_free(ups.p);
    return rv;
}
