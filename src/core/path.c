/* Request path normalisation: one left-to-right pass that decodes and
 * copies a segment at a time, then applies RFC 3986 §5.2.4 to the decoded
 * segment, so dot segments spelled "%2e%2e" are removed like "..". */
#include "core/path.h"

#include <errno.h>
#include <limits.h>

/* Hex digit value plus one; 0 marks a byte that is not a hex digit. */
static const unsigned char hexv[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['A'] = 11, ['B'] = 12,
    ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

static const char hexdig[] = "0123456789ABCDEF";

/* RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
static int is_unreserved(unsigned c)
{
    unsigned l = c | 0x20;

    return (l >= 'a' && l <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Copy one segment of @in, from *@ip up to the next "/" or the end, to
 * @out at *@op, decoding or upper-casing escapes (RFC 3986 §6.2.2.1,
 * §6.2.2.2). Every output byte stands for at least one input byte already
 * read, which is what makes @in == @out safe. */
static int copy_segment(const unsigned char *in, size_t len, size_t *ip,
                        unsigned char *out, size_t *op)
{
    size_t i = *ip, o = *op;

    while (i < len && in[i] != '/') {
        unsigned c = in[i], hi, lo;

        if (c != '%') {
            if (c < 0x20 || c == 0x7f)
                return -EINVAL;
            out[o++] = (unsigned char)c;
            i++;
            continue;
        }
        if (len - i < 3)
            return -EINVAL;
        hi = hexv[in[i + 1]];
        lo = hexv[in[i + 2]];
        if (hi == 0 || lo == 0)
            return -EINVAL;
        c = (hi - 1) << 4 | (lo - 1);
        if (c == '/' || c == 0)
            return -EINVAL;
        i += 3;
        if (is_unreserved(c)) {
            out[o++] = (unsigned char)c;
        } else {
            out[o++] = '%';
            out[o++] = (unsigned char)hexdig[c >> 4];
            out[o++] = (unsigned char)hexdig[c & 15];
        }
    }
    *ip = i;
    *op = o;
    return 0;
}

/* Remove the last output segment for "..": @seg is where the ".." began,
 * just after a "/". Returns the new output length, never below 1 (the
 * root). Each byte is scanned at most once over a whole call, since the
 * scanned segment is discarded. */
static size_t pop_segment(const unsigned char *out, size_t seg)
{
    size_t j = seg - 1; /* the "/" before the ".." */

    if (j == 0)
        return 1;
    while (out[j - 1] != '/')
        j--;
    return j;
}

long rg_path_normalize(const char *in, size_t len, char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)in;
    unsigned char *d = (unsigned char *)out;
    size_t i = 1, o = 1;

    if (len == 0 || s[0] != '/')
        return -EINVAL;
    if (cap <= len || len > LONG_MAX)
        return -ENOSPC;
    d[0] = '/';
    while (i < len) {
        size_t seg = o, n;
        int rv = copy_segment(s, len, &i, d, &o);
        int slash = i < len;

        if (rv < 0)
            return rv;
        i += (size_t)slash;
        n = o - seg;
        if (n == 0)
            continue; /* "//": merged into one "/" */
        if (n == 1 && d[seg] == '.') {
            o = seg;
            continue;
        }
        if (n == 2 && d[seg] == '.' && d[seg + 1] == '.') {
            o = pop_segment(d, seg);
            continue;
        }
        if (slash)
            d[o++] = '/';
    }
    d[o] = '\0';
    return (long)o;
}
