/* What the admin API adds for Kong's upstreams and targets beside the
 * generic object endpoints (admin_objects.c): a target named within its
 * upstream (by id or "host:port"), the normalised target text Kong
 * stores, and GET /upstreams/{u}/health, this node's view of its
 * targets' health (upstream/health.h: per node, never replicated, as in
 * Kong). */
#include "admin/admin_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "upstream/health.h"

#define KONG_TARGET_PORT 8000

struct find {
    const char *uid, *key;
    const json_t *hit;
};

static int target_matches(const json_t *t, const char *key)
{
    const char *id = json_string_value(json_object_get(t, "id"));
    const char *tg = json_string_value(json_object_get(t, "target"));
    char norm[300];

    if (id != NULL && strcmp(id, key) == 0)
        return 1;
    if (tg == NULL)
        return 0;
    rg_admin__target_norm(key, norm, sizeof(norm));
    return strcmp(tg, key) == 0 || strcmp(tg, norm) == 0;
}

static const char *upstream_id(const json_t *t)
{
    return json_string_value(
        json_object_get(json_object_get(t, "upstream"), "id"));
}

static void find_cb(void *arg, const char *id, const json_t *body, uint64_t rev)
{
    struct find *f = arg;
    const char *uid = upstream_id(body);

    (void)id;
    (void)rev;
    if (f->hit == NULL && uid != NULL && strcmp(uid, f->uid) == 0 &&
        target_matches(body, f->key))
        f->hit = body;
}

const json_t *rg_admin__target_of(const struct rg_areq *q, const json_t *up,
                                  const char *key)
{
    struct find f = {json_string_value(json_object_get(up, "id")), key, NULL};
    const struct rg_fsm *fsm = rg_admin__fsm(q->a);

    if (fsm != NULL && f.uid != NULL)
        rg_fsm_each(fsm, RG_KIND_TARGET, find_cb, &f);
    return f.hit;
}

void rg_admin__target_norm(const char *s, char *out, size_t cap)
{
    const char *rb = s[0] == '[' ? strchr(s, ']') : NULL;
    int has_port = rb ? rb[1] == ':' : strchr(s, ':') != NULL;

    /* "::1" alone is an IPv6 address without a port: Kong wants "[::1]". */
    if (!rb && has_port && strchr(s, ':') != strrchr(s, ':'))
        has_port = 0;
    if (has_port)
        snprintf(out, cap, "%s", s);
    else
        snprintf(out, cap, "%s:%d", s, KONG_TARGET_PORT);
}

/* ---- GET /upstreams/{u}/health ---- */

struct addrs {
    json_t *list;
    json_int_t weight;
    int healthy; /* some address is */
};

static void addr_cb(void *arg, const char *addr_key, struct rg_health *h)
{
    struct addrs *a = arg;
    const char *colon = strrchr(addr_key, ':');
    int ok = rg_health_usable(h);

    a->healthy |= ok;
    json_array_append_new(
        a->list,
        json_pack("{s:s%,s:i,s:s,s:I}", "ip", addr_key,
                  colon ? (size_t)(colon - addr_key) : strlen(addr_key), "port",
                  colon ? atoi(colon + 1) : 0, "health",
                  ok ? "HEALTHY" : "UNHEALTHY", "weight", a->weight));
}

struct health {
    const char *uid, *name;
    json_t *data;
};

static void health_cb(void *arg, const char *id, const json_t *body,
                      uint64_t rev)
{
    struct health *hv = arg;
    const char *uid = upstream_id(body);
    const char *tg = json_string_value(json_object_get(body, "target"));
    const json_t *w = json_object_get(body, "weight");
    struct addrs a = {json_array(), w ? json_integer_value(w) : 100, 0};
    char norm[300];
    json_t *o;

    (void)id;
    (void)rev;
    if (uid == NULL || tg == NULL || strcmp(uid, hv->uid) != 0)
        return;
    rg_admin__target_norm(tg, norm, sizeof(norm));
    rg_health_each(hv->name, norm, addr_cb, &a);
    o = json_deep_copy(body);
    json_object_set_new(o, "health",
                        json_string(json_array_size(a.list) == 0 ? "DNS_ERROR"
                                    : a.healthy                  ? "HEALTHY"
                                                : "UNHEALTHY"));
    json_object_set_new(o, "data", json_pack("{s:o}", "addresses", a.list));
    json_array_append_new(hv->data, o);
}

void rg_admin__upstream_health(struct rg_areq *q, const json_t *up)
{
    const struct rg_fsm *fsm = rg_admin__fsm(q->a);
    struct health hv = {json_string_value(json_object_get(up, "id")),
                        json_string_value(json_object_get(up, "name")),
                        json_array()};
    char lname[256];
    size_t i;

    if (strcmp(q->method, "GET") != 0) {
        json_decref(hv.data);
        rg_admin__error(q, 405, "Method not allowed");
        return;
    }
    /* The data plane keys health by the name as the parser keeps it. */
    snprintf(lname, sizeof(lname), "%s", hv.name ? hv.name : "");
    for (i = 0; lname[i] != '\0'; i++)
        if (lname[i] >= 'A' && lname[i] <= 'Z')
            lname[i] = (char)(lname[i] - 'A' + 'a');
    hv.name = lname;
    if (fsm != NULL && hv.uid != NULL)
        rg_fsm_each(fsm, RG_KIND_TARGET, health_cb, &hv);
    rg_admin__list_reply(q, hv.data);
}

/* ---- DELETE /upstreams/{u}: the targets go with it ---- */

struct ids {
    const char *uid;
    char **v;
    size_t n;
    int nomem;
};

static void ids_cb(void *arg, const char *id, const json_t *body, uint64_t rev)
{
    struct ids *s = arg;
    const char *uid = upstream_id(body);
    char **v;

    (void)rev;
    if (uid == NULL || strcmp(uid, s->uid) != 0 || s->nomem)
        return;
    v = rg_realloc(s->v, (s->n + 1) * sizeof(*v));
    if (v == NULL || (v[s->n] = rg_strdup(id)) == NULL) {
        s->v = v ? v : s->v;
        s->nomem = 1;
        return;
    }
    s->v = v;
    s->n++;
}

static void deleted(struct rg_areq *q, const struct rg_fsm_result *res,
                    unsigned n)
{
    rg_admin__reply(q, 204, NULL, res[n - 1].revision, NULL);
}

void rg_admin__upstream_delete(struct rg_areq *q, const json_t *up)
{
    struct ids s = {json_string_value(json_object_get(up, "id")), NULL, 0, 0};
    const struct rg_fsm *fsm = rg_admin__fsm(q->a);
    struct rg_cmd *c;
    char(*rid)[RG_CODEC_MAX_RID + 1];
    size_t i;

    if (fsm != NULL)
        rg_fsm_each(fsm, RG_KIND_TARGET, ids_cb, &s);
    c = rg_calloc(s.n + 1, sizeof(*c));
    rid = rg_calloc(s.n ? s.n : 1, sizeof(*rid));
    if (s.nomem || c == NULL || rid == NULL) {
        rg_admin__error(q, 500, "out of memory");
        goto done;
    }
    /* Each command its own request id (one id per entry would make the
     * state machine take the second for a repeat of the first), derived
     * from the request's so that a retried request stays idempotent. */
    for (i = 0; i < s.n; i++) {
        int len = snprintf(rid[i], sizeof(rid[i]), "%.*s/t%zu",
                           RG_CODEC_MAX_RID - 12, q->rid, i);

        c[i].type = RG_CMD_DELETE;
        c[i].kind = RG_KIND_TARGET;
        c[i].key = s.v[i];
        c[i].key_len = (uint16_t)strlen(s.v[i]);
        c[i].rid = rid[i];
        c[i].rid_len = (uint16_t)len;
    }
    c[s.n].type = RG_CMD_DELETE;
    c[s.n].kind = RG_KIND_UPSTREAM;
    c[s.n].key = s.uid;
    c[s.n].key_len = (uint16_t)strlen(s.uid);
    q->ok_status = 204;
    q->on_ok = deleted;
    rg_admin__propose(q, c, (unsigned)s.n + 1);
done:
    for (i = 0; i < s.n; i++)
        rg_free(s.v[i]);
    rg_free(s.v);
    rg_free(c);
    rg_free(rid);
}

/* ---- POST /upstreams/{u}/targets/{t}/healthy|unhealthy ---- */

static void set_down(void *arg, const char *addr_key, struct rg_health *h)
{
    (void)addr_key;
    rg_health_set(h, *(const int *)arg);
}

void rg_admin__target_set_health(struct rg_areq *q, const json_t *up,
                                 const json_t *t, int down)
{
    const char *name = json_string_value(json_object_get(up, "name"));
    const char *tg = json_string_value(json_object_get(t, "target"));
    char lname[256], norm[300];

    if (strcmp(q->method, "POST") != 0) {
        rg_admin__error(q, 405, "Method not allowed");
        return;
    }
    snprintf(lname, sizeof(lname), "%s", name ? name : "");
    for (size_t i = 0; lname[i] != '\0'; i++)
        if (lname[i] >= 'A' && lname[i] <= 'Z')
            lname[i] = (char)(lname[i] - 'A' + 'a');
    rg_admin__target_norm(tg ? tg : "", norm, sizeof(norm));
    rg_health_each(lname, norm, set_down, &down);
    rg_admin__reply(q, 204, NULL, rg_admin__revision(q->a), NULL);
}

static int ends_with(const char *s, const char *sfx)
{
    size_t n = strlen(s), m = strlen(sfx);

    return n >= m && strcmp(s + n - m, sfx) == 0;
}

int rg_admin__health_local(struct rg_areq *q)
{
    if (strncmp(q->path, "/upstreams/", 11) != 0 ||
        strstr(q->path, "/targets/") == NULL ||
        !(ends_with(q->path, "/healthy") || ends_with(q->path, "/unhealthy")))
        return 0;
    return rg_admin__objects(q);
}
