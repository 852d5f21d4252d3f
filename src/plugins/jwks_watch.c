/* The JWK-set registry: a list of watched URLs, each with its current set
 * (swapped under the mutex), its last good body (to tell a change from a
 * refresh that brought the same keys), a timer for the next fetch and at
 * most one fetch in flight. The list is changed by the control thread
 * only, under the mutex; workers only read it, under the mutex. */
#include "plugins/jwks_watch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "upstream/fetch.h"

#define FETCH_TIMEOUT_MS 5000

struct src {
    struct src *next;       /* the list: mu */
    char *url;
    struct rg_jwks *set;    /* mu */
    int poked;              /* mu: a worker asked for a fetch */
    uint64_t started_ms;    /* mu: when the last fetch started */
    /* The control thread's: */
    uint32_t refresh_s;
    char *body;             /* the last good set's text, owned */
    size_t len;
    unsigned backoff_s;     /* 0 while fetches succeed */
    struct rg_fetch *fetch; /* in flight, or NULL */
    uv_timer_t timer;
    int seen, poke_now;
    char why[96];           /* the last failure logged, and when */
    uint64_t logged_ms;
};

static struct {
    pthread_mutex_t mu;
    struct src *head;
    atomic_uint_least64_t epoch;
    int poke_on;            /* mu: the async handle is open */
    /* The control thread's: */
    uv_loop_t *loop;
    struct rg_fetcher *fetcher;
    uv_async_t poke;
    int stopped;
} W = {.mu = PTHREAD_MUTEX_INITIALIZER, .epoch = 1};

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* In the list, by URL; the caller holds mu or is the control thread. */
static struct src *find(const char *url)
{
    for (struct src *s = W.head; s != NULL; s = s->next)
        if (strcmp(s->url, url) == 0)
            return s;
    return NULL;
}

static void start_fetch(struct src *s);

static void on_timer(uv_timer_t *t)
{
    start_fetch(t->data);
}

static void fail(struct src *s, const char *why)
{
    unsigned max = s->refresh_s < RG_JWKS_BACKOFF_MAX ? s->refresh_s
                                                      : RG_JWKS_BACKOFF_MAX;
    size_t n;

    uint64_t now = now_ms();

    pthread_mutex_lock(&W.mu);
    n = s->set != NULL ? rg_jwks_count(s->set) : 0;
    pthread_mutex_unlock(&W.mu);
    /* Logged when the reason changes, else at most once a minute. */
    if (strncmp(s->why, why, sizeof(s->why) - 1) == 0 &&
        now - s->logged_ms < RG_JWKS_BACKOFF_MAX * 1000)
        ;
    else if (n > 0)
        rg_log(RG_LOG_WARN, "jwks %s: %s; keeping the last good set (%zu "
                            "keys)", s->url, why, n);
    else
        rg_log(RG_LOG_WARN, "jwks %s: %s; no keys yet: its tokens are "
                            "refused", s->url, why);
    if (strncmp(s->why, why, sizeof(s->why) - 1) != 0 ||
        now - s->logged_ms >= RG_JWKS_BACKOFF_MAX * 1000) {
        snprintf(s->why, sizeof(s->why), "%s", why);
        s->logged_ms = now;
    }
    s->backoff_s = s->backoff_s == 0 ? 1 : s->backoff_s * 2;
    if (s->backoff_s > max)
        s->backoff_s = max;
    uv_timer_start(&s->timer, on_timer, (uint64_t)s->backoff_s * 1000, 0);
}

/* A good body @b (@n bytes): serve its set when it differs. */
static void fetched(struct src *s, const char *b, size_t n)
{
    struct rg_jwks *ks, *old;
    const char *why;
    char *copy;
    int rv;

    if (s->body != NULL && s->len == n && memcmp(s->body, b, n) == 0)
        goto schedule;
    rv = rg_jwks_parse(b, n, &ks, &why);
    if (rv != 0) {
        fail(s, rv == -ENOMEM ? "out of memory" : why);
        return;
    }
    copy = rg_malloc(n + 1);
    if (copy == NULL) {
        rg_jwks_unref(ks);
        fail(s, "out of memory");
        return;
    }
    memcpy(copy, b, n);
    rg_free(s->body);
    s->body = copy;
    s->len = n;
    pthread_mutex_lock(&W.mu);
    old = s->set;
    s->set = ks;
    pthread_mutex_unlock(&W.mu);
    atomic_fetch_add(&W.epoch, 1);
    rg_jwks_unref(old);
    rg_log(RG_LOG_NOTICE, "jwks %s: %zu keys", s->url, rg_jwks_count(ks));
schedule:
    s->backoff_s = 0;
    s->why[0] = '\0';
    uv_timer_start(&s->timer, on_timer, (uint64_t)s->refresh_s * 1000, 0);
}

static void on_fetched(void *arg, const struct rg_fetch_result *res)
{
    struct src *s = arg;
    char why[160];

    s->fetch = NULL;
    if (res->err != 0) {
        snprintf(why, sizeof(why), "fetch failed: %s",
                 res->error != NULL ? res->error : "error");
        fail(s, why);
    } else if (res->status != 200 && res->status != 0) { /* 0: file:// */
        snprintf(why, sizeof(why), "fetch answered HTTP %ld", res->status);
        fail(s, why);
    } else {
        fetched(s, res->body, res->len);
    }
}

static void start_fetch(struct src *s)
{
    const struct rg_fetch_opts o = {.timeout_ms = FETCH_TIMEOUT_MS};

    if (s->fetch != NULL)
        return;
    uv_timer_stop(&s->timer);
    pthread_mutex_lock(&W.mu);
    s->started_ms = now_ms();
    s->poked = 0;
    pthread_mutex_unlock(&W.mu);
    if (W.fetcher == NULL) {
        fail(s, "no fetcher (out of memory at start)");
        return;
    }
    if (rg_fetch_start(W.fetcher, s->url, &o, on_fetched, s, &s->fetch) !=
        0) {
        s->fetch = NULL;
        fail(s, "the fetch could not start");
    }
}

static void on_src_closed(uv_handle_t *h)
{
    struct src *s = h->data;

    rg_jwks_unref(s->set);
    rg_free(s->body);
    rg_free(s->url);
    rg_free(s);
}

/* @s is out of the list already. */
static void src_drop(struct src *s)
{
    if (s->fetch != NULL)
        rg_fetch_cancel(s->fetch);
    uv_close((uv_handle_t *)&s->timer, on_src_closed);
}

static void on_poke(uv_async_t *a)
{
    (void)a;
    pthread_mutex_lock(&W.mu);
    for (struct src *s = W.head; s != NULL; s = s->next) {
        s->poke_now = s->poked;
        s->poked = 0;
    }
    pthread_mutex_unlock(&W.mu);
    for (struct src *s = W.head; s != NULL; s = s->next)
        if (s->poke_now)
            start_fetch(s);
}

static int watch_start(uv_loop_t *loop)
{
    if (uv_async_init(loop, &W.poke, on_poke) != 0)
        return -1;
    W.loop = loop;
    W.fetcher = rg_fetcher_new(loop);
    if (W.fetcher == NULL)
        rg_log(RG_LOG_ERROR, "jwks: no fetcher (libcurl would not start): "
                             "key sets will not be fetched");
    uv_unref((uv_handle_t *)&W.poke);
    pthread_mutex_lock(&W.mu);
    W.poke_on = 1;
    pthread_mutex_unlock(&W.mu);
    return 0;
}

static struct src *src_new(const char *url, uint32_t refresh_s)
{
    struct src *s = rg_calloc(1, sizeof(*s));

    if (s == NULL || (s->url = rg_strdup(url)) == NULL) {
        rg_free(s);
        return NULL;
    }
    s->refresh_s = refresh_s;
    uv_timer_init(W.loop, &s->timer);
    uv_unref((uv_handle_t *)&s->timer);
    s->timer.data = s;
    pthread_mutex_lock(&W.mu);
    s->next = W.head;
    W.head = s;
    pthread_mutex_unlock(&W.mu);
    return s;
}

void rg_jwks_watch_sync(uv_loop_t *loop, const struct rg_gateway *gw)
{
    struct src **pp, *s;

    if (W.stopped)
        return;
    for (s = W.head; s != NULL; s = s->next)
        s->seen = 0;
    for (size_t i = 0; i < gw->n_jwts; i++) {
        const struct rg_jwt_secret *j = &gw->jwts[i];

        if (j->jwks_uri == NULL)
            continue;
        if (W.loop == NULL && watch_start(loop) != 0) {
            rg_log(RG_LOG_ERROR, "jwks: cannot watch key sets");
            return;
        }
        s = find(j->jwks_uri);
        if (s == NULL) {
            s = src_new(j->jwks_uri, j->jwks_refresh);
            if (s == NULL) {
                rg_log(RG_LOG_ERROR, "jwks %s: out of memory", j->jwks_uri);
                continue;
            }
            s->seen = 1;
            start_fetch(s);
        } else if (!s->seen || j->jwks_refresh < s->refresh_s) {
            s->refresh_s = j->jwks_refresh;
            s->seen = 1;
            /* A shorter interval counts from now, not from the old one. */
            if (s->fetch == NULL && uv_is_active((uv_handle_t *)&s->timer) &&
                uv_timer_get_due_in(&s->timer) > (uint64_t)s->refresh_s * 1000)
                uv_timer_start(&s->timer, on_timer,
                               (uint64_t)s->refresh_s * 1000, 0);
        }
    }
    for (pp = &W.head; (s = *pp) != NULL;) {
        if (s->seen) {
            pp = &s->next;
            continue;
        }
        pthread_mutex_lock(&W.mu);
        *pp = s->next;
        pthread_mutex_unlock(&W.mu);
        rg_log(RG_LOG_INFO, "jwks %s: no longer named: dropped", s->url);
        src_drop(s);
    }
}

void rg_jwks_watch_stop(void)
{
    struct src *s;

    if (W.stopped)
        return;
    W.stopped = 1;
    pthread_mutex_lock(&W.mu);
    s = W.head;
    W.head = NULL;
    W.poke_on = 0;
    pthread_mutex_unlock(&W.mu);
    while (s != NULL) {
        struct src *next = s->next;

        src_drop(s);
        s = next;
    }
    if (W.loop != NULL) {
        uv_close((uv_handle_t *)&W.poke, NULL);
        rg_fetcher_close(W.fetcher);
        W.fetcher = NULL;
    }
}

struct rg_jwks *rg_jwks_watch_get(const char *url)
{
    struct rg_jwks *ks = NULL;
    struct src *s;

    pthread_mutex_lock(&W.mu);
    s = find(url);
    if (s != NULL && s->set != NULL)
        ks = rg_jwks_ref(s->set);
    pthread_mutex_unlock(&W.mu);
    return ks;
}

uint64_t rg_jwks_watch_epoch(void)
{
    return atomic_load_explicit(&W.epoch, memory_order_acquire);
}

void rg_jwks_watch_poke(const char *url)
{
    struct src *s;

    pthread_mutex_lock(&W.mu);
    s = find(url);
    if (s != NULL && W.poke_on && !s->poked &&
        now_ms() - s->started_ms >= RG_JWKS_EARLY_MIN * 1000) {
        s->poked = 1;
        uv_async_send(&W.poke);
    }
    pthread_mutex_unlock(&W.mu);
}
