/* Consul watches: one chain of blocking queries per name, on the loop's
 * fetcher (upstream/fetch.h); see consul.h.
 *
 * A watch is always in one of three steps: a query in flight (w->x), a
 * timer armed (the gap after an unchanged index, or the backoff after an
 * error), or closing. Consul's "Blocking Queries" page gives the rules
 * followed in on_answer: the index comes from X-Consul-Index; it is reset
 * to 0 when it goes backwards or is not a number; a query that returns with
 * the same index is not repeated before RG_CONSUL_MIN_GAP_MS; the agent
 * adds up to wait/16 of jitter to the wait, so the transfer's timeout is
 * wait + wait/16 + a margin. */
#include "upstream/consul.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "upstream/fetch.h"

#define TIMEOUT_MARGIN_MS 10000
/* An answer lists every passing instance with its node and checks, about
 * 1 KiB each: room for thousands (only the first 64 are used). */
#define MAX_ANSWER (8u << 20)
/* A query with index 0 does not block: an agent that does not answer it
 * soon is taken as down (a rebuild may be waiting on this answer). */
#define FIRST_TIMEOUT_MS 5000

struct watch {
    struct watch *next;
    struct rg_consul *c;
    char *host; /* the name as configured */
    struct rg_consul_name nm;
    struct sockaddr_storage *addr; /* last good, RG_CONSUL_MAX_INSTANCES */
    size_t n_addr;
    uint64_t index;     /* for the next query */
    struct rg_fetch *x; /* the query in flight, or NULL */
    uv_timer_t timer;
    unsigned fails;             /* errors since the last good answer */
    uint64_t started_ms, ok_ms; /* uv_now of the start, the last good */
    char err[160];              /* the last error, "" after a good answer */
    unsigned have : 1;          /* addr[] is a good answer */
    unsigned waited : 1;        /* a get found it unanswered */
    unsigned used : 1;          /* asked for since the last sweep */
};

struct rg_consul {
    uv_loop_t *loop;
    struct rg_fetcher *fetcher;
    char *address, *token_hdr, *dc, *domain;
    uint32_t wait_ms;
    void (*changed)(void *arg);
    void *arg;
    struct watch *watches;
    unsigned n_open; /* watch timers not closed yet */
    uint64_t rand;   /* xorshift state, for jitter */
    unsigned closing : 1;
};

static void consul_free(struct rg_consul *c)
{
    rg_free(c->address);
    rg_free(c->token_hdr);
    rg_free(c->dc);
    rg_free(c->domain);
    rg_free(c);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct watch *w = h->data;
    struct rg_consul *c = w->c;

    rg_free(w->host);
    rg_free(w->addr);
    rg_free(w);
    if (--c->n_open == 0 && c->closing)
        consul_free(c);
}

/* Stop @w (its query cancelled: no callback) and free it once its timer
 * is closed. @w must be out of c->watches already. */
static void watch_close(struct watch *w)
{
    if (w->x != NULL)
        rg_fetch_cancel(w->x);
    w->x = NULL;
    uv_close((uv_handle_t *)&w->timer, on_timer_closed);
}

/* xorshift64: jitter needs no quality, only no lockstep across nodes. */
static uint64_t next_rand(struct rg_consul *c)
{
    c->rand ^= c->rand << 13;
    c->rand ^= c->rand >> 7;
    c->rand ^= c->rand << 17;
    return c->rand;
}

static void query(struct watch *w);

static void on_timer(uv_timer_t *t)
{
    query(t->data);
}

static void notify(struct watch *w)
{
    w->waited = 0;
    w->c->changed(w->c->arg);
}

/* The query failed (@fmt...): keep the last good answer, retry later. */
static void failed(struct watch *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void failed(struct watch *w, const char *fmt, ...)
{
    va_list ap;
    uint32_t delay;

    va_start(ap, fmt);
    vsnprintf(w->err, sizeof(w->err), fmt, ap);
    va_end(ap);
    w->fails++;
    delay = rg_consul__backoff_ms(w->fails, next_rand(w->c));
    /* The first error and then one in eight: a dead agent is not a flood. */
    if (w->fails == 1 || w->fails % 8 == 0)
        rg_log(RG_LOG_WARN, "consul %s: %s (%u in a row; %s; retry in %u ms)",
               w->host, w->err, w->fails,
               w->have ? "keeping the last answer" : "no answer yet", delay);
    if (w->waited)
        notify(w); /* a rebuild waits: it goes on without addresses */
    uv_timer_start(&w->timer, on_timer, delay, 0);
}

static int same_addrs(const struct watch *w, const struct sockaddr_storage *a,
                      size_t n)
{
    return w->have && w->n_addr == n &&
           (n == 0 || memcmp(w->addr, a, n * sizeof(*a)) == 0);
}

static void on_answer(void *arg, const struct rg_fetch_result *res)
{
    struct watch *w = arg;
    struct sockaddr_storage a[RG_CONSUL_MAX_INSTANCES];
    uint64_t old = w->index, idx;
    size_t n, skipped;
    int changed;

    w->x = NULL;
    if (res->err != 0) {
        failed(w, "%s", res->error ? res->error : rg_strerror(res->err));
        return;
    }
    if (res->status != 200) {
        failed(w, "HTTP %ld: %.80s", res->status, res->body);
        return;
    }
    if (rg_consul_decode(res->body, res->len, a, RG_CONSUL_MAX_INSTANCES, &n,
                         &skipped) != 0) {
        failed(w, "answer is not a JSON array of objects");
        return;
    }
    if (skipped > 0 && (w->fails > 0 || !w->have || old == 0))
        rg_log(RG_LOG_WARN,
               "consul %s: %zu instances skipped (no IP "
               "address or port, or over %d)",
               w->host, skipped, RG_CONSUL_MAX_INSTANCES);
    idx = rg_consul__next_index(res->header, old);
    changed = !same_addrs(w, a, n);
    memcpy(w->addr, a, n * sizeof(a[0]));
    w->n_addr = n;
    w->have = 1;
    w->fails = 0;
    w->err[0] = '\0';
    w->index = idx;
    w->ok_ms = uv_now(w->c->loop);
    if (changed)
        rg_log(RG_LOG_INFO, "consul %s: %zu instances (index %" PRIu64 ")",
               w->host, n, idx);
    if (changed || w->waited)
        notify(w);
    if (idx != 0 && idx != old)
        query(w);
    else
        uv_timer_start(&w->timer, on_timer, RG_CONSUL_MIN_GAP_MS, 0);
}

/* Consul's wait= in its own duration syntax. */
static void wait_arg(uint32_t ms, char *out, size_t cap)
{
    if (ms % 1000 == 0)
        snprintf(out, cap, "%" PRIu32 "s", ms / 1000);
    else
        snprintf(out, cap, "%" PRIu32 "ms", ms);
}

static void query(struct watch *w)
{
    struct rg_consul *c = w->c;
    const char *hdrs[2] = {c->token_hdr, NULL};
    const char *dc = w->nm.dc[0] ? w->nm.dc : c->dc;
    struct rg_fetch_opts o = {0};
    char url[1024], wait[24];
    int rv;

    wait_arg(c->wait_ms, wait, sizeof(wait));
    /* Labels are [A-Za-z0-9_-] (the parser): nothing to escape. */
    snprintf(
        url, sizeof(url),
        "%s/v1/health/service/%s?passing=1&index=%" PRIu64 "&wait=%s%s%s%s%s",
        c->address, w->nm.service, w->index, wait, w->nm.tag[0] ? "&tag=" : "",
        w->nm.tag, dc ? "&dc=" : "", dc ? dc : "");
    o.timeout_ms = w->index == 0
                       ? FIRST_TIMEOUT_MS
                       : (long)c->wait_ms + c->wait_ms / 16 + TIMEOUT_MARGIN_MS;
    o.headers = c->token_hdr != NULL ? hdrs : NULL;
    o.want_header = "X-Consul-Index";
    o.max_body = MAX_ANSWER;
    o.no_proxy = 1; /* the agent is local: never through http_proxy */
    rv = rg_fetch_start(c->fetcher, url, &o, on_answer, w, &w->x);
    if (rv != 0) {
        w->x = NULL;
        failed(w, "cannot start a query: %s", rg_strerror(rv));
    }
}

static void strip_slashes(char *s)
{
    size_t n = strlen(s);

    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
}

static int conf_copy(struct rg_consul *c, const struct rg_consul_conf *k)
{
    const char *addr = k->address ? k->address : RG_CONSUL_DEFAULT_ADDRESS;
    size_t tl;

    c->address = rg_strdup(addr);
    c->domain = rg_strdup(k->domain ? k->domain : RG_CONSUL_DEFAULT_DOMAIN);
    if (c->address == NULL || c->domain == NULL)
        return -ENOMEM;
    strip_slashes(c->address);
    if (k->datacenter != NULL && (c->dc = rg_strdup(k->datacenter)) == NULL)
        return -ENOMEM;
    if (k->token != NULL && k->token[0] != '\0') {
        tl = strlen(k->token) + sizeof("X-Consul-Token: ");
        if ((c->token_hdr = rg_malloc(tl)) == NULL)
            return -ENOMEM;
        snprintf(c->token_hdr, tl, "X-Consul-Token: %s", k->token);
    }
    c->wait_ms = k->wait_ms ? k->wait_ms : RG_CONSUL_DEFAULT_WAIT_MS;
    return 0;
}

struct rg_consul *rg_consul_new(uv_loop_t *loop,
                                const struct rg_consul_conf *conf,
                                void (*changed)(void *arg), void *arg)
{
    struct rg_consul *c = rg_calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    if (conf_copy(c, conf) != 0 ||
        (c->fetcher = rg_fetcher_new(loop)) == NULL) {
        consul_free(c);
        return NULL;
    }
    c->loop = loop;
    c->changed = changed;
    c->arg = arg;
    c->rand = uv_hrtime() | 1;
    return c;
}

void rg_consul_close(struct rg_consul *c)
{
    struct watch *w;

    if (c == NULL || c->closing)
        return;
    c->closing = 1;
    while ((w = c->watches) != NULL) {
        c->watches = w->next;
        watch_close(w);
    }
    rg_fetcher_close(c->fetcher); /* after the cancels: they use it */
    c->fetcher = NULL;
    if (c->n_open == 0)
        consul_free(c);
}

const char *rg_consul_domain(const struct rg_consul *c)
{
    return c->domain;
}

static struct watch *watch_new(struct rg_consul *c, const char *host,
                               const struct rg_consul_name *nm)
{
    struct watch *w = rg_calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->host = rg_strdup(host);
    w->addr = rg_calloc(RG_CONSUL_MAX_INSTANCES, sizeof(*w->addr));
    if (w->host == NULL || w->addr == NULL) {
        rg_free(w->host);
        rg_free(w->addr);
        rg_free(w);
        return NULL;
    }
    w->c = c;
    w->nm = *nm;
    w->started_ms = uv_now(c->loop);
    uv_timer_init(c->loop, &w->timer);
    w->timer.data = w;
    uv_unref((uv_handle_t *)&w->timer);
    c->n_open++;
    w->next = c->watches;
    c->watches = w;
    query(w);
    return w;
}

int rg_consul_get(struct rg_consul *c, const char *host,
                  struct sockaddr_storage *out, size_t max, size_t *n)
{
    struct rg_consul_name nm;
    struct watch *w;
    int rv = rg_consul_name_parse(host, c->domain, &nm);

    *n = 0;
    if (rv != 1)
        return rv == 0 ? 1 : rv;
    for (w = c->watches; w != NULL && strcasecmp(w->host, host) != 0;
         w = w->next)
        ;
    if (w == NULL && (w = watch_new(c, host, &nm)) == NULL)
        return -ENOMEM;
    w->used = 1;
    if (w->have) {
        *n = w->n_addr < max ? w->n_addr : max;
        memcpy(out, w->addr, *n * sizeof(*out));
        return 0;
    }
    if (w->fails > 0)
        return 0; /* no answer ever: no address (503) until one comes */
    w->waited = 1;
    return -EAGAIN;
}

void rg_consul_sweep(struct rg_consul *c)
{
    struct watch **pp, *w;

    if (c == NULL)
        return;
    for (pp = &c->watches; (w = *pp) != NULL;) {
        if (w->used) {
            w->used = 0;
            pp = &w->next;
            continue;
        }
        rg_log(RG_LOG_INFO,
               "consul %s: no longer in the config, not "
               "watched",
               w->host);
        *pp = w->next;
        watch_close(w);
    }
}

static const char *state_of(const struct watch *w)
{
    return !w->have ? "never" : w->fails > 0 ? "stale" : "ok";
}

static json_t *watch_status(const struct watch *w, uint64_t now)
{
    uint64_t since = w->have ? w->ok_ms : w->started_ms;

    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:o,s:I}", "name", w->host,
                     "service", w->nm.service, "tag", w->nm.tag, "dc",
                     w->nm.dc[0] ? w->nm.dc
                     : w->c->dc  ? w->c->dc
                                 : "",
                     "state", state_of(w), "instances", (json_int_t)w->n_addr,
                     "index", (json_int_t)w->index, "last_error",
                     w->err[0] ? json_string(w->err) : json_null(), "since_ms",
                     (json_int_t)(now - since));
}

unsigned rg_consul_failing(const struct rg_consul *c)
{
    unsigned n = 0;

    for (const struct watch *w = c ? c->watches : NULL; w != NULL; w = w->next)
        n += w->fails > 0;
    return n;
}

json_t *rg_consul_status(const struct rg_consul *c)
{
    json_t *l = json_array();
    uint64_t now = c != NULL ? uv_now(c->loop) : 0;

    if (l == NULL)
        return NULL;
    for (const struct watch *w = c ? c->watches : NULL; w != NULL;
         w = w->next) {
        json_t *o = watch_status(w, now);

        if (o == NULL || json_array_append_new(l, o) != 0) {
            json_decref(l);
            return NULL;
        }
    }
    return json_pack("{s:s?,s:o}", "address", c ? c->address : NULL, "watches",
                     l);
}
