/* Request metrics for /metrics (issue 12): each worker counts into its own
 * block of fixed-size tables (no lock, no allocation per request: relaxed
 * atomic adds by the owning worker), and the control thread sums the
 * blocks when it renders a scrape (control/prom.h). Route and service
 * labels are bounded: a node-wide table of label slots, filled on the
 * control thread when a config generation is built, gives each route and
 * service name a small number the generation carries to the workers. */
#ifndef RG_HTTP_METRICS_H
#define RG_HTTP_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct rg_gateway;
struct rg_req;

/* Label slots per kind: 0 is "none" (no route matched, no service),
 * RG_MET_NAMES - 1 is "_other" (every name past the table's room). */
#define RG_MET_NAMES 256
/* Upper bounds (ms) of gateway_request_duration_seconds's buckets
 * (rendered in seconds); +Inf is one more. */
#define RG_MET_BUCKETS 12
extern const uint32_t rg_met_bucket_ms[RG_MET_BUCKETS];
/* The methods counted apart; every other method is "OTHER". */
#define RG_MET_METHODS 10
extern const char *const rg_met_method_name[RG_MET_METHODS];

enum rg_met_kind { RG_MET_ROUTE = 0, RG_MET_SERVICE = 1 };

/* Why a request was refused by a rate limit: the rate-limiting plugin's
 * policy (local counts, or the cluster's leases). */
enum rg_met_rl { RG_MET_RL_LOCAL = 0, RG_MET_RL_CLUSTER, RG_MET_RL_N };
extern const char *const rg_met_rl_name[RG_MET_RL_N];

/* The proxy-cache plugin's outcomes (its X-Cache-Status values). */
#define RG_MET_CACHE_N 7
extern const char *const rg_met_cache_name[RG_MET_CACHE_N];

/* One table: open addressing over RG_MET_KEY keys (0: free), each with
 * @width counters. The owning worker inserts and counts; the control
 * thread reads keys with acquire loads and counters with relaxed ones. */
struct rg_met_table {
    unsigned cap;   /* a power of two */
    unsigned width; /* counters per key */
    _Atomic uint32_t *keys;
    _Atomic uint64_t *vals; /* cap * width */
    _Atomic uint64_t full;  /* updates dropped: the table was full */
};

/* A worker's block. */
struct rg_wmet {
    struct rg_met_table req; /* route, service, method, status: count */
    struct rg_met_table dur; /* route, service, method: bucket counts
                                (RG_MET_BUCKETS + 1, not cumulative),
                                then the sum in microseconds */
    struct rg_met_table ups; /* service, upstream status: count */
    _Atomic uint64_t rl[RG_MET_RL_N];
    _Atomic uint64_t accepted;              /* client connections accepted */
    _Atomic uint64_t cache[RG_MET_CACHE_N]; /* proxy-cache outcomes */
    _Atomic uint64_t upconn[2]; /* upstream attempts: [0] on a pooled
                                   keep-alive connection, [1] on a new one */
};

/* A key (bit 31 set, so never 0) and its fields (RG_MET_KEY_*): route
 * and service slots, method index, status code (0..1023). */
#define RG_MET_KEY(route, svc, method, status)                                 \
    (UINT32_C(1) << 31 | (uint32_t)(route) << 22 | (uint32_t)(svc) << 14 |     \
     (uint32_t)(method) << 10 | (uint32_t)(status))
#define RG_MET_KEY_ROUTE(k) (((k) >> 22) & 0xffu)
#define RG_MET_KEY_SVC(k) (((k) >> 14) & 0xffu)
#define RG_MET_KEY_METHOD(k) (((k) >> 10) & 0xfu)
#define RG_MET_KEY_STATUS(k) ((k)&0x3ffu)

/* Allocate a zeroed block (rg_calloc), NULL on ENOMEM; free with
 * rg_wmet_free (accepts NULL). Thread: any, before the worker starts and
 * after it ended. */
struct rg_wmet *rg_wmet_new(void);
void rg_wmet_free(struct rg_wmet *m);

/* Count request @r, which ended (status, route, service, method, and the
 * time since its head completed), into @m. Thread: @m's worker. */
void rg_met_request(struct rg_wmet *m, const struct rg_req *r);

/* Count the upstream's response @status to @r. Thread: @r's worker. */
void rg_met_upstream(const struct rg_req *r, int status);

/* Count a rate-limit refusal of @r by a limiter of @type. Thread: @r's
 * worker. */
void rg_met_rate_limited(const struct rg_req *r, enum rg_met_rl type);

/* Count the proxy cache's outcome @status for @r ("Hit", "Miss",
 * "Bypass", "Refresh", "Stale", "Fallback"; anything else counts as
 * "other"). Thread: @r's worker. */
void rg_met_cache(const struct rg_req *r, const char *status);

/* Count an upstream attempt of @r on a keep-alive connection from the
 * pool (@reused) or on a new one. Thread: @r's worker. */
void rg_met_upstream_conn(const struct rg_req *r, int reused);
extern const char *const rg_met_upconn_name[2];

/* The label slots of @gw's routes and services into *@route and *@svc
 * (rg_malloc'd arrays, one per route and service; the caller frees
 * them), giving new names free slots. 0 or -ENOMEM (nothing set).
 * Thread: control (or start-up). */
int rg_met_gen_slots(const struct rg_gateway *gw, uint8_t **route,
                     uint8_t **svc);

/* The name of slot @i of @kind ("" for slot 0, "_other" for the last;
 * NULL for a slot not given yet). Thread: control. */
const char *rg_met_slot_name(enum rg_met_kind kind, unsigned i);

/* The @t->width counters of @key in @t (the worker owning @t inserts it
 * when new; the counters of a new key are zero), or NULL when the table
 * is full (counted in @t->full). Thread: @t's worker. */
_Atomic uint64_t *rg_met__slot(struct rg_met_table *t, uint32_t key);

/* Call @cb for each key of @t and its counters (borrowed for the call;
 * @t->width of them, read with relaxed loads into @tmp). Thread: any. */
void rg_met_table_each(const struct rg_met_table *t, uint64_t *tmp,
                       void (*cb)(void *arg, uint32_t key, const uint64_t *v),
                       void *arg);

#endif
