/* A parsed HTTP message head: start-line parts and header fields, stored in
 * one capped buffer as llhttp delivers them (spans are borrowed, so bytes are
 * copied in; STYLE ownership rule 6). Also the rewriting rules a proxy needs:
 * hop-by-hop removal (RFC 9110 §7.6.1) and header lookup. */
#ifndef RG_HTTP_HEAD_H
#define RG_HTTP_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct rg_field {
    uint32_t name_off, name_len; /* offsets into rg_head.buf */
    uint32_t value_off, value_len;
    unsigned hop : 1; /* hop-by-hop: not forwarded */
};

struct rg_head {
    char *buf;              /* owned; url, then field names and values */
    uint32_t len, cap;
    uint32_t max;           /* cap on len, bytes */
    uint32_t url_off, url_len;   /* request target (requests only) */
    struct rg_field *fields; /* owned */
    uint32_t n_fields, fields_cap;
    int in_value;           /* parse state: 1 after a field's name ended */
};

#define RG_HEAD_MAX_FIELDS 256

/* Initialise an empty head whose bytes may grow to @max. No allocation. */
void rg_head_init(struct rg_head *h, uint32_t max);

/* Free the buffers and reset to empty (keeps max). */
void rg_head_release(struct rg_head *h);

/* Empty @h for the next message, keeping its buffers when they are at most
 * @keep bytes together (so a head reused in steady state allocates
 * nothing), else freeing them. Keeps max. */
void rg_head_clear(struct rg_head *h, uint32_t keep);

/* Append bytes of the request target. Returns 0, -E2BIG past max, -ENOMEM. */
int rg_head_add_url(struct rg_head *h, const char *p, size_t n) RG_MUST_CHECK;

/* Append bytes of the current field name (a new field starts after the
 * previous value ended) or value. Returns 0, -E2BIG (past max or more than
 * RG_HEAD_MAX_FIELDS fields), -ENOMEM, or -EINVAL for a value holding CR
 * or LF (obs-fold). Ownership: @p borrowed. */
int rg_head_add_name(struct rg_head *h, const char *p, size_t n) RG_MUST_CHECK;
int rg_head_add_value(struct rg_head *h, const char *p, size_t n) RG_MUST_CHECK;

/* Mark the current field's value complete (trims trailing blanks). */
void rg_head_end_value(struct rg_head *h);

/* Return the first field named @name (case-insensitive), or NULL. */
const struct rg_field *rg_head_find(const struct rg_head *h, const char *name);

/* Pointers into the head's buffer, valid until the next add. */
static inline const char *rg_head_str(const struct rg_head *h, uint32_t off)
{
    return h->buf + off;
}

/* Mark hop-by-hop fields (fixed list plus every token of Connection) so
 * writers skip them. Sets *@conn_close / *@conn_upgrade from the Connection
 * tokens ("close", "upgrade"). */
void rg_head_mark_hop(struct rg_head *h, int *conn_close, int *conn_upgrade);

/* Whether token list @list (comma-separated, e.g. a Connection value)
 * contains @tok, case-insensitively. */
int rg_token_list_has(const char *list, size_t len, const char *tok);

#endif
