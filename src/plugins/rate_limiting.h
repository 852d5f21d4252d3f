/* rate-limiting's typed config, shared by its reader
 * (rate_limiting_conf.c) and its enforcement (rate_limiting.c). Kong 3's
 * config:
 *
 *   second, minute, hour, day, month, year   fixed windows, UTC-aligned
 *                      (month and year: calendar); at least one, or a
 *                      token bucket; a shorter window never above a
 *                      longer one
 *   limit_by: consumer | credential | ip | service | header | path
 *                      (default consumer; header_name / path for the last
 *                      two); what is missing falls back to ip, as Kong
 *   policy: local | cluster | redis   all count per node until issue 11
 *   fault_tolerant (true), hide_client_headers (false),
 *   error_code (429), error_message ("API rate limit exceeded"),
 *   sync_rate, redis   accepted, not used (counters are in memory)
 *
 * and raftgate's token buckets, the seed's tiers, each refusing on its
 * own (X-RateLimit-Limit-Type names it):
 *
 *   token_buckets:
 *     - {name: api_key, limit_by: header, header_name: X-API-Key,
 *        rate: 10000, burst: 5000}
 *     - {name: user, limit_by: consumer, rate: 100}   burst defaults to
 *                                                     the rate
 *   A bucket whose identifier is missing (no consumer, no header) is
 *   skipped, as the seed's tiers are: no fallback to ip. */
#ifndef RG_PLUGINS_RATE_LIMITING_H
#define RG_PLUGINS_RATE_LIMITING_H

#include <stddef.h>
#include <stdint.h>

#include "config/yamltree.h"

enum rl_window {
    RL_SECOND = 0,
    RL_MINUTE,
    RL_HOUR,
    RL_DAY,
    RL_MONTH,
    RL_YEAR,
    RL_WINDOWS,
};

enum rl_by {
    RL_BY_CONSUMER = 0,
    RL_BY_CREDENTIAL,
    RL_BY_IP,
    RL_BY_SERVICE,
    RL_BY_HEADER,
    RL_BY_PATH,
};

/* What a request is counted by. */
struct rl_ident {
    enum rl_by by;
    char *header_name;       /* RL_BY_HEADER */
    char *path;              /* RL_BY_PATH */
};

struct rl_bucket {
    char *name;              /* X-RateLimit-Limit-Type */
    struct rl_ident id;
    uint32_t rate, burst;    /* tokens/s, tokens */
};

#define RL_BUCKETS_MAX 8

struct rl_conf {
    uint32_t limit[RL_WINDOWS]; /* 0: not set */
    struct rl_ident id;
    int fault_tolerant;
    int hide_client_headers;
    int error_code;
    char *error_body;        /* {"message": ...} */
    struct rl_bucket bucket[RL_BUCKETS_MAX];
    size_t n_buckets;
};

/* Kong's names of the windows: "second" ... "year", and "Second" ...
 * (the header suffix). */
extern const char *const rl_window_name[RL_WINDOWS];
extern const char *const rl_window_title[RL_WINDOWS];

int rl_conf_parse(struct rg_yt *t, yaml_node_t *config, void **out);
void rl_conf_free(void *p);

#endif
