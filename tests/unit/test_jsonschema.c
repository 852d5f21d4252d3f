/* Unit tests for plugins/jsonschema.c: each keyword of the subset passing
 * and failing, the failing path and rule named (nested objects, arrays,
 * odd property names), and compile errors naming the keyword's place for
 * keywords outside the subset and bad values. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "plugins/jsonschema.h"

static struct rg_js *compile_ok(const char *text)
{
    char err[512] = "";
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    struct rg_js *s = NULL;

    ck_assert_msg(j != NULL, "bad test schema: %s", je.text);
    ck_assert_msg(rg_js_compile(j, &s, err, sizeof(err)) == 0, "%s: %s", text,
                  err);
    json_decref(j);
    return s;
}

/* The compile error for @text, which must fail. */
static const char *compile_err(const char *text)
{
    static char err[512];
    json_t *j = json_loads(text, 0, NULL);
    struct rg_js *s = (struct rg_js *)1;

    ck_assert_ptr_nonnull(j);
    err[0] = '\0';
    ck_assert_int_eq(rg_js_compile(j, &s, err, sizeof(err)), -EINVAL);
    ck_assert_ptr_null(s);
    json_decref(j);
    return err;
}

/* Validate @doc against @schema: NULL when it passes, else
 * "<path> <rule>". */
static const char *check(const char *schema, const char *doc)
{
    static char out[RG_JS_PATH_MAX + 64];
    struct rg_js *s = compile_ok(schema);
    json_t *d = json_loads(doc, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    struct rg_js_error e;
    int rv;

    ck_assert_msg(d != NULL, "bad test doc %s", doc);
    rv = rg_js_validate(s, d, &e);
    json_decref(d);
    rg_js_free(s);
    if (rv == 0)
        return NULL;
    ck_assert_int_eq(rv, -EINVAL);
    ck_assert_ptr_nonnull(e.rule);
    ck_assert(e.detail[0] != '\0');
    snprintf(out, sizeof(out), "%s %s", e.path, e.rule);
    return out;
}

#define PASS(schema, doc) ck_assert_ptr_null(check(schema, doc))
#define FAIL(schema, doc, want) ck_assert_str_eq(check(schema, doc), want)

START_TEST(type_single_and_list)
{
    PASS("{\"type\":\"string\"}", "\"x\"");
    FAIL("{\"type\":\"string\"}", "1", "$ type");
    PASS("{\"type\":\"integer\"}", "3");
    PASS("{\"type\":\"integer\"}", "3.0");
    FAIL("{\"type\":\"integer\"}", "3.5", "$ type");
    PASS("{\"type\":\"number\"}", "3");
    PASS("{\"type\":\"number\"}", "3.5");
    FAIL("{\"type\":\"number\"}", "\"3\"", "$ type");
    PASS("{\"type\":\"boolean\"}", "false");
    FAIL("{\"type\":\"boolean\"}", "0", "$ type");
    PASS("{\"type\":\"null\"}", "null");
    FAIL("{\"type\":\"object\"}", "[]", "$ type");
    PASS("{\"type\":\"array\"}", "[]");
    PASS("{\"type\":[\"string\",\"null\"]}", "null");
    PASS("{\"type\":[\"string\",\"null\"]}", "\"a\"");
    FAIL("{\"type\":[\"string\",\"null\"]}", "{}", "$ type");
    PASS("{}", "{\"anything\":[1,2]}");
}
END_TEST

START_TEST(required_and_properties_nested)
{
    const char *s = "{\"type\":\"object\",\"required\":[\"user\"],"
                    "\"properties\":{\"user\":{\"type\":\"object\","
                    "\"required\":[\"name\"],\"properties\":{"
                    "\"name\":{\"type\":\"string\"},"
                    "\"age\":{\"type\":\"integer\",\"minimum\":18}}}}}";

    PASS(s, "{\"user\":{\"name\":\"a\",\"age\":20}}");
    PASS(s, "{\"user\":{\"name\":\"a\"}}");
    FAIL(s, "{}", "$.user required");
    FAIL(s, "{\"user\":{\"age\":20}}", "$.user.name required");
    FAIL(s, "{\"user\":{\"name\":\"a\",\"age\":17}}", "$.user.age minimum");
    FAIL(s, "{\"user\":{\"name\":\"a\",\"age\":\"20\"}}", "$.user.age type");
    FAIL(s, "{\"user\":{\"name\":7}}", "$.user.name type");
    /* required says nothing about non-objects. */
    PASS("{\"required\":[\"a\"]}", "[1]");
}
END_TEST

START_TEST(additional_properties)
{
    const char *s = "{\"properties\":{\"a\":{},\"b\":{}},"
                    "\"additionalProperties\":false}";

    PASS(s, "{\"a\":1,\"b\":2}");
    PASS(s, "{}");
    FAIL(s, "{\"a\":1,\"c\":2}", "$.c additionalProperties");
    FAIL(s, "{\"a b\":1}", "$['a b'] additionalProperties");
    FAIL(s, "{\"it's\":1}", "$['it\\'s'] additionalProperties");
    PASS("{\"properties\":{\"a\":{}},\"additionalProperties\":true}",
         "{\"z\":1}");
}
END_TEST

START_TEST(items_paths)
{
    const char *s = "{\"type\":\"array\",\"items\":{\"type\":\"object\","
                    "\"properties\":{\"tags\":{\"type\":\"array\","
                    "\"items\":{\"type\":\"string\",\"maxLength\":3}}}}}";

    PASS(s, "[{\"tags\":[\"a\",\"abc\"]},{}]");
    FAIL(s, "[{\"tags\":[\"a\"]},{\"tags\":[\"ok\",\"long\"]}]",
         "$[1].tags[1] maxLength");
    FAIL(s, "[1]", "$[0] type");
}
END_TEST

START_TEST(enum_values)
{
    const char *s = "{\"enum\":[\"red\",\"green\",3,null,{\"a\":1}]}";

    PASS(s, "\"red\"");
    PASS(s, "3");
    PASS(s, "null");
    PASS(s, "{\"a\":1}");
    FAIL(s, "\"blue\"", "$ enum");
    FAIL(s, "{\"a\":2}", "$ enum");
    FAIL(s, "\"Red\"", "$ enum");
}
END_TEST

START_TEST(minimum_maximum)
{
    const char *s = "{\"minimum\":1.5,\"maximum\":10}";

    PASS(s, "1.5");
    PASS(s, "10");
    PASS(s, "5");
    FAIL(s, "1.4", "$ minimum");
    FAIL(s, "11", "$ maximum");
    FAIL(s, "10.0001", "$ maximum");
    PASS(s, "\"not a number: not constrained\"");
}
END_TEST

START_TEST(lengths_in_characters)
{
    const char *s = "{\"minLength\":2,\"maxLength\":3}";

    PASS(s, "\"ab\"");
    PASS(s, "\"abc\"");
    FAIL(s, "\"a\"", "$ minLength");
    FAIL(s, "\"abcd\"", "$ maxLength");
    /* Three characters, six bytes (e-acute, euro sign, a). */
    PASS(s, "\"\\u00e9\\u20aca\"");
    /* One character, four bytes (U+1F600): shorter than 2. */
    FAIL(s, "\"\\ud83d\\ude00\"", "$ minLength");
    PASS("{\"maxLength\":0}", "\"\"");
    PASS(s, "12345");
}
END_TEST

START_TEST(pattern_ere)
{
    const char *s = "{\"pattern\":\"^[a-z]+(-[a-z]+)*$\"}";

    PASS(s, "\"abc-def\"");
    FAIL(s, "\"abc-\"", "$ pattern");
    FAIL(s, "\"ABC\"", "$ pattern");
    /* Unanchored as JSON Schema's. */
    PASS("{\"pattern\":\"[0-9]{3}\"}", "\"ab123cd\"");
    FAIL("{\"pattern\":\"[0-9]{3}\"}", "\"ab12cd\"", "$ pattern");
    /* A NUL inside never matches (regexec would stop at it). */
    FAIL(s, "\"abc\\u0000DEF\"", "$ pattern");
}
END_TEST

START_TEST(compile_errors_name_the_keyword)
{
    ck_assert_str_eq(compile_err("{\"properties\":{\"age\":{"
                                 "\"exclusiveMinimum\":true}}}"),
                     "properties.age.exclusiveMinimum: keyword not supported "
                     "(the subset: type, required, properties, "
                     "additionalProperties, items, enum, minimum, maximum, "
                     "minLength, maxLength, pattern)");
    ck_assert(
        strncmp(compile_err("{\"oneOf\":[]}"), "oneOf: keyword not", 18) == 0);
    ck_assert(strncmp(compile_err("{\"items\":{\"$ref\":\"#\"}}"),
                      "items.$ref: keyword not", 23) == 0);
    ck_assert_str_eq(compile_err("{\"type\":\"str\"}"),
                     "type: must be one of null, boolean, integer, number, "
                     "string, array, object (or an array of them)");
    ck_assert_str_eq(compile_err("{\"minLength\":-1}"),
                     "minLength: must be a non-negative integer");
    ck_assert_str_eq(compile_err("{\"minimum\":\"1\"}"),
                     "minimum: must be a number");
    ck_assert_str_eq(compile_err("{\"additionalProperties\":{}}"),
                     "additionalProperties: only a boolean is supported");
    ck_assert(
        strncmp(compile_err("{\"items\":[{}]}"), "items: the tuple", 16) == 0);
    ck_assert(strncmp(compile_err("{\"pattern\":\"(\"}"),
                      "pattern: not a POSIX", 20) == 0);
    /* Patterns that would blow regcomp's memory up. */
    ck_assert(strncmp(compile_err("{\"pattern\":\"^[a-z]++$\"}"),
                      "pattern: a repetition follows another", 37) == 0);
    ck_assert_str_eq(compile_err("{\"pattern\":\"((a{1,200}){1,200})"
                                 "{1,200}\"}"),
                     "pattern: its repetitions multiply out too far to "
                     "compile");
    ck_assert_str_eq(compile_err("{\"pattern\":\"((((((((((((((((((((a+)+)"
                                 "+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+\"}"),
                     "pattern: its repetitions multiply out too far to "
                     "compile");
    /* ... and ordinary ones, brackets and escapes included, compile. */
    rg_js_free(compile_ok("{\"pattern\":\"^[a-z0-9._%+-]+@[a-z0-9.-]+"
                          "\\\\.[a-z]{2,}$\"}"));
    rg_js_free(compile_ok("{\"pattern\":\"^[[:alpha:]]+[]+*?]{1,3}"
                          "\\\\+x$\"}"));
    ck_assert_str_eq(compile_err("{\"properties\":{\"a\":{\"minimum\":5,"
                                 "\"maximum\":1}}}"),
                     "properties.a: minimum is above maximum");
    ck_assert_str_eq(compile_err("{\"minLength\":3,\"maxLength\":2}"),
                     "(root): minLength is above maxLength");
    rg_js_free(compile_ok("{\"minimum\":1,\"maximum\":1}"));
    ck_assert_str_eq(compile_err("{\"enum\":[]}"),
                     "enum: must be a non-empty array");
    ck_assert_str_eq(compile_err("{\"required\":[1]}"),
                     "required: must be an array of property names");
    ck_assert_str_eq(compile_err("{\"properties\":{\"a\":1}}"),
                     "properties.a: a schema must be an object");
    ck_assert_str_eq(compile_err("{\"$schema\":\"http://json-schema.org/"
                                 "draft-07/schema#\"}"),
                     "$schema: only draft-04 is supported");
    ck_assert_str_eq(compile_err("[]"), "(root): a schema must be an object");
    /* Annotations are fine. */
    rg_js_free(compile_ok("{\"$schema\":\"http://json-schema.org/draft-04/"
                          "schema#\",\"title\":\"t\",\"description\":\"d\","
                          "\"default\":1}"));
}
END_TEST

START_TEST(depth_is_bounded)
{
    char s[4096] = "";
    size_t o = 0;

    for (int i = 0; i < RG_JS_DEPTH_MAX + 1; i++)
        o += (size_t)snprintf(s + o, sizeof(s) - o, "{\"items\":");
    o += (size_t)snprintf(s + o, sizeof(s) - o, "{}");
    for (int i = 0; i < RG_JS_DEPTH_MAX + 1; i++)
        s[o++] = '}';
    s[o] = '\0';
    ck_assert(strstr(compile_err(s), "nest deeper than") != NULL);
}
END_TEST

START_TEST(long_paths_are_cut)
{
    char key[400], schema[1200], doc[1200];
    struct rg_js_error e;
    struct rg_js *s;
    json_t *d;

    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    snprintf(schema, sizeof(schema),
             "{\"properties\":{\"%s\":{\"type\":\"string\"}}}", key);
    snprintf(doc, sizeof(doc), "{\"%s\":1}", key);
    s = compile_ok(schema);
    d = json_loads(doc, 0, NULL);
    ck_assert_int_eq(rg_js_validate(s, d, &e), -EINVAL);
    ck_assert_uint_eq(strlen(e.path), RG_JS_PATH_MAX - 1);
    ck_assert_str_eq(e.path + RG_JS_PATH_MAX - 4, "...");
    json_decref(d);
    rg_js_free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jsonschema");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, type_single_and_list);
    tcase_add_test(tc, required_and_properties_nested);
    tcase_add_test(tc, additional_properties);
    tcase_add_test(tc, items_paths);
    tcase_add_test(tc, enum_values);
    tcase_add_test(tc, minimum_maximum);
    tcase_add_test(tc, lengths_in_characters);
    tcase_add_test(tc, pattern_ere);
    tcase_add_test(tc, compile_errors_name_the_keyword);
    tcase_add_test(tc, depth_is_bounded);
    tcase_add_test(tc, long_paths_are_cut);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
