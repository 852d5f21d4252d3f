/* Walking a libyaml document with path-qualified errors; see yamltree.h. */
#include "config/yamltree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"

/* Node visits allowed per node in the document, plus a floor: plain
 * documents visit each node once, so only alias fan-out reaches it. */
#define VISITS_PER_NODE 16
#define VISITS_FLOOR 1024

#define CLIP_MAX 40

static int parser_error(struct rg_yt *t, const yaml_parser_t *p)
{
    const char *what = p->problem != NULL ? p->problem : "malformed input";

    if (p->error == YAML_MEMORY_ERROR)
        return rg_yt_nomem(t);
    if (p->error == YAML_READER_ERROR)
        return rg_errbuf_set(t->eb, "YAML syntax error: %s (byte %zu)", what,
                             p->problem_offset);
    return rg_errbuf_set(t->eb, "YAML syntax error: %s (line %zu, column %zu)",
                         what, p->problem_mark.line + 1,
                         p->problem_mark.column + 1);
}

/* Load the next document of @p into @doc; 1 when it has a root node. */
static int load_next(struct rg_yt *t, yaml_parser_t *p, yaml_document_t *doc)
{
    if (!yaml_parser_load(p, doc))
        return parser_error(t, p);
    return yaml_document_get_root_node(doc) != NULL;
}

static void set_budget(struct rg_yt *t)
{
    t->budget = (unsigned long)(t->doc.nodes.top - t->doc.nodes.start) *
                    VISITS_PER_NODE +
                VISITS_FLOOR;
}

int rg_yt_load(struct rg_yt *t, const char *text, size_t len,
               struct rg_errbuf *eb)
{
    yaml_parser_t p;
    yaml_document_t extra;
    int rv;

    memset(t, 0, sizeof(*t));
    t->eb = eb;
    if (!yaml_parser_initialize(&p))
        return rg_yt_nomem(t);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    rv = load_next(t, &p, &t->doc);
    if (rv < 0)
        goto err_after_parser;
    t->loaded = 1;
    if (rv == 1) {
        rv = load_next(t, &p, &extra);
        if (rv < 0)
            goto err_after_doc;
        yaml_document_delete(&extra);
        if (rv == 1) {
            rv = rg_errbuf_set(eb, "only one YAML document is allowed");
            goto err_after_doc;
        }
    }
    set_budget(t);
    yaml_parser_delete(&p);
    return 0;

err_after_doc:
    yaml_document_delete(&t->doc);
    t->loaded = 0;
err_after_parser:
    yaml_parser_delete(&p);
    return rv;
}

void rg_yt_adopt(struct rg_yt *t, yaml_document_t *doc, struct rg_errbuf *eb)
{
    memset(t, 0, sizeof(*t));
    t->eb = eb;
    t->doc = *doc;
    t->loaded = 1;
    memset(doc, 0, sizeof(*doc));
    set_budget(t);
}

void rg_yt_release(struct rg_yt *t)
{
    if (t->loaded)
        yaml_document_delete(&t->doc);
    t->loaded = 0;
}

yaml_node_t *rg_yt_root(struct rg_yt *t)
{
    return t->loaded ? yaml_document_get_root_node(&t->doc) : NULL;
}

void rg_yt_clip(const char *s, size_t len, char *out, size_t cap)
{
    size_t n = len > CLIP_MAX ? CLIP_MAX : len;
    size_t i;

    if (cap < CLIP_MAX + 8) {
        out[0] = '\0';
        return;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (n < len) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
}

/* Append @s to the path, ending in "..." when it no longer fits. */
static void path_append(struct rg_yt *t, const char *s, size_t n)
{
    size_t room;

    if (t->path_len >= sizeof(t->path) - 4)
        return; /* already cut */
    room = sizeof(t->path) - 4 - t->path_len;
    if (n >= room) {
        memcpy(t->path + t->path_len, s, room);
        memcpy(t->path + t->path_len + room, "...", 4);
        t->path_len += room + 3;
        return;
    }
    memcpy(t->path + t->path_len, s, n);
    t->path_len += n;
    t->path[t->path_len] = '\0';
}

size_t rg_yt_push_key(struct rg_yt *t, const char *key, size_t len)
{
    char clip[CLIP_MAX + 8];
    size_t mark = t->path_len;

    if (t->path_len > 0)
        path_append(t, ".", 1);
    rg_yt_clip(key, len, clip, sizeof(clip));
    path_append(t, clip, strlen(clip));
    return mark;
}

size_t rg_yt_push_index(struct rg_yt *t, size_t i)
{
    char buf[32];
    size_t mark = t->path_len;
    int n = snprintf(buf, sizeof(buf), "[%zu]", i);

    path_append(t, buf, (size_t)n);
    return mark;
}

void rg_yt_pop(struct rg_yt *t, size_t mark)
{
    t->path_len = mark;
    t->path[mark] = '\0';
}

int rg_yt_err(struct rg_yt *t, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[RG_ERRBUF_SIZE];
    const char *path = t->path_len > 0 ? t->path : "document";
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n == NULL)
        return rg_errbuf_set(t->eb, "%s: %s", path, msg);
    return rg_errbuf_set(t->eb, "%s: %s (line %zu)", path, msg,
                         n->start_mark.line + 1);
}

int rg_yt_nomem(struct rg_yt *t)
{
    rg_errbuf_set(t->eb, "out of memory");
    return -ENOMEM;
}

static yaml_node_t *node_at(struct rg_yt *t, int id)
{
    return yaml_document_get_node(&t->doc, id);
}

yaml_node_t *rg_yt_get(struct rg_yt *t, yaml_node_t *map, const char *key)
{
    size_t len = strlen(key);

    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(t, p->key), *v;

        if (k->type == YAML_SCALAR_NODE && k->data.scalar.length == len &&
            memcmp(k->data.scalar.value, key, len) == 0) {
            v = node_at(t, p->value);
            return rg_yt_is_null(v) ? NULL : v;
        }
    }
    return NULL;
}

/* Charge one node visit; fails once an alias fan-out used the budget. */
static int visit(struct rg_yt *t, const yaml_node_t *n)
{
    if (t->budget == 0)
        return rg_yt_err(t, n, "too many nodes after alias expansion");
    t->budget--;
    return 0;
}

static int find_key(const struct rg_yt_key *keys, const char *s, size_t n)
{
    for (int i = 0; keys[i].name != NULL && i < 64; i++) {
        if (strlen(keys[i].name) == n && memcmp(keys[i].name, s, n) == 0)
            return i;
    }
    return -1;
}

static int map_pair(struct rg_yt *t, yaml_node_t *k, yaml_node_t *v,
                    const struct rg_yt_key *keys, uint64_t *seen, void *ctx)
{
    const char *s = (const char *)k->data.scalar.value;
    size_t n = k->data.scalar.length;
    size_t mark;
    int i;
    int rv;

    if (k->type != YAML_SCALAR_NODE || memchr(s, '\0', n) != NULL)
        return rg_yt_err(t, k, "keys must be strings");
    mark = rg_yt_push_key(t, s, n);
    i = find_key(keys, s, n);
    if (i < 0)
        rv = rg_yt_err(t, k, "unknown key");
    else if (*seen & (UINT64_C(1) << i))
        rv = rg_yt_err(t, k, "duplicate key");
    else if (rg_yt_is_null(v))
        rv = 0;
    else if (keys[i].fn == NULL)
        rv = rg_yt_err(t, v, "not supported yet");
    else
        rv = keys[i].fn(t, v, ctx);
    if (i >= 0)
        *seen |= UINT64_C(1) << i;
    rg_yt_pop(t, mark);
    return rv;
}

int rg_yt_map(struct rg_yt *t, yaml_node_t *n, const struct rg_yt_key *keys,
              void *ctx)
{
    yaml_node_pair_t *pair;
    uint64_t seen = 0;
    int rv;

    if (n == NULL || n->type != YAML_MAPPING_NODE)
        return rg_yt_err(t, n, "must be a mapping");
    for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top;
         pair++) {
        yaml_node_t *k = node_at(t, pair->key);
        yaml_node_t *v = node_at(t, pair->value);

        rv = visit(t, k);
        if (rv == 0)
            rv = map_pair(t, k, v, keys, &seen, ctx);
        if (rv < 0)
            return rv;
    }
    return 0;
}

/* Whether an earlier key of @n's pairs before @end equals @k. Quadratic,
 * which suits the few keys of a free-form mapping (headers to add). */
static int key_before(struct rg_yt *t, yaml_node_t *n, yaml_node_pair_t *end,
                      const yaml_node_t *k)
{
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < end; p++) {
        yaml_node_t *o = node_at(t, p->key);

        if (o->data.scalar.length == k->data.scalar.length &&
            memcmp(o->data.scalar.value, k->data.scalar.value,
                   k->data.scalar.length) == 0)
            return 1;
    }
    return 0;
}

int rg_yt_pairs(struct rg_yt *t, yaml_node_t *n, rg_yt_pair_fn fn, void *ctx)
{
    yaml_node_pair_t *pair;
    size_t mark;
    int rv;

    if (n == NULL || n->type != YAML_MAPPING_NODE)
        return rg_yt_err(t, n, "must be a mapping");
    for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top;
         pair++) {
        yaml_node_t *k = node_at(t, pair->key);
        const char *s = (const char *)k->data.scalar.value;
        size_t len = k->data.scalar.length;

        rv = visit(t, k);
        if (rv < 0)
            return rv;
        if (k->type != YAML_SCALAR_NODE || memchr(s, '\0', len) != NULL)
            return rg_yt_err(t, k, "keys must be strings");
        mark = rg_yt_push_key(t, s, len);
        rv = key_before(t, n, pair, k) ? rg_yt_err(t, k, "duplicate key")
                                        : fn(t, s, len, node_at(t, pair->value),
                                             ctx);
        rg_yt_pop(t, mark);
        if (rv < 0)
            return rv;
    }
    return 0;
}

int rg_yt_seq(struct rg_yt *t, yaml_node_t *n, rg_yt_item_fn fn, void *ctx)
{
    yaml_node_item_t *it;
    size_t i = 0;
    size_t mark;
    int rv;

    if (n == NULL || n->type != YAML_SEQUENCE_NODE)
        return rg_yt_err(t, n, "must be a list");
    for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++, i++) {
        yaml_node_t *item = node_at(t, *it);

        mark = rg_yt_push_index(t, i);
        rv = visit(t, item);
        if (rv == 0)
            rv = fn(t, item, i, ctx);
        rg_yt_pop(t, mark);
        if (rv < 0)
            return rv;
    }
    return 0;
}

static int plain_is(const yaml_node_t *n, const char *const *words)
{
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;

    if (n->type != YAML_SCALAR_NODE ||
        n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    for (; *words != NULL; words++) {
        if (strlen(*words) == len && memcmp(*words, s, len) == 0)
            return 1;
    }
    return 0;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"true", "True", "TRUE", NULL};
static const char *const false_words[] = {"false", "False", "FALSE", NULL};

int rg_yt_is_null(const yaml_node_t *n)
{
    return n == NULL || plain_is(n, null_words);
}

int rg_yt_is_empty_seq(const yaml_node_t *n)
{
    return n != NULL && n->type == YAML_SEQUENCE_NODE &&
           n->data.sequence.items.top == n->data.sequence.items.start;
}

static size_t span(const char *s, size_t len, const char *set)
{
    size_t i = 0;

    while (i < len && strchr(set, s[i]) != NULL)
        i++;
    return i;
}

/* 1 when @n is a plain scalar that YAML's core schema (§10.3.2) reads as
 * an integer or a float: [-+]?digits[.digits][e[-+]digits], 0x.., 0o..,
 * [-+]?.inf, .nan. */
static int plain_number(const yaml_node_t *n)
{
    static const char *const inf_nan[] = {".inf", ".Inf", ".INF", ".nan",
                                          ".NaN", ".NAN", NULL};
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length, i = 0, d;

    if (n->type != YAML_SCALAR_NODE ||
        n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || len == 0)
        return 0;
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o'))
        return span(s + 2, len - 2,
                    s[1] == 'x' ? "0123456789abcdefABCDEF" : "01234567") ==
               len - 2;
    if (s[0] == '-' || s[0] == '+')
        i = 1;
    for (const char *const *w = inf_nan; *w != NULL; w++)
        if (len - i == 4 && memcmp(s + i, *w, 4) == 0)
            return 1;
    d = span(s + i, len - i, "0123456789");
    i += d;
    if (i < len && s[i] == '.') {
        size_t f = span(s + i + 1, len - i - 1, "0123456789");

        d += f;
        i += 1 + f;
    }
    if (d == 0)
        return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        d = span(s + i, len - i, "0123456789");
        if (d == 0)
            return 0;
        i += d;
    }
    return i == len;
}

int rg_yt_text(struct rg_yt *t, yaml_node_t *n, const char **s, size_t *len)
{
    if (n != NULL && (plain_number(n) || plain_is(n, true_words) ||
                      plain_is(n, false_words)))
        return rg_yt_err(t, n, "must be a string");
    return rg_yt_scalar(t, n, s, len);
}

int rg_yt_scalar(struct rg_yt *t, yaml_node_t *n, const char **s, size_t *len)
{
    if (n == NULL || n->type != YAML_SCALAR_NODE || rg_yt_is_null(n))
        return rg_yt_err(t, n, "must be a string");
    if (memchr(n->data.scalar.value, '\0', n->data.scalar.length) != NULL)
        return rg_yt_err(t, n, "must not contain NUL bytes");
    *s = (const char *)n->data.scalar.value;
    *len = n->data.scalar.length;
    return 0;
}

int rg_yt_str(struct rg_yt *t, yaml_node_t *n, char **out)
{
    const char *s;
    size_t len;
    char *d;
    int rv = rg_yt_scalar(t, n, &s, &len);

    if (rv < 0)
        return rv;
    d = rg_strndup(s, len);
    if (d == NULL)
        return rg_yt_nomem(t);
    rg_free(*out);
    *out = d;
    return 0;
}

int rg_yt_word(struct rg_yt *t, yaml_node_t *n, const char *const *words,
               int *index)
{
    char list[256];
    size_t o = 0;
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, n, &s, &len);

    if (rv < 0)
        return rv;
    for (int i = 0; words[i] != NULL; i++) {
        if (strlen(words[i]) == len && memcmp(s, words[i], len) == 0) {
            *index = i;
            return 0;
        }
    }
    list[0] = '\0';
    for (int i = 0; words[i] != NULL && o < sizeof(list); i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
                              i > 0 ? ", " : "", words[i]);
    return rg_yt_err(t, n, "must be one of %s", list);
}

int rg_yt_bool(struct rg_yt *t, yaml_node_t *n, int *out)
{
    if (n != NULL && plain_is(n, true_words))
        *out = 1;
    else if (n != NULL && plain_is(n, false_words))
        *out = 0;
    else
        return rg_yt_err(t, n, "must be a boolean");
    return 0;
}

/* Parse a plain decimal integer; 0 or -1 on bad syntax or overflow. */
static int parse_ll(const yaml_node_t *n, long long *out)
{
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    size_t i = 0;
    unsigned long long v = 0;
    int neg = 0;

    if (n->type != YAML_SCALAR_NODE ||
        n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return -1;
    if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == len || len - i > 18) /* 18 digits never overflow */
        return -1;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = neg ? -(long long)v : (long long)v;
    return 0;
}

int rg_yt_int(struct rg_yt *t, yaml_node_t *n, long long lo, long long hi,
              long long *out)
{
    long long v;

    if (n == NULL || parse_ll(n, &v) < 0 || v < lo || v > hi)
        return rg_yt_err(t, n, "must be an integer in %lld..%lld", lo, hi);
    *out = v;
    return 0;
}

/* Read all of @fd into *@buf (of *@size bytes), growing it up to @cap + 1
 * bytes so that a file past the cap is noticed. */
static int read_all(int fd, size_t cap, char **buf, size_t *size, size_t *len)
{
    for (;;) {
        ssize_t got;

        if (*len + 1 >= *size) {
            size_t nsize = *size * 2 > cap + 2 ? cap + 2 : *size * 2;
            char *nb;

            if (*len + 1 >= nsize)
                return -EFBIG;
            nb = rg_realloc(*buf, nsize);
            if (nb == NULL)
                return -ENOMEM;
            *buf = nb;
            *size = nsize;
        }
        got = read(fd, *buf + *len, *size - *len - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -errno;
        if (got == 0)
            return *len > cap ? -EFBIG : 0;
        *len += (size_t)got;
    }
}

int rg_yt_read_file(const char *path, size_t cap, char **text, size_t *len)
{
    struct stat st;
    size_t size = 4096;
    char *buf;
    int fd;
    int rv;

    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        rv = -EISDIR;
        goto err_after_open;
    }
    buf = rg_malloc(size);
    if (buf == NULL) {
        rv = -ENOMEM;
        goto err_after_open;
    }
    rv = read_all(fd, cap, &buf, &size, len);
    if (rv < 0)
        goto err_after_buf;
    buf[*len] = '\0';
    close(fd);
    *text = buf;
    return 0;

err_after_buf:
    rg_free(buf);
err_after_open:
    close(fd);
    *len = 0;
    return rv;
}
