/* The one error rule (libuv's): a function that can fail returns 0 on
 * success or a negative error code; never -1, never an HTTP status, never
 * errors or-ed together. Codes come from three disjoint ranges, so any of
 * them can travel through any caller unchanged:
 *
 *   -1 .. -4095        -errno, and libuv's UV_E* (on Unix UV_E* == -errno;
 *                      UV_EOF is -4095, UV_EAI_* sit in -3000..-3014)
 *   -10000 .. -10999   the raft facade (RG_RAFT_E*, raft/rgraft.h)
 *   -20000 .. -20999   admin forwarding (RG_FWD_E*, admin/fwd.h)
 *   -30000 .. -30999   the request path (RG_E* below)
 *
 * rg_strerror() names every one of them. What a code means to an HTTP
 * client (431, 503...) is decided where the reply is made, never by
 * returning a status (docs/errors.md says where).
 * Functions whose result must not be ignored are marked RG_MUST_CHECK.
 * Config and admin paths also fill a struct rg_errbuf with the text a user
 * reads (core/errbuf.h); docs/errors.md has the whole rule. */
#ifndef RG_CORE_ERR_H
#define RG_CORE_ERR_H

#define RG_MUST_CHECK __attribute__((warn_unused_result))

/* The raft facade (raft/rgraft.h). */
enum {
    RG_RAFT_ENOTLEADER = -10001, /* not proposed: this node is not leader */
    RG_RAFT_EUNKNOWN = -10002,   /* proposed, outcome unknown (leadership
                                    lost): it may still commit */
    RG_RAFT_ESHUTDOWN = -10003,  /* not proposed: stopping */
    RG_RAFT_EBUSY = -10004,      /* not proposed: a membership change or
                                    transfer is in progress */
};

/* Admin forwarding (admin/fwd.h). */
enum {
    RG_FWD_ENOTSENT = -20001, /* connect failed: nothing was sent */
    RG_FWD_EUNKNOWN = -20002, /* sent, then failed or timed out */
};

/* Request-path errors (-30000 range). Each names a refusal a client can
 * be told about; resource errors stay -ENOMEM, -ECANCELED, ... */
enum {
    RG_EURI = -30001,      /* request target over the head limit */
    RG_EHEAD = -30002,     /* request head or a field over its limit */
    RG_EBODY = -30003,     /* request body over its limit */
    RG_EPROTO = -30004,    /* malformed or smuggling-shaped message */
    RG_EUPSTREAM = -30005, /* the upstream answered something unusable,
                              or the request body could not reach it */
    RG_ERESPBODY = -30006, /* a buffered response body over its cap */
    RG_EVERSION = -30007,  /* an HTTP version other than 1.x */
    RG_EEXPECT = -30008,   /* an Expect other than 100-continue */
    RG_EMETHOD = -30009,   /* a method the proxy does not serve (CONNECT) */
    RG_ENOROUTE = -30010,  /* no route matched */
    RG_EPLUGIN = -30011,   /* a plugin failed */
    RG_ERESPHEAD = -30012, /* the response head over its cap once rebuilt */
};

/* A static, NUL-terminated description of @err (any range above; 0 reads
 * "success", anything unknown "unknown error <n>" from a thread-local
 * buffer). Thread: any. */
const char *rg_strerror(int err);

#endif
