/* raftgate: wiring only. Arguments, config, the control loop (signals,
 * status listener, reloads) and the worker threads, in that order; shutdown
 * in reverse. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "admin/httpd.h"
#include "config/gateway.h"
#include "config/node.h"
#include "core/log.h"
#include "event/gen.h"
#include "event/worker.h"

#ifndef RG_SYSCONFDIR
#define RG_SYSCONFDIR "/usr/local/etc"
#endif

struct control {
    uv_loop_t *loop;
    const char *conf_path;
    struct rg_node_conf nc;
    struct rg_worker *workers;
    unsigned n_workers;
    struct rg_gen *gen;           /* the latest published generation */
    uint64_t next_gen;
    struct rg_httpd *status;
    uv_signal_t sig_hup, sig_term, sig_int;
    uv_timer_t drain_timer;
    uv_async_t workers_done;
    int stopping;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: raftgate [-c FILE] [-t] [-v]\n"
               "  -c FILE  node config (default %s/raftgate/raftgate.yml)\n"
               "  -t       test the configuration and exit\n"
               "  -v       print the version and exit\n", RG_SYSCONFDIR);
}

/* Load the node config and the gateway file it names into a generation. */
static struct rg_gen *load_all(const char *path, struct rg_node_conf *nc,
                               uint64_t id, struct rg_errbuf *eb)
{
    struct rg_gateway gw = {0};
    struct rg_gen *g;

    if (rg_node_conf_load(nc, path, eb) != 0)
        return NULL;
    if (nc->declarative_config != NULL &&
        rg_gateway_load(&gw, nc->declarative_config, eb) != 0) {
        rg_node_conf_release(nc);
        return NULL;
    }
    g = rg_gen_new(&gw, nc, id, eb);
    if (g == NULL) {
        rg_gateway_release(&gw);
        rg_node_conf_release(nc);
    }
    return g;
}

static void status_handler(void *arg, struct rg_httpd_req *req)
{
    struct control *ctl = arg;
    static const char ok[] = "{\"status\":\"ok\"}\n";
    static const char notready[] = "{\"status\":\"not ready\"}\n";
    static const char nf[] = "{\"message\":\"Not found\"}\n";

    if (strcmp(req->path, "/health") == 0)
        rg_httpd_respond(req->conn, 200, "application/json", ok,
                         sizeof(ok) - 1, NULL);
    else if (strcmp(req->path, "/ready") == 0 && !ctl->stopping)
        rg_httpd_respond(req->conn, 200, "application/json", ok,
                         sizeof(ok) - 1, NULL);
    else if (strcmp(req->path, "/ready") == 0)
        rg_httpd_respond(req->conn, 503, "application/json", notready,
                         sizeof(notready) - 1, NULL);
    else
        rg_httpd_respond(req->conn, 404, "application/json", nf,
                         sizeof(nf) - 1, NULL);
}

static void reload(struct control *ctl)
{
    struct rg_node_conf nc = {0};
    struct rg_errbuf eb = {{0}};
    struct rg_gen *g;
    enum rg_log_level lvl;

    g = load_all(ctl->conf_path, &nc, ctl->next_gen, &eb);
    if (g == NULL) {
        rg_log(RG_LOG_ERROR, "reload rejected: %s", eb.msg);
        return;
    }
    ctl->next_gen++;
    if (strcmp(nc.proxy_listen, ctl->nc.proxy_listen) != 0 ||
        nc.workers != ctl->nc.workers)
        rg_log(RG_LOG_WARN, "reload: proxy.listen and proxy.workers take "
                            "effect on restart only");
    if (rg_log_level_parse(nc.log_level, &lvl) == 0)
        rg_log_max_level = lvl;
    rg_workers_publish(ctl->workers, ctl->n_workers, g);
    rg_gen_unref(ctl->gen);
    ctl->gen = g;
    rg_node_conf_release(&ctl->nc);
    ctl->nc = nc;
    rg_log(RG_LOG_NOTICE, "config reloaded: generation %llu",
           (unsigned long long)g->id);
}

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
    rg_log(RG_LOG_NOTICE, "shutting down: draining for up to %u ms",
           ctl->nc.drain_timeout_ms);
    rg_workers_stop(ctl->workers, ctl->n_workers, 0);
    uv_close((uv_handle_t *)&ctl->sig_hup, NULL);
    uv_close((uv_handle_t *)&ctl->sig_term, NULL);
    uv_close((uv_handle_t *)&ctl->sig_int, NULL);
    rg_httpd_stop(ctl->status);
    ctl->status = NULL;
    uv_timer_init(ctl->loop, &ctl->drain_timer);
    ctl->drain_timer.data = ctl;
    uv_timer_start(&ctl->drain_timer, on_drain_deadline,
                   ctl->nc.drain_timeout_ms, 0);
}

/* A worker's loop ended; once all have, the control loop may end too. */
static void on_workers_done(uv_async_t *a)
{
    struct control *ctl = a->data;

    if (!rg_workers_ended(ctl->workers, ctl->n_workers))
        return;
    uv_close((uv_handle_t *)a, NULL);
    if (ctl->stopping && !uv_is_closing((uv_handle_t *)&ctl->drain_timer))
        uv_close((uv_handle_t *)&ctl->drain_timer, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct control *ctl = s->data;

    if (signum == SIGHUP)
        reload(ctl);
    else
        begin_shutdown(ctl);
}

static int test_config(const char *path)
{
    struct rg_node_conf nc = {0};
    struct rg_errbuf eb = {{0}};
    struct rg_gen *g = load_all(path, &nc, 1, &eb);

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

    ctl->gen = load_all(ctl->conf_path, &ctl->nc, 1, &eb);
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
    n = ctl->nc.workers ? ctl->nc.workers : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    ctl->n_workers = n ? n : 1;
    ctl->loop = uv_default_loop();
    signal_watch(ctl, &ctl->sig_hup, SIGHUP);
    signal_watch(ctl, &ctl->sig_term, SIGTERM);
    signal_watch(ctl, &ctl->sig_int, SIGINT);
    ctl->status = rg_httpd_start(ctl->loop, ctl->nc.status_listen,
                                 status_handler, ctl, &eb);
    if (ctl->status == NULL) {
        rg_log(RG_LOG_ERROR, "status.listen %s", eb.msg);
        return 1;
    }
    uv_async_init(ctl->loop, &ctl->workers_done, on_workers_done);
    ctl->workers_done.data = ctl;
    ctl->workers = rg_workers_start(ctl->n_workers, ctl->nc.proxy_listen,
                                    ctl->gen, ctl->nc.access_log,
                                    &ctl->workers_done, &eb);
    if (ctl->workers == NULL) {
        rg_log(RG_LOG_ERROR, "%s", eb.msg);
        return 1;
    }
    rg_log(RG_LOG_NOTICE, "raftgate: listening on %s with %u workers",
           ctl->nc.proxy_listen, ctl->n_workers);
    uv_run(ctl->loop, UV_RUN_DEFAULT);
    rg_workers_join(ctl->workers, ctl->n_workers);
    rg_log(RG_LOG_NOTICE, "raftgate: stopped");
    uv_run(ctl->loop, UV_RUN_NOWAIT);
    uv_loop_close(ctl->loop);
    rg_gen_unref(ctl->gen);
    rg_node_conf_release(&ctl->nc);
    return 0;
}

int main(int argc, char **argv)
{
    struct control ctl;
    const char *conf = RG_SYSCONFDIR "/raftgate/raftgate.yml";
    int test = 0;
    int opt;

    while ((opt = getopt(argc, argv, "c:tvh")) != -1) {
        switch (opt) {
        case 'c': conf = optarg; break;
        case 't': test = 1; break;
        case 'v': printf("raftgate %s\n", PACKAGE_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (test)
        return test_config(conf);
    /* raft_uv disk work will share libuv's threadpool (RAFT.md §3). */
    setenv("UV_THREADPOOL_SIZE", "16", 0);
    signal(SIGPIPE, SIG_IGN);
    memset(&ctl, 0, sizeof(ctl));
    ctl.conf_path = conf;
    return run(&ctl);
}
