/* Consumer identification shared by the authentication plugins. */
#include "plugins/auth.h"

#include <string.h>
#include <strings.h>

#include "http/req.h"

static const char *const consumer_headers[] = {
    "X-Consumer-ID",           "X-Consumer-Custom-ID", "X-Consumer-Username",
    "X-Credential-Identifier", "X-Anonymous-Consumer",
};

/* Add upstream header @name: @value when @value is set and nothing
 * failed before (*@rv). */
static void add(struct rg_req *r, const char *name, const char *value,
                int *rv)
{
    if (*rv == 0 && value != NULL)
        *rv = rg_req_add_header(r, RG_TO_UPSTREAM, name, value);
}

int rg_auth_set_consumer(struct rg_req *r, size_t ci,
                         const struct rg_cred *cred)
{
    const struct rg_consumer *co = &rg_req_gateway(r)->consumers[ci];
    int rv = 0;

    for (size_t i = 0; i < sizeof(consumer_headers) / sizeof(*consumer_headers);
         i++)
        rg_req_hide_header(r, consumer_headers[i]);
    rg_req_set_consumer(r, ci);
    add(r, "X-Consumer-ID", co->id, &rv);
    add(r, "X-Consumer-Custom-ID", co->custom_id, &rv);
    add(r, "X-Consumer-Username", co->username, &rv);
    add(r, "X-Credential-Identifier", cred ? cred->id : NULL, &rv);
    add(r, "X-Anonymous-Consumer", cred ? NULL : "true", &rv);
    return rv;
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
