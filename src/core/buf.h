/* A growable byte buffer with a hard cap (curl's dynbuf rule: every buffer
 * has a cap). Errors are sticky: after a failed append every later append
 * does nothing and returns the same code, so a run of appends is checked
 * once, with rg_buf_error, at its end (never `rv |= ...`). */
#ifndef RG_CORE_BUF_H
#define RG_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct rg_buf {
    char *p;     /* owned; NUL-terminated when len < cap */
    size_t len;
    size_t cap;
    size_t max;  /* the cap on len, bytes */
    int err;     /* the first failed append's code, or 0 */
};

/* Initialise empty with cap @max. No allocation. */
void rg_buf_init(struct rg_buf *b, size_t max);

/* Free the storage and reset to empty. */
void rg_buf_release(struct rg_buf *b);

/* Make room for @n more bytes now, so that appends up to that allocate
 * nothing. Returns 0 or an append's error (sticky, as for appends). */
int rg_buf_reserve(struct rg_buf *b, size_t n);

/* Append @n bytes from @p (borrowed). Returns 0, -E2BIG past max (the
 * bytes are then unchanged and the error recorded), -ENOMEM, or the error
 * of an earlier append. */
int rg_buf_add(struct rg_buf *b, const void *p, size_t n);

/* Append a NUL-terminated string. Same errors. */
int rg_buf_adds(struct rg_buf *b, const char *s);

/* Append a header line "@name: @value\r\n". Same errors; on one, part of
 * the line may be in (rg_buf_truncate undoes the run). */
int rg_buf_add_field(struct rg_buf *b, const char *name, size_t name_len,
                     const char *value, size_t value_len);

/* Append @v in decimal. Same errors. */
int rg_buf_add_u64(struct rg_buf *b, uint64_t v);

/* Append printf-formatted text (one vsnprintf when it fits the room
 * already there). Same errors. */
int rg_buf_addf(struct rg_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The first error of an append since init/release/detach, or 0. */
static inline int rg_buf_error(const struct rg_buf *b)
{
    return b->err;
}

/* Cut @b back to its first @len bytes (at most b->len) and clear its
 * error: undo a run of appends, failed or not. */
void rg_buf_truncate(struct rg_buf *b, size_t len);

/* Take the storage out of @b (caller frees with rg_free) and reset @b. */
char *rg_buf_detach(struct rg_buf *b, size_t *len);

#endif
