/* Request-target normalisation before routing (RFC 3986 §6.2.2): percent-
 * decoding of unreserved characters, upper-casing of remaining percent
 * escapes, removal of dot segments (§5.2.4) and merging of duplicate
 * slashes, so "/api/../admin" and "/%61dmin" both route as "/admin". */
#ifndef RG_CORE_PATH_H
#define RG_CORE_PATH_H

#include <stddef.h>

/* Normalise the path part of @in (@len bytes, origin-form, without the
 * query) into @out, which has room for @cap bytes. The result is never
 * longer than the input; @cap must be at least @len + 1, checked before
 * anything is written, even when the normalised path would be shorter.
 * The result is NUL-terminated, starts with "/", holds no "//", no "." or
 * ".." segment (a ".." at the root is dropped: "/../a" gives "/a"), and
 * a trailing "/" or dot segment leaves a trailing "/" ("/a/b/.." gives
 * "/a/"). Escapes of unreserved characters (ALPHA DIGIT - . _ ~) are
 * decoded once before dot segments are removed, so "/%2e%2e/a" gives
 * "/a"; other escapes keep their encoding with upper-case hex ("%3a"
 * gives "%3A", "%252e" stays). Bytes >= 0x80 pass through unchanged.
 * Runs in O(@len) time and allocates nothing.
 *
 * Returns the output length, or -EINVAL when the path is not origin-form
 * (empty or not starting with "/"), contains an invalid percent escape, a
 * percent-encoded "/" or NUL (%2F, %00: rejected as Envoy does by default
 * because they change path semantics), or a control byte (< 0x20, 0x7f);
 * -ENOSPC when @cap <= @len (or @len > LONG_MAX). On error @out holds
 * unspecified bytes.
 * Ownership: both buffers borrowed. @out may be the same buffer as @in
 * (normalising in place, then @in needs @len + 1 bytes of room); no other
 * overlap is allowed. Thread: any. */
long rg_path_normalize(const char *in, size_t len, char *out, size_t cap);

#endif
