/* Consumer identification shared by the authentication plugins. */
#include "plugins/auth.h"

#include <string.h>
#include <strings.h>

#include "http/req.h"

/* Set upstream header @name to @value (NULL: none), replacing the
 * client's and any an earlier plugin set, when nothing failed before. */
static void set(struct rg_req *r, const char *name, const char *value,
                int *rv)
{
    if (*rv == 0)
        *rv = rg_req_set_header(r, RG_TO_UPSTREAM, name, value);
}

int rg_auth_set_consumer(struct rg_req *r, size_t ci,
                         const struct rg_cred *cred)
{
    const struct rg_consumer *co = &rg_req_gateway(r)->consumers[ci];
    int rv = 0;

    rg_req_set_consumer(r, ci);
    rg_req_set_authenticated(r, cred != NULL);
    rg_req_set_credential(r, cred);
    set(r, "X-Consumer-ID", co->id, &rv);
    set(r, "X-Consumer-Custom-ID", co->custom_id, &rv);
    set(r, "X-Consumer-Username", co->username, &rv);
    set(r, "X-Credential-Identifier", cred ? cred->id : NULL, &rv);
    set(r, "X-Anonymous-Consumer", cred ? NULL : "true", &rv);
    return rv;
}

int rg_auth_skip(const struct rg_req *r, const char *anonymous)
{
    return anonymous != NULL && rg_req_authenticated(r);
}

static int hex(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch |= 0x20;
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

long rg_auth_decode(const char *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)p[i];

        if (ch == '%' && i + 2 < n && hex(p[i + 1]) >= 0 &&
            hex(p[i + 2]) >= 0) {
            ch = hex(p[i + 1]) * 16 + hex(p[i + 2]);
            i += 2;
        } else if (ch == '+') {
            ch = ' ';
        }
        if (o == cap)
            return -1;
        out[o++] = (char)ch;
    }
    return (long)o;
}

int rg_auth_query_arg(const char *q, size_t qn, const char *name,
                      struct rg_auth_arg *a)
{
    size_t nl = strlen(name);
    char dn[256];

    while (a->next < qn) {
        size_t s = a->next, e = s, eq;
        long dl;

        while (e < qn && q[e] != '&')
            e++;
        a->next = e < qn ? e + 1 : e;
        for (eq = s; eq < e && q[eq] != '='; eq++)
            ;
        dl = rg_auth_decode(q + s, eq - s, dn, sizeof(dn));
        if (dl == (long)nl && memcmp(dn, name, nl) == 0) {
            a->val = eq < e ? q + eq + 1 : q + e;
            a->vlen = eq < e ? e - eq - 1 : 0;
            a->from = s;
            a->to = a->next;
            return 0;
        }
    }
    return -1;
}

/* The consumer @ref names (id without case, or username), or
 * RG_NO_INDEX. A scan: only requests without credentials get here. */
static size_t find_anonymous(const struct rg_gateway *gw, const char *ref)
{
    for (size_t i = 0; i < gw->n_consumers; i++) {
        const struct rg_consumer *co = &gw->consumers[i];

        if ((co->id != NULL && strcasecmp(co->id, ref) == 0) ||
            (co->username != NULL && strcmp(co->username, ref) == 0))
            return i;
    }
    return RG_NO_INDEX;
}

enum rg_filter_status rg_auth_refuse(struct rg_req *r, const char *anonymous,
                                     const char *body, const char *www_auth)
{
    static const char no_anon[] =
        "{\"message\":\"anonymous consumer is configured but does not "
        "exist\"}";

    if (anonymous != NULL) {
        size_t ci = find_anonymous(rg_req_gateway(r), anonymous);

        if (ci == RG_NO_INDEX)
            return rg_req_respond(r, 500, no_anon, sizeof(no_anon) - 1) == 0
                       ? RG_FILTER_RESPOND
                       : RG_FILTER_ERROR;
        return rg_auth_set_consumer(r, ci, NULL) == 0 ? RG_FILTER_CONTINUE
                                                      : RG_FILTER_ERROR;
    }
    if ((www_auth != NULL &&
         rg_req_add_header(r, RG_TO_CLIENT, "WWW-Authenticate", www_auth) !=
             0) ||
        rg_req_respond(r, 401, body, strlen(body)) != 0)
        return RG_FILTER_ERROR;
    return RG_FILTER_RESPOND;
}
