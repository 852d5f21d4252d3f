/* TLS with OpenSSL over memory BIOs: a server context (certificate,
 * protocols, ciphers, ALPN, session resumption) shared by the workers, and
 * a per-connection engine that never touches a socket. The caller reads
 * ciphertext from its stream and feeds it in, takes plaintext out, puts
 * plaintext in and writes the ciphertext it is given; so a handshake never
 * blocks a loop, and the libuv stream code stays as it is (http/conn.c). */
#ifndef RG_CORE_TLS_H
#define RG_CORE_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include "core/err.h"
#include "core/errbuf.h"
#include "core/io.h"

/* Protocol bits for rg_tls_server_conf.protocols. */
#define RG_TLS_V12 1u
#define RG_TLS_V13 2u

struct rg_tls_server_conf {
    const char *cert_file;  /* PEM chain, or NULL: a self-signed one */
    const char *key_file;   /* PEM private key; set with cert_file */
    unsigned protocols;     /* RG_TLS_V12 | RG_TLS_V13 (0 = both) */
    const char *ciphers;    /* TLS 1.2 cipher list (OpenSSL syntax), or
                               NULL for OpenSSL's default */
    const char *key_prefix; /* "proxy" or "admin": names the keys in
                               errors ("proxy.tls_certificate: ...") */
};

struct rg_tls_server;
struct rg_tls;
struct rg_tls_cert;

/* A certificate chain and its key, parsed from PEM text (borrowed): the
 * leaf first, then any intermediates. Returns NULL with the reason in
 * @why and *@bad_key 0 (the certificate is at fault) or 1 (the key: not
 * a PEM key, or not the certificate's). Immutable once made: any thread
 * may use it; it lives until rg_tls_cert_free, and a connection that
 * picked it holds its own references. */
struct rg_tls_cert *rg_tls_cert_new(const char *cert_pem, size_t cert_len,
                                    const char *key_pem, size_t key_len,
                                    int *bad_key, char *why, size_t cap);
void rg_tls_cert_free(struct rg_tls_cert *c);

/* Chooses the certificate for a ClientHello's server name @name (lower
 * case as the client sent it; never NULL), or NULL for the context's
 * default. @arg is the connection's (rg_tls_new_server). Called on the
 * connection's thread, inside rg_tls_read. */
typedef const struct rg_tls_cert *(*rg_tls_sni_fn)(void *arg, const char *name);

/* Build a server context from @conf (borrowed for the call). With no
 * certificate a self-signed one for "localhost" (EC P-256, 1 year) is
 * generated; *@self_signed says so (the caller logs the WARN). Session
 * resumption: TLS tickets under a key OpenSSL draws at random here (so
 * tickets do not survive a restart) plus a server-side session cache.
 * ALPN: offers only "http/1.1" (a client offering only others gets no
 * ALPN, not a failure, as nginx does).
 * Returns NULL with @eb naming the key and the file: "proxy.
 * tls_certificate_key: /etc/k.pem: cannot read a private key (...)".
 * Thread: any; the result may be shared by all threads (SSL_CTX is). */
struct rg_tls_server *rg_tls_server_new(const struct rg_tls_server_conf *conf,
                                        int *self_signed, struct rg_errbuf *eb);

/* Free @s; NULL is fine. Only once no connection uses it. */
void rg_tls_server_free(struct rg_tls_server *s);

/* Choose certificates by SNI with @fn from now on (before any connection
 * is made: not synchronised). */
void rg_tls_server_set_sni(struct rg_tls_server *s, rg_tls_sni_fn fn);

/* A server-side engine for one connection, or NULL out of memory. @s is
 * borrowed and must outlive it; @arg is passed to its SNI function.
 * Thread: one at a time (the connection's). */
struct rg_tls *rg_tls_new_server(struct rg_tls_server *s, void *arg);

/* Free @t (no close_notify is sent; see rg_tls_close). NULL is fine. */
void rg_tls_free(struct rg_tls *t);

/* Give @n ciphertext bytes read from the peer (copied). Returns 0 or
 * -ENOMEM. */
int rg_tls_feed(struct rg_tls *t, const void *p, size_t n) RG_MUST_CHECK;

/* Plaintext results: > 0 bytes; 0 none until more ciphertext is fed. */
#define RG_TLS_EOF (-1) /* the peer sent close_notify */
#define RG_TLS_ERROR                                                           \
    (-2) /* handshake or record failure: close; the                            \
            reason is in rg_tls_error */

/* Run the handshake as far as the fed bytes allow and decrypt up to @cap
 * bytes of application data into @buf. Call until it returns <= 0 after
 * each feed: the engine keeps no plaintext back once it returned 0. After
 * a call, rg_tls_out may hold bytes to send (handshake, tickets, alerts). */
ssize_t rg_tls_read(struct rg_tls *t, char *buf, size_t cap);

/* Encrypt @n plaintext bytes (borrowed); the records go to rg_tls_out.
 * Returns 0, or RG_TLS_ERROR (handshake not done, or a failure). */
int rg_tls_write(struct rg_tls *t, const void *p, size_t n) RG_MUST_CHECK;

/* Queue a close_notify alert for rg_tls_out. */
void rg_tls_close(struct rg_tls *t);

/* The ciphertext waiting to be sent: *@p and the length returned stay
 * valid until the next call on @t; rg_tls_out_done drops them once the
 * caller has written or copied them. */
size_t rg_tls_out(struct rg_tls *t, const char **p);
void rg_tls_out_done(struct rg_tls *t);

/* ---- CA certificates (Kong's ca_certificates) ---- */

struct rg_tls_ca;

#define RG_TLS_DIGEST_LEN 64 /* hex digits of a SHA-256 */

/* A trust anchor parsed from @pem (@len bytes, borrowed): exactly one PEM
 * certificate, with the CA basic constraint. Returns NULL with the reason
 * in @why ("not a CA certificate (no CA basic constraint)", "only one
 * certificate at a time"). *@digest gets the SHA-256 of its DER in
 * lower-case hex (Kong's cert_digest, RG_TLS_DIGEST_LEN digits and a
 * NUL). Deterministic (no clock: the replicated store's validator calls
 * it). Immutable: any thread; a client context using it holds its own
 * reference. */
struct rg_tls_ca *rg_tls_ca_new(const char *pem, size_t len,
                                char digest[RG_TLS_DIGEST_LEN + 1], char *why,
                                size_t cap);

/* Whether @ca's Not After time has passed, by this host's clock. */
int rg_tls_ca_expired(const struct rg_tls_ca *ca);

void rg_tls_ca_free(struct rg_tls_ca *ca);

/* ---- Client side (https upstreams) ---- */

struct rg_tls_client_conf {
    int verify;            /* 1: the chain and the host name */
    unsigned verify_depth; /* 0: OpenSSL's default (100) */
    const char *ca_file;   /* PEM CA file, or NULL: the system store */
    const struct rg_tls_ca *const *cas; /* n_cas > 0: trust these alone
                                           (not ca_file nor the system
                                           store); borrowed for the call */
    size_t n_cas;
    const struct rg_tls_cert *client_cert; /* borrowed for the call (its
                                              parts are referenced), or
                                              NULL: none */
};
struct rg_tls_client;

/* A client context: TLS 1.2 and 1.3, ALPN http/1.1, no renegotiation;
 * a verified host name may match a wildcard only as a whole first label
 * (no "w*.example.com"). NULL with @eb set
 * ("cannot read CA file /x: ..."). Thread: any; shared read-only. */
struct rg_tls_client *rg_tls_client_new(const struct rg_tls_client_conf *conf,
                                        struct rg_errbuf *eb);
void rg_tls_client_free(struct rg_tls_client *c);

/* A client engine to @host (borrowed; sent as SNI unless an IP literal,
 * and the name verified when the context verifies), or NULL out of
 * memory. The engine holds its own reference to @c. */
struct rg_tls *rg_tls_new_client(struct rg_tls_client *c, const char *host);

/* Drive the handshake over what was fed: 1 done, 0 more bytes needed
 * (rg_tls_out may hold some to send), RG_TLS_ERROR (rg_tls_error says
 * why, e.g. "certificate verify failed"). */
int rg_tls_handshake(struct rg_tls *t);

/* Write the ciphertext waiting to be sent (rg_tls_out) on @s with
 * rg_io_write(@cb, @arg), then drop it from @t. Returns what rg_io_write
 * does, or 0 when there was nothing to send. Thread: @s's loop. */
ssize_t rg_tls_send(struct rg_tls *t, uv_stream_t *s, rg_io_cb cb, void *arg);

/* Whether the handshake has completed. */
int rg_tls_established(const struct rg_tls *t);

/* The last failure, for logs ("wrong version number"), static or
 * thread-local storage. */
const char *rg_tls_error(const struct rg_tls *t);

/* Whether the first bytes a client sent on a TLS port look like a
 * plaintext HTTP request (an ASCII letter where a TLS record starts with
 * 0x16): the caller may answer 400 in the clear before closing. */
int rg_tls_looks_plain(const char *p, size_t n);

#endif
