/* What request-transformer and response-transformer share: reading
 * Kong's edit lists ("name" and "name:value" items under remove, rename,
 * replace, add, append) and applying them, in Kong's order (remove,
 * rename, replace, add, append), to an ordered list of fields (headers,
 * a query string, a form body) or to a JSON body.
 *
 * Kong's semantics, per step: remove drops every field of the name;
 * rename moves the fields of the old name to the new one (dropping the
 * new name's fields first) when the old one is there; replace sets the
 * value only when the name is there (one field is left); add sets it only
 * when the name is absent; append always adds a field (JSON: makes the
 * value an array, Kong's append_value, a present non-array value becomes
 * its first item).
 *
 * Fields borrow their bytes (from the config or the request); only the
 * array is owned. Thread: any; a config is immutable once read. */
#ifndef RG_PLUGINS_TRANSFORM_H
#define RG_PLUGINS_TRANSFORM_H

#include <stddef.h>

#include "config/yamltree.h"
#include "core/buf.h"
#include "core/err.h"

enum rg_tf_step {
    RG_TF_REMOVE = 0,
    RG_TF_RENAME,
    RG_TF_REPLACE,
    RG_TF_ADD,
    RG_TF_APPEND,
    RG_TF_STEPS,
};

/* How a JSON value of the config is typed (response-transformer's
 * json_types; string otherwise). */
enum rg_tf_type { RG_TF_STRING = 0, RG_TF_NUMBER, RG_TF_BOOLEAN };

struct rg_tf_item {
    char *name;         /* owned */
    char *value;        /* owned; NULL for a remove item; rename: the
                           new name */
    enum rg_tf_type type;
};

struct rg_tf_list {
    struct rg_tf_item *v; /* owned */
    size_t n;
};

/* The edits of one target (headers, querystring, body or json). */
struct rg_tf_edits {
    struct rg_tf_list step[RG_TF_STEPS];
    int icase;          /* names compare without case (headers) */
};

/* What a list's items are. */
enum rg_tf_kind {
    RG_TF_HEADER, /* HTTP header names (not the framing headers the
                     gateway writes), values without CR/LF */
    RG_TF_FORM,   /* query string or form names/values: stored
                     percent-encoded (application/x-www-form-urlencoded) */
    RG_TF_JSON,   /* JSON keys and values, as given */
};

#define RG_TF_LIST_MAX 64 /* items in one list */

/* 1 when @s (@n bytes) is a header name (an RFC 9110 token) that is not
 * one the gateway frames messages with (Content-Length, Host...). */
int rg_tf_header_ok(const char *s, size_t n);

/* Read sequence @v into step @step of @e (replacing it): "name" items
 * for remove, "name:value" for the others (rename: "old:new"). Errors
 * name the item's path. */
int rg_tf_read(struct rg_yt *t, yaml_node_t *v, struct rg_tf_edits *e,
               enum rg_tf_step step, enum rg_tf_kind kind) RG_MUST_CHECK;

/* Read json_types sequence @v ("string", "number", "boolean") onto the
 * items of @e's step @step, by position; call it after all of the config
 * is read (rg_tf_types_check reports a value its type does not fit). */
int rg_tf_read_types(struct rg_yt *t, yaml_node_t *v, struct rg_tf_edits *e,
                     enum rg_tf_step step) RG_MUST_CHECK;

/* 1 when @e edits nothing. */
int rg_tf_empty(const struct rg_tf_edits *e);

void rg_tf_edits_free(struct rg_tf_edits *e);

/* A field of a working list; value NULL: a bare name ("flag" in a query
 * string). */
struct rg_tf_field {
    const char *name, *value;
    size_t name_len, value_len;
};

struct rg_tf_fields {
    struct rg_tf_field *v; /* owned */
    size_t n, cap;
};

int rg_tf_fields_push(struct rg_tf_fields *f, const char *name, size_t nl,
                      const char *value, size_t vl) RG_MUST_CHECK;
void rg_tf_fields_free(struct rg_tf_fields *f);

/* A NUL-terminated copy of @n bytes at @s in @r's arena, or NULL. */
struct rg_req;
char *rg_tf_dup(struct rg_req *r, const char *s, size_t n);

/* Apply @e's steps to @f. 0 or -ENOMEM. */
int rg_tf_apply(const struct rg_tf_edits *e, struct rg_tf_fields *f)
    RG_MUST_CHECK;

/* Split form @s (@n bytes, "a=1&b&c=3") into @f (empty pieces dropped),
 * and join @f back into @b. */
int rg_tf_form_split(const char *s, size_t n, struct rg_tf_fields *f)
    RG_MUST_CHECK;
void rg_tf_form_join(const struct rg_tf_fields *f, struct rg_buf *b);

/* A JSON body edit: @unwrap (NULL: none) replaces an object body by its
 * member of that name when it has one; then @edits (NULL: none) apply to
 * an object body; then @wrap (NULL: none) makes the body {"<wrap>": body}. */
struct rg_tf_json {
    const char *unwrap;
    const struct rg_tf_edits *edits;
    const char *wrap;
};

/* Edit JSON body @in (@len bytes, untrusted; empty reads as {}) as @spec
 * says into a fresh compact text *@out (jansson's: free(3)) of *@out_len
 * bytes. Returns 0, 1 when @in
 * is not JSON (nothing is written: the body passes untouched), or
 * -ENOMEM. */
int rg_tf_json_body(const struct rg_tf_json *spec, const char *in,
                    size_t len, char **out, size_t *out_len) RG_MUST_CHECK;

#endif
