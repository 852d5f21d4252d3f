/* The node configuration (conf/raftgate.yml): listeners, workers, limits,
 * logging, and where the gateway config comes from. Read once at start and
 * again on SIGHUP (only the reloadable parts take effect on reload: the
 * gateway file, limits, headers and log level). */
#ifndef RG_CONFIG_NODE_H
#define RG_CONFIG_NODE_H

#include <stdint.h>

#include "core/cidr.h"
#include "core/err.h"
#include "core/errbuf.h"

/* One initial voter (raft.voters). */
struct rg_node_voter {
    uint64_t id;                 /* >= 1 */
    char *address;               /* raft "host:port" */
};

struct rg_node_conf {
    /* proxy: */
    char *proxy_listen;          /* "host:port", default "0.0.0.0:8000" */
    unsigned workers;            /* 0 = number of CPUs */
    unsigned max_connections;    /* per worker, default 16384 */
    uint32_t header_timeout_ms;  /* request head must arrive in, 10000 */
    uint32_t idle_timeout_ms;    /* keep-alive idle close, 60000 */
    uint32_t max_header_size;    /* request line + headers, bytes, 32768 */
    uint64_t max_body_size;      /* bytes, 0 = unlimited (Kong default) */
    uint32_t upstream_keepalive; /* idle upstream conns per host per
                                    worker kept whatever the demand, 64 */
    uint32_t upstream_keepalive_max; /* bound on them when demand is
                                        higher, 1024 */
    uint32_t upstream_idle_ms;   /* upstream keep-alive idle timeout, 60000 */
    struct rg_cidrs trusted_ips; /* peers whose X-Forwarded-Proto/-Host/
                                    -Port are kept, none by default */
    uint32_t drain_timeout_ms;   /* SIGTERM grace for in-flight requests,
                                    10000 */
    char *via;                   /* Via pseudonym, default "raftgate";
                                    "" = off */
    char *server;                /* Server header on local replies, default
                                    "raftgate"; "" = off */
    /* proxy TLS (README "TLS"): */
    char *proxy_tls_listen;          /* "host:port", NULL = no TLS listener */
    char *proxy_tls_certificate;     /* PEM chain file, NULL = self-signed */
    char *proxy_tls_certificate_key; /* PEM key file, with the above */
    unsigned proxy_tls_protocols;    /* RG_TLS_V12|RG_TLS_V13 (core/tls.h),
                                        default both */
    char *proxy_tls_ciphers;         /* TLS 1.2 cipher list, NULL = OpenSSL's */
    char *proxy_upstream_ca_file;    /* https upstreams' CAs (PEM), NULL =
                                        the system store */
    /* admin/status (control thread): */
    char *admin_listen;          /* default "127.0.0.1:8001" */
    char *admin_token;           /* bearer token, NULL = no auth (default) */
    char *admin_tls_certificate; /* PEM chain: the admin API over TLS;
                                    NULL = plain HTTP (default) */
    char *admin_tls_certificate_key; /* its PEM key */
    char *admin_tls_ca_file;     /* PEM CAs that admin forwarding trusts in
                                    the other nodes' admin certificates;
                                    NULL = the system store */
    char *status_listen;         /* default "127.0.0.1:8100" */
    int status_ready_when_degraded; /* obs: /ready 200 when degraded
                                       (default 1) */
    /* node: (identity in the Raft group) */
    uint64_t node_id;            /* >= 1; 0 = not set (single-node mode) */
    char *node_name;             /* NULL = not set */
    /* raft: (cluster mode is on when the file has this section) */
    int cluster;                 /* 1 when a raft: section is present */
    char *raft_listen;           /* "host:port" to listen on and advertise;
                                    required in cluster mode */
    char *raft_data_dir;         /* absolute, default "/var/lib/raftgate" */
    struct rg_node_voter *raft_voters; /* initial voters, rg_malloc'd */
    unsigned raft_n_voters;
    int raft_join;               /* 1: no bootstrap, wait to be added */
    uint32_t raft_election_ms;   /* election timeout, ms, 1000 */
    uint32_t raft_heartbeat_ms;  /* heartbeat, ms, 100 */
    unsigned raft_snapshot_threshold; /* entries between snapshots, 8192 */
    uint32_t raft_quota_lease_ms; /* D: a rate-limiting lease (policy
                                     cluster) is spent at most this long
                                     after its request was sent, 2000 */
    int raft_quota_debug_header;  /* X-Raftgate-Quota on every answer a
                                     cluster window admitted */
    char *raft_cluster_key_file;  /* auth: absolute path, NULL = unset */
    unsigned char *raft_cluster_key; /* auth: its bytes (32..4096),
                                        rg_malloc'd; NULL = unset */
    size_t raft_cluster_key_len;
    /* logging: */
    char *error_log;             /* path or "stderr" (default) */
    char *log_level;             /* error|warn|notice|info|debug, default
                                    info */
    char *access_log;            /* path, or NULL when off (the default;
                                    the file says `off`) */
    /* consul: (discovery, src/upstream/consul.h) */
    char *consul_address;        /* "http[s]://host:port", default
                                    "http://127.0.0.1:8500" */
    char *consul_token;          /* X-Consul-Token, NULL = none */
    char *consul_datacenter;     /* dc= for names without one, NULL */
    char *consul_domain;         /* names end in .service[.DC].<this>,
                                    default "consul" */
    uint32_t consul_wait_ms;     /* blocking query wait, 1 s..10 min,
                                    60000 */
    /* gateway config: */
    char *declarative_config;    /* path to the Kong-format file, NULL when
                                    not set (the default) */
};

/* File syntax (conf/raftgate.yml documents every key): sections proxy,
 * admin, status, log, gateway, node, raft, consul; every key optional unless
 * said otherwise; unknown keys are errors. Durations are integer ms or "250ms",
 * "10s", "2m", "1h" (1 ms.. 24 h; drain_timeout may be 0). Sizes are integer
 * bytes or "32k", "8m", "1g" (powers of 1024); max_header_size 1k..1m,
 * max_body_size 0..1 TiB. workers 0..256, max_connections 1..1048576,
 * upstream_keepalive 0..65535, upstream_keepalive_max 1..65535. A listen
 * address is "host:port" with an IPv4 literal, "localhost" or
 * "[IPv6]", port 1..65535, stored as written. via must be an HTTP token,
 * server printable ASCII. Paths (error_log unless "stderr", access_log
 * unless "off", declarative_config) are stored absolute: relative ones
 * are joined to the absolute folder of the node config file.
 *
 * proxy TLS: tls_listen is a listen address other than listen;
 * tls_certificate and
 * tls_certificate_key are paths set together, and must hold a PEM chain
 * and its matching PEM key (checked at load: the error names the key and
 * the file); tls_protocols is "TLSv1.2", "TLSv1.3" or both,
 * space-separated (or a list); tls_ciphers an OpenSSL cipher list that
 * matches at least one cipher. admin.tls_certificate and
 * admin.tls_certificate_key are paths set together, checked likewise. In
 * cluster mode admin TLS on means admin forwarding speaks https to the
 * other nodes, verifying their certificates (chain and the address's host
 * name or IP) against admin.tls_ca_file (a path to PEM CAs, which must
 * load; default the system store); tls_ca_file needs tls_certificate.
 *
 * Cluster mode (a raft: section): node.id (1..2^63-1) and raft.listen are
 * required; raft addresses (listen, voters[].address) are "host:port" with
 * an IPv4 address or a host name (libraft's TCP transport resolves IPv4
 * only), port 1..65535. raft.voters is a list of {id, address} with unique
 * ids and addresses; unless raft.join is true it is required and must
 * list this node (node.id) with address raft.listen. raft.data_dir is a
 * path (relative to the file's folder); election_timeout 10 ms..24 h,
 * heartbeat_timeout 1 ms..24 h and below election_timeout;
 * snapshot_threshold 16..2^31-1; quota_lease_ms a duration of 50 ms..24 h
 * (default 2000), quota_debug_header a boolean. admin.token is 1..256
 * printable ASCII characters without spaces. node: alone (without raft:)
 * is allowed.
 *
 * consul: address is an http:// or https:// URL (no path but "/"), token
 * 1..256 printable ASCII characters without spaces, datacenter a DNS
 * label of [A-Za-z0-9_-], domain such labels joined by dots, wait a
 * duration of 1 s..10 min (Consul caps it at 10 min). */

/* Parse @path into @nc (defaults filled first; an empty file gives the
 * defaults). On failure returns -EINVAL, -ENOMEM or the -errno of
 * open/read (e.g. -ENOENT), leaves @nc released, and writes a message
 * prefixed with @path and naming the key to @eb:
 * `conf/raftgate.yml: proxy.workers: must be an integer in 0..256 (line 3)`.
 * Ownership: @nc is filled and owned by the caller. Thread: any (reads
 * the working directory when @path is relative). */
int rg_node_conf_load(struct rg_node_conf *nc, const char *path,
                      struct rg_errbuf *eb) RG_MUST_CHECK;

/* The proxy TLS listener's settings from @nc, for rg_tls_server_new;
 * @tc borrows @nc's strings. rg_node_conf_admin_tls: the admin API's
 * (certificate and key only; TLS 1.2 and 1.3, OpenSSL's ciphers).
 * rg_node_conf_admin_fwd_tls: the client side of admin forwarding, for
 * rg_tls_client_new (verifying, admin.tls_ca_file). */
struct rg_tls_server_conf;
struct rg_tls_client_conf;
void rg_node_conf_admin_fwd_tls(const struct rg_node_conf *nc,
                                struct rg_tls_client_conf *cc);
void rg_node_conf_proxy_tls(const struct rg_node_conf *nc,
                            struct rg_tls_server_conf *tc);
void rg_node_conf_admin_tls(const struct rg_node_conf *nc,
                            struct rg_tls_server_conf *tc);

/* Fill @nc with defaults only (no file). Returns 0 or -ENOMEM. */
int rg_node_conf_defaults(struct rg_node_conf *nc);

/* Free what @nc owns and zero it. Accepts a zeroed @nc. */
void rg_node_conf_release(struct rg_node_conf *nc);

#endif
