/* RG_ASSERT: invariant checks that stay on in every build (not only debug
 * ones) and print the fixed marker the fault-injection suite's log scan
 * looks for (docs/fault-injection.md §4.2 item 7, §4.4 "logscan"):
 *
 *   RG-ASSERT /src/raftgate/raft/codec.c:146: need % 8 == 0
 *
 * (the file as the compiler was given it), then abort(), so a core is
 * dumped where cores are enabled. Asserts check
 * invariants, never input (docs/style.md). Thread: any. */
#ifndef RG_CORE_RGASSERT_H
#define RG_CORE_RGASSERT_H

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Evaluates @cond once; when it is false, reports it and aborts. */
#define RG_ASSERT(cond)                                                        \
    (__builtin_expect(!!(cond), 1)                                             \
         ? (void)0                                                             \
         : rg_assert__fail(__FILE__, __LINE__, #cond))

/* Append @s to @buf (@cap bytes, @n used) as far as it fits. */
static inline size_t rg_assert__put(char *buf, size_t cap, size_t n,
                                    const char *s)
{
    size_t k = strlen(s);

    if (k > cap - n)
        k = cap - n;
    memcpy(buf + n, s, k);
    return n + k;
}

/* Print "RG-ASSERT <file>:<line>: <cond>" as one line with one write(2)
 * to stderr (no stdio, no allocation: the heap may be what broke), then
 * abort(). */
__attribute__((noreturn, cold)) static inline void
rg_assert__fail(const char *file, int line, const char *cond)
{
    char buf[512], num[12];
    char *d = num + sizeof(num) - 1;
    unsigned v = line > 0 ? (unsigned)line : 0;
    size_t cap = sizeof(buf) - 1, n = 0; /* one byte kept for '\n' */

    *d = '\0';
    do {
        *--d = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    n = rg_assert__put(buf, cap, n, "RG-ASSERT ");
    n = rg_assert__put(buf, cap, n, file);
    n = rg_assert__put(buf, cap, n, ":");
    n = rg_assert__put(buf, cap, n, d);
    n = rg_assert__put(buf, cap, n, ": ");
    n = rg_assert__put(buf, cap, n, cond);
    buf[n++] = '\n';
    if (write(STDERR_FILENO, buf, n) < 0) {
        /* Nowhere left to report it; the abort still tells. */
    }
    abort();
}

#endif
