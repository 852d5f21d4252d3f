/* /config: GET exports the whole store (Kong 3.0 declarative JSON,
 * canonical); POST replaces it atomically with a declarative document
 * (YAML or JSON), validated here first so errors name the user's paths. */
#include "admin/admin_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

static void get_config(struct rg_areq *q)
{
    const struct rg_fsm *f = rg_admin__fsm(q->a);
    size_t len = 0;
    char *text = f ? rg_fsm_export(f, &len) : NULL;
    json_t *o;

    if (text == NULL) {
        rg_admin__error(q, 500, "cannot export the configuration");
        return;
    }
    o = json_loadb(text, len, 0, NULL);
    rg_free(text);
    rg_admin__reply(q, 200, o, rg_admin__revision(q->a), NULL);
}

static void on_replaced(struct rg_areq *q, const struct rg_fsm_result *res,
                        unsigned n)
{
    json_t *o = q->obj;

    q->obj = NULL;
    rg_admin__reply(q, 201, o, res[0].revision, NULL);
}

/* Kong's shape for a rejected declarative file, with the path split out
 * into "fields" when the message has one ("services[0].host: ..."). */
static void invalid(struct rg_areq *q, const char *msg)
{
    const char *sep = strstr(msg, ": ");
    json_t *fields = json_object();

    if (sep != NULL && sep > msg && memchr(msg, ' ', (size_t)(sep - msg))
                                        == NULL) {
        char path[256];
        size_t n = (size_t)(sep - msg) < sizeof(path) - 1
                       ? (size_t)(sep - msg) : sizeof(path) - 1;

        memcpy(path, msg, n);
        path[n] = '\0';
        json_object_set_new(fields, path, json_string(sep + 2));
    }
    rg_admin__reply(q, 400,
                    json_pack("{s:s+,s:s,s:i,s:o}", "message",
                              "declarative config is invalid: ", msg,
                              "name", "invalid declarative configuration",
                              "code", 14, "fields", fields),
                    rg_admin__revision(q->a), NULL);
}

static void post_config(struct rg_areq *q)
{
    struct rg_errbuf eb = {{0}};
    struct rg_cmd c = {0};
    size_t len = 0;
    char *canon;

    if (q->a->raft == NULL) {
        rg_admin__propose(q, &c, 0); /* answers the single-node 409 */
        return;
    }
    canon = rg_admin_config_canonical(q->body, q->body_len, &len, &eb);
    if (canon == NULL) {
        invalid(q, eb.msg);
        return;
    }
    c.type = RG_CMD_REPLACE_ALL;
    c.body = canon;
    c.body_len = (uint32_t)len;
    q->obj = json_loadb(canon, len, 0, NULL);
    q->on_ok = on_replaced;
    rg_admin__propose(q, &c, 1);
    rg_free(canon);
}

int rg_admin__config(struct rg_areq *q)
{
    if (strcmp(q->path, "/config") != 0)
        return 0;
    if (strcmp(q->method, "GET") == 0)
        get_config(q);
    else if (strcmp(q->method, "POST") == 0)
        post_config(q);
    else
        rg_admin__error(q, 405, "Method not allowed");
    return 1;
}
