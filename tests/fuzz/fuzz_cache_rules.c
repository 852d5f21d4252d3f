/* libFuzzer target for the proxy-cache's header readers and store
 * (plugins/cache_rules.h, plugins/cache_store.h). The input is:
 *  1. a Cache-Control value: every number read is -1 or in 0..2^31, and
 *     parsing it twice into one set gives the same set (directives only
 *     add);
 *  2. an HTTP date: no crash, no read past the input;
 *  3. a key and body put into a small store: a get returns the very
 *     bytes, within the cap, and a purge of its hash empties it.
 * Seeds: tests/fuzz/corpus/fuzz_cache_rules/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/cache_rules.h"
#include "plugins/cache_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c))                                                              \
            abort();                                                           \
    } while (0)

static void check_seconds(long long x)
{
    CHECK(x == -1 || (x >= 0 && x <= 2147483648LL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct rg_cc a, b;
    struct rg_cache_put p = {0};
    const struct rg_cache_entry *e;
    size_t half = size / 2;
    time_t t;
    int fresh;

    rg_cc_init(&a);
    rg_cc_parse(s, size, &a);
    check_seconds(a.max_age);
    check_seconds(a.s_maxage);
    check_seconds(a.min_fresh);
    b = a;
    rg_cc_parse(s, size, &b);
    CHECK(memcmp(&a, &b, sizeof(a)) == 0);
    (void)rg_http_date(s, size, &t);

    p.key = s;
    p.key_len = half;
    p.body = s + half;
    p.body_len = size - half;
    p.fields = "";
    p.status = 200;
    p.now_ms = 1000;
    p.ttl_ms = 1000;
    p.keep_ms = 2000;
    if (rg_cache_put(&p, 64 * 1024) == 0) {
        e = rg_cache_get(rg_cache_hash(s, half), s, half, 1500, &fresh);
        CHECK(e != NULL && fresh);
        CHECK(e->body_len == size - half);
        CHECK(memcmp(e->body, s + half, size - half) == 0);
        CHECK(rg_cache_bytes() <= 64 * 1024);
        rg_cache_purge(0, rg_cache_hash(s, half));
        CHECK(rg_cache_get(rg_cache_hash(s, half), s, half, 1500, &fresh) ==
              NULL);
    }
    rg_cache_thread_free();
    return 0;
}
