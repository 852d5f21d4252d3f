/* The replicated command codec (layout in raft/codec.h). Integers are read
 * and written byte by byte in little-endian order, never by copying structs,
 * so the log reads the same on every host. */
#include "raft/codec.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rgassert.h"
#include "raft/bytes.h"

#define MAGIC "RGC1"
#define HEAD_SIZE 24u /* magic, version, n_cmds, term, ts_ms */
#define CMD_SIZE 20u  /* fixed part of one command */

static const char *const kind_names[RG_KIND_MAX] = {
    [RG_KIND_SERVICE] = "services",
    [RG_KIND_ROUTE] = "routes",
    [RG_KIND_CONSUMER] = "consumers",
    [RG_KIND_PLUGIN] = "plugins",
    [RG_KIND_UPSTREAM] = "upstreams",
    [RG_KIND_TARGET] = "targets",
    [RG_KIND_CERTIFICATE] = "certificates",
    [RG_KIND_SNI] = "snis",
    [RG_KIND_CA_CERTIFICATE] = "ca_certificates",
};

static size_t pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static int type_known(unsigned type)
{
    return (type >= RG_CMD_PUT && type <= RG_CMD_NODE_DEL) ||
           type == RG_CMD_LEASE_REQ || type == RG_CMD_LEASE_RET ||
           type == RG_CMD_BREAKER || type == RG_CMD_CACHE_PURGE;
}

/* Does @c respect the limits and carry a pointer for every non-empty
 * string? */
static int cmd_ok(const struct rg_cmd *c)
{
    if (!type_known(c->type) || c->kind >= RG_KIND_MAX)
        return 0;
    if (c->rid_len > RG_CODEC_MAX_RID || c->key_len > RG_CODEC_MAX_KEY ||
        c->body_len > RG_CODEC_MAX_BODY)
        return 0;
    return (c->rid_len == 0 || c->rid != NULL) &&
           (c->key_len == 0 || c->key != NULL) &&
           (c->body_len == 0 || c->body != NULL);
}

size_t rg_codec_size(const struct rg_cmd *cmds, unsigned n)
{
    size_t total = HEAD_SIZE;
    unsigned i;

    if (n > RG_CODEC_MAX_CMDS || (n > 0 && cmds == NULL))
        return 0;
    for (i = 0; i < n; i++) {
        const struct rg_cmd *c = &cmds[i];
        size_t one;

        if (!cmd_ok(c))
            return 0;
        one = CMD_SIZE + (size_t)c->rid_len + c->key_len + c->body_len;
        if (total > SIZE_MAX - 8 - one)
            return 0;
        total += one;
    }
    return pad8(total);
}

static unsigned char *put_bytes(unsigned char *p, const char *s, size_t n)
{
    if (n > 0)
        memcpy(p, s, n);
    return p + n;
}

static unsigned char *put_cmd(unsigned char *p, const struct rg_cmd *c)
{
    p[0] = c->type;
    p[1] = c->kind;
    rg_put16le(p + 2, 0);
    rg_put64le(p + 4, c->if_rev);
    rg_put16le(p + 12, c->rid_len);
    rg_put16le(p + 14, c->key_len);
    rg_put32le(p + 16, c->body_len);
    p += CMD_SIZE;
    p = put_bytes(p, c->rid, c->rid_len);
    p = put_bytes(p, c->key, c->key_len);
    return put_bytes(p, c->body, c->body_len);
}

long rg_codec_encode(const struct rg_cmd *cmds, unsigned n, uint64_t term,
                     uint64_t ts_ms, void *buf, size_t cap)
{
    size_t need = rg_codec_size(cmds, n);
    unsigned char *p = buf, *end;
    unsigned i;

    if (need == 0 || need > (size_t)LONG_MAX || buf == NULL)
        return -EINVAL;
    if (need > cap)
        return -ENOSPC;
    memcpy(p, MAGIC, 4);
    rg_put16le(p + 4, RG_CODEC_VERSION);
    rg_put16le(p + 6, (uint16_t)n);
    rg_put64le(p + 8, term);
    rg_put64le(p + 16, ts_ms);
    end = p + HEAD_SIZE;
    for (i = 0; i < n; i++)
        end = put_cmd(end, &cmds[i]);
    memset(end, 0, need - (size_t)(end - p));
    /* docs/raft.md §4.2: an entry whose length is not a multiple of 8 loses
     * data (0.15.0) or crashes the next raft_apply (0.22.1). */
    RG_ASSERT(need % 8 == 0);
    return (long)need;
}

/* A cursor over the bytes being decoded; every read checks the bound. */
struct rd {
    const unsigned char *p;
    size_t left;
};

static const unsigned char *take(struct rd *r, size_t n)
{
    const unsigned char *p = r->p;

    if (n > r->left)
        return NULL;
    r->p += n;
    r->left -= n;
    return p;
}

static int get_cmd(struct rd *r, struct rg_cmd *c)
{
    const unsigned char *h = take(r, CMD_SIZE);

    if (h == NULL)
        return -EINVAL;
    c->type = h[0];
    c->kind = h[1];
    c->if_rev = rg_get64le(h + 4);
    c->rid_len = rg_get16le(h + 12);
    c->key_len = rg_get16le(h + 14);
    c->body_len = rg_get32le(h + 16);
    if (rg_get16le(h + 2) != 0 || !type_known(c->type) ||
        c->kind >= RG_KIND_MAX || c->rid_len > RG_CODEC_MAX_RID ||
        c->key_len > RG_CODEC_MAX_KEY ||
        c->body_len > RG_CODEC_MAX_BODY)
        return -EINVAL;
    c->rid = (const char *)take(r, c->rid_len);
    c->key = (const char *)take(r, c->key_len);
    c->body = (const char *)take(r, c->body_len);
    if (c->rid == NULL || c->key == NULL || c->body == NULL)
        return -EINVAL;
    return 0;
}

/* What follows the last command is padding: fewer than 8 bytes, bringing
 * the entry to a multiple of 8, all zero. */
static int padding_ok(const struct rd *r, size_t len)
{
    size_t i;

    if (len % 8 != 0 || r->left >= 8)
        return 0;
    for (i = 0; i < r->left; i++)
        if (r->p[i] != 0)
            return 0;
    return 1;
}

static int decode_head(struct rd *r, struct rg_entry *e)
{
    const unsigned char *h = take(r, HEAD_SIZE);

    if (h == NULL || memcmp(h, MAGIC, 4) != 0)
        return -EINVAL;
    e->version = rg_get16le(h + 4);
    e->n_cmds = rg_get16le(h + 6);
    e->term = rg_get64le(h + 8);
    e->ts_ms = rg_get64le(h + 16);
    if (e->version == 0 || e->version > RG_CODEC_VERSION ||
        e->n_cmds > RG_CODEC_MAX_CMDS)
        return -EINVAL;
    /* Each command takes at least CMD_SIZE bytes: refuse before
     * allocating for a count the buffer cannot hold. */
    if ((size_t)e->n_cmds > r->left / CMD_SIZE)
        return -EINVAL;
    return 0;
}

int rg_codec_decode(const void *buf, size_t len, struct rg_entry *e)
{
    struct rd r = {buf, len};
    unsigned i;
    int rv;

    memset(e, 0, sizeof(*e));
    if (buf == NULL || len % 8 != 0)
        return -EINVAL;
    rv = decode_head(&r, e);
    if (rv != 0)
        goto err;
    if (e->n_cmds > 0) {
        e->cmds = rg_calloc(e->n_cmds, sizeof(*e->cmds));
        if (e->cmds == NULL) {
            rv = -ENOMEM;
            goto err;
        }
    }
    for (i = 0; i < e->n_cmds; i++) {
        rv = get_cmd(&r, &e->cmds[i]);
        if (rv != 0)
            goto err;
    }
    if (!padding_ok(&r, len)) {
        rv = -EINVAL;
        goto err;
    }
    return 0;
err:
    rg_entry_release(e);
    return rv;
}

void rg_entry_release(struct rg_entry *e)
{
    rg_free(e->cmds);
    memset(e, 0, sizeof(*e));
}

enum rg_kind rg_kind_from_name(const char *name, size_t len)
{
    int k;

    if (name == NULL)
        return RG_KIND_NONE;
    for (k = RG_KIND_NONE + 1; k < RG_KIND_MAX; k++)
        if (strlen(kind_names[k]) == len &&
            memcmp(kind_names[k], name, len) == 0)
            return (enum rg_kind)k;
    return RG_KIND_NONE;
}

const char *rg_kind_name(enum rg_kind k)
{
    if ((int)k <= RG_KIND_NONE || k >= RG_KIND_MAX)
        return NULL;
    return kind_names[k];
}
