/* What the authentication plugins (key-auth, jwt) share: making a
 * consumer the request's with Kong's upstream headers, and the anonymous
 * consumer a plugin falls back to. Thread: the request's worker. */
#ifndef RG_PLUGINS_AUTH_H
#define RG_PLUGINS_AUTH_H

#include <stddef.h>

#include "config/gateway.h"
#include "http/filter.h"

struct rg_req;

/* Make consumer @ci the request's (rg_req_set_consumer; authenticated
 * when @cred is set) and send X-Consumer-ID, X-Consumer-Custom-ID,
 * X-Consumer-Username upstream (those the consumer has), with
 * X-Credential-Identifier from @cred (when it has an id), or
 * X-Anonymous-Consumer: true when @cred is NULL (the anonymous
 * consumer); the request's credential (rg_req_credential) is @cred.
 * Each replaces the client's header of that name and any an
 * earlier plugin set, so they cannot be forged or mixed. 0 or -ENOMEM. */
int rg_auth_set_consumer(struct rg_req *r, size_t ci,
                         const struct rg_cred *cred) RG_MUST_CHECK;

/* Whether a plugin configured with @anonymous should do nothing: another
 * authentication plugin already found a credential (Kong's rule, which
 * makes several plugins with `anonymous` an "any of them" choice). */
int rg_auth_skip(const struct rg_req *r, const char *anonymous);

/* Percent-decode @n bytes at @p ('+' is a blank, as in query arguments)
 * into @out (@cap bytes): the length, or -1 when it does not fit. */
long rg_auth_decode(const char *p, size_t n, char *out, size_t cap);

/* A query argument found by rg_auth_query_arg: its raw value, the bytes
 * of the whole argument ([from, to), with its '&'), and where the next
 * search starts. Zero it before the first search. */
struct rg_auth_arg {
    const char *val;
    size_t vlen;
    size_t from, to;
    size_t next;
};

/* Find the next argument of query @q (@qn bytes, no '?') whose name,
 * percent-decoded, is @name, from @a->next on. 0 found, -1 not. */
int rg_auth_query_arg(const char *q, size_t qn, const char *name,
                      struct rg_auth_arg *a);

/* A request without valid credentials: when @anonymous (a consumer id or
 * username; NULL: none) is set, it goes on as that consumer (500 when no
 * such consumer exists, as Kong); else it is answered 401 with @body (a
 * JSON text) and WWW-Authenticate: @www_auth (NULL: none). Returns what
 * the access callback returns. */
enum rg_filter_status rg_auth_refuse(struct rg_req *r, const char *anonymous,
                                     const char *body,
                                     const char *www_auth);

#endif
