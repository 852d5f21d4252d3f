/* Allocation wrappers: every allocation in raftgate goes through these so that
 * tests can inject failures and count live blocks (docs/style.md ownership rule 9).
 *
 * Contract: same as malloc/calloc/realloc/free/strdup; rg_free accepts NULL.
 * Thread: any. */
#ifndef RG_CORE_ALLOC_H
#define RG_CORE_ALLOC_H

#include <stddef.h>

void *rg_malloc(size_t n);
void *rg_calloc(size_t count, size_t n);
void *rg_realloc(void *p, size_t n);
void rg_free(void *p);
char *rg_strdup(const char *s);
char *rg_strndup(const char *s, size_t n);

/* Test hook: make the @nth allocation from now fail (0 disables). */
void rg_alloc_fail_after(long nth);

/* Count every allocation made by the calling thread in *@counter from now
 * on (NULL stops). The count is written with relaxed atomic stores, so
 * another thread may read it with a relaxed load: the proof that the bare
 * proxy path allocates nothing per request (GET /debug/allocs). */
void rg_alloc_count_thread(unsigned long *counter);

/* Test builds (--enable-failpoints): allocations on the calling thread
 * fail when failpoint @name (a string literal) says so, e.g.
 * RAFTGATE_FAILPOINTS="worker_alloc=every(50)". No-op in other builds. */
void rg_alloc_thread_failpoint(const char *name);

#endif
