/* SipHash-2-4: see siphash.h. */
#include "core/siphash.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static uint64_t rotl(uint64_t x, int b)
{
    return x << b | x >> (64 - b);
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

struct sip {
    uint64_t v0, v1, v2, v3;
};

static void round_(struct sip *s)
{
    s->v0 += s->v1;
    s->v1 = rotl(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = rotl(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = rotl(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = rotl(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = rotl(s->v2, 32);
}

static void absorb(struct sip *s, uint64_t m)
{
    s->v3 ^= m;
    round_(s);
    round_(s);
    s->v0 ^= m;
}

uint64_t rg_siphash(const uint8_t k[16], const void *p, size_t len)
{
    const uint8_t *in = p;
    uint64_t k0 = le64(k), k1 = le64(k + 8);
    struct sip s = {
        k0 ^ 0x736f6d6570736575ull,
        k1 ^ 0x646f72616e646f6dull,
        k0 ^ 0x6c7967656e657261ull,
        k1 ^ 0x7465646279746573ull,
    };
    size_t whole = len & ~(size_t)7;
    uint8_t last[8] = {0};

    for (size_t i = 0; i < whole; i += 8)
        absorb(&s, le64(in + i));
    memcpy(last, in + whole, len - whole);
    last[7] = (uint8_t)len;
    absorb(&s, le64(last));
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        round_(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

static uint8_t process_key[16];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void draw_key(void)
{
    size_t got = 0;

    while (got < sizeof(process_key)) {
        ssize_t n = getrandom(process_key + got, sizeof(process_key) - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (n < 0 && errno != EINTR)
            abort(); /* no kernel randomness: nothing safe to fall back on */
    }
}

uint64_t rg_siphash_process(const void *p, size_t len)
{
    pthread_once(&once, draw_key);
    return rg_siphash(process_key, p, len);
}
