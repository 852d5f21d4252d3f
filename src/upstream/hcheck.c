/* Active health checks; see hcheck.h. One repeating timer walks the
 * items and starts the checks that are due. */
#include "upstream/hcheck.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "upstream/fetch.h"

#define TICK_MS 100 /* schedule resolution */

struct rg_hchecker;

struct item {
    struct rg_hchecker *c;
    char *upstream;
    char *url;       /* http://ip:port/path */
    char *host_line; /* "Host: host[:port]" */
    char key[RG_HEALTH_KEY_MAX];
    size_t group;
    struct rg_health *h;
    struct rg_hc_side healthy, unhealthy;
    uint32_t timeout_ms;
    unsigned concurrency;
    uint64_t next_at;   /* uv_now, ms */
    struct rg_fetch *x; /* the check in flight, or NULL */
};

struct rg_hchecker {
    uv_loop_t *loop;
    uv_timer_t timer;
    struct rg_fetcher *f;
    struct item *items;
    size_t n;
    unsigned *busy; /* per group: checks in flight */
};

static void items_free(struct item *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i].x != NULL)
            rg_fetch_cancel(v[i].x);
        rg_free(v[i].upstream);
        rg_free(v[i].url);
        rg_free(v[i].host_line);
    }
    rg_free(v);
}

static void on_checked(void *arg, const struct rg_fetch_result *res)
{
    struct item *it = arg;
    enum rg_health_outcome what = RG_HEALTH_HTTP;

    it->x = NULL;
    it->c->busy[it->group]--;
    if (res->err == -ETIMEDOUT)
        what = RG_HEALTH_TIMEOUT;
    else if (res->err != 0)
        what = RG_HEALTH_TCP_FAILURE;
    if (rg_health_report(it->h, &it->healthy, &it->unhealthy, what,
                         (unsigned)res->status))
        rg_log(RG_LOG_WARN, "upstream %s target %s: %s (active check: %s)",
               it->upstream, it->url,
               rg_health_usable(it->h) ? "healthy" : "unhealthy",
               res->err != 0 ? (res->error ? res->error : "failed") : "status");
}

static void start_check(struct rg_hchecker *c, struct item *it)
{
    const char *hdrs[] = {it->host_line, NULL};
    struct rg_fetch_opts o = {0};

    o.timeout_ms = it->timeout_ms > 0 ? (long)it->timeout_ms : 1;
    o.max_body = 64 * 1024;
    o.headers = hdrs;
    o.direct = 1;
    if (rg_fetch_start(c->f, it->url, &o, on_checked, it, &it->x) != 0) {
        it->x = NULL;
        return; /* tried again at the next interval */
    }
    c->busy[it->group]++;
}

static void on_tick(uv_timer_t *t)
{
    struct rg_hchecker *c = t->data;
    uint64_t now = uv_now(c->loop);

    for (size_t i = 0; i < c->n; i++) {
        struct item *it = &c->items[i];
        uint32_t every = rg_health_usable(it->h) ? it->healthy.interval_ms
                                                 : it->unhealthy.interval_ms;

        if (it->x != NULL || every == 0 || now < it->next_at ||
            c->busy[it->group] >= it->concurrency)
            continue;
        it->next_at = now + every;
        start_check(c, it);
    }
}

struct rg_hchecker *rg_hchecker_new(uv_loop_t *loop)
{
    struct rg_hchecker *c = rg_calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->loop = loop;
    c->f = rg_fetcher_new(loop);
    if (c->f == NULL) {
        rg_free(c);
        return NULL;
    }
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, on_tick, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&c->timer);
    return c;
}

static int item_init(struct item *it, const struct rg_hcheck_item *in)
{
    const struct rg_healthchecks *hc = in->hc;
    size_t ulen = strlen(in->addr_key) + strlen(hc->active.http_path) + 8;
    size_t hlen = strlen(in->host_header) + 7;

    it->upstream = rg_strdup(in->upstream);
    it->url = rg_malloc(ulen);
    it->host_line = rg_malloc(hlen);
    if (it->upstream == NULL || it->url == NULL || it->host_line == NULL)
        return -ENOMEM;
    snprintf(it->url, ulen, "http://%s%s", in->addr_key, hc->active.http_path);
    snprintf(it->host_line, hlen, "Host: %s", in->host_header);
    snprintf(it->key, sizeof(it->key), "%s %s", in->upstream, in->addr_key);
    it->group = in->group;
    it->h = in->h;
    it->healthy = hc->active.healthy;
    it->unhealthy = hc->active.unhealthy;
    it->timeout_ms = hc->active.timeout_ms;
    it->concurrency = hc->active.concurrency ? hc->active.concurrency : 1;
    return 0;
}

/* The schedule of the old item for the same address, or 0: due now. */
static uint64_t kept_schedule(const struct rg_hchecker *c, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->items[i].key, key) == 0)
            return c->items[i].x != NULL ? 0 : c->items[i].next_at;
    return 0;
}

int rg_hchecker_set(struct rg_hchecker *c, const struct rg_hcheck_item *items,
                    size_t n)
{
    struct item *v = rg_calloc(n ? n : 1, sizeof(*v));
    size_t i, groups = 1;
    unsigned *busy;

    for (i = 0; i < n; i++)
        groups = items[i].group >= groups ? items[i].group + 1 : groups;
    busy = rg_calloc(groups, sizeof(*busy));

    if (v == NULL || busy == NULL)
        goto err_free;
    for (i = 0; i < n; i++) {
        v[i].c = c;
        if (item_init(&v[i], &items[i]) != 0)
            goto err_items;
        v[i].next_at = kept_schedule(c, v[i].key);
    }
    items_free(c->items, c->n); /* cancels the checks in flight */
    rg_free(c->busy);
    c->items = v;
    c->busy = busy;
    c->n = n;
    return 0;
err_items:
    items_free(v, i + 1);
    rg_free(busy);
    return -ENOMEM;
err_free:
    rg_free(v);
    rg_free(busy);
    return -ENOMEM;
}

static void on_timer_closed(uv_handle_t *h)
{
    rg_free(h->data);
}

void rg_hchecker_close(struct rg_hchecker *c)
{
    if (c == NULL)
        return;
    items_free(c->items, c->n);
    c->items = NULL;
    c->n = 0;
    rg_free(c->busy);
    c->busy = NULL;
    rg_fetcher_close(c->f);
    c->f = NULL;
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}
