/* A small HTTP/1.1 server for the control thread's listeners (status now,
 * the admin API later): whole requests buffered up to a cap, one handler
 * callback per request, keep-alive. Not for the proxy data path. */
#ifndef RG_ADMIN_HTTPD_H
#define RG_ADMIN_HTTPD_H

#include <stddef.h>
#include <uv.h>

#include "core/errbuf.h"
#include "http/head.h"

struct rg_httpd;

/* One buffered request, borrowed by the handler for the call. */
struct rg_httpd_req {
    const char *method;   /* "GET" */
    const char *path;     /* target up to '?', NUL-terminated */
    const char *query;    /* after '?', or "" */
    const struct rg_head *head;
    const char *body;     /* NUL-terminated */
    size_t body_len;
    void *conn;           /* for rg_httpd_respond */
};

/* Handle @req and answer it with rg_httpd_respond, now or later (the
 * connection waits). Every request must be answered exactly once, even
 * after the peer went away or rg_httpd_stop ran: the connection object
 * lives until then. */
typedef void (*rg_httpd_handler)(void *arg, struct rg_httpd_req *req);

/* Listen on "host:port" on @loop. Returns NULL with @eb filled on error.
 * Thread: @loop's. */
struct rg_httpd *rg_httpd_start(uv_loop_t *loop, const char *listen,
                                rg_httpd_handler cb, void *arg,
                                struct rg_errbuf *eb);

/* Speak TLS with @tls (kept until rg_httpd_stop) on the connections
 * accepted from now on. */
struct rg_tls_server;
void rg_httpd_set_tls(struct rg_httpd *h, struct rg_tls_server *tls);

/* Answer a request: @status with @ctype body @body (@len bytes, copied),
 * plus @extra header lines ("Name: v\r\n"..., or NULL). */
void rg_httpd_respond(void *conn, int status, const char *ctype,
                      const char *body, size_t len, const char *extra);

/* Stop listening and close every connection. Accepts NULL. */
void rg_httpd_stop(struct rg_httpd *h);

#endif
