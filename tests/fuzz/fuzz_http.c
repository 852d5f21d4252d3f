/* libFuzzer target for the request-head path: llhttp (strict) feeding
 * rg_head as http/conn.c does, in randomly split pieces, then hop-by-hop
 * marking, Host/X-Request-ID lookup and path normalisation of the target. */
#include <llhttp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/head.h"
#include "core/path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
    struct rg_head head;
    int heads;
};

static int f_url(llhttp_t *p, const char *at, size_t n)
{
    return rg_head_add_url(&((struct ctx *)p->data)->head, at, n) ? -1 : 0;
}

static int f_field(llhttp_t *p, const char *at, size_t n)
{
    return rg_head_add_name(&((struct ctx *)p->data)->head, at, n) ? -1 : 0;
}

static int f_value(llhttp_t *p, const char *at, size_t n)
{
    return rg_head_add_value(&((struct ctx *)p->data)->head, at, n) ? -1 : 0;
}

static int f_value_done(llhttp_t *p)
{
    struct ctx *c = p->data;

    if (rg_head_add_value(&c->head, "", 0) != 0)
        return -1;
    rg_head_end_value(&c->head);
    return 0;
}

static void check_head(struct ctx *c)
{
    struct rg_head *h = &c->head;
    int cc, cu;
    char *out;
    const char *url = h->buf ? h->buf + h->url_off : "";
    const char *q;
    size_t plen;
    long n;

    rg_head_mark_hop(h, &cc, &cu);
    (void)rg_head_find(h, "host");
    (void)rg_head_find(h, "x-request-id");
    q = memchr(url, '?', h->url_len);
    plen = q ? (size_t)(q - url) : h->url_len;
    out = malloc(plen + 2);
    n = rg_path_normalize(url, plen, out, plen + 2);
    if (n >= 0 && (out[0] != '/' || (size_t)n > plen + 1))
        abort();
    free(out);
}

static int f_headers_done(llhttp_t *p)
{
    struct ctx *c = p->data;

    check_head(c);
    c->heads++;
    rg_head_release(&c->head);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    llhttp_settings_t s;
    llhttp_t parser;
    struct ctx c;
    size_t off = 0;
    size_t split;

    if (size < 1)
        return 0;
    split = data[0];
    data++;
    size--;
    llhttp_settings_init(&s);
    s.on_url = f_url;
    s.on_header_field = f_field;
    s.on_header_value = f_value;
    s.on_header_value_complete = f_value_done;
    s.on_headers_complete = f_headers_done;
    memset(&c, 0, sizeof(c));
    rg_head_init(&c.head, 4096);
    llhttp_init(&parser, HTTP_REQUEST, &s);
    parser.data = &c;
    /* Feed in pieces so spans split across calls, as reads do. */
    while (off < size) {
        size_t n = split ? split : size;

        if (n > size - off)
            n = size - off;
        if (llhttp_execute(&parser, (const char *)data + off, n) != HPE_OK)
            break;
        off += n;
    }
    rg_head_release(&c.head);
    return 0;
}
