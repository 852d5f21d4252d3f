/* What admin_creds.c (routing, finding, reads) and admin_creds_write.c
 * (writes) share about Kong's credential endpoints. Not included outside
 * src/admin/. Every pointer into the store is borrowed until the next
 * apply, so it is used within the handler's call only. */
#ifndef RG_ADMIN_ADMIN_CREDS_H
#define RG_ADMIN_ADMIN_CREDS_H

#include "admin/admin_int.h"

#define RG_CRED_NONE ((size_t)-1) /* no such credential in the list */

/* A credential type, as the endpoints and the store name it. */
struct rg_cred_type {
    const char *sub;          /* /consumers/{c}/<sub> */
    const char *top;          /* /<top> */
    const char *list;         /* the consumer's list of them */
    const char *alt;          /* a credential's name besides its id */
    int alt_global;           /* 1: the name is unique in the store and
                                 names it at the top level (a key); 0:
                                 only within its consumer (a group) */
    const char *const *shown; /* answered as null when not set */
    const char *gen;          /* generated on create when absent */
    const char *alg;          /* default "algorithm", or NULL */
    const char *hmac_secret;  /* generated when absent for an HS*
                                 algorithm, or NULL */
};

/* Where a credential is, or goes. */
struct rg_cred_place {
    const struct rg_cred_type *ty;
    const json_t *consumer; /* borrowed from the store */
    uint64_t rev;           /* the consumer's revision */
    size_t index;           /* in its list, or RG_CRED_NONE */
};

/* The id field of @o, or NULL. */
const char *rg_admin__cred_id(const json_t *o);

/* The credential at @p (p->index not RG_CRED_NONE). */
const json_t *rg_admin__cred_at(const struct rg_cred_place *p);

/* Call @fn for each credential of type @ty in the store (consumers in id
 * order) with its place, until it returns 1. */
typedef int (*rg_cred_walk_fn)(void *arg, const struct rg_cred_place *p,
                               const json_t *cr);
void rg_admin__cred_walk(const struct rg_areq *q, const struct rg_cred_type *ty,
                         rg_cred_walk_fn fn, void *arg);

/* @cr (borrowed) as answered: a new copy with "consumer": {"id": ...}
 * and the type's unset shown fields as null; NULL on ENOMEM. */
json_t *rg_admin__cred_view(const struct rg_cred_type *ty, const json_t *cr,
                            const json_t *consumer);

/* Answer Kong's 400 for @field of a credential ("@entity": the whole)
 * with @msg. */
void rg_admin__cred_invalid(struct rg_areq *q, const char *field,
                            const char *msg);

/* ---- admin_creds_write.c: each answers @q or proposes ---- */

/* POST: create a credential in p->consumer (201). */
void rg_admin__cred_post(struct rg_areq *q, const struct rg_cred_place *p);

/* PUT: replace the credential at @p, or when p->index is RG_CRED_NONE
 * create it (201) with @key (the path's name, borrowed) as its id (a
 * UUID) or its name. */
void rg_admin__cred_put(struct rg_areq *q, const struct rg_cred_place *p,
                        const char *key);

/* PATCH, DELETE (204) of the credential at @p. */
void rg_admin__cred_patch(struct rg_areq *q, const struct rg_cred_place *p);
void rg_admin__cred_delete(struct rg_areq *q, const struct rg_cred_place *p);

#endif
