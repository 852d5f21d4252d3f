/* Unit tests for http/head.c: head storage as llhttp delivers it, and the
 * hop-by-hop rules a proxy applies when it rewrites headers. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "http/head.h"

static void add(struct rg_head *h, const char *name, const char *value)
{
    ck_assert_int_eq(rg_head_add_name(h, name, strlen(name)), 0);
    ck_assert_int_eq(rg_head_add_value(h, value, strlen(value)), 0);
    rg_head_end_value(h);
}

static int is_hop(const struct rg_head *h, const char *name)
{
    const struct rg_field *f = rg_head_find(h, name);

    ck_assert_ptr_nonnull(f);
    return f->hop;
}

/* Names and values split across spans (as across reads) are joined, and
 * trailing blanks of a value are trimmed. */
START_TEST(split_spans_join)
{
    struct rg_head h;
    const struct rg_field *f;

    rg_head_init(&h, 1024);
    ck_assert_int_eq(rg_head_add_url(&h, "/a", 2), 0);
    ck_assert_int_eq(rg_head_add_url(&h, "/b?x", 4), 0);
    ck_assert_int_eq(rg_head_add_name(&h, "X-Sp", 4), 0);
    ck_assert_int_eq(rg_head_add_name(&h, "lit", 3), 0);
    ck_assert_int_eq(rg_head_add_value(&h, "one ", 4), 0);
    ck_assert_int_eq(rg_head_add_value(&h, "two \t", 5), 0);
    rg_head_end_value(&h);
    add(&h, "Host", "example.com");
    ck_assert_int_eq(h.url_len, 6);
    ck_assert(memcmp(rg_head_url(&h), "/a/b?x", 6) == 0);
    f = rg_head_find(&h, "x-split");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->value_len, 7);
    ck_assert(memcmp(rg_field_value(&h, f), "one two", 7) == 0);
    ck_assert_ptr_nonnull(rg_head_find(&h, "HOST"));
    ck_assert_ptr_null(rg_head_find(&h, "hos"));
    rg_head_release(&h);
}
END_TEST

/* Spans inside the declared input are slices of it: nothing is copied,
 * a span going on in place stays a slice, and one cut by bytes from
 * elsewhere (a read into another buffer) is copied over whole. The cap
 * counts slices too. */
START_TEST(input_spans_are_slices)
{
    static const char in[] = "GET /a HTTP/1.1\r\nHost: ex\r\nX-Cut: ab";
    struct rg_head h;
    const struct rg_field *f;

    rg_head_init(&h, 64);
    rg_head_set_input(&h, in, sizeof(in) - 1);
    ck_assert_int_eq(rg_head_add_url(&h, in + 4, 1), 0);
    ck_assert_int_eq(rg_head_add_url(&h, in + 5, 1), 0); /* in place */
    ck_assert_int_eq(rg_head_add_name(&h, in + 17, 4), 0);
    ck_assert_int_eq(rg_head_add_value(&h, in + 23, 2), 0);
    rg_head_end_value(&h);
    ck_assert_int_eq(rg_head_add_name(&h, in + 27, 5), 0);
    ck_assert_int_eq(rg_head_add_value(&h, in + 34, 2), 0);
    ck_assert_uint_eq(h.len, 0); /* no copy so far */
    ck_assert_ptr_eq(rg_head_url(&h), in + 4);
    ck_assert_int_eq(h.url_len, 2);
    f = rg_head_find(&h, "host");
    ck_assert_ptr_nonnull(f);
    ck_assert(f->name_in && f->value_in);
    ck_assert_ptr_eq(rg_field_value(&h, f), in + 23);
    /* The value goes on in bytes read elsewhere: copied over, joined. */
    ck_assert_int_eq(rg_head_add_value(&h, "cd", 2), 0);
    rg_head_end_value(&h);
    f = rg_head_find(&h, "x-cut");
    ck_assert_ptr_nonnull(f);
    ck_assert(f->name_in && !f->value_in);
    ck_assert_int_eq(f->value_len, 4);
    ck_assert(memcmp(rg_field_value(&h, f), "abcd", 4) == 0);
    ck_assert_uint_eq(h.len, 4);
    ck_assert_uint_eq(h.used, 2 + 4 + 2 + 5 + 4);
    /* A slice not continuing in place is copied too. */
    ck_assert_int_eq(rg_head_add_name(&h, in + 17, 2), 0);
    ck_assert_int_eq(rg_head_add_name(&h, in + 20, 1), 0);
    f = &h.fields[h.n_fields - 1];
    ck_assert(!f->name_in);
    ck_assert(memcmp(rg_field_name(&h, f), "Hot", 3) == 0);
    /* Slices count against the cap: 20 of 64 bytes are used, so a
     * 36-byte span fits (copied: it does not go on in place); then, on
     * an emptied head, 45 bytes of slices and 20 more do not. */
    ck_assert_uint_eq(h.used, 20);
    ck_assert_int_eq(rg_head_add_name(&h, in, sizeof(in) - 1), 0);
    ck_assert(h.fields[h.n_fields - 1].name_in == 0); /* not in place */
    rg_head_clear(&h, 4096);
    rg_head_set_input(&h, in, sizeof(in) - 1);
    ck_assert_int_eq(rg_head_add_url(&h, in, 30), 0);
    ck_assert(h.url_in && h.len == 0);
    ck_assert_int_eq(rg_head_add_name(&h, in + 30, 6), 0);
    ck_assert_int_eq(rg_head_add_value(&h, in + 27, 9), 0);
    ck_assert_uint_eq(h.len, 0); /* all slices so far */
    ck_assert_int_eq(rg_head_add_name(&h, in, 20), -E2BIG);
    /* Cleared, the head forgets the input. */
    rg_head_clear(&h, 4096);
    ck_assert_ptr_null(h.in);
    ck_assert_uint_eq(h.used, 0);
    ck_assert_str_eq(rg_head_url(&h), "");
    rg_head_release(&h);
}
END_TEST

/* The head's byte cap is enforced and leaves the head usable. */
START_TEST(cap_enforced)
{
    struct rg_head h;
    char big[300];

    memset(big, 'a', sizeof(big));
    rg_head_init(&h, 256);
    ck_assert_int_eq(rg_head_add_url(&h, big, 200), 0);
    ck_assert_int_eq(rg_head_add_name(&h, big, 100), -E2BIG);
    rg_head_release(&h);
}
END_TEST

/* More than RG_HEAD_MAX_FIELDS fields is refused (431 upstream of it). */
START_TEST(field_count_capped)
{
    struct rg_head h;
    int rv = 0;

    rg_head_init(&h, 1 << 20);
    for (int i = 0; i <= RG_HEAD_MAX_FIELDS && rv == 0; i++) {
        rv = rg_head_add_name(&h, "a", 1);
        if (rv == 0)
            rv = rg_head_add_value(&h, "b", 1);
    }
    ck_assert_int_eq(rv, -E2BIG);
    ck_assert_int_eq(h.n_fields, RG_HEAD_MAX_FIELDS);
    rg_head_release(&h);
}
END_TEST

/* CR or LF inside a value (obs-fold, header injection) is refused. */
START_TEST(crlf_in_value_refused)
{
    struct rg_head h;

    rg_head_init(&h, 1024);
    ck_assert_int_eq(rg_head_add_name(&h, "X", 1), 0);
    ck_assert_int_eq(rg_head_add_value(&h, "a\r\n b", 5), -EINVAL);
    ck_assert_int_eq(rg_head_add_value(&h, "a\nb", 3), -EINVAL);
    rg_head_release(&h);
}
END_TEST

/* RFC 9110 §7.6.1: the fixed hop-by-hop set and every field named in
 * Connection are marked; end-to-end fields are not. */
START_TEST(hop_by_hop_marked)
{
    struct rg_head h;
    int cc, cu;

    rg_head_init(&h, 4096);
    add(&h, "Connection", "keep-alive, X-Secret , Upgrade");
    add(&h, "Keep-Alive", "timeout=5");
    add(&h, "X-Secret", "1");
    add(&h, "TE", "trailers");
    add(&h, "Transfer-Encoding", "chunked");
    add(&h, "Proxy-Connection", "keep-alive");
    add(&h, "Trailer", "X");
    add(&h, "Upgrade", "websocket");
    add(&h, "X-Kept", "1");
    add(&h, "Authorization", "Bearer x");
    rg_head_mark_hop(&h, &cc, &cu);
    ck_assert_int_eq(cc, 0);
    ck_assert_int_eq(cu, 1);
    ck_assert(is_hop(&h, "connection"));
    ck_assert(is_hop(&h, "keep-alive"));
    ck_assert(is_hop(&h, "x-secret"));
    ck_assert(is_hop(&h, "te"));
    ck_assert(is_hop(&h, "transfer-encoding"));
    ck_assert(is_hop(&h, "proxy-connection"));
    ck_assert(is_hop(&h, "trailer"));
    ck_assert(is_hop(&h, "upgrade"));
    ck_assert(!is_hop(&h, "x-kept"));
    ck_assert(!is_hop(&h, "authorization"));
    rg_head_release(&h);
}
END_TEST

/* Connection: close is seen case-insensitively among other tokens. */
START_TEST(connection_close_seen)
{
    struct rg_head h;
    int cc, cu;

    rg_head_init(&h, 1024);
    add(&h, "connection", "foo,CLOSE");
    rg_head_mark_hop(&h, &cc, &cu);
    ck_assert_int_eq(cc, 1);
    ck_assert_int_eq(cu, 0);
    rg_head_release(&h);
}
END_TEST

START_TEST(token_lists)
{
    ck_assert(rg_token_list_has("a, b ,c", 7, "b"));
    ck_assert(rg_token_list_has("a,,  C", 6, "c"));
    ck_assert(!rg_token_list_has("ab, c", 5, "a"));
    ck_assert(!rg_token_list_has("", 0, "a"));
    ck_assert(!rg_token_list_has("close-ish", 9, "close"));
}
END_TEST

/* Allocation failure on any step returns -ENOMEM and never crashes. */
START_TEST(alloc_failure)
{
    for (long n = 1; n <= 4; n++) {
        struct rg_head h;
        int rv;

        rg_head_init(&h, 1024);
        rg_alloc_fail_after(n);
        rv = rg_head_add_url(&h, "/x", 2);
        if (rv == 0)
            rv = rg_head_add_name(&h, "a", 1);
        if (rv == 0)
            rv = rg_head_add_value(&h, "b", 1);
        rg_alloc_fail_after(0);
        ck_assert(rv == 0 || rv == -ENOMEM);
        rg_head_release(&h);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("head");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int nf;

    tcase_add_test(tc, split_spans_join);
    tcase_add_test(tc, input_spans_are_slices);
    tcase_add_test(tc, cap_enforced);
    tcase_add_test(tc, field_count_capped);
    tcase_add_test(tc, crlf_in_value_refused);
    tcase_add_test(tc, hop_by_hop_marked);
    tcase_add_test(tc, connection_close_seen);
    tcase_add_test(tc, token_lists);
    tcase_add_test(tc, alloc_failure);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
