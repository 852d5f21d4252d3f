/* TLS engine over memory BIOs; see tls.h. */
#include "core/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/alloc.h"

#define SESSION_CACHE_SIZE 20480 /* sessions (nginx's 1 MB holds ~4000) */
#define SELF_SIGNED_DAYS 365

struct rg_tls_server {
    SSL_CTX *ctx;
    rg_tls_sni_fn sni;
};

struct rg_tls_cert {
    X509 *leaf;
    STACK_OF(X509) * chain; /* intermediates, may be empty */
    EVP_PKEY *key;
};

struct rg_tls_ca {
    X509 *x;
};

struct rg_tls {
    SSL *ssl;
    BIO *rbio; /* ciphertext from the peer; SSL reads it */
    BIO *wbio; /* ciphertext to the peer; SSL writes it */
    char err[128];
};

/* The oldest queued OpenSSL error as text, into @buf (a failed fopen is
 * its errno's text). Clears the queue. */
static const char *ssl_reason(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

    if (e != 0 && ERR_SYSTEM_ERROR(e))
        r = strerror(ERR_GET_REASON(e));

    snprintf(buf, cap, "%s", r != NULL ? r : "unknown error");
    ERR_clear_error();
    return buf;
}

static int is_mismatch(unsigned long e)
{
    return ERR_GET_LIB(e) == ERR_LIB_X509 &&
           ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH;
}

/* Whether the queued error says a private key does not match its
 * certificate (SSL_CTX_use_PrivateKey_file checks that itself). */
static int key_mismatch(void)
{
    return is_mismatch(ERR_peek_error()) || is_mismatch(ERR_peek_last_error());
}

/* ALPN: only http/1.1 (this gateway speaks HTTP/1.1 to clients). */
static int alpn_select(SSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *sel;

    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* Give @x a random positive serial, a validity from an hour ago for
 * SELF_SIGNED_DAYS, the subject (and issuer) O=raftgate, CN=localhost and
 * the public key of @pk: 1, or 0 with OpenSSL's reason queued. */
static int self_signed_fields(X509 *x, EVP_PKEY *pk)
{
    static const struct {
        const char *field, *value;
    } rdn[] = {{"O", "raftgate"}, {"CN", "localhost"}};
    unsigned char serial[8];
    BIGNUM *bn = NULL;
    X509_NAME *name = X509_get_subject_name(x);
    int ok;

    if (RAND_bytes(serial, sizeof(serial)) != 1)
        return 0;
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    ok = ok && X509_set_version(x, 2) == 1 &&
         X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL &&
         X509_gmtime_adj(X509_getm_notAfter(x), 86400L * SELF_SIGNED_DAYS) !=
             NULL;
    for (size_t i = 0; ok && i < sizeof(rdn) / sizeof(rdn[0]); i++)
        ok = X509_NAME_add_entry_by_txt(name, rdn[i].field, MBSTRING_ASC,
                                        (const unsigned char *)rdn[i].value, -1,
                                        -1, 0) == 1;
    return ok && X509_set_issuer_name(x, name) == 1 &&
           X509_set_pubkey(x, pk) == 1;
}

/* A self-signed certificate for @pk (borrowed) with localhost's names, or
 * NULL with OpenSSL's reason queued. */
static X509 *self_signed_cert(EVP_PKEY *pk)
{
    X509 *x = X509_new();
    X509_EXTENSION *ext = NULL;
    X509V3_CTX v3;
    int ok = x != NULL && self_signed_fields(x, pk);

    if (ok) {
        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
                                  "DNS:localhost,IP:127.0.0.1,IP:::1");
        ok = ext != NULL && X509_add_ext(x, ext, -1) == 1 &&
             X509_sign(x, pk, EVP_sha256()) != 0;
    }
    X509_EXTENSION_free(ext);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static int use_self_signed(SSL_CTX *ctx, struct rg_errbuf *eb)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = pk != NULL ? self_signed_cert(pk) : NULL;
    int ok = x != NULL && SSL_CTX_use_certificate(ctx, x) == 1 &&
             SSL_CTX_use_PrivateKey(ctx, pk) == 1;
    char why[128];

    X509_free(x);
    EVP_PKEY_free(pk);
    if (!ok)
        return rg_errbuf_set(eb, "generating a self-signed certificate: %s",
                             ssl_reason(why, sizeof(why)));
    return 0;
}

static int use_files(SSL_CTX *ctx, const struct rg_tls_server_conf *conf,
                     struct rg_errbuf *eb)
{
    char why[128];
    int key_ok;

    if (conf->key_file == NULL)
        return rg_errbuf_set(eb,
                             "%s.tls_certificate_key: required with "
                             "%s.tls_certificate",
                             conf->key_prefix, conf->key_prefix);
    if (SSL_CTX_use_certificate_chain_file(ctx, conf->cert_file) != 1)
        return rg_errbuf_set(eb,
                             "%s.tls_certificate: %s: cannot read a PEM "
                             "certificate (%s)",
                             conf->key_prefix, conf->cert_file,
                             ssl_reason(why, sizeof(why)));
    key_ok = SSL_CTX_use_PrivateKey_file(ctx, conf->key_file,
                                         SSL_FILETYPE_PEM) == 1;
    if (!key_ok && !key_mismatch())
        return rg_errbuf_set(eb,
                             "%s.tls_certificate_key: %s: cannot read a "
                             "PEM private key (%s)",
                             conf->key_prefix, conf->key_file,
                             ssl_reason(why, sizeof(why)));
    if (!key_ok || SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        return rg_errbuf_set(eb,
                             "%s.tls_certificate_key: %s: does not match "
                             "the certificate in %s",
                             conf->key_prefix, conf->key_file, conf->cert_file);
    }
    return 0;
}

static int set_protocols(SSL_CTX *ctx, unsigned protocols)
{
    if (protocols == 0)
        protocols = RG_TLS_V12 | RG_TLS_V13;
    return SSL_CTX_set_min_proto_version(ctx, protocols & RG_TLS_V12
                                                  ? TLS1_2_VERSION
                                                  : TLS1_3_VERSION) == 1 &&
           SSL_CTX_set_max_proto_version(ctx, protocols & RG_TLS_V13
                                                  ? TLS1_3_VERSION
                                                  : TLS1_2_VERSION) == 1;
}

struct rg_tls_cert *rg_tls_cert_new(const char *cert_pem, size_t cert_len,
                                    const char *key_pem, size_t key_len,
                                    int *bad_key, char *why, size_t cap)
{
    struct rg_tls_cert *c = rg_calloc(1, sizeof(*c));
    BIO *b = NULL;
    X509 *x;
    char r[128];

    *bad_key = 0;
    ERR_clear_error();
    if (c == NULL || (c->chain = sk_X509_new_null()) == NULL) {
        snprintf(why, cap, "out of memory");
        goto err;
    }
    b = BIO_new_mem_buf(cert_pem, (int)cert_len);
    c->leaf = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    if (c->leaf == NULL) {
        snprintf(why, cap, "not a PEM certificate (%s)",
                 ssl_reason(r, sizeof(r)));
        goto err;
    }
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(c->chain, x)) {
            X509_free(x);
            snprintf(why, cap, "out of memory");
            goto err;
        }
    }
    ERR_clear_error(); /* the end of the chain */
    BIO_free(b);
    *bad_key = 1;
    b = BIO_new_mem_buf(key_pem, (int)key_len);
    c->key = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    if (c->key == NULL) {
        snprintf(why, cap, "not a PEM private key (%s)",
                 ssl_reason(r, sizeof(r)));
        goto err;
    }
    if (X509_check_private_key(c->leaf, c->key) != 1) {
        ERR_clear_error();
        snprintf(why, cap, "does not match the certificate");
        goto err;
    }
    BIO_free(b);
    return c;
err:
    BIO_free(b);
    rg_tls_cert_free(c);
    return NULL;
}

struct rg_tls_ca *rg_tls_ca_new(const char *pem, size_t len,
                                char digest[RG_TLS_DIGEST_LEN + 1], char *why,
                                size_t cap)
{
    struct rg_tls_ca *ca = rg_calloc(1, sizeof(*ca));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    BIO *b = NULL;
    X509 *more;
    char r[128];

    ERR_clear_error();
    if (ca == NULL || len > INT_MAX ||
        (b = BIO_new_mem_buf(pem, (int)len)) == NULL) {
        snprintf(why, cap, "out of memory");
        goto err;
    }
    ca->x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    if (ca->x == NULL) {
        snprintf(why, cap, "not a PEM certificate (%s)",
                 ssl_reason(r, sizeof(r)));
        goto err;
    }
    if ((more = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        X509_free(more);
        snprintf(why, cap, "only one certificate at a time");
        goto err;
    }
    ERR_clear_error(); /* the end of the PEM text */
    if (X509_check_ca(ca->x) != 1) { /* 1: basicConstraints CA:TRUE */
        snprintf(why, cap, "not a CA certificate (no CA basic constraint)");
        goto err;
    }
    if (X509_digest(ca->x, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32) {
        snprintf(why, cap, "cannot compute its digest (%s)",
                 ssl_reason(r, sizeof(r)));
        goto err;
    }
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(digest + 2 * i, 3, "%02x", md[i]);
    BIO_free(b);
    return ca;
err:
    BIO_free(b);
    rg_tls_ca_free(ca);
    return NULL;
}

int rg_tls_ca_expired(const struct rg_tls_ca *ca)
{
    return X509_cmp_current_time(X509_get0_notAfter(ca->x)) <= 0;
}

void rg_tls_ca_free(struct rg_tls_ca *ca)
{
    if (ca == NULL)
        return;
    X509_free(ca->x);
    rg_free(ca);
}

/* Trust @conf's CA certificates alone in @ctx's store: 1, or 0. */
static int trust_cas(SSL_CTX *ctx, const struct rg_tls_client_conf *conf)
{
    X509_STORE *st = SSL_CTX_get_cert_store(ctx);

    for (size_t i = 0; i < conf->n_cas; i++)
        if (X509_STORE_add_cert(st, conf->cas[i]->x) != 1)
            return 0;
    return 1;
}

void rg_tls_cert_free(struct rg_tls_cert *c)
{
    if (c == NULL)
        return;
    X509_free(c->leaf);
    sk_X509_pop_free(c->chain, X509_free);
    EVP_PKEY_free(c->key);
    rg_free(c);
}

/* The ClientHello's server name picks the certificate (SNI). */
static int on_servername(SSL *ssl, int *al, void *arg)
{
    struct rg_tls_server *s = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const struct rg_tls_cert *c;

    (void)al;
    if (name == NULL || s->sni == NULL)
        return SSL_TLSEXT_ERR_OK;
    c = s->sni(SSL_get_app_data(ssl), name);
    if (c != NULL &&
        SSL_use_cert_and_key(ssl, c->leaf, c->key, c->chain, 1) != 1) {
        ERR_clear_error();
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

void rg_tls_server_set_sni(struct rg_tls_server *s, rg_tls_sni_fn fn)
{
    s->sni = fn;
}

struct rg_tls_server *rg_tls_server_new(const struct rg_tls_server_conf *conf,
                                        int *self_signed, struct rg_errbuf *eb)
{
    struct rg_tls_server *s = rg_calloc(1, sizeof(*s));
    char why[128];

    *self_signed = 0;
    ERR_clear_error();
    if (s == NULL || (s->ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
        rg_errbuf_set(eb, "out of memory");
        goto err;
    }
    if (!set_protocols(s->ctx, conf->protocols)) {
        rg_errbuf_set(eb, "%s.tls_protocols: %s", conf->key_prefix,
                      ssl_reason(why, sizeof(why)));
        goto err;
    }
    if (conf->ciphers != NULL &&
        SSL_CTX_set_cipher_list(s->ctx, conf->ciphers) != 1) {
        rg_errbuf_set(eb, "%s.tls_ciphers: \"%s\": no cipher matches (%s)",
                      conf->key_prefix, conf->ciphers,
                      ssl_reason(why, sizeof(why)));
        goto err;
    }
    if (conf->cert_file != NULL) {
        if (use_files(s->ctx, conf, eb) != 0)
            goto err;
    } else {
        if (use_self_signed(s->ctx, eb) != 0)
            goto err;
        *self_signed = 1;
    }
    SSL_CTX_set_options(s->ctx, SSL_OP_NO_RENEGOTIATION |
                                    SSL_OP_CIPHER_SERVER_PREFERENCE |
                                    SSL_OP_NO_COMPRESSION);
    /* No SSL_MODE_RELEASE_BUFFERS: freeing and taking the record buffers
     * per read cost keep-alive TLS req/s about a third in tls_bench
     * (tests/bench/README.md "TLS"); a connection holds them instead. */
    SSL_CTX_set_alpn_select_cb(s->ctx, alpn_select, NULL);
    SSL_CTX_set_tlsext_servername_callback(s->ctx, on_servername);
    SSL_CTX_set_tlsext_servername_arg(s->ctx, s);
    /* Resumption: tickets (on by default; OpenSSL draws their key when the
     * context is made) and a server-side cache for session ids. */
    SSL_CTX_set_session_id_context(s->ctx, (const unsigned char *)"raftgate",
                                   8);
    SSL_CTX_set_session_cache_mode(s->ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(s->ctx, SESSION_CACHE_SIZE);
    return s;
err:
    rg_tls_server_free(s);
    return NULL;
}

void rg_tls_server_free(struct rg_tls_server *s)
{
    if (s == NULL)
        return;
    SSL_CTX_free(s->ctx);
    rg_free(s);
}

static struct rg_tls *engine_new(SSL_CTX *ctx);

struct rg_tls *rg_tls_new_server(struct rg_tls_server *s, void *arg)
{
    struct rg_tls *t = engine_new(s->ctx);

    if (t == NULL)
        return NULL;
    SSL_set_accept_state(t->ssl);
    SSL_set_app_data(t->ssl, arg);
    return t;
}

void rg_tls_free(struct rg_tls *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl);
    rg_free(t);
}

int rg_tls_feed(struct rg_tls *t, const void *p, size_t n)
{
    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;
        int w = BIO_write(t->rbio, p, chunk);

        if (w <= 0)
            return -ENOMEM;
        p = (const char *)p + w;
        n -= (size_t)w;
    }
    return 0;
}

ssize_t rg_tls_read(struct rg_tls *t, char *buf, size_t cap)
{
    int n;

    if (cap == 0)
        return 0;
    ERR_clear_error();
    n = SSL_read(t->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    if (n > 0)
        return n;
    switch (SSL_get_error(t->ssl, n)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        return RG_TLS_EOF;
    default:
        ssl_reason(t->err, sizeof(t->err));
        return RG_TLS_ERROR;
    }
}

int rg_tls_write(struct rg_tls *t, const void *p, size_t n)
{
    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;
        int w;

        ERR_clear_error();
        w = SSL_write(t->ssl, p, chunk);
        if (w <= 0) {
            ssl_reason(t->err, sizeof(t->err));
            return RG_TLS_ERROR;
        }
        p = (const char *)p + w;
        n -= (size_t)w;
    }
    return 0;
}

void rg_tls_close(struct rg_tls *t)
{
    ERR_clear_error();
    if (SSL_is_init_finished(t->ssl))
        SSL_shutdown(t->ssl);
    ERR_clear_error();
}

size_t rg_tls_out(struct rg_tls *t, const char **p)
{
    char *data = NULL;
    long n = BIO_get_mem_data(t->wbio, &data);

    *p = data;
    return n > 0 ? (size_t)n : 0;
}

void rg_tls_out_done(struct rg_tls *t)
{
    (void)BIO_reset(t->wbio);
}

struct rg_tls_client {
    SSL_CTX *ctx;
};

struct rg_tls_client *rg_tls_client_new(const struct rg_tls_client_conf *conf,
                                        struct rg_errbuf *eb)
{
    static const unsigned char alpn[] = "\x08http/1.1";
    struct rg_tls_client *c = rg_calloc(1, sizeof(*c));
    const struct rg_tls_cert *cc = conf->client_cert;
    char why[128];
    int ok;

    ERR_clear_error();
    if (c == NULL || (c->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
        rg_errbuf_set(eb, "out of memory");
        goto err;
    }
    /* SSL_CTX_set_alpn_protos, unlike its neighbours, returns 0 on
     * success. */
    if (SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_alpn_protos(c->ctx, alpn, sizeof(alpn) - 1) != 0) {
        rg_errbuf_set(eb, "setting up the client context: %s",
                      ssl_reason(why, sizeof(why)));
        goto err;
    }
    /* A renegotiation would restart the handshake under a request. */
    SSL_CTX_set_options(c->ctx, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_verify(c->ctx, conf->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                       NULL);
    if (conf->verify_depth > 0)
        SSL_CTX_set_verify_depth(c->ctx, (int)conf->verify_depth);
    if (conf->verify && conf->n_cas > 0) {
        if (!trust_cas(c->ctx, conf)) {
            rg_errbuf_set(eb, "ca_certificates: %s",
                          ssl_reason(why, sizeof(why)));
            goto err;
        }
    } else if (conf->verify) {
        ok = conf->ca_file != NULL
                 ? SSL_CTX_load_verify_locations(c->ctx, conf->ca_file, NULL)
                 : SSL_CTX_set_default_verify_paths(c->ctx);
        if (ok != 1) {
            rg_errbuf_set(eb, "cannot read CA file %s (%s)",
                          conf->ca_file ? conf->ca_file : "(system store)",
                          ssl_reason(why, sizeof(why)));
            goto err;
        }
    }
    if (cc != NULL && (SSL_CTX_use_certificate(c->ctx, cc->leaf) != 1 ||
                       SSL_CTX_use_PrivateKey(c->ctx, cc->key) != 1 ||
                       SSL_CTX_set1_chain(c->ctx, cc->chain) != 1)) {
        rg_errbuf_set(eb, "client certificate: %s",
                      ssl_reason(why, sizeof(why)));
        goto err;
    }
    return c;
err:
    rg_tls_client_free(c);
    return NULL;
}

void rg_tls_client_free(struct rg_tls_client *c)
{
    if (c == NULL)
        return;
    SSL_CTX_free(c->ctx);
    rg_free(c);
}

/* A new engine over @ctx, BIOs attached; NULL out of memory. */
static struct rg_tls *engine_new(SSL_CTX *ctx)
{
    struct rg_tls *t = rg_calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    t->ssl = SSL_new(ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        rg_free(t);
        return NULL;
    }
    /* An empty BIO means "more to come", not EOF. */
    BIO_set_mem_eof_return(t->rbio, -1);
    BIO_set_mem_eof_return(t->wbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio); /* the SSL owns both now */
    return t;
}

struct rg_tls *rg_tls_new_client(struct rg_tls_client *c, const char *host)
{
    struct rg_tls *t = engine_new(c->ctx);
    unsigned char ip[16];
    int is_ip;

    if (t == NULL)
        return NULL;
    is_ip =
        inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    /* "*.example.com" matches one whole label, never "w*.example.com" */
    X509_VERIFY_PARAM_set_hostflags(SSL_get0_param(t->ssl),
                                    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if ((!is_ip && SSL_set_tlsext_host_name(t->ssl, host) != 1) ||
        (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host)
               : SSL_set1_host(t->ssl, host)) != 1) {
        rg_tls_free(t);
        return NULL;
    }
    SSL_set_connect_state(t->ssl);
    return t;
}

int rg_tls_handshake(struct rg_tls *t)
{
    int rv;

    ERR_clear_error();
    rv = SSL_do_handshake(t->ssl);
    if (rv == 1)
        return 1;
    switch (SSL_get_error(t->ssl, rv)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return 0;
    default:
        ssl_reason(t->err, sizeof(t->err));
        if (strcmp(t->err, "certificate verify failed") == 0)
            snprintf(
                t->err, sizeof(t->err), "certificate verify failed: %s",
                X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
        return RG_TLS_ERROR;
    }
}

ssize_t rg_tls_send(struct rg_tls *t, uv_stream_t *s, rg_io_cb cb, void *arg)
{
    const char *p;
    size_t n = rg_tls_out(t, &p);
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    ssize_t queued;

    if (n == 0)
        return 0;
    queued = rg_io_write(s, &b, 1, cb, arg);
    rg_tls_out_done(t); /* written, or copied by rg_io_write */
    return queued;
}

int rg_tls_established(const struct rg_tls *t)
{
    return SSL_is_init_finished(t->ssl);
}

const char *rg_tls_error(const struct rg_tls *t)
{
    return t->err[0] != '\0' ? t->err : "unknown error";
}

int rg_tls_looks_plain(const char *p, size_t n)
{
    return n > 0 && p[0] >= 'A' && p[0] <= 'Z';
}
