/* Unit tests for src/upstream/fetch.c against a small HTTP/1.1 server in
 * a thread of the test (127.0.0.1, an ephemeral port, canned answers by
 * path, Connection: close): statuses and bodies, the wanted response
 * header, request headers reaching the server, the body cap, timeouts,
 * refused connections, file:// URLs, refused schemes and redirects,
 * cancellation, closing from inside a callback, and fifty transfers at
 * once. Every test ends with uv_loop_close() == 0: no handle left. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/alloc.h"
#include "upstream/fetch.h"

/* ---- the server ---- */

#define MAX_HUNG 64

struct server {
    int lfd;
    int stop[2];        /* a pipe: writing stops the thread */
    int hung[MAX_HUNG]; /* connections left unanswered (/hang) */
    int n_hung;
    int port;
    pthread_t thread;
};

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void reply(int fd, const char *status, const char *extra,
                  const char *body, int with_length)
{
    char head[1024];
    int n;

    n = snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nConnection: close\r\n%s",
                 status, extra);
    if (with_length)
        n += snprintf(head + n, sizeof(head) - n, "Content-Length: %zu\r\n",
                      strlen(body));
    n += snprintf(head + n, sizeof(head) - n, "\r\n");
    send_all(fd, head, (size_t)n);
    send_all(fd, body, strlen(body));
}

/* Answer the request @req (its head) on @fd. Returns 1 when @fd is kept
 * open unanswered. */
static int answer(struct server *s, int fd, const char *req)
{
    char path[256] = "", body[4096];

    if (sscanf(req, "GET %255s HTTP/1.1", path) != 1) {
        reply(fd, "400 Bad Request", "", "bad", 1);
        return 0;
    }
    if (strncmp(path, "/ok", 3) == 0) {
        snprintf(body, sizeof(body), "hello %s", path);
        reply(fd, "200 OK", "", body, 1);
    } else if (strcmp(path, "/missing") == 0) {
        reply(fd, "404 Not Found", "", "not here", 1);
    } else if (strcmp(path, "/index") == 0) {
        reply(fd, "200 OK", "x-consul-index:   42 \r\nX-Other: 7\r\n", "[]", 1);
    } else if (strcmp(path, "/token") == 0) {
        /* The server checks the request's headers itself. */
        int ok = strstr(req, "\r\nX-Consul-Token: s3cret\r\n") != NULL &&
                 strstr(req, "\r\nAccept: application/json\r\n") != NULL &&
                 strstr(req, "\r\nUser-Agent: raftgate/") != NULL;

        reply(fd, ok ? "200 OK" : "403 Forbidden", "", ok ? "yes" : "no", 1);
    } else if (strncmp(path, "/big", 4) == 0) {
        memset(body, 'b', 2000);
        body[2000] = '\0';
        /* /big-nolen: no Content-Length, so only the write cap stops it. */
        reply(fd, "200 OK", "", body, strcmp(path, "/big") == 0);
    } else if (strcmp(path, "/redirect") == 0) {
        reply(fd, "302 Found", "Location: /ok/after\r\n", "", 1);
    } else if (strcmp(path, "/to-file") == 0) {
        reply(fd, "302 Found", "Location: file:///etc/hostname\r\n", "", 1);
    } else if (strcmp(path, "/hang") == 0 && s->n_hung < MAX_HUNG) {
        s->hung[s->n_hung++] = fd;
        return 1;
    } else {
        reply(fd, "500 Oops", "", "?", 1);
    }
    return 0;
}

/* Read a request head (up to its blank line) from @fd into @buf. */
static int read_head(int fd, char *buf, size_t cap)
{
    size_t n = 0;

    while (n + 1 < cap) {
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);

        if (r <= 0)
            return -1;
        n += (size_t)r;
        buf[n] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL)
            return 0;
    }
    return -1;
}

static void *serve(void *arg)
{
    struct server *s = arg;
    struct pollfd p[2] = {{s->lfd, POLLIN, 0}, {s->stop[0], POLLIN, 0}};
    char req[8192];

    for (;;) {
        int fd;

        if (poll(p, 2, -1) < 0 || (p[1].revents & POLLIN))
            break;
        fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (read_head(fd, req, sizeof(req)) != 0 || !answer(s, fd, req))
            close(fd);
    }
    for (int i = 0; i < s->n_hung; i++)
        close(s->hung[i]);
    return NULL;
}

/* A socket bound to an ephemeral port of 127.0.0.1; its port in *@port. */
static int bound_socket(int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void server_start(struct server *s)
{
    memset(s, 0, sizeof(*s));
    s->lfd = bound_socket(&s->port);
    ck_assert_int_eq(listen(s->lfd, 128), 0);
    ck_assert_int_eq(pipe(s->stop), 0);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(struct server *s)
{
    ck_assert_int_eq(write(s->stop[1], "x", 1), 1);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    close(s->stop[0]);
    close(s->stop[1]);
}

/* ---- the client side ---- */

struct got {
    int calls;
    int err;
    long status;
    char body[4096];
    size_t len;
    char header[64];
    int have_header;
    char error[256];
};

static void on_done(void *arg, const struct rg_fetch_result *res)
{
    struct got *g = arg;

    g->calls++;
    g->err = res->err;
    g->status = res->status;
    ck_assert_ptr_nonnull(res->body);
    ck_assert_int_eq(res->body[res->len], '\0');
    g->len = res->len;
    snprintf(g->body, sizeof(g->body), "%s", res->body);
    g->have_header = res->header != NULL;
    snprintf(g->header, sizeof(g->header), "%s",
             res->header != NULL ? res->header : "");
    ck_assert(res->err == 0 ? res->error == NULL : res->error != NULL);
    snprintf(g->error, sizeof(g->error), "%s",
             res->error != NULL ? res->error : "");
}

static char url_buf[512];

static const char *url(const struct server *s, const char *path)
{
    snprintf(url_buf, sizeof(url_buf), "http://127.0.0.1:%d%s", s->port, path);
    return url_buf;
}

/* One fetch of @u with @o on a fresh loop, run until it is done. */
static struct got fetch_one(const char *u, const struct rg_fetch_opts *o)
{
    uv_loop_t loop;
    struct rg_fetcher *f;
    struct got g;

    memset(&g, 0, sizeof(g));
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    f = rg_fetcher_new(&loop);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(rg_fetch_start(f, u, o, on_done, &g, NULL), 0);
    ck_assert_int_eq(g.calls, 0); /* never from inside start */
    /* A transfer keeps the loop alive, an idle fetcher does not. */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(g.calls, 1);
    rg_fetcher_close(f);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    return g;
}

/* A 200 gives its status and body. */
START_TEST(ok_with_body)
{
    struct server s;
    struct got g;

    server_start(&s);
    g = fetch_one(url(&s, "/ok"), NULL);
    ck_assert_int_eq(g.err, 0);
    ck_assert_int_eq(g.status, 200);
    ck_assert_str_eq(g.body, "hello /ok");
    ck_assert_uint_eq(g.len, 9);
    ck_assert(!g.have_header);
    /* By name: curl resolves on its thread, with no socket to watch. */
    snprintf(url_buf, sizeof(url_buf), "http://localhost:%d/ok/name", s.port);
    g = fetch_one(url_buf, NULL);
    ck_assert_int_eq(g.err, 0);
    ck_assert_str_eq(g.body, "hello /ok/name");
    server_stop(&s);
}
END_TEST

/* A 404 is not an error: err 0, the status and the body. */
START_TEST(not_found_is_a_status)
{
    struct server s;
    struct got g;

    server_start(&s);
    g = fetch_one(url(&s, "/missing"), NULL);
    ck_assert_int_eq(g.err, 0);
    ck_assert_int_eq(g.status, 404);
    ck_assert_str_eq(g.body, "not here");
    server_stop(&s);
}
END_TEST

/* want_header gives the value of that header, matched in any case and
 * trimmed; a header the response lacks gives NULL. */
START_TEST(wanted_header)
{
    struct server s;
    struct rg_fetch_opts o = {.want_header = "X-Consul-Index"};
    struct got g;

    server_start(&s);
    g = fetch_one(url(&s, "/index"), &o);
    ck_assert_int_eq(g.err, 0);
    ck_assert(g.have_header);
    ck_assert_str_eq(g.header, "42");
    ck_assert_str_eq(g.body, "[]");
    g = fetch_one(url(&s, "/ok"), &o);
    ck_assert_int_eq(g.err, 0);
    ck_assert(!g.have_header);
    server_stop(&s);
}
END_TEST

/* http_proxy is followed by default, and never with no_proxy (Consul's
 * agent is local): with a proxy that refuses connections, the plain fetch
 * fails and the no_proxy one reaches the server. */
START_TEST(no_proxy_ignores_http_proxy)
{
    struct server s;
    struct rg_fetch_opts o = {.no_proxy = 1};
    char proxy[64];
    int dead_port, dead = bound_socket(&dead_port); /* never listens */
    struct got g;

    server_start(&s);
    snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", dead_port);
    setenv("http_proxy", proxy, 1);
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    g = fetch_one(url(&s, "/ok"), NULL);
    ck_assert_int_ne(g.err, 0);
    g = fetch_one(url(&s, "/ok"), &o);
    ck_assert_int_eq(g.err, 0);
    ck_assert_int_eq(g.status, 200);
    ck_assert_str_eq(g.body, "hello /ok");
    unsetenv("http_proxy");
    close(dead);
    server_stop(&s);
}
END_TEST

/* Request headers reach the server (it answers 403 without them), with
 * the User-Agent raftgate/<version>. */
START_TEST(request_headers_sent)
{
    static const char *const hdrs[] = {"X-Consul-Token: s3cret",
                                       "Accept: application/json", NULL};
    struct server s;
    struct rg_fetch_opts o = {.headers = hdrs};
    struct got g;

    server_start(&s);
    g = fetch_one(url(&s, "/token"), &o);
    ck_assert_int_eq(g.err, 0);
    ck_assert_int_eq(g.status, 200);
    ck_assert_str_eq(g.body, "yes");
    g = fetch_one(url(&s, "/token"), NULL);
    ck_assert_int_eq(g.status, 403);
    server_stop(&s);
}
END_TEST

/* A body over max_body fails with -EMSGSIZE, whether the Content-Length
 * says so up front or the bytes run past the cap; one at the cap passes. */
START_TEST(body_cap)
{
    struct server s;
    struct rg_fetch_opts o = {.max_body = 1000};
    struct got g;

    server_start(&s);
    g = fetch_one(url(&s, "/big"), &o);
    ck_assert_int_eq(g.err, -EMSGSIZE);
    ck_assert_int_eq(g.status, 0);
    ck_assert_uint_eq(g.len, 0);
    g = fetch_one(url(&s, "/big-nolen"), &o);
    ck_assert_int_eq(g.err, -EMSGSIZE);
    ck_assert_str_ne(g.error, "");
    o.max_body = 2000;
    g = fetch_one(url(&s, "/big-nolen"), &o);
    ck_assert_int_eq(g.err, 0);
    ck_assert_uint_eq(g.len, 2000);
    server_stop(&s);
}
END_TEST

/* A server that never answers: -ETIMEDOUT once timeout_ms has passed. */
START_TEST(timeout)
{
    struct server s;
    struct rg_fetch_opts o = {.timeout_ms = 300};
    struct got g;
    uint64_t t0 = uv_hrtime(), ms;

    server_start(&s);
    g = fetch_one(url(&s, "/hang"), &o);
    ms = (uv_hrtime() - t0) / 1000000;
    ck_assert_int_eq(g.err, -ETIMEDOUT);
    ck_assert_uint_ge(ms, 290);
    ck_assert_uint_lt(ms, 3000);
    server_stop(&s);
}
END_TEST

/* A port nobody listens on: -ECONNREFUSED. */
START_TEST(refused)
{
    char u[64];
    struct got g;
    int port, fd = bound_socket(&port);

    close(fd); /* bound, never listened: the port is closed */
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/", port);
    g = fetch_one(u, NULL);
    ck_assert_int_eq(g.err, -ECONNREFUSED);
    ck_assert_int_eq(g.status, 0);
    ck_assert_str_ne(g.error, "");
}
END_TEST

/* file:// reads a file (status 0); a missing file is -ENOENT. */
START_TEST(file_url)
{
    char path[] = "/tmp/test_fetch_XXXXXX", u[64];
    int fd = mkstemp(path);
    struct got g;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "{\"keys\":[]}", 11), 11);
    close(fd);
    snprintf(u, sizeof(u), "file://%s", path);
    g = fetch_one(u, NULL);
    ck_assert_int_eq(g.err, 0);
    ck_assert_int_eq(g.status, 0);
    ck_assert_str_eq(g.body, "{\"keys\":[]}");
    unlink(path);
    g = fetch_one(u, NULL);
    ck_assert_int_eq(g.err, -ENOENT);
}
END_TEST

/* Other schemes, and request headers that are not one "Name: value"
 * line, are refused at start with -EINVAL (no callback). */
START_TEST(refused_at_start)
{
    static const char *const no_colon[] = {"X-Token s3cret", NULL};
    static const char *const crlf[] = {"X-A: 1\r\nX-B: 2", NULL};
    static const char *const bad[] = {
        "ftp://127.0.0.1/x", "gopher://h/",  "dict://h/", "scp://h/x", "",
        "http:/x",           "127.0.0.1/ok", NULL};
    struct rg_fetch_opts o = {0};
    uv_loop_t loop;
    struct rg_fetcher *f;
    struct rg_fetch *x = NULL;
    struct got g = {0};

    uv_loop_init(&loop);
    f = rg_fetcher_new(&loop);
    for (int i = 0; bad[i] != NULL; i++)
        ck_assert_msg(rg_fetch_start(f, bad[i], NULL, on_done, &g, &x) ==
                          -EINVAL,
                      "%s", bad[i]);
    o.headers = no_colon;
    ck_assert_int_eq(rg_fetch_start(f, "http://h/", &o, on_done, &g, &x),
                     -EINVAL);
    o.headers = crlf;
    ck_assert_int_eq(rg_fetch_start(f, "http://h/", &o, on_done, &g, &x),
                     -EINVAL);
    ck_assert_ptr_null(x);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(g.calls, 0);
    rg_fetcher_close(f);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* Redirects are followed (to http), never to file://. */
START_TEST(redirects)
{
    struct server s;
    struct got g;

    server_start(&s);
    g = fetch_one(url(&s, "/redirect"), NULL);
    ck_assert_int_eq(g.err, 0);
    ck_assert_int_eq(g.status, 200);
    ck_assert_str_eq(g.body, "hello /ok/after");
    g = fetch_one(url(&s, "/to-file"), NULL);
    ck_assert_int_eq(g.err, -EIO);
    ck_assert_uint_eq(g.len, 0);
    server_stop(&s);
}
END_TEST

/* A direct fetch (health checks) takes the target's own answer: a 302
 * is the status, not followed, and http_proxy from the environment is
 * not used (it points at a port where nothing listens). */
START_TEST(direct_no_redirect_no_proxy)
{
    struct server s;
    struct rg_fetch_opts o = {.direct = 1};
    struct got g;
    const char *names[] = {"http_proxy", "no_proxy", "NO_PROXY"};
    char *old[3];

    for (int i = 0; i < 3; i++) {
        old[i] = getenv(names[i]) ? strdup(getenv(names[i])) : NULL;
        unsetenv(names[i]);
    }

    server_start(&s);
    g = fetch_one(url(&s, "/redirect"), &o);
    ck_assert_int_eq(g.err, 0);
    ck_assert_int_eq(g.status, 302);
    setenv("http_proxy", "http://127.0.0.1:9", 1);
    g = fetch_one(url(&s, "/ok/direct"), &o);
    ck_assert_int_eq(g.err, 0);
    ck_assert_str_eq(g.body, "hello /ok/direct");
    g = fetch_one(url(&s, "/ok/proxied"), NULL);
    ck_assert_int_ne(g.err, 0); /* the control: the dead proxy is used */
    for (int i = 0; i < 3; i++) {
        if (old[i] != NULL)
            setenv(names[i], old[i], 1);
        else
            unsetenv(names[i]);
        free(old[i]);
    }
    server_stop(&s);
}
END_TEST

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* A fetch cancelled before it ends is never called back: at once after
 * start, and once its request is at the (silent) server. */
START_TEST(cancel_before_completion)
{
    struct server s;
    uv_loop_t loop;
    uv_timer_t t;
    struct rg_fetcher *f;
    struct rg_fetch *a, *b;
    struct got ga = {0}, gb = {0}, gc = {0};

    server_start(&s);
    uv_loop_init(&loop);
    f = rg_fetcher_new(&loop);
    ck_assert_int_eq(rg_fetch_start(f, url(&s, "/ok"), NULL, on_done, &ga, &a),
                     0);
    rg_fetch_cancel(a);
    ck_assert_int_eq(
        rg_fetch_start(f, url(&s, "/hang"), NULL, on_done, &gb, &b), 0);
    ck_assert_int_eq(
        rg_fetch_start(f, url(&s, "/ok"), NULL, on_done, &gc, NULL), 0);
    /* Run until the other fetch is done: b is connected and waiting. */
    while (gc.calls == 0)
        uv_run(&loop, UV_RUN_ONCE);
    rg_fetch_cancel(b);
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, on_tick, 100, 0);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns: nothing is in flight */
    ck_assert_int_eq(ga.calls, 0);
    ck_assert_int_eq(gb.calls, 0);
    ck_assert_int_eq(gc.calls, 1);
    uv_close((uv_handle_t *)&t, NULL);
    rg_fetcher_close(f);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    server_stop(&s);
}
END_TEST

/* From inside a callback: start a fetch, cancel another and itself (a
 * no-op), then close the fetcher; neither the new fetch nor one still in
 * flight is called back, and everything is freed (ASan). */
struct reentry {
    struct rg_fetcher *f;
    const struct server *s;
    struct rg_fetch *other; /* in flight: cancelled from the callback */
    struct rg_fetch *self;
    struct got started, other_got, hung_got;
    int calls;
    int close;
};

static void on_reentry(void *arg, const struct rg_fetch_result *res)
{
    struct reentry *r = arg;

    r->calls++;
    ck_assert_int_eq(res->status, 200);
    ck_assert_int_eq(rg_fetch_start(r->f, url(r->s, "/ok/second"), NULL,
                                    on_done, &r->started, NULL),
                     0);
    if (r->other != NULL)
        rg_fetch_cancel(r->other);
    r->other = NULL;
    rg_fetch_cancel(r->self); /* its own: nothing happens */
    if (r->close) {
        rg_fetcher_close(r->f);
        /* Starting on a closing fetcher is refused, not a crash. */
        ck_assert_int_eq(rg_fetch_start(r->f, url(r->s, "/ok"), NULL, on_done,
                                        &r->started, NULL),
                         -ECANCELED);
    }
}

START_TEST(reentry_close_from_callback)
{
    struct server s;
    uv_loop_t loop;
    struct reentry r;

    memset(&r, 0, sizeof(r));
    server_start(&s);
    uv_loop_init(&loop);
    r.f = rg_fetcher_new(&loop);
    r.s = &s;
    r.close = 1;
    ck_assert_int_eq(
        rg_fetch_start(r.f, url(&s, "/hang"), NULL, on_done, &r.hung_got, NULL),
        0);
    ck_assert_int_eq(rg_fetch_start(r.f, url(&s, "/hang"), NULL, on_done,
                                    &r.other_got, &r.other),
                     0);
    ck_assert_int_eq(
        rg_fetch_start(r.f, url(&s, "/ok"), NULL, on_reentry, &r, &r.self), 0);
    uv_run(&loop, UV_RUN_DEFAULT); /* ends once the fetcher is freed */
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.started.calls, 0);
    ck_assert_int_eq(r.other_got.calls, 0);
    ck_assert_int_eq(r.hung_got.calls, 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    server_stop(&s);
}
END_TEST

/* Without the close: the fetch started from the callback completes. */
START_TEST(reentry_start_from_callback)
{
    struct server s;
    uv_loop_t loop;
    struct reentry r;

    memset(&r, 0, sizeof(r));
    server_start(&s);
    uv_loop_init(&loop);
    r.f = rg_fetcher_new(&loop);
    r.s = &s;
    ck_assert_int_eq(rg_fetch_start(r.f, url(&s, "/hang"), NULL, on_done,
                                    &r.other_got, &r.other),
                     0);
    ck_assert_int_eq(
        rg_fetch_start(r.f, url(&s, "/ok"), NULL, on_reentry, &r, &r.self), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.started.calls, 1);
    ck_assert_str_eq(r.started.body, "hello /ok/second");
    ck_assert_int_eq(r.other_got.calls, 0);
    rg_fetcher_close(r.f);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    server_stop(&s);
}
END_TEST

/* Two file:// fetches end in the same turn of the loop (one timer
 * action), so the second is queued when the first is called back; what
 * that callback does to it holds: a cancel or a close means no call. */
struct batch {
    struct rg_fetcher *f;
    struct rg_fetch *x[2];
    int calls[2];
    int close; /* else cancel the other */
};

static void on_batch(struct batch *b, int i)
{
    b->calls[i]++;
    if (b->calls[0] + b->calls[1] > 1)
        return;
    if (b->close)
        rg_fetcher_close(b->f);
    else
        rg_fetch_cancel(b->x[1 - i]);
}

static void on_batch0(void *arg, const struct rg_fetch_result *res)
{
    ck_assert_int_eq(res->err, 0);
    on_batch(arg, 0);
}

static void on_batch1(void *arg, const struct rg_fetch_result *res)
{
    ck_assert_int_eq(res->err, 0);
    on_batch(arg, 1);
}

START_TEST(queued_then_cancelled_or_closed)
{
    char path[] = "/tmp/test_fetch_XXXXXX", u[64];
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    close(fd);
    snprintf(u, sizeof(u), "file://%s", path);
    for (int close_it = 0; close_it <= 1; close_it++) {
        uv_loop_t loop;
        struct batch b = {.close = close_it};

        uv_loop_init(&loop);
        b.f = rg_fetcher_new(&loop);
        ck_assert_int_eq(rg_fetch_start(b.f, u, NULL, on_batch0, &b, &b.x[0]),
                         0);
        ck_assert_int_eq(rg_fetch_start(b.f, u, NULL, on_batch1, &b, &b.x[1]),
                         0);
        uv_run(&loop, UV_RUN_DEFAULT);
        ck_assert_int_eq(b.calls[0] + b.calls[1], 1);
        if (!close_it)
            rg_fetcher_close(b.f);
        uv_run(&loop, UV_RUN_DEFAULT);
        ck_assert_int_eq(uv_loop_close(&loop), 0);
    }
    unlink(path);
}
END_TEST

/* Closing with transfers in flight (connected, or not started yet)
 * calls none of them back. */
START_TEST(close_with_transfers_in_flight)
{
    struct server s;
    uv_loop_t loop;
    struct rg_fetcher *f;
    struct got g[3];

    memset(g, 0, sizeof(g));
    server_start(&s);
    uv_loop_init(&loop);
    f = rg_fetcher_new(&loop);
    ck_assert_int_eq(
        rg_fetch_start(f, url(&s, "/hang"), NULL, on_done, &g[0], NULL), 0);
    ck_assert_int_eq(
        rg_fetch_start(f, url(&s, "/hang"), NULL, on_done, &g[1], NULL), 0);
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(
        rg_fetch_start(f, url(&s, "/ok"), NULL, on_done, &g[2], NULL), 0);
    rg_fetcher_close(f);
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(g[i].calls, 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    server_stop(&s);
}
END_TEST

/* Fifty transfers at once all complete, each with its own body. */
START_TEST(fifty_concurrent)
{
    enum { N = 50 };
    struct server s;
    uv_loop_t loop;
    struct rg_fetcher *f;
    static struct got g[N];
    char path[32], want[48];

    memset(g, 0, sizeof(g));
    server_start(&s);
    uv_loop_init(&loop);
    f = rg_fetcher_new(&loop);
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof(path), "/ok/%d", i);
        ck_assert_int_eq(
            rg_fetch_start(f, url(&s, path), NULL, on_done, &g[i], NULL), 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < N; i++) {
        snprintf(want, sizeof(want), "hello /ok/%d", i);
        ck_assert_int_eq(g[i].calls, 1);
        ck_assert_int_eq(g[i].err, 0);
        ck_assert_int_eq(g[i].status, 200);
        ck_assert_str_eq(g[i].body, want);
    }
    rg_fetcher_close(f);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    server_stop(&s);
}
END_TEST

/* Every allocation of rg_fetcher_new and rg_fetch_start (ours and curl's:
 * curl allocates through rg_malloc) failing in turn: each fails cleanly
 * (-ENOMEM or NULL, no callback), or the fetch runs and is called back
 * exactly once; nothing leaks (ASan), no handle is left open. Failures are
 * not injected while the loop runs: libcurl 7.88 has out-of-memory paths
 * that crash (singlesocket destroys a socket entry's hash it keeps using,
 * a SIGFPE seen here), so only the synchronous part is ours to test. */
START_TEST(allocation_failures)
{
    struct server s;
    uv_loop_t loop;
    struct rg_fetcher *f;
    static const char *const hdrs[] = {"X-Consul-Token: s3cret",
                                       "Accept: application/json", NULL};
    struct rg_fetch_opts o = {.want_header = "X-Consul-Index", .headers = hdrs};
    int n_refused = 0, started = 0;

    server_start(&s);
    uv_loop_init(&loop);
    rg_fetcher_close(rg_fetcher_new(&loop)); /* curl's global init */
    uv_run(&loop, UV_RUN_DEFAULT);
    for (long n = 1; n <= 300; n++) {
        struct got g = {0};
        int rv = -ENOMEM;

        rg_alloc_fail_after(n);
        f = rg_fetcher_new(&loop);
        if (f != NULL)
            rv = rg_fetch_start(f, url(&s, "/index"), &o, on_done, &g, NULL);
        rg_alloc_fail_after(0);
        ck_assert_int_eq(g.calls, 0);
        if (rv == 0) {
            started++;
            uv_run(&loop, UV_RUN_DEFAULT);
            ck_assert_msg(g.calls == 1, "n %ld: %d calls", n, g.calls);
            ck_assert_int_eq(g.err, 0);
            ck_assert_str_eq(g.header, "42");
        } else {
            ck_assert_msg(rv == -ENOMEM, "n %ld: rv %d", n, rv);
            n_refused++;
        }
        rg_fetcher_close(f);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    ck_assert_int_gt(n_refused, 5);
    ck_assert_int_gt(started, 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    server_stop(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fetch");
    TCase *tc = tcase_create("fetch");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, ok_with_body);
    tcase_add_test(tc, not_found_is_a_status);
    tcase_add_test(tc, wanted_header);
    tcase_add_test(tc, request_headers_sent);
    tcase_add_test(tc, no_proxy_ignores_http_proxy);
    tcase_add_test(tc, body_cap);
    tcase_add_test(tc, timeout);
    tcase_add_test(tc, refused);
    tcase_add_test(tc, file_url);
    tcase_add_test(tc, refused_at_start);
    tcase_add_test(tc, redirects);
    tcase_add_test(tc, direct_no_redirect_no_proxy);
    tcase_add_test(tc, cancel_before_completion);
    tcase_add_test(tc, reentry_close_from_callback);
    tcase_add_test(tc, reentry_start_from_callback);
    tcase_add_test(tc, queued_then_cancelled_or_closed);
    tcase_add_test(tc, close_with_transfers_in_flight);
    tcase_add_test(tc, fifty_concurrent);
    tcase_add_test(tc, allocation_failures);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
