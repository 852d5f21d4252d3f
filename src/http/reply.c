/* Local replies: JSON errors with the request id (docs/architecture.md §3). */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "http/wctx.h"
#include "http/conn.h"
#include "http/proxy.h"
#include "http/status.h"

void rg_proxy_reply_error(struct rg_conn *c, struct rg_req *r, int status,
                          const char *message, int close)
{
    const struct rg_limits *l = &c->w->gen->limits;
    char body[512], head[1024];
    char idbuf[40];
    const char *id = r != NULL ? r->id : idbuf;
    uv_buf_t bufs[2];
    int bl, hl;

    if (c->closing)
        return;
    if (message == NULL)
        message = rg_status_reason(status);
    if (r == NULL)
        rg_proxy_new_id(c->w, idbuf, sizeof(idbuf));
    bl = snprintf(body, sizeof(body),
                  "{\"message\":\"%s\",\"request_id\":\"%s\"}\n", message, id);
    /* A request whose body was not read leaves unparsed bytes: close. */
    if (r == NULL || r->client_close ||
        (!r->body_done && (r->chunked || r->content_length > 0)))
        close = 1;
    hl = snprintf(head, sizeof(head),
                  "HTTP/1.1 %d %s\r\n"
                  "Content-Type: application/json; charset=utf-8\r\n"
                  "Content-Length: %d\r\n"
                  "%s%s%s"
                  "X-Request-ID: %s\r\n"
                  "%s\r\n",
                  status, rg_status_reason(status), bl,
                  l->server[0] ? "Server: " : "", l->server,
                  l->server[0] ? "\r\n" : "", id,
                  close ? "Connection: close\r\n" : "");
    bufs[0] = uv_buf_init(head, (unsigned)hl);
    bufs[1] = uv_buf_init(body, (unsigned)bl);
    if (r != NULL) {
        r->status = status;
        r->resp_started = 1;
        r->resp_done = 1;
        r->bytes_out += (uint64_t)(hl + bl);
    }
    if (r != NULL && r->method == RG_M_HEAD)
        rg_conn_write(c, bufs, 1);
    else
        rg_conn_write(c, bufs, 2);
    if (r != NULL)
        rg_proxy_finish(r, !close);
    else
        rg_conn_request_finished(c, 0);
}
