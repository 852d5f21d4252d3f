/* Health, readiness and the degraded state of a node (issue 12), for the
 * status listener's /health and /ready, the admin API's /status and the
 * metrics' raftgate_degraded{reason}.
 *
 * Degraded means the node still proxies, from its local copy of the
 * config, but something a cluster member normally has is missing:
 *   RG_DEGRADED_NO_LEADER    cluster mode and no leader known (the node
 *                            cannot take admin writes, quota leases and
 *                            committed breaker states wait);
 *   RG_DEGRADED_LAST_CONFIG  the workers serve a config that is not the
 *                            applied store's: the data dir's last-good
 *                            copy (a restart before the log is replayed),
 *                            or an older one because the latest revision
 *                            was refused (cluster mode), or because the
 *                            last reload was refused (single-node mode);
 *   RG_DEGRADED_CONSUL       a Consul watch's last query failed (its last
 *                            good answer is served, or none).
 *
 * /health is liveness: 200 while the process serves, degraded or not.
 * /ready is readiness: 503 while draining or before the node serves its
 * first config (cluster mode: one built from the store at a revision
 * above 0, or the last-good copy; a store never written is not ready);
 * 200 when degraded, unless status.ready_when_degraded is false (then
 * 503). Bodies: README "Health and readiness".
 *
 * Thread: the control loop's, everything (the raft node and the Consul
 * watches live there). */
#ifndef RG_CONTROL_READINESS_H
#define RG_CONTROL_READINESS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct rg_raft;
struct rg_consul;

enum {
    RG_DEGRADED_NO_LEADER = 1u << 0,
    RG_DEGRADED_LAST_CONFIG = 1u << 1,
    RG_DEGRADED_CONSUL = 1u << 2,
};
#define RG_DEGRADED_ALL                                                        \
    (RG_DEGRADED_NO_LEADER | RG_DEGRADED_LAST_CONFIG | RG_DEGRADED_CONSUL)

/* What the control loop knows; main.c owns it and keeps it current. The
 * pointers are borrowed (NULL: single-node mode / no Consul). */
struct rg_readiness {
    const struct rg_raft *raft;
    const struct rg_consul *consul;
    uint64_t served_rev;              /* store revision the workers serve */
    unsigned lastgood : 1;            /* serving the data dir's last config */
    unsigned refused : 1;             /* the newest config was refused: an
                                         older one is served */
    unsigned draining : 1;            /* shutting down */
    unsigned ready_when_degraded : 1; /* status.ready_when_degraded */
};

/* The degraded bit set now (0: not degraded). @r may be NULL (0). */
unsigned rg_degraded(const struct rg_readiness *r);

/* The reason name of one bit ("no_leader", "last_config", "consul"),
 * NULL for anything else. */
const char *rg_degraded_name(unsigned bit);

/* The reason names of @bits as a new JSON array; NULL on ENOMEM. */
json_t *rg_degraded_json(unsigned bits);

/* The answers of /health and /ready: the body (JSON, a line) into @buf
 * (@cap bytes, 256 are enough), its length returned, the HTTP status in
 * *@status. */
size_t rg_readiness_health(const struct rg_readiness *r, char *buf, size_t cap,
                           int *status);
size_t rg_readiness_ready(const struct rg_readiness *r, char *buf, size_t cap,
                          int *status);

#endif
