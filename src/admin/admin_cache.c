/* Kong's proxy-cache admin endpoints, for this node's workers (the
 * cluster-wide purge is the next issue): answered where they arrive,
 * never forwarded to the leader.
 *
 *   DELETE /proxy-cache          purge every entry: 204 ("/proxy-cache/",
 *                                an empty key, is 404 and purges nothing)
 *   DELETE /proxy-cache/{key}    purge the entries of X-Cache-Key {key}:
 *                                204 when a worker held a fresh one, else
 *                                404 (purged either way)
 *   GET    /proxy-cache/{key}    {"key", "status", "ttl", "age", "size",
 *                                "workers"} of a fresh entry: 200, or 404
 *
 * A purge reaches every worker before their next lookup
 * (plugins/cache_store.h). */
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "plugins/cache_store.h"

#define PREFIX "/proxy-cache"

/* {key} as a hash: 16 hex digits (any case), else -1. */
static int parse_key(const char *s, uint64_t *out)
{
    uint64_t h = 0;

    if (strlen(s) != 16)
        return -1;
    for (; *s; s++) {
        int d = *s >= '0' && *s <= '9'   ? *s - '0'
                : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10
                : *s >= 'A' && *s <= 'F' ? *s - 'A' + 10
                                         : -1;

        if (d < 0)
            return -1;
        h = h << 4 | (uint64_t)d;
    }
    *out = h;
    return 0;
}

/* Whether the request, whose path reads "/proxy-cache" once its trailing
 * slashes are gone, was sent as "/proxy-cache/...": an empty key (an
 * unset shell variable) must not purge everything. */
static int empty_key(const struct rg_areq *q)
{
    return q->target != NULL && strstr(q->target, PREFIX "/") != NULL;
}

int rg_admin__proxy_cache(struct rg_areq *q)
{
    const char *p = q->path;
    struct rg_cache_entry e;
    uint64_t hash, now;
    unsigned n;
    char hex[17];

    if (strncmp(p, PREFIX, sizeof(PREFIX) - 1) != 0 ||
        (p[sizeof(PREFIX) - 1] != '\0' && p[sizeof(PREFIX) - 1] != '/'))
        return 0;
    p += sizeof(PREFIX) - 1;
    if (*p == '\0' && empty_key(q)) {
        rg_admin__error(q, 404, "Not found");
        return 1;
    }
    if (*p == '\0') {
        if (strcmp(q->method, "DELETE") != 0) {
            rg_admin__error(q, 405, "Method not allowed");
            return 1;
        }
        rg_cache_purge(1, 0);
        rg_admin__reply(q, 204, NULL, 0, NULL);
        return 1;
    }
    p++;
    if (parse_key(p, &hash) != 0) {
        rg_admin__error(q, 404, "Not found");
        return 1;
    }
    now = rg_cache_now_ms();
    if (strcmp(q->method, "DELETE") == 0) {
        n = rg_cache_find(hash, now, NULL);
        rg_cache_purge(0, hash);
        if (n > 0)
            rg_admin__reply(q, 204, NULL, 0, NULL);
        else
            rg_admin__error(q, 404, "Not found");
        return 1;
    }
    if (strcmp(q->method, "GET") != 0) {
        rg_admin__error(q, 405, "Method not allowed");
        return 1;
    }
    n = rg_cache_find(hash, now, &e);
    if (n == 0) {
        rg_admin__error(q, 404, "Not found");
        return 1;
    }
    rg_cache_hex(hash, hex);
    rg_admin__reply(q, 200,
                    json_pack("{s:s,s:i,s:I,s:I,s:I,s:i}", "key", hex, "status",
                              e.status, "ttl",
                              (json_int_t)((e.expires_ms - now) / 1000), "age",
                              (json_int_t)((now - e.stored_ms) / 1000), "size",
                              (json_int_t)e.size, "workers", (int)n),
                    0, NULL);
    return 1;
}
