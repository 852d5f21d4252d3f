/* libFuzzer target for the message-head path every parser in raftgate
 * runs: the llhttp glue of http/msg.c filling an rg_head, fed in randomly
 * split pieces as reads split it. Input: one control byte, then the
 * stream. Control bit 7 picks a response stream (else requests), bits 0-6
 * the piece size (0: all at once). The split stream is read in place
 * (declared as the head's input, so spans are slices), every other piece
 * from a copy outside it (so slices cut by a piece are copied over); the
 * whole stream is parsed with no input (all copies), and both must give
 * the same heads. Each complete head is checked (spans inside the buffer
 * or the input, field count, trailing blanks trimmed), then goes
 * through hop-by-hop marking, Host/X-Request-ID lookup and, for a request,
 * path normalisation of its target; a failed parse must name a status the
 * proxy can answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "http/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
    struct rg_head head;
    int request;
    size_t body;
    unsigned heads;
    uint64_t digest;    /* of every head's target and fields, in order */
    const char *in;     /* the input read in place so far, or NULL */
    size_t in_len;
};

static uint64_t mix(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull; /* FNV-1a */
    return (h ^ 0xff) * 0x100000001b3ull; /* span end */
}

static uint64_t head_digest(const struct rg_head *h, uint64_t d)
{
    d = mix(d, rg_head_url(h), h->url_len);
    for (uint32_t i = 0; i < h->n_fields; i++) {
        const struct rg_field *f = &h->fields[i];

        d = mix(d, rg_field_name(h, f), f->name_len);
        d = mix(d, rg_field_value(h, f), f->value_len);
    }
    return d;
}

static void check_span(const struct rg_head *h, uint32_t off, uint32_t len,
                       unsigned in)
{
    if ((uint64_t)off + len > (in ? h->in_len : h->len))
        abort();
}

static void check_spans(const struct rg_head *h)
{
    if (h->len > h->max || h->used > h->max ||
        h->n_fields > RG_HEAD_MAX_FIELDS)
        abort();
    check_span(h, h->url_off, h->url_len, h->url_in);
    for (uint32_t i = 0; i < h->n_fields; i++) {
        const struct rg_field *f = &h->fields[i];
        const char *v = rg_field_value(h, f);

        check_span(h, f->name_off, f->name_len, f->name_in);
        check_span(h, f->value_off, f->value_len, f->value_in);
        if (f->value_len > 0 && (v[f->value_len - 1] == ' ' ||
                                 v[f->value_len - 1] == '\t'))
            abort();
        if (f->value_len > 0 && (memchr(v, '\r', f->value_len) ||
                                 memchr(v, '\n', f->value_len)))
            abort(); /* obs-fold or a bare CR must never get through */
    }
}

static void check_target(const struct rg_head *h)
{
    const char *url = rg_head_url(h);
    const char *q = memchr(url, '?', h->url_len);
    size_t plen = q ? (size_t)(q - url) : h->url_len;
    char *out = malloc(plen + 2);
    long n;

    if (out == NULL)
        return;
    n = rg_path_normalize(url, plen, out, plen + 2);
    if (n >= 0 && (out[0] != '/' || (size_t)n > plen + 1))
        abort();
    free(out);
}

static int f_begin(struct rg_msg *m)
{
    struct ctx *c = m->data;

    rg_head_release(&c->head);
    if (c->in != NULL)
        rg_head_set_input(&c->head, c->in, c->in_len);
    return 0;
}

static int f_head(struct rg_msg *m)
{
    struct ctx *c = m->data;
    int cc, cu;

    check_spans(&c->head);
    c->heads++;
    c->digest = head_digest(&c->head, c->digest);
    rg_head_mark_hop(&c->head, &cc, &cu);
    (void)rg_head_find(&c->head, "host");
    (void)rg_head_find(&c->head, "x-request-id");
    if (c->request)
        check_target(&c->head);
    return 0;
}

static int f_body(struct rg_msg *m, const char *at, size_t n)
{
    struct ctx *c = m->data;

    if (n > 0 && at == NULL)
        abort();
    c->body += n;
    return 0;
}

static const struct rg_msg_ops f_ops = {
    .begin = f_begin,
    .head = f_head,
    .body = f_body,
};

/* Parse @data in pieces of @split bytes (read in place, every other one
 * from a copy) or, @split 0, at once with no input (all copies) into @c;
 * the verdict: 0 parsed or paused, else the status a request would get. */
static int parse(struct ctx *c, int request, const uint8_t *data, size_t size,
                 size_t split)
{
    struct rg_msg m;
    size_t off = 0;
    llhttp_errno_t err = HPE_OK;
    int st = 0;

    memset(c, 0, sizeof(*c));
    c->request = request;
    rg_head_init(&c->head, 4096);
    rg_msg_init(&m, request ? RG_MSG_REQUEST : RG_MSG_RESPONSE, &f_ops,
                &c->head, c);
    while (off < size && err == HPE_OK) {
        size_t n = split ? split : size;

        const char *p = (const char *)data + off;
        char *copy = NULL;

        if (n > size - off)
            n = size - off;
        if (split) {
            c->in = (const char *)data;
            c->in_len = off + n;
            rg_head_set_input(&c->head, c->in, c->in_len);
            if ((off / split) % 2 == 1 && (copy = malloc(n)) != NULL)
                p = memcpy(copy, p, n);
        }
        err = rg_msg_feed(&m, p, n);
        free(copy);
        off += n;
    }
    if (err == HPE_OK && !request)
        err = rg_msg_finish(&m);
    if (err != HPE_OK && err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE) {
        st = rg_msg_error_status(&m);
        if (st != 400 && st != 414 && st != 431 && st != 503)
            abort();
    }
    rg_head_release(&c->head);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ctx pieces, whole;
    int request, st_pieces, st_whole;

    if (size < 1)
        return 0;
    request = !(data[0] & 0x80);
    st_pieces = parse(&pieces, request, data + 1, size - 1, data[0] & 0x7f);
    st_whole = parse(&whole, request, data + 1, size - 1, 0);
    if ((st_pieces == 0) != (st_whole == 0) || pieces.heads != whole.heads ||
        pieces.digest != whole.digest || pieces.body != whole.body)
        abort();
    return 0;
}
