/* Unit tests for admin/admin_validate.c: the state machine's validator,
 * which hands the gateway parser a YAML document built from the JSON tree,
 * must say what the text path says (dump the data-plane view, parse the
 * text): same verdict, same message, for valid and invalid documents. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "config/gateway.h"
#include "core/alloc.h"
#include "plugins/registry.h"

#define SVC "{\"id\":\"0f9d5a38-5b8e-4d5c-9a55-4c3f3f1b2a01\","
#define RT "{\"id\":\"7c1e0b0e-7d31-4b8a-8a51-0a5a8f3c9e11\","
#define DOC(s, r) "{\"_format_version\":\"3.0\",\"services\":[" s \
                  "],\"routes\":[" r "],\"consumers\":[],\"plugins\":[]}"

static const char *const docs[] = {
    DOC(SVC "\"name\":\"a\",\"url\":\"http://127.0.0.1:9\"}", ""),
    DOC(SVC "\"name\":\"a\",\"host\":\"h\",\"port\":8080,"
            "\"connect_timeout\":1000,\"retries\":2}",
        RT "\"name\":\"r\",\"paths\":[\"/x\"],\"strip_path\":true,"
           "\"methods\":[\"GET\"],\"service\":{\"name\":\"a\"}}"),
    /* a number where a string must be, and the other way round */
    DOC(SVC "\"name\":\"a\",\"host\":\"h\",\"port\":\"8080\"}", ""),
    DOC(SVC "\"name\":5,\"host\":\"h\"}", ""),
    /* true as a string, null where a list is, a real */
    DOC(SVC "\"name\":\"a\",\"host\":\"h\"}",
        RT "\"paths\":[\"/x\"],\"strip_path\":\"true\","
           "\"service\":{\"name\":\"a\"}}"),
    DOC(SVC "\"name\":\"a\",\"host\":\"h\"}",
        RT "\"paths\":null,\"hosts\":[\"x\"],\"service\":{\"name\":\"a\"}}"),
    DOC(SVC "\"name\":\"a\",\"host\":\"h\",\"read_timeout\":1.5}", ""),
    /* references and duplicates */
    DOC(SVC "\"name\":\"a\",\"host\":\"h\"}",
        RT "\"paths\":[\"/x\"],\"service\":{\"name\":\"b\"}}"),
    DOC(SVC "\"name\":\"a\",\"host\":\"h\"},{\"name\":\"a\",\"host\":\"h\"}",
        ""),
    DOC(SVC "\"name\":\"a\",\"host\":\"h\"}",
        RT "\"paths\":[\"x\"],\"service\":{\"name\":\"a\"}}"),
    /* nested plugins are stripped; a bad one is refused */
    DOC(SVC "\"name\":\"a\",\"host\":\"h\",\"plugins\":[{\"name\":\"p\"}]}",
        ""),
    DOC(SVC "\"name\":\"a\",\"host\":\"h\",\"plugins\":[{\"config\":1}]}",
        ""),
    "{\"_format_version\":\"2.1\"}",
    "{\"_format_version\":\"3.0\",\"unknown\":[]}",
};

/* The text path: rg_admin_config_dataplane, then rg_gateway_parse. */
static int by_text(const char *doc, char *err, size_t cap)
{
    struct rg_errbuf eb = {{0}};
    struct rg_gateway gw;
    size_t len;
    char *dp = rg_admin_config_dataplane(doc, strlen(doc), &len, &eb);
    int rv;

    if (dp == NULL) {
        snprintf(err, cap, "%s", eb.msg);
        return 1;
    }
    rv = rg_gateway_parse(&gw, dp, len, rg_plugins_catalog(), &eb);
    rg_gateway_release(&gw);
    rg_free(dp);
    if (rv != 0) {
        char *sfx = strstr(eb.msg, " (line 1)");

        if (sfx != NULL)
            *sfx = '\0';
        snprintf(err, cap, "%s", eb.msg);
    }
    return rv != 0;
}

START_TEST(tree_says_what_text_says)
{
    const char *doc = docs[_i];
    char want[512] = "", got[512] = "";
    json_t *j = json_loads(doc, 0, NULL);
    char *before;
    int bad_text, bad_tree;

    ck_assert_ptr_nonnull(j);
    before = json_dumps(j, JSON_SORT_KEYS);
    bad_text = by_text(doc, want, sizeof(want));
    bad_tree = rg_admin_validate(NULL, j, got, sizeof(got));
    ck_assert_msg(bad_text == bad_tree, "doc %d: text %d (%s), tree %d (%s)",
                  _i, bad_text, want, bad_tree, got);
    ck_assert_str_eq(got, bad_tree ? want : "");
    /* the tree is the store's: left as it was */
    {
        char *after = json_dumps(j, JSON_SORT_KEYS);

        ck_assert_str_eq(before, after);
        free(after);
    }
    free(before);
    json_decref(j);
}
END_TEST

/* Both kinds of document appear above. */
START_TEST(cases_cover_both_verdicts)
{
    char err[512];
    int good = 0, bad = 0;

    for (size_t i = 0; i < sizeof(docs) / sizeof(*docs); i++) {
        json_t *j = json_loads(docs[i], 0, NULL);

        if (rg_admin_validate(NULL, j, err, sizeof(err)))
            bad++;
        else
            good++;
        json_decref(j);
    }
    ck_assert_int_ge(good, 3);
    ck_assert_int_ge(bad, 5);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("validate");
    TCase *tc = tcase_create("validate");
    SRunner *sr;
    int failed;

    tcase_add_loop_test(tc, tree_says_what_text_says, 0,
                        (int)(sizeof(docs) / sizeof(*docs)));
    tcase_add_test(tc, cases_cover_both_verdicts);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
