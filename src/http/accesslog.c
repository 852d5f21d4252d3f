/* JSON-lines access log, double buffered. */
#include "http/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "http/wctx.h"
#include "http/conn.h"
#include "http/proxy.h"
#include "http/req.h"

#define ALOG_CAP (1u << 20) /* per buffer, bytes */

struct rg_accesslog {
    uv_loop_t *loop;
    uv_timer_t timer;
    uv_fs_t fs;
    int fd;
    int writing;            /* a uv_fs_write of out is in flight */
    int closing;
    struct rg_buf cur;      /* lines being added */
    struct rg_buf out;      /* lines being written */
    unsigned long dropped;
    char *path;        /* for a reopen */
    unsigned reopened; /* the reopen_gen this fd was opened at */
};

/* Bumped by rg_accesslog_reopen_all; each log compares at its tick. */
static atomic_uint reopen_gen;

void rg_json_escape(struct rg_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n && rg_buf_error(b) == 0; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == '"' || ch == '\\')
            rg_buf_addf(b, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            rg_buf_addf(b, "\\u%04x", ch);
        else
            rg_buf_add(b, &s[i], 1);
    }
}

static void alog_closed(uv_handle_t *h)
{
    struct rg_accesslog *a = h->data;

    rg_buf_release(&a->cur);
    rg_buf_release(&a->out);
    rg_free(a->path);
    rg_free(a);
}

/* The loop is ending: write what is left synchronously, in order. */
static void alog_finish(struct rg_accesslog *a)
{
    if (a->cur.len > 0 && write(a->fd, a->cur.p, a->cur.len) < 0)
        a->dropped++;
    close(a->fd);
    uv_close((uv_handle_t *)&a->timer, alog_closed);
}

static void alog_written(uv_fs_t *req)
{
    struct rg_accesslog *a = req->data;

    uv_fs_req_cleanup(req);
    a->writing = 0;
    a->out.len = 0;
    if (a->closing)
        alog_finish(a);
}

static void alog_flush(struct rg_accesslog *a)
{
    struct rg_buf tmp;
    uv_buf_t b;

    if (a->writing || a->cur.len == 0)
        return;
    tmp = a->out;
    a->out = a->cur;
    a->cur = tmp;
    a->cur.len = 0;
    b = uv_buf_init(a->out.p, (unsigned)a->out.len);
    a->fs.data = a;
    if (uv_fs_write(a->loop, &a->fs, a->fd, &b, 1, -1, alog_written) == 0)
        a->writing = 1;
    else
        a->out.len = 0;
}

void rg_accesslog_reopen_all(void)
{
    atomic_fetch_add_explicit(&reopen_gen, 1, memory_order_relaxed);
}

/* Between two writes (none in flight): the lines written so far are in
 * the old file, every later one goes to the new. If the path cannot be
 * opened, the old file stays. */
static void alog_reopen(struct rg_accesslog *a, unsigned gen)
{
    int fd = open(a->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

    a->reopened = gen;
    if (fd < 0) {
        rg_log(RG_LOG_ERROR, "log.access_log %s: cannot reopen: %s", a->path,
               strerror(errno));
        return;
    }
    close(a->fd);
    a->fd = fd;
}

static void alog_tick(uv_timer_t *t)
{
    struct rg_accesslog *a = t->data;
    unsigned gen = atomic_load_explicit(&reopen_gen, memory_order_relaxed);

    if (gen != a->reopened && !a->writing)
        alog_reopen(a, gen);
    alog_flush(a);
}

struct rg_accesslog *rg_accesslog_new(uv_loop_t *loop, const char *path,
                                      int *err)
{
    struct rg_accesslog *a = rg_calloc(1, sizeof(*a));

    if (a == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    a->path = rg_strdup(path);
    a->fd = a->path == NULL
                ? (errno = ENOMEM, -1)
                : open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (a->fd < 0) {
        *err = -errno;
        rg_free(a->path);
        rg_free(a);
        return NULL;
    }
    a->reopened = atomic_load_explicit(&reopen_gen, memory_order_relaxed);
    a->loop = loop;
    rg_buf_init(&a->cur, ALOG_CAP);
    rg_buf_init(&a->out, ALOG_CAP);
    /* Full size now (pages are only touched as lines come), so logging a
     * request never allocates. */
    if (rg_buf_reserve(&a->cur, ALOG_CAP - 1) != 0 ||
        rg_buf_reserve(&a->out, ALOG_CAP - 1) != 0) {
        rg_buf_release(&a->cur);
        rg_buf_release(&a->out);
        close(a->fd);
        rg_free(a->path);
        rg_free(a);
        *err = -ENOMEM;
        return NULL;
    }
    uv_timer_init(loop, &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, alog_tick, 100, 100);
    uv_unref((uv_handle_t *)&a->timer);
    return a;
}

/* ,"@key":"@s" (escaped), or ,"@key":null when @s is NULL. */
static void add_str(struct rg_buf *b, const char *key, const char *s)
{
    if (s == NULL) {
        rg_buf_addf(b, ",\"%s\":null", key);
        return;
    }
    rg_buf_addf(b, ",\"%s\":\"", key);
    rg_json_escape(b, s, strlen(s));
    rg_buf_adds(b, "\"");
}

/* Whether @r's head was parsed (rg_proxy_start chose its trace ids): a
 * request refused by the parser (400) has no method, path or trace, and
 * logs them as null rather than as "" or the parser's default method. */
static int head_parsed(const struct rg_req *r)
{
    return r->trace_id[0] != '\0';
}

/* The request's bytes from the client: its head as parsed (request line
 * and fields re-counted, so whitespace the parser dropped is not) and
 * the body bytes read (de-chunked); for a head never parsed (a 400), the
 * bytes read for it, as there is no request line to count. */
static uint64_t bytes_in(const struct rg_req *r)
{
    const struct rg_head *h = &r->head;
    uint64_t n;

    if (!head_parsed(r))
        return r->head_rcvd;
    n = strlen(llhttp_method_name(r->c->msg.p.method)) + 1 + h->url_len +
        11 + 2;

    for (uint32_t i = 0; i < h->n_fields; i++)
        n += h->fields[i].name_len + 2 + h->fields[i].value_len + 2;
    return n + r->body_rcvd;
}

static const char *consumer_name(const struct rg_req *r)
{
    const struct rg_consumer *k;

    if (r->fs.consumer == RG_NO_INDEX ||
        r->fs.consumer >= r->gen->gw.n_consumers)
        return NULL;
    k = &r->gen->gw.consumers[r->fs.consumer];
    return k->username ? k->username : k->custom_id ? k->custom_id : k->id;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* The fields of issue 12 (README "Access log"). */
static void add_obs(struct rg_buf *b, const struct rg_req *r, uint64_t now)
{
    uint64_t up = r->t_upstream ? now - r->t_upstream : 0;

    rg_buf_addf(b,
                ",\"upstream_status\":%d,\"upstream_ttfb_ms\":%.3f,"
                "\"gateway_latency_ms\":%.3f,\"bytes_received\":%llu",
                r->up_status,
                r->t_up_head ? ms(r->t_up_head - r->t_upstream) : 0.0,
                ms(now - r->t_start - up), (unsigned long long)bytes_in(r));
    add_str(b, "trace_id", head_parsed(r) ? r->trace_id : NULL);
    add_str(b, "span_id", head_parsed(r) ? r->span_id : NULL);
    add_str(b, "consumer", consumer_name(r));
    add_str(b, "cache", r->cache_status);
    add_str(b, "limit",
            r->limit == RG_LIMIT_REFUSED   ? "refused"
            : r->limit == RG_LIMIT_ALLOWED ? "allowed"
                                           : NULL);
    if (r->limit != RG_LIMIT_NONE && r->limit_remaining >= 0)
        rg_buf_addf(b, ",\"limit_remaining\":%lld",
                    (long long)r->limit_remaining);
    else
        rg_buf_adds(b, ",\"limit_remaining\":null");
}

void rg_accesslog_request(struct rg_accesslog *a, const struct rg_req *r)
{
    struct rg_buf *b = &a->cur;
    size_t mark = b->len;
    struct timespec ts;
    struct tm tm;
    char tbuf[40];
    uint64_t now = uv_hrtime();

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
    rg_buf_addf(b, "{\"time\":\"%s.%03ldZ\",\"request_id\":\"%s\","
                "\"client\":\"%s\"",
                tbuf, ts.tv_nsec / 1000000, r->id, r->c->peer);
    add_str(b, "method",
            head_parsed(r) ? llhttp_method_name(r->c->msg.p.method) : NULL);
    add_str(b, "path", head_parsed(r) ? r->path : NULL);
    rg_buf_addf(b,
                ",\"status\":%d,\"bytes_sent\":%llu,"
                "\"upstream\":\"%s\",\"latency_ms\":%.3f,"
                "\"upstream_latency_ms\":%.3f,\"attempts\":%u,"
                "\"route\":\"",
                r->status, (unsigned long long)r->bytes_out,
                r->addr ? r->addr->key : "", ms(now - r->t_start),
                r->t_upstream ? ms(now - r->t_upstream) : 0.0, r->attempts);
    if (r->m.route != NULL && r->m.route->name != NULL)
        rg_json_escape(b, r->m.route->name, strlen(r->m.route->name));
    rg_buf_adds(b, "\",\"service\":\"");
    if (r->svc != NULL && r->svc->name != NULL)
        rg_json_escape(b, r->svc->name, strlen(r->svc->name));
    rg_buf_adds(b, "\"");
    add_obs(b, r, now);
    rg_buf_adds(b, "}\n");
    if (rg_buf_error(b) != 0) {
        rg_buf_truncate(b, mark); /* full (or no memory): drop the line */
        a->dropped++;
    }
    if (b->len >= ALOG_CAP / 2)
        alog_flush(a);
}

void rg_accesslog_close(struct rg_accesslog *a)
{
    if (a == NULL)
        return;
    a->closing = 1;
    uv_timer_stop(&a->timer);
    if (!a->writing)
        alog_finish(a);
}
