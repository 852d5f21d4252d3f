/* JSON-lines access log, double buffered. */
#include "http/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "http/wctx.h"
#include "http/conn.h"
#include "http/proxy.h"

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
};

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

static void alog_tick(uv_timer_t *t)
{
    alog_flush(t->data);
}

struct rg_accesslog *rg_accesslog_new(uv_loop_t *loop, const char *path,
                                      int *err)
{
    struct rg_accesslog *a = rg_calloc(1, sizeof(*a));

    if (a == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    a->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (a->fd < 0) {
        *err = -errno;
        rg_free(a);
        return NULL;
    }
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
                "\"client\":\"%s\",\"method\":\"%s\",\"path\":\"",
                tbuf, ts.tv_nsec / 1000000, r->id, r->c->peer,
                llhttp_method_name(r->c->msg.p.method));
    if (r->path != NULL)
        rg_json_escape(b, r->path, strlen(r->path));
    rg_buf_addf(b, "\",\"status\":%d,\"bytes_sent\":%llu,"
                "\"upstream\":\"%s\",\"latency_ms\":%.3f,"
                "\"upstream_latency_ms\":%.3f,\"attempts\":%u,"
                "\"route\":\"", r->status,
                (unsigned long long)r->bytes_out,
                r->addr ? r->addr->key : "",
                (double)(now - r->t_start) / 1e6,
                r->t_upstream ? (double)(now - r->t_upstream) / 1e6 : 0.0,
                r->attempts);
    if (r->m.route != NULL && r->m.route->name != NULL)
        rg_json_escape(b, r->m.route->name, strlen(r->m.route->name));
    rg_buf_adds(b, "\",\"service\":\"");
    if (r->svc != NULL && r->svc->name != NULL)
        rg_json_escape(b, r->svc->name, strlen(r->svc->name));
    rg_buf_adds(b, "\"}\n");
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
