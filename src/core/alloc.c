/* Allocation wrappers: a failure-injection countdown, per-thread failpoints
 * (test builds) and per-thread counts. */
#include "core/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/failpoint.h"

static atomic_long fail_countdown;
static _Thread_local const char *thread_failpoint; /* test builds only */
static _Thread_local unsigned long *thread_count;

static int should_fail(void)
{
    long v = atomic_load_explicit(&fail_countdown, memory_order_relaxed);

    if (thread_count != NULL)
        __atomic_store_n(thread_count, *thread_count + 1, __ATOMIC_RELAXED);
    /* RG_FAILPOINT_ERR is a constant 0 without --enable-failpoints. */
    if (thread_failpoint != NULL && RG_FAILPOINT_ERR(thread_failpoint))
        return 1;
    if (v <= 0)
        return 0;
    return atomic_fetch_sub(&fail_countdown, 1) == 1;
}

void rg_alloc_count_thread(unsigned long *counter)
{
    thread_count = counter;
}

void rg_alloc_thread_failpoint(const char *name)
{
    thread_failpoint = name;
}

void rg_alloc_fail_after(long nth)
{
    atomic_store(&fail_countdown, nth);
}

void *rg_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n ? n : 1);
}

void *rg_calloc(size_t count, size_t n)
{
    return should_fail() ? NULL : calloc(count ? count : 1, n ? n : 1);
}

void *rg_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n ? n : 1);
}

void rg_free(void *p)
{
    free(p);
}

char *rg_strndup(const char *s, size_t n)
{
    char *d = rg_malloc(n + 1);

    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *rg_strdup(const char *s)
{
    return rg_strndup(s, strlen(s));
}
