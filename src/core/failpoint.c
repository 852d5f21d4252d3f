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

static void spec_load(void)
{
    spec = getenv("RAFTGATE_FAILPOINTS");
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
    if (strncmp(act, "abort", 5) == 0) {
        fprintf(stderr, "RG-FAILPOINT %s\n", name);
        abort();
    }
    if (sscanf(act, "sleep(%ld)", &ms) == 1 && ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

        nanosleep(&ts, NULL);
    }
}

/* Hit counters of the every(n) points, one per name (names are string
 * literals, so a pointer identifies one); a point past the table never
 * fails. */
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
        if (cur == name)
            return &slots[i].hits;
    }
    return NULL;
}

int rg_failpoint_fails(const char *name)
{
    const char *act;
    atomic_ulong *hits;
    unsigned long every;

    pthread_once(&spec_once, spec_load);
    act = find_action(name);
    if (act == NULL)
        return 0;
    if (strncmp(act, "error", 5) == 0)
        return 1;
    if (sscanf(act, "every(%lu)", &every) != 1 || every == 0 ||
        (hits = hits_of(name)) == NULL)
        return 0;
    return (atomic_fetch_add(hits, 1) + 1) % every == 0;
}
