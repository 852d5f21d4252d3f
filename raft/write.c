/* Writes, barriers and the state machine callbacks (rgraft.h): commands
 * submitted in one loop iteration are packed into one 8-byte-padded entry,
 * proposed with one raft_apply (n = 1, docs/raft.md §2.3), and the results are
 * fanned back out per caller from the FSM apply of that entry. */
#include "raft/node_int.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/failpoint.h"
#include "core/rgassert.h"
#include "raft/bytes.h"
#include "raft/codec.h"
#include "raft/fsm.h"

#define ENTRY_MAX (4u << 20) /* bytes per log entry (segments: 8 MiB) */
/* Commands per log entry. Every node applies an entry in one go on its
 * raft loop: this bounds the stall (and the per-command validation an
 * entry with a refused command falls back to, fsm.c). */
#define ENTRY_CMDS 256

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

/* One proposed entry (one raft_apply, n = 1: docs/raft.md §2.3). */
struct rg_proposal {
    struct raft_apply req;       /* req.data = this */
    struct rg_raft *r;
    struct rg_waiter *waiters;
    unsigned n_cmds;
    uint64_t term;               /* stamped in the entry header */
    struct rg_fsm_result *res;   /* n_cmds results */
    int applied;                 /* res filled by fsm_apply */
    struct rg_proposal *next, *prev;
    uint64_t t_proposed; /* uv_hrtime at raft_apply (metrics) */
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

/* The stamp of an entry @r proposes (codec.h ts_ms): its realtime plus an
 * offset that grows, when needed, so that the stamp is never behind the
 * cluster clock already applied (rg_fsm_clock_ms). The state machine
 * takes the running max of the stamps, so a leader whose clock is behind
 * the last one's would otherwise stamp times it ignores, and the quota
 * windows and breaker timers would stand still until its clock caught up
 * (seconds after a leader whose clock had jumped ahead lost leadership:
 * no tokens granted at all meanwhile). With the offset they go on from
 * there at this node's rate. */
static uint64_t stamp_ms(struct rg_raft *r)
{
    uint64_t real = now_ms(), seen = rg_fsm_clock_ms(r->fsm);

    if (seen > real + r->stamp_off_ms)
        r->stamp_off_ms = seen - real;
    return real + r->stamp_off_ms;
}

/* Status of a raft_apply/raft_barrier callback, as the facade reports it:
 * once an entry is in the log, anything but success is "unknown" (docs/raft.md
 * §2.3: LEADERSHIPLOST entries were seen committing later). */
static int map_async(int status)
{
    if (status == 0)
        return 0;
    if (status == RAFT_NOTLEADER)
        return RG_RAFT_ENOTLEADER;
    return RG_RAFT_EUNKNOWN;
}

void rg_raft__notify_change(struct rg_raft *r)
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
        *term = rg_get64le(p + 8);
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

/* Never fails (docs/raft.md §2.2: a non-zero return wedges the node); a bad
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
    RG_FAILPOINT("raft_before_apply");
    n = rg_fsm_apply(r->fsm, index, buf->base, buf->len, res);
    RG_FAILPOINT("raft_after_apply");
    if (res != NULL && n == p->n_cmds)
        p->applied = 1;
    *result = NULL;
    if (rg_fsm_revision(r->fsm) != rev)
        rg_raft__notify_change(r);
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
        rg_raft__notify_change(r);
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
        c->rid = cmds[i].rid_len > 0 ? memcpy(p, cmds[i].rid,
                                              cmds[i].rid_len)
                                     : p; /* an empty id may be NULL */
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
    if (status == 0)
        rg_raft__count_apply(p->r, (uv_hrtime() - p->t_proposed) / 1000);
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
    len = rg_codec_encode(all, p->n_cmds, p->term, stamp_ms(p->r), out->base,
                          size);
    rg_free(all);
    if (len < 0) {
        raft_free(out->base);
        return (int)len;
    }
    /* docs/raft.md §4.2: shorter entries lost data (0.15) or crash (0.22.1). */
    RG_ASSERT(len > 0 && len % 8 == 0);
    out->len = (size_t)len;
    return 0;
}

/* libraft 0.22.1 puts idle followers in probe mode: a leader tick that
 * sends no heartbeat (something went out less than heartbeat_timeout
 * before) still restarts the contact window, the next tick finds no reply
 * in it ("server N is unreachable -> abort pipeline"), and a heartbeat
 * reply that matches nothing new never brings the follower back to
 * pipeline. In probe mode a new entry waits until heartbeat_timeout has
 * passed since the last message to that follower: up to a whole
 * heartbeat for the first write after an idle spell. Probe mode's pacing
 * is "one message per heartbeat_timeout", so a zero heartbeat timeout
 * for the duration of the call makes libraft send the entry at once; the
 * configured one is back before anything else runs. */
static int nudged_apply(struct rg_raft *r, struct raft_apply *req,
                        const struct raft_buffer *buf)
{
    int rv;

    raft_set_heartbeat_timeout(&r->raft, 0);
    rv = raft_apply(&r->raft, req, buf, 1, apply_cb);
    raft_set_heartbeat_timeout(&r->raft, r->heartbeat_ms);
    return rv;
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
    RG_FAILPOINT("raft_before_propose");
    p->t_proposed = uv_hrtime();
    rv = nudged_apply(r, &p->req, &buf);
    if (rv == 0) {
        p->next = r->inflight;
        if (p->next != NULL)
            p->next->prev = p;
        r->inflight = p;
        return;
    }
    /* docs/raft.md §2.3, 0.22.1: only errors raised before the entry reaches
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
               n + last->next->n <= ENTRY_CMDS &&
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
    /* As nudged_apply: a barrier is an entry too. */
    raft_set_heartbeat_timeout(&r->raft, 0);
    rv = raft_barrier(&r->raft, &b->req, barrier_cb);
    raft_set_heartbeat_timeout(&r->raft, r->heartbeat_ms);
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

void rg_raft__fsm_init(struct rg_raft *r)
{
    r->fsm_ops.version = 1;
    r->fsm_ops.data = r;
    r->fsm_ops.apply = fsm_apply;
    r->fsm_ops.snapshot = fsm_snapshot;
    r->fsm_ops.restore = fsm_restore;
}

/* libraft fails pending requests before its close callback; anything still
 * here is swept so that no caller waits forever. */
void rg_raft__sweep(struct rg_raft *r)
{
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
}
