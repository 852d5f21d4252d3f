/* The node configuration file (conf/raftgate.yml); see node.h. */
#include "config/node.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "config/yamltree.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/secret.h"
#include "core/tls.h"

#define NODE_FILE_MAX (1u << 20) /* bytes */
#define DUR_MAX_MS 86400000ull   /* 24 h */
#define SIZE_K 1024ull
#define VIA_MAX 64     /* bytes */
#define SERVER_MAX 128 /* bytes */
#define NAME_MAX_LEN 64 /* node.name bytes */
#define TOKEN_MAX 256   /* admin.token bytes */
#define HOSTNAME_MAX 253
#define ID_MAX 9223372036854775807LL

struct node_ctx {
    struct rg_node_conf *nc;
    const char *dir; /* absolute folder of the file, for relative paths */
    yaml_node_t *raft;   /* the raft: section, for cross-key checks */
    yaml_node_t *voters; /* raft.voters */
};

static struct rg_node_conf *conf(void *ctx)
{
    return ((struct node_ctx *)ctx)->nc;
}

/* ---- Typed values ---- */

/* Split "<digits><unit>" into a value and a unit; -1 on bad syntax. The
 * digit count is capped so that any unit multiplier fits in 64 bits. */
static int number_unit(const char *s, size_t len, unsigned long long *v,
                       const char **unit, size_t *unit_len)
{
    size_t i = 0;

    *v = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (i == 12)
            return -1;
        *v = *v * 10 + (unsigned)(s[i++] - '0');
    }
    if (i == 0)
        return -1;
    *unit = s + i;
    *unit_len = len - i;
    return 0;
}

static int unit_is(const char *u, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(u, lit, n) == 0;
}

/* A duration: integer ms, or "250ms", "10s", "2m", "1h". */
static int read_duration(struct rg_yt *t, yaml_node_t *n, unsigned long long lo,
                         uint32_t *out)
{
    static const struct {
        const char *unit;
        unsigned long long ms;
    } units[] = {{"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    unsigned long long v;
    const char *s, *u;
    size_t len, ul, i;

    if (n->type != YAML_SCALAR_NODE || rg_yt_scalar(t, n, &s, &len) < 0 ||
        number_unit(s, len, &v, &u, &ul) < 0)
        goto bad;
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (unit_is(u, ul, units[i].unit))
            break;
    }
    if (i == sizeof(units) / sizeof(units[0]))
        goto bad;
    v *= units[i].ms;
    if (v < lo || v > DUR_MAX_MS)
        goto bad;
    *out = (uint32_t)v;
    return 0;
bad:
    return rg_yt_err(t, n,
                     "must be a duration of %llu..%llu ms (an integer "
                     "in ms, or like \"250ms\", \"10s\", \"2m\")",
                     lo, DUR_MAX_MS);
}

/* A size: integer bytes, or "32k", "8m", "1g" (powers of 1024). */
static int read_size(struct rg_yt *t, yaml_node_t *n, unsigned long long lo,
                     unsigned long long hi, uint64_t *out)
{
    static const char units[] = "kmg";
    unsigned long long v, mult = 1;
    const char *s, *u, *k;
    size_t len, ul;

    if (n->type != YAML_SCALAR_NODE || rg_yt_scalar(t, n, &s, &len) < 0 ||
        number_unit(s, len, &v, &u, &ul) < 0 || ul > 1)
        goto bad;
    if (ul == 1) {
        k = u[0] != '\0' ? strchr(units, u[0] | 0x20) : NULL;
        if (k == NULL)
            goto bad;
        for (long i = 0; i <= k - units; i++)
            mult *= SIZE_K;
    }
    if (v > hi / mult || v * mult < lo)
        goto bad;
    *out = v * mult;
    return 0;
bad:
    return rg_yt_err(t, n,
                     "must be a size of %llu..%llu bytes (an integer, "
                     "or like \"32k\", \"8m\", \"1g\")",
                     lo, hi);
}

static int read_uint(struct rg_yt *t, yaml_node_t *n, long long lo,
                     long long hi, unsigned *out)
{
    long long x;
    int rv = rg_yt_int(t, n, lo, hi, &x);

    if (rv == 0)
        *out = (unsigned)x;
    return rv;
}

/* "host:port": IPv4 literal, "localhost" or "[IPv6]"; port 1..65535. */
static int listen_ok(const char *s, size_t len)
{
    unsigned char addr[16];
    char host[64];
    const char *colon = NULL;
    size_t hl;
    long port = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == ':')
            colon = s + i;
    }
    if (colon == NULL || colon == s + len - 1 || s + len - colon > 6)
        return 0;
    for (const char *p = colon + 1; p < s + len; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        port = port * 10 + (*p - '0');
    }
    hl = (size_t)(colon - s);
    if (port < 1 || port > 65535 || hl == 0 || hl >= sizeof(host))
        return 0;
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (host[0] == '[' && host[hl - 1] == ']' && hl > 2) {
        host[hl - 1] = '\0';
        return inet_pton(AF_INET6, host + 1, addr) == 1;
    }
    return strcmp(host, "localhost") == 0 ||
           inet_pton(AF_INET, host, addr) == 1;
}

static int read_listen(struct rg_yt *t, yaml_node_t *n, char **out)
{
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, n, &s, &len);

    if (rv < 0)
        return rv;
    if (!listen_ok(s, len))
        return rg_yt_err(t, n,
                         "must be \"host:port\" with an IPv4 address, "
                         "\"localhost\" or \"[IPv6]\" and a port in "
                         "1..65535");
    return rg_yt_str(t, n, out);
}

/* A non-empty path; relative ones are joined to the file's folder. */
static int read_path(struct rg_yt *t, yaml_node_t *n, const char *dir,
                     char **out)
{
    const char *s;
    size_t len, dl;
    char *p;
    int rv = rg_yt_scalar(t, n, &s, &len);

    if (rv < 0)
        return rv;
    if (len == 0)
        return rg_yt_err(t, n, "must not be empty");
    if (s[0] == '/')
        return rg_yt_str(t, n, out);
    dl = strlen(dir);
    p = rg_malloc(dl + 1 + len + 1);
    if (p == NULL)
        return rg_yt_nomem(t);
    memcpy(p, dir, dl);
    if (dl == 0 || dir[dl - 1] != '/')
        p[dl++] = '/';
    memcpy(p + dl, s, len + 1);
    rg_free(*out);
    *out = p;
    return 0;
}

/* A key handler reading a path (read_path) into member @field of the
 * node config. */
#define PATH_KEY(fn, field)                                                    \
    static int fn(struct rg_yt *t, yaml_node_t *v, void *ctx)                  \
    {                                                                          \
        struct node_ctx *c = ctx;                                              \
                                                                               \
        return read_path(t, v, c->dir, &c->nc->field);                         \
    }

/* ---- proxy: ---- */

static int px_listen(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_listen(t, v, &conf(ctx)->proxy_listen);
}

static int px_workers(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_uint(t, v, 0, 256, &conf(ctx)->workers);
}

static int px_max_connections(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_uint(t, v, 1, 1048576, &conf(ctx)->max_connections);
}

static int px_header_timeout(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_duration(t, v, 1, &conf(ctx)->header_timeout_ms);
}

static int px_idle_timeout(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_duration(t, v, 1, &conf(ctx)->idle_timeout_ms);
}

static int px_max_header_size(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    uint64_t x;
    int rv = read_size(t, v, SIZE_K, SIZE_K * SIZE_K, &x);

    if (rv == 0)
        conf(ctx)->max_header_size = (uint32_t)x;
    return rv;
}

static int px_max_body_size(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_size(t, v, 0, SIZE_K * SIZE_K * SIZE_K * SIZE_K,
                     &conf(ctx)->max_body_size);
}

static int px_upstream_keepalive(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 0, 65535, &x);

    if (rv == 0)
        conf(ctx)->upstream_keepalive = (uint32_t)x;
    return rv;
}

static int px_upstream_keepalive_max(struct rg_yt *t, yaml_node_t *v,
                                     void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 1, 65535, &x);

    if (rv == 0)
        conf(ctx)->upstream_keepalive_max = (uint32_t)x;
    return rv;
}

static int trusted_ip_item(struct rg_yt *t, yaml_node_t *item, size_t i,
                           void *ctx)
{
    struct rg_cidr c;
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, item, &s, &len);

    (void)i;
    if (rv < 0)
        return rv;
    if (rg_cidr_parse(s, len, &c) != 0)
        return rg_yt_err(t, item,
                         "must be an IPv4 or IPv6 address or prefix, such "
                         "as 10.0.0.0/8 or 2001:db8::/32, with no host "
                         "bits set past the prefix");
    rv = rg_cidrs_add(&conf(ctx)->trusted_ips, &c);
    if (rv == -E2BIG)
        return rg_yt_err(t, item, "more than %d entries", RG_CIDRS_MAX);
    return rv == 0 ? 0 : rg_yt_nomem(t);
}

static int px_trusted_ips(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    rg_cidrs_release(&conf(ctx)->trusted_ips);
    return rg_yt_seq(t, v, trusted_ip_item, ctx);
}

static int px_upstream_idle(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_duration(t, v, 1, &conf(ctx)->upstream_idle_ms);
}

static int px_drain_timeout(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_duration(t, v, 0, &conf(ctx)->drain_timeout_ms);
}

/* RFC 9110 §5.6.2 tchar. */
static int is_tchar(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Via's received-by pseudonym is a token (RFC 9110 §7.6.3); "" is off. */
static int px_via(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len, i = 0;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    while (i < len && is_tchar(s[i]))
        i++;
    if (i < len || len > VIA_MAX)
        return rg_yt_err(t, v,
                         "must be an HTTP token of at most %d "
                         "characters, or \"\" for none",
                         VIA_MAX);
    return rg_yt_str(t, v, &conf(ctx)->via);
}

static int px_server(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len, i = 0;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    while (i < len && s[i] >= 0x20 && s[i] <= 0x7e)
        i++;
    if (i < len || len > SERVER_MAX)
        return rg_yt_err(t, v,
                         "must be printable ASCII of at most %d "
                         "characters, or \"\" for none",
                         SERVER_MAX);
    return rg_yt_str(t, v, &conf(ctx)->server);
}

/* ---- proxy TLS ---- */

static int px_tls_listen(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_listen(t, v, &conf(ctx)->proxy_tls_listen);
}

PATH_KEY(px_tls_certificate, proxy_tls_certificate)
PATH_KEY(px_tls_certificate_key, proxy_tls_certificate_key)

/* One protocol name, or several separated by spaces. */
static int tls_protocol_words(struct rg_yt *t, yaml_node_t *n, unsigned *bits)
{
    const char *s;
    size_t len, i = 0;
    int rv = rg_yt_scalar(t, n, &s, &len);

    if (rv < 0)
        return rv;
    while (i < len) {
        size_t j = i;

        while (j < len && s[j] != ' ')
            j++;
        if (j - i == 7 && memcmp(s + i, "TLSv1.2", 7) == 0)
            *bits |= RG_TLS_V12;
        else if (j - i == 7 && memcmp(s + i, "TLSv1.3", 7) == 0)
            *bits |= RG_TLS_V13;
        else if (j > i)
            return rg_yt_err(t, n,
                             "must be TLSv1.2, TLSv1.3 or both (older "
                             "protocols are not offered)");
        i = j + 1;
    }
    return 0;
}

static int tls_protocol_item(struct rg_yt *t, yaml_node_t *item, size_t i,
                             void *ctx)
{
    (void)i;
    return tls_protocol_words(t, item, &conf(ctx)->proxy_tls_protocols);
}

static int px_tls_protocols(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    int rv;

    conf(ctx)->proxy_tls_protocols = 0;
    rv = v->type == YAML_SEQUENCE_NODE
             ? rg_yt_seq(t, v, tls_protocol_item, ctx)
             : tls_protocol_words(t, v, &conf(ctx)->proxy_tls_protocols);
    if (rv == 0 && conf(ctx)->proxy_tls_protocols == 0)
        return rg_yt_err(t, v, "must name TLSv1.2, TLSv1.3 or both");
    return rv;
}

PATH_KEY(px_upstream_ca_file, proxy_upstream_ca_file)

static int px_tls_ciphers(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_str(t, v, &conf(ctx)->proxy_tls_ciphers);
}

void rg_node_conf_proxy_tls(const struct rg_node_conf *nc,
                            struct rg_tls_server_conf *tc)
{
    memset(tc, 0, sizeof(*tc));
    tc->cert_file = nc->proxy_tls_certificate;
    tc->key_file = nc->proxy_tls_certificate_key;
    tc->protocols = nc->proxy_tls_protocols;
    tc->ciphers = nc->proxy_tls_ciphers;
    tc->key_prefix = "proxy";
}

void rg_node_conf_admin_tls(const struct rg_node_conf *nc,
                            struct rg_tls_server_conf *tc)
{
    memset(tc, 0, sizeof(*tc));
    tc->cert_file = nc->admin_tls_certificate;
    tc->key_file = nc->admin_tls_certificate_key;
    tc->key_prefix = "admin";
}

void rg_node_conf_admin_fwd_tls(const struct rg_node_conf *nc,
                                struct rg_tls_client_conf *cc)
{
    memset(cc, 0, sizeof(*cc));
    cc->verify = 1;
    cc->ca_file = nc->admin_tls_ca_file;
}

/* One listener's files (and cipher list) checked now, so that a bad one
 * is a config error naming its key (at start, on SIGHUP and with -t). */
static int check_tls_files(const struct rg_tls_server_conf *tc,
                           struct rg_errbuf *eb)
{
    struct rg_tls_server *s;
    int self_signed;

    if (tc->key_file != NULL && tc->cert_file == NULL)
        return rg_errbuf_set(eb,
                             "%s.tls_certificate: required with "
                             "%s.tls_certificate_key",
                             tc->key_prefix, tc->key_prefix);
    if (tc->cert_file == NULL && tc->ciphers == NULL)
        return 0; /* nothing a self-signed context could refuse */
    s = rg_tls_server_new(tc, &self_signed, eb);
    if (s == NULL)
        return -EINVAL;
    rg_tls_server_free(s);
    return 0;
}

/* The CAs that admin forwarding trusts: loadable, and only with admin
 * TLS on (forwarding speaks the scheme of this node's own listener). */
static int check_admin_fwd_tls(const struct rg_node_conf *nc,
                               struct rg_errbuf *eb)
{
    struct rg_tls_client_conf cc;
    struct rg_tls_client *c;
    struct rg_errbuf inner;

    if (nc->admin_tls_ca_file != NULL && nc->admin_tls_certificate == NULL)
        return rg_errbuf_set(eb, "admin.tls_ca_file: needs "
                                 "admin.tls_certificate (admin TLS on)");
    if (nc->admin_tls_certificate == NULL || !nc->cluster)
        return 0;
    rg_node_conf_admin_fwd_tls(nc, &cc);
    c = rg_tls_client_new(&cc, &inner);
    if (c == NULL)
        return rg_errbuf_set(eb, "admin.tls_ca_file: %s", inner.msg);
    rg_tls_client_free(c);
    return 0;
}

static int check_tls(struct rg_node_conf *nc, struct rg_errbuf *eb)
{
    struct rg_tls_server_conf tc;
    int rv;

    /* SO_REUSEPORT would let the two proxy listeners share one port. */
    if (nc->proxy_tls_listen != NULL &&
        strcmp(nc->proxy_tls_listen, nc->proxy_listen) == 0)
        return rg_errbuf_set(eb, "proxy.tls_listen: must differ from "
                                 "proxy.listen");
    rg_node_conf_proxy_tls(nc, &tc);
    rv = check_tls_files(&tc, eb);
    if (rv != 0)
        return rv;
    rg_node_conf_admin_tls(nc, &tc);
    rv = check_tls_files(&tc, eb);
    if (rv != 0)
        return rv;
    return check_admin_fwd_tls(nc, eb);
}

/* clang-format off */
static const struct rg_yt_key proxy_keys[] = {
    {"listen", px_listen},
    {"workers", px_workers},
    {"max_connections", px_max_connections},
    {"header_timeout", px_header_timeout},
    {"idle_timeout", px_idle_timeout},
    {"max_header_size", px_max_header_size},
    {"max_body_size", px_max_body_size},
    {"upstream_keepalive", px_upstream_keepalive},
    {"upstream_keepalive_max", px_upstream_keepalive_max},
    {"trusted_ips", px_trusted_ips},
    {"upstream_idle_timeout", px_upstream_idle},
    {"drain_timeout", px_drain_timeout},
    {"via", px_via},
    {"server", px_server},
    {"tls_listen", px_tls_listen},
    {"tls_certificate", px_tls_certificate},
    {"tls_certificate_key", px_tls_certificate_key},
    {"tls_protocols", px_tls_protocols},
    {"tls_ciphers", px_tls_ciphers},
    {"upstream_ca_file", px_upstream_ca_file},
    {NULL, NULL},
};
/* clang-format on */

/* ---- admin:, status: ---- */

static int admin_listen(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_listen(t, v, &conf(ctx)->admin_listen);
}

/* A bearer token: printable ASCII without spaces (RFC 6750 §2.1 allows
 * less; we only refuse what cannot travel in the header). */
static int admin_token(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len, i = 0;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    while (i < len && s[i] > 0x20 && s[i] < 0x7f)
        i++;
    if (len == 0 || i < len || len > TOKEN_MAX)
        return rg_yt_err(t, v,
                         "must be 1..%d printable ASCII characters "
                         "without spaces",
                         TOKEN_MAX);
    return rg_yt_str(t, v, &conf(ctx)->admin_token);
}

static int status_listen(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_listen(t, v, &conf(ctx)->status_listen);
}

/* obs: whether /ready answers 200 while degraded (control/readiness.h). */
static int status_ready_degraded(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &conf(ctx)->status_ready_when_degraded);
}

PATH_KEY(admin_tls_certificate, admin_tls_certificate)
PATH_KEY(admin_tls_certificate_key, admin_tls_certificate_key)
PATH_KEY(admin_tls_ca_file, admin_tls_ca_file)

/* clang-format off */
static const struct rg_yt_key admin_keys[] = {
    {"listen", admin_listen},
    {"token", admin_token},
    {"tls_certificate", admin_tls_certificate},
    {"tls_certificate_key", admin_tls_certificate_key},
    {"tls_ca_file", admin_tls_ca_file},
    {NULL, NULL},
};
/* clang-format on */

/* clang-format off */
static const struct rg_yt_key status_keys[] = {
    {"listen", status_listen},
    {"ready_when_degraded", status_ready_degraded},
    {NULL, NULL},
};
/* clang-format on */

/* ---- log: ---- */

static int log_level(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    enum rg_log_level level;
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    if (rg_log_level_parse(s, &level) < 0)
        return rg_yt_err(t, v,
                         "must be one of error, warn, notice, info, "
                         "debug");
    return rg_yt_str(t, v, &conf(ctx)->log_level);
}

static int log_error_log(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct node_ctx *c = ctx;
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv == 0 && strcmp(s, "stderr") == 0)
        return rg_yt_str(t, v, &c->nc->error_log);
    return rv < 0 ? rv : read_path(t, v, c->dir, &c->nc->error_log);
}

static int log_access_log(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct node_ctx *c = ctx;
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv == 0 && strcmp(s, "off") == 0) {
        rg_free(c->nc->access_log);
        c->nc->access_log = NULL;
        return 0;
    }
    return rv < 0 ? rv : read_path(t, v, c->dir, &c->nc->access_log);
}

/* clang-format off */
static const struct rg_yt_key log_keys[] = {
    {"level", log_level},
    {"error_log", log_error_log},
    {"access_log", log_access_log},
    {NULL, NULL},
};
/* clang-format on */

/* ---- gateway: ---- */

static int gw_declarative(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct node_ctx *c = ctx;

    return read_path(t, v, c->dir, &c->nc->declarative_config);
}

/* clang-format off */
static const struct rg_yt_key gateway_keys[] = {
    {"declarative_config", gw_declarative},
    {NULL, NULL},
};
/* clang-format on */

/* ---- node: ---- */

static int node_id(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 1, ID_MAX, &x);

    if (rv == 0)
        conf(ctx)->node_id = (uint64_t)x;
    return rv;
}

static int is_name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

static int node_name(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len, i = 0;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    while (i < len && is_name_char(s[i]))
        i++;
    if (len == 0 || i < len || len > NAME_MAX_LEN)
        return rg_yt_err(t, v,
                         "must be 1..%d letters, digits, '.', '_' or '-'",
                         NAME_MAX_LEN);
    return rg_yt_str(t, v, &conf(ctx)->node_name);
}

/* clang-format off */
static const struct rg_yt_key node_keys[] = {
    {"id", node_id},
    {"name", node_name},
    {NULL, NULL},
};
/* clang-format on */

/* ---- raft: ---- */

/* A host name (RFC 1123 letters, digits, '-' and '.'). */
static int hostname_ok(const char *s, size_t len)
{
    if (len == 0 || len > HOSTNAME_MAX || s[0] == '-' || s[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
            return 0;
    }
    return 1;
}

/* "host:port" for libraft's TCP transport: an IPv4 literal or a host
 * name (it resolves with AF_INET only, so no IPv6), port 1..65535. */
static int raft_addr_ok(const char *s, size_t len)
{
    const char *colon = memchr(s, ':', len);
    size_t hl;
    long port = 0;

    if (colon == NULL || colon == s + len - 1 || s + len - colon > 6)
        return 0;
    for (const char *p = colon + 1; p < s + len; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        port = port * 10 + (*p - '0');
    }
    hl = (size_t)(colon - s);
    return port >= 1 && port <= 65535 && hostname_ok(s, hl);
}

static int read_raft_addr(struct rg_yt *t, yaml_node_t *n, char **out)
{
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, n, &s, &len);

    if (rv < 0)
        return rv;
    if (!raft_addr_ok(s, len))
        return rg_yt_err(t, n,
                         "must be \"host:port\" with an IPv4 address or a "
                         "host name and a port in 1..65535");
    return rg_yt_str(t, n, out);
}

static int raft_listen(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_raft_addr(t, v, &conf(ctx)->raft_listen);
}

static int raft_data_dir(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct node_ctx *c = ctx;

    return read_path(t, v, c->dir, &c->nc->raft_data_dir);
}

/* The voter being parsed is the last one of nc->raft_voters. */
static struct rg_node_voter *cur_voter(void *ctx)
{
    struct rg_node_conf *nc = conf(ctx);

    return &nc->raft_voters[nc->raft_n_voters - 1];
}

static int voter_id(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct rg_node_conf *nc = conf(ctx);
    long long x;
    int rv = rg_yt_int(t, v, 1, ID_MAX, &x);

    if (rv < 0)
        return rv;
    for (unsigned i = 0; i + 1 < nc->raft_n_voters; i++) {
        if (nc->raft_voters[i].id == (uint64_t)x)
            return rg_yt_err(t, v, "duplicate id %lld (also voters[%u])", x,
                             i);
    }
    cur_voter(ctx)->id = (uint64_t)x;
    return 0;
}

static int voter_address(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct rg_node_conf *nc = conf(ctx);
    struct rg_node_voter *me = cur_voter(ctx);
    int rv = read_raft_addr(t, v, &me->address);

    if (rv < 0)
        return rv;
    for (unsigned i = 0; i + 1 < nc->raft_n_voters; i++) {
        if (strcmp(nc->raft_voters[i].address, me->address) == 0)
            return rg_yt_err(t, v, "duplicate address (also voters[%u])", i);
    }
    return 0;
}

/* clang-format off */
static const struct rg_yt_key voter_keys[] = {
    {"id", voter_id},
    {"address", voter_address},
    {NULL, NULL},
};
/* clang-format on */

static int voter_item(struct rg_yt *t, yaml_node_t *item, size_t i,
                      void *ctx)
{
    struct rg_node_conf *nc = conf(ctx);
    int rv;

    (void)i;
    nc->raft_n_voters++; /* the slot was zeroed by voters() */
    rv = rg_yt_map(t, item, voter_keys, ctx);
    if (rv < 0)
        return rv;
    if (cur_voter(ctx)->id == 0)
        return rg_yt_err(t, item, "id is required");
    if (cur_voter(ctx)->address == NULL)
        return rg_yt_err(t, item, "address is required");
    return 0;
}

static int raft_voters(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct node_ctx *c = ctx;
    size_t n = 0;

    if (v->type == YAML_SEQUENCE_NODE)
        n = (size_t)(v->data.sequence.items.top -
                     v->data.sequence.items.start);
    c->voters = v;
    c->nc->raft_voters = rg_calloc(n > 0 ? n : 1, sizeof(struct rg_node_voter));
    if (c->nc->raft_voters == NULL)
        return rg_yt_nomem(t);
    return rg_yt_seq(t, v, voter_item, ctx);
}

static int raft_join(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &conf(ctx)->raft_join);
}

static int raft_election(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_duration(t, v, 10, &conf(ctx)->raft_election_ms);
}

static int raft_heartbeat(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_duration(t, v, 1, &conf(ctx)->raft_heartbeat_ms);
}

static int raft_snapshot_threshold(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_uint(t, v, 16, 2147483647, &conf(ctx)->raft_snapshot_threshold);
}

static int raft_quota_lease(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_duration(t, v, 50, &conf(ctx)->raft_quota_lease_ms);
}

static int raft_quota_debug(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &conf(ctx)->raft_quota_debug_header);
}

/* auth: the cluster key, read now so a bad file is a config error. */
static int raft_cluster_key_file(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct node_ctx *c = ctx;
    struct rg_node_conf *nc = c->nc;
    int rv = read_path(t, v, c->dir, &nc->raft_cluster_key_file);

    if (rv < 0)
        return rv;
    if (nc->raft_cluster_key != NULL)
        rg_secret_free(nc->raft_cluster_key, nc->raft_cluster_key_len);
    nc->raft_cluster_key = NULL;
    rv = rg_secret_read(nc->raft_cluster_key_file, RG_CLUSTER_KEY_MIN,
                        RG_CLUSTER_KEY_MAX, &nc->raft_cluster_key,
                        &nc->raft_cluster_key_len);
    if (rv == -ENOMEM)
        return rg_yt_nomem(t);
    if (rv == -ERANGE)
        return rg_yt_err(t, v,
                         "%s must hold %d..%d bytes of secret (make one "
                         "with: head -c 32 /dev/urandom > FILE)",
                         nc->raft_cluster_key_file, RG_CLUSTER_KEY_MIN,
                         RG_CLUSTER_KEY_MAX);
    if (rv < 0)
        return rg_yt_err(t, v, "%s: %s", nc->raft_cluster_key_file,
                         strerror(-rv));
    return 0;
}

/* clang-format off */
static const struct rg_yt_key raft_keys[] = {
    {"listen", raft_listen},
    {"data_dir", raft_data_dir},
    {"voters", raft_voters},
    {"join", raft_join},
    {"election_timeout", raft_election},
    {"heartbeat_timeout", raft_heartbeat},
    {"snapshot_threshold", raft_snapshot_threshold},
    {"quota_lease_ms", raft_quota_lease},
    {"quota_debug_header", raft_quota_debug},
    {"cluster_key_file", raft_cluster_key_file},
    {NULL, NULL},
};
/* clang-format on */

/* 1 when the voters list this node with its raft.listen address. */
static int voters_list_self(const struct rg_node_conf *nc)
{
    for (unsigned i = 0; i < nc->raft_n_voters; i++) {
        if (nc->raft_voters[i].id == nc->node_id)
            return strcmp(nc->raft_voters[i].address, nc->raft_listen) == 0;
    }
    return 0;
}

/* Rules that span keys, checked once the whole file is read; errors name
 * the raft: section (or raft.voters). */
static int check_cluster(struct rg_yt *t, struct node_ctx *c)
{
    struct rg_node_conf *nc = c->nc;
    size_t mark = rg_yt_push_key(t, "raft", 4);
    int rv = 0;

    if (nc->node_id == 0)
        rv = rg_yt_err(t, c->raft, "node.id is required in cluster mode");
    else if (nc->raft_listen == NULL)
        rv = rg_yt_err(t, c->raft, "listen is required");
    else if (nc->raft_heartbeat_ms >= nc->raft_election_ms)
        rv = rg_yt_err(t, c->raft,
                       "heartbeat_timeout (%u ms) must be less than "
                       "election_timeout (%u ms)",
                       nc->raft_heartbeat_ms, nc->raft_election_ms);
    else if (!nc->raft_join && nc->raft_n_voters == 0)
        rv = rg_yt_err(t, c->voters != NULL ? c->voters : c->raft,
                       "voters is required unless join is true");
    else if (!nc->raft_join && !voters_list_self(nc)) {
        rg_yt_push_key(t, "voters", 6);
        rv = rg_yt_err(t, c->voters,
                       "must list this node (id %llu) with the address in "
                       "raft.listen (\"%s\")",
                       (unsigned long long)nc->node_id, nc->raft_listen);
    }
    rg_yt_pop(t, mark);
    return rv;
}

/* ---- consul: ---- */

static int consul_address(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s, *rest;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    rest = strncmp(s, "http://", 7) == 0    ? s + 7
           : strncmp(s, "https://", 8) == 0 ? s + 8
                                            : NULL;
    if (rest == NULL || rest[0] == '\0' || rest[0] == '/' ||
        strpbrk(rest, "?#@ \t") != NULL ||
        (strchr(rest, '/') != NULL && strcmp(strchr(rest, '/'), "/") != 0))
        return rg_yt_err(t, v, "must be an http:// or https:// URL of the "
                               "agent, like \"http://127.0.0.1:8500\"");
    return rg_yt_str(t, v, &conf(ctx)->consul_address);
}

static int consul_token(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len, i = 0;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    while (i < len && s[i] > 0x20 && s[i] < 0x7f)
        i++;
    if (len == 0 || i < len || len > TOKEN_MAX)
        return rg_yt_err(t, v, "must be 1..%d printable ASCII characters "
                               "without spaces", TOKEN_MAX);
    return rg_yt_str(t, v, &conf(ctx)->consul_token);
}

/* DNS labels of [A-Za-z0-9_-] joined by dots (one label when !@dots). */
static int labels_ok(const char *s, size_t len, int dots)
{
    size_t run = 0;

    for (size_t i = 0; i < len; i++) {
        char ch = s[i];

        if (ch == '.' && dots && run > 0) {
            run = 0;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '_') ||
            ++run > 63)
            return 0;
    }
    return len > 0 && run > 0 && len <= HOSTNAME_MAX;
}

static int consul_label(struct rg_yt *t, yaml_node_t *v, int dots, char **out)
{
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    if (!labels_ok(s, len, dots))
        return rg_yt_err(t, v, dots ? "must be DNS labels of [A-Za-z0-9_-] "
                                      "joined by dots"
                                    : "must be one DNS label of "
                                      "[A-Za-z0-9_-]");
    return rg_yt_str(t, v, out);
}

static int consul_datacenter(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return consul_label(t, v, 0, &conf(ctx)->consul_datacenter);
}

static int consul_domain(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return consul_label(t, v, 1, &conf(ctx)->consul_domain);
}

static int consul_wait(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    uint32_t ms;
    int rv = read_duration(t, v, 1000, &ms);

    if (rv < 0)
        return rv;
    if (ms > 600000)
        return rg_yt_err(t, v, "must be at most 10m (Consul's limit)");
    conf(ctx)->consul_wait_ms = ms;
    return 0;
}

/* clang-format off */
static const struct rg_yt_key consul_keys[] = {
    {"address", consul_address},
    {"token", consul_token},
    {"datacenter", consul_datacenter},
    {"domain", consul_domain},
    {"wait", consul_wait},
    {NULL, NULL},
};
/* clang-format on */

/* ---- The root ---- */

static int sec_proxy(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, proxy_keys, ctx);
}

static int sec_admin(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, admin_keys, ctx);
}

static int sec_status(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, status_keys, ctx);
}

static int sec_log(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, log_keys, ctx);
}

static int sec_gateway(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, gateway_keys, ctx);
}

static int sec_node(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, node_keys, ctx);
}

static int sec_consul(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, consul_keys, ctx);
}

static int sec_raft(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct node_ctx *c = ctx;

    c->nc->cluster = 1;
    c->raft = v;
    return rg_yt_map(t, v, raft_keys, ctx);
}

/* clang-format off */
static const struct rg_yt_key root_keys[] = {
    {"proxy", sec_proxy},
    {"admin", sec_admin},
    {"status", sec_status},
    {"log", sec_log},
    {"gateway", sec_gateway},
    {"node", sec_node},
    {"raft", sec_raft},
    {"consul", sec_consul},
    {NULL, NULL},
};
/* clang-format on */

/* The absolute folder holding @path, in a fresh string: 0 or -errno. */
static int folder_of(const char *path, char **out)
{
    const char *slash = strrchr(path, '/');
    size_t dl = slash == NULL ? 0 : (size_t)(slash - path);
    char cwd[PATH_MAX];
    size_t cl = 0;
    char *d;

    if (slash == path)
        dl = 1; /* "/x.yml" lives in "/" */
    if (path[0] != '/') {
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return -errno;
        cl = strlen(cwd);
    }
    d = rg_malloc(cl + 1 + dl + 1);
    if (d == NULL)
        return -ENOMEM;
    memcpy(d, cwd, cl);
    if (cl > 0 && dl > 0 && cwd[cl - 1] != '/')
        d[cl++] = '/';
    memcpy(d + cl, path, dl);
    d[cl + dl] = '\0';
    *out = d;
    return 0;
}

static int parse_text(struct rg_node_conf *nc, const char *text, size_t len,
                      const char *dir, struct rg_errbuf *eb)
{
    struct node_ctx c = {nc, dir, NULL, NULL};
    struct rg_yt t;
    yaml_node_t *root;
    int rv = rg_yt_load(&t, text, len, eb);

    if (rv < 0)
        return rv;
    root = rg_yt_root(&t);
    if (root != NULL && !rg_yt_is_null(root))
        rv = rg_yt_map(&t, root, root_keys, &c);
    if (rv == 0 && nc->cluster)
        rv = check_cluster(&t, &c);
    if (rv == 0)
        rv = check_tls(nc, eb);
    rg_yt_release(&t);
    return rv;
}

int rg_node_conf_load(struct rg_node_conf *nc, const char *path,
                      struct rg_errbuf *eb)
{
    struct rg_errbuf inner;
    char *text = NULL;
    char *dir = NULL;
    size_t len;
    int rv = rg_node_conf_defaults(nc);

    if (rv < 0) {
        rg_errbuf_set(eb, "out of memory");
        return rv;
    }
    rv = folder_of(path, &dir);
    if (rv < 0) {
        rg_errbuf_set(eb, "%s: cannot find its folder: %s", path,
                      strerror(-rv));
        goto err_after_defaults;
    }
    rv = rg_yt_read_file(path, NODE_FILE_MAX, &text, &len);
    if (rv < 0) {
        rg_errbuf_set(eb, "%s: %s", path,
                      rv == -EFBIG ? "larger than 1 MiB" : strerror(-rv));
        goto err_after_dir;
    }
    rv = parse_text(nc, text, len, dir, &inner);
    rg_free(text);
    if (rv < 0) {
        rg_errbuf_set(eb, "%s: %s", path, inner.msg);
        goto err_after_dir;
    }
    rg_free(dir);
    return 0;

err_after_dir:
    rg_free(dir);
err_after_defaults:
    rg_node_conf_release(nc);
    return rv;
}

int rg_node_conf_defaults(struct rg_node_conf *nc)
{
    const struct {
        char **field;
        const char *value;
    } strs[] = {
        {&nc->proxy_listen, "0.0.0.0:8000"},
        {&nc->via, "raftgate"},
        {&nc->server, "raftgate"},
        {&nc->admin_listen, "127.0.0.1:8001"},
        {&nc->status_listen, "127.0.0.1:8100"},
        {&nc->error_log, "stderr"},
        {&nc->log_level, "info"},
        {&nc->raft_data_dir, "/var/lib/raftgate"},
        {&nc->consul_address, "http://127.0.0.1:8500"},
        {&nc->consul_domain, "consul"},
    };

    memset(nc, 0, sizeof(*nc));
    nc->workers = 0;
    nc->max_connections = 16384;
    nc->status_ready_when_degraded = 1;
    nc->header_timeout_ms = 10000;
    nc->idle_timeout_ms = 60000;
    nc->max_header_size = 32768;
    nc->max_body_size = 0;
    nc->upstream_keepalive = 64;
    nc->upstream_keepalive_max = 1024;
    nc->upstream_idle_ms = 60000;
    nc->drain_timeout_ms = 10000;
    nc->raft_election_ms = 1000;
    nc->raft_heartbeat_ms = 100;
    nc->raft_snapshot_threshold = 8192;
    nc->consul_wait_ms = 60000;
    nc->raft_quota_lease_ms = 2000;
    nc->proxy_tls_protocols = RG_TLS_V12 | RG_TLS_V13;
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        *strs[i].field = rg_strdup(strs[i].value);
        if (*strs[i].field == NULL) {
            rg_node_conf_release(nc);
            return -ENOMEM;
        }
    }
    return 0;
}

void rg_node_conf_release(struct rg_node_conf *nc)
{
    rg_free(nc->proxy_listen);
    rg_free(nc->via);
    rg_free(nc->server);
    rg_free(nc->proxy_tls_listen);
    rg_free(nc->proxy_tls_certificate);
    rg_free(nc->proxy_tls_certificate_key);
    rg_free(nc->proxy_tls_ciphers);
    rg_free(nc->proxy_upstream_ca_file);
    rg_free(nc->admin_listen);
    rg_free(nc->status_listen);
    rg_free(nc->error_log);
    rg_free(nc->log_level);
    rg_free(nc->access_log);
    rg_free(nc->declarative_config);
    rg_free(nc->admin_token);
    rg_free(nc->admin_tls_certificate);
    rg_free(nc->admin_tls_certificate_key);
    rg_free(nc->admin_tls_ca_file);
    rg_free(nc->node_name);
    rg_free(nc->raft_listen);
    rg_free(nc->raft_data_dir);
    rg_free(nc->raft_cluster_key_file);
    if (nc->raft_cluster_key != NULL)
        rg_secret_free(nc->raft_cluster_key, nc->raft_cluster_key_len);
    for (unsigned i = 0; i < nc->raft_n_voters; i++)
        rg_free(nc->raft_voters[i].address);
    rg_free(nc->raft_voters);
    rg_cidrs_release(&nc->trusted_ips);
    rg_free(nc->consul_address);
    rg_free(nc->consul_token);
    rg_free(nc->consul_datacenter);
    rg_free(nc->consul_domain);
    memset(nc, 0, sizeof(*nc));
}
