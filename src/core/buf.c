#include "core/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

void rg_buf_init(struct rg_buf *b, size_t max)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->err = 0;
}

void rg_buf_release(struct rg_buf *b)
{
    rg_free(b->p);
    rg_buf_init(b, b->max);
}

/* Remember @err as @b's first error. */
static int buf_fail(struct rg_buf *b, int err)
{
    b->err = err;
    return err;
}

int rg_buf_reserve(struct rg_buf *b, size_t n)
{
    size_t need = b->len + n + 1;
    size_t cap;
    char *np;

    if (b->err != 0)
        return b->err;
    if (n > b->max || b->len + n > b->max)
        return buf_fail(b, -E2BIG);
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    np = rg_realloc(b->p, cap);
    if (np == NULL)
        return buf_fail(b, -ENOMEM);
    b->p = np;
    b->cap = cap;
    return 0;
}

int rg_buf_add(struct rg_buf *b, const void *p, size_t n)
{
    int rv = rg_buf_reserve(b, n);

    if (rv != 0)
        return rv;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int rg_buf_adds(struct rg_buf *b, const char *s)
{
    return rg_buf_add(b, s, strlen(s));
}

int rg_buf_add_field(struct rg_buf *b, const char *name, size_t name_len,
                     const char *value, size_t value_len)
{
    rg_buf_add(b, name, name_len);
    rg_buf_add(b, ": ", 2);
    rg_buf_add(b, value, value_len);
    return rg_buf_add(b, "\r\n", 2); /* the first error, sticky */
}

int rg_buf_add_u64(struct rg_buf *b, uint64_t v)
{
    char d[20];
    size_t i = sizeof(d);

    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return rg_buf_add(b, d + i, sizeof(d) - i);
}

int rg_buf_addf(struct rg_buf *b, const char *fmt, ...)
{
    size_t room = b->cap > b->len ? b->cap - b->len : 0; /* with the NUL */
    va_list ap;
    int n;
    int rv;

    if (b->err != 0)
        return b->err;
    va_start(ap, fmt);
    n = vsnprintf(room > 0 ? b->p + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return buf_fail(b, -EINVAL);
    if ((size_t)n < room && b->len + (size_t)n <= b->max) {
        b->len += (size_t)n; /* it fitted */
        return 0;
    }
    if (room > 0)
        b->p[b->len] = '\0'; /* undo the partial write */
    rv = rg_buf_reserve(b, (size_t)n);
    if (rv != 0)
        return rv;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void rg_buf_truncate(struct rg_buf *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->p[len] = '\0';
    }
    b->err = 0;
}

char *rg_buf_detach(struct rg_buf *b, size_t *len)
{
    char *p = b->p;

    if (len != NULL)
        *len = b->len;
    rg_buf_init(b, b->max);
    return p;
}
