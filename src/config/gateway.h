/* The gateway configuration as plain data: services and routes read from a
 * Kong 3.0 declarative file (`_format_version: "3.0"`), validated, with every
 * reference resolved to an index. Nothing here touches a socket or a thread;
 * the data plane compiles it (router, upstream specs) into a generation.
 *
 * Kong keys supported: services[].{name,id,url,protocol,host,port,path,
 * retries,connect_timeout,write_timeout,read_timeout,tags,enabled,routes},
 * routes[].{name,id,service,paths,hosts,methods,strip_path,preserve_host,
 * protocols,tags,regex_priority*,path_handling*,https_redirect_status_code*,
 * request_buffering*,response_buffering*} (* accepted, checked, unused);
 * also created_at/updated_at on both (as in Kong exports; unused), and at
 * the top level _transform and _workspace (checked, unused).
 * raftgate's own keys (Kong has none): services[].retry_backoff,
 * routes[].{connect_timeout,write_timeout,read_timeout,retries,retry_backoff}.
 * Route path syntax: "/a" is a prefix (segment-aware as in Kong), "=/a" is an
 * exact match (nginx's `location =`); Kong regex paths ("~...") are rejected
 * with an error, never silently dropped.
 *
 * consumers[].{id,username,custom_id,tags,plugins,keyauth_credentials,
 * jwt_secrets,acls}
 * (the other credential lists must be empty until their plugins land),
 * keyauth_credentials[].{id,key,ttl,tags,created_at} and
 * jwt_secrets[].{id,key,algorithm,secret,rsa_public_key,tags,created_at}
 * and acls[].{id,group,tags,created_at},
 * nested in a consumer or at the top level with a `consumer` reference
 * (ttl needs created_at: the file says when the credential was made;
 * an RS or ES algorithm needs rsa_public_key, a PEM key of its type, HS a
 * secret), and plugins everywhere
 * Kong has them: top level (with service/route/consumer references by
 * name or id) and nested in services, routes and consumers, with
 * {name,id,instance_name,config,enabled,protocols,ordering,tags}; `name`
 * must be in the catalog the parser is given, and `config` is read by that
 * plugin's schema. Kong's plugin rules: one instance of a type per scope
 * (service, route, consumer combination), instance_name unique, a plugin
 * whose schema forbids a scope may not be put there.
 *
 * upstreams[].{name,id,algorithm,hash_on,hash_fallback,hash_on_header,
 * hash_fallback_header,slots,healthchecks,targets,tags,created_at,
 * updated_at} and targets[].{id,target,weight,upstream,tags,created_at,
 * updated_at} nested in an upstream or at the top level with an
 * `upstream` reference (see struct rg_upstream; Kong's other upstream
 * keys, the `latency` algorithm and hash_on cookie, query_arg and
 * uri_capture fail with an error naming the key).
 *
 * certificates[].{id,cert,key,snis,tags,created_at,updated_at} (cert
 * and key PEM text, parsed: a bad one is an error naming it; cert_alt and
 * key_alt only null) with snis a list of names or of {name,id,tags,
 * created_at,updated_at}, and snis[].{name,id,certificate,tags,
 * created_at,updated_at} at the top level (see struct rg_sni).
 *
 * ca_certificates[].{id,cert,cert_digest,tags,created_at,updated_at}
 * (cert one PEM CA certificate with the CA basic constraint, expired or
 * not: the verdict must not depend on the clock; cert_digest, when given,
 * its SHA-256 in hex; the digests unique without case) at
 * the top level (see struct rg_ca_certificate).
 *
 * Other Kong keys (route
 * headers/snis/sources/destinations, service tls_verify...) fail with
 * "not supported yet", except when null, or for entity lists
 * (`upstreams: []`...) when empty. Any
 * key Kong does not know is "unknown key". A key whose value is null
 * (`path: null`, as Kong exports write) counts as absent. Kong's value
 * rules apply: names are letters, digits and ".-_~"; ids are UUIDs; a
 * service takes `url` (http://host[:port][/path]) or protocol/host/port/
 * path, not both; protocol must be http or https (a url https://host
 * without a port means 443); tls_verify a boolean, tls_verify_depth
 * 0..64, client_certificate a certificate reference by id, and
 * ca_certificates a list of ca_certificates ids: the service's https
 * upstreams are verified against those alone (instead of
 * proxy.upstream_ca_file or the system store). Route
 * hosts are lower-cased labels with at most one wildcard, as a leading "*." or
 * a trailing ".*" label, and no port; methods are matched case-insensitively
 * against the RG_M_* names. */
#ifndef RG_CONFIG_GATEWAY_H
#define RG_CONFIG_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "config/schema.h"
#include "core/err.h"
#include "core/errbuf.h"
#include "core/strmap.h"
#include "core/xref.h"

/* Method bits for rg_route.methods; 0 means any method. */
enum {
    RG_M_GET = 1 << 0,
    RG_M_HEAD = 1 << 1,
    RG_M_POST = 1 << 2,
    RG_M_PUT = 1 << 3,
    RG_M_DELETE = 1 << 4,
    RG_M_PATCH = 1 << 5,
    RG_M_OPTIONS = 1 << 6,
    RG_M_TRACE = 1 << 7,
    RG_M_CONNECT = 1 << 8,
};

/* Map a method name ("GET") to its bit; 0 when unknown. */
unsigned rg_method_bit(const char *name, size_t len);

enum rg_backoff_kind {
    RG_BACKOFF_NONE = 0,  /* retry at once */
    RG_BACKOFF_LINEAR,    /* base * attempt */
    RG_BACKOFF_EXPONENTIAL /* base * 2^(attempt-1) */
};

/* Retry backoff policy: `retry_backoff: {type, base, max, jitter}` with
 * type none|linear|exponential (required), base and max in ms (1..
 * 2147483646, defaults 100 and 10000, max >= base), jitter a boolean
 * (default false). A service without the key has kind NONE. */
struct rg_backoff {
    enum rg_backoff_kind kind;
    uint32_t base_ms; /* first delay, ms */
    uint32_t max_ms;  /* cap on any one delay, ms */
    int jitter;       /* 1: full jitter, delay drawn from [0, computed] */
};

struct rg_service {
    char *name;       /* unique; may be NULL when only id is given */
    char *id;         /* Kong id (uuid string) or NULL */
    char *host;       /* upstream host name or IP literal */
    uint16_t port;    /* upstream port */
    char *path;       /* upstream path prefix, NULL for none; starts "/" */
    unsigned retries; /* extra attempts after the first; Kong default 5 */
    uint32_t connect_timeout_ms; /* Kong default 60000 */
    uint32_t write_timeout_ms;   /* Kong default 60000 */
    uint32_t read_timeout_ms;    /* Kong default 60000 */
    struct rg_backoff backoff;
    int enabled;      /* Kong `enabled`, default 1 */
    /* https upstreams (README "TLS"; issue 12): */
    int https;      /* protocol (or url scheme) https */
    int tls_verify; /* 1 unless tls_verify: false; null or absent is 1
                       (Kong's default is off) */
    unsigned tls_verify_depth; /* 0..64, 0 = OpenSSL's default */
    size_t client_certificate; /* index into certificates, or
                                  RG_NO_INDEX */
    size_t *ca_certificates;   /* indexes into ca_certificates: the trust
                                  anchors of tls_verify, or none */
    size_t n_ca_certificates;
};

/* A route path: prefix or exact, stored without the "=" marker. */
struct rg_route_path {
    char *path;  /* normalised form, starts with "/" */
    int exact;   /* 1 for "=/a" */
};

struct rg_route {
    char *name;              /* may be NULL */
    char *id;                /* may be NULL */
    size_t service;          /* index into rg_gateway.services */
    struct rg_route_path *paths;
    size_t n_paths;
    char **hosts;            /* lower-case; "*.example.com" or "api.*"
                                wildcards */
    size_t n_hosts;
    unsigned methods;        /* RG_M_* bits, 0 = any */
    int strip_path;          /* Kong default 1 */
    int preserve_host;       /* Kong default 0 */
    /* Per-route overrides; 0/-1 means "use the service's". */
    uint32_t connect_timeout_ms;
    uint32_t write_timeout_ms;
    uint32_t read_timeout_ms;
    int retries;             /* -1 = service's */
    int has_backoff;
    struct rg_backoff backoff;
};

/* A Kong consumer (credentials come with the authentication plugins). */
struct rg_consumer {
    char *id;                /* lower-case UUID, or NULL */
    char *username;          /* unique; NULL when only custom_id is set */
    char *custom_id;         /* unique; NULL when only username is set */
};

#define RG_NO_INDEX SIZE_MAX /* a plugin not scoped to that entity */

/* What every credential has (Kong's credential entities). */
struct rg_cred {
    char *id;                /* lower-case UUID, or NULL */
    char *key;               /* unique per credential type, with case */
    size_t consumer;         /* index into consumers */
    int64_t created_at;      /* seconds since the epoch, 0: not given */
};

/* A key-auth credential (Kong's keyauth_credentials), nested under its
 * consumer or at the top level with a `consumer` reference. */
struct rg_keyauth {
    struct rg_cred cred;     /* cred.key: the API key */
    uint32_t ttl;            /* seconds after created_at it expires; 0:
                                never */
};

/* An ACL group membership (Kong's acls): cred.key is the group name
 * (not unique: many consumers share a group; one consumer names a group
 * once). */
struct rg_acl {
    struct rg_cred cred;
};

/* JWT signature algorithms (jwt_secrets[].algorithm). */
enum rg_jwt_alg {
    RG_JWT_HS256, RG_JWT_HS384, RG_JWT_HS512,
    RG_JWT_RS256, RG_JWT_RS384, RG_JWT_RS512,
    RG_JWT_ES256, RG_JWT_ES384,
    RG_JWT_ALG_MAX
};

/* The JOSE name of @alg ("HS256"...). */
const char *rg_jwt_alg_name(enum rg_jwt_alg alg);

/* A jwt credential (Kong's jwt_secrets): cred.key is what the token's
 * key claim (iss by default) must name. */
struct rg_jwt_secret {
    struct rg_cred cred;
    enum rg_jwt_alg alg;     /* the only algorithm its tokens may use */
    char *secret;            /* HS*: the HMAC secret (text) */
    char *rsa_public_key;    /* RS* and ES*: the PEM public key ... */
    void *pkey;              /* ... parsed (OpenSSL EVP_PKEY, of the type
                                alg needs), shared read-only */
    char *jwks_uri;          /* RS* and ES*, instead of rsa_public_key
                                (raftgate's): the keys are the JWK set at
                                this http, https or file URL, fetched by
                                every node (plugins/jwks_watch.h), the
                                token's kid choosing one */
    uint32_t jwks_refresh;   /* seconds between fetches (default 300) */
};

/* Kong 3 dynamic ordering (`ordering: {before: {access: [names]},
 * after: {access: [names]}}`); it only affects the access phase. */
struct rg_ordering {
    unsigned *before;        /* catalog type indexes this one runs before */
    size_t n_before;
    unsigned *after;         /* ... and after */
    size_t n_after;
};

/* One plugin instance, wherever the file put it (top level, or nested in
 * a service, route or consumer): the nesting becomes the scope. */
struct rg_plugin_inst {
    char *id;                /* lower-case UUID, or NULL */
    char *instance_name;     /* unique, or NULL */
    unsigned type;           /* index into rg_gateway.catalog */
    size_t service;          /* index into services, or RG_NO_INDEX */
    size_t route;            /* index into routes, or RG_NO_INDEX */
    size_t consumer;         /* index into consumers, or RG_NO_INDEX */
    int enabled;             /* Kong default 1 */
    unsigned protocols;      /* RG_PROTO_* bits */
    struct rg_ordering ordering;
    void *conf;              /* typed, from the schema's conf_parse; freed
                                with its conf_free */
};

/* Upstreams and targets (Kong 3.x entities; gw_upstreams.c,
 * gw_health.c). A service whose host equals an upstream's name balances
 * over that upstream's targets (Kong's rule); its port is then unused. */
enum rg_lb_algo {
    RG_LB_ROUND_ROBIN = 0, /* Kong default; weighted, smooth */
    RG_LB_LEAST_CONN,      /* least-connections */
    RG_LB_HASH,            /* consistent-hashing */
    RG_LB_RANDOM,          /* raftgate's `random`: power of two choices */
};

enum rg_hash_on {
    RG_HASH_NONE = 0,
    RG_HASH_CONSUMER,
    RG_HASH_IP,
    RG_HASH_HEADER,
    RG_HASH_PATH,
};

/* A set of HTTP statuses 100..999, one bit each. */
struct rg_status_set {
    uint64_t bits[16];
};

static inline int rg_status_in(const struct rg_status_set *s, unsigned st)
{
    return st < 1024 && (s->bits[st >> 6] >> (st & 63)) & 1;
}

/* The counters of one side (healthy or unhealthy) of an active or
 * passive check, Kong's names; 0 disables a counter. */
struct rg_hc_side {
    struct rg_status_set statuses; /* http_statuses */
    uint32_t interval_ms;   /* active only: 0 = no checks in this state */
    uint8_t successes;      /* healthy: to come back, 0..255 */
    uint8_t tcp_failures;   /* unhealthy: to be marked down, 0..255 */
    uint8_t timeouts;
    uint8_t http_failures;
};

struct rg_healthchecks {
    struct {
        char *http_path;        /* "/" by default */
        uint32_t timeout_ms;    /* Kong `timeout` (s), default 1 s */
        unsigned concurrency;   /* default 10 */
        struct rg_hc_side healthy, unhealthy;
    } active;
    struct {
        struct rg_hc_side healthy, unhealthy;
    } passive;
    double threshold;           /* 0..100: % of the weight that must be
                                   healthy, else the whole upstream is
                                   down (0: off) */
};

struct rg_upstream {
    char *name;             /* unique; a hostname-like string */
    char *id;               /* lower-case UUID or NULL */
    enum rg_lb_algo algorithm;
    enum rg_hash_on hash_on, hash_fallback;
    char *hash_on_header;   /* lower-case; with hash_on: header */
    char *hash_fallback_header; /* lower-case; with hash_fallback: header */
    uint32_t slots;         /* 10..65536, Kong default 10000 */
    struct rg_healthchecks hc;
};

struct rg_target {
    char *id;               /* lower-case UUID or NULL */
    char *target;           /* "host:port" as normalised (port filled) */
    char *host;             /* lower-case name or IP literal, no [] */
    uint16_t port;          /* Kong default 8000 */
    uint32_t weight;        /* 0..65535, default 100; 0 = never picked */
    size_t upstream;        /* index into rg_gateway.upstreams */
};

/* TLS certificates for the proxy's TLS listener, chosen by SNI (gw_certs.c;
 * README "TLS"). */
struct rg_tls_cert;
struct rg_certificate {
    char *id;               /* lower-case UUID or NULL */
    struct rg_tls_cert *tls; /* chain and key, parsed (core/tls.h) */
};

/* A trust anchor for https upstreams (Kong's ca_certificates; gw_cacerts.c):
 * services name it in their ca_certificates. */
struct rg_tls_ca;
struct rg_ca_certificate {
    char *id;               /* lower-case UUID or NULL */
    struct rg_tls_ca *tls;  /* the certificate, parsed (core/tls.h) */
    char digest[65];        /* SHA-256 of its DER, lower-case hex */
};

/* A server name (Kong's snis): unique without case, stored lower-case;
 * "*.example.com" stands for any one first label, "example.*" for any
 * last label. */
struct rg_sni {
    char *name;
    char *id;               /* lower-case UUID or NULL */
    size_t certificate;     /* index into rg_gateway.certificates */
};

struct rg_gateway {
    struct rg_service *services;
    size_t n_services;
    struct rg_route *routes; /* services[].routes in file order, then the
                                top-level routes in file order */
    size_t n_routes;
    struct rg_consumer *consumers; /* file order */
    size_t n_consumers;
    struct rg_keyauth *keyauths; /* nested ones with their consumer, in
                                    file order, then the top-level ones */
    size_t n_keyauths;
    struct rg_strmap keyauth_index; /* key -> index into keyauths */
    struct rg_jwt_secret *jwts;  /* likewise */
    size_t n_jwts;
    struct rg_strmap jwt_index;  /* key -> index into jwts */
    struct rg_acl *acls;         /* likewise, sorted by consumer once
                                    read: a consumer's groups are
                                    acls[acl_first[c] .. acl_first[c+1]) */
    size_t n_acls;
    size_t *acl_first;           /* n_consumers + 1 entries */
    struct rg_plugin_inst *plugins; /* every instance, in file order of
                                       their first appearance */
    size_t n_plugins;
    struct rg_upstream *upstreams; /* file order */
    size_t n_upstreams;
    struct rg_target *targets; /* upstreams[].targets in file order, then
                                  the top-level ones */
    size_t n_targets;
    struct rg_certificate *certificates; /* file order */
    size_t n_certificates;
    struct rg_sni *snis;     /* certificates[].snis in file order, then the
                                top-level ones */
    size_t n_snis;
    struct rg_strmap sni_index; /* name -> index into snis */
    struct rg_ca_certificate *ca_certificates; /* file order */
    size_t n_ca_certificates;
    /* The catalog the file was parsed with (borrowed; frees the confs). */
    const struct rg_plugin_catalog *catalog;
};

/* Parse and validate a declarative config held in memory (YAML or JSON).
 * On success fills @gw (which the caller later passes to
 * rg_gateway_release) and returns 0. On failure returns -EINVAL (or
 * -ENOMEM), leaves @gw zeroed, and writes a path-qualified message to @eb,
 * e.g. `services[1].routes[0].paths[2]: must start with "/"`.
 * The rules across entities are the links of rg_gateway_xrefs: names
 * unique per kind, ids unique per kind (without case), a route's service
 * must exist, a consumer's username and custom_id unique,
 * and the plugin rules above.
 * @cat: the plugin types accepted (NULL: none). Ownership: @text is
 * borrowed; @cat must outlive @gw. Thread: any. */
int rg_gateway_parse(struct rg_gateway *gw, const char *text, size_t len,
                     const struct rg_plugin_catalog *cat, struct rg_errbuf *eb)
    RG_MUST_CHECK;

/* Same, over a YAML document built in memory (taken, even on failure;
 * left zeroed): how the admin API checks the replicated config without
 * dumping it to text and parsing the text again. */
struct yaml_document_s; /* libyaml's yaml_document_t */
int rg_gateway_parse_doc(struct rg_gateway *gw, struct yaml_document_s *doc,
                         const struct rg_plugin_catalog *cat,
                         struct rg_errbuf *eb) RG_MUST_CHECK;

/* Same, reading the file at @path (at most 16 MiB); errors are prefixed
 * with the path. Also returns the -errno of open/read (e.g. -ENOENT), or
 * -EFBIG. */
int rg_gateway_load(struct rg_gateway *gw, const char *path,
                    const struct rg_plugin_catalog *cat, struct rg_errbuf *eb)
    RG_MUST_CHECK;

/* The parser's rules across entities as links (core/xref.h): the
 * replicated store reads them to check a change to one object against
 * only the objects they link it to. A static table of *@n entries, never
 * freed. Thread: any. */
const struct rg_xref *rg_gateway_xrefs(size_t *n);

/* Free everything @gw owns and zero it. Accepts a zeroed @gw. */
void rg_gateway_release(struct rg_gateway *gw);

/* The key-auth credential whose key is @key (@len bytes), as an index
 * into @gw->keyauths, or RG_NO_INDEX; the same for jwt credentials and
 * @gw->jwts. O(1). Thread: any (@gw is immutable once parsed). */
size_t rg_gateway_find_keyauth(const struct rg_gateway *gw, const char *key,
                               size_t len);
size_t rg_gateway_find_jwt(const struct rg_gateway *gw, const char *key,
                           size_t len);

/* The certificate for TLS server name @name (lower case, NUL-terminated)
 * as an index into @gw->certificates, or RG_NO_INDEX: an exact SNI
 * first, then "*.rest" for its first label, then "first-labels.*" for its
 * last (Kong's order). O(1). Thread: any. */
size_t rg_gateway_find_sni(const struct rg_gateway *gw, const char *name);

/* Whether consumer @ci is in ACL group @group (@len bytes). O(groups of
 * the consumer). */
int rg_gateway_in_group(const struct rg_gateway *gw, size_t ci,
                        const char *group, size_t len);

#endif
