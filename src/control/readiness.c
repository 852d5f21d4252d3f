/* Health, readiness and the degraded state (control/readiness.h). */
#include "control/readiness.h"

#include <stdio.h>

#include "raft/rgraft.h"
#include "upstream/consul.h"

static const char *const names[] = {"no_leader", "last_config", "consul"};

unsigned rg_degraded(const struct rg_readiness *r)
{
    struct rg_raft_status st = {0};
    unsigned bits = 0;

    if (r == NULL)
        return 0;
    if (r->raft != NULL) {
        rg_raft_status(r->raft, &st);
        if (st.leader_id == 0)
            bits |= RG_DEGRADED_NO_LEADER;
    }
    if (r->lastgood || r->refused)
        bits |= RG_DEGRADED_LAST_CONFIG;
    if (rg_consul_failing(r->consul) > 0)
        bits |= RG_DEGRADED_CONSUL;
    return bits;
}

const char *rg_degraded_name(unsigned bit)
{
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (bit == 1u << i)
            return names[i];
    return NULL;
}

json_t *rg_degraded_json(unsigned bits)
{
    json_t *l = json_array();

    for (unsigned i = 0; l != NULL && i < sizeof(names) / sizeof(names[0]); i++)
        if ((bits & 1u << i) &&
            json_array_append_new(l, json_string(names[i])) != 0) {
            json_decref(l);
            return NULL;
        }
    return l;
}

/* Cluster mode: the workers serve a config of the cluster's (revision
 * above 0), not the empty one a node starts with. A follower's commit
 * index lags its leader's, so "caught up with an empty store" cannot be
 * told from "not caught up yet": a store never written is not ready. */
static int started(const struct rg_readiness *r)
{
    return r->raft == NULL || r->served_rev > 0 || r->lastgood;
}

/* {"status":..,"reasons":[..]} into @buf. */
static size_t body(char *buf, size_t cap, const char *status, unsigned bits)
{
    size_t n;
    const char *sep = "";
    int k = snprintf(buf, cap, "{\"status\":\"%s\",\"reasons\":[", status);

    n = k > 0 && (size_t)k < cap ? (size_t)k : 0;
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(bits & 1u << i))
            continue;
        k = snprintf(buf + n, cap - n, "%s\"%s\"", sep, names[i]);
        if (k > 0 && (size_t)k < cap - n)
            n += (size_t)k;
        sep = ",";
    }
    k = snprintf(buf + n, cap - n, "]}\n");
    if (k > 0 && (size_t)k < cap - n)
        n += (size_t)k;
    return n;
}

size_t rg_readiness_health(const struct rg_readiness *r, char *buf, size_t cap,
                           int *status)
{
    unsigned bits = rg_degraded(r);

    *status = 200;
    return body(buf, cap, bits ? "degraded" : "ok", bits);
}

size_t rg_readiness_ready(const struct rg_readiness *r, char *buf, size_t cap,
                          int *status)
{
    unsigned bits = rg_degraded(r);

    if (r->draining) {
        *status = 503;
        return body(buf, cap, "draining", bits);
    }
    if (!started(r)) {
        *status = 503;
        return body(buf, cap, "starting", bits);
    }
    *status = bits && !r->ready_when_degraded ? 503 : 200;
    return body(buf, cap, bits ? "degraded" : "ok", bits);
}
