/* Between the files that build a generation (gen.c, gen_up.c); not for
 * use elsewhere. */
#ifndef RG_HTTP_GEN_INT_H
#define RG_HTTP_GEN_INT_H

#include "http/gen.h"

/* "ip:port" of @a (its own port) into @key. */
void rg_gen__addr_key(const struct sockaddr_storage *a, char *key, size_t cap);

/* Resolve @host:@port into @a (up to @cap) through @env: a Consul name
 * from the watches (each instance with its own port; *@none_ok = 1: zero
 * addresses is an answer, nothing passes), any other name from the
 * resolver (*@none_ok = 0). -EAGAIN sets env->waiting. */
int rg_gen__resolve(struct rg_gen_env *env, const char *host, uint16_t port,
                    struct sockaddr_storage *a, size_t cap, size_t *n,
                    int *none_ok);

/* Compile every upstream of @gw into g->ups (its addresses, health
 * states and balancer). A target that does not resolve is kept as a DNS
 * error with no address; a name still being resolved fails the build
 * (env->waiting). Returns 0 or fills @eb. Control thread or start-up. */
int rg_gen__ups_init(struct rg_gen *g, const struct rg_gateway *gw,
                     struct rg_gen_env *env, struct rg_errbuf *eb);

/* The upstream named @host (lower-case), or NULL. */
const struct rg_balanced *rg_gen__ups_find(const struct rg_gen *g,
                                           const struct rg_gateway *gw,
                                           const char *host);

void rg_gen__ups_free(struct rg_gen *g);

#endif
