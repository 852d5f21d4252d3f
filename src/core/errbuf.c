#include "core/errbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

int rg_errbuf_set(struct rg_errbuf *eb, const char *fmt, ...)
{
    va_list ap;

    if (eb != NULL) {
        va_start(ap, fmt);
        vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}
