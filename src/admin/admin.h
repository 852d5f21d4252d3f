/* The admin API (Kong-shaped REST on admin.listen): CRUD on services,
 * routes, consumers and plugins, /config, /cluster and the fault-injection
 * hooks (/status, /debug/applied). Runs on the control loop and calls the
 * raft facade directly; followers forward writes to the leader. Without a
 * raft group (single-node mode) it serves reads of the declarative config
 * and refuses writes with 409. */
#ifndef RG_ADMIN_ADMIN_H
#define RG_ADMIN_ADMIN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/gateway.h"
#include "control/quota.h"
#include "core/errbuf.h"

struct rg_raft;
struct rg_fsm;
struct rg_tls_server;
struct rg_admin;

struct rg_consul;
struct rg_readiness;

struct rg_admin_conf {
    const char *listen;     /* "host:port" */
    const char *token;      /* bearer token; NULL or "" = no auth */
    struct rg_raft *raft;   /* kept until rg_admin_stop; NULL in
                               single-node mode */
    /* Cluster mode: this node's registry record {name, raft, admin (=
     * listen), proxy}; the node keeps it in step through the leader. NULL
     * name = "node-<id>". */
    const char *name;
    const char *raft_addr;
    const char *proxy_addr;
    /* Test builds' negative control (docs/fault-injection.md §4.2 item 9): serve
     * ?consistency=linearizable reads from the local store, with no
     * barrier and no forwarding, so they may be stale. GET /status lists
     * it under "unsafe". */
    int unsafe_local_reads;
    /* Consul watches, for GET /status's "consul" (kept until
     * rg_admin_stop); may be NULL. */
    const struct rg_consul *consul;
    /* GET /status lists --unsafe-lease-reclaim-early under "unsafe". */
    int unsafe_lease_reclaim;
    /* The lease client (cluster mode), kept until rg_admin_stop: GET
     * /status shows its leases, POST /cluster/leases serves followers. */
    struct rg_quota *quota;
    /* obs: the node's degraded state for GET /status's "degraded" (kept
     * until rg_admin_stop); may be NULL. */
    const struct rg_readiness *readiness;
    /* auth: the cluster key (raft.cluster_key_file), copied; NULL = none.
     * With it, POST /cluster/leases and /cluster/breaker need a valid
     * X-Raftgate-Auth (core/reqmac.h), and X-Raftgate-Forwarded counts
     * only with one. */
    const unsigned char *cluster_key;
    size_t cluster_key_len;
    /* admin.tls_certificate's context (kept until rg_admin_stop), or
     * NULL: plain HTTP. */
    struct rg_tls_server *tls;
};

/* Start the admin API on @loop. Strings in @c are copied. Returns NULL
 * with @eb filled on error (bind). Thread: @loop's (the control thread). */
struct rg_admin *rg_admin_start(uv_loop_t *loop,
                                const struct rg_admin_conf *c,
                                struct rg_errbuf *eb);

/* Single-node mode: serve reads from @f (kept until the next call or
 * rg_admin_stop; the caller frees it after that). */
void rg_admin_set_local(struct rg_admin *a, const struct rg_fsm *f);

/* The config store reached @revision: answer ?min_revision waiters. Call
 * after every apply that changed config. */
void rg_admin_notify(struct rg_admin *a, uint64_t revision);

/* The data plane now serves the store's config at @revision: GET /status
 * reports it as served_revision, so that a store the data plane could not
 * load (it keeps the config it had) shows. Accepts NULL. */
void rg_admin_served(struct rg_admin *a, uint64_t revision);

/* A follower's lease batch to the leader's POST /cluster/leases: a
 * rg_quota_post_fn with @admin the struct rg_admin. */
int rg_admin_post_leases(void *admin, const char *body, size_t len,
                         unsigned timeout_ms, rg_quota_post_cb cb, void *arg);

/* Stop listening; pending requests are answered (503) and closed. Call
 * before rg_raft_stop. Accepts NULL. */
void rg_admin_stop(struct rg_admin *a);

/* Turn a declarative document (Kong 3.0, YAML or JSON) into the canonical
 * JSON body of a REPLACE_ALL command: nested routes and plugins moved to
 * the top level with references by id ({"service": {"id": ...}}), missing
 * ids filled deterministically (a name-based UUID, so the same file gives
 * the same ids on every node). The result is validated first; on error
 * returns NULL with a path-qualified message in @eb. Returns an rg_malloc'd
 * string (caller frees) of *@len bytes. Thread: any. */
char *rg_admin_config_canonical(const char *text, size_t len, size_t *out_len,
                                struct rg_errbuf *eb);

/* The data-plane view of a canonical document: the document itself as
 * compact sorted JSON, which loads with rg_gateway_parse (the parser reads
 * every list the store holds). Returns an rg_malloc'd string or NULL with
 * @eb filled. Thread: any. */
char *rg_admin_config_dataplane(const char *doc, size_t len, size_t *out_len,
                                struct rg_errbuf *eb);

/* The state machine's validator (rg_fsm_validate_fn): @doc (borrowed,
 * unchanged) must load with the gateway parser and the plugin registry's
 * catalog, so every plugin config stored passed its schema.
 * Deterministic; no DNS. */
int rg_admin_validate(void *arg, const json_t *doc, char *err, size_t cap);

/* Single-node mode: a state machine holding the declarative file at
 * @path (NULL = empty), so the admin API reads it like a replicated
 * store. Returns a new rg_fsm (free with rg_fsm_free) or NULL with @eb
 * filled. Thread: any. */
struct rg_fsm *rg_admin_local_state(const char *path, struct rg_errbuf *eb);

/* The gateway config (plain data) for the data plane from the store's
 * export. 0, or -EINVAL / -ENOMEM with @eb filled; @gw as in
 * rg_gateway_parse. On success, when @dp_out is not NULL, *@dp_out gets
 * the data-plane JSON document it was parsed from (rg_malloc'd, the caller
 * frees; @dp_len its length). Thread: the owner of @f. */
int rg_admin_gateway(const struct rg_fsm *f, struct rg_gateway *gw,
                     char **dp_out, size_t *dp_len, struct rg_errbuf *eb);

/* Seeding: the canonical REPLACE_ALL body of the file at @path, as
 * rg_admin_config_canonical. */
char *rg_admin_seed_body(const char *path, size_t *len,
                         struct rg_errbuf *eb);

#endif
