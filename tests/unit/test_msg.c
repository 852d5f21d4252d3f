/* Unit tests for http/msg.c, the llhttp glue every parser uses: the head
 * it collects, split reads versus obs-fold, the statuses its errors map
 * to, and the message events it hands on. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "http/msg.h"

struct ev {
    struct rg_head head;
    int begins, heads, dones;
    int begin_rv, body_rv;
    size_t body;
};

static int ev_begin(struct rg_msg *m)
{
    struct ev *e = m->data;

    e->begins++;
    rg_head_release(&e->head); /* each message its own head, as owners do */
    return e->begin_rv;
}

static int ev_head(struct rg_msg *m)
{
    ((struct ev *)m->data)->heads++;
    return 0;
}

static int ev_body(struct rg_msg *m, const char *at, size_t n)
{
    (void)at;
    ((struct ev *)m->data)->body += n;
    return ((struct ev *)m->data)->body_rv;
}

static int ev_done(struct rg_msg *m)
{
    ((struct ev *)m->data)->dones++;
    return 0;
}

static const struct rg_msg_ops ev_ops = {
    .begin = ev_begin, .head = ev_head, .body = ev_body, .done = ev_done,
};

static void setup(struct rg_msg *m, struct ev *e, enum rg_msg_kind kind,
                  uint32_t max)
{
    memset(e, 0, sizeof(*e));
    rg_head_init(&e->head, max);
    rg_msg_init(m, kind, &ev_ops, &e->head, e);
}

/* Feed @s in pieces of @step bytes (0: at once); llhttp's last answer. */
static llhttp_errno_t feed(struct rg_msg *m, const char *s, size_t step)
{
    size_t n = strlen(s), off = 0;
    llhttp_errno_t err = HPE_OK;

    while (off < n && err == HPE_OK) {
        size_t k = step && step < n - off ? step : n - off;

        err = rg_msg_feed(m, s + off, k);
        off += k;
    }
    return err;
}

static int value_is(const struct rg_head *h, const char *name, const char *v)
{
    const struct rg_field *f = rg_head_find(h, name);

    return f != NULL && f->value_len == strlen(v) &&
           memcmp(rg_field_value(h, f), v, f->value_len) == 0;
}

static const char get_req[] = "GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\n"
                              "X-Long: one two three\r\nX-Empty:\r\n"
                              "X-Blank: \t\r\nX-Last: z\r\n\r\n";

/* Byte-by-byte reads give the same head as one read: a value continued at
 * the start of the next input is not a fold. */
START_TEST(split_reads_same_head)
{
    for (size_t step = 0; step <= 7; step++) {
        struct rg_msg m;
        struct ev e;

        setup(&m, &e, RG_MSG_REQUEST, 1024);
        ck_assert_int_eq(feed(&m, get_req, step), HPE_OK);
        ck_assert_int_eq(e.begins, 1);
        ck_assert_int_eq(e.heads, 1);
        ck_assert_int_eq(e.dones, 1);
        ck_assert_uint_eq(e.head.url_len, 8);
        ck_assert(memcmp(rg_head_url(&e.head), "/a/b?x=1",
                         8) == 0);
        ck_assert_uint_eq(e.head.n_fields, 5);
        ck_assert(value_is(&e.head, "x-long", "one two three"));
        ck_assert(value_is(&e.head, "x-empty", ""));
        ck_assert(value_is(&e.head, "x-blank", ""));
        ck_assert(value_is(&e.head, "x-last", "z"));
        ck_assert(value_is(&e.head, "host", "h"));
        rg_head_release(&e.head);
    }
}
END_TEST

/* obs-fold is refused with 400, in a request and in a response, at once
 * or with reads split anywhere around the fold. */
START_TEST(obs_fold_refused)
{
    static const char *const folded[] = {
        "GET / HTTP/1.1\r\nHost: h\r\nX-F: a\r\n b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-F: a\r\n\tb\r\nContent-Length: 0\r\n\r\n",
        /* a fold of an empty first line: llhttp reads it as "X: b" */
        "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n"
        "\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX-F: \t\r\n b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-F:\r\n\tb\r\nContent-Length: 0\r\n\r\n",
    };

    for (int i = 0; i < 5; i++) {
        for (size_t step = 0; step <= 9; step++) {
            struct rg_msg m;
            struct ev e;

            setup(&m, &e, folded[i][0] == 'G' ? RG_MSG_REQUEST
                                              : RG_MSG_RESPONSE, 1024);
            ck_assert_int_ne(feed(&m, folded[i], step), HPE_OK);
            ck_assert_int_eq(e.heads, 0);
            ck_assert_int_eq(rg_msg_error_status(&m), 400);
            rg_head_release(&e.head);
        }
    }
}
END_TEST

/* Over the head's cap: the target is 414, a field 431, too many fields
 * 431, a failed allocation 503; begin's error stops the parse. */
START_TEST(errors_map_to_status)
{
    struct rg_msg m;
    struct ev e;
    char big[512];
    char many[RG_HEAD_MAX_FIELDS * 8 + 64];
    size_t n;

    setup(&m, &e, RG_MSG_REQUEST, 64);
    ck_assert_int_ne(feed(&m, "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                              "aaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n", 0),
                     HPE_OK);
    ck_assert_int_eq(rg_msg_error_status(&m), 414);
    rg_head_release(&e.head);

    setup(&m, &e, RG_MSG_REQUEST, 64);
    snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nX-Big: %0100d\r\n\r\n", 0);
    ck_assert_int_ne(feed(&m, big, 0), HPE_OK);
    ck_assert_int_eq(rg_msg_error_status(&m), 431);
    rg_head_release(&e.head);

    setup(&m, &e, RG_MSG_REQUEST, 1 << 16);
    n = (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= RG_HEAD_MAX_FIELDS; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "a: b\r\n");
    ck_assert_int_ne(feed(&m, many, 0), HPE_OK);
    ck_assert_int_eq(rg_msg_error_status(&m), 431);
    rg_head_release(&e.head);

    setup(&m, &e, RG_MSG_REQUEST, 1024);
    rg_alloc_fail_after(1);
    ck_assert_int_ne(feed(&m, get_req, 0), HPE_OK);
    rg_alloc_fail_after(0);
    ck_assert_int_eq(rg_msg_error_status(&m), 503);
    rg_head_release(&e.head);

    setup(&m, &e, RG_MSG_REQUEST, 1024);
    e.begin_rv = -ENOMEM;
    ck_assert_int_ne(feed(&m, get_req, 0), HPE_OK);
    ck_assert_int_eq(e.heads, 0);
    ck_assert_int_eq(rg_msg_error_status(&m), 503);
    rg_head_release(&e.head);

    setup(&m, &e, RG_MSG_REQUEST, 1024);
    ck_assert_int_ne(feed(&m, "GET / HTTP/1.1\r\nHo st: h\r\n\r\n", 0),
                     HPE_OK);
    ck_assert_int_eq(rg_msg_error_status(&m), 400);
    rg_head_release(&e.head);

    /* The body callback's codes: over its cap, out of memory, nowhere to
     * go, malformed. */
    {
        static const int codes[] = {RG_EBODY, -ENOMEM, RG_EUPSTREAM,
                                    RG_EPROTO};
        static const int want[] = {413, 503, 502, 400};

        for (size_t i = 0; i < 4; i++) {
            setup(&m, &e, RG_MSG_REQUEST, 1024);
            e.body_rv = codes[i];
            ck_assert_int_ne(feed(&m, "POST / HTTP/1.1\r\nHost: h\r\n"
                                      "Content-Length: 2\r\n\r\nab", 0),
                             HPE_OK);
            ck_assert_int_eq(rg_msg_error_status(&m), want[i]);
            rg_head_release(&e.head);
        }
    }

    /* An empty field name (found by fuzz_http), at once and split. */
    for (size_t step = 0; step <= 3; step++) {
        setup(&m, &e, RG_MSG_RESPONSE, 1024);
        ck_assert_int_ne(feed(&m, "HTTP/1.1 200 OK\r\n:\r\n\r\n", step),
                         HPE_OK);
        ck_assert_int_eq(e.heads, 0);
        rg_head_release(&e.head);
        setup(&m, &e, RG_MSG_REQUEST, 1024);
        ck_assert_int_ne(
            feed(&m, "GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", step),
            HPE_OK);
        ck_assert_int_eq(e.heads, 0);
        rg_head_release(&e.head);
    }
}
END_TEST

/* A response: the reason phrase takes the url span, a 1xx is a message of
 * its own, and a close-delimited body ends with rg_msg_finish. */
START_TEST(response_events)
{
    struct rg_msg m;
    struct ev e;

    setup(&m, &e, RG_MSG_RESPONSE, 1024);
    ck_assert_int_eq(feed(&m, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                              "HTTP/1.1 200 Fine\r\nX-A: 1\r\n\r\nbody", 3),
                     HPE_OK);
    ck_assert_int_eq(e.begins, 2);
    ck_assert_int_eq(e.heads, 2);
    ck_assert_int_eq(e.dones, 1);
    ck_assert_int_eq(m.p.status_code, 200);
    ck_assert_uint_eq(e.body, 4);
    ck_assert_int_eq(rg_msg_finish(&m), HPE_OK);
    ck_assert_int_eq(e.dones, 2);
    ck_assert_uint_eq(e.head.url_len, 4);
    ck_assert(memcmp(rg_head_url(&e.head), "Fine", 4) == 0);
    ck_assert(value_is(&e.head, "x-a", "1"));
    ck_assert_ptr_null(rg_head_find(&e.head, "link"));
    rg_head_release(&e.head);
}
END_TEST

static int pause_done(struct rg_msg *m)
{
    ((struct ev *)m->data)->dones++;
    return HPE_PAUSED;
}

/* A pause stops right after the message, resume goes on from there (the
 * pipelining the proxy's client side does). */
START_TEST(pause_and_resume)
{
    static const struct rg_msg_ops pause_ops = {.done = pause_done};
    static const char one[] = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n";
    struct rg_msg m;
    struct ev e;
    char two[2 * sizeof(one)];
    const char *pos;

    snprintf(two, sizeof(two), "%s%s", one, one);
    memset(&e, 0, sizeof(e));
    rg_head_init(&e.head, 1024);
    rg_msg_init(&m, RG_MSG_REQUEST, &pause_ops, &e.head, &e);
    ck_assert_int_eq(rg_msg_feed(&m, two, strlen(two)), HPE_PAUSED);
    pos = rg_msg_stop_pos(&m);
    ck_assert_ptr_eq(pos, two + strlen(one));
    ck_assert_int_eq(e.dones, 1);
    rg_msg_resume(&m);
    ck_assert_int_eq(rg_msg_feed(&m, pos, strlen(pos)), HPE_PAUSED);
    ck_assert_int_eq(e.dones, 2);
    rg_head_release(&e.head);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("msg");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int nf;

    tcase_add_test(tc, split_reads_same_head);
    tcase_add_test(tc, obs_fold_refused);
    tcase_add_test(tc, errors_map_to_status);
    tcase_add_test(tc, response_events);
    tcase_add_test(tc, pause_and_resume);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
