/* The replicated command codec (raft/codec.h): the byte layout, the
 * 8-byte padding every Raft entry needs (docs/raft.md §4.2), the limits, and a
 * decoder that refuses anything malformed without reading past the end. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "raft/codec.h"

#define HEAD 24 /* magic, version, n_cmds, term, ts_ms */
#define CMDH 20 /* fixed part of a command */

static struct rg_cmd cmd(uint8_t type, uint8_t kind, uint64_t if_rev,
                         const char *rid, const char *key, const char *body)
{
    struct rg_cmd c;

    memset(&c, 0, sizeof(c));
    c.type = type;
    c.kind = kind;
    c.if_rev = if_rev;
    c.rid = rid;
    c.rid_len = rid ? (uint16_t)strlen(rid) : 0;
    c.key = key;
    c.key_len = key ? (uint16_t)strlen(key) : 0;
    c.body = body;
    c.body_len = body ? (uint32_t)strlen(body) : 0;
    return c;
}

/* Encode into a fresh malloc'd buffer of exactly rg_codec_size bytes. */
static unsigned char *enc(const struct rg_cmd *c, unsigned n, uint64_t term,
                          uint64_t ts, size_t *len)
{
    size_t sz = rg_codec_size(c, n);
    unsigned char *b;
    long rv;

    ck_assert_uint_gt(sz, 0);
    b = malloc(sz);
    ck_assert_ptr_nonnull(b);
    memset(b, 0xAA, sz); /* the encoder must write every byte */
    rv = rg_codec_encode(c, n, term, ts, b, sz);
    ck_assert_int_eq(rv, (long)sz);
    *len = sz;
    return b;
}

static void same_cmd(const struct rg_cmd *a, const struct rg_cmd *b)
{
    ck_assert_uint_eq(a->type, b->type);
    ck_assert_uint_eq(a->kind, b->kind);
    ck_assert_uint_eq(a->if_rev, b->if_rev);
    ck_assert_uint_eq(a->rid_len, b->rid_len);
    ck_assert_uint_eq(a->key_len, b->key_len);
    ck_assert_uint_eq(a->body_len, b->body_len);
    ck_assert(a->rid_len == 0 || memcmp(a->rid, b->rid, a->rid_len) == 0);
    ck_assert(a->key_len == 0 || memcmp(a->key, b->key, a->key_len) == 0);
    ck_assert(a->body_len == 0 || memcmp(a->body, b->body, a->body_len) == 0);
}

/* Commands come back field for field, with term and clock. */
START_TEST(roundtrip_fields)
{
    struct rg_cmd c[4] = {
        cmd(RG_CMD_PUT, RG_KIND_SERVICE, 7, "req-1", "svc-a",
            "{\"host\":\"x\"}"),
        cmd(RG_CMD_DELETE, RG_KIND_ROUTE, UINT64_MAX, "req-2", "r", NULL),
        cmd(RG_CMD_REPLACE_ALL, RG_KIND_NONE, 0, NULL, NULL, "{}"),
        cmd(RG_CMD_NODE_SET, RG_KIND_NONE, 0, "n", "3", "{\"name\":\"n3\"}"),
    };
    struct rg_entry e;
    unsigned char *b;
    size_t len;
    unsigned i;

    b = enc(c, 4, 42, 1700000000123ULL, &len);
    ck_assert_int_eq(rg_codec_decode(b, len, &e), 0);
    ck_assert_uint_eq(e.version, RG_CODEC_VERSION);
    ck_assert_uint_eq(e.term, 42);
    ck_assert_uint_eq(e.ts_ms, 1700000000123ULL);
    ck_assert_uint_eq(e.n_cmds, 4);
    for (i = 0; i < 4; i++)
        same_cmd(&c[i], &e.cmds[i]);
    /* Decoded strings point into the buffer (borrowed, not copied). */
    ck_assert(e.cmds[0].rid >= (const char *)b &&
              e.cmds[0].rid < (const char *)b + len);
    rg_entry_release(&e);
    ck_assert_ptr_null(e.cmds);
    free(b);
}
END_TEST

/* The layout is little-endian, byte for byte as codec.h draws it. */
START_TEST(layout_little_endian)
{
    struct rg_cmd c =
        cmd(RG_CMD_PUT, RG_KIND_ROUTE, 0x1122334455667788ULL, "ab", "k", "{}");
    /* clang-format off */
    static const unsigned char want[] = {
        'R', 'G', 'C', '1', 1, 0, 1, 0,                 /* ver 1, 1 cmd */
        8, 7, 6, 5, 4, 3, 2, 1,                         /* term */
        0x10, 0x0f, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a, 9,    /* ts_ms */
        RG_CMD_PUT, RG_KIND_ROUTE, 0, 0,                /* type kind rsv */
        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* if_rev */
        2, 0, 1, 0, 2, 0, 0, 0,                         /* rid key body */
        'a', 'b', 'k', '{', '}', 0, 0, 0, 0, 0, 0, 0,   /* + padding */
    };
    /* clang-format on */
    unsigned char *b;
    size_t len;

    b = enc(&c, 1, 0x0102030405060708ULL, 0x090a0b0c0d0e0f10ULL, &len);
    ck_assert_uint_eq(len, sizeof(want));
    ck_assert_mem_eq(b, want, sizeof(want));
    free(b);
}
END_TEST

/* Every size from 0 to 3 * 8 extra bytes pads to a multiple of 8 with
 * zeros, and decodes again. */
START_TEST(padding_always_multiple_of_8)
{
    char body[64], rid[RG_CODEC_MAX_RID + 1];
    unsigned n, r;

    memset(body, 'b', sizeof(body));
    memset(rid, 'r', sizeof(rid));
    for (n = 0; n < 40; n++) {
        for (r = 0; r <= 9; r++) {
            struct rg_cmd c =
                cmd(RG_CMD_PUT, RG_KIND_PLUGIN, 0, NULL, "k", NULL);
            size_t len, used = HEAD + CMDH + r + 1 + n, i;
            struct rg_entry e;
            unsigned char *b;

            c.rid = rid;
            c.rid_len = (uint16_t)r;
            c.body = body;
            c.body_len = n;
            b = enc(&c, 1, 1, 1, &len);
            ck_assert_uint_eq(len % 8, 0);
            ck_assert_uint_eq(len, (used + 7) / 8 * 8);
            for (i = used; i < len; i++)
                ck_assert_uint_eq(b[i], 0);
            ck_assert_int_eq(rg_codec_decode(b, len, &e), 0);
            same_cmd(&c, &e.cmds[0]);
            rg_entry_release(&e);
            free(b);
        }
    }
}
END_TEST

/* The largest request id, key and body and the largest batch encode and
 * decode; one byte or one command more is refused by both sides. */
START_TEST(limits)
{
    static char rid[RG_CODEC_MAX_RID + 1], key[RG_CODEC_MAX_KEY + 1];
    char *body = malloc(RG_CODEC_MAX_BODY + 1);
    struct rg_cmd c = cmd(RG_CMD_PUT, RG_KIND_SERVICE, 1, NULL, NULL, NULL);
    struct rg_cmd *many = calloc(RG_CODEC_MAX_CMDS + 1, sizeof(*many));
    unsigned char buf[64];
    struct rg_entry e;
    unsigned char *b;
    size_t len;
    unsigned i;

    ck_assert(body != NULL && many != NULL);
    memset(rid, 'r', sizeof(rid));
    memset(key, 'k', sizeof(key));
    memset(body, 'b', RG_CODEC_MAX_BODY + 1);
    c.rid = rid;
    c.rid_len = RG_CODEC_MAX_RID;
    c.key = key;
    c.key_len = RG_CODEC_MAX_KEY;
    c.body = body;
    c.body_len = RG_CODEC_MAX_BODY;
    b = enc(&c, 1, 1, 1, &len);
    ck_assert_int_eq(rg_codec_decode(b, len, &e), 0);
    same_cmd(&c, &e.cmds[0]);
    rg_entry_release(&e);
    free(b);

    c.rid_len++;
    ck_assert_uint_eq(rg_codec_size(&c, 1), 0);
    ck_assert_int_eq(rg_codec_encode(&c, 1, 1, 1, buf, sizeof(buf)), -EINVAL);
    c.rid_len--;
    c.key_len++;
    ck_assert_uint_eq(rg_codec_size(&c, 1), 0);
    c.key_len--;
    c.body_len++;
    ck_assert_uint_eq(rg_codec_size(&c, 1), 0);
    free(body);

    for (i = 0; i <= RG_CODEC_MAX_CMDS; i++)
        many[i] = cmd(RG_CMD_NODE_DEL, 0, 0, NULL, "1", NULL);
    b = enc(many, RG_CODEC_MAX_CMDS, 1, 1, &len);
    ck_assert_int_eq(rg_codec_decode(b, len, &e), 0);
    ck_assert_uint_eq(e.n_cmds, RG_CODEC_MAX_CMDS);
    rg_entry_release(&e);
    free(b);
    ck_assert_uint_eq(rg_codec_size(many, RG_CODEC_MAX_CMDS + 1), 0);
    free(many);
}
END_TEST

/* An empty batch is a valid 24-byte entry. */
START_TEST(empty_entry)
{
    struct rg_entry e;
    unsigned char *b;
    size_t len;

    b = enc(NULL, 0, 5, 6, &len);
    ck_assert_uint_eq(len, HEAD);
    ck_assert_int_eq(rg_codec_decode(b, len, &e), 0);
    ck_assert_uint_eq(e.n_cmds, 0);
    ck_assert_uint_eq(e.term, 5);
    rg_entry_release(&e);
    free(b);
}
END_TEST

/* The encoder refuses a short buffer, unknown types and kinds, and
 * lengths without a pointer, writing nothing. */
START_TEST(encode_refuses)
{
    struct rg_cmd c = cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "r", "k", "{}");
    unsigned char buf[128];
    size_t need = rg_codec_size(&c, 1);

    ck_assert_int_eq(rg_codec_encode(&c, 1, 1, 1, buf, need - 1), -ENOSPC);
    ck_assert_int_eq(rg_codec_encode(&c, 1, 1, 1, NULL, 0), -EINVAL);
    c.type = 0;
    ck_assert_int_eq(rg_codec_encode(&c, 1, 1, 1, buf, sizeof(buf)), -EINVAL);
    c.type = 200; /* no such type (6..9 are taken, raft/codec.h) */
    ck_assert_uint_eq(rg_codec_size(&c, 1), 0);
    c.type = RG_CMD_PUT;
    c.kind = RG_KIND_MAX;
    ck_assert_uint_eq(rg_codec_size(&c, 1), 0);
    c.kind = RG_KIND_SERVICE;
    c.body = NULL;
    ck_assert_uint_eq(rg_codec_size(&c, 1), 0);
    ck_assert_uint_eq(rg_codec_size(NULL, 1), 0);
}
END_TEST

static unsigned char *sample(size_t *len)
{
    /* Lengths chosen so that the entry ends with 5 padding bytes. */
    struct rg_cmd c[2] = {
        cmd(RG_CMD_PUT, RG_KIND_SERVICE, 3, "rid", "key", "{\"a\":1}"),
        cmd(RG_CMD_DELETE, RG_KIND_ROUTE, 0, "r2", "key2", NULL),
    };

    return enc(c, 2, 9, 9, len);
}

static int dec(const unsigned char *b, size_t len)
{
    struct rg_entry e;
    int rv = rg_codec_decode(b, len, &e);

    if (rv != 0) {
        ck_assert_ptr_null(e.cmds);
        ck_assert_uint_eq(e.n_cmds, 0);
    }
    rg_entry_release(&e);
    return rv;
}

/* Every truncation of a valid entry is refused. Each prefix is copied to
 * a buffer of exactly its length, so ASan sees any read past the end. */
START_TEST(truncation_at_every_length)
{
    size_t len, n;
    unsigned char *b = sample(&len);

    for (n = 0; n < len; n++) {
        unsigned char *p = malloc(n ? n : 1);

        ck_assert_ptr_nonnull(p);
        memcpy(p, b, n);
        ck_assert_int_eq(dec(p, n), -EINVAL);
        free(p);
    }
    ck_assert_int_eq(dec(b, len), 0);
    free(b);
}
END_TEST

/* Any non-zero padding byte, or 8 more zero bytes, makes the entry
 * malformed: the byte count must be exactly the content padded to 8. */
START_TEST(padding_must_be_zero_and_minimal)
{
    size_t len, used = HEAD + 2 * CMDH + 3 + 3 + 7 + 2 + 4, i;
    unsigned char *b = sample(&len), *longer;

    ck_assert_uint_eq(len - used, 5);
    for (i = used; i < len; i++) {
        b[i] = 1;
        ck_assert_int_eq(dec(b, len), -EINVAL);
        b[i] = 0x80;
        ck_assert_int_eq(dec(b, len), -EINVAL);
        b[i] = 0;
    }
    ck_assert_int_eq(dec(b, len), 0);
    longer = calloc(1, len + 8);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, b, len);
    ck_assert_int_eq(dec(longer, len + 8), -EINVAL);
    free(longer);
    free(b);
}
END_TEST

static void put16le(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

/* Lengths and counts far past the buffer are refused, not trusted. */
START_TEST(huge_lengths)
{
    size_t len;
    unsigned char *b = sample(&len);
    unsigned char c0 = HEAD; /* first command */
    unsigned char save[8];

    memcpy(save, b + c0 + 12, 8);
    memset(b + c0 + 16, 0xff, 4); /* body_len 4 GiB */
    ck_assert_int_eq(dec(b, len), -EINVAL);
    memcpy(b + c0 + 12, save, 8);
    b[c0 + 16 + 3] = 0x00;
    b[c0 + 16 + 2] = 0xff; /* body_len 16 MiB-ish: within the limit, past
                              the end */
    ck_assert_int_eq(dec(b, len), -EINVAL);
    memcpy(b + c0 + 12, save, 8);
    put16le(b + c0 + 12, 0xffff); /* rid_len */
    ck_assert_int_eq(dec(b, len), -EINVAL);
    memcpy(b + c0 + 12, save, 8);
    put16le(b + c0 + 14, 0xffff); /* key_len */
    ck_assert_int_eq(dec(b, len), -EINVAL);
    memcpy(b + c0 + 12, save, 8);
    put16le(b + 6, 0xffff); /* n_cmds */
    ck_assert_int_eq(dec(b, len), -EINVAL);
    put16le(b + 6, 3); /* one command more than present */
    ck_assert_int_eq(dec(b, len), -EINVAL);
    put16le(b + 6, 1); /* one fewer: the rest is not padding */
    ck_assert_int_eq(dec(b, len), -EINVAL);
    put16le(b + 6, 2);
    ck_assert_int_eq(dec(b, len), 0);
    free(b);
}
END_TEST

/* Bad magic, version 0 or newer than ours, unknown type or kind, and a
 * non-zero reserved field are all refused. */
START_TEST(header_and_type_checks)
{
    size_t len;
    unsigned char *b = sample(&len);
    const unsigned c0 = HEAD;

    b[0] = 'X';
    ck_assert_int_eq(dec(b, len), -EINVAL);
    b[0] = 'R';
    put16le(b + 4, 0);
    ck_assert_int_eq(dec(b, len), -EINVAL);
    put16le(b + 4, RG_CODEC_VERSION + 1);
    ck_assert_int_eq(dec(b, len), -EINVAL);
    put16le(b + 4, RG_CODEC_VERSION);
    ck_assert_int_eq(dec(b, len), 0);
    b[c0] = 0;
    ck_assert_int_eq(dec(b, len), -EINVAL);
    b[c0] = 200;
    ck_assert_int_eq(dec(b, len), -EINVAL);
    b[c0] = 0xff;
    ck_assert_int_eq(dec(b, len), -EINVAL);
    b[c0] = RG_CMD_PUT;
    b[c0 + 1] = RG_KIND_MAX;
    ck_assert_int_eq(dec(b, len), -EINVAL);
    b[c0 + 1] = RG_KIND_SERVICE;
    b[c0 + 3] = 1;
    ck_assert_int_eq(dec(b, len), -EINVAL);
    b[c0 + 3] = 0;
    ck_assert_int_eq(dec(b, len), 0);
    ck_assert_int_eq(dec(NULL, 0), -EINVAL);
    free(b);
}
END_TEST

/* Out of memory in decode is reported, with nothing leaked. */
START_TEST(decode_out_of_memory)
{
    size_t len;
    unsigned char *b = sample(&len);

    rg_alloc_fail_after(1);
    ck_assert_int_eq(dec(b, len), -ENOMEM);
    rg_alloc_fail_after(0);
    ck_assert_int_eq(dec(b, len), 0);
    free(b);
}
END_TEST

/* Kind names map both ways, as the admin API spells them. */
START_TEST(kind_names)
{
    int k;

    for (k = RG_KIND_NONE + 1; k < RG_KIND_MAX; k++) {
        const char *n = rg_kind_name(k);

        ck_assert_ptr_nonnull(n);
        ck_assert_int_eq(rg_kind_from_name(n, strlen(n)), k);
    }
    ck_assert_str_eq(rg_kind_name(RG_KIND_SERVICE), "services");
    ck_assert_str_eq(rg_kind_name(RG_KIND_CONSUMER), "consumers");
    ck_assert_ptr_null(rg_kind_name(RG_KIND_NONE));
    ck_assert_ptr_null(rg_kind_name(RG_KIND_MAX));
    ck_assert_int_eq(rg_kind_from_name("route", 5), RG_KIND_NONE);
    ck_assert_int_eq(rg_kind_from_name("routesx", 7), RG_KIND_NONE);
    ck_assert_int_eq(rg_kind_from_name("routes", 6), RG_KIND_ROUTE);
    ck_assert_int_eq(rg_kind_from_name(NULL, 0), RG_KIND_NONE);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("codec");
    SRunner *sr;
    int nf;

    tcase_add_test(tc, roundtrip_fields);
    tcase_add_test(tc, layout_little_endian);
    tcase_add_test(tc, padding_always_multiple_of_8);
    tcase_add_test(tc, limits);
    tcase_add_test(tc, empty_entry);
    tcase_add_test(tc, encode_refuses);
    tcase_add_test(tc, truncation_at_every_length);
    tcase_add_test(tc, padding_must_be_zero_and_minimal);
    tcase_add_test(tc, huge_lengths);
    tcase_add_test(tc, header_and_type_checks);
    tcase_add_test(tc, decode_out_of_memory);
    tcase_add_test(tc, kind_names);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
