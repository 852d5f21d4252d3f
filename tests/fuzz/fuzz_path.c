/* libFuzzer target for rg_path_normalize. Any bytes are a request path;
 * the result is checked against an independent, slow reference (decode
 * each segment, then RFC 3986 §5.2.4 over a segment stack), against the
 * output invariants the header promises, against in-place use, and for
 * idempotence. Seeds: tests/fuzz/corpus/fuzz_path/. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c))                                                              \
            abort();                                                           \
    } while (0)

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int unreserved(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

/* Decode the segment @s[0..@n) into @d; returns its length or -1 when it
 * is invalid. */
static long ref_segment(const uint8_t *s, size_t n, char *d)
{
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        int c = s[i];

        if (c < 0x20 || c == 0x7f)
            return -1;
        if (c == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;

            if (hi < 0 || lo < 0)
                return -1;
            c = hi << 4 | lo;
            if (c == '/' || c == 0)
                return -1;
            i += 2;
            if (!unreserved(c)) {
                d[o++] = '%';
                d[o++] = "0123456789ABCDEF"[c >> 4];
                d[o++] = "0123456789ABCDEF"[c & 15];
                continue;
            }
        }
        d[o++] = (char)c;
    }
    return (long)o;
}

/* The reference: returns the length written to @out (room: @size + 1), or
 * -1 for input the contract calls invalid. */
static long reference(const uint8_t *in, size_t size, char *out)
{
    size_t *stack = malloc((size + 1) * sizeof(*stack)); /* segment starts */
    size_t depth = 0, i = 1, o = 1;
    int trailing = 0;
    long rv = -1;

    CHECK(stack != NULL);
    if (size == 0 || in[0] != '/')
        goto done;
    out[0] = '/';
    while (i <= size) {
        size_t j = i, start;
        long n;

        while (j < size && in[j] != '/')
            j++;
        /* Append the decoded segment after a "/"; undo if it is special. */
        start = depth > 0 ? o + 1 : o;
        n = ref_segment(in + i, j - i, out + start);
        if (n < 0)
            goto done;
        trailing = 1;
        if (n == 2 && out[start] == '.' && out[start + 1] == '.') {
            if (depth > 0) {
                depth--;
                o = depth > 0 ? stack[depth - 1] : 1;
            }
        } else if (n > 0 && !(n == 1 && out[start] == '.')) {
            if (depth > 0)
                out[o] = '/';
            o = start + (size_t)n;
            stack[depth++] = o;
            trailing = 0;
        }
        i = j + 1;
    }
    if (trailing && depth > 0)
        out[o++] = '/';
    out[o] = '\0';
    rv = (long)o;
done:
    free(stack);
    return rv;
}

/* The header's promises about any successful output. */
static void check_output(const char *p, long n, size_t in_len)
{
    long i;

    CHECK(n >= 1 && (size_t)n <= in_len);
    CHECK(p[0] == '/' && p[n] == '\0' && (long)strlen(p) == n);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        int v;

        CHECK(c >= 0x20 && c != 0x7f);
        if (c == '/') {
            CHECK(i + 1 >= n || p[i + 1] != '/');
            /* No "." or ".." segment, in the middle or at the end. */
            CHECK(!(p[i + 1] == '.' && (p[i + 2] == '/' || !p[i + 2])));
            CHECK(!(p[i + 1] == '.' && p[i + 2] == '.' &&
                    (i + 3 >= n || p[i + 3] == '/')));
        }
        if (c == '%') {
            CHECK(i + 2 < n);
            CHECK(strchr("0123456789ABCDEF", p[i + 1]) && p[i + 1]);
            CHECK(strchr("0123456789ABCDEF", p[i + 2]) && p[i + 2]);
            v = hexval((uint8_t)p[i + 1]) << 4 | hexval((uint8_t)p[i + 2]);
            CHECK(!unreserved(v) && v != '/' && v != 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = malloc(size + 1), *ref = malloc(size + 1);
    char *inplace = malloc(size + 1), *again = malloc(size + 1);
    long n, r, m;

    CHECK(out && ref && inplace && again);
    n = rg_path_normalize((const char *)data, size, out, size + 1);
    r = reference(data, size, ref);
    if (r < 0) {
        CHECK(n == -EINVAL);
        goto done;
    }
    CHECK(n == r && memcmp(out, ref, (size_t)n + 1) == 0);
    check_output(out, n, size);
    /* In place gives the same bytes. */
    memcpy(inplace, data, size);
    CHECK(rg_path_normalize(inplace, size, inplace, size + 1) == n);
    CHECK(memcmp(inplace, out, (size_t)n + 1) == 0);
    /* Idempotent. */
    m = rg_path_normalize(out, (size_t)n, again, (size_t)n + 1);
    CHECK(m == n && memcmp(again, out, (size_t)n + 1) == 0);
    /* One byte short of len + 1 is -ENOSPC. */
    CHECK(rg_path_normalize((const char *)data, size, again, size) == -ENOSPC);
done:
    free(out);
    free(ref);
    free(inplace);
    free(again);
    return 0;
}
