/* Human-readable error messages for config and admin paths, where the user
 * must read "services[1].routes[0].paths[2]: must start with \"/\"" rather
 * than an error number. */
#ifndef RG_CORE_ERRBUF_H
#define RG_CORE_ERRBUF_H

#include <stddef.h>

#define RG_ERRBUF_SIZE 512

struct rg_errbuf {
    char msg[RG_ERRBUF_SIZE]; /* NUL-terminated; empty when no error */
};

/* Set @eb's message from a printf format, truncating at RG_ERRBUF_SIZE.
 * @eb may be NULL (the message is dropped). Returns -EINVAL so callers can
 * write `return rg_errbuf_set(eb, ...)`. */
int rg_errbuf_set(struct rg_errbuf *eb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
