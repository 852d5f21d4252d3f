/* One transfer of the fetcher: its curl options, the body and the wanted
 * header as they arrive (both capped), and its result; see fetch_int.h. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "upstream/fetch_int.h"

/* CURLOPT_WRITEFUNCTION: the body, up to its cap (size is always 1). */
static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct rg_fetch *x = arg;
    int rv = rg_buf_add(&x->body, p, n);

    if (rv == 0)
        return n;
    x->err = rv == -E2BIG ? -EMSGSIZE : rv;
    x->why = rv == -E2BIG ? "response body over its cap" : "out of memory";
    return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* CURLOPT_HEADERFUNCTION: one whole header line at a time, for every
 * response (redirects, 1xx): a status line starts over, so the value is
 * the last response's (the last line of that name when repeated). */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct rg_fetch *x = arg;
    const char *v;
    size_t vn;

    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        rg_buf_truncate(&x->hval, 0);
        x->have_hval = 0;
        return n;
    }
    if (x->want == NULL || n <= x->want_len || p[x->want_len] != ':' ||
        strncasecmp(p, x->want, x->want_len) != 0)
        return n;
    v = p + x->want_len + 1;
    vn = n - x->want_len - 1;
    while (vn > 0 && is_ows(*v))
        v++, vn--;
    while (vn > 0 && is_ows(v[vn - 1]))
        vn--;
    rg_buf_truncate(&x->hval, 0);
    if (rg_buf_reserve(&x->hval, vn) != 0 || rg_buf_add(&x->hval, v, vn) != 0) {
        x->err = rg_buf_error(&x->hval) == -E2BIG ? -EMSGSIZE : -ENOMEM;
        x->why = x->err == -EMSGSIZE ? "wanted response header over its cap"
                                     : "out of memory";
        return 0;
    }
    x->have_hval = 1;
    return n;
}

static int has_prefix(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* A request header must be "Name: value" on one line. */
static int header_ok(const char *h)
{
    const char *colon = strchr(h, ':');

    return colon != NULL && colon != h && strpbrk(h, "\r\n") == NULL;
}

static int add_headers(struct rg_fetch *x, const char *const *h)
{
    for (; h != NULL && *h != NULL; h++) {
        struct curl_slist *l;

        if (!header_ok(*h))
            return -EINVAL;
        l = curl_slist_append(x->hdrs, *h);
        if (l == NULL)
            return -ENOMEM;
        x->hdrs = l;
    }
    return 0;
}

#define SET(opt, val)                                                          \
    do {                                                                       \
        if (rv == CURLE_OK)                                                    \
            rv = curl_easy_setopt(x->easy, opt, val);                          \
    } while (0)

/* Every option of a transfer: 0, -ENOMEM, or -EIO if curl refuses one. */
static int setup(struct rg_fetch *x, const char *url, long timeout_ms,
                 int https, int no_proxy, int direct)
{
    CURLcode rv = CURLE_OK;

    SET(CURLOPT_URL, url);
    SET(CURLOPT_PRIVATE, (char *)x);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https,file");
    /* No downgrade from https, never to file:// or anything else. */
    SET(CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http,https");
    SET(CURLOPT_FOLLOWLOCATION, direct ? 0L : 1L);
    SET(CURLOPT_MAXREDIRS, (long)RG_FETCH_MAX_REDIRS);
    SET(CURLOPT_TIMEOUT_MS, timeout_ms);
    SET(CURLOPT_USERAGENT, "raftgate/" PACKAGE_VERSION);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->body.max);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_ERRORBUFFER, x->errbuf);
    if (x->hdrs != NULL)
        SET(CURLOPT_HTTPHEADER, x->hdrs);
    if (no_proxy || direct)
        SET(CURLOPT_NOPROXY, "*"); /* overrides the environment's */
    return rv == CURLE_OK ? 0 : rv == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EIO;
}

#undef SET

int rg_fetch__new(struct rg_fetcher *f, const char *url,
                  const struct rg_fetch_opts *o, struct rg_fetch **out)
{
    struct rg_fetch *x;
    int rv;

    if (!has_prefix(url, "http://") && !has_prefix(url, "https://") &&
        !has_prefix(url, "file://"))
        return -EINVAL;
    if ((x = rg_calloc(1, sizeof(*x))) == NULL)
        return -ENOMEM;
    x->f = f;
    rg_buf_init(&x->body, o->max_body > 0 ? o->max_body : RG_FETCH_MAX_BODY);
    rg_buf_init(&x->hval, RG_FETCH_MAX_HEADER);
    if ((rv = add_headers(x, o->headers)) != 0)
        goto err_after_alloc;
    rv = -ENOMEM;
    if (o->want_header != NULL) {
        x->want = rg_strdup(o->want_header);
        if (x->want == NULL)
            goto err_after_alloc;
        x->want_len = strlen(x->want);
    }
    if ((x->easy = curl_easy_init()) == NULL)
        goto err_after_alloc;
    rv = setup(x, url, o->timeout_ms > 0 ? o->timeout_ms : RG_FETCH_TIMEOUT_MS,
               has_prefix(url, "https://"), o->no_proxy, o->direct);
    if (rv != 0)
        goto err_after_alloc;
    *out = x;
    return 0;

err_after_alloc:
    rg_fetch__free(x); /* each part accepts its empty state */
    return rv;
}

void rg_fetch__free(struct rg_fetch *x)
{
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->hdrs);
    rg_free(x->want);
    rg_buf_release(&x->body);
    rg_buf_release(&x->hval);
    rg_free(x);
}

static int map_err(struct rg_fetch *x)
{
    long os = 0;

    switch (x->code) {
    case CURLE_OK:
        return 0;
    case CURLE_WRITE_ERROR:
        return x->err != 0 ? x->err : -EIO;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_FILESIZE_EXCEEDED: /* Content-Length over the cap */
        return -EMSGSIZE;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_FILE_COULDNT_READ_FILE:
        return -ENOENT;
    case CURLE_COULDNT_CONNECT:
        if (curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &os) == CURLE_OK &&
            os > 0 && os < 4096)
            return -(int)os;
        return -ECONNREFUSED;
    default:
        return -EIO;
    }
}

void rg_fetch__complete(struct rg_fetch *x)
{
    struct rg_fetch_result res;

    memset(&res, 0, sizeof(res));
    res.body = "";
    res.err = map_err(x);
    if (res.err == 0) {
        (void)curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &res.status);
        if (x->body.p != NULL)
            res.body = x->body.p;
        res.len = x->body.len;
        if (x->have_hval)
            res.header = x->hval.p != NULL ? x->hval.p : "";
    } else if (x->why != NULL) {
        res.error = x->why;
    } else {
        res.error =
            x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(x->code);
    }
    x->cb(x->arg, &res);
}
