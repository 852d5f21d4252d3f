/* The node configuration (conf/raftgate.yml): listeners, workers, limits,
 * logging, and where the gateway config comes from. Read once at start and
 * again on SIGHUP (only the reloadable parts take effect on reload: the
 * gateway file, limits, headers and log level). */
#ifndef RG_CONFIG_NODE_H
#define RG_CONFIG_NODE_H

#include <stdint.h>

#include "core/errbuf.h"

struct rg_node_conf {
    /* proxy: */
    char *proxy_listen;          /* "host:port", default "0.0.0.0:8000" */
    unsigned workers;            /* 0 = number of CPUs */
    unsigned max_connections;    /* per worker, default 16384 */
    uint32_t header_timeout_ms;  /* request head must arrive in, 10000 */
    uint32_t idle_timeout_ms;    /* keep-alive idle close, 60000 */
    uint32_t max_header_size;    /* request line + headers, bytes, 32768 */
    uint64_t max_body_size;      /* bytes, 0 = unlimited (Kong default) */
    uint32_t upstream_keepalive; /* idle upstream conns per host per worker, 64 */
    uint32_t upstream_idle_ms;   /* upstream keep-alive idle timeout, 60000 */
    uint32_t drain_timeout_ms;   /* SIGTERM grace for in-flight requests, 10000 */
    char *via;                   /* Via pseudonym, default "raftgate"; "" = off */
    char *server;                /* Server header on local replies, default
                                    "raftgate"; "" = off */
    /* admin/status (control thread): */
    char *admin_listen;          /* default "127.0.0.1:8001" */
    char *status_listen;         /* default "127.0.0.1:8100" */
    /* logging: */
    char *error_log;             /* path or "stderr" (default) */
    char *log_level;             /* error|warn|notice|info|debug, default info */
    char *access_log;            /* path, or NULL/"off" (default off) */
    /* gateway config: */
    char *declarative_config;    /* path to the Kong-format file; relative
                                    paths resolve against this file's folder */
};

/* Parse @path into @nc (defaults filled first). On failure returns -EINVAL,
 * -ENOENT or -ENOMEM, leaves @nc released, and writes a message naming the
 * key (`proxy.workers: must be an integer in 0..256`) to @eb.
 * Thread: any. */
int rg_node_conf_load(struct rg_node_conf *nc, const char *path,
                      struct rg_errbuf *eb);

/* Fill @nc with defaults only (no file). Returns 0 or -ENOMEM. */
int rg_node_conf_defaults(struct rg_node_conf *nc);

/* Free what @nc owns and zero it. Accepts a zeroed @nc. */
void rg_node_conf_release(struct rg_node_conf *nc);

#endif
