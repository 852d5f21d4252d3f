/* raftgate: wiring only. Arguments, config, the control loop (signals,
 * status listener, raft node, admin API, reloads) and the worker threads,
 * in that order; shutdown in reverse: admin API, workers drain, raft node,
 * then the loop ends. Cluster mode (a raft: section) takes the gateway
 * config from the replicated store; single-node mode from the file. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "admin/admin.h"
#include "admin/cli.h"
#include "admin/fwd.h"
#include "admin/httpd.h"
#include "config/gateway.h"
#include "config/lastgood.h"
#include "control/readiness.h"
#include "config/node.h"
#include "config/yamltree.h"
#include "control/quota.h"
#include "control/breaker.h"
#include "control/prom.h"
#include "core/alloc.h"
#include "core/ctlq.h"
#include "core/failpoint.h"
#include "core/log.h"
#include "http/accesslog.h"
#include "core/strmap.h"
#include "core/tls.h"
#include "http/gen.h"
#include "event/worker.h"
#include "plugins/cache_store.h"
#include "plugins/registry.h"
#include "raft/rgraft.h"
#include "upstream/consul.h"
#include "upstream/hcheck.h"
#include "upstream/health.h"

#ifndef RG_SYSCONFDIR
#define RG_SYSCONFDIR "/usr/local/etc"
#endif

/* The longest a store change waits to be served (schedule_rebuild). */
#define REBUILD_WAIT_MAX_MS 500

struct control {
    uv_loop_t *loop;
    const char *conf_path;
    struct rg_node_conf nc;
    struct rg_worker *workers;
    struct rg_tls_server *proxy_tls; /* proxy.tls_listen's, or NULL */
    struct rg_tls_server *admin_tls; /* admin.tls_certificate's, or NULL */
    struct rg_tls_client *admin_fwd_tls; /* forwarding's, or NULL */
    unsigned n_workers;
    struct rg_gen *gen;           /* the latest published generation */
    struct rg_hchecker *hcheck;   /* active health checks, or NULL */
    uint64_t next_gen;
    struct rg_httpd *status;
    struct rg_admin *admin;
    struct rg_raft *raft;         /* NULL in single-node mode */
    struct rg_fsm *local;         /* single-node mode: the file, for the
                                     admin API's reads */
    char *local_text;             /* single-node mode: the declarative
                                     file as last (re)loaded, for the
                                     rebuilds a Consul change asks for */
    size_t local_len;
    struct rg_resolver *resolver; /* cluster mode: upstream names, resolved
                                     off this thread for rebuilds */
    struct rg_consul *consul;     /* Consul names' watches (both modes) */
    const char *consul_url;       /* --consul: overrides consul.address */
    uv_timer_t rebuild;           /* coalesces store changes into one
                                     generation (schedule_rebuild) */
    uint64_t rebuild_cost;        /* ns the last rebuild took */
    uint64_t rebuilt_at;          /* uv_now (ms) when it ended */
    uv_timer_t seed;              /* cluster mode: propose the seed */
    int seeding;                  /* a seed proposal is in flight */
    uv_signal_t sig_hup, sig_term, sig_int, sig_usr1;
    uv_timer_t drain_timer;
    uv_async_t workers_done;
    int stopping;
    int workers_ended;            /* every worker loop has returned */
    uint64_t served_rev;          /* cluster mode: store revision of the
                                     config the workers serve */
    int unsafe_local_reads;       /* --unsafe-local-admin-reads (test
                                     builds only) */
    int unsafe_lease_reclaim;     /* --unsafe-lease-reclaim-early (test
                                     builds only) */
    struct rg_quota *quota;       /* cluster mode: the lease client */
    struct rg_readiness ready;    /* /health, /ready, degraded (obs) */
};

/* Long options without a short form start here. */
enum { OPT_UNSAFE_LOCAL_READS = 256, OPT_CONSUL, OPT_UNSAFE_LEASE_RECLAIM };

static const struct option long_opts[] = {
    {"unsafe-local-admin-reads", no_argument, NULL, OPT_UNSAFE_LOCAL_READS},
    {"consul", required_argument, NULL, OPT_CONSUL},
    {"unsafe-lease-reclaim-early", no_argument, NULL,
     OPT_UNSAFE_LEASE_RECLAIM},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: raftgate [-c FILE] [-t] [-v] [--consul URL] "
               "[--unsafe-local-admin-reads] "
               "[--unsafe-lease-reclaim-early]\n"
               "       raftgate cluster status|join|promote|remove|"
               "transfer --admin HOST:PORT ...\n"
               "  -c FILE  node config (default %s/raftgate/raftgate.yml)\n"
               "  -t       test the configuration and exit\n"
               "  -v       print the version and exit\n"
               "  --consul URL\n"
               "           the Consul agent (overrides consul.address)\n"
               "  --unsafe-local-admin-reads\n"
               "           test builds only: linearizable admin reads are "
               "served locally\n"
               "           with no barrier (may be stale)\n"
               "  --unsafe-lease-reclaim-early\n"
               "           test builds only: unused lease tokens are given "
               "back and still\n"
               "           spent (over-admits: a negative control)\n",
               RG_SYSCONFDIR);
}

/* The version, then the build features the test suites look for. */
static void print_version(void)
{
    printf("raftgate %s\nfeatures: %s\n", PACKAGE_VERSION,
           RG_FAILPOINTS_BUILT ? "failpoints" : "-");
}

/* An unsafe test switch in a build without them: refuse to start. */
static int unsafe_refused(const char *name)
{
    fprintf(stderr, "raftgate: --%s is a test switch: this binary was "
                    "built without it (configure --enable-failpoints)\n",
            name);
    return 2;
}

/* Cluster mode is on when the node config has a raft: section. */
static int cluster_mode(const struct rg_node_conf *nc)
{
    return nc->cluster;
}

/* Load the node config and the gateway config into a generation. The
 * gateway config comes from @store when given (cluster mode), else from
 * the declarative file when @file is set or in single-node mode; else it
 * is empty (a cluster node before its store is read). */
static struct rg_gen *load_all(const char *path, struct rg_node_conf *nc,
                               uint64_t id, const struct rg_fsm *store,
                               int file, struct rg_gen_env *env,
                               struct rg_errbuf *eb)
{
    struct rg_gen_env plain = {.ops = rg_plugins_ops()};
    struct rg_gateway gw = {0};
    struct rg_gen *g;
    int rv = 0;

    if (rg_node_conf_load(nc, path, eb) != 0)
        return NULL;
    if (store != NULL)
        rv = rg_admin_gateway(store, &gw, NULL, NULL, eb);
    else if (nc->declarative_config != NULL && (file || !cluster_mode(nc)))
        rv = rg_gateway_load(&gw, nc->declarative_config,
                             rg_plugins_catalog(), eb);
    if (rv != 0) {
        rg_node_conf_release(nc);
        return NULL;
    }
    g = rg_gen_new(&gw, nc, env != NULL ? env : &plain, id, eb);
    if (g == NULL) {
        rg_gateway_release(&gw);
        rg_node_conf_release(nc);
    }
    return g;
}

static const struct rg_fsm *store_of(const struct control *ctl)
{
    return ctl->raft ? rg_raft_fsm(ctl->raft) : NULL;
}

/* Single-node mode: (re)load the file into the admin API's read-only
 * store. A failure leaves the admin API with the previous state. */
static void local_store(struct control *ctl)
{
    struct rg_errbuf eb = {{0}};
    struct rg_fsm *f = rg_admin_local_state(ctl->nc.declarative_config, &eb);

    if (f == NULL) {
        rg_log(RG_LOG_WARN, "admin API: %s", eb.msg);
        return;
    }
    rg_admin_set_local(ctl->admin, f);
    rg_fsm_free(ctl->local);
    ctl->local = f;
    /* A Consul rebuild parses this text again, as the start or the
     * reload did: the admin store's copy has generated ids the file's
     * objects lack, and counts and headers keyed by them would change. */
    rg_free(ctl->local_text);
    ctl->local_text = NULL;
    if (ctl->nc.declarative_config != NULL &&
        rg_yt_read_file(ctl->nc.declarative_config, 16u << 20,
                        &ctl->local_text, &ctl->local_len) < 0)
        ctl->local_text = NULL;
}

/* GET /debug/allocs: how many allocations the worker threads have made,
 * so a test (or an operator) can see that steady-state proxying makes
 * none. */
static void status_allocs(struct control *ctl, struct rg_httpd_req *req)
{
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"worker_allocations\":%lu}\n",
                     ctl->workers ? rg_workers_allocs(ctl->workers,
                                                      ctl->n_workers)
                                  : 0ul);

    rg_httpd_respond(req->conn, 200, "application/json", body, (size_t)n,
                     NULL);
}

/* GET /health, /ready: control/readiness.h answers. */
static void status_probe(struct control *ctl, struct rg_httpd_req *req,
                         size_t (*fn)(const struct rg_readiness *, char *,
                                      size_t, int *))
{
    char body[256];
    int status;
    size_t n = fn(&ctl->ready, body, sizeof(body), &status);

    rg_httpd_respond(req->conn, status, "application/json", body, n, NULL);
}

/* GET /metrics (met, issue 12): the Prometheus exposition of
 * control/prom.h over what the control thread holds. */
static void status_metrics(struct control *ctl, struct rg_httpd_req *req)
{
    struct rg_prom_src src = {
        .workers = ctl->workers,
        .n_workers = ctl->workers ? ctl->n_workers : 0,
        .gen = ctl->gen,
        .raft = ctl->raft,
        .quota = ctl->quota,
        .consul = ctl->consul,
        .served_rev = ctl->served_rev,
        .readiness = &ctl->ready,
    };
    static const char nomem[] = "{\"message\":\"out of memory\"}\n";
    struct rg_buf b;

    rg_buf_init(&b, 16u << 20);
    if (rg_prom_render(&src, &b) == 0)
        rg_httpd_respond(req->conn, 200, RG_PROM_CTYPE, b.p, b.len, NULL);
    else
        rg_httpd_respond(req->conn, 503, "application/json", nomem,
                         sizeof(nomem) - 1, NULL);
    rg_buf_release(&b);
}

static void status_handler(void *arg, struct rg_httpd_req *req)
{
    struct control *ctl = arg;
    static const char nf[] = "{\"message\":\"Not found\"}\n";
    static const char na[] = "{\"message\":\"Method not allowed\"}\n";

    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        rg_httpd_respond(req->conn, 405, "application/json", na,
                         sizeof(na) - 1, "Allow: GET, HEAD\r\n");
    else if (strcmp(req->path, "/health") == 0)
        status_probe(ctl, req, rg_readiness_health);
    else if (strcmp(req->path, "/ready") == 0)
        status_probe(ctl, req, rg_readiness_ready);
    else if (strcmp(req->path, "/debug/allocs") == 0)
        status_allocs(ctl, req);
    else if (strcmp(req->path, "/metrics") == 0)
        status_metrics(ctl, req);
    else
        rg_httpd_respond(req->conn, 404, "application/json", nf,
                         sizeof(nf) - 1, NULL);
}

/* The active health checks follow the generation the node serves
 * (created on first need; they run on this loop). */
static void health_serving(struct control *ctl, const struct rg_gen *g)
{
    if (ctl->hcheck == NULL && g->n_ups > 0)
        ctl->hcheck = rg_hchecker_new(ctl->loop);
    if (rg_gen_hcheck_sync(g, ctl->hcheck) != 0)
        rg_log(RG_LOG_WARN, "health checks: out of memory, keeping the "
                            "previous set");
}


/* Whether a reload changed TLS settings, which apply at start only. */
static int str_changed(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

static int tls_settings_changed(const struct rg_node_conf *a,
                                const struct rg_node_conf *b)
{
    return str_changed(a->proxy_tls_listen, b->proxy_tls_listen) ||
           str_changed(a->proxy_tls_certificate, b->proxy_tls_certificate) ||
           str_changed(a->proxy_tls_certificate_key,
                       b->proxy_tls_certificate_key) ||
           str_changed(a->proxy_tls_ciphers, b->proxy_tls_ciphers) ||
           a->proxy_tls_protocols != b->proxy_tls_protocols ||
           str_changed(a->admin_tls_certificate, b->admin_tls_certificate) ||
           str_changed(a->admin_tls_certificate_key,
                       b->admin_tls_certificate_key) ||
           str_changed(a->admin_tls_ca_file, b->admin_tls_ca_file);
}

/* The transport and the admin forwarding took the key at start. */
static int cluster_key_changed(const struct rg_node_conf *a,
                               const struct rg_node_conf *b)
{
    return str_changed(a->raft_cluster_key_file, b->raft_cluster_key_file) ||
           a->raft_cluster_key_len != b->raft_cluster_key_len ||
           (a->raft_cluster_key_len > 0 &&
            memcmp(a->raft_cluster_key, b->raft_cluster_key,
                   a->raft_cluster_key_len) != 0);
}

/* Swap @n (at most 8) bytes at @a and @b. */
static void swap_bytes(void *a, void *b, size_t n)
{
    unsigned char t[sizeof(uint64_t)];

    memcpy(t, a, n);
    memcpy(a, b, n);
    memcpy(b, t, n);
}

/* Keep in @next the running values of the settings that take effect on
 * restart only (swapped with @running's, which is released next), so
 * that ctl->nc says what runs and the next reload warns about a change
 * from that, not from the previous file. */
static void keep_restart_only(struct rg_node_conf *next,
                              struct rg_node_conf *running)
{
#define KEEP(field)                                                            \
    do {                                                                       \
        _Static_assert(sizeof(next->field) <= sizeof(uint64_t), #field);       \
        swap_bytes(&next->field, &running->field, sizeof(next->field));        \
    } while (0)
    KEEP(proxy_listen);
    KEEP(workers);
    KEEP(proxy_tls_listen);
    KEEP(proxy_tls_certificate);
    KEEP(proxy_tls_certificate_key);
    KEEP(proxy_tls_ciphers);
    KEEP(proxy_tls_protocols);
    KEEP(admin_tls_certificate);
    KEEP(admin_tls_certificate_key);
    KEEP(admin_tls_ca_file);
    KEEP(raft_cluster_key_file);
    KEEP(raft_cluster_key);
    KEEP(raft_cluster_key_len);
#undef KEEP
}

static void reload(struct control *ctl)
{
    struct rg_node_conf nc = {0};
    struct rg_errbuf eb = {{0}};
    struct rg_gen_env env = {.ops = rg_plugins_ops(), .consul = ctl->consul};
    struct rg_gen *g;
    enum rg_log_level lvl;

    g = load_all(ctl->conf_path, &nc, ctl->next_gen, store_of(ctl), 0, &env,
                 &eb);
    if (g == NULL && env.waiting && ctl->raft == NULL) {
        /* A new Consul name: the rebuild after its first answer serves
         * the new file (node settings wait for the next reload). */
        local_store(ctl);
        rg_log(RG_LOG_NOTICE, "reload waits for Consul: %s", eb.msg);
        return;
    }
    if (g == NULL) {
        rg_log(RG_LOG_ERROR, "reload rejected: %s", eb.msg);
        /* Cluster mode serves the store whatever the file says. */
        ctl->ready.refused = ctl->raft == NULL;
        return;
    }
    ctl->ready.refused = 0;
    rg_consul_sweep(ctl->consul);
    ctl->next_gen++;
    if (strcmp(nc.proxy_listen, ctl->nc.proxy_listen) != 0 ||
        nc.workers != ctl->nc.workers)
        rg_log(RG_LOG_WARN, "reload: proxy.listen and proxy.workers take "
                            "effect on restart only");
    if (tls_settings_changed(&nc, &ctl->nc))
        rg_log(RG_LOG_WARN, "reload: proxy.tls_* and admin.tls_* take "
                            "effect on restart only");
    if (cluster_key_changed(&nc, &ctl->nc))
        rg_log(RG_LOG_WARN, "reload: a new raft.cluster_key_file takes "
                            "effect on restart only");
    if (rg_log_level_parse(nc.log_level, &lvl) == 0)
        rg_log_max_level = lvl;
    rg_workers_publish(ctl->workers, ctl->n_workers, g);
    rg_plugins_serving(ctl->loop, &g->gw);
    health_serving(ctl, g);
    rg_gen_unref(ctl->gen);
    ctl->gen = g;
    keep_restart_only(&nc, &ctl->nc);
    rg_node_conf_release(&ctl->nc);
    ctl->nc = nc;
    ctl->ready.ready_when_degraded = nc.status_ready_when_degraded != 0;
    if (ctl->raft == NULL)
        local_store(ctl);
    rg_log(RG_LOG_NOTICE, "config reloaded: generation %llu",
           (unsigned long long)g->id);
}

/* ---- cluster mode: the store drives the data plane ---- */

/* Build a generation from the store and hand it to the workers. */
static void publish(struct control *ctl, struct rg_gen *g, uint64_t rev)
{
    ctl->next_gen++;
    if (ctl->workers != NULL)
        rg_workers_publish(ctl->workers, ctl->n_workers, g);
    rg_plugins_serving(ctl->loop, &g->gw);
    health_serving(ctl, g);
    rg_gen_unref(ctl->gen);
    ctl->gen = g;
    ctl->served_rev = rev;
    ctl->ready.served_rev = rev;
    ctl->ready.lastgood = 0;
    ctl->ready.refused = 0;
    rg_admin_served(ctl->admin, rev);
    rg_log(RG_LOG_INFO, "config revision %llu: generation %llu",
           (unsigned long long)rev, (unsigned long long)g->id);
}

/* Build a generation from the store and hand it to the workers; keep it
 * in the data dir as the last good config. While the store is behind the
 * config already served (a restart replaying its log), keep serving. */
static void rebuild(struct control *ctl)
{
    struct rg_gateway gw = {0};
    struct rg_errbuf eb = {{0}};
    struct rg_gen_env env = {.ops = rg_plugins_ops(),
                             .resolver = ctl->resolver,
                             .consul = ctl->consul};
    const struct rg_fsm *f;
    struct rg_gen *g;
    uint64_t rev;
    char *dp = NULL;
    size_t dl = 0;
    int rv;

    f = rg_raft_fsm(ctl->raft);
    rev = rg_fsm_revision(f);
    if (rev < ctl->served_rev)
        return;
    if (rg_admin_gateway(f, &gw, &dp, &dl, &eb) != 0 ||
        (g = rg_gen_new(&gw, &ctl->nc, &env, ctl->next_gen, &eb)) == NULL) {
        rg_gateway_release(&gw);
        rg_free(dp);
        /* Waiting for a name: on_resolved rebuilds once it is known. */
        rg_log(env.waiting ? RG_LOG_INFO : RG_LOG_ERROR,
               "replicated config not applied%s: %s",
               env.waiting ? " yet" : "", eb.msg);
        ctl->ready.refused = !env.waiting;
        return;
    }
    publish(ctl, g, rev);
    rg_consul_sweep(ctl->consul);
    rv = rg_lastgood_save(ctl->nc.raft_data_dir, rev, dp, dl);
    if (rv != 0)
        rg_log(RG_LOG_WARN, "raft.data_dir %s: cannot keep the last config: "
                            "%s", ctl->nc.raft_data_dir, strerror(-rv));
    rg_free(dp);
}

/* Single-node mode: a Consul watch changed; build again from the file's
 * text as last (re)loaded (local_store), blocking lookups for other
 * names as a SIGHUP does. */
static void local_rebuild(struct control *ctl)
{
    struct rg_gateway gw = {0};
    struct rg_errbuf eb = {{0}};
    struct rg_gen_env env = {.ops = rg_plugins_ops(), .consul = ctl->consul};
    struct rg_gen *g;

    if (ctl->local_text == NULL)
        return;
    if (rg_gateway_parse(&gw, ctl->local_text, ctl->local_len,
                         rg_plugins_catalog(), &eb) != 0 ||
        (g = rg_gen_new(&gw, &ctl->nc, &env, ctl->next_gen, &eb)) == NULL) {
        rg_gateway_release(&gw);
        rg_log(env.waiting ? RG_LOG_INFO : RG_LOG_ERROR,
               "config not rebuilt%s: %s", env.waiting ? " yet" : "", eb.msg);
        return;
    }
    ctl->next_gen++;
    rg_workers_publish(ctl->workers, ctl->n_workers, g);
    rg_plugins_serving(ctl->loop, &g->gw);
    rg_gen_unref(ctl->gen);
    ctl->gen = g;
    rg_consul_sweep(ctl->consul);
    rg_log(RG_LOG_INFO, "config rebuilt for Consul: generation %llu",
           (unsigned long long)g->id);
}

static void on_rebuild(uv_timer_t *t)
{
    struct control *ctl = t->data;
    uint64_t t0 = uv_hrtime();

    if (ctl->stopping || ctl->workers == NULL)
        return;
    if (ctl->raft == NULL)
        local_rebuild(ctl);
    else
        rebuild(ctl);
    ctl->rebuild_cost = uv_hrtime() - t0;
    uv_update_time(ctl->loop);
    ctl->rebuilt_at = uv_now(ctl->loop);
}

/* Rebuild the served config from the store soon. A rebuild costs time in
 * proportion to the config, not to the change: under a stream of writes,
 * wait after one for four times what it cost (at most REBUILD_WAIT_MAX_MS)
 * so that rebuilding takes at most about a fifth of the control loop and
 * the rest is left for raft and the admin API. */
static void schedule_rebuild(struct control *ctl)
{
    uint64_t ready = ctl->rebuilt_at + 4 * ctl->rebuild_cost / 1000000;
    uint64_t now = uv_now(ctl->loop);
    uint64_t wait = ready > now ? ready - now : 0;

    if (uv_is_active((uv_handle_t *)&ctl->rebuild))
        return;
    uv_timer_start(&ctl->rebuild, on_rebuild,
                   wait < REBUILD_WAIT_MAX_MS ? wait : REBUILD_WAIT_MAX_MS, 0);
}

/* Serve the config this node served last, if it is newer than what the
 * store holds after reading its snapshot: the log is replayed only once a
 * leader is heard from, and a node cut off at start must still proxy. */
static void serve_lastgood(struct control *ctl)
{
    struct rg_gateway gw = {0};
    struct rg_errbuf eb = {{0}};
    struct rg_gen *g;
    uint64_t rev;
    char *doc;
    size_t len;
    int rv = rg_lastgood_load(ctl->nc.raft_data_dir, &rev, &doc, &len);

    if (rv != 0) {
        if (rv != -ENOENT)
            rg_log(RG_LOG_WARN, "raft.data_dir %s: last config unreadable: %s",
                   ctl->nc.raft_data_dir, strerror(-rv));
        return;
    }
    if (rev <= rg_fsm_revision(rg_raft_fsm(ctl->raft))) {
        rg_free(doc);
        return;
    }
    /* Consul names have no address here: the rebuild that follows asks
     * the watches. */
    /* Before the loop runs: a blocking lookup delays nothing here. */
    if (rg_gateway_parse(&gw, doc, len, rg_plugins_catalog(), &eb) != 0 ||
        (g = rg_gen_new(&gw, &ctl->nc,
                        &(struct rg_gen_env){.ops = rg_plugins_ops()},
                        ctl->next_gen, &eb)) == NULL) {
        rg_gateway_release(&gw);
        rg_log(RG_LOG_WARN, "last config not used: %s", eb.msg);
    } else {
        publish(ctl, g, rev);
        ctl->ready.lastgood = 1;
        rg_log(RG_LOG_NOTICE, "serving the last config (revision %llu) "
               "until the log is replayed", (unsigned long long)rev);
    }
    rg_free(doc);
}

/* A CACHE_PURGE was applied: purge this node's workers. */
static void on_cache_purge(void *arg, const char *key, size_t len)
{
    uint64_t hash;

    (void)arg;
    if (len == 0)
        rg_cache_purge(1, 0);
    else if (rg_cache_unhex(key, len, &hash) == 0)
        rg_cache_purge(0, hash);
}

static void on_store_change(void *arg, uint64_t revision)
{
    struct control *ctl = arg;

    rg_admin_notify(ctl->admin, revision);
    if (!ctl->stopping && ctl->workers != NULL)
        schedule_rebuild(ctl);
}

static void on_seeded(void *arg, int status, const struct rg_fsm_result *res,
                      unsigned n)
{
    struct control *ctl = arg;

    ctl->seeding = 0;
    if (status != 0) {
        rg_log(RG_LOG_WARN, "seed not applied (%s): will retry",
               rg_strerror(status));
        return;
    }
    if (res[0].status != RG_FSM_OK)
        rg_log(RG_LOG_ERROR, "seed %s rejected: %s",
               ctl->nc.declarative_config, res[0].message);
    else
        rg_log(RG_LOG_NOTICE, "seeded the store from %s (revision %llu)",
               ctl->nc.declarative_config,
               (unsigned long long)res[0].revision);
    uv_timer_stop(&ctl->seed);
}

/* After a barrier the leader has applied everything committed before: an
 * empty store now really is empty. The request id is derived from the
 * body, so a retried or duplicate seed applies once. */
static void seed_after_barrier(void *arg, int status)
{
    struct control *ctl = arg;
    struct rg_errbuf eb = {{0}};
    struct rg_cmd c = {.type = RG_CMD_REPLACE_ALL};
    char rid[32];
    size_t len;
    char *body;

    if (status != 0 || ctl->stopping ||
        rg_fsm_revision(rg_raft_fsm(ctl->raft)) > 0) {
        ctl->seeding = 0;
        return;
    }
    body = rg_admin_seed_body(ctl->nc.declarative_config, &len, &eb);
    if (body == NULL) {
        rg_log(RG_LOG_ERROR, "seed: %s", eb.msg);
        ctl->seeding = 0;
        uv_timer_stop(&ctl->seed);
        return;
    }
    snprintf(rid, sizeof(rid), "seed-%016llx",
             (unsigned long long)rg_fnv1a(body, len));
    c.rid = rid;
    c.rid_len = (uint16_t)strlen(rid);
    c.body = body;
    c.body_len = (uint32_t)len;
    if (rg_raft_write(ctl->raft, &c, 1, on_seeded, ctl) != 0)
        ctl->seeding = 0;
    rg_free(body);
}

static void on_seed_tick(uv_timer_t *t)
{
    struct control *ctl = t->data;
    struct rg_raft_status st;

    rg_raft_status(ctl->raft, &st);
    if (st.revision > 0) {
        uv_timer_stop(t);
        return;
    }
    if (ctl->seeding || st.leader_id == 0 || st.leader_id != st.id)
        return;
    ctl->seeding = 1;
    if (rg_raft_barrier(ctl->raft, seed_after_barrier, ctl) != 0)
        ctl->seeding = 0;
}

/* A name a rebuild waited for is known, or a known one moved (DNS or
 * Consul). */
static void on_resolved(void *arg)
{
    struct control *ctl = arg;

    if (!ctl->stopping && ctl->workers != NULL)
        schedule_rebuild(ctl);
}

/* The Consul watches, in both modes; they query only for names a rebuild
 * asks about. */
static int consul_start(struct control *ctl)
{
    struct rg_consul_conf cc = {
        .address = ctl->consul_url ? ctl->consul_url : ctl->nc.consul_address,
        .token = ctl->nc.consul_token,
        .datacenter = ctl->nc.consul_datacenter,
        .domain = ctl->nc.consul_domain,
        .wait_ms = ctl->nc.consul_wait_ms,
    };

    ctl->consul = rg_consul_new(ctl->loop, &cc, on_resolved, ctl);
    ctl->ready.consul = ctl->consul;
    if (ctl->consul == NULL) {
        rg_log(RG_LOG_ERROR, "consul: cannot start (out of memory or curl)");
        return -1;
    }
    uv_timer_init(ctl->loop, &ctl->rebuild);
    ctl->rebuild.data = ctl;
    return 0;
}

/* Circuit breakers: a follower's command goes to the leader's
 * POST /cluster/breaker (control/breaker.h) through admin/fwd.c. */
struct cb_fwd {
    rg_cbc_fwd_done done;
    void *arg;
};

static void on_cb_forwarded(void *arg, int err, const struct rg_fwd_resp *r)
{
    struct cb_fwd *f = arg;

    f->done(f->arg, err == 0 && r->status == 200, err == 0 ? r->body : "",
            err == 0 ? r->body_len : 0);
    rg_free(f);
}

static int cb_forward(void *hook, const char *addr, const char *body,
                      size_t len, rg_cbc_fwd_done done, void *arg)
{
    struct control *ctl = hook;
    struct cb_fwd *f = rg_malloc(sizeof(*f));
    struct rg_fwd_req rq = {.method = "POST",
                            .target = "/admin/v1/cluster/breaker",
                            .body = body,
                            .len = len};
    char headers[1024];
    int n;

    if (f == NULL)
        return -ENOMEM;
    n = snprintf(headers, sizeof(headers),
                 "Content-Type: application/json\r\n"
                 "X-Raftgate-Forwarded: 1\r\n%s%s%s",
                 ctl->nc.admin_token ? "Authorization: Bearer " : "",
                 ctl->nc.admin_token ? ctl->nc.admin_token : "",
                 ctl->nc.admin_token ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(headers)) {
        rg_free(f);
        return -EINVAL;
    }
    f->done = done;
    f->arg = arg;
    rq.headers = headers;
    if (rg_fwd_start(ctl->loop, addr, &rq, 2000, on_cb_forwarded, f) == NULL) {
        rg_free(f);
        return -ECONNREFUSED;
    }
    return 0;
}

/* auth: the transport's (rate-limited) refusals of raft peers. */
static void raft_warn(void *arg, const char *msg)
{
    (void)arg;
    rg_log(RG_LOG_WARN, "%s", msg);
}

static int raft_start(struct control *ctl)
{
    struct rg_raft_conf rc = {0};
    struct rg_raft_peer *peers;
    char err[512] = "";

    ctl->resolver = rg_resolver_new(ctl->loop, RG_RESOLVER_REFRESH_MS,
                                    on_resolved, ctl);
    if (ctl->resolver == NULL)
        return -1;

    peers = rg_calloc(ctl->nc.raft_n_voters + 1, sizeof(*peers));
    if (peers == NULL)
        return -1;
    for (unsigned i = 0; i < ctl->nc.raft_n_voters; i++) {
        peers[i].id = ctl->nc.raft_voters[i].id;
        peers[i].address = ctl->nc.raft_voters[i].address;
    }

    rc.id = ctl->nc.node_id;
    rc.name = ctl->nc.node_name;
    rc.data_dir = ctl->nc.raft_data_dir;
    rc.raft_addr = ctl->nc.raft_listen;
    rc.admin_addr = ctl->nc.admin_listen;
    rc.proxy_addr = ctl->nc.proxy_listen;
    rc.voters = peers;
    rc.n_voters = ctl->nc.raft_n_voters;
    rc.joining = ctl->nc.raft_join;
    rc.election_ms = ctl->nc.raft_election_ms;
    rc.heartbeat_ms = ctl->nc.raft_heartbeat_ms;
    rc.snapshot_threshold = ctl->nc.raft_snapshot_threshold;
    rc.validate = rg_admin_validate;
    rc.xrefs = rg_gateway_xrefs(&rc.n_xrefs);
    rc.on_change = on_store_change;
    rc.on_purge = on_cache_purge;
    rc.arg = ctl;
    rc.on_breaker = rg_cbc_committed;
    rc.cluster_key = ctl->nc.raft_cluster_key;
    rc.cluster_key_len = ctl->nc.raft_cluster_key_len;
    rc.warn = raft_warn;
    if (rc.cluster_key == NULL)
        rg_log(RG_LOG_WARN,
               "raft: no raft.cluster_key_file: the raft transport and the "
               "internal admin calls are NOT authenticated; anyone who "
               "reaches %s can join or inject entries",
               ctl->nc.raft_listen);
    ctl->raft = rg_raft_start(ctl->loop, &rc, err, sizeof(err));
    ctl->ready.raft = ctl->raft;
    rg_free(peers);
    if (ctl->raft == NULL) {
        rg_log(RG_LOG_ERROR, "raft: %s", err);
        return -1;
    }
    ctl->quota = rg_quota_start(&(struct rg_quota_conf){
        .loop = ctl->loop,
        .raft = ctl->raft,
        .name = ctl->nc.node_name,
        .lease_ms = ctl->nc.raft_quota_lease_ms,
        .debug_header = ctl->nc.raft_quota_debug_header,
        .unsafe_reclaim_early = ctl->unsafe_lease_reclaim});
    if (ctl->quota == NULL)
        return -1;
    rg_cbc_set_raft(ctl->raft);
    rg_cbc_set_forward(cb_forward, ctl);
    uv_timer_init(ctl->loop, &ctl->rebuild);
    ctl->rebuild.data = ctl;
    uv_timer_init(ctl->loop, &ctl->seed);
    ctl->seed.data = ctl;
    if (ctl->nc.declarative_config != NULL)
        uv_timer_start(&ctl->seed, on_seed_tick, 100, 250);
    return 0;
}

/* The admin API, after raft (cluster mode) or with the file's state. */
/* The proxy's TLS context (proxy.tls_*; README "TLS"), when
 * proxy.tls_listen is set. */
static int proxy_tls_start(struct control *ctl)
{
    const struct rg_node_conf *nc = &ctl->nc;
    struct rg_tls_server_conf tc;
    struct rg_errbuf eb;
    int self_signed;

    if (nc->proxy_tls_listen == NULL)
        return 0;
    rg_node_conf_proxy_tls(nc, &tc);
    ctl->proxy_tls = rg_tls_server_new(&tc, &self_signed, &eb);
    if (ctl->proxy_tls == NULL) {
        rg_log(RG_LOG_ERROR, "%s", eb.msg);
        return -1;
    }
    if (self_signed)
        rg_log(RG_LOG_WARN,
               "proxy.tls_certificate is not set: serving TLS "
               "on %s with a self-signed certificate for "
               "localhost generated at start",
               nc->proxy_tls_listen);
    return 0;
}

/* The admin API's TLS contexts when admin.tls_certificate is set: its
 * listener's and, in cluster mode, forwarding's (https to the leader). */
static int admin_tls_start(struct control *ctl)
{
    struct rg_tls_server_conf tc;
    struct rg_tls_client_conf cc;
    struct rg_errbuf eb;
    int self_signed;

    if (ctl->nc.admin_tls_certificate == NULL)
        return 0;
    rg_node_conf_admin_tls(&ctl->nc, &tc);
    ctl->admin_tls = rg_tls_server_new(&tc, &self_signed, &eb);
    if (ctl->admin_tls == NULL) {
        rg_log(RG_LOG_ERROR, "%s", eb.msg);
        return -1;
    }
    if (!ctl->nc.cluster)
        return 0;
    rg_node_conf_admin_fwd_tls(&ctl->nc, &cc);
    ctl->admin_fwd_tls = rg_tls_client_new(&cc, &eb);
    if (ctl->admin_fwd_tls == NULL) {
        rg_log(RG_LOG_ERROR, "admin.tls_ca_file: %s", eb.msg);
        return -1;
    }
    rg_fwd_set_tls(ctl->admin_fwd_tls);
    return 0;
}

static int admin_start(struct control *ctl)
{
    struct rg_admin_conf ac = {0};
    struct rg_errbuf eb = {{0}};

    ac.listen = ctl->nc.admin_listen;
    ac.token = ctl->nc.admin_token;
    /* auth: node-to-node admin calls are signed and checked with the
     * cluster key */
    ac.cluster_key = ctl->nc.raft_cluster_key;
    ac.cluster_key_len = ctl->nc.raft_cluster_key_len;
    if (rg_fwd_set_key(ctl->nc.raft_cluster_key,
                       ctl->nc.raft_cluster_key_len) != 0)
        return -1;
    ac.raft = ctl->raft;
    ac.name = ctl->nc.node_name;
    ac.raft_addr = ctl->nc.raft_listen;
    ac.proxy_addr = ctl->nc.proxy_listen;
    ac.unsafe_local_reads = ctl->unsafe_local_reads;
    ac.consul = ctl->consul;
    ac.unsafe_lease_reclaim = ctl->unsafe_lease_reclaim;
    ac.quota = ctl->quota;
    ac.readiness = &ctl->ready;
    if (admin_tls_start(ctl) != 0)
        return -1;
    ac.tls = ctl->admin_tls;
    ctl->admin = rg_admin_start(ctl->loop, &ac, &eb);
    if (ctl->admin == NULL) {
        rg_log(RG_LOG_ERROR, "admin.listen %s", eb.msg);
        return -1;
    }
    if (ctl->quota != NULL)
        rg_quota_set_post(ctl->quota, rg_admin_post_leases, ctl->admin);
    rg_admin_served(ctl->admin, ctl->served_rev);
    if (ctl->raft == NULL)
        local_store(ctl);
    return 0;
}

/* The start-up line: every listener that is on, then the workers, e.g.
 * "raftgate: listening on proxy 0.0.0.0:8000, proxy TLS 0.0.0.0:8443,
 * admin http 127.0.0.1:8001, status 127.0.0.1:8100, raft 10.0.0.1:7000;
 * 4 workers (cluster mode)". */
static void log_listening(const struct control *ctl)
{
    const struct rg_node_conf *nc = &ctl->nc;
    char tls[300] = "", raft[300] = "";

    if (nc->proxy_tls_listen != NULL)
        snprintf(tls, sizeof(tls), ", proxy TLS %s", nc->proxy_tls_listen);
    if (ctl->raft != NULL)
        snprintf(raft, sizeof(raft), ", raft %s", nc->raft_listen);
    rg_log(RG_LOG_NOTICE,
           "raftgate: listening on proxy %s%s, admin %s %s, status %s%s; "
           "%u worker%s%s",
           nc->proxy_listen, tls, ctl->admin_tls != NULL ? "https" : "http",
           nc->admin_listen, nc->status_listen, raft, ctl->n_workers,
           ctl->n_workers == 1 ? "" : "s",
           ctl->raft != NULL ? " (cluster mode)" : "");
}

/* The last step of a stop: signal watchers stay open until here, so a
 * repeated SIGTERM during the drain is absorbed, not fatal. */
static void close_signals(struct control *ctl)
{
    uv_close((uv_handle_t *)&ctl->sig_hup, NULL);
    uv_close((uv_handle_t *)&ctl->sig_term, NULL);
    uv_close((uv_handle_t *)&ctl->sig_int, NULL);
    uv_close((uv_handle_t *)&ctl->sig_usr1, NULL);
}

static void on_raft_stopped(void *arg)
{
    struct control *ctl = arg;

    ctl->raft = NULL;
    ctl->ready.raft = NULL;
    close_signals(ctl);
}

static void finish_stop(struct control *ctl);

static void on_drain_deadline(uv_timer_t *t)
{
    struct control *ctl = t->data;

    rg_log(RG_LOG_WARN, "drain deadline passed with %u connections open: "
                        "closing them", rg_workers_conns(ctl->workers,
                                                         ctl->n_workers));
    rg_workers_stop(ctl->workers, ctl->n_workers, 1);
}

static void begin_shutdown(struct control *ctl)
{
    if (ctl->stopping)
        return;
    ctl->stopping = 1;
    ctl->ready.draining = 1;
    rg_log(RG_LOG_NOTICE, "shutting down: draining for up to %u ms",
           ctl->nc.drain_timeout_ms);
    rg_workers_stop(ctl->workers, ctl->n_workers, 0);
    rg_httpd_stop(ctl->status);
    ctl->status = NULL;
    rg_quota_stop(ctl->quota); /* before the admin API it posts through */
    ctl->quota = NULL;
    rg_admin_stop(ctl->admin);
    ctl->admin = NULL;
    if (ctl->raft != NULL)
        uv_close((uv_handle_t *)&ctl->seed, NULL);
    uv_timer_init(ctl->loop, &ctl->drain_timer);
    ctl->drain_timer.data = ctl;
    uv_timer_start(&ctl->drain_timer, on_drain_deadline,
                   ctl->nc.drain_timeout_ms, 0);
    if (ctl->workers_ended)
        finish_stop(ctl);
}

/* Workers have drained: now the raft node may go (docs/architecture.md §1), then
 * the signal watchers, and the loop ends. */
static void finish_stop(struct control *ctl)
{
    rg_plugins_stop();
    rg_hchecker_close(ctl->hcheck);
    ctl->hcheck = NULL;
    rg_cbc_stop();
    rg_ctlq_stop();
    if (!uv_is_closing((uv_handle_t *)&ctl->drain_timer))
        uv_close((uv_handle_t *)&ctl->drain_timer, NULL);
    uv_close((uv_handle_t *)&ctl->rebuild, NULL);
    rg_consul_close(ctl->consul);
    ctl->consul = NULL;
    ctl->ready.consul = NULL;
    if (ctl->raft != NULL) {
        rg_resolver_close(ctl->resolver);
        ctl->resolver = NULL;
        rg_raft_stop(ctl->raft, on_raft_stopped, ctl);
    } else
        close_signals(ctl);
}

/* A worker's loop ended; once all have, the control loop may end too. */
static void on_workers_done(uv_async_t *a)
{
    struct control *ctl = a->data;

    if (!rg_workers_ended(ctl->workers, ctl->n_workers))
        return;
    uv_close((uv_handle_t *)a, NULL);
    ctl->workers_ended = 1;
    if (ctl->stopping)
        finish_stop(ctl);
}

/* SIGUSR1 (logrotate): the error log here, the workers' access logs at
 * their next flush tick (http/accesslog.h). */
static void reopen_logs(struct control *ctl)
{
    int rv;

    if (ctl->stopping)
        return;
    rv = rg_log_reopen(ctl->nc.error_log);
    if (rv != 0)
        rg_log(RG_LOG_ERROR, "log.error_log %s: cannot reopen: %s",
               ctl->nc.error_log, strerror(-rv));
    rg_accesslog_reopen_all();
    rg_log(RG_LOG_NOTICE, "logs reopened");
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct control *ctl = s->data;

    if (signum == SIGHUP)
        reload(ctl);
    else if (signum == SIGUSR1)
        reopen_logs(ctl);
    else
        begin_shutdown(ctl);
}

static int test_config(const char *path)
{
    struct rg_node_conf nc = {0};
    struct rg_errbuf eb = {{0}};
    struct rg_gen *g = load_all(path, &nc, 1, NULL, 1, NULL, &eb);

    if (g == NULL) {
        fprintf(stderr, "raftgate: %s\n", eb.msg);
        fprintf(stderr, "raftgate: configuration file %s test failed\n", path);
        return 1;
    }
    printf("raftgate: configuration file %s test is successful "
           "(%zu services, %zu routes)\n", path, g->gw.n_services,
           g->gw.n_routes);
    rg_gen_unref(g);
    rg_node_conf_release(&nc);
    return 0;
}

static void signal_watch(struct control *ctl, uv_signal_t *s, int signum)
{
    uv_signal_init(ctl->loop, s);
    s->data = ctl;
    uv_signal_start(s, on_signal, signum);
}

static int run(struct control *ctl)
{
    struct rg_errbuf eb = {{0}};
    enum rg_log_level lvl;
    unsigned n;

    ctl->gen = load_all(ctl->conf_path, &ctl->nc, 1, NULL, 0, NULL, &eb);
    if (ctl->gen == NULL) {
        fprintf(stderr, "raftgate: %s\n", eb.msg);
        return 1;
    }
    ctl->next_gen = 2;
    if (rg_log_level_parse(ctl->nc.log_level, &lvl) == 0)
        rg_log_max_level = lvl;
    if (rg_log_open(ctl->nc.error_log) != 0) {
        fprintf(stderr, "raftgate: log.error_log %s: %s\n", ctl->nc.error_log,
                strerror(errno));
        return 1;
    }
    /* Written whatever log.level says: a run with this switch must never
     * be mistaken for a safe one (docs/fault-injection.md §4.2 item 9). */
    if (ctl->unsafe_lease_reclaim)
        rg_log_write(RG_LOG_WARN, "UNSAFE: --unsafe-lease-reclaim-early: "
                     "unused rate-limiting lease tokens are given back and "
                     "still spent, so policy cluster OVER-ADMITS; for "
                     "fault-injection negative controls only");
    if (ctl->unsafe_local_reads)
        rg_log_write(RG_LOG_WARN, "UNSAFE: --unsafe-local-admin-reads: "
                     "?consistency=linearizable admin reads are served from "
                     "this node's state with no barrier and may be STALE; "
                     "for fault-injection negative controls only");
    n = ctl->nc.workers ? ctl->nc.workers : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    ctl->n_workers = n ? n : 1;
    ctl->loop = uv_default_loop();
    signal_watch(ctl, &ctl->sig_hup, SIGHUP);
    signal_watch(ctl, &ctl->sig_term, SIGTERM);
    signal_watch(ctl, &ctl->sig_int, SIGINT);
    signal_watch(ctl, &ctl->sig_usr1, SIGUSR1);
    ctl->status = rg_httpd_start(ctl->loop, ctl->nc.status_listen,
                                 status_handler, ctl, &eb);
    if (ctl->status == NULL) {
        rg_log(RG_LOG_ERROR, "status.listen %s", eb.msg);
        return 1;
    }
    if (rg_ctlq_start(ctl->loop) != 0 ||
        rg_cbc_start(ctl->loop, NULL, ctl->nc.node_id) != 0) {
        rg_log(RG_LOG_ERROR, "control mailbox: cannot start");
        return 1;
    }
    ctl->ready.ready_when_degraded = ctl->nc.status_ready_when_degraded != 0;
    if (consul_start(ctl) != 0 ||
        (cluster_mode(&ctl->nc) && raft_start(ctl) != 0) ||
        admin_start(ctl) != 0)
        return 1;
    rg_plugins_serving(ctl->loop, &ctl->gen->gw);
    health_serving(ctl, ctl->gen);
    if (ctl->raft != NULL)
        serve_lastgood(ctl);
    uv_async_init(ctl->loop, &ctl->workers_done, on_workers_done);
    ctl->workers_done.data = ctl;
    if (proxy_tls_start(ctl) != 0)
        return 1;
    ctl->workers = rg_workers_start(
        ctl->n_workers, ctl->nc.proxy_listen, ctl->nc.proxy_tls_listen,
        ctl->proxy_tls, ctl->gen, ctl->nc.access_log, &ctl->workers_done, &eb);
    if (ctl->workers == NULL) {
        rg_log(RG_LOG_ERROR, "%s", eb.msg);
        return 1;
    }
    log_listening(ctl);
    /* Cluster mode: the store may have been read from disk. Both: the
     * start-up generation gave Consul names no address; ask the watches. */
    schedule_rebuild(ctl);
    uv_run(ctl->loop, UV_RUN_DEFAULT);
    rg_workers_join(ctl->workers, ctl->n_workers);
    rg_tls_server_free(ctl->proxy_tls);
    rg_tls_server_free(ctl->admin_tls);
    rg_fwd_set_tls(NULL);
    rg_tls_client_free(ctl->admin_fwd_tls);
    (void)rg_fwd_set_key(NULL, 0); /* wipes the copy; cannot fail */
    rg_log(RG_LOG_NOTICE, "raftgate: stopped");
    uv_run(ctl->loop, UV_RUN_NOWAIT);
    uv_loop_close(ctl->loop);
    rg_fsm_free(ctl->local);
    rg_free(ctl->local_text);
    rg_gen_unref(ctl->gen);
    rg_health_shutdown(); /* no generation points into it any more */
    rg_node_conf_release(&ctl->nc);
    return 0;
}

int main(int argc, char **argv)
{
    struct control ctl;
    const char *conf = RG_SYSCONFDIR "/raftgate/raftgate.yml";
    int test = 0;
    int unsafe_local_reads = 0, unsafe_lease_reclaim = 0;
    const char *consul_url = NULL;
    int opt;

    if (argc > 1 && strcmp(argv[1], "cluster") == 0)
        return rg_cli_cluster(argc - 1, argv + 1);
    while ((opt = getopt_long(argc, argv, "c:tvh", long_opts, NULL)) != -1) {
        switch (opt) {
        case 'c': conf = optarg; break;
        case 't': test = 1; break;
        case 'v': print_version(); return 0;
        case 'h': usage(stdout); return 0;
        case OPT_CONSUL:
            if (strncmp(optarg, "http://", 7) != 0 &&
                strncmp(optarg, "https://", 8) != 0) {
                fprintf(stderr, "raftgate: --consul: an http:// or https:// "
                                "URL\n");
                return 2;
            }
            consul_url = optarg;
            break;
        case OPT_UNSAFE_LOCAL_READS:
            if (!RG_FAILPOINTS_BUILT)
                return unsafe_refused("unsafe-local-admin-reads");
            unsafe_local_reads = 1;
            break;
        case OPT_UNSAFE_LEASE_RECLAIM:
            if (!RG_FAILPOINTS_BUILT)
                return unsafe_refused("unsafe-lease-reclaim-early");
            unsafe_lease_reclaim = 1;
            break;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (test)
        return test_config(conf);
    /* raft_uv disk work will share libuv's threadpool (docs/raft.md §3). */
    setenv("UV_THREADPOOL_SIZE", "16", 0);
    signal(SIGPIPE, SIG_IGN);
    memset(&ctl, 0, sizeof(ctl));
    ctl.conf_path = conf;
    ctl.unsafe_local_reads = unsafe_local_reads;
    ctl.consul_url = consul_url;
    ctl.unsafe_lease_reclaim = unsafe_lease_reclaim;
    return run(&ctl);
}
