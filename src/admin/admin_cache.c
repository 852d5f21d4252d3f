/* Kong's proxy-cache admin endpoints. A purge in cluster mode goes
 * through the Raft log (RG_CMD_CACHE_PURGE: every node purges its workers
 * when it applies the entry; a follower forwards the request to the
 * leader); in single-node mode it acts on this node's workers at once.
 * A lookup always answers for the node that receives it.
 *
 *   DELETE /proxy-cache          purge every entry: 204 ("/proxy-cache/",
 *                                an empty key, is 404 and purges nothing)
 *   DELETE /proxy-cache/{key}    purge the entries of X-Cache-Key {key}:
 *                                cluster mode: 204 once committed (whether
 *                                another node held it is not known);
 *                                single node: 204 when a worker held a
 *                                fresh one, else 404 (purged either way)
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

/* Whether the request, whose path reads "/proxy-cache" once its trailing
 * slashes are gone, was sent as "/proxy-cache/...": an empty key (an
 * unset shell variable) must not purge everything. */
static int empty_key(const struct rg_areq *q)
{
    return q->target != NULL && strstr(q->target, PREFIX "/") != NULL;
}

static void on_purged(struct rg_areq *q, const struct rg_fsm_result *res,
                      unsigned n)
{
    (void)n;
    rg_admin__reply(q, 204, NULL, res[0].revision, NULL);
}

/* Cluster mode: purge @key (NULL: everything) on every node, through the
 * leader. */
static void purge_replicated(struct rg_areq *q, const char *key)
{
    struct rg_cmd c = {.type = RG_CMD_CACHE_PURGE};

    if (!rg_admin__is_leader(q->a)) {
        rg_admin__forward(q);
        return;
    }
    c.key = key;
    c.key_len = key ? 16 : 0;
    q->on_ok = on_purged;
    rg_admin__propose(q, &c, 1);
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
        if (strcmp(q->method, "DELETE") != 0)
            rg_admin__error(q, 405, "Method not allowed");
        else if (q->a->raft != NULL)
            purge_replicated(q, NULL);
        else {
            rg_cache_purge(1, 0);
            rg_admin__reply(q, 204, NULL, 0, NULL);
        }
        return 1;
    }
    p++;
    if (rg_cache_unhex(p, strlen(p), &hash) != 0) {
        rg_admin__error(q, 404, "Not found");
        return 1;
    }
    now = rg_cache_now_ms();
    if (strcmp(q->method, "DELETE") == 0 && q->a->raft != NULL) {
        purge_replicated(q, p);
        return 1;
    }
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
