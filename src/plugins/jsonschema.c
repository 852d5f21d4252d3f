/* The JSON Schema subset: compile (a keyword table, one function per
 * keyword) and validate (first failure wins). See jsonschema.h. */
#include "plugins/jsonschema.h"

#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define RG_JS_STR_(x) #x
#define RG_JS_STR(x) RG_JS_STR_(x)

enum {
    T_NULL = 1 << 0,
    T_BOOL = 1 << 1,
    T_INT = 1 << 2,
    T_NUM = 1 << 3,
    T_STR = 1 << 4,
    T_ARR = 1 << 5,
    T_OBJ = 1 << 6,
};

static const char *const type_names[] = {
    "null", "boolean", "integer", "number", "string", "array", "object"};
#define N_TYPES (sizeof(type_names) / sizeof(type_names[0]))

enum {
    H_MIN = 1 << 0,
    H_MAX = 1 << 1,
    H_MINLEN = 1 << 2,
    H_MAXLEN = 1 << 3,
    H_RE = 1 << 4,
};

struct prop {
    char *name;           /* owned */
    struct rg_js *schema; /* owned */
};

struct rg_js {
    unsigned types; /* T_* bits; 0: any type */
    unsigned has;   /* H_* bits */
    double minimum, maximum;
    size_t min_len, max_len; /* code points */
    regex_t re;              /* H_RE */
    char *pattern;           /* owned, for details */
    json_t *enum_v;          /* one reference, or NULL */
    char **required;         /* owned, each owned */
    size_t n_required;
    struct prop *props; /* owned, sorted by name */
    size_t n_props;
    int no_additional;   /* additionalProperties: false */
    struct rg_js *items; /* owned, or NULL */
};

void rg_js_free(struct rg_js *s)
{
    if (s == NULL)
        return;
    if (s->has & H_RE)
        regfree(&s->re);
    rg_free(s->pattern);
    json_decref(s->enum_v);
    for (size_t i = 0; i < s->n_required; i++)
        rg_free(s->required[i]);
    rg_free(s->required);
    for (size_t i = 0; i < s->n_props; i++) {
        rg_free(s->props[i].name);
        rg_js_free(s->props[i].schema);
    }
    rg_free(s->props);
    rg_js_free(s->items);
    rg_free(s);
}

/* ---- compile ---- */

struct cctx {
    char *err;
    size_t cap;
    char where[RG_JS_PATH_MAX]; /* "properties.age.minimum" */
    size_t len;
    int depth;
};

static int cerr(struct cctx *c, const char *fmt, ...)
{
    va_list ap;
    int n;

    n = snprintf(c->err, c->cap, "%s: ", c->len ? c->where : "(root)");
    if (n >= 0 && (size_t)n < c->cap) {
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->cap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* Append @name to the schema path; returns the mark to pop to. */
static size_t cpush(struct cctx *c, const char *name)
{
    size_t mark = c->len;
    int n = snprintf(c->where + c->len, sizeof(c->where) - c->len, "%s%s",
                     c->len ? "." : "", name);

    if (n < 0 || (size_t)n >= sizeof(c->where) - c->len) {
        c->len = sizeof(c->where) - 1;
        memcpy(c->where + c->len - 3, "...", 3);
    } else {
        c->len += (size_t)n;
    }
    return mark;
}

static void cpop(struct cctx *c, size_t mark)
{
    c->len = mark;
    c->where[mark] = '\0';
}

static int compile(struct cctx *c, const json_t *j, struct rg_js **out);

static int type_bit(const char *name, unsigned *bit)
{
    for (size_t i = 0; i < N_TYPES; i++) {
        if (strcmp(name, type_names[i]) == 0) {
            *bit = 1u << i;
            return 0;
        }
    }
    return -1;
}

static int k_type(struct cctx *c, struct rg_js *s, const json_t *v)
{
    static const char bad[] = "must be one of null, boolean, integer, "
                              "number, string, array, object (or an array "
                              "of them)";
    unsigned bit;
    size_t i;
    const json_t *it;

    if (json_is_string(v)) {
        if (type_bit(json_string_value(v), &bit) != 0)
            return cerr(c, bad);
        s->types = bit;
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return cerr(c, bad);
    json_array_foreach(v, i, it)
    {
        if (!json_is_string(it) || type_bit(json_string_value(it), &bit))
            return cerr(c, bad);
        s->types |= bit;
    }
    return 0;
}

static int k_required(struct cctx *c, struct rg_js *s, const json_t *v)
{
    size_t i;
    const json_t *it;

    if (!json_is_array(v))
        return cerr(c, "must be an array of property names");
    s->required = rg_calloc(json_array_size(v) + 1, sizeof(char *));
    if (s->required == NULL)
        return -ENOMEM;
    json_array_foreach(v, i, it)
    {
        if (!json_is_string(it))
            return cerr(c, "must be an array of property names");
        s->required[i] = rg_strdup(json_string_value(it));
        if (s->required[i] == NULL)
            return -ENOMEM;
        s->n_required = i + 1;
    }
    return 0;
}

static int prop_cmp(const void *a, const void *b)
{
    return strcmp(((const struct prop *)a)->name,
                  ((const struct prop *)b)->name);
}

static int k_properties(struct cctx *c, struct rg_js *s, const json_t *v)
{
    const char *key;
    const json_t *sub;
    int rv;

    if (!json_is_object(v))
        return cerr(c, "must be an object of schemas");
    s->props = rg_calloc(json_object_size(v) + 1, sizeof(*s->props));
    if (s->props == NULL)
        return -ENOMEM;
    json_object_foreach((json_t *)v, key, sub)
    {
        struct prop *p = &s->props[s->n_props];
        size_t mark = cpush(c, key);

        p->name = rg_strdup(key);
        if (p->name == NULL)
            return -ENOMEM;
        s->n_props++;
        rv = compile(c, sub, &p->schema);
        if (rv != 0)
            return rv;
        cpop(c, mark);
    }
    qsort(s->props, s->n_props, sizeof(*s->props), prop_cmp);
    return 0;
}

static int k_additional(struct cctx *c, struct rg_js *s, const json_t *v)
{
    if (!json_is_boolean(v))
        return cerr(c, "only a boolean is supported");
    s->no_additional = json_is_false(v);
    return 0;
}

static int k_items(struct cctx *c, struct rg_js *s, const json_t *v)
{
    if (json_is_array(v))
        return cerr(c, "the tuple form (an array of schemas) is not "
                       "supported");
    return compile(c, v, &s->items);
}

static int k_enum(struct cctx *c, struct rg_js *s, const json_t *v)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return cerr(c, "must be a non-empty array");
    s->enum_v = json_incref((json_t *)v);
    return 0;
}

static int number(struct cctx *c, const json_t *v, double *out)
{
    if (!json_is_number(v))
        return cerr(c, "must be a number");
    *out = json_number_value(v);
    return 0;
}

static int k_minimum(struct cctx *c, struct rg_js *s, const json_t *v)
{
    s->has |= H_MIN;
    return number(c, v, &s->minimum);
}

static int k_maximum(struct cctx *c, struct rg_js *s, const json_t *v)
{
    s->has |= H_MAX;
    return number(c, v, &s->maximum);
}

static int count(struct cctx *c, const json_t *v, size_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return cerr(c, "must be a non-negative integer");
    *out = (size_t)json_integer_value(v);
    return 0;
}

static int k_min_length(struct cctx *c, struct rg_js *s, const json_t *v)
{
    s->has |= H_MINLEN;
    return count(c, v, &s->min_len);
}

static int k_max_length(struct cctx *c, struct rg_js *s, const json_t *v)
{
    s->has |= H_MAXLEN;
    return count(c, v, &s->max_len);
}

/* The end of the bracket expression opening at @p ("[" already seen at
 * p[-1]): the index past its "]", or 0 when it does not close. */
static size_t bracket_end(const char *p, size_t i)
{
    if (p[i] == '^')
        i++;
    if (p[i] == ']')
        i++; /* a literal "]" first */
    while (p[i] != '\0' && p[i] != ']') {
        if (p[i] == '[' &&
            (p[i + 1] == ':' || p[i + 1] == '.' || p[i + 1] == '=')) {
            char kind = p[i + 1];

            for (i += 2; p[i] != '\0' && !(p[i] == kind && p[i + 1] == ']');)
                i++;
            if (p[i] == '\0')
                return 0;
            i += 2;
            continue;
        }
        i++;
    }
    return p[i] == ']' ? i + 1 : 0;
}

/* The repetition's copies: glibc's regcomp copies the repeated tree for
 * "+" (twice) and "{n,m}" (m, or n + 1 when unbounded), so nested or
 * stacked repetitions grow it exponentially; *@f multiplies them all (an
 * upper bound, as if every one nested the others). */
static const char *bound_copies(const char *p, size_t *i, double *f)
{
    char *end;
    unsigned long n = strtoul(p + *i + 1, &end, 10), m = n + 1;

    if (*end == ',') {
        if (end[1] != '}')
            m = strtoul(end + 1, &end, 10);
        else
            end++;
    }
    if (*end != '}')
        return NULL; /* regcomp says what is wrong */
    *f *= (double)(m > 0 ? m : 1);
    *i = (size_t)(end - p);
    return "";
}

/* Refuse what would make regcomp's memory explode: over RG_JS_PATTERN_MAX
 * bytes, a repetition right after another (undefined in POSIX EREs), or
 * repetitions multiplying the pattern past 2^20 nodes. NULL when fine,
 * else why. */
static const char *pattern_cost(const char *p)
{
    size_t n = strlen(p), e;
    double f = 1;
    int prev = 0; /* the last item was a repetition */

    if (n > RG_JS_PATTERN_MAX)
        return "longer than " RG_JS_STR(RG_JS_PATTERN_MAX) " bytes";
    for (size_t i = 0; i < n; i++) {
        int rep = p[i] == '+' || p[i] == '*' || p[i] == '?' || p[i] == '{';

        if (rep && prev)
            return "a repetition follows another (undefined in POSIX "
                   "extended regular expressions)";
        if (p[i] == '+')
            f *= 2;
        else if (p[i] == '{' && bound_copies(p, &i, &f) == NULL)
            return NULL;
        else if (p[i] == '\\' && p[i + 1] != '\0')
            i++;
        else if (p[i] == '[' && (e = bracket_end(p, i + 1)) != 0)
            i = e - 1;
        prev = rep;
    }
    return f * (double)n > (double)(1 << 20)
               ? "its repetitions multiply out too far to compile"
               : NULL;
}

static int k_pattern(struct cctx *c, struct rg_js *s, const json_t *v)
{
    const char *why;
    char msg[128];
    int rv;

    if (!json_is_string(v) ||
        strlen(json_string_value(v)) != json_string_length(v))
        return cerr(c, "must be a string");
    why = pattern_cost(json_string_value(v));
    if (why != NULL)
        return cerr(c, "%s", why);
    s->pattern = rg_strdup(json_string_value(v));
    if (s->pattern == NULL)
        return -ENOMEM;
    rv = regcomp(&s->re, s->pattern, REG_EXTENDED | REG_NOSUB);
    if (rv != 0) {
        regerror(rv, &s->re, msg, sizeof(msg));
        return cerr(c, "not a POSIX extended regular expression: %s", msg);
    }
    s->has |= H_RE;
    return 0;
}

static int k_schema(struct cctx *c, struct rg_js *s, const json_t *v)
{
    (void)s;
    if (!json_is_string(v) || strstr(json_string_value(v), "draft-04") == NULL)
        return cerr(c, "only draft-04 is supported");
    return 0;
}

static int k_annotation(struct cctx *c, struct rg_js *s, const json_t *v)
{
    (void)c;
    (void)s;
    (void)v;
    return 0;
}

struct keyword {
    const char *name;
    int (*fn)(struct cctx *c, struct rg_js *s, const json_t *v);
};

/* clang-format off */
static const struct keyword keywords[] = {
    {"type", k_type}, {"required", k_required},
    {"properties", k_properties}, {"additionalProperties", k_additional},
    {"items", k_items}, {"enum", k_enum},
    {"minimum", k_minimum}, {"maximum", k_maximum},
    {"minLength", k_min_length}, {"maxLength", k_max_length},
    {"pattern", k_pattern},
    {"$schema", k_schema},
    {"title", k_annotation}, {"description", k_annotation},
    {"default", k_annotation}, {"examples", k_annotation},
    {"$comment", k_annotation},
    {NULL, NULL},
};
/* clang-format on */

static const struct keyword *keyword_find(const char *name)
{
    for (const struct keyword *k = keywords; k->name != NULL; k++) {
        if (strcmp(k->name, name) == 0)
            return k;
    }
    return NULL;
}

static int compile_keys(struct cctx *c, const json_t *j, struct rg_js *s)
{
    const char *key;
    const json_t *v;
    int rv;

    json_object_foreach((json_t *)j, key, v)
    {
        const struct keyword *k = keyword_find(key);
        size_t mark = cpush(c, key);

        if (k == NULL)
            return cerr(c, "keyword not supported (the subset: type, "
                           "required, properties, additionalProperties, "
                           "items, enum, minimum, maximum, minLength, "
                           "maxLength, pattern)");
        rv = k->fn(c, s, v);
        if (rv != 0)
            return rv;
        cpop(c, mark);
    }
    return 0;
}

static int compile(struct cctx *c, const json_t *j, struct rg_js **out)
{
    struct rg_js *s;
    int rv;

    *out = NULL;
    if (!json_is_object(j))
        return cerr(c, "a schema must be an object");
    if (c->depth >= RG_JS_DEPTH_MAX)
        return cerr(c, "schemas nest deeper than %d", RG_JS_DEPTH_MAX);
    s = rg_calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    *out = s; /* freed by the caller's ladder on failure */
    c->depth++;
    rv = compile_keys(c, j, s);
    c->depth--;
    if (rv != 0)
        return rv;
    /* Bounds no value can meet are a mistake in the schema, not a rule. */
    if ((s->has & H_MIN) && (s->has & H_MAX) && s->minimum > s->maximum)
        return cerr(c, "minimum is above maximum");
    if ((s->has & H_MINLEN) && (s->has & H_MAXLEN) && s->min_len > s->max_len)
        return cerr(c, "minLength is above maxLength");
    return 0;
}

int rg_js_compile(const json_t *schema, struct rg_js **out, char *err,
                  size_t cap)
{
    struct cctx c;
    struct rg_js *s;
    int rv;

    memset(&c, 0, sizeof(c));
    c.err = err;
    c.cap = cap;
    *out = NULL;
    rv = compile(&c, schema, &s);
    if (rv == -ENOMEM)
        snprintf(err, cap, "out of memory");
    if (rv != 0) {
        rg_js_free(s);
        return rv;
    }
    *out = s;
    return 0;
}

/* ---- validate ---- */

struct vctx {
    struct rg_js_error *e;
    size_t len; /* of e->path */
    int cut;    /* the path was cut: appends do nothing */
};

static int vfail(struct vctx *v, const char *rule, const char *fmt, ...)
{
    va_list ap;

    v->e->rule = rule;
    va_start(ap, fmt);
    vsnprintf(v->e->detail, sizeof(v->e->detail), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static void vappend(struct vctx *v, const char *s, size_t n)
{
    char *p = v->e->path;
    size_t q;

    if (v->cut)
        return;
    if (v->len + n < RG_JS_PATH_MAX) {
        memcpy(p + v->len, s, n);
        v->len += n;
        p[v->len] = '\0';
        return;
    }
    /* Cut, ending in "..." at a character's start: the path goes into
     * JSON. */
    memcpy(p + v->len, s, RG_JS_PATH_MAX - 1 - v->len);
    q = RG_JS_PATH_MAX - 4;
    while (q > 0 && ((unsigned char)p[q] & 0xc0) == 0x80)
        q--;
    memcpy(p + q, "...", 4);
    v->len = q + 3;
    v->cut = 1;
}

static int identifier(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return 0;
    for (s++; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    }
    return 1;
}

/* ".name", or "['na me']" with ' and \ escaped. Returns the mark. */
static size_t vpush_key(struct vctx *v, const char *key)
{
    size_t mark = v->len;

    if (identifier(key)) {
        vappend(v, ".", 1);
        vappend(v, key, strlen(key));
        return mark;
    }
    vappend(v, "['", 2);
    for (const char *k = key; *k != '\0'; k++) {
        if (*k == '\'' || *k == '\\')
            vappend(v, "\\", 1);
        vappend(v, k, 1);
    }
    vappend(v, "']", 2);
    return mark;
}

static size_t vpush_index(struct vctx *v, size_t i)
{
    char b[32];
    size_t mark = v->len;
    int n = snprintf(b, sizeof(b), "[%zu]", i);

    vappend(v, b, (size_t)n);
    return mark;
}

static void vpop(struct vctx *v, size_t mark)
{
    v->cut = 0;
    v->len = mark;
    v->e->path[mark] = '\0';
}

static unsigned type_of(const json_t *j)
{
    double d;

    switch (json_typeof(j)) {
    case JSON_NULL:
        return T_NULL;
    case JSON_TRUE:
    case JSON_FALSE:
        return T_BOOL;
    case JSON_INTEGER:
        return T_INT | T_NUM;
    case JSON_REAL:
        d = json_real_value(j);
        return isfinite(d) && floor(d) == d ? T_INT | T_NUM : T_NUM;
    case JSON_STRING:
        return T_STR;
    case JSON_ARRAY:
        return T_ARR;
    default:
        return T_OBJ;
    }
}

static const char *type_name(unsigned bits)
{
    for (size_t i = 0; i < N_TYPES; i++) {
        if (bits & (1u << i))
            return type_names[i];
    }
    return "?";
}

/* "string or null" for the allowed types @t into @b. */
static void type_list(unsigned t, char *b, size_t cap)
{
    size_t o = 0;

    b[0] = '\0';
    for (size_t i = 0; i < N_TYPES && o < cap; i++) {
        if (t & (1u << i))
            o += (size_t)snprintf(b + o, cap - o, "%s%s", o ? " or " : "",
                                  type_names[i]);
    }
}

static int check_type(struct vctx *v, const struct rg_js *s, unsigned got)
{
    char want[96];

    if (s->types == 0 || (s->types & got))
        return 0;
    type_list(s->types, want, sizeof(want));
    /* An integral real is reported as an integer only when it counts. */
    return vfail(v, "type", "expected %s, got %s", want,
                 type_name(got & T_INT ? T_INT : got));
}

static int check_enum(struct vctx *v, const struct rg_js *s, const json_t *j)
{
    size_t i;
    const json_t *it;

    if (s->enum_v == NULL)
        return 0;
    json_array_foreach(s->enum_v, i, it)
    {
        if (json_equal((json_t *)it, (json_t *)j))
            return 0;
    }
    return vfail(v, "enum", "must be one of the schema's enum values");
}

static int check_number(struct vctx *v, const struct rg_js *s, double d)
{
    if ((s->has & H_MIN) && !(d >= s->minimum))
        return vfail(v, "minimum", "must be >= %.15g", s->minimum);
    if ((s->has & H_MAX) && !(d <= s->maximum))
        return vfail(v, "maximum", "must be <= %.15g", s->maximum);
    return 0;
}

/* Code points of valid UTF-8 (jansson's strings are). */
static size_t utf8_len(const char *p, size_t n)
{
    size_t cp = 0;

    for (size_t i = 0; i < n; i++)
        cp += ((unsigned char)p[i] & 0xc0) != 0x80;
    return cp;
}

static int check_string(struct vctx *v, const struct rg_js *s, const json_t *j)
{
    const char *p = json_string_value(j);
    size_t n = json_string_length(j);
    size_t cp = utf8_len(p, n);

    if ((s->has & H_MINLEN) && cp < s->min_len)
        return vfail(v, "minLength", "must be at least %zu characters long",
                     s->min_len);
    if ((s->has & H_MAXLEN) && cp > s->max_len)
        return vfail(v, "maxLength", "must be at most %zu characters long",
                     s->max_len);
    if ((s->has & H_RE) &&
        (strlen(p) != n || regexec(&s->re, p, 0, NULL, 0) != 0))
        return vfail(v, "pattern", "must match the pattern %s", s->pattern);
    return 0;
}

static int validate(struct vctx *v, const struct rg_js *s, const json_t *j);

static const struct rg_js *prop_find(const struct rg_js *s, const char *key)
{
    struct prop k = {.name = (char *)key};
    const struct prop *p;

    if (s->n_props == 0)
        return NULL; /* no properties: props is NULL, bsearch's is nonnull */
    p = bsearch(&k, s->props, s->n_props, sizeof(*s->props), prop_cmp);
    return p != NULL ? p->schema : NULL;
}

static int check_object(struct vctx *v, const struct rg_js *s, const json_t *j)
{
    const char *key;
    json_t *it;
    size_t mark;
    int rv;

    for (size_t i = 0; i < s->n_required; i++) {
        if (json_object_get(j, s->required[i]) == NULL) {
            vpush_key(v, s->required[i]);
            return vfail(v, "required", "is required");
        }
    }
    for (size_t i = 0; i < s->n_props; i++) {
        it = json_object_get(j, s->props[i].name);
        if (it == NULL)
            continue;
        mark = vpush_key(v, s->props[i].name);
        rv = validate(v, s->props[i].schema, it);
        if (rv != 0)
            return rv;
        vpop(v, mark);
    }
    if (!s->no_additional)
        return 0;
    json_object_foreach((json_t *)j, key, it)
    {
        if (prop_find(s, key) == NULL) {
            vpush_key(v, key);
            return vfail(v, "additionalProperties",
                         "is not an allowed property");
        }
    }
    return 0;
}

static int check_array(struct vctx *v, const struct rg_js *s, const json_t *j)
{
    size_t i, mark;
    const json_t *it;
    int rv;

    if (s->items == NULL)
        return 0;
    json_array_foreach(j, i, it)
    {
        mark = vpush_index(v, i);
        rv = validate(v, s->items, it);
        if (rv != 0)
            return rv;
        vpop(v, mark);
    }
    return 0;
}

static int validate(struct vctx *v, const struct rg_js *s, const json_t *j)
{
    unsigned t = type_of(j);
    int rv = check_type(v, s, t);

    if (rv == 0)
        rv = check_enum(v, s, j);
    if (rv != 0)
        return rv;
    if (t & T_NUM)
        return check_number(v, s, json_number_value(j));
    if (t & T_STR)
        return check_string(v, s, j);
    if (t & T_OBJ)
        return check_object(v, s, j);
    if (t & T_ARR)
        return check_array(v, s, j);
    return 0;
}

int rg_js_validate(const struct rg_js *s, const json_t *doc,
                   struct rg_js_error *e)
{
    struct vctx v = {.e = e, .len = 1};

    memcpy(e->path, "$", 2);
    e->rule = NULL;
    e->detail[0] = '\0';
    return validate(&v, s, doc);
}
