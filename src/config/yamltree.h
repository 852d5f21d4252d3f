/* A thin layer over libyaml's document API for the config parsers: load one
 * document, walk mappings through a table of per-key handlers, read typed
 * scalars, and report errors that name the path to the bad value, e.g.
 * `services[1].routes[0].paths[2]: must start with "/" (line 12)`.
 *
 * Typing follows YAML's core schema as Kong reads it: a plain (unquoted)
 * scalar "", "~" or "null" is null, and a key whose value is null counts as
 * absent; integers and booleans must be plain scalars; any other non-null
 * scalar reads as a string. Duplicate keys and unknown keys are errors.
 * Aliases are resolved by libyaml; the walk caps the number of nodes it
 * visits so an alias bomb costs an error, not minutes. */
#ifndef RG_CONFIG_YAMLTREE_H
#define RG_CONFIG_YAMLTREE_H

#include <stddef.h>

#include <yaml.h>

#include "core/errbuf.h"

#define RG_YT_PATH_MAX 256 /* longer paths are cut, ending in "..." */

/* A loaded document and the path of the node being looked at. */
struct rg_yt {
    yaml_document_t doc;
    int loaded;                /* doc must be deleted */
    struct rg_errbuf *eb;      /* kept until rg_yt_release; may be NULL */
    char path[RG_YT_PATH_MAX]; /* "services[1].routes[0]" */
    size_t path_len;
    unsigned long budget; /* node visits left before giving up */
};

/* One entry of a key table; a table ends with a {NULL, NULL} entry and
 * holds at most 64 keys. @fn is called with the path already naming the
 * key and returns 0 or a negative error (rg_yt_err's -EINVAL, -ENOMEM).
 * A NULL @fn marks a key Kong knows that raftgate does not support yet:
 * it is accepted only with a null value. */
struct rg_yt_key {
    const char *name;
    int (*fn)(struct rg_yt *t, yaml_node_t *v, void *ctx);
};

/* Item callback for rg_yt_seq; @i is the item's index. */
typedef int (*rg_yt_item_fn)(struct rg_yt *t, yaml_node_t *item, size_t i,
                             void *ctx);

/* Parse the first YAML (or JSON) document of @text into @t. A second
 * document in the stream is an error. Returns 0, -EINVAL with a message
 * such as `YAML syntax error: did not find expected key (line 3, column 5)`
 * in @eb, or -ENOMEM. On failure @t needs no release (releasing it is
 * harmless). Ownership: @text is borrowed; @eb is kept until release. */
int rg_yt_load(struct rg_yt *t, const char *text, size_t len,
               struct rg_errbuf *eb);

/* Take @doc (a document built with yaml_document_add_*, its root node
 * first) as @t's document, as rg_yt_load would have loaded it; @doc is
 * left zeroed. @eb is kept until release. */
void rg_yt_adopt(struct rg_yt *t, yaml_document_t *doc, struct rg_errbuf *eb);

/* Free the document. Accepts a zeroed or failed @t. */
void rg_yt_release(struct rg_yt *t);

/* The root node, or NULL for an empty stream. Borrowed from @t. */
yaml_node_t *rg_yt_root(struct rg_yt *t);

/* Path bookkeeping: append ".key" (or "key" at the root) or "[i]" and
 * return a mark that rg_yt_pop restores. */
size_t rg_yt_push_key(struct rg_yt *t, const char *key, size_t len);
size_t rg_yt_push_index(struct rg_yt *t, size_t i);
void rg_yt_pop(struct rg_yt *t, size_t mark);

/* Write "<path>: <message> (line N)" to the error buffer, where N is @n's
 * first line (omitted when @n is NULL); the path reads "document" at the
 * root. Returns -EINVAL. */
int rg_yt_err(struct rg_yt *t, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write "out of memory" and return -ENOMEM. */
int rg_yt_nomem(struct rg_yt *t);

/* Walk mapping @n: every key must be a string in @keys, at most once;
 * each handler runs in document order with its key on the path. Errors:
 * "must be a mapping", "keys must be strings", "<key>: unknown key",
 * "<key>: duplicate key", "<key>: not supported yet". */
int rg_yt_map(struct rg_yt *t, yaml_node_t *n, const struct rg_yt_key *keys,
              void *ctx);

/* Walk sequence @n, calling @fn for each item with "[i]" on the path.
 * Error: "must be a list". */
int rg_yt_seq(struct rg_yt *t, yaml_node_t *n, rg_yt_item_fn fn, void *ctx);

/* Pair callback for rg_yt_pairs: key @key (@len bytes, NUL-terminated,
 * borrowed from the document) and its value node. */
typedef int (*rg_yt_pair_fn)(struct rg_yt *t, const char *key, size_t len,
                             yaml_node_t *v, void *ctx);

/* Walk a free-form mapping @n (keys chosen by the user, e.g. header names),
 * calling @fn for each pair in document order with the key on the path.
 * Errors: "must be a mapping", "keys must be strings", "duplicate key". */
int rg_yt_pairs(struct rg_yt *t, yaml_node_t *n, rg_yt_pair_fn fn, void *ctx);

/* The value of @key in mapping @map, or NULL when @map is not a mapping,
 * has no such key, or its value is null; the first when a key repeats
 * (rg_yt_map reports that). For a key that decides how the others read,
 * e.g. a plugin's `name`. */
yaml_node_t *rg_yt_get(struct rg_yt *t, yaml_node_t *map, const char *key);

/* 1 when @n is a null scalar (see the typing rules above). */
int rg_yt_is_null(const yaml_node_t *n);

/* 1 when @n is a sequence with no items. */
int rg_yt_is_empty_seq(const yaml_node_t *n);

/* Borrow @n's string value (NUL-terminated, no NUL inside): 0 or the
 * error "must be a string". Empty strings are allowed when quoted. */
int rg_yt_scalar(struct rg_yt *t, yaml_node_t *n, const char **s, size_t *len);

/* rg_yt_scalar for a value that must be text, not a number or boolean
 * that a plain scalar would otherwise read as (`cert: 5`): the same
 * errors, and "must be a string" for those. */
int rg_yt_text(struct rg_yt *t, yaml_node_t *n, const char **s, size_t *len);

/* Copy @n's string into *@out, freeing what *@out held. @out is taken by
 * the caller on success; on failure it is left as it was. */
int rg_yt_str(struct rg_yt *t, yaml_node_t *n, char **out);

/* Read a scalar that must be one of the NULL-terminated @words (exact
 * case) into *@index (its place in @words): 0, or the error "must be one
 * of <the words>". */
int rg_yt_word(struct rg_yt *t, yaml_node_t *n, const char *const *words,
               int *index);

/* Read a boolean (true/false in any case): 0 or "must be a boolean". */
int rg_yt_bool(struct rg_yt *t, yaml_node_t *n, int *out);

/* Read a decimal integer in @lo..@hi: 0 or
 * "must be an integer in <lo>..<hi>". */
int rg_yt_int(struct rg_yt *t, yaml_node_t *n, long long lo, long long hi,
              long long *out);

/* Copy at most 40 bytes of @s into @out for use inside an error message,
 * with non-printable bytes shown as '?' and "..." when cut. @cap >= 48. */
void rg_yt_clip(const char *s, size_t len, char *out, size_t cap);

/* Read the whole file at @path, up to @cap bytes, into a fresh
 * NUL-terminated buffer that the caller frees with rg_free. Returns 0,
 * -EFBIG past @cap, -ENOMEM, or the -errno of open/read. */
int rg_yt_read_file(const char *path, size_t cap, char **text, size_t *len);

#endif
