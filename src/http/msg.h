/* The one llhttp glue of the project: an llhttp parser (strict mode) whose
 * start line and header fields are collected into an rg_head, and whose
 * message events go to a small vtable. Every HTTP/1.1 parser in raftgate
 * is one of these: the proxy's client side (http/conn.c), its upstream side
 * (http/proxy.c), the admin server (admin/httpd.c) and the admin forwarder
 * (admin/fwd.c), and the fuzz target drives the same code.
 *
 * What the glue enforces for all of them:
 * - the request target (requests) or the reason phrase (responses) goes to
 *   the head's url span, field names and values to its fields, within the
 *   head's byte cap and RG_HEAD_MAX_FIELDS;
 * - a field with an empty name is an error;
 * - obs-fold (RFC 9112 §5.2: a field value continued on a line starting
 *   with a blank) is an error in requests and in responses, however the
 *   reads split it: llhttp 8 lets it through even in strict mode, and a
 *   proxy must not forward it;
 * - a failure of the head collector is remembered in @err so that the
 *   owner can answer 414, 431 or 503 rather than a bare 400.
 * Thread: whichever runs the owner; no global state. */
#ifndef RG_HTTP_MSG_H
#define RG_HTTP_MSG_H

#include <llhttp.h>
#include <stddef.h>

#include "http/head.h"

struct rg_msg;

/* Message events. Every callback is optional. Each may end the owner's
 * object only if the owner keeps the rg_msg itself alive until
 * rg_msg_feed returns (llhttp still reads it). */
struct rg_msg_ops {
    /* A message starts. May set m->head (the head to fill) for this
     * message. Returns 0 or -errno (stored in m->err; the parse fails). */
    int (*begin)(struct rg_msg *m);
    /* The head is complete (llhttp's on_headers_complete contract):
     * 0 go on, 1 no body follows (a response to HEAD), HPE_PAUSED stop
     * here, -1 error. */
    int (*head)(struct rg_msg *m);
    /* Body bytes, de-chunked; @at is borrowed. 0, or an error code
     * (stored in m->err; the parse fails): RG_EBODY over the owner's cap,
     * -ENOMEM, RG_EUPSTREAM when the body has nowhere to go. */
    int (*body)(struct rg_msg *m, const char *at, size_t n);
    /* The message is complete: 0, HPE_PAUSED or -1. */
    int (*done)(struct rg_msg *m);
};

struct rg_msg {
    llhttp_t p;               /* first: callbacks find the rg_msg from it.
                                 Read its method, status_code, flags,
                                 content_length, upgrade, http_minor. */
    const struct rg_msg_ops *ops;
    void *data;               /* the owner's */
    struct rg_head *head;     /* filled as the message is parsed */
    const char *exec_start;   /* input of the running rg_msg_feed */
    const char *exec_end;
    unsigned feeds;           /* non-empty feeds so far */
    unsigned val_feed;        /* the feed of the last value span */
    const char *name_end;     /* end of the last field-name span */
    unsigned name_feed;       /* ... and its feed */
    unsigned val_at_end : 1;  /* that span ended its input */
    unsigned want_value : 1;  /* a name ended, its value has not begun */
    unsigned lf_pending : 1;  /* ... and a LF came since (in past feeds) */
    int err;                  /* why the parse failed (core/err.h): the
                                 head collector's (RG_EURI, RG_EHEAD,
                                 RG_EPROTO, -ENOMEM), begin's or body's
                                 code (core/err.h codes only); an
                                 owner's callback may set it too; 0 for
                                 llhttp's own refusals */
};

enum rg_msg_kind { RG_MSG_REQUEST, RG_MSG_RESPONSE };

/* Set up @m to parse messages of @kind into @head (may be NULL when
 * ops->begin sets it) with @ops; @data is the owner's. Also used to start
 * over after an error or a message the owner does not resume. */
void rg_msg_init(struct rg_msg *m, enum rg_msg_kind kind,
                 const struct rg_msg_ops *ops, struct rg_head *head,
                 void *data);

/* Parse @n bytes at @at (borrowed: the head copies what it keeps).
 * Returns llhttp's answer: HPE_OK (wants more), HPE_PAUSED or
 * HPE_PAUSED_UPGRADE (the unparsed rest starts at rg_msg_stop_pos), or an
 * error code. */
llhttp_errno_t rg_msg_feed(struct rg_msg *m, const char *at, size_t n);

/* The peer closed: completes a close-delimited message (done runs).
 * Returns as rg_msg_feed. */
llhttp_errno_t rg_msg_finish(struct rg_msg *m);

/* Where the last pause or error stopped in the fed bytes. */
static inline const char *rg_msg_stop_pos(const struct rg_msg *m)
{
    return llhttp_get_error_pos(&m->p);
}

/* Go on after a pause (an upgrade pause included: an upgrade the owner
 * declined continues as HTTP). */
void rg_msg_resume(struct rg_msg *m);

/* The status to answer a message whose parse failed: rg_status_of(err)
 * (414, 431, 413, 503, 502...), 400 for llhttp's own refusals. */
int rg_msg_error_status(const struct rg_msg *m);

#endif
