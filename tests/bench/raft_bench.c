/* raft_bench: Raft commands per second with packed entries versus one
 * command per entry (issue 3). A benchmark, not a test: it is never built
 * or run by `make check` and never fails because a number is bad.
 *
 *     make tests/bench/raft_bench && tests/bench/raft_bench [options]
 *
 * One process, three rg_raft nodes (raft/rgraft.h), each on its own uv loop
 * in its own thread; the facade is only ever called from its loop's thread
 * (work is handed over with uv_async_send and a mutex-guarded mailbox).
 * Data dirs live in a temp dir (its file system is printed), raft listens
 * on 127.0.0.1 ephemeral ports. Once a leader is elected, three phases run
 * on the leader's loop, each bounded in time:
 *
 *   unpacked   one PUT at a time: submit, wait for its callback, submit the
 *              next, so each entry carries one command;
 *   packed x1  K single-command rg_raft_write calls kept in flight: the
 *              facade packs the calls of one loop iteration into one entry;
 *   packed x64 K calls of 64 commands each kept in flight.
 *
 * Commands: PUT of a consumer {"username":"u<tag>-<i>"}, unique ids and
 * request ids, no validator. Latency is from rg_raft_write to its callback
 * (the entry applied on the leader). Entries/s is the leader's applied
 * index over the phase. Between phases the followers are allowed to catch
 * up. Exit 0 when every phase ran, 1 when the cluster could not be set up
 * or a phase did not finish. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "core/alloc.h"
#include "raft/rgraft.h"

#define N_NODES 3
#define MAX_PER_CALL 256
#define LAG_TICK_MS 1        /* loop-lag probe period */
#define STALL_NS 20000000ull /* a loop gap above this counts as a stall */

struct opts {
    unsigned n_unpacked; /* commands, phase unpacked */
    unsigned n_packed;   /* commands, each packed phase */
    unsigned k_single;   /* calls in flight, packed x1 */
    unsigned k_batch;    /* calls in flight, packed x64 */
    unsigned per_call;   /* commands per call, packed x64 */
    unsigned phase_s;    /* time bound per phase */
    unsigned keys;       /* 0: unique ids; else ids cycle over this many */
    unsigned snapshot_threshold; /* 0: the facade's default */
    int keep;
};

struct node;
typedef void (*job_fn)(struct node *n, void *arg);

/* One Raft node and its thread. The mailbox fields (job..done_seq) are
 * guarded by mu; the rest belongs to the node's loop thread, except the
 * conf fields written before the thread starts. */
struct node {
    unsigned idx;
    uint64_t id;
    char addr[32];
    char dir[PATH_MAX];
    const struct opts *o;
    struct rg_raft_peer *peers;
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t lag; /* loop-lag probe, on during a phase */
    pthread_t thread;
    struct rg_raft *r;
    struct phase *lag_phase;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_fn job;
    void *job_arg;
    unsigned job_seq, done_seq;
    unsigned cur_seq; /* the running job's number (loop thread) */
    int started;      /* 1 running, -1 failed to start */
    int exited;       /* the loop returned */
    char err[256];
};

/* One rg_raft_write call in flight. */
struct slot {
    struct phase *ph;
    uint64_t t0; /* uv_hrtime at submission, ns */
    unsigned n;
};

/* One command's strings (rg_raft_write copies them before returning). */
struct cmd_text {
    char rid[48], key[32], body[48];
};

/* One measured phase. Runs on the leader's loop thread. */
struct phase {
    const char *name;
    char tag; /* in ids, unique per phase */
    unsigned n_total, per_call, k;
    struct node *node;
    unsigned seq;      /* mailbox job to complete at the end */
    uint64_t deadline; /* ns; no submissions after it */
    struct slot *slots;
    uint64_t *lat; /* per call, ns */
    unsigned n_lat;
    unsigned max_at; /* the slowest call's number */
    unsigned submitted, completed, inflight;
    unsigned failed_calls, not_ok;
    int first_err, stop, timed_out, finished;
    char not_ok_msg[128];
    struct cmd_text text[MAX_PER_CALL];
    uint64_t t_start, t_end;
    uint64_t idx_start, idx_end;
    uint64_t lag_last, lag_max;
    unsigned stalls;
};

struct snap_status {
    char state[16];
    uint64_t term, leader_id, commit_index, applied_index;
};

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

/* ---- The mailbox: run a job on a node's loop thread ---- */

static void job_finish(struct node *n, unsigned seq)
{
    pthread_mutex_lock(&n->mu);
    if (seq > n->done_seq)
        n->done_seq = seq;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

static void wake_cb(uv_async_t *h)
{
    struct node *n = h->data;
    job_fn fn;
    void *arg;

    pthread_mutex_lock(&n->mu);
    fn = n->job;
    arg = n->job_arg;
    n->job = NULL;
    n->cur_seq = n->job_seq;
    pthread_mutex_unlock(&n->mu);
    if (fn != NULL)
        fn(n, arg);
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Post @fn to @n's loop and wait up to @ms for job_finish with the job's
 * number (n->cur_seq while @fn runs). Returns 0 or -ETIMEDOUT. Thread:
 * main only. */
static int call(struct node *n, job_fn fn, void *arg, unsigned *seq,
                unsigned ms)
{
    struct timespec ts;
    unsigned my;
    int rv = 0;

    pthread_mutex_lock(&n->mu);
    my = ++n->job_seq;
    n->job = fn;
    n->job_arg = arg;
    if (seq != NULL)
        *seq = my;
    pthread_mutex_unlock(&n->mu);
    uv_async_send(&n->wake);
    deadline_in(&ts, ms);
    pthread_mutex_lock(&n->mu);
    while (n->done_seq < my && rv == 0)
        rv = pthread_cond_timedwait(&n->cv, &n->mu, &ts);
    if (n->done_seq >= my)
        rv = 0;
    pthread_mutex_unlock(&n->mu);
    return rv == 0 ? 0 : -ETIMEDOUT;
}

/* ---- Node threads ---- */

static void *node_main(void *arg)
{
    struct node *n = arg;
    struct rg_raft_conf c = {
        .id = n->id,
        .data_dir = n->dir,
        .raft_addr = n->addr,
        .voters = n->peers,
        .n_voters = N_NODES,
        .snapshot_threshold = n->o->snapshot_threshold,
    };
    char err[256] = "";

    uv_loop_init(&n->loop);
    uv_async_init(&n->loop, &n->wake, wake_cb);
    n->wake.data = n;
    uv_timer_init(&n->loop, &n->lag);
    n->lag.data = n;
    n->r = rg_raft_start(&n->loop, &c, err, sizeof(err));
    pthread_mutex_lock(&n->mu);
    n->started = n->r != NULL ? 1 : -1;
    snprintf(n->err, sizeof(n->err), "%s", err);
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    if (n->r == NULL) {
        uv_close((uv_handle_t *)&n->wake, NULL);
        uv_close((uv_handle_t *)&n->lag, NULL);
    }
    uv_run(&n->loop, UV_RUN_DEFAULT);
    uv_loop_close(&n->loop);
    pthread_mutex_lock(&n->mu);
    n->exited = 1;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

/* Wait for @n's thread to report start (or its loop to end). */
static int wait_flag(struct node *n, const int *flag, unsigned ms)
{
    struct timespec ts;
    int rv = 0;

    deadline_in(&ts, ms);
    pthread_mutex_lock(&n->mu);
    while (*flag == 0 && rv == 0)
        rv = pthread_cond_timedwait(&n->cv, &n->mu, &ts);
    rv = *flag;
    pthread_mutex_unlock(&n->mu);
    return rv;
}

static void status_job(struct node *n, void *arg)
{
    struct snap_status *s = arg;
    struct rg_raft_status st;

    rg_raft_status(n->r, &st);
    snprintf(s->state, sizeof(s->state), "%s", st.state);
    s->term = st.term;
    s->leader_id = st.leader_id;
    s->commit_index = st.commit_index;
    s->applied_index = st.applied_index;
    job_finish(n, n->cur_seq);
}

static void stopped_cb(void *arg)
{
    struct node *n = arg;

    n->r = NULL;
    uv_close((uv_handle_t *)&n->wake, NULL);
    uv_close((uv_handle_t *)&n->lag, NULL);
}

static void stop_job(struct node *n, void *arg)
{
    (void)arg;
    rg_raft_stop(n->r, stopped_cb, n);
}

/* ---- A phase, on the leader's loop ---- */

static void phase_end(struct phase *ph)
{
    struct rg_raft_status st;

    if (ph->finished)
        return;
    ph->finished = 1;
    ph->t_end = now_ns();
    if (ph->node->r != NULL) {
        rg_raft_status(ph->node->r, &st);
        ph->idx_end = st.applied_index;
    }
    uv_timer_stop(&ph->node->lag);
    ph->node->lag_phase = NULL;
    job_finish(ph->node, ph->seq);
}

/* Command @i of @ph: a consumer PUT, its strings in @t. */
static void fill_cmd(const struct phase *ph, unsigned i, struct rg_cmd *c,
                     struct cmd_text *t)
{
    int rl, kl, bl;

    rl = snprintf(t->rid, sizeof(t->rid), "rb-%c-%u", ph->tag, i);
    if (ph->node->o->keys > 0)
        kl = snprintf(t->key, sizeof(t->key), "c%u", i % ph->node->o->keys);
    else
        kl = snprintf(t->key, sizeof(t->key), "c%c-%u", ph->tag, i);
    bl = snprintf(t->body, sizeof(t->body), "{\"username\":\"u%c-%u\"}",
                  ph->tag, i);
    memset(c, 0, sizeof(*c));
    c->type = RG_CMD_PUT;
    c->kind = RG_KIND_CONSUMER;
    c->rid = t->rid;
    c->rid_len = (uint16_t)rl;
    c->key = t->key;
    c->key_len = (uint16_t)kl;
    c->body = t->body;
    c->body_len = (uint32_t)bl;
}

static void write_cb(void *arg, int status, const struct rg_fsm_result *res,
                     unsigned n);

/* Put the next call of @ph in @s, unless the phase is over. */
static void submit(struct phase *ph, struct slot *s)
{
    struct rg_cmd cmds[MAX_PER_CALL];
    unsigned m;
    int rv;

    if (!ph->stop && now_ns() >= ph->deadline) {
        ph->stop = 1;
        ph->timed_out = ph->submitted < ph->n_total;
    }
    if (ph->stop || ph->submitted >= ph->n_total)
        return;
    m = ph->n_total - ph->submitted;
    if (m > ph->per_call)
        m = ph->per_call;
    for (unsigned j = 0; j < m; j++)
        fill_cmd(ph, ph->submitted + j, &cmds[j], &ph->text[j]);
    s->t0 = now_ns();
    rv = rg_raft_write(ph->node->r, cmds, m, write_cb, s);
    if (rv != 0) {
        if (ph->first_err == 0)
            ph->first_err = rv;
        ph->stop = 1;
        return;
    }
    s->n = m;
    ph->submitted += m;
    ph->inflight++;
}

static void write_cb(void *arg, int status, const struct rg_fsm_result *res,
                     unsigned n)
{
    struct slot *s = arg;
    struct phase *ph = s->ph;

    ph->inflight--;
    ph->lat[ph->n_lat] = now_ns() - s->t0;
    if (ph->lat[ph->n_lat] > ph->lat[ph->max_at])
        ph->max_at = ph->n_lat;
    ph->n_lat++;
    if (status != 0) {
        ph->failed_calls++;
        if (ph->first_err == 0)
            ph->first_err = status;
        ph->stop = 1;
    } else {
        ph->completed += n;
        for (unsigned i = 0; i < n; i++) {
            if (res[i].status == RG_FSM_OK)
                continue;
            if (ph->not_ok++ == 0)
                snprintf(ph->not_ok_msg, sizeof(ph->not_ok_msg), "%s",
                         res[i].message);
        }
    }
    submit(ph, s);
    if (ph->inflight == 0)
        phase_end(ph);
}

static void lag_cb(uv_timer_t *h)
{
    struct node *n = h->data;
    struct phase *ph = n->lag_phase;
    uint64_t t = now_ns(), gap;

    if (ph == NULL)
        return;
    gap = t - ph->lag_last;
    ph->lag_last = t;
    if (gap > ph->lag_max)
        ph->lag_max = gap;
    if (gap > STALL_NS)
        ph->stalls++;
}

static void phase_job(struct node *n, void *arg)
{
    struct phase *ph = arg;
    struct rg_raft_status st;

    ph->node = n;
    ph->seq = n->cur_seq;
    rg_raft_status(n->r, &st);
    ph->idx_start = st.applied_index;
    ph->t_start = now_ns();
    ph->deadline = ph->t_start + (uint64_t)n->o->phase_s * 1000000000ull;
    ph->lag_last = ph->t_start;
    n->lag_phase = ph;
    uv_timer_start(&n->lag, lag_cb, LAG_TICK_MS, LAG_TICK_MS);
    for (unsigned i = 0; i < ph->k && !ph->stop; i++)
        submit(ph, &ph->slots[i]);
    if (ph->inflight == 0)
        phase_end(ph);
}

static struct phase *phase_new(const char *name, char tag, unsigned n_total,
                               unsigned per_call, unsigned k)
{
    struct phase *ph = rg_calloc(1, sizeof(*ph));

    if (ph == NULL)
        return NULL;
    ph->name = name;
    ph->tag = tag;
    ph->n_total = n_total;
    ph->per_call = per_call;
    ph->k = k;
    ph->slots = rg_calloc(k, sizeof(*ph->slots));
    ph->lat = rg_calloc(n_total / per_call + 2, sizeof(*ph->lat));
    if (ph->slots == NULL || ph->lat == NULL) {
        rg_free(ph->slots);
        rg_free(ph->lat);
        rg_free(ph);
        return NULL;
    }
    for (unsigned i = 0; i < k; i++)
        ph->slots[i].ph = ph;
    return ph;
}

static void phase_free(struct phase *ph)
{
    if (ph == NULL)
        return;
    rg_free(ph->slots);
    rg_free(ph->lat);
    rg_free(ph);
}

/* ---- Cluster set-up and teardown (main thread) ---- */

/* Three free loopback ports, held open together so they differ. */
static int pick_ports(unsigned short *ports)
{
    int fds[N_NODES], rv = 0;
    unsigned i;

    for (i = 0; i < N_NODES; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET};
        socklen_t len = sizeof(a);

        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof(a)) ||
            getsockname(fds[i], (struct sockaddr *)&a, &len)) {
            rv = -errno;
            if (fds[i] >= 0)
                close(fds[i]);
            break;
        }
        ports[i] = ntohs(a.sin_port);
    }
    while (i-- > 0)
        close(fds[i]);
    return rv;
}

static const char *fs_name(const char *dir)
{
    struct statfs s;

    if (statfs(dir, &s) != 0)
        return "unknown";
    switch ((unsigned long)s.f_type) {
    case EXT4_SUPER_MAGIC:
        return "ext4 (ext2/3/4 magic)";
    case TMPFS_MAGIC:
        return "tmpfs";
    case XFS_SUPER_MAGIC:
        return "xfs";
    case BTRFS_SUPER_MAGIC:
        return "btrfs";
    case OVERLAYFS_SUPER_MAGIC:
        return "overlayfs";
    default:
        return "other";
    }
}

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Snapshots left in a node's data dir ("snapshot-*.meta"; raft_uv keeps
 * the last two). */
static unsigned count_snapshots(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    unsigned count = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);

        if (strncmp(e->d_name, "snapshot-", 9) == 0 && len > 5 &&
            strcmp(e->d_name + len - 5, ".meta") == 0)
            count++;
    }
    closedir(d);
    return count;
}

static int get_status(struct node *n, struct snap_status *s)
{
    memset(s, 0, sizeof(*s));
    return call(n, status_job, s, NULL, 5000);
}

/* Poll until one node leads (deadline @ms); its index or -1. */
static int find_leader(struct node *nodes, unsigned ms)
{
    uint64_t end = now_ns() + (uint64_t)ms * 1000000;
    struct timespec pause = {0, 20 * 1000000};
    struct snap_status s;

    while (now_ns() < end) {
        for (unsigned i = 0; i < N_NODES; i++) {
            if (get_status(&nodes[i], &s) == 0 &&
                strcmp(s.state, "leader") == 0)
                return (int)i;
        }
        nanosleep(&pause, NULL);
    }
    return -1;
}

/* Poll until every node has applied the leader's commit index. */
static int settle(struct node *nodes, int leader, unsigned ms)
{
    uint64_t end = now_ns() + (uint64_t)ms * 1000000;
    struct timespec pause = {0, 20 * 1000000};
    struct snap_status ls, s;

    while (now_ns() < end) {
        unsigned ok = 0;

        if (get_status(&nodes[leader], &ls) != 0)
            return -1;
        for (unsigned i = 0; i < N_NODES; i++) {
            if (get_status(&nodes[i], &s) == 0 &&
                s.applied_index >= ls.commit_index)
                ok++;
        }
        if (ok == N_NODES)
            return 0;
        nanosleep(&pause, NULL);
    }
    return -1;
}

/* Start the three node threads; *@n_threads says how many run (to join)
 * even on failure. */
static int start_nodes(struct node *nodes, struct rg_raft_peer *peers,
                       const char *top, const struct opts *o,
                       unsigned *n_threads)
{
    unsigned short ports[N_NODES];
    int rv = pick_ports(ports);

    if (rv != 0) {
        fprintf(stderr, "raft_bench: no free ports: %s\n", strerror(-rv));
        return -1;
    }
    for (unsigned i = 0; i < N_NODES; i++) {
        struct node *n = &nodes[i];

        n->idx = i;
        n->id = i + 1;
        n->o = o;
        n->peers = peers;
        snprintf(n->addr, sizeof(n->addr), "127.0.0.1:%u", ports[i]);
        snprintf(n->dir, sizeof(n->dir), "%s/node%u", top, i + 1);
        peers[i].id = n->id;
        peers[i].address = n->addr;
        pthread_mutex_init(&n->mu, NULL);
        pthread_cond_init(&n->cv, NULL);
    }
    for (unsigned i = 0; i < N_NODES; i++) {
        if (pthread_create(&nodes[i].thread, NULL, node_main, &nodes[i]) != 0) {
            fprintf(stderr, "raft_bench: pthread_create failed\n");
            return -1;
        }
        *n_threads = i + 1;
        if (wait_flag(&nodes[i], &nodes[i].started, 10000) != 1) {
            fprintf(stderr, "raft_bench: node %u: %s\n", i + 1,
                    nodes[i].err[0] ? nodes[i].err : "did not start");
            return -1;
        }
    }
    return 0;
}

/* Stop the first @n_threads nodes and join their threads. */
static int stop_nodes(struct node *nodes, unsigned n_threads)
{
    int rv = 0;

    for (unsigned i = 0; i < n_threads; i++) {
        if (nodes[i].started == 1)
            call(&nodes[i], stop_job, NULL, NULL, 0);
    }
    for (unsigned i = 0; i < n_threads; i++) {
        if (wait_flag(&nodes[i], &nodes[i].exited, 15000) != 1) {
            fprintf(stderr, "raft_bench: node %u did not stop\n", i + 1);
            rv = -1;
            continue;
        }
        pthread_join(nodes[i].thread, NULL);
    }
    return rv;
}

/* ---- Report ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static double pct_ms(const uint64_t *v, unsigned n, double q)
{
    size_t i;

    if (n == 0)
        return 0;
    i = (size_t)(q * n);
    if (i >= n)
        i = n - 1;
    return v[i] / 1e6;
}

static double cmds_per_s(const struct phase *ph)
{
    double s = (ph->t_end - ph->t_start) / 1e9;

    return s > 0 ? ph->completed / s : 0;
}

static void print_row(struct phase *ph)
{
    double s = (ph->t_end - ph->t_start) / 1e9;
    uint64_t entries = ph->idx_end - ph->idx_start;

    if (ph->n_lat > 0)
        printf("  %s: slowest call was #%u of %u\n", ph->name, ph->max_at + 1,
               ph->n_lat);
    qsort(ph->lat, ph->n_lat, sizeof(*ph->lat), cmp_u64);
    printf("%-11s %4u %4u %7u %7.2f %9.0f %8.0f %7.1f %7.2f %7.2f %7.2f "
           "%7.1f %4u\n",
           ph->name, ph->k, ph->per_call, ph->completed, s, cmds_per_s(ph),
           s > 0 ? entries / s : 0,
           entries > 0 ? (double)ph->completed / entries : 0,
           pct_ms(ph->lat, ph->n_lat, 0.50), pct_ms(ph->lat, ph->n_lat, 0.99),
           ph->n_lat > 0 ? ph->lat[ph->n_lat - 1] / 1e6 : 0, ph->lag_max / 1e6,
           ph->stalls);
    if (ph->timed_out)
        printf("  %s: stopped at the %u s bound after %u of %u commands\n",
               ph->name, ph->node->o->phase_s, ph->completed, ph->n_total);
    if (ph->first_err != 0)
        printf("  %s: error %s (%u failed calls)\n", ph->name,
               rg_strerror(ph->first_err), ph->failed_calls);
    if (ph->not_ok > 0)
        printf("  %s: %u commands refused by the state machine: %s\n", ph->name,
               ph->not_ok, ph->not_ok_msg);
}

static void print_report(struct phase **ph, unsigned n_ph)
{
    printf("\n%-11s %4s %4s %7s %7s %9s %8s %7s %7s %7s %7s %7s %4s\n", "phase",
           "K", "cmd/", "cmds", "secs", "cmds/s", "entries/", "cmds/", "p50",
           "p99", "max", "maxgap", "stal");
    printf("%-11s %4s %4s %7s %7s %9s %8s %7s %7s %7s %7s %7s %4s\n", "", "",
           "call", "", "", "", "s", "entry", "ms", "ms", "ms", "ms", "ls");
    for (unsigned i = 0; i < n_ph; i++)
        print_row(ph[i]);
    for (unsigned i = 1; i < n_ph; i++) {
        if (cmds_per_s(ph[0]) > 0)
            printf("ratio %s / %s: %.1fx commands/s\n", ph[i]->name,
                   ph[0]->name, cmds_per_s(ph[i]) / cmds_per_s(ph[0]));
    }
    printf("(latency: rg_raft_write to callback, per call; entries: the "
           "leader's applied index, including its few own entries; maxgap: "
           "longest gap of a %d ms timer on the leader's loop; stalls: gaps "
           "> %llu ms)\n",
           LAG_TICK_MS, STALL_NS / 1000000);
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: raft_bench [--unpacked N] [--packed N] [--inflight K] "
            "[--batch-inflight K] [--per-call M] [--phase-s S] [--keys M] "
            "[--snapshot-threshold N] [--keep]\n"
            "  --keys M: ids cycle over M consumers (default 0: every id "
            "unique, the store grows)\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct {
        const char *name;
        size_t off;
    } num[] = {
        {"--unpacked", offsetof(struct opts, n_unpacked)},
        {"--packed", offsetof(struct opts, n_packed)},
        {"--inflight", offsetof(struct opts, k_single)},
        {"--batch-inflight", offsetof(struct opts, k_batch)},
        {"--per-call", offsetof(struct opts, per_call)},
        {"--phase-s", offsetof(struct opts, phase_s)},
        {"--keys", offsetof(struct opts, keys)},
        {"--snapshot-threshold", offsetof(struct opts, snapshot_threshold)},
    };

    for (int i = 1; i < argc; i++) {
        size_t j;

        if (strcmp(argv[i], "--keep") == 0) {
            o->keep = 1;
            continue;
        }
        for (j = 0; j < sizeof(num) / sizeof(num[0]); j++) {
            if (strcmp(argv[i], num[j].name) == 0)
                break;
        }
        if (j == sizeof(num) / sizeof(num[0]) || i + 1 >= argc)
            return -1;
        *(unsigned *)((char *)o + num[j].off) =
            (unsigned)strtoul(argv[++i], NULL, 10);
    }
    if (o->n_unpacked == 0 || o->n_packed == 0 || o->k_single == 0 ||
        o->k_batch == 0 || o->per_call == 0 || o->per_call > MAX_PER_CALL ||
        o->phase_s == 0)
        return -1;
    return 0;
}

/* Run @ph on the current leader after the cluster settled. */
static int run_phase(struct node *nodes, struct phase *ph)
{
    int leader = find_leader(nodes, 15000);

    if (leader < 0 || settle(nodes, leader, 30000) != 0) {
        fprintf(stderr, "raft_bench: %s: no settled leader\n", ph->name);
        return -1;
    }
    printf("%s: node %d leads, %u commands, %u calls of %u in flight ...\n",
           ph->name, leader + 1, ph->n_total, ph->k, ph->per_call);
    fflush(stdout);
    if (call(&nodes[leader], phase_job, ph, NULL,
             nodes[leader].o->phase_s * 1000 + 30000) != 0) {
        fprintf(stderr, "raft_bench: %s did not finish\n", ph->name);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {2000, 50000, 64, 8, 64, 20, 0, 0, 0};
    struct node nodes[N_NODES];
    struct rg_raft_peer peers[N_NODES];
    struct phase *ph[3] = {NULL, NULL, NULL};
    const char *tmp = getenv("TMPDIR");
    char top[PATH_MAX - 64]; /* room for "/nodeN" */
    unsigned n_ph = 0, threads = 0;
    int status = 1;

    if (parse_opts(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    memset(nodes, 0, sizeof(nodes));
    snprintf(top, sizeof(top), "%s/raft_bench.XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(top) == NULL) {
        perror("raft_bench: mkdtemp");
        return 1;
    }
    printf("raft_bench: data in %s (%s), libuv %s, 3 nodes in one process\n",
           top, fs_name(top), uv_version_string());
    ph[0] = phase_new("unpacked", 'a', o.n_unpacked, 1, 1);
    ph[1] = phase_new("packed x1", 'b', o.n_packed, 1, o.k_single);
    ph[2] = phase_new("packed x64", 'c', o.n_packed, o.per_call, o.k_batch);
    if (ph[0] == NULL || ph[1] == NULL || ph[2] == NULL)
        goto out_dir;
    if (o.per_call != 64)
        ph[2]->name = "packed xM";
    if (start_nodes(nodes, peers, top, &o, &threads) != 0)
        goto out_stop;
    for (n_ph = 0; n_ph < 3; n_ph++) {
        if (run_phase(nodes, ph[n_ph]) != 0)
            goto out_stop;
    }
    status = 0;
out_stop:
    if (n_ph > 0)
        print_report(ph, n_ph);
    for (unsigned i = 0; i < N_NODES && n_ph > 0; i++)
        printf("node %u: %u snapshot(s) on disk\n", i + 1,
               count_snapshots(nodes[i].dir));
    if (stop_nodes(nodes, threads) != 0)
        status = 1;
out_dir:
    if (o.keep)
        printf("kept %s\n", top);
    else
        nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    for (unsigned i = 0; i < 3; i++)
        phase_free(ph[i]);
    return status;
}
