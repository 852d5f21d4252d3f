/* proxy-cache's typed config and internals, shared by its reader
 * (proxy_cache_conf.c), its key (proxy_cache_key.c) and its phases
 * (proxy_cache.c).
 *
 * Config, as Kong 3's:
 *   strategy: memory (required; the only one)
 *   response_code: [200, 301, 404]   (200..599 but 204 and 304)
 *   request_method: [GET, HEAD]
 *   content_type: [text/plain, application/json]   the media type, any
 *                 case; wildcards "*", "*" "/" "*" and "type/" "*"; an
 *                 entry with parameters must match them too
 *   cache_ttl: 300   cache_control: false   storage_ttl: null
 *   vary_headers: []   vary_query_params: []   ignore_uri_case: false
 *   response_headers: {age: true, X-Cache-Status: true, X-Cache-Key: true}
 *   memory: {dictionary_name: ...}   accepted, ignored (one store a worker)
 * raftgate's extensions:
 *   vary_by_consumer: true  the consumer (id, else username, else
 *                           custom_id) is part of the key
 *   memory_cap: 16777216    bytes a worker's store holds (the largest cap
 *                           of the instances storing in it bounds it)
 *   stale_if_error: 0       seconds past its TTL an entry is served when
 *                           the upstream fails (connect, reset, timeout:
 *                           the gateway's 502/503/504)
 *   fallback: {status, headers, body}   served on such a failure when no
 *                           entry is (X-Cache-Status: Fallback)
 */
#ifndef RG_PLUGINS_PROXY_CACHE_H
#define RG_PLUGINS_PROXY_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "config/yamltree.h"
#include "plugins/conf_read.h"

#define RG_PC_LIST_MAX 64

struct rg_pc_conf {
    unsigned methods; /* RG_M_* */
    int codes[RG_PC_LIST_MAX];
    size_t n_codes;
    struct rg_names ctypes;
    long long cache_ttl, storage_ttl, stale_if_error;
    long long memory_cap;
    int cache_control, ignore_uri_case, vary_by_consumer;
    int h_age, h_status, h_key; /* response_headers */
    int has_strategy;
    struct rg_names vary_headers, vary_query;
    int fb_status;   /* 0: no fallback */
    char *fb_fields; /* "Name: value\r\n"... */
    size_t fb_flen;
    char *fb_body;
    size_t fb_blen;
};

/* A request's cache key (proxy_cache_key.c): its text, its hash (the
 * store's) and that hash in hex (X-Cache-Key). */
struct rg_pc_key {
    char *key; /* request memory; NULL: not built */
    size_t len;
    uint64_t hash;
    char hex[17];
};

/* ---- proxy_cache_conf.c ---- */

/* The schema's conf_parse: @config (NULL: none given) into a new
 * struct rg_pc_conf in *@out, owned by the caller (rg_pc__conf_free);
 * 0, or an rg_yt error naming the path with *@out NULL. */
int rg_pc__conf_parse(struct rg_yt *t, yaml_node_t *config, void **out);
void rg_pc__conf_free(void *p);

/* ---- proxy_cache_key.c: what a response is stored under ---- */

struct rg_req;

/* Build @r's key under @c into *@out, its text in @r's memory (valid
 * until the request ends): 0, or -ENOMEM with *@out untouched. ACCESS
 * (the consumer is known). */
int rg_pc__key(const struct rg_pc_conf *c, struct rg_req *r,
               struct rg_pc_key *out);

/* Append @n bytes of @p at *@w and advance it (room was counted). */
void rg_pc__put(char **w, const char *p, size_t n);

#endif
