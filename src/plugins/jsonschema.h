/* A JSON Schema (draft 4) subset, compiled once per config generation and
 * then used by any number of workers at once (a compiled schema is
 * immutable). The subset:
 *
 *   type                 a type name or an array of them: null, boolean,
 *                        integer (a number without a fraction), number,
 *                        string, array, object
 *   required             an array of property names (objects)
 *   properties           an object of schemas (objects)
 *   additionalProperties a boolean only (false: no property outside
 *                        `properties`)
 *   items                one schema for every item (arrays); the tuple
 *                        form is not supported
 *   enum                 an array of values; the instance equals one
 *   minimum, maximum     numbers, inclusive (numbers)
 *   minLength, maxLength counts of characters (Unicode code points), not
 *                        bytes (strings)
 *   pattern              a POSIX extended regular expression (regcomp,
 *                        REG_EXTENDED), unanchored as JSON Schema's; a
 *                        string holding a NUL never matches; at most
 *                        RG_JS_PATTERN_MAX bytes, no repetition right
 *                        after another ("a++"), and repetitions that
 *                        would multiply glibc's compiled tree past 2^20
 *                        nodes ("(a{1,100}){1,100}") are refused, so a
 *                        pattern cannot exhaust memory at compile time
 *
 * A keyword constrains only instances of its kind (minimum says nothing
 * about a string), as JSON Schema says. Annotations are accepted and
 * ignored: title, description, default, examples, $comment, and $schema
 * when it names draft-04. Any other keyword (exclusiveMinimum, oneOf,
 * $ref, format...) is a compile error naming it, so a schema is never
 * enforced less than it reads. Schemas nest at most RG_JS_DEPTH_MAX deep.
 *
 * Validation stops at the first failure and names it: the instance's path
 * in JSONPath form ($, $.user.age, $.tags[2], $['a b']), the keyword
 * (rule) and a sentence (detail). Thread: any. */
#ifndef RG_PLUGINS_JSONSCHEMA_H
#define RG_PLUGINS_JSONSCHEMA_H

#include <stddef.h>

#include <jansson.h>

#include "core/err.h"

#define RG_JS_DEPTH_MAX 32     /* nesting of schemas */
#define RG_JS_PATH_MAX 256     /* bytes of a path or a compile error's */
#define RG_JS_DETAIL_MAX 256   /* bytes of a detail */
#define RG_JS_PATTERN_MAX 1024 /* bytes of a pattern */

struct rg_js;

/* A validation failure. */
struct rg_js_error {
    char path[RG_JS_PATH_MAX];     /* "$.user.age"; cut with "..." */
    const char *rule;              /* "minimum", "type", "json"...; static */
    char detail[RG_JS_DETAIL_MAX]; /* "must be >= 18" */
};

/* Compile @schema (borrowed; must be an object) into *@out. On a bad
 * schema returns -EINVAL with "<where>: <what>" in @err (@cap bytes),
 * <where> being the keyword's place in the schema, e.g.
 * "properties.age.exclusiveMinimum: keyword not supported"; -ENOMEM. */
int rg_js_compile(const json_t *schema, struct rg_js **out, char *err,
                  size_t cap) RG_MUST_CHECK;

/* Free @s; accepts NULL. */
void rg_js_free(struct rg_js *s);

/* Check @doc (borrowed) against @s: 0 when it conforms, else -EINVAL
 * with @e filled. */
int rg_js_validate(const struct rg_js *s, const json_t *doc,
                   struct rg_js_error *e);

#endif
