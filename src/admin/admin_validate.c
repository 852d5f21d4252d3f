/* The state machine's validator. The would-be config arrives as a JSON
 * tree and reaches the gateway parser as a YAML document built node by
 * node: no dump to text, no JSON parse, no YAML tokenizer. One check runs
 * per applied entry, so a restart that replays the log pays it once per
 * entry: it must cost a walk of the tree, not three passes over text. */
#include "admin/admin_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/gateway.h"
#include "core/alloc.h"
#include "plugins/registry.h"

#define VALIDATE_MAX_DEPTH 64

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int add_json(yaml_document_t *d, const json_t *j, int depth);

static int add_plain(yaml_document_t *d, const char *s)
{
    return yaml_document_add_scalar(d, NULL, (yaml_char_t *)s, (int)strlen(s),
                                    YAML_PLAIN_SCALAR_STYLE);
}

/* Keys in byte order, as the compact sorted dump had them, so that the
 * first error found is the same on every replica. */
static int add_object(yaml_document_t *d, const json_t *j, int depth)
{
    size_t n = json_object_size(j), i = 0;
    const char **keys = rg_malloc((n ? n : 1) * sizeof(*keys));
    const char *k;
    json_t *v;
    int m = 0;

    if (keys == NULL)
        return 0;
    json_object_foreach((json_t *)j, k, v) {
        keys[i++] = k;
    }
    qsort(keys, n, sizeof(*keys), by_name);
    m = yaml_document_add_mapping(d, NULL, YAML_BLOCK_MAPPING_STYLE);
    for (i = 0; m != 0 && i < n; i++) {
        int kn = yaml_document_add_scalar(d, NULL, (yaml_char_t *)keys[i],
                                          (int)strlen(keys[i]),
                                          YAML_DOUBLE_QUOTED_SCALAR_STYLE);
        int vn = kn ? add_json(d, json_object_get(j, keys[i]), depth + 1)
                    : 0;

        if (vn == 0 || !yaml_document_append_mapping_pair(d, m, kn, vn))
            m = 0;
    }
    rg_free(keys);
    return m;
}

static int add_array(yaml_document_t *d, const json_t *j, int depth)
{
    int s = yaml_document_add_sequence(d, NULL, YAML_FLOW_SEQUENCE_STYLE);
    size_t i;
    json_t *v;

    json_array_foreach(j, i, v) {
        int vn = s ? add_json(d, v, depth + 1) : 0;

        if (vn == 0 || !yaml_document_append_sequence_item(d, s, vn))
            return 0;
    }
    return s;
}

/* A real as the dump writes it (jansson's own format). */
static int add_real(yaml_document_t *d, const json_t *j)
{
    char *text = json_dumps(j, JSON_ENCODE_ANY);
    int n = text ? add_plain(d, text) : 0;

    rg_admin__jfree(text);
    return n;
}

/* Add @j (strings as double-quoted scalars, other scalars plain, as a
 * YAML parser reads the JSON text): its node id, or 0 when out of memory
 * or nested deeper than VALIDATE_MAX_DEPTH. */
static int add_json(yaml_document_t *d, const json_t *j, int depth)
{
    char num[32];

    if (depth > VALIDATE_MAX_DEPTH)
        return 0;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return add_object(d, j, depth);
    case JSON_ARRAY:
        return add_array(d, j, depth);
    case JSON_STRING:
        return yaml_document_add_scalar(d, NULL,
                                        (yaml_char_t *)json_string_value(j),
                                        (int)json_string_length(j),
                                        YAML_DOUBLE_QUOTED_SCALAR_STYLE);
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(j));
        return add_plain(d, num);
    case JSON_REAL:
        return add_real(d, j);
    case JSON_TRUE:
        return add_plain(d, "true");
    case JSON_FALSE:
        return add_plain(d, "false");
    default:
        return add_plain(d, "null");
    }
}

/* Load the data-plane view @dp into the gateway parser (@gw as in
 * rg_gateway_parse). */
static int parse_tree(const json_t *dp, struct rg_gateway *gw,
                      struct rg_errbuf *eb)
{
    struct rg_errbuf e2 = {{0}};
    yaml_document_t d;
    int rv;

    memset(gw, 0, sizeof(*gw));
    if (!yaml_document_initialize(&d, NULL, NULL, NULL, 1, 1))
        return rg_errbuf_set(eb, "out of memory");
    if (add_json(&d, dp, 0) != 1) {
        yaml_document_delete(&d);
        return rg_errbuf_set(eb, "out of memory or nested too deeply");
    }
    rv = rg_gateway_parse_doc(gw, &d, rg_plugins_catalog(), &e2);
    if (rv != 0)
        rg_admin__line1_error(&e2, eb);
    return rv;
}

/* The view as the text rg_admin_config_dataplane gives. */
static int dump(const json_t *dp, char **out, size_t *len,
                struct rg_errbuf *eb)
{
    char *text = json_dumps(dp, JSON_COMPACT | JSON_SORT_KEYS);

    *out = text ? rg_strdup(text) : NULL;
    rg_admin__jfree(text);
    if (*out == NULL)
        return rg_errbuf_set(eb, "out of memory");
    *len = strlen(*out);
    return 0;
}

int rg_admin__dataplane_gateway(const json_t *doc, struct rg_gateway *gw,
                                char **dp_out, size_t *dp_len,
                                struct rg_errbuf *eb)
{
    struct rg_gateway scratch;
    char *text = NULL;
    size_t len = 0;
    int rv = 0;

    memset(&scratch, 0, sizeof(scratch));
    if (gw != NULL)
        memset(gw, 0, sizeof(*gw));
    if (dp_out != NULL)
        rv = dump(doc, &text, &len, eb);
    if (rv == 0)
        rv = parse_tree(doc, gw ? gw : &scratch, eb);
    if (gw == NULL || rv != 0)
        rg_gateway_release(gw ? gw : &scratch);
    if (rv != 0) {
        rg_free(text);
        return rv;
    }
    if (dp_out != NULL) {
        *dp_out = text;
        *dp_len = len;
    }
    return 0;
}

int rg_admin_validate(void *arg, const json_t *doc, char *err, size_t cap)
{
    struct rg_errbuf eb = {{0}};
    int rv = rg_admin__dataplane_gateway(doc, NULL, NULL, NULL, &eb);

    (void)arg;
    if (rv != 0 && err != NULL && cap > 0)
        snprintf(err, cap, "%s", eb.msg[0] ? eb.msg : "invalid");
    return rv != 0;
}
