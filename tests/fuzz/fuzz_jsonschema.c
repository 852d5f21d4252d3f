/* libFuzzer target for the JSON Schema subset (src/plugins/jsonschema.c):
 * the input is a schema and a document separated by the first NUL byte
 * (no NUL: the input is both). A schema that does not compile leaves an
 * error naming its place and nothing to free; one that compiles validates
 * the document the same way twice, and a failure names a path starting
 * with "$" that is valid UTF-8 (it goes into a JSON reply), a rule and a
 * detail. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/jsonschema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_failure(const struct rg_js_error *e)
{
    json_t *s;

    if (e->path[0] != '$' || e->rule == NULL || e->detail[0] == '\0' ||
        strlen(e->path) >= RG_JS_PATH_MAX)
        abort();
    s = json_string(e->path); /* NULL for invalid UTF-8 */
    if (s == NULL)
        abort();
    json_decref(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nul = memchr(p, '\0', size);
    size_t sl = nul ? (size_t)(nul - p) : size;
    const char *d = nul ? nul + 1 : p;
    size_t dl = nul ? size - sl - 1 : size;
    json_t *schema = json_loadb(p, sl, JSON_REJECT_DUPLICATES, NULL);
    json_t *doc;
    struct rg_js *js = NULL;
    struct rg_js_error e1, e2;
    char err[512];
    int r1, r2;

    if (schema == NULL)
        return 0;
    err[0] = '\0';
    if (rg_js_compile(schema, &js, err, sizeof(err)) != 0) {
        json_decref(schema);
        if (js != NULL || err[0] == '\0')
            abort();
        return 0;
    }
    json_decref(schema); /* the compiled schema keeps what it needs */
    doc = json_loadb(d, dl, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (doc != NULL) {
        r1 = rg_js_validate(js, doc, &e1);
        r2 = rg_js_validate(js, doc, &e2);
        if (r1 != r2 || (r1 != 0 && strcmp(e1.path, e2.path) != 0))
            abort();
        if (r1 != 0)
            check_failure(&e1);
        json_decref(doc);
    }
    rg_js_free(js);
    return 0;
}
