/* A parsed HTTP message head: start-line parts and header fields as
 * llhttp delivers them, and the rewriting rules a proxy needs: hop-by-hop
 * removal (RFC 9110 §7.6.1) and header lookup.
 *
 * Where the bytes are: a span (the url or a field's name or value) lying
 * inside the owner's input (rg_head_set_input: the buffer the message was
 * read into, kept until the head is cleared) is a slice of it, not a copy;
 * any other span is copied into the head's own buffer (STYLE ownership
 * rule 6: spans are borrowed). Read spans with rg_head_url, rg_field_name
 * and rg_field_value only. */
#ifndef RG_HTTP_HEAD_H
#define RG_HTTP_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct rg_field {
    uint32_t name_off, name_len; /* into rg_head.in (name_in) or .buf */
    uint32_t value_off, value_len;
    uint8_t name_in, value_in;   /* the span is a slice of the input */
    unsigned hop : 1;            /* hop-by-hop: not forwarded */
};

struct rg_head {
    char *buf;              /* owned; copied spans */
    uint32_t len, cap;
    uint32_t max;           /* cap on the spans' bytes together */
    uint32_t used;          /* the spans' bytes, slices and copies */
    const char *in;         /* kept input (rg_head_set_input), or NULL */
    uint32_t in_len;        /* its bytes */
    uint32_t url_off, url_len;   /* request target (requests only) */
    uint8_t url_in;         /* the target is a slice of the input */
    struct rg_field *fields; /* owned */
    uint32_t n_fields, fields_cap;
    int in_value;           /* parse state: 1 after a field's name ended */
};

#define RG_HEAD_MAX_FIELDS 256

/* Bytes: a reader that reads heads into a chunk of its own (the client
 * connection, the upstream response parser) reads into the chunk only
 * while this much room is left; a shorter read would cost a syscall for
 * little, so the rest of the head goes to the shared buffer and is copied. */
#define RG_HEAD_IN_MIN_ROOM 512

/* Initialise an empty head whose bytes may grow to @max. No allocation. */
void rg_head_init(struct rg_head *h, uint32_t max);

/* Free the buffers and reset to empty (keeps max). */
void rg_head_release(struct rg_head *h);

/* Empty @h for the next message, keeping its buffers when they are at most
 * @keep bytes together (so a head reused in steady state allocates
 * nothing), else freeing them. Keeps max. */
void rg_head_clear(struct rg_head *h, uint32_t keep);

/* Declare @n bytes at @p as the input being parsed into @h: later spans
 * lying inside them are kept as slices. Ownership: @p is kept until
 * rg_head_clear or rg_head_release: the caller leaves those bytes in
 * place and unchanged until then. @n may grow in later calls with the
 * same @p (more input read behind it); @p may not change while the head
 * holds slices. */
void rg_head_set_input(struct rg_head *h, const char *p, size_t n);

/* Append bytes of the request target (a slice when they continue the
 * target inside the input, else a copy). Returns 0, -E2BIG past max,
 * -ENOMEM. */
int rg_head_add_url(struct rg_head *h, const char *p, size_t n) RG_MUST_CHECK;

/* Append bytes of the current field name (a new field starts after the
 * previous value ended) or value, as a slice or a copy like
 * rg_head_add_url. Returns 0, -E2BIG (past max or more than
 * RG_HEAD_MAX_FIELDS fields), -ENOMEM, or -EINVAL for a value holding CR
 * or LF (obs-fold). Ownership: @p borrowed. */
int rg_head_add_name(struct rg_head *h, const char *p, size_t n) RG_MUST_CHECK;
int rg_head_add_value(struct rg_head *h, const char *p, size_t n) RG_MUST_CHECK;

/* Mark the current field's value complete (trims trailing blanks). */
void rg_head_end_value(struct rg_head *h);

/* Return the first field named @name (case-insensitive), or NULL. */
const struct rg_field *rg_head_find(const struct rg_head *h, const char *name);

/* Where a span's bytes are, valid until the next add (a copy may move) or
 * until the head is cleared; "" for an empty span. */
static inline const char *rg_head_span(const struct rg_head *h, uint32_t off,
                                       uint32_t len, unsigned in)
{
    return len == 0 ? "" : (in ? h->in : h->buf) + off;
}

static inline const char *rg_head_url(const struct rg_head *h)
{
    return rg_head_span(h, h->url_off, h->url_len, h->url_in);
}

static inline const char *rg_field_name(const struct rg_head *h,
                                        const struct rg_field *f)
{
    return rg_head_span(h, f->name_off, f->name_len, f->name_in);
}

static inline const char *rg_field_value(const struct rg_head *h,
                                         const struct rg_field *f)
{
    return rg_head_span(h, f->value_off, f->value_len, f->value_in);
}

/* Mark hop-by-hop fields (fixed list plus every token of Connection) so
 * writers skip them. Sets *@conn_close / *@conn_upgrade from the Connection
 * tokens ("close", "upgrade"). */
void rg_head_mark_hop(struct rg_head *h, int *conn_close, int *conn_upgrade);

/* Whether token list @list (comma-separated, e.g. a Connection value)
 * contains @tok, case-insensitively. */
int rg_token_list_has(const char *list, size_t len, const char *tok);

#endif
