/* Request-target normalisation before routing (RFC 3986 §6.2.2): percent-
 * decoding of unreserved characters, upper-casing of remaining percent
 * escapes, removal of dot segments (§5.2.4) and merging of duplicate
 * slashes, so "/api/../admin" and "/%61dmin" both route as "/admin". */
#ifndef RG_HTTP_PATH_H
#define RG_HTTP_PATH_H

#include <stddef.h>

/* Normalise the path part of @in (@len bytes, origin-form, without the
 * query) into @out, which has room for @cap bytes; the result is never
 * longer than the input, so cap >= len + 1 always suffices. The result is
 * NUL-terminated and always starts with "/".
 *
 * Returns the output length, or -EINVAL when the path is not origin-form
 * (does not start with "/"), contains an invalid percent escape, a
 * percent-encoded "/" or NUL (%2F, %00: rejected as Envoy does by default
 * because they change path semantics), or a control byte; -ENOSPC when
 * @cap is too small. Ownership: both buffers borrowed. Thread: any. */
long rg_path_normalize(const char *in, size_t len, char *out, size_t cap);

#endif
