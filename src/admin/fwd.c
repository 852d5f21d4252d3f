/* Forwarding client: connect, (TLS handshake,) write, read one response,
 * close. */
#include "admin/fwd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/io.h"
#include "core/log.h"
#include "core/reqmac.h"
#include "core/secret.h"
#include "core/tls.h"
#include "http/msg.h"

#define FWD_MAX_HEAD 16384
#define FWD_MAX_BODY (16u << 20)

struct rg_fwd {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect;
    uv_buf_t out;               /* the request bytes, owned */
    struct rg_tls *tls;         /* the engine, or NULL: plain HTTP */
    struct rg_msg msg;          /* the response parser */
    struct rg_head head;
    struct rg_buf body;
    rg_fwd_cb cb;               /* NULL once called or cancelled */
    void *arg;
    int connected;              /* the TCP connect succeeded */
    int sent;                   /* the request write was issued */
    int closes;                 /* handles still to close */
    int done;
    char addr[64];              /* the peer, for the log */
};

/* Set by the control thread at start and cleared at shutdown
 * (rg_fwd_set_key, rg_fwd_set_tls); read by every forward. */
static struct {
    unsigned char *key; /* the cluster key, NULL = requests unsigned */
    size_t key_len;
    struct rg_tls_client *tls; /* NULL = plain HTTP */
    uint64_t warned_ms;        /* the last handshake WARN (uv_now) */
    unsigned suppressed;       /* handshake failures not logged since */
} fwd_conf;

#define FWD_WARN_MS 10000 /* one handshake WARN per 10 s */

static void fwd_closed(uv_handle_t *h)
{
    struct rg_fwd *f = h->data;

    if (--f->closes > 0)
        return;
    rg_head_release(&f->head);
    rg_buf_release(&f->body);
    rg_tls_free(f->tls);
    rg_free(f->out.base);
    rg_free(f);
}

static void fwd_close(struct rg_fwd *f)
{
    if (f->done)
        return;
    f->done = 1;
    f->closes = 2;
    uv_close((uv_handle_t *)&f->tcp, fwd_closed);
    uv_close((uv_handle_t *)&f->timer, fwd_closed);
}

static void fwd_fail(struct rg_fwd *f, int err)
{
    rg_fwd_cb cb = f->cb;

    f->cb = NULL;
    if (cb != NULL)
        cb(f->arg, err, NULL);
    fwd_close(f);
}

/* Select the headers worth relaying and call back with the answer. */
static void fwd_finish(struct rg_fwd *f)
{
    struct rg_fwd_resp r = {0};
    struct rg_buf hb;
    const struct rg_field *ct = rg_head_find(&f->head, "content-type");
    char ctype[256] = "";
    rg_fwd_cb cb = f->cb;

    rg_buf_init(&hb, FWD_MAX_HEAD);
    for (uint32_t i = 0; i < f->head.n_fields; i++) {
        const struct rg_field *fl = &f->head.fields[i];
        const char *name = rg_field_name(&f->head, fl);

        if (fl->name_len <= 11 || strncasecmp(name, "x-raftgate-", 11) != 0)
            continue;
        rg_buf_add_field(&hb, name, fl->name_len,
                         rg_field_value(&f->head, fl), fl->value_len);
    }
    if (rg_buf_error(&hb) != 0) {
        /* The answer came but cannot be relayed whole. */
        rg_buf_release(&hb);
        fwd_fail(f, RG_FWD_EUNKNOWN);
        return;
    }
    if (ct != NULL && ct->value_len < sizeof(ctype)) {
        memcpy(ctype, rg_field_value(&f->head, ct), ct->value_len);
        ctype[ct->value_len] = '\0';
        r.ctype = ctype;
    }
    r.status = f->msg.p.status_code;
    r.headers = hb.p ? hb.p : "";
    r.body = f->body.p ? f->body.p : "";
    r.body_len = f->body.len;
    f->cb = NULL;
    if (cb != NULL)
        cb(f->arg, 0, &r);
    rg_buf_release(&hb);
    fwd_close(f);
}

static int p_body(struct rg_msg *m, const char *at, size_t n)
{
    struct rg_fwd *f = m->data;

    return rg_buf_add(&f->body, at, n);
}

static int p_done(struct rg_msg *m)
{
    fwd_finish(m->data);
    return HPE_PAUSED;
}

static const struct rg_msg_ops fwd_ops = {
    .body = p_body,
    .done = p_done,
};

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char rbuf[65536]; /* control thread only */

    *buf = uv_buf_init(rbuf, sizeof(rbuf));
}

/* The error for a failure now: whether the request may have gone out. */
static int fwd_err(const struct rg_fwd *f)
{
    return f->sent ? RG_FWD_EUNKNOWN : RG_FWD_ENOTSENT;
}

static void on_written(void *arg, int status, size_t len)
{
    struct rg_fwd *f = arg;

    (void)len;
    if (status != 0 && !f->done)
        fwd_fail(f, fwd_err(f));
}

/* Write what the TLS engine holds for the peer: 0 or -1. */
static int tls_flush(struct rg_fwd *f)
{
    return rg_tls_send(f->tls, (uv_stream_t *)&f->tcp, on_written, f) < 0
               ? -1
               : 0;
}

/* Send the request, in the clear or through the engine: 0 or -1. */
static int send_request(struct rg_fwd *f)
{
    f->sent = 1;
    if (f->tls == NULL)
        return rg_io_write((uv_stream_t *)&f->tcp, &f->out, 1, on_written,
                           f) < 0
                   ? -1
                   : 0;
    if (rg_tls_write(f->tls, f->out.base, f->out.len) != 0)
        return -1;
    return tls_flush(f);
}

/* Fail @f before its request went out over TLS: WARN with @why (rate
 * limited: a wrong CA fails every forward, lease batches included). */
static void tls_fail(struct rg_fwd *f, const char *why)
{
    uint64_t now = uv_now(f->tcp.loop);

    if (fwd_conf.warned_ms == 0 || now - fwd_conf.warned_ms >= FWD_WARN_MS) {
        char more[64] = "";

        if (fwd_conf.suppressed > 0)
            snprintf(more, sizeof(more), " (%u more since the last such WARN)",
                     fwd_conf.suppressed);
        rg_log(RG_LOG_WARN, "admin forward to %s: TLS handshake failed: %s%s",
               f->addr, why, more);
        fwd_conf.warned_ms = now;
        fwd_conf.suppressed = 0;
    } else {
        fwd_conf.suppressed++;
    }
    fwd_fail(f, RG_FWD_ENOTSENT);
}

/* Drive the TLS handshake over what was fed; once it is done, send the
 * request. A failure closes @f. */
static void tls_step(struct rg_fwd *f)
{
    int rv = rg_tls_handshake(f->tls);

    if (rv == RG_TLS_ERROR)
        tls_fail(f, rg_tls_error(f->tls));
    else if (tls_flush(f) != 0 || (rv == 1 && send_request(f) != 0))
        fwd_fail(f, fwd_err(f));
}

/* Ciphertext from the peer: the handshake, then the response's
 * plaintext for the parser. */
static llhttp_errno_t tls_input(struct rg_fwd *f, const char *p, size_t n)
{
    char plain[16384];
    llhttp_errno_t err = HPE_OK;
    ssize_t got = 0;

    if (rg_tls_feed(f->tls, p, n) != 0)
        return HPE_USER;
    if (!f->sent) { /* the request goes out once, after the handshake */
        tls_step(f);
        if (f->done || !f->sent)
            return HPE_OK;
    }
    while (err == HPE_OK &&
           (got = rg_tls_read(f->tls, plain, sizeof(plain))) > 0)
        err = rg_msg_feed(&f->msg, plain, (size_t)got);
    if (err != HPE_OK || f->done)
        return err;
    if (got == RG_TLS_EOF)
        return rg_msg_finish(&f->msg); /* close-delimited body */
    return got == RG_TLS_ERROR || tls_flush(f) != 0 ? HPE_USER : HPE_OK;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct rg_fwd *f = s->data;
    llhttp_errno_t err;

    if (f->done)
        return;
    if (n < 0 && f->tls != NULL && !f->sent)
        tls_fail(f, n == UV_EOF ? "the peer closed the connection"
                                : uv_strerror((int)n));
    if (f->done)
        return;
    /* Over TLS only close_notify ends a close-delimited body (tls_input):
     * a bare FIN may cut it short. */
    if (n == UV_EOF && f->sent && f->tls == NULL)
        err = rg_msg_finish(&f->msg); /* close-delimited body */
    else if (n < 0)
        err = HPE_USER;
    else if (f->tls != NULL)
        err = tls_input(f, buf->base, (size_t)n);
    else
        err = rg_msg_feed(&f->msg, buf->base, (size_t)n);
    if (f->done || err == HPE_PAUSED)
        return;
    if (err != HPE_OK || n == UV_EOF)
        fwd_fail(f, fwd_err(f));
}

static void on_connect(uv_connect_t *c, int status)
{
    struct rg_fwd *f = c->data;

    if (f->done)
        return;
    if (status != 0 ||
        uv_read_start((uv_stream_t *)&f->tcp, on_alloc, on_read) != 0) {
        fwd_fail(f, RG_FWD_ENOTSENT);
        return;
    }
    f->connected = 1;
    if (f->tls != NULL)
        tls_step(f); /* the ClientHello */
    else if (send_request(f) != 0)
        fwd_fail(f, fwd_err(f));
}

static void on_timeout(uv_timer_t *t)
{
    struct rg_fwd *f = t->data;

    if (f->tls != NULL && f->connected && !f->sent)
        tls_fail(f, "no answer before the deadline");
    else
        fwd_fail(f, fwd_err(f));
}

int rg_fwd_set_key(const unsigned char *key, size_t len)
{
    unsigned char *k = NULL;

    if (key != NULL && (k = rg_secret_dup(key, len)) == NULL)
        return -ENOMEM;
    rg_secret_free(fwd_conf.key, fwd_conf.key_len);
    fwd_conf.key = k;
    fwd_conf.key_len = k != NULL ? len : 0;
    return 0;
}

void rg_fwd_set_tls(struct rg_tls_client *c)
{
    fwd_conf.tls = c;
}

static int build_request(struct rg_fwd *f, const char *addr,
                         const struct rg_fwd_req *rq)
{
    char mac[RG_REQMAC_VALUE_MAX] = "";
    const char *rid = rq->rid != NULL ? rq->rid : "";
    struct rg_buf b;

    if (fwd_conf.key != NULL &&
        rg_reqmac_sign(fwd_conf.key, fwd_conf.key_len, rq->method, rq->target,
                       rid, rq->body, rq->len, rg_reqmac_now_ms(), mac) != 0)
        return -1;
    rg_buf_init(&b, FWD_MAX_BODY + FWD_MAX_HEAD);
    if (rg_buf_addf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n%s", rq->method,
                    rq->target, addr, rq->headers) != 0 ||
        (rq->rid != NULL &&
         rg_buf_addf(&b, "X-Request-Id: %s\r\n", rq->rid) != 0) ||
        (fwd_conf.key != NULL &&
         rg_buf_addf(&b, RG_REQMAC_HEADER ": %s\r\n", mac) != 0) ||
        rg_buf_addf(&b, "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                    rq->len) != 0 ||
        rg_buf_add(&b, rq->body, rq->len) != 0) {
        rg_buf_release(&b);
        return -1;
    }
    f->out.len = b.len;
    f->out.base = rg_buf_detach(&b, NULL);
    return 0;
}

/* A client engine for @addr's host, or NULL. */
static struct rg_tls *tls_engine(const char *addr)
{
    char host[256];

    if (rg_io_split_host(addr, host, sizeof(host)) != 0)
        return NULL;
    return rg_tls_new_client(fwd_conf.tls, host);
}

/* Whether @rid can go into a header line and the MAC as it is. */
static int rid_ok(const char *rid)
{
    size_t n = 0;

    for (; rid[n] != '\0'; n++)
        if (rid[n] < 0x21 || rid[n] > 0x7e)
            return 0;
    return n > 0 && n <= RG_FWD_MAX_RID;
}

struct rg_fwd *rg_fwd_start(uv_loop_t *loop, const char *addr,
                            const struct rg_fwd_req *rq, unsigned timeout_ms,
                            rg_fwd_cb cb, void *arg)
{
    struct sockaddr_storage ss;
    struct rg_fwd *f;

    if ((rq->rid != NULL && !rid_ok(rq->rid)) ||
        rg_io_parse_addr(addr, &ss) != 0 ||
        (f = rg_calloc(1, sizeof(*f))) == NULL)
        return NULL;
    if (build_request(f, addr, rq) != 0 ||
        (fwd_conf.tls != NULL && (f->tls = tls_engine(addr)) == NULL)) {
        rg_free(f->out.base);
        rg_free(f);
        return NULL;
    }
    snprintf(f->addr, sizeof(f->addr), "%s", addr);
    f->cb = cb;
    f->arg = arg;
    rg_head_init(&f->head, FWD_MAX_HEAD);
    rg_buf_init(&f->body, FWD_MAX_BODY);
    rg_msg_init(&f->msg, RG_MSG_RESPONSE, &fwd_ops, &f->head, f);
    /* Neither fails on a valid loop: uv_tcp_init only with bad flags. */
    (void)uv_tcp_init(loop, &f->tcp);
    (void)uv_timer_init(loop, &f->timer);
    f->tcp.data = f->timer.data = f->connect.data = f;
    uv_tcp_nodelay(&f->tcp, 1);
    uv_timer_start(&f->timer, on_timeout, timeout_ms, 0);
    if (uv_tcp_connect(&f->connect, &f->tcp, (struct sockaddr *)&ss,
                       on_connect) != 0) {
        f->cb = NULL;
        fwd_close(f);
        return NULL;
    }
    return f;
}

void rg_fwd_cancel(struct rg_fwd *f)
{
    if (f == NULL)
        return;
    f->cb = NULL;
    fwd_close(f);
}
