/* A growable byte buffer with a hard cap (curl's dynbuf rule: every buffer
 * has a cap). */
#ifndef RG_CORE_BUF_H
#define RG_CORE_BUF_H

#include <stddef.h>

struct rg_buf {
    char *p;     /* owned; NUL-terminated when len < cap */
    size_t len;
    size_t cap;
    size_t max;  /* the cap on len, bytes */
};

/* Initialise empty with cap @max. No allocation. */
void rg_buf_init(struct rg_buf *b, size_t max);

/* Free the storage and reset to empty. */
void rg_buf_release(struct rg_buf *b);

/* Append @n bytes from @p (borrowed). Returns 0, -E2BIG past max (then @b
 * is unchanged), or -ENOMEM. */
int rg_buf_add(struct rg_buf *b, const void *p, size_t n);

/* Append a NUL-terminated string. Same errors. */
int rg_buf_adds(struct rg_buf *b, const char *s);

/* Append printf-formatted text. Same errors. */
int rg_buf_addf(struct rg_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Take the storage out of @b (caller frees with rg_free) and reset @b. */
char *rg_buf_detach(struct rg_buf *b, size_t *len);

#endif
