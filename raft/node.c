/* The libraft glue behind rgraft.h: start, stop and the monitor (state
 * changes, this node's registry record). Writes, barriers and the state
 * machine callbacks are in write.c; membership, transfer and status in
 * membership.c. Every rule cited as docs/raft.md §x is a measured
 * failure mode of libraft, not a preference. */
#include "raft/node_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "raft/codec.h"
#include "raft/fsm.h"

#define SNAPSHOT_TRAILING 8192    /* entries kept after a snapshot (dqlite) */
#define CONNECT_RETRY_MS 250
#define CONNECT_TIMEOUT_MS 1000
#define KEEPALIVE_S 1
#define LOCK_FILE "raftgate.lock"

/* ---- The monitor: our registry record ---- */

static json_t *self_record(const struct rg_raft *r)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "id",
                     (json_int_t)r->id, "name", r->name, "raft", r->raft_addr,
                     "admin", r->admin_addr, "proxy", r->proxy_addr, "role",
                     "voter");
}

/* 1 when the registry holds @want's fields for us. */
static int self_matches(const struct rg_raft *r, const json_t *want)
{
    const json_t *rec = rg_fsm_node(r->fsm, r->id);
    const char *k;
    json_t *v;

    if (rec == NULL)
        return 0;
    json_object_foreach((json_t *)want, k, v) {
        if (!json_equal(v, json_object_get(rec, k)))
            return 0;
    }
    return 1;
}

static void self_write_cb(void *arg, int status,
                          const struct rg_fsm_result *res, unsigned n)
{
    struct rg_raft *r = arg;

    (void)res;
    (void)n;
    r->self_busy = 0;
    /* Unknown outcome while still leading: look again. A command the
     * state machine refused is not retried. */
    if (status == RG_RAFT_EUNKNOWN)
        r->self_check = 1;
}

static void self_propose(struct rg_raft *r)
{
    char key[24], rid[RG_CODEC_MAX_RID + 1];
    json_t *rec = self_record(r);
    struct rg_cmd cmd = {0};
    char *body = NULL;

    if (rec == NULL || self_matches(r, rec))
        goto out;
    body = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
    if (body == NULL)
        goto out;
    snprintf(key, sizeof(key), "%llu", (unsigned long long)r->id);
    snprintf(rid, sizeof(rid), "node-set-%llu-%016llx-%u",
             (unsigned long long)r->id, (unsigned long long)r->incarnation,
             ++r->self_seq);
    cmd.type = RG_CMD_NODE_SET;
    cmd.rid = rid;
    cmd.rid_len = (uint16_t)strlen(rid);
    cmd.key = key;
    cmd.key_len = (uint16_t)strlen(key);
    cmd.body = body;
    cmd.body_len = (uint32_t)strlen(body);
    if (rg_raft_write(r, &cmd, 1, self_write_cb, r) == 0)
        r->self_busy = 1;
out:
    free(body);
    json_decref(rec);
}

/* The registry is read only after a barrier: a new leader may not have
 * applied its predecessor's entries yet. */
static void self_barrier_cb(struct raft_barrier *req, int status)
{
    struct rg_raft *r = req->data;

    r->self_busy = 0;
    if (status == 0 && !r->stopping)
        self_propose(r);
    else if (status != 0 && status != RAFT_SHUTDOWN)
        r->self_check = 1;
}

/* Breaker transitions reach the callback once rg_raft_start returned;
 * those of a restore during start, on the first iteration (all of them:
 * the callback takes whole states). */
static void on_fsm_breaker(void *arg, const struct rg_fsm_breaker *b)
{
    struct rg_raft *r = arg;

    if (!r->started)
        r->breaker_pending = 1;
    else if (r->on_breaker != NULL)
        r->on_breaker(r->breaker_arg, b);
}

static void monitor_cb(uv_prepare_t *h)
{
    struct rg_raft *r = h->data;
    int state = raft_state(&r->raft);
    int rv;

    if (r->change_pending) {
        r->change_pending = 0;
        rg_raft__notify_change(r);
    }
    if (r->breaker_pending) {
        r->breaker_pending = 0;
        if (r->on_breaker != NULL)
            rg_fsm_each_breaker(r->fsm, r->on_breaker, r->breaker_arg);
    }
    if (state != r->last_state) {
        r->last_state = state;
        if (state == RAFT_LEADER)
            r->self_check = 1;
    }
    if (state != RAFT_LEADER)
        r->self_check = 0;
    if (r->self_check && !r->self_busy && !r->stopping) {
        r->self_check = 0;
        r->self_barrier.data = r;
        rv = raft_barrier(&r->raft, &r->self_barrier, self_barrier_cb);
        if (rv == 0)
            r->self_busy = 1;
        else if (rv != RAFT_NOTLEADER)
            r->self_check = 1; /* try again next iteration */
    }
}

/* ---- The io shim: no InstallSnapshot while taking a snapshot ----
 *
 * libraft 0.22.1 (legacy.c) holds an InstallSnapshot that arrives while the
 * node's own snapshot is being written, to start it when the write ends;
 * but takeSnapshotCb clears snapshot_pending before reading it and calls
 * legacyPersistSnapshotStart(NULL): SIGSEGV. Seen on a restarted follower
 * that applied a burst of queued AppendEntries (own snapshot at the
 * threshold) just before the leader's queued InstallSnapshot arrived.
 * And one that arrives while an install is being persisted is dropped
 * without freeing its data and configuration (recv_install_snapshot.c:
 * "already taking or installing snapshot" returns as if asynchronous):
 * the libraft-only stacks LeakSanitizer reported. So raft_uv's start and
 * snapshot_put are wrapped: while any snapshot put (taken or installed) is
 * in flight, an InstallSnapshot is held back, and delivered once the puts
 * completed. Raft tolerates the delay (it is just a slower network). */

#define SHIM(io) \
    ((struct rg_raft *)((char *)(io) - offsetof(struct rg_raft, io)))

struct rg_held_msg {
    struct raft_message m;      /* owns the conf and the data */
    struct rg_held_msg *next;
    char address[];             /* m.server_address points here */
};

struct shim_put {
    struct raft_io_snapshot_put put; /* ours, given to raft_uv */
    struct raft_io_snapshot_put *orig;
    raft_io_snapshot_put_cb cb;
    struct rg_raft *r;
};

static void held_free(struct rg_held_msg *h)
{
    raft_configuration_close(&h->m.install_snapshot.conf);
    raft_free(h->m.install_snapshot.data.base);
    rg_free(h);
}

/* Deliver what was held, in arrival order, unless a put is in flight
 * again (a delivered message may start one). */
static void shim_release(struct rg_raft *r)
{
    while (r->held != NULL && r->taking == 0) {
        struct rg_held_msg *h = r->held;

        r->held = h->next;
        r->recv_cb(&r->io, &h->m); /* takes the conf and the data */
        rg_free(h);
    }
}

static void shim_recv(struct raft_io *io, struct raft_message *m)
{
    struct rg_raft *r = SHIM(io);
    struct rg_held_msg *h, **tail;
    size_t alen;

    if (m->type != RAFT_INSTALL_SNAPSHOT || r->taking == 0) {
        r->recv_cb(io, m);
        return;
    }
    alen = strlen(m->server_address) + 1;
    h = rg_malloc(sizeof(*h) + alen);
    if (h == NULL) {
        /* Dropped: the leader sends it again after its timeout. */
        raft_configuration_close(&m->install_snapshot.conf);
        raft_free(m->install_snapshot.data.base);
        return;
    }
    h->m = *m;
    memcpy(h->address, m->server_address, alen);
    h->m.server_address = h->address;
    h->next = NULL;
    for (tail = &r->held; *tail != NULL; tail = &(*tail)->next)
        ;
    *tail = h;
}

static int shim_start(struct raft_io *io, unsigned msecs,
                      raft_io_tick_cb tick, raft_io_recv_cb recv)
{
    struct rg_raft *r = SHIM(io);

    r->recv_cb = recv;
    return r->uv_start(io, msecs, tick, shim_recv);
}

static void shim_put_cb(struct raft_io_snapshot_put *put, int status)
{
    struct shim_put *p = put->data;
    struct rg_raft *r = p->r;

    r->taking--;
    if (status == 0)
        r->stats.snapshots++;
    p->cb(p->orig, status);
    rg_free(p);
    shim_release(r);
}

static int shim_snapshot_put(struct raft_io *io, unsigned trailing,
                             struct raft_io_snapshot_put *req,
                             const struct raft_snapshot *snapshot,
                             raft_io_snapshot_put_cb cb)
{
    struct rg_raft *r = SHIM(io);
    struct shim_put *p;
    int rv;

    p = rg_malloc(sizeof(*p));
    if (p == NULL)
        return RAFT_NOMEM;
    p->put.data = p;
    p->orig = req;
    p->cb = cb;
    p->r = r;
    req->cb = cb;
    rv = r->uv_snapshot_put(io, trailing, &p->put, snapshot, shim_put_cb);
    if (rv != 0) {
        rg_free(p);
        return rv;
    }
    r->taking++;
    return 0;
}

static void shim_install(struct rg_raft *r)
{
    r->uv_start = r->io.start;
    r->uv_snapshot_put = r->io.snapshot_put;
    r->io.start = shim_start;
    r->io.snapshot_put = shim_snapshot_put;
}

/* Nothing is held once raft has closed (every put completed first); this
 * is for safety only. */
static void shim_clear(struct rg_raft *r)
{
    while (r->held != NULL) {
        struct rg_held_msg *h = r->held;

        r->held = h->next;
        held_free(h);
    }
}

/* ---- Start ---- */

/* mkdir -p @dir (0700 for what we create): 0 or -errno. */
static int make_dirs(const char *dir)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);

    if (len == 0 || len >= sizeof(path))
        return -ENAMETOOLONG;
    memcpy(path, dir, len + 1);
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* docs/raft.md §2.8: raft_uv takes no lock; two processes on one data dir
 * corrupt it. Returns the locked fd or -errno. */
static int lock_dir(const char *dir, char *err, size_t cap)
{
    char path[PATH_MAX];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, LOCK_FILE);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno; /* before snprintf/strerror can change it */

        snprintf(err, cap, "raft.data_dir %s: %s", dir, strerror(e));
        return -e;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;

        snprintf(err, cap, "raft.data_dir %s: %s", dir,
                 e == EWOULDBLOCK ? "in use by another raftgate process"
                                  : strerror(e));
        close(fd);
        return -e;
    }
    return fd;
}

static int copy_strings(struct rg_raft *r, const struct rg_raft_conf *c)
{
    char name[32];

    if (c->name == NULL)
        snprintf(name, sizeof(name), "node-%llu", (unsigned long long)c->id);
    r->name = rg_strdup(c->name != NULL ? c->name : name);
    r->raft_addr = rg_strdup(c->raft_addr);
    r->admin_addr = rg_strdup(c->admin_addr != NULL ? c->admin_addr : "");
    r->proxy_addr = rg_strdup(c->proxy_addr != NULL ? c->proxy_addr : "");
    if (r->name == NULL || r->raft_addr == NULL || r->admin_addr == NULL ||
        r->proxy_addr == NULL)
        return -ENOMEM;
    return 0;
}

static void free_node(struct rg_raft *r)
{
    rg_fsm_free(r->fsm);
    if (r->lock_fd >= 0)
        close(r->lock_fd);
    rg_free(r->name);
    rg_free(r->raft_addr);
    rg_free(r->admin_addr);
    rg_free(r->proxy_addr);
    rg_free(r);
}

/* Everything before raft_init: the node object, the data dir and its lock,
 * the state machine, raft_uv and the transport. */
static struct rg_raft *node_new(uv_loop_t *loop, const struct rg_raft_conf *c,
                                char *err, size_t cap)
{
    unsigned election = c->election_ms > 0 ? c->election_ms : 1000;
    struct rg_transport_opts topts = {
        .user_timeout_ms = 2 * election < 1000 ? 1000 : 2 * election,
        .keepalive_s = KEEPALIVE_S,
        .connect_timeout_ms = CONNECT_TIMEOUT_MS,
        .key = c->cluster_key,
        .key_len = c->cluster_key_len,
        .warn = c->warn,
        .warn_arg = c->warn_arg,
    };
    struct rg_raft *r = rg_calloc(1, sizeof(*r));
    int rv;

    if (r == NULL)
        goto nomem;
    r->lock_fd = -1;
    r->loop = loop;
    r->id = c->id;
    r->on_change = c->on_change;
    r->arg = c->arg;
    r->on_breaker = c->on_breaker;
    r->breaker_arg = c->breaker_arg;
    r->last_state = RAFT_UNAVAILABLE;
    if (getrandom(&r->incarnation, sizeof(r->incarnation), 0) !=
        sizeof(r->incarnation))
        r->incarnation = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
    if (copy_strings(r, c) != 0)
        goto nomem;
    rv = make_dirs(c->data_dir);
    if (rv < 0) {
        snprintf(err, cap, "raft.data_dir %s: %s", c->data_dir,
                 strerror(-rv));
        goto fail;
    }
    r->lock_fd = lock_dir(c->data_dir, err, cap);
    if (r->lock_fd < 0)
        goto fail;
    r->fsm = rg_fsm_new(c->validate, c->validate_arg);
    if (r->fsm == NULL)
        goto nomem;
    rg_fsm_on_purge(r->fsm, c->on_purge, c->arg);
    rg_fsm_on_breaker(r->fsm, on_fsm_breaker, r);
    if (rg_fsm_set_xrefs(r->fsm, c->xrefs, c->n_xrefs) != 0)
        goto nomem;
    rv = rg_transport_init(&r->transport, loop, &topts);
    if (rv != 0) {
        snprintf(err, cap, "raft transport: %s", raft_strerror(rv));
        goto fail;
    }
    rv = raft_uv_init(&r->io, loop, c->data_dir, &r->transport.outer);
    if (rv != 0) {
        snprintf(err, cap, "raft.data_dir %s: %s", c->data_dir,
                 r->io.errmsg[0] != '\0' ? r->io.errmsg : raft_strerror(rv));
        rg_transport_release(&r->transport);
        goto fail;
    }
    /* docs/raft.md §4.4: fail stop on a corrupt segment; wipe and re-join. */
    raft_uv_set_auto_recovery(&r->io, false);
    raft_uv_set_connect_retry_delay(&r->io, CONNECT_RETRY_MS);
    shim_install(r);
    return r;

nomem:
    snprintf(err, cap, "raft: out of memory");
fail:
    if (r != NULL)
        free_node(r);
    return NULL;
}

static void release_io(struct rg_raft *r)
{
    shim_clear(r);
    raft_uv_close(&r->io);
    rg_transport_release(&r->transport);
}

/* First boot bootstraps the configured voters (the same configuration on
 * every voter); later boots get RAFT_CANTBOOTSTRAP, which is fine. */
static int bootstrap(struct rg_raft *r, const struct rg_raft_conf *c,
                     char *err, size_t cap)
{
    struct raft_configuration conf;
    int rv = 0;

    raft_configuration_init(&conf);
    for (unsigned i = 0; i < c->n_voters && rv == 0; i++)
        rv = raft_configuration_add(&conf, c->voters[i].id,
                                    c->voters[i].address, RAFT_VOTER);
    if (rv == 0)
        rv = raft_bootstrap(&r->raft, &conf);
    raft_configuration_close(&conf);
    if (rv == RAFT_CANTBOOTSTRAP)
        rv = 0;
    if (rv != 0)
        snprintf(err, cap, "raft bootstrap: %s", raft_errmsg(&r->raft)[0]
                                                     ? raft_errmsg(&r->raft)
                                                     : raft_strerror(rv));
    return rv;
}

static void configure(struct rg_raft *r, const struct rg_raft_conf *c)
{
    unsigned threshold =
        c->snapshot_threshold > 0 ? c->snapshot_threshold : 8192;

    raft_set_election_timeout(&r->raft,
                              c->election_ms > 0 ? c->election_ms : 1000);
    r->heartbeat_ms = c->heartbeat_ms > 0 ? c->heartbeat_ms : 100;
    raft_set_heartbeat_timeout(&r->raft, r->heartbeat_ms);
    raft_set_pre_vote(&r->raft, true);
    raft_set_snapshot_threshold(&r->raft, threshold);
    /* Entries kept behind a snapshot so a lagging follower catches up from
     * the log: dqlite's 8192, or the threshold when that is smaller (tests
     * use a small one to exercise snapshot install). */
    raft_set_snapshot_trailing(&r->raft, threshold < SNAPSHOT_TRAILING
                                             ? threshold
                                             : SNAPSHOT_TRAILING);
}

static void failed_close_cb(struct raft *raft)
{
    struct rg_raft *r = raft->data;

    release_io(r);
    free_node(r);
}

struct rg_raft *rg_raft_start(uv_loop_t *loop, const struct rg_raft_conf *c,
                              char *err, size_t cap)
{
    struct rg_raft *r;
    int rv;

    if (c->id == 0 || c->raft_addr == NULL || c->data_dir == NULL ||
        (!c->joining && c->n_voters == 0)) {
        snprintf(err, cap, "raft: id, address, data_dir and (unless "
                           "joining) voters are required");
        return NULL;
    }
    r = node_new(loop, c, err, cap);
    if (r == NULL)
        return NULL;
    rg_raft__fsm_init(r);
    rv = raft_init(&r->raft, &r->io, &r->fsm_ops, c->id, c->raft_addr);
    if (rv != 0) {
        snprintf(err, cap, "raft init: %s", raft_errmsg(&r->raft));
        release_io(r);
        free_node(r);
        return NULL;
    }
    r->raft.data = r;
    /* raft_init seeds the election timer's PRNG from raft_uv's random(),
     * which gave identical sequences in every process here: two followers
     * of a dead leader kept timing out in the same millisecond and split
     * the vote term after term (6 s to elect). Seed per process. */
    raft_seed(&r->raft, (unsigned)(r->incarnation ^ r->incarnation >> 32));
    configure(r, c);
    if (!c->joining && bootstrap(r, c, err, cap) != 0)
        goto err_after_init;
    rv = raft_start(&r->raft);
    if (rv != 0) {
        snprintf(err, cap, "raft start (%s): %s", c->data_dir,
                 raft_errmsg(&r->raft));
        goto err_after_init;
    }
    uv_idle_init(loop, &r->kick);
    r->kick.data = r;
    uv_prepare_init(loop, &r->monitor);
    r->monitor.data = r;
    uv_prepare_start(&r->monitor, monitor_cb);
    r->started = 1;
    return r;

err_after_init:
    /* raft_close is asynchronous: the rest is freed when the loop runs. */
    raft_close(&r->raft, failed_close_cb);
    return NULL;
}

/* ---- Stop ---- */

static void monitor_close_cb(uv_handle_t *h)
{
    struct rg_raft *r = h->data;
    void (*cb)(void *) = r->stop_cb;
    void *arg = r->stop_arg;

    release_io(r);
    free_node(r);
    if (cb != NULL)
        cb(arg);
}

static void kick_close_cb(uv_handle_t *h)
{
    struct rg_raft *r = h->data;

    uv_close((uv_handle_t *)&r->monitor, monitor_close_cb);
}

static void close_cb(struct raft *raft)
{
    struct rg_raft *r = raft->data;

    rg_raft__sweep(r);
    rg_raft__membership_close(r);
    uv_close((uv_handle_t *)&r->kick, kick_close_cb);
}

void rg_raft_stop(struct rg_raft *r, void (*cb)(void *arg), void *arg)
{
    if (r->stopping)
        return;
    r->stopping = 1;
    r->stop_cb = cb;
    r->stop_arg = arg;
    uv_prepare_stop(&r->monitor);
    uv_idle_stop(&r->kick);
    raft_close(&r->raft, close_cb);
}
