/* What the authentication plugins (key-auth, jwt) share: making a
 * consumer the request's with Kong's upstream headers, and the anonymous
 * consumer a plugin falls back to. Thread: the request's worker. */
#ifndef RG_PLUGINS_AUTH_H
#define RG_PLUGINS_AUTH_H

#include <stddef.h>

#include "config/gateway.h"
#include "http/filter.h"

struct rg_req;

/* Make consumer @ci the request's (rg_req_set_consumer) and send
 * X-Consumer-ID, X-Consumer-Custom-ID, X-Consumer-Username upstream, with
 * X-Credential-Identifier from @cred, or X-Anonymous-Consumer: true when
 * @cred is NULL (the anonymous consumer). The client's own headers of
 * those names are not forwarded, so they cannot be forged. 0 or
 * -ENOMEM. */
int rg_auth_set_consumer(struct rg_req *r, size_t ci,
                         const struct rg_cred *cred) RG_MUST_CHECK;

/* A request without valid credentials: when @anonymous (a consumer id or
 * username; NULL: none) is set, it goes on as that consumer (500 when no
 * such consumer exists, as Kong); else it is answered 401 with @body (a
 * JSON text) and WWW-Authenticate: @www_auth (NULL: none). Returns what
 * the access callback returns. */
enum rg_filter_status rg_auth_refuse(struct rg_req *r, const char *anonymous,
                                     const char *body,
                                     const char *www_auth);

#endif
