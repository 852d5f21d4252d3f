/* W3C traceparent on the proxy path (http/trace.h). */
#include "http/trace.h"

#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/hex.h"
#include "http/conn.h"
#include "http/head.h"
#include "http/proxy.h"
#include "http/req.h"
#include "http/wctx.h"

#define TP_LEN 55 /* "00-" 32 "-" 16 "-" 2 */

/* 1 when @p holds @n lower-case hex digits, 2 when they are not all 0. */
static int lowhex(const char *p, size_t n)
{
    int nonzero = 0;

    for (size_t i = 0; i < n; i++) {
        if (rg_hex_lower(p[i]) < 0)
            return 0;
        nonzero |= p[i] != '0';
    }
    return 1 + nonzero;
}

/* A traceparent the spec accepts: version 00 exactly as long as its
 * format; a later version (not ff) at least as long, with a '-' after
 * the flags if longer. Ids lower-case hex and not all zero. */
static int valid(const char *v, size_t n)
{
    if (n < TP_LEN || !lowhex(v, 2) || memcmp(v, "ff", 2) == 0 ||
        v[2] != '-' || v[35] != '-' || v[52] != '-')
        return 0;
    if (memcmp(v, "00", 2) == 0 ? n != TP_LEN : n > TP_LEN && v[55] != '-')
        return 0;
    return lowhex(v + 3, 32) == 2 && lowhex(v + 36, 16) == 2 &&
           lowhex(v + 53, 2) != 0;
}

/* Write into @out the 2 hex digits of the client's trace-flags @v with
 * only the flags version 00 defines kept: 0x01 sampled (Trace Context
 * §3.2.2.5.1) and 0x02 random trace-id (Trace Context Level 2
 * §3.2.2.5.2); the others "MUST be set to zero" (§3.2.2.5.3). A later
 * version's flags are read the same way, as §3.2.4 says to parse them. */
static void known_flags(const char *v, char *out)
{
    static const char hex[] = "0123456789abcdef";

    out[0] = '0';
    /* lowhex checked the flags' digits. */
    out[1] = hex[rg_hex_lower(v[1]) & (RG_TRACE_SAMPLED | RG_TRACE_RANDOM)];
}

static void hex64(uint64_t v, char *out)
{
    static const char hex[] = "0123456789abcdef";

    for (int i = 0; i < 16; i++)
        out[i] = hex[(v >> (60 - 4 * i)) & 0xf];
}

static uint64_t nonzero_rand(struct rg_wctx *w)
{
    uint64_t v = rg_wctx_rand(w);

    return v != 0 ? v : 1;
}

void rg_trace_start(struct rg_req *r)
{
    const struct rg_head *h = &r->head;
    const struct rg_field *f = rg_head_find(h, "traceparent");
    const char *v = f != NULL ? rg_field_value(h, f) : NULL;
    struct rg_wctx *w = r->c->w;

    /* Several traceparent headers are as good as a malformed one. */
    if (v != NULL && rg_req_header_count(r, "traceparent") == 1 &&
        valid(v, f->value_len)) {
        memcpy(r->trace_id, v + 3, 32);
        known_flags(v + 53, r->trace_flags);
    } else {
        hex64(rg_wctx_rand(w), r->trace_id);
        hex64(nonzero_rand(w), r->trace_id + 16);
        memcpy(r->trace_flags, "01", 2);
        r->trace_new = 1;
    }
    r->trace_id[32] = '\0';
    r->trace_flags[2] = '\0';
    hex64(nonzero_rand(w), r->span_id);
    r->span_id[16] = '\0';
}

int rg_trace_hides(const struct rg_req *r, const char *name, size_t n)
{
    return (n == 11 && strncasecmp(name, "traceparent", 11) == 0) ||
           (r->trace_new && n == 10 && strncasecmp(name, "tracestate", 10) == 0);
}

void rg_trace_add(const struct rg_req *r, struct rg_buf *b)
{
    for (const struct rg_add_header *h = r->up_add.head; h != NULL; h = h->next)
        if (h->name_len == 11 && strncasecmp(h->name, "traceparent", 11) == 0)
            return; /* a plugin's (request-transformer) is sent instead */
    rg_buf_adds(b, "traceparent: 00-");
    rg_buf_add(b, r->trace_id, 32);
    rg_buf_add(b, "-", 1);
    rg_buf_add(b, r->span_id, 16);
    rg_buf_add(b, "-", 1);
    rg_buf_add(b, r->trace_flags, 2);
    rg_buf_add(b, "\r\n", 2);
}
