/* Local replies: JSON errors with the request id (docs/architecture.md
 * §3), and the replies plugins set with rg_req_respond. */
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "http/wctx.h"
#include "http/conn.h"
#include "http/proxy.h"
#include "http/status.h"

/* Send @status with JSON body @body (@bl bytes) for @r (NULL: a request
 * that never got a head, id @id). The HEADER phase runs first when the
 * request got that far; a plugin failing there on a local reply is
 * logged and the reply goes out as it is. */
static void reply(struct rg_conn *c, struct rg_req *r, const char *id,
                  int status, const char *body, size_t bl, int close)
{
    const struct rg_limits *l = &c->w->gen->limits;
    struct rg_buf own, *head = &own;
    uv_buf_t bufs[2];

    /* Never a second response (and the head buffer reused below may hold
     * the first's): cut the connection. */
    if (r != NULL && r->resp_started) {
        rg_conn_close(c);
        return;
    }
    /* A request whose body was not read leaves unparsed bytes: close. */
    if (r == NULL || r->client_close ||
        (!r->body_done && (r->chunked || r->content_length > 0)))
        close = 1;
    if (r != NULL) {
        r->status = status;
        r->local_reply = 1;
        if (r->local_status == 0)
            r->gw_status = status;
        if (r->started && rg_proxy_run_header(r) != 0)
            rg_log(RG_LOG_WARN,
                   "worker %u: request %s: a header_filter failed on a "
                   "local %d reply",
                   c->w->index, id, status);
        status = r->status; /* a plugin may have mapped it */
        if (r->local_fields != NULL) {
            /* rg_req_respond_stored, in ACCESS or in HEADER just now. */
            status = r->status = r->local_status;
            body = r->local_body;
            bl = r->local_len;
        }
    }
    /* A request's own head buffer, kept with it for reuse: no malloc per
     * reply (a cache hit is one). */
    if (r != NULL) {
        head = &r->resp_hb;
        rg_buf_truncate(head, 0);
    } else {
        rg_buf_init(&own, 64 * 1024);
    }
    rg_buf_addf(head, "HTTP/1.1 %d %s\r\n", status,
                rg_status_reason(status));
    if (r != NULL && r->local_fields != NULL)
        rg_buf_add(head, r->local_fields, r->local_flen);
    else
        rg_buf_adds(head,
                    "Content-Type: application/json; charset=utf-8\r\n");
    rg_buf_addf(head, "Content-Length: %zu\r\n", bl);
    if (l->server[0])
        rg_buf_addf(head, "Server: %s\r\n", l->server);
    rg_buf_addf(head, "X-Request-ID: %s\r\n", id);
    if (r != NULL)
        rg_proxy_add_headers(&r->resp_add, head);
    rg_buf_addf(head, "%s\r\n", close ? "Connection: close\r\n" : "");
    if (rg_buf_error(head) != 0) {
        if (head == &own)
            rg_buf_release(&own);
        rg_conn_close(c);
        return;
    }
    bufs[0] = uv_buf_init(head->p, (unsigned)head->len);
    bufs[1] = uv_buf_init((char *)body, (unsigned)bl);
    if (r != NULL) {
        r->resp_started = 1;
        r->resp_done = 1;
        r->bytes_out += head->len + bl;
    }
    /* The bytes are copied when the socket does not take them at once. */
    if (r != NULL && r->method == RG_M_HEAD)
        (void)rg_conn_write(c, bufs, 1);
    else
        (void)rg_conn_write(c, bufs, 2);
    if (head == &own)
        rg_buf_release(&own);
    if (c->closing)
        return; /* the write failed: the close frees @r */
    if (r != NULL)
        rg_proxy_finish(r, !close);
    else
        rg_conn_request_finished(c, 0);
}

void rg_proxy_reply_error(struct rg_conn *c, struct rg_req *r, int status,
                          const char *message, int close)
{
    char body[512];
    char idbuf[40];
    const char *id = r != NULL ? r->id : idbuf;
    int bl;

    if (c->closing)
        return;
    if (message == NULL)
        message = rg_status_reason(status);
    if (r == NULL)
        rg_proxy_new_id(c->w, idbuf, sizeof(idbuf));
    bl = snprintf(body, sizeof(body),
                  "{\"message\":\"%s\",\"request_id\":\"%s\"}\n", message, id);
    reply(c, r, id, status, body, (size_t)bl, close);
}

void rg_proxy_reply_local(struct rg_req *r)
{
    if (r->c->closing)
        return;
    reply(r->c, r, r->id, r->local_status, r->local_body, r->local_len, 0);
}
