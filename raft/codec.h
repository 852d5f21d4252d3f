/* The replicated command codec. One Raft log entry carries a batch of
 * commands (docs/raft.md §2.3: one entry per raft_apply, many commands packed
 * inside). Layout, all integers little-endian, every entry padded with zero
 * bytes to a multiple of 8 (docs/raft.md §4.2: shorter entries lose data):
 *
 *   entry   = magic "RGC1" (4) | version u16 | n_cmds u16 | term u64 |
 *             ts_ms u64 | cmd * n_cmds | zero padding to 8
 *   cmd     = type u8 | kind u8 | reserved u16 | if_rev u64 |
 *             rid_len u16 | key_len u16 | body_len u32 |
 *             rid bytes | key bytes | body bytes
 *
 * The version lets a newer node read an older log: a decoder accepts every
 * version up to RG_CODEC_VERSION. Pure C, no I/O. */
#ifndef RG_RAFT_CODEC_H
#define RG_RAFT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define RG_CODEC_VERSION 1
#define RG_CODEC_MAX_CMDS 4096
#define RG_CODEC_MAX_RID 64      /* request id bytes */
#define RG_CODEC_MAX_KEY 256     /* object id bytes */
#define RG_CODEC_MAX_BODY (16u << 20)

enum rg_cmd_type {
    RG_CMD_PUT = 1,         /* create or replace object (kind, key) */
    RG_CMD_DELETE = 2,      /* delete object (kind, key) */
    RG_CMD_REPLACE_ALL = 3, /* body = whole declarative config (JSON) */
    RG_CMD_NODE_SET = 4,    /* key = node id (decimal); body = JSON record */
    RG_CMD_NODE_DEL = 5,    /* key = node id */
    RG_CMD_LEASE_REQ = 6,   /* key = limit key; body raft/quota.h */
    RG_CMD_LEASE_RET = 7,   /* key = limit key; body raft/quota.h */
    RG_CMD_BREAKER = 8,     /* key = service; body = JSON op (raft/fsm.h,
                               circuit breakers); kind NONE, empty rid */
    RG_CMD_CACHE_PURGE = 9, /* key = a proxy-cache key (16 hex digits), or
                               empty for every entry; no body */
};

enum rg_kind {
    RG_KIND_NONE = 0,
    RG_KIND_SERVICE = 1,
    RG_KIND_ROUTE = 2,
    RG_KIND_CONSUMER = 3,
    RG_KIND_PLUGIN = 4,
    RG_KIND_UPSTREAM = 5,
    RG_KIND_TARGET = 6,
    RG_KIND_CERTIFICATE = 7, /* TLS (issue 12) */
    RG_KIND_SNI = 8,
    RG_KIND_CA_CERTIFICATE = 9,
    RG_KIND_MAX
};

/* One command. Decoded commands point into the entry (borrowed). */
struct rg_cmd {
    uint8_t type;           /* enum rg_cmd_type */
    uint8_t kind;           /* enum rg_kind (PUT/DELETE) */
    uint64_t if_rev;        /* 0: unconditional; else the object's revision
                               (PUT/DELETE) or the global revision
                               (REPLACE_ALL) must equal it */
    const char *rid;        /* request id, unique per client request */
    uint16_t rid_len;
    const char *key;
    uint16_t key_len;
    const char *body;       /* JSON text */
    uint32_t body_len;
};

struct rg_entry {
    uint16_t version;
    uint64_t term;          /* the proposing leader's term */
    uint64_t ts_ms;         /* the proposing leader's clock (never behind
                               the applied one: write.c stamp_ms):
                               apply's only source of time */
    unsigned n_cmds;
    struct rg_cmd *cmds;    /* owned by the entry: free with
                               rg_entry_release; strings borrowed from the
                               decoded buffer */
};

/* Bytes rg_codec_encode needs for @cmds (a multiple of 8), or 0 when a
 * command breaks a limit above. Thread: any. */
size_t rg_codec_size(const struct rg_cmd *cmds, unsigned n);

/* Encode @n commands with @term and @ts_ms into @buf of @cap bytes (at
 * least rg_codec_size). Returns the length written (a multiple of 8,
 * asserted) or -EINVAL (a limit broken, unknown type or kind, a length
 * without its pointer) / -ENOSPC. Ownership: all borrowed. */
long rg_codec_encode(const struct rg_cmd *cmds, unsigned n, uint64_t term,
                     uint64_t ts_ms, void *buf, size_t cap);

/* Decode @buf (@len bytes, borrowed; must outlive @e's strings). Returns 0,
 * -EINVAL for anything malformed (bad magic, version 0 or newer, lengths
 * past the end or past the limits above, length not a multiple of 8,
 * padding that is not exactly the zero bytes up to the next multiple of 8,
 * non-zero reserved field, unknown type or kind), or -ENOMEM. On error @e
 * is left empty. Every valid entry has one encoding: re-encoding @e gives
 * @buf byte for byte. Thread: any. */
int rg_codec_decode(const void *buf, size_t len, struct rg_entry *e);

/* Free what @e owns (not the buffer). Accepts an empty @e. */
void rg_entry_release(struct rg_entry *e);

/* Kind names as used by the admin API ("services", "routes", ...) and back;
 * RG_KIND_NONE / NULL when unknown. */
enum rg_kind rg_kind_from_name(const char *name, size_t len);
const char *rg_kind_name(enum rg_kind k);

#endif
