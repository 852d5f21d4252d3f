/* libFuzzer target for the transformers' body edits (src/plugins/
 * transform.c), which read untrusted bodies: any bytes as a JSON body
 * under a spec using every step, unwrap and wrap, and as a form. A JSON
 * edit must succeed exactly when the input is JSON (or empty), and give
 * JSON back, wrapped under its key; a form without empty pieces must
 * join back to itself. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "plugins/transform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ITEM(n, v, ty) {(char *)(n), (char *)(v), ty}

static struct rg_tf_item rm[] = {ITEM("secret", NULL, RG_TF_STRING)};
static struct rg_tf_item rn[] = {ITEM("old", "new", RG_TF_STRING)};
static struct rg_tf_item rp[] = {ITEM("a", "1.5", RG_TF_NUMBER)};
static struct rg_tf_item ad[] = {ITEM("b", "true", RG_TF_BOOLEAN),
                                 ITEM("new", "x", RG_TF_STRING)};
static struct rg_tf_item ap[] = {ITEM("arr", "2", RG_TF_NUMBER),
                                 ITEM("s", "x", RG_TF_STRING)};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rg_tf_edits e = {.step = {{rm, 1}, {rn, 1}, {rp, 1}, {ad, 2},
                                     {ap, 2}}};
    const char *in = (const char *)data;
    struct rg_tf_json spec = {"data", &e, size % 2 ? "wrapped" : NULL};
    struct rg_tf_fields f = {0};
    json_t *parsed, *back;
    struct rg_buf b;
    char *out;
    size_t n;
    int rv = rg_tf_json_body(&spec, in, size, &out, &n);

    parsed = size == 0 ? json_object()
                       : json_loadb(in, size, JSON_DECODE_ANY, NULL);
    if (rv < 0 && parsed != NULL)
        abort(); /* -ENOMEM only: libFuzzer does not fail allocations */
    if (rv == 1 && parsed != NULL)
        abort();
    if (rv == 0) {
        if (parsed == NULL || out == NULL || strlen(out) != n)
            abort();
        back = json_loadb(out, n, JSON_DECODE_ANY, NULL);
        if (back == NULL ||
            (spec.wrap != NULL && json_object_get(back, "wrapped") == NULL))
            abort();
        json_decref(back);
        free(out);
    }
    json_decref(parsed);

    rg_buf_init(&b, 1 << 24);
    if (rg_tf_form_split(in, size, &f) == 0 && rg_tf_apply(&e, &f) == 0) {
        rg_tf_form_join(&f, &b);
        if (rg_buf_error(&b) != 0)
            abort();
    }
    rg_tf_fields_free(&f);
    rg_buf_truncate(&b, 0);
    if (size > 0 && in[0] != '&' && in[size - 1] != '&' &&
        memmem(in, size, "&&", 2) == NULL) {
        if (rg_tf_form_split(in, size, &f) != 0)
            abort();
        rg_tf_form_join(&f, &b);
        if (b.len != size || memcmp(b.p, in, size) != 0)
            abort();
    }
    rg_tf_fields_free(&f);
    rg_buf_release(&b);
    return 0;
}
