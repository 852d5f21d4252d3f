/* What the object handlers (admin_objects.c, admin_creds.c) share: finding
 * a stored object by id or name, reading a request body, proposing a put
 * or a delete of one object (a read-modify-write retried when it raced),
 * and the answers that follow (the saved object at the committed
 * revision, a listing, a unique violation). */
#include "admin/admin_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int rg_admin__is_uuid(const char *s)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

    if (strlen(s) != sizeof(shape) - 1)
        return 0;
    for (size_t i = 0; shape[i]; i++) {
        int hex = (s[i] >= '0' && s[i] <= '9') ||
                  (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F');

        if (shape[i] == '-' ? s[i] != '-' : !hex)
            return 0;
    }
    return 1;
}

json_t *rg_admin__uuid_lower(const char *s)
{
    char l[37];

    for (size_t i = 0; i < sizeof(l); i++)
        l[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] + 32 : s[i]);
    return json_string(l);
}

const json_t *rg_admin__lookup(const struct rg_fsm *f, enum rg_kind k,
                               const char *key, uint64_t *rev)
{
    uint64_t r = 0;
    const json_t *o;

    if (f == NULL)
        return NULL;
    if (rg_admin__is_uuid(key)) {
        json_t *id = rg_admin__uuid_lower(key);

        o = id ? rg_fsm_get(f, k, json_string_value(id), 0, &r) : NULL;
        json_decref(id);
    } else {
        o = rg_fsm_get(f, k, key, 1, &r);
    }
    if (rev != NULL)
        *rev = r;
    return o;
}

/* ---- request bodies ---- */

static int is_form(const struct rg_areq *q)
{
    static const char form[] = "application/x-www-form-urlencoded";

    return q->ctype != NULL &&
           strncasecmp(q->ctype, form, sizeof(form) - 1) == 0 &&
           (q->ctype[sizeof(form) - 1] == '\0' ||
            q->ctype[sizeof(form) - 1] == ';' ||
            q->ctype[sizeof(form) - 1] == ' ');
}

json_t *rg_admin__body(struct rg_areq *q)
{
    json_error_t e;
    json_t *o;
    char err[160];

    if (q->body_len == 0)
        return json_object();
    if (is_form(q)) {
        o = rg_admin__form_parse(q->body, q->body_len, err, sizeof(err));
        if (o == NULL)
            rg_admin__error(q, 400, "Cannot parse form body: %s", err);
        return o;
    }
    o = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES, &e);
    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        rg_admin__error(q, 400, "Cannot parse JSON body: %s",
                        o ? "must be an object" : e.text);
        return NULL;
    }
    return o;
}

/* ---- writes of one object ---- */

void rg_admin__put(struct rg_areq *q, enum rg_kind k, const json_t *o,
                   uint64_t if_rev)
{
    struct rg_cmd c = {0};
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    const char *id = json_string_value(json_object_get(o, "id"));

    if (text == NULL || id == NULL) {
        rg_admin__jfree(text);
        rg_admin__error(q, 500, "out of memory");
        return;
    }
    c.type = RG_CMD_PUT;
    c.kind = (uint8_t)k;
    c.key = id;
    c.key_len = (uint16_t)strlen(id);
    c.body = text;
    c.body_len = (uint32_t)strlen(text);
    c.if_rev = if_rev;
    rg_admin__propose(q, &c, 1);
    rg_admin__jfree(text);
}

void rg_admin__delete(struct rg_areq *q, enum rg_kind k, const char *id)
{
    struct rg_cmd c = {0};

    c.type = RG_CMD_DELETE;
    c.kind = (uint8_t)k;
    c.key = id;
    c.key_len = (uint16_t)strlen(id);
    rg_admin__propose(q, &c, 1);
}

void rg_admin__saved(struct rg_areq *q, const struct rg_fsm_result *res,
                     unsigned n)
{
    json_t *o = q->obj;

    (void)n;
    q->obj = NULL;
    if (q->ok_status == 204) {
        json_decref(o);
        o = NULL;
    }
    rg_admin__reply(q, q->ok_status, o, res[0].revision, NULL);
}

int rg_admin__retry_conflict(struct rg_areq *q, const struct rg_fsm_result *r)
{
    if (r->status != RG_FSM_CONFLICT || q->has_if_match)
        return 0;
    json_decref(q->obj);
    q->obj = NULL;
    if (q->attempts >= RG_ADMIN_RETRIES)
        rg_admin__not_proposed(q, "the object kept changing; nothing was "
                                  "applied");
    else
        rg_admin__route(q);
    return 1;
}

/* ---- answers ---- */

void rg_admin__list_reply(struct rg_areq *q, json_t *data)
{
    rg_admin__reply(q, 200, json_pack("{s:o,s:n}", "data", data, "next"),
                    rg_admin__revision(q->a), NULL);
}

void rg_admin__unique_violation(struct rg_areq *q, const char *field)
{
    char msg[96];

    snprintf(msg, sizeof(msg), "UNIQUE violation detected on the %s", field);
    rg_admin__reply(q, 409,
                    json_pack("{s:s,s:s,s:i}", "message", msg, "name",
                              "unique constraint violation", "code", 5),
                    rg_admin__revision(q->a), NULL);
}
