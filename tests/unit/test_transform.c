/* Unit tests for the transformers: the shared edits (plugins/transform.c:
 * Kong's five steps on field lists and JSON bodies, form split/join,
 * wrap/unwrap, bodies that are not JSON) and each plugin's config
 * (request_transformer.c, response_transformer.c: what is accepted, the
 * error paths, and which configs buffer a body). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/yamltree.h"
#include "core/alloc.h"
#include "core/err.h"
#include "http/filter.h"
#include "plugins/transform.h"

extern const struct rg_filter_ops rg_plugin_request_transformer;
extern const struct rg_filter_ops rg_plugin_response_transformer;

/* Read @yaml, a mapping of step -> list, into @e as @kind edits. */
static void edits(struct rg_tf_edits *e, enum rg_tf_kind kind,
                  const char *yaml)
{
    static const char *const steps[] = {"remove", "rename", "replace", "add",
                                        "append"};
    struct rg_errbuf eb = {{0}};
    struct rg_yt t;
    yaml_node_t *root;

    memset(e, 0, sizeof(*e));
    ck_assert_int_eq(rg_yt_load(&t, yaml, strlen(yaml), &eb), 0);
    root = rg_yt_root(&t);
    for (int s = 0; s < RG_TF_STEPS; s++) {
        yaml_node_t *v = rg_yt_get(&t, root, steps[s]);

        if (v != NULL)
            ck_assert_msg(rg_tf_read(&t, v, e, (enum rg_tf_step)s, kind) == 0,
                          "%s", eb.msg);
    }
    rg_yt_release(&t);
}

/* @form edited by @e, as text. */
static void form_is(const struct rg_tf_edits *e, const char *form,
                    const char *want)
{
    struct rg_tf_fields f = {0};
    struct rg_buf b;

    rg_buf_init(&b, 1 << 20);
    ck_assert_int_eq(rg_tf_form_split(form, strlen(form), &f), 0);
    ck_assert_int_eq(rg_tf_apply(e, &f), 0);
    rg_tf_form_join(&f, &b);
    rg_buf_add(&b, "", 1);
    ck_assert_str_eq(b.p, want);
    rg_buf_release(&b);
    rg_tf_fields_free(&f);
}

START_TEST(kong_steps_on_fields)
{
    struct rg_tf_edits e;

    edits(&e, RG_TF_FORM,
          "remove: [drop]\n"
          "rename: ['old:new', 'gone:x']\n"
          "replace: ['rep:R', 'absent:no']\n"
          "add: ['added:a b', 'rep:no', 'new:no']\n"
          "append: ['app:2']\n");
    form_is(&e, "drop=1&old=o&new=n&rep=r&rep=r2&app=1&flag&drop",
            "new=o&rep=R&app=1&flag&added=a%20b&app=2");
    form_is(&e, "", "added=a%20b&rep=no&new=no&app=2");
    rg_tf_edits_free(&e);
    /* Header names compare without case. */
    edits(&e, RG_TF_HEADER, "remove: [X-A]\nadd: ['x-b:1']\n");
    e.icase = 1;
    form_is(&e, "x-a=1&X-B=2", "X-B=2");
    rg_tf_edits_free(&e);
}
END_TEST

static void json_is(const struct rg_tf_json *spec, const char *in,
                    const char *want)
{
    char *out;
    size_t n;

    ck_assert_int_eq(rg_tf_json_body(spec, in, strlen(in), &out, &n), 0);
    ck_assert_str_eq(out, want);
    ck_assert_uint_eq(n, strlen(want));
    free(out);
}

START_TEST(json_bodies)
{
    struct rg_tf_edits e;
    struct rg_tf_json spec = {NULL, &e, NULL};
    char *out = (char *)1;
    size_t n = 1;

    edits(&e, RG_TF_JSON,
          "remove: [secret]\n"
          "rename: ['old:new']\n"
          "replace: ['rep:R', 'absent:no']\n"
          "add: ['added:A', 'keep:no']\n"
          "append: ['s:2', 'arr:2', 'none:1', 'num:2']\n");
    json_is(&spec,
            "{\"secret\":1,\"old\":\"o\",\"rep\":\"r\",\"keep\":true,"
            "\"s\":\"1\",\"arr\":[1],\"num\":5}",
            "{\"rep\":\"R\",\"keep\":true,\"s\":[\"1\",\"2\"],"
            "\"arr\":[1,\"2\"],\"num\":[5,\"2\"],\"new\":\"o\","
            "\"added\":\"A\",\"none\":[\"1\"]}");
    /* An empty body reads as {}; a non-object is left to wrap only. */
    json_is(&spec, "", "{\"added\":\"A\",\"keep\":\"no\",\"s\":[\"2\"],"
                       "\"arr\":[\"2\"],\"none\":[\"1\"],\"num\":[\"2\"]}");
    json_is(&spec, "[1,2]", "[1,2]");
    /* Not JSON: 1, nothing written. */
    ck_assert_int_eq(rg_tf_json_body(&spec, "not {json", 9, &out, &n), 1);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(rg_tf_json_body(&spec, "{\"a\":1} x", 9, &out, &n), 1);
    /* Typed values. */
    rg_tf_edits_free(&e);
    edits(&e, RG_TF_JSON, "add: ['n:4.5', 'b:true', 's:4']\n");
    e.step[RG_TF_ADD].v[0].type = RG_TF_NUMBER;
    e.step[RG_TF_ADD].v[1].type = RG_TF_BOOLEAN;
    json_is(&spec, "{}", "{\"n\":4.5,\"b\":true,\"s\":\"4\"}");
    rg_tf_edits_free(&e);
    /* Unwrap, then wrap. */
    spec.edits = NULL;
    spec.unwrap = "data";
    json_is(&spec, "{\"data\":{\"x\":1},\"meta\":2}", "{\"x\":1}");
    json_is(&spec, "{\"other\":1}", "{\"other\":1}");
    spec.unwrap = NULL;
    spec.wrap = "body";
    json_is(&spec, "[1]", "{\"body\":[1]}");
}
END_TEST

/* Parse config @yaml with @ops: 0 with *@conf, or the error in @eb. */
static int parse(const struct rg_filter_ops *ops, const char *yaml,
                 void **conf, struct rg_errbuf *eb)
{
    struct rg_yt t;
    int rv;

    *conf = NULL;
    ck_assert_int_eq(rg_yt_load(&t, yaml, strlen(yaml), eb), 0);
    rv = ops->schema.conf_parse(&t, rg_yt_root(&t), conf);
    rg_yt_release(&t);
    return rv;
}

static unsigned wants(const struct rg_filter_ops *ops, const char *yaml)
{
    struct rg_errbuf eb = {{0}};
    uint32_t max = 0;
    void *conf;
    unsigned w;

    ck_assert_msg(parse(ops, yaml, &conf, &eb) == 0, "%s", eb.msg);
    w = ops->wants(conf, &max);
    ops->schema.conf_free(conf);
    return w;
}

static void refused(const struct rg_filter_ops *ops, const char *yaml,
                    const char *msg)
{
    struct rg_errbuf eb = {{0}};
    void *conf;

    ck_assert_int_lt(parse(ops, yaml, &conf, &eb), 0);
    ck_assert_ptr_null(conf);
    ck_assert_msg(strstr(eb.msg, msg) != NULL, "%s: got %s", msg, eb.msg);
}

START_TEST(request_transformer_config)
{
    const struct rg_filter_ops *o = &rg_plugin_request_transformer;

    ck_assert_uint_eq(wants(o, "add: {headers: ['X-A:1']}\n"
                               "gateway_timestamp: true\n"
                               "path_rewrite: {'^/a': /b}\n"),
                      0);
    ck_assert_uint_eq(wants(o, "add: {body: ['a:1']}\n"), RG_FILTER_REQ_BODY);
    ck_assert_uint_eq(wants(o, "body_wrap: data\n"), RG_FILTER_REQ_BODY);
    refused(o, "add: {headers: [nocolon]}\n",
            "add.headers[0]: must be \"name:value\"");
    refused(o, "remove: {headers: [Host]}\n", "remove.headers[0]: is not a");
    refused(o, "replace: {uri: x}\n", "replace.uri: must be a path");
    refused(o, "http_method: CONNECT\n", "http_method: HEAD and CONNECT");
    refused(o, "http_method: get\n", "http_method: is not a method name");
    refused(o, "path_rewrite: {'[': /x}\n", "path_rewrite.[: the pattern");
    refused(o, "header_mapping: {X-A: 'Bad Name'}\n",
            "header_mapping.X-A: both must be header names");
    refused(o, "body_wrap: ''\n", "body_wrap: must not be empty");
}
END_TEST

START_TEST(response_transformer_config)
{
    const struct rg_filter_ops *o = &rg_plugin_response_transformer;

    ck_assert_uint_eq(wants(o, "add: {headers: ['X-A:1']}\n"
                               "status_map: seed\nresponse_time: true\n"),
                      0);
    ck_assert_uint_eq(wants(o, "remove: {json: [a]}\n"),
                      RG_FILTER_RESP_BODY);
    ck_assert_uint_eq(wants(o, "body_unwrap: data\n"), RG_FILTER_RESP_BODY);
    ck_assert_uint_eq(wants(o, "add: {json_types: [number], json: ['a:1']}"
                               "\n"),
                      RG_FILTER_RESP_BODY);
    refused(o, "add: {json: ['a:x'], json_types: [number]}\n",
            "add.json_types[0]: \"x\" is not a number");
    refused(o, "append: {json: ['a:yes'], json_types: [boolean]}\n",
            "append.json_types[0]: \"yes\" is not a boolean");
    refused(o, "remove: {json_types: [string]}\n",
            "remove.json_types: unknown key");
    refused(o, "status_map: {'502': 304}\n", "status_map.502: 204 and 304");
    refused(o, "status_map: {'1000': 200}\n", "status_map.1000: the status");
    refused(o, "status_map: {'502': 99}\n", "status_map.502: must be an "
                                            "integer in 200..599");
    refused(o, "status_map: other\n", "status_map: must be a mapping");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("transform");
    TCase *tf = tcase_create("edits");
    TCase *rq = tcase_create("request-transformer");
    TCase *rs = tcase_create("response-transformer");
    SRunner *sr;
    int failed;

    tcase_add_test(tf, kong_steps_on_fields);
    tcase_add_test(tf, json_bodies);
    tcase_add_test(rq, request_transformer_config);
    tcase_add_test(rs, response_transformer_config);
    suite_add_tcase(s, tf);
    suite_add_tcase(s, rq);
    suite_add_tcase(s, rs);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
