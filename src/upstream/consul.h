/* Consul discovery: a service host named the way Consul's DNS interface
 * names services ([TAG.]NAME.service[.DC].DOMAIN) is resolved through the
 * node's Consul agent, one watch per name, each a chain of blocking queries
 * on GET /v1/health/service/NAME?passing=1&index=I&wait=W (Consul's
 * "Blocking Queries" rules: index reset when it goes backwards or is not a
 * number, a minimum gap when it did not change, backoff with jitter on
 * errors). The last good answer is kept while Consul is down. A config
 * rebuild asks the watches and never blocks (as resolver.h).
 * Thread: the loop's, for every function but the parser and decoder. */
#ifndef RG_UPSTREAM_CONSUL_H
#define RG_UPSTREAM_CONSUL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "core/err.h"

#define RG_CONSUL_LABEL_MAX 63         /* a DNS label, RFC 1035 §2.3.4 */
#define RG_CONSUL_MAX_INSTANCES 64     /* kept per watch */
#define RG_CONSUL_BACKOFF_MIN_MS 1000  /* first retry after an error */
#define RG_CONSUL_BACKOFF_MAX_MS 30000 /* cap on the retry delay */
#define RG_CONSUL_MIN_GAP_MS                                                   \
    250 /* between queries whose index                                         \
           did not change */
#define RG_CONSUL_DEFAULT_ADDRESS "http://127.0.0.1:8500"
#define RG_CONSUL_DEFAULT_DOMAIN "consul"
#define RG_CONSUL_DEFAULT_WAIT_MS 60000

/* A parsed Consul name; empty strings when absent. */
struct rg_consul_name {
    char service[RG_CONSUL_LABEL_MAX + 1];
    char tag[RG_CONSUL_LABEL_MAX + 1];
    char dc[RG_CONSUL_LABEL_MAX + 1];
};

/* Whether @host is a Consul name under @domain (NULL: "consul"; compared
 * without case): NAME.service.D, TAG.NAME.service.D, NAME.service.DC.D or
 * TAG.NAME.service.DC.D (three labels before D: TAG.NAME.service when the
 * last is "service", else NAME.service.DC). Labels are 1..63 of
 * [A-Za-z0-9_-]. Returns 1 and fills @out (may be NULL), 0 when @host does
 * not end in ".service.D" or ".service.DC.D", or -EINVAL when it does but
 * a label is empty, too long or has another character. Thread: any. */
int rg_consul_name_parse(const char *host, const char *domain,
                         struct rg_consul_name *out);

/* Decode a /v1/health/service answer (a JSON array of {Node:{Address},
 * Service:{Address, Port}, ...}) into @out (room for @max): each entry's
 * Service.Address, or Node.Address when that is empty, with Service.Port.
 * Addresses must be IPv4 or IPv6 literals (an entry with a host name, no
 * address or a port outside 1..65535 is skipped and counted in *@skipped,
 * may be NULL); duplicates are dropped; the result is sorted, so two
 * answers with the same instances compare equal. Returns 0 (possibly with
 * *@n 0: no instance passes), or -EINVAL when @body is not a JSON array
 * of objects. Thread: any. */
int rg_consul_decode(const char *body, size_t len, struct sockaddr_storage *out,
                     size_t max, size_t *n, size_t *skipped) RG_MUST_CHECK;

/* The index for the next query from an answer's X-Consul-Index @h (may be
 * NULL) after a query with @old, by Consul's rules (Blocking Queries,
 * "Implementation Details"): the value when it is a number not below
 * @old, else 0 (start over: the agent restarted or lost its state, or the
 * header is missing or garbled). Cross-file internal, for the unit test.
 * Thread: any. */
uint64_t rg_consul__next_index(const char *h, uint64_t old);

/* The delay before retrying after the @fails'th error in a row (>= 1):
 * RG_CONSUL_BACKOFF_MIN_MS doubling up to RG_CONSUL_BACKOFF_MAX_MS, of
 * which the upper half is chosen by the random @r ("equal jitter": never
 * less than half, so a dead agent is not hammered, and nodes drift
 * apart). Cross-file internal, for the unit test. Thread: any. */
uint32_t rg_consul__backoff_ms(unsigned fails, uint64_t r);

struct rg_consul_conf {
    const char *address;    /* "http://host:port" (or https); NULL: the
                               default; copied */
    const char *token;      /* X-Consul-Token, or NULL; copied */
    const char *datacenter; /* dc= for names without one, or NULL */
    const char *domain;     /* NULL: "consul" */
    uint32_t wait_ms;       /* wait= of each query; 0: the default */
};

struct rg_consul;

/* Watches on @loop (borrowed; it must outlive them) with @conf (copied).
 * @changed(@arg) runs when a watch a get found unanswered gets its first
 * answer or fails, and when a watched name's instances change: the caller
 * then rebuilds. NULL on ENOMEM or when curl cannot start. */
struct rg_consul *rg_consul_new(uv_loop_t *loop,
                                const struct rg_consul_conf *conf,
                                void (*changed)(void *arg), void *arg);

/* Stop every watch (no callback runs after this); the memory goes in the
 * close callbacks of the uv handles, so the loop must run. Accepts NULL. */
void rg_consul_close(struct rg_consul *c);

/* The domain names are parsed with (never NULL). */
const char *rg_consul_domain(const struct rg_consul *c);

/* The instances of Consul name @host, as rg_resolver_get: into @out (room
 * for @max), *@n of them. Returns 1 when @host is not a Consul name
 * (nothing done: use the resolver); 0 with the last good answer (*@n may
 * be 0: nothing passes, or the watch has failed before any answer);
 * -EAGAIN while its first query is in flight (started now if needed;
 * @changed follows); -EINVAL for a malformed Consul name; -ENOMEM. Marks
 * the name used (rg_consul_sweep). Never blocks. */
int rg_consul_get(struct rg_consul *c, const char *host,
                  struct sockaddr_storage *out, size_t max,
                  size_t *n) RG_MUST_CHECK;

/* Stop the watches of names no get asked for since the last sweep: call
 * after a config generation was built from every service (names that left
 * the config are then dropped). Accepts NULL. */
void rg_consul_sweep(struct rg_consul *c);

/* The watches' state as a JSON object {address: the agent's URL (null
 * when @c is NULL), watches: [{name, service, tag, dc, state ("ok": the
 * last query answered; "stale": it failed and the last good answer is
 * served; "never": no good answer yet), instances, index, last_error (or
 * null), since_ms (since the last good answer, or since the watch
 * started when there is none)}]}. Returns a new reference, NULL on
 * ENOMEM. Accepts NULL. */
json_t *rg_consul_status(const struct rg_consul *c);

/* How many watches' last query failed (state "stale", or "never" after a
 * failure): the agent or the service is unreachable. Accepts NULL (0). */
unsigned rg_consul_failing(const struct rg_consul *c);

#endif
