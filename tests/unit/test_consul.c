/* Unit tests for Consul's name parser and answer decoder
 * (src/upstream/consul_name.c): the four DNS forms, the domain, what is
 * not a Consul name, malformed labels; the decoder's Service.Address /
 * Node.Address rule, ports, skipped entries, sorting and duplicates, caps,
 * and what is not an answer; the index and backoff rules; and one watch's
 * contract against a canned agent in a thread (-EAGAIN, then @changed,
 * then the instances; the query's URL and token; a dead agent; the
 * sweep). The watches' behaviour over time is driven through the real
 * binary in tests/integration/test_consul.py. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "upstream/consul.h"

static struct rg_consul_name nm;

static int parse(const char *host, const char *domain)
{
    return rg_consul_name_parse(host, domain, &nm);
}

/* NAME.service.consul and its three other forms. */
START_TEST(name_forms)
{
    ck_assert_int_eq(parse("web.service.consul", NULL), 1);
    ck_assert_str_eq(nm.service, "web");
    ck_assert_str_eq(nm.tag, "");
    ck_assert_str_eq(nm.dc, "");
    ck_assert_int_eq(parse("v2.web.service.consul", NULL), 1);
    ck_assert_str_eq(nm.service, "web");
    ck_assert_str_eq(nm.tag, "v2");
    ck_assert_str_eq(nm.dc, "");
    ck_assert_int_eq(parse("web.service.dc1.consul", NULL), 1);
    ck_assert_str_eq(nm.service, "web");
    ck_assert_str_eq(nm.tag, "");
    ck_assert_str_eq(nm.dc, "dc1");
    ck_assert_int_eq(parse("v2.web.service.dc-2.consul", NULL), 1);
    ck_assert_str_eq(nm.service, "web");
    ck_assert_str_eq(nm.tag, "v2");
    ck_assert_str_eq(nm.dc, "dc-2");
    /* Case-insensitive keywords, a trailing dot, underscores. */
    ck_assert_int_eq(parse("My_Svc.SERVICE.Consul.", NULL), 1);
    ck_assert_str_eq(nm.service, "My_Svc");
}
END_TEST

/* Another domain, with dots; the default one is then not Consul's. */
START_TEST(name_domain)
{
    ck_assert_int_eq(parse("web.service.sd.example", "sd.example"), 1);
    ck_assert_str_eq(nm.service, "web");
    ck_assert_int_eq(parse("v1.web.service.east.sd.example", "sd.example"), 1);
    ck_assert_str_eq(nm.tag, "v1");
    ck_assert_str_eq(nm.dc, "east");
    ck_assert_int_eq(parse("web.service.consul", "sd.example"), 0);
}
END_TEST

/* Names that are not Consul's go to DNS. */
START_TEST(name_not_consul)
{
    static const char *const not [] = {
        "example.com",
        "consul",
        "service.consul",
        "web.consul",
        "web.node.consul",
        "web.service.consul.example.com",
        "127.0.0.1",
        "::1",
        "a.b.c.d.consul",
        "webservice.consul",
        "",
    };

    for (size_t i = 0; i < sizeof(not ) / sizeof(not [0]); i++)
        ck_assert_msg(parse(not [i], NULL) == 0, "%s", not [i]);
}
END_TEST

/* A Consul form with a bad label is an error, not a DNS name. */
START_TEST(name_malformed)
{
    char long_label[80];

    ck_assert_int_eq(parse(".service.consul", NULL), -EINVAL);
    ck_assert_int_eq(parse("w%20b.service.consul", NULL), -EINVAL);
    ck_assert_int_eq(parse("w/b.service.consul", NULL), -EINVAL);
    ck_assert_int_eq(parse("..web.service.consul", NULL), -EINVAL);
    ck_assert_int_eq(parse("web.service..consul", NULL), -EINVAL);
    ck_assert_int_eq(parse("a.b.c.service.dc.consul", NULL), -EINVAL);
    memset(long_label, 'x', 64);
    strcpy(long_label + 64, ".service.consul");
    ck_assert_int_eq(parse(long_label, NULL), -EINVAL);
    long_label[1] = '.'; /* "x." + 62 x: both labels fit */
    ck_assert_int_eq(parse(long_label, NULL), 1);
    ck_assert_int_eq(rg_consul_name_parse("web.service.consul", NULL, NULL), 1);
}
END_TEST

static struct sockaddr_storage out[RG_CONSUL_MAX_INSTANCES];
static size_t n, skipped;

static int decode(const char *json, size_t max)
{
    return rg_consul_decode(json, strlen(json), out, max, &n, &skipped);
}

/* "ip:port" of out[i]. */
static const char *at(size_t i)
{
    static char s[64];
    char ip[INET6_ADDRSTRLEN];

    if (out[i].ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&out[i];

        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        snprintf(s, sizeof(s), "%s:%u", ip, ntohs(a->sin_port));
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out[i];

        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        snprintf(s, sizeof(s), "[%s]:%u", ip, ntohs(a->sin6_port));
    }
    return s;
}

/* Service.Address, else Node.Address; each with Service.Port; sorted. */
START_TEST(decode_addresses)
{
    ck_assert_int_eq(
        decode("[{\"Node\":{\"Address\":\"10.0.0.9\"},"
               "\"Service\":{\"Address\":\"10.0.0.2\",\"Port\":8080}},"
               "{\"Node\":{\"Address\":\"10.0.0.1\"},"
               "\"Service\":{\"Address\":\"\",\"Port\":81},\"Checks\":[]},"
               "{\"Node\":{\"Address\":\"10.0.0.3\"},"
               "\"Service\":{\"Port\":82}},"
               "{\"Service\":{\"Address\":\"::1\",\"Port\":83}}]",
               RG_CONSUL_MAX_INSTANCES),
        0);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(skipped, 0);
    ck_assert_str_eq(at(0), "10.0.0.1:81");
    ck_assert_str_eq(at(1), "10.0.0.2:8080");
    ck_assert_str_eq(at(2), "10.0.0.3:82");
    ck_assert_str_eq(at(3), "[::1]:83");
}
END_TEST

/* No instance passing: an empty list is an answer, not an error. */
START_TEST(decode_empty)
{
    ck_assert_int_eq(decode(" [ ] ", 4), 0);
    ck_assert_uint_eq(n, 0);
}
END_TEST

/* Entries without a usable address or port are skipped and counted;
 * duplicates are one instance; past @max, skipped. */
START_TEST(decode_skips)
{
    ck_assert_int_eq(
        decode("[{\"Service\":{\"Address\":\"web.internal\",\"Port\":80}},"
               "{\"Service\":{\"Address\":\"10.0.0.1\",\"Port\":0}},"
               "{\"Service\":{\"Address\":\"10.0.0.1\",\"Port\":65536}},"
               "{\"Service\":{\"Address\":\"10.0.0.1\",\"Port\":\"80\"}},"
               "{\"Service\":{\"Address\":\"10.0.0.1\"}},"
               "{\"Node\":{},\"Service\":{\"Port\":80}},"
               "{\"Service\":{\"Address\":\"10.0.0.1\",\"Port\":80}},"
               "{\"Service\":{\"Address\":\"10.0.0.1\",\"Port\":80}}]",
               RG_CONSUL_MAX_INSTANCES),
        0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(skipped, 6);
    ck_assert_str_eq(at(0), "10.0.0.1:80");
    ck_assert_int_eq(
        decode("[{\"Service\":{\"Address\":\"10.0.0.3\",\"Port\":1}},"
               "{\"Service\":{\"Address\":\"10.0.0.2\",\"Port\":1}},"
               "{\"Service\":{\"Address\":\"10.0.0.1\",\"Port\":1}}]",
               2),
        0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(skipped, 1);
}
END_TEST

/* Not an answer: not JSON, not an array, an array of non-objects. */
START_TEST(decode_not_an_answer)
{
    ck_assert_int_eq(decode("", 4), -EINVAL);
    ck_assert_int_eq(decode("ACL not found", 4), -EINVAL);
    ck_assert_int_eq(decode("{\"Service\":{}}", 4), -EINVAL);
    ck_assert_int_eq(decode("[1]", 4), -EINVAL);
    ck_assert_int_eq(decode("[{}, \"x\"]", 4), -EINVAL);
    ck_assert_int_eq(decode("[{\"Service\":{\"Address\":\"10.0.0.1\","
                            "\"Port\":80}}",
                            4),
                     -EINVAL);
    ck_assert_uint_eq(n, 0);
}
END_TEST

/* Consul's index rules: a number not below the last one is kept; going
 * backwards, missing, or not a number starts over at 0. */
START_TEST(index_rules)
{
    ck_assert_uint_eq(rg_consul__next_index("42", 0), 42);
    ck_assert_uint_eq(rg_consul__next_index("42", 42), 42);
    ck_assert_uint_eq(rg_consul__next_index("43", 42), 43);
    ck_assert_uint_eq(rg_consul__next_index("41", 42), 0);
    ck_assert_uint_eq(rg_consul__next_index(NULL, 42), 0);
    ck_assert_uint_eq(rg_consul__next_index("", 42), 0);
    ck_assert_uint_eq(rg_consul__next_index("-1", 0), 0);
    ck_assert_uint_eq(rg_consul__next_index("12x", 0), 0);
    ck_assert_uint_eq(rg_consul__next_index("99999999999999999999", 0), 0);
    ck_assert_uint_eq(rg_consul__next_index("18446744073709551615", 1),
                      UINT64_MAX);
}
END_TEST

/* Backoff: 1 s, 2 s, 4 s... capped at 30 s, each between half and all of
 * it whatever the random input. */
START_TEST(backoff_doubles_with_jitter)
{
    static const uint32_t full[] = {0,    1000,  2000,  4000,
                                    8000, 16000, 30000, 30000};
    static const uint64_t rs[] = {0, 1, 499, 500, 501, 12345, UINT64_MAX};

    for (unsigned f = 1; f < 8; f++) {
        for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++) {
            uint32_t d = rg_consul__backoff_ms(f, rs[i]);

            ck_assert_uint_ge(d, full[f] / 2);
            ck_assert_uint_le(d, full[f]);
        }
        ck_assert_uint_eq(rg_consul__backoff_ms(f, 0), full[f] / 2);
        ck_assert_uint_eq(rg_consul__backoff_ms(f, full[f] / 2), full[f]);
    }
    ck_assert_uint_eq(rg_consul__backoff_ms(1000, 0), 15000);
}
END_TEST

/* ---- one watch against a canned agent ---- */

struct agent {
    int lfd, stop[2], port;
    pthread_t thread;
    pthread_mutex_t mu;
    char first[2048];    /* the first request's head */
    int held[8], n_held; /* blocking queries, never answered */
};

static const char answer[] =
    "[{\"Node\":{\"Address\":\"10.1.0.1\"},"
    "\"Service\":{\"Address\":\"\",\"Port\":8080}},"
    "{\"Node\":{\"Address\":\"10.1.0.9\"},"
    "\"Service\":{\"Address\":\"10.1.0.2\",\"Port\":8081}}]";

static void agent_answer(struct agent *a, int fd)
{
    char req[2048], head[256];
    ssize_t r = recv(fd, req, sizeof(req) - 1, 0);
    int hl;

    req[r > 0 ? r : 0] = '\0';
    pthread_mutex_lock(&a->mu);
    if (a->first[0] == '\0')
        snprintf(a->first, sizeof(a->first), "%s", req);
    if (strstr(req, "index=7") != NULL && a->n_held < 8) {
        a->held[a->n_held++] = fd; /* blocks: nothing changes */
        pthread_mutex_unlock(&a->mu);
        return;
    }
    pthread_mutex_unlock(&a->mu);
    hl = snprintf(head, sizeof(head),
                  "HTTP/1.1 200 OK\r\nConnection: close\r\n"
                  "X-Consul-Index: 7\r\nContent-Length: %zu\r\n\r\n",
                  strlen(answer));
    (void)!send(fd, head, (size_t)hl, MSG_NOSIGNAL);
    (void)!send(fd, answer, strlen(answer), MSG_NOSIGNAL);
    close(fd);
}

static void *agent_run(void *arg)
{
    struct agent *a = arg;
    struct pollfd p[2] = {{a->lfd, POLLIN, 0}, {a->stop[0], POLLIN, 0}};

    while (poll(p, 2, -1) >= 0 && !(p[1].revents & POLLIN)) {
        int fd = accept(a->lfd, NULL, NULL);

        if (fd >= 0)
            agent_answer(a, fd);
    }
    for (int i = 0; i < a->n_held; i++)
        close(a->held[i]);
    return NULL;
}

static int listen_any(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void agent_start(struct agent *a)
{
    memset(a, 0, sizeof(*a));
    pthread_mutex_init(&a->mu, NULL);
    a->lfd = listen_any(&a->port);
    ck_assert_int_eq(listen(a->lfd, 16), 0);
    ck_assert_int_eq(pipe(a->stop), 0);
    ck_assert_int_eq(pthread_create(&a->thread, NULL, agent_run, a), 0);
}

static void agent_stop(struct agent *a)
{
    ck_assert_int_eq(write(a->stop[1], "x", 1), 1);
    pthread_join(a->thread, NULL);
    close(a->lfd);
    close(a->stop[0]);
    close(a->stop[1]);
}

static int changes;

static void on_changed(void *arg)
{
    changes++;
}

static void on_tick(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* Run @loop until @changes reaches @want or 5 s pass. */
static void run_until(uv_loop_t *loop, int want)
{
    uv_timer_t t;

    uv_timer_init(loop, &t);
    for (int i = 0; i < 500 && changes < want; i++) {
        uv_timer_start(&t, on_tick, 10, 0);
        uv_run(loop, UV_RUN_DEFAULT);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static void close_all(uv_loop_t *loop, struct rg_consul *c)
{
    rg_consul_close(c);
    uv_run(loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(loop), 0);
}

/* A new name: -EAGAIN, one @changed when the answer came, then its
 * instances (each with its own port, sorted); the query asked for
 * passing instances with the tag, the configured dc and wait, and the
 * token; the next query blocks on the returned index. */
START_TEST(watch_first_answer)
{
    struct rg_consul_conf cf = {
        .token = "s3cret", .datacenter = "east", .wait_ms = 2000};
    struct agent a;
    uv_loop_t loop;
    struct rg_consul *c;
    char addr[64];
    json_t *st, *w;

    agent_start(&a);
    snprintf(addr, sizeof(addr), "http://127.0.0.1:%d/", a.port);
    cf.address = addr;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    changes = 0;
    c = rg_consul_new(&loop, &cf, on_changed, NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(rg_consul_get(c, "example.com", out, 4, &n), 1);
    ck_assert_int_eq(rg_consul_get(c, "v2.web.service.consul", out, 4, &n),
                     -EAGAIN);
    ck_assert_int_eq(changes, 0); /* never from inside get */
    run_until(&loop, 1);
    ck_assert_int_eq(changes, 1);
    ck_assert_int_eq(rg_consul_get(c, "v2.web.service.consul", out, 4, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(at(0), "10.1.0.1:8080");
    ck_assert_str_eq(at(1), "10.1.0.2:8081");
    pthread_mutex_lock(&a.mu);
    ck_assert_msg(strstr(a.first, "GET /v1/health/service/web?passing=1&"
                                  "index=0&wait=2s&tag=v2&dc=east "
                                  "HTTP/1.1\r\n") == a.first,
                  "%s", a.first);
    ck_assert(strstr(a.first, "\r\nX-Consul-Token: s3cret\r\n") != NULL);
    pthread_mutex_unlock(&a.mu);
    st = rg_consul_status(c);
    w = json_array_get(json_object_get(st, "watches"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(w, "state")), "ok");
    ck_assert_int_eq(json_integer_value(json_object_get(w, "index")), 7);
    ck_assert_int_eq(json_integer_value(json_object_get(w, "instances")), 2);
    ck_assert(json_is_null(json_object_get(w, "last_error")));
    json_decref(st);
    close_all(&loop, c);
    agent_stop(&a);
}
END_TEST

/* A dead agent: the first failure ends the wait (@changed), the name has
 * no address (0, n 0) and /status says "never" with the error. */
START_TEST(watch_dead_agent)
{
    struct rg_consul_conf cf = {0};
    uv_loop_t loop;
    struct rg_consul *c;
    char addr[64];
    int port, dead = listen_any(&port); /* bound, never listening */
    json_t *st, *w;

    snprintf(addr, sizeof(addr), "http://127.0.0.1:%d", port);
    cf.address = addr;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    changes = 0;
    c = rg_consul_new(&loop, &cf, on_changed, NULL);
    ck_assert_int_eq(rg_consul_get(c, "web.service.consul", out, 4, &n),
                     -EAGAIN);
    run_until(&loop, 1);
    ck_assert_int_eq(changes, 1);
    n = 9;
    ck_assert_int_eq(rg_consul_get(c, "web.service.consul", out, 4, &n), 0);
    ck_assert_uint_eq(n, 0);
    st = rg_consul_status(c);
    w = json_array_get(json_object_get(st, "watches"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(w, "state")), "never");
    ck_assert_ptr_nonnull(json_string_value(json_object_get(w, "last_error")));
    json_decref(st);
    close_all(&loop, c);
    close(dead);
}
END_TEST

/* A sweep keeps the names asked for since the last one and stops the
 * others. */
START_TEST(watch_sweep)
{
    struct rg_consul_conf cf = {.address = "http://127.0.0.1:9"};
    uv_loop_t loop;
    struct rg_consul *c;
    json_t *st;

    ck_assert_int_eq(uv_loop_init(&loop), 0);
    c = rg_consul_new(&loop, &cf, on_changed, NULL);
    ck_assert_int_eq(rg_consul_get(c, "a.service.consul", out, 4, &n), -EAGAIN);
    ck_assert_int_eq(rg_consul_get(c, "b.service.consul", out, 4, &n), -EAGAIN);
    rg_consul_sweep(c); /* both asked for: kept */
    ck_assert_int_ne(rg_consul_get(c, "a.service.consul", out, 4, &n), 1);
    rg_consul_sweep(c); /* b not asked for since: stopped */
    st = rg_consul_status(c);
    ck_assert_uint_eq(json_array_size(json_object_get(st, "watches")), 1);
    ck_assert_str_eq(
        json_string_value(json_object_get(
            json_array_get(json_object_get(st, "watches"), 0), "name")),
        "a.service.consul");
    json_decref(st);
    close_all(&loop, c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("consul");
    TCase *tc = tcase_create("consul");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, name_forms);
    tcase_add_test(tc, name_domain);
    tcase_add_test(tc, name_not_consul);
    tcase_add_test(tc, name_malformed);
    tcase_add_test(tc, decode_addresses);
    tcase_add_test(tc, decode_empty);
    tcase_add_test(tc, decode_skips);
    tcase_add_test(tc, decode_not_an_answer);
    tcase_add_test(tc, index_rules);
    tcase_add_test(tc, backoff_doubles_with_jitter);
    tcase_add_test(tc, watch_first_answer);
    tcase_add_test(tc, watch_dead_agent);
    tcase_add_test(tc, watch_sweep);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
