/* Failpoints: parse RAFTGATE_FAILPOINTS once, act on a hit. */
#include "core/failpoint.h"

#include <pthread.h>
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
