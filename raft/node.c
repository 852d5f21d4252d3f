/* The libraft glue behind rgraft.h: start/stop, batched writes, barriers,
 * the state machine callbacks and the monitor. Membership, transfer and
 * status are in membership.c. Every rule cited as RAFT.md §x is a measured
 * failure mode of libraft, not a preference. */
#include "raft/node_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#define ENTRY_MAX (4u << 20)      /* bytes per log entry (segments: 8 MiB) */
#define SNAPSHOT_TRAILING 8192    /* entries kept after a snapshot (dqlite) */
#define CONNECT_RETRY_MS 250
#define CONNECT_TIMEOUT_MS 1000
#define KEEPALIVE_S 1
#define LOCK_FILE "raftgate.lock"

/* One rg_raft_write call: its commands, deep-copied in one block. */
struct rg_waiter {
    rg_raft_write_cb cb;
    void *arg;
    unsigned n;
    unsigned first;              /* its first command's slot in the entry */
    size_t size;                 /* rg_codec_size of its commands alone */
    struct rg_cmd *cmds;         /* points into this allocation */
    struct rg_waiter *next;
};

/* One proposed entry (one raft_apply, n = 1: RAFT.md §2.3). */
struct rg_proposal {
    struct raft_apply req;       /* req.data = this */
    struct rg_raft *r;
    struct rg_waiter *waiters;
    unsigned n_cmds;
    uint64_t term;               /* stamped in the entry header */
    struct rg_fsm_result *res;   /* n_cmds results */
    int applied;                 /* res filled by fsm_apply */
    struct rg_proposal *next, *prev;
};

struct rg_rbarrier {
    struct raft_barrier req;     /* req.data = this */
    struct rg_raft *r;
    void (*cb)(void *arg, int status);
    void *arg;
    struct rg_rbarrier *next, *prev;
};

/* ---- Small helpers ---- */

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t le_u64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Status of a raft_apply/raft_barrier callback, as the facade reports it:
 * once an entry is in the log, anything but success is "unknown" (RAFT.md
 * §2.3: LEADERSHIPLOST entries were seen committing later). */
static int map_async(int status)
{
    if (status == 0)
        return 0;
    if (status == RAFT_NOTLEADER)
        return RG_RAFT_ENOTLEADER;
    return RG_RAFT_EUNKNOWN;
}

static void notify_change(struct rg_raft *r)
{
    if (!r->started) {
        r->change_pending = 1;
        return;
    }
    if (r->on_change != NULL)
        r->on_change(r->arg, rg_fsm_revision(r->fsm));
}

/* ---- The state machine (raft_fsm v1) ---- */

/* The header fields of an encoded entry (codec.h layout). */
static void entry_header(const struct raft_buffer *b, unsigned *n,
                         uint64_t *term)
{
    const unsigned char *p = b->base;

    *n = 0;
    *term = 0;
    if (b->len >= 24) {
        *n = (unsigned)p[6] | (unsigned)p[7] << 8;
        *term = le_u64(p + 8);
    }
}

static struct rg_proposal *find_proposal(struct rg_raft *r, uint64_t index)
{
    for (struct rg_proposal *p = r->inflight; p != NULL; p = p->next) {
        if (p->req.index == index)
            return p;
    }
    return NULL;
}

/* Never fails (RAFT.md §2.2: a non-zero return wedges the node); a bad
 * command is reported in its result. The index is raft_last_applied + 1:
 * libraft 0.22.1 (legacy.c applyCommand) sets last_applied after apply. */
static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                     void **result)
{
    struct rg_raft *r = fsm->data;
    uint64_t index = raft_last_applied(&r->raft) + 1;
    struct rg_proposal *p = find_proposal(r, index);
    uint64_t rev = rg_fsm_revision(r->fsm);
    struct rg_fsm_result *res = NULL;
    unsigned n;
    uint64_t term;

    if (p != NULL) {
        /* Ours only if the header matches what we proposed: results land
         * in an array sized for exactly our commands. */
        entry_header(buf, &n, &term);
        if (n == p->n_cmds && term == p->term)
            res = p->res;
    }
    n = rg_fsm_apply(r->fsm, index, buf->base, buf->len, res);
    if (res != NULL && n == p->n_cmds)
        p->applied = 1;
    *result = NULL;
    if (rg_fsm_revision(r->fsm) != rev)
        notify_change(r);
    return 0;
}

/* v1 snapshot: raft frees the buffers with raft_free (legacy.c
 * takeSnapshotClose), so copy out of rg_malloc'd memory. */
static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                        unsigned *n_bufs)
{
    struct rg_raft *r = fsm->data;
    struct raft_buffer *b;
    void *data;
    size_t len;

    if (rg_fsm_snapshot(r->fsm, &data, &len) != 0)
        return RAFT_NOMEM;
    b = raft_malloc(sizeof(*b));
    if (b == NULL)
        goto err_after_data;
    b->len = len;
    b->base = raft_malloc(len > 0 ? len : 1);
    if (b->base == NULL)
        goto err_after_array;
    memcpy(b->base, data, len);
    rg_free(data);
    *bufs = b;
    *n_bufs = 1;
    return 0;

err_after_array:
    raft_free(b);
err_after_data:
    rg_free(data);
    return RAFT_NOMEM;
}

/* Takes buf->base on success (raft_free), as dqlite does. */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct rg_raft *r = fsm->data;
    uint64_t rev = rg_fsm_revision(r->fsm);
    uint64_t hash = rg_fsm_config_hash(r->fsm);
    int rv = rg_fsm_restore(r->fsm, buf->base, buf->len);

    if (rv == -ENOMEM)
        return RAFT_NOMEM;
    if (rv != 0)
        return RAFT_MALFORMED;
    raft_free(buf->base);
    buf->base = NULL;
    if (rg_fsm_revision(r->fsm) != rev || rg_fsm_config_hash(r->fsm) != hash)
        notify_change(r);
    return 0;
}

/* ---- Writes ---- */

static struct rg_waiter *waiter_new(const struct rg_cmd *cmds, unsigned n,
                                    size_t size)
{
    size_t bytes = sizeof(struct rg_waiter) + n * sizeof(struct rg_cmd);
    struct rg_waiter *w;
    char *p;

    for (unsigned i = 0; i < n; i++)
        bytes += cmds[i].rid_len + cmds[i].key_len + cmds[i].body_len;
    w = rg_calloc(1, bytes);
    if (w == NULL)
        return NULL;
    w->n = n;
    w->size = size;
    w->cmds = (struct rg_cmd *)(w + 1);
    p = (char *)(w->cmds + n);
    for (unsigned i = 0; i < n; i++) {
        struct rg_cmd *c = &w->cmds[i];

        *c = cmds[i];
        c->rid = memcpy(p, cmds[i].rid, cmds[i].rid_len);
        p += cmds[i].rid_len;
        c->key = cmds[i].key_len > 0 ? memcpy(p, cmds[i].key,
                                              cmds[i].key_len)
                                     : p;
        p += cmds[i].key_len;
        c->body = cmds[i].body_len > 0 ? memcpy(p, cmds[i].body,
                                                cmds[i].body_len)
                                       : p;
        p += cmds[i].body_len;
    }
    return w;
}

/* Complete and free a list of waiters with one status (no results). */
static void waiters_fail(struct rg_waiter *w, int status)
{
    while (w != NULL) {
        struct rg_waiter *next = w->next;

        w->cb(w->arg, status, NULL, w->n);
        rg_free(w);
        w = next;
    }
}

static void proposal_unlink(struct rg_raft *r, struct rg_proposal *p)
{
    if (p->prev != NULL)
        p->prev->next = p->next;
    else if (r->inflight == p)
        r->inflight = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    p->next = p->prev = NULL;
}

static void proposal_free(struct rg_proposal *p)
{
    rg_free(p->res);
    rg_free(p);
}

/* Fan the entry's outcome out to its callers, in submission order. */
static void proposal_finish(struct rg_proposal *p, int status)
{
    struct rg_waiter *w = p->waiters;

    if (status == 0 && !p->applied)
        status = RG_RAFT_EUNKNOWN; /* cannot happen; never report junk */
    while (w != NULL) {
        struct rg_waiter *next = w->next;

        w->cb(w->arg, status, status == 0 ? p->res + w->first : NULL, w->n);
        rg_free(w);
        w = next;
    }
    proposal_free(p);
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    struct rg_proposal *p = req->data;

    (void)result;
    proposal_unlink(p->r, p);
    proposal_finish(p, map_async(status));
}

/* Encode @p's waiters into one raft_malloc'd, 8-byte padded entry. */
static int encode_entry(struct rg_proposal *p, struct raft_buffer *out)
{
    struct rg_cmd *all;
    unsigned i = 0;
    size_t size;
    long len;

    all = rg_malloc(p->n_cmds * sizeof(*all));
    if (all == NULL)
        return -ENOMEM;
    for (struct rg_waiter *w = p->waiters; w != NULL; w = w->next) {
        w->first = i;
        memcpy(all + i, w->cmds, w->n * sizeof(*all));
        i += w->n;
    }
    size = rg_codec_size(all, p->n_cmds);
    out->base = size > 0 ? raft_malloc(size) : NULL;
    if (out->base == NULL) {
        rg_free(all);
        return size > 0 ? -ENOMEM : -EINVAL;
    }
    len = rg_codec_encode(all, p->n_cmds, p->term, now_ms(), out->base, size);
    rg_free(all);
    if (len < 0) {
        raft_free(out->base);
        return (int)len;
    }
    /* RAFT.md §4.2: shorter entries lost data (0.15) or crash (0.22.1). */
    assert(len > 0 && len % 8 == 0);
    out->len = (size_t)len;
    return 0;
}

/* Propose @waiters (already unlinked from the batch) as one entry. */
static void propose(struct rg_raft *r, struct rg_waiter *waiters,
                    unsigned n_cmds)
{
    struct rg_proposal *p = rg_calloc(1, sizeof(*p));
    struct raft_buffer buf;
    int rv;

    if (p == NULL || (p->res = rg_calloc(n_cmds, sizeof(*p->res))) == NULL) {
        rg_free(p);
        waiters_fail(waiters, -ENOMEM);
        return;
    }
    p->r = r;
    p->waiters = waiters;
    p->n_cmds = n_cmds;
    p->term = raft_current_term(&r->raft);
    p->req.data = p;
    rv = encode_entry(p, &buf);
    if (rv == 0 && raft_state(&r->raft) != RAFT_LEADER) {
        raft_free(buf.base);
        rv = RG_RAFT_ENOTLEADER;
    }
    if (rv != 0)
        goto fail;
    rv = raft_apply(&r->raft, &p->req, &buf, 1, apply_cb);
    if (rv == 0) {
        p->next = r->inflight;
        if (p->next != NULL)
            p->next->prev = p;
        r->inflight = p;
        return;
    }
    /* RAFT.md §2.3, 0.22.1: only errors raised before the entry reaches
     * the log leave the buffer to us; after that it is raft's (freeing it
     * double-frees) and the outcome is unknown. */
    if (rv == RAFT_NOTLEADER || rv == RAFT_NOSPACE) {
        raft_free(buf.base);
        rv = rv == RAFT_NOTLEADER ? RG_RAFT_ENOTLEADER : -ENOSPC;
    } else {
        rv = RG_RAFT_EUNKNOWN;
    }
fail:
    p->waiters = NULL;
    proposal_free(p);
    waiters_fail(waiters, rv);
}

/* Propose everything submitted since the last flush, packing as many
 * commands per entry as the entry limits allow. */
static void flush(struct rg_raft *r)
{
    while (r->batch_head != NULL) {
        struct rg_waiter *first = r->batch_head, *last = first;
        unsigned n = first->n;
        size_t size = first->size;

        while (last->next != NULL &&
               n + last->next->n <= RG_CODEC_MAX_CMDS &&
               size + last->next->size <= ENTRY_MAX) {
            last = last->next;
            n += last->n;
            size += last->size;
        }
        r->batch_head = last->next;
        if (r->batch_head == NULL)
            r->batch_tail = NULL;
        last->next = NULL;
        propose(r, first, n);
    }
}

static void kick_cb(uv_idle_t *h)
{
    struct rg_raft *r = h->data;

    uv_idle_stop(h);
    flush(r);
}

int rg_raft_write(struct rg_raft *r, const struct rg_cmd *cmds, unsigned n,
                  rg_raft_write_cb cb, void *arg)
{
    struct rg_waiter *w;
    size_t size;

    if (r->stopping)
        return RG_RAFT_ESHUTDOWN;
    if (n == 0 || n > RG_CODEC_MAX_CMDS)
        return -EINVAL;
    size = rg_codec_size(cmds, n);
    if (size == 0)
        return -EINVAL;
    if (size > ENTRY_MAX)
        return -E2BIG;
    if (raft_state(&r->raft) != RAFT_LEADER)
        return RG_RAFT_ENOTLEADER;
    w = waiter_new(cmds, n, size);
    if (w == NULL)
        return -ENOMEM;
    w->cb = cb;
    w->arg = arg;
    if (r->batch_tail != NULL)
        r->batch_tail->next = w;
    else
        r->batch_head = w;
    r->batch_tail = w;
    /* An active idle handle makes the loop poll without blocking, so the
     * batch goes out next iteration whatever phase queued it. */
    uv_idle_start(&r->kick, kick_cb);
    return 0;
}

/* ---- Barriers ---- */

static void rbarrier_unlink(struct rg_raft *r, struct rg_rbarrier *b)
{
    if (b->prev != NULL)
        b->prev->next = b->next;
    else if (r->barriers == b)
        r->barriers = b->next;
    if (b->next != NULL)
        b->next->prev = b->prev;
}

static void barrier_cb(struct raft_barrier *req, int status)
{
    struct rg_rbarrier *b = req->data;

    rbarrier_unlink(b->r, b);
    b->cb(b->arg, status == RAFT_SHUTDOWN ? RG_RAFT_ESHUTDOWN
                                          : map_async(status));
    rg_free(b);
}

int rg_raft_barrier(struct rg_raft *r, void (*cb)(void *arg, int status),
                    void *arg)
{
    struct rg_rbarrier *b;
    int rv;

    if (r->stopping)
        return RG_RAFT_ESHUTDOWN;
    if (raft_state(&r->raft) != RAFT_LEADER)
        return RG_RAFT_ENOTLEADER;
    b = rg_calloc(1, sizeof(*b));
    if (b == NULL)
        return -ENOMEM;
    b->r = r;
    b->cb = cb;
    b->arg = arg;
    b->req.data = b;
    rv = raft_barrier(&r->raft, &b->req, barrier_cb);
    if (rv != 0) {
        rg_free(b);
        return rv == RAFT_NOTLEADER ? RG_RAFT_ENOTLEADER
               : rv == RAFT_NOMEM   ? -ENOMEM
                                    : RG_RAFT_EUNKNOWN;
    }
    b->next = r->barriers;
    if (b->next != NULL)
        b->next->prev = b;
    r->barriers = b;
    return 0;
}

const struct rg_fsm *rg_raft_fsm(const struct rg_raft *r)
{
    return r->fsm;
}

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

static void monitor_cb(uv_prepare_t *h)
{
    struct rg_raft *r = h->data;
    int state = raft_state(&r->raft);
    int rv;

    if (r->change_pending) {
        r->change_pending = 0;
        notify_change(r);
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

/* RAFT.md §2.8: raft_uv takes no lock; two processes on one data dir
 * corrupt it. Returns the locked fd or -errno. */
static int lock_dir(const char *dir, char *err, size_t cap)
{
    char path[PATH_MAX];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, LOCK_FILE);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, cap, "raft.data_dir %s: %s", dir, strerror(errno));
        return -errno;
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
    r->last_state = RAFT_UNAVAILABLE;
    if (getrandom(&r->incarnation, sizeof(r->incarnation), 0) !=
        sizeof(r->incarnation))
        r->incarnation = now_ms() ^ (uint64_t)getpid() << 32;
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
    /* RAFT.md §4.4: fail stop on a corrupt segment; wipe and re-join. */
    raft_uv_set_auto_recovery(&r->io, false);
    raft_uv_set_connect_retry_delay(&r->io, CONNECT_RETRY_MS);
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
    raft_set_heartbeat_timeout(&r->raft,
                               c->heartbeat_ms > 0 ? c->heartbeat_ms : 100);
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
    r->fsm_ops.version = 1;
    r->fsm_ops.data = r;
    r->fsm_ops.apply = fsm_apply;
    r->fsm_ops.snapshot = fsm_snapshot;
    r->fsm_ops.restore = fsm_restore;
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

/* libraft fails pending requests before this fires; anything still here
 * is swept so that no caller waits forever. */
static void close_cb(struct raft *raft)
{
    struct rg_raft *r = raft->data;
    struct rg_waiter *batch = r->batch_head;

    r->batch_head = r->batch_tail = NULL;
    waiters_fail(batch, RG_RAFT_ESHUTDOWN); /* never proposed */
    while (r->inflight != NULL) {
        struct rg_proposal *p = r->inflight;

        proposal_unlink(r, p);
        proposal_finish(p, RG_RAFT_EUNKNOWN);
    }
    while (r->barriers != NULL) {
        struct rg_rbarrier *b = r->barriers;

        rbarrier_unlink(r, b);
        b->cb(b->arg, RG_RAFT_ESHUTDOWN);
        rg_free(b);
    }
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

const char *rg_raft_strerror(int err)
{
    switch (err) {
    case RG_RAFT_ENOTLEADER: return "not the leader";
    case RG_RAFT_EUNKNOWN: return "outcome unknown (leadership lost)";
    case RG_RAFT_ESHUTDOWN: return "shutting down";
    case RG_RAFT_EBUSY: return "a membership change or transfer is running";
    default: return err < 0 ? strerror(-err) : "success";
    }
}
