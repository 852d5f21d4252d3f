/* Failpoints: parse RAFTGATE_FAILPOINTS once, act on a hit. */
#include "core/failpoint.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *spec;
static pthread_once_t spec_once = PTHREAD_ONCE_INIT;

/* Whether @act (an action in the spec) is exactly @word. */
static int action_is(const char *act, const char *word)
{
    size_t n = strlen(word);

    return strncmp(act, word, n) == 0 && (act[n] == ',' || act[n] == '\0');
}

/* The number of "@fn(N)" when @act is exactly that, else -1. */
static long action_arg(const char *act, const char *fn)
{
    char fmt[24];
    long v;
    int end = -1;

    snprintf(fmt, sizeof(fmt), "%s(%%ld)%%n", fn);
    if (sscanf(act, fmt, &v, &end) != 1 || end < 0 ||
        (act[end] != ',' && act[end] != '\0') || v < 0)
        return -1;
    return v;
}

static void spec_load(void)
{
    spec = getenv("RAFTGATE_FAILPOINTS");
    /* Say so at once when an action is misspelt: it would never fire. */
    for (const char *p = spec; p != NULL && *p != '\0';) {
        const char *act = strchr(p, '=');

        if (act == NULL || (!action_is(act + 1, "abort") &&
                            !action_is(act + 1, "error") &&
                            action_arg(act + 1, "sleep") < 0 &&
                            action_arg(act + 1, "every") <= 0))
            fprintf(stderr, "RG-FAILPOINT: bad item in RAFTGATE_FAILPOINTS "
                            "at \"%s\"\n", p);
        p = strchr(p, ',');
        if (p != NULL)
            p++;
    }
}

/* Find "name=" as a whole item of the comma-separated spec; return the
 * action after '=' or NULL. */
static const char *find_action(const char *name)
{
    size_t n = strlen(name);
    const char *p = spec;

    while (p != NULL && *p != '\0') {
        if (strncmp(p, name, n) == 0 && p[n] == '=')
            return p + n + 1;
        p = strchr(p, ',');
        if (p != NULL)
            p++;
    }
    return NULL;
}

void rg_failpoint_hit(const char *name)
{
    const char *act;
    long ms;

    pthread_once(&spec_once, spec_load);
    act = find_action(name);
    if (act == NULL)
        return;
    if (action_is(act, "abort")) {
        fprintf(stderr, "RG-FAILPOINT %s\n", name);
        abort();
    }
    ms = action_arg(act, "sleep");
    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

        nanosleep(&ts, NULL);
    }
}

/* Hit counters of the every(n) points, one per name (a name's first
 * caller's pointer is kept: names are string literals); a point past the
 * table never fails. */
#define FP_SLOTS 16
static struct {
    _Atomic(const char *) name;
    atomic_ulong hits;
} slots[FP_SLOTS];

static atomic_ulong *hits_of(const char *name)
{
    for (int i = 0; i < FP_SLOTS; i++) {
        const char *cur = atomic_load(&slots[i].name);

        if (cur == NULL &&
            atomic_compare_exchange_strong(&slots[i].name, &cur, name))
            return &slots[i].hits;
        if (cur != NULL && strcmp(cur, name) == 0)
            return &slots[i].hits;
    }
    return NULL;
}

int rg_failpoint_fails(const char *name)
{
    const char *act;
    atomic_ulong *hits;
    long every;

    pthread_once(&spec_once, spec_load);
    act = find_action(name);
    if (act == NULL)
        return 0;
    if (action_is(act, "error"))
        return 1;
    every = action_arg(act, "every");
    if (every <= 0 || (hits = hits_of(name)) == NULL)
        return 0;
    return (atomic_fetch_add(hits, 1) + 1) % (unsigned long)every == 0;
}
