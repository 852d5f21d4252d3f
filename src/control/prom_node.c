/* GET /metrics: the raftgate_* series of the node's own state, read on
 * the control thread (raft status, config, quota leases, breakers, Consul
 * watches). */
#include <jansson.h>
#include <string.h>

#include "control/prom_int.h"
#include "control/quota.h"
#include "control/readiness.h"
#include "http/gen.h"
#include "plugins/breaker_table.h"
#include "raft/rgraft.h"
#include "upstream/consul.h"

static void raft(const struct rg_prom_src *s, struct rg_buf *b)
{
    struct rg_raft_status st;

    if (s->raft == NULL)
        return;
    rg_raft_status(s->raft, &st);
    rg_prom__one(b, "raftgate_raft_node_id", "gauge", "This node's Raft id.",
                 st.id);
    rg_prom__one(b, "raftgate_raft_term", "gauge", "The current Raft term.",
                 st.term);
    rg_prom__one(b, "raftgate_raft_leader_id", "gauge",
                 "The Raft id of the known leader (0: none known).",
                 st.leader_id);
    rg_prom__one(b, "raftgate_raft_is_leader", "gauge",
                 "1 when this node is the Raft leader.",
                 strcmp(st.state, "leader") == 0);
    rg_prom__one(b, "raftgate_raft_commit_index", "gauge",
                 "The highest log index known committed.", st.commit_index);
    rg_prom__one(b, "raftgate_raft_applied_index", "gauge",
                 "The highest log index applied to the store.",
                 st.applied_index);
    rg_prom__one(b, "raftgate_config_store_revision", "gauge",
                 "The replicated store's revision (applied).", st.revision);
}

/* raftgate_raft_apply_duration_seconds, a histogram, and the snapshot
 * count. */
static void raft_stats(const struct rg_prom_src *s, struct rg_buf *b)
{
    static const char name[] = "raftgate_raft_apply_duration_seconds";
    struct rg_raft_stats st;
    uint64_t cum = 0;

    if (s->raft == NULL)
        return;
    rg_raft_stats(s->raft, &st);
    rg_prom__one(b, "raftgate_raft_snapshots_total", "counter",
                 "Snapshots this node stored (taken, or installed from the "
                 "leader).",
                 st.snapshots);
    rg_prom__family(b, name, "histogram",
                    "Time from proposing a write (as leader) to its entry "
                    "being committed and applied.");
    for (unsigned i = 0; i < RG_RAFT_APPLY_BUCKETS; i++) {
        cum += st.apply[i];
        rg_buf_addf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
                    rg_raft_apply_ms[i] / 1000.0, (unsigned long long)cum);
    }
    cum += st.apply[RG_RAFT_APPLY_BUCKETS];
    rg_buf_addf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name,
                (unsigned long long)cum);
    rg_buf_addf(b, "%s_sum %llu.%06llu\n%s_count %llu\n", name,
                (unsigned long long)(st.apply_sum_us / 1000000),
                (unsigned long long)(st.apply_sum_us % 1000000), name,
                (unsigned long long)cum);
}

static void config(const struct rg_prom_src *s, struct rg_buf *b)
{
    rg_prom__one(b, "raftgate_config_revision", "gauge",
                 "Store revision of the config the workers serve (0: "
                 "single-node mode, the file).",
                 s->served_rev);
    rg_prom__one(b, "raftgate_config_generation", "gauge",
                 "Id of the config generation the node serves (one per "
                 "build, per process).",
                 s->gen != NULL ? s->gen->id : 0);
}

static void quota(const struct rg_prom_src *s, struct rg_buf *b)
{
    json_t *j = rg_quota_status(s->quota), *l, *v;
    uint64_t n = 0, tokens = 0, used = 0;
    size_t i;

    l = json_object_get(j, "leases");
    json_array_foreach(l, i, v)
    {
        n++;
        tokens += (uint64_t)json_integer_value(json_object_get(v, "tokens"));
        used += (uint64_t)json_integer_value(json_object_get(v, "used"));
    }
    json_decref(j);
    rg_prom__one(b, "raftgate_quota_leases", "gauge",
                 "Cluster rate-limit leases this node holds.", n);
    rg_prom__one(b, "raftgate_quota_lease_tokens", "gauge",
                 "Tokens granted in the leases this node holds.", tokens);
    rg_prom__one(b, "raftgate_quota_lease_tokens_used", "gauge",
                 "Tokens spent from the leases this node holds.", used);
}

static const char *const brt_state[] = {"closed", "open", "half_open"};

static void breaker_state(void *arg, int i, struct rg_brt_slot *sl)
{
    struct rg_buf *b = arg;
    enum rg_brt_state st =
        rg_brt_state_of(atomic_load_explicit(&sl->word, memory_order_relaxed));

    (void)i;
    for (unsigned k = 0; k < 3; k++) {
        rg_buf_adds(b, "raftgate_breaker_state{service=\"");
        rg_prom__value(b, sl->name);
        rg_buf_addf(b, "\",state=\"%s\"} %d\n", brt_state[k],
                    (unsigned)st == k);
    }
}

static void breaker_refused(void *arg, int i, struct rg_brt_slot *sl)
{
    struct rg_buf *b = arg;

    (void)i;
    rg_buf_adds(b, "raftgate_breaker_refused_total{service=\"");
    rg_prom__value(b, sl->name);
    rg_buf_addf(b, "\"} %llu\n",
                (unsigned long long)atomic_load_explicit(&sl->refused,
                                                         memory_order_relaxed));
}

static void breakers(struct rg_buf *b)
{
    rg_prom__family(b, "raftgate_breaker_state", "gauge",
                    "Circuit breaker state per service (1 for the state it "
                    "is in).");
    rg_brt_each(breaker_state, b);
    rg_prom__family(b, "raftgate_breaker_refused_total", "counter",
                    "Requests a circuit breaker refused, per service.");
    rg_brt_each(breaker_refused, b);
}

static void consul(const struct rg_prom_src *s, struct rg_buf *b)
{
    static const char *const states[] = {"ok", "stale", "never"};
    json_t *j = rg_consul_status(s->consul), *l, *v;
    uint64_t n[3] = {0, 0, 0};
    size_t i;

    l = json_object_get(j, "watches");
    rg_prom__family(b, "raftgate_consul_watch_instances", "gauge",
                    "Passing instances of each Consul name watched.");
    json_array_foreach(l, i, v)
    {
        const char *st = json_string_value(json_object_get(v, "state"));
        const char *name = json_string_value(json_object_get(v, "name"));

        for (unsigned k = 0; k < 3; k++)
            n[k] += st != NULL && strcmp(st, states[k]) == 0;
        rg_buf_adds(b, "raftgate_consul_watch_instances{name=\"");
        rg_prom__value(b, name != NULL ? name : "");
        rg_buf_addf(
            b, "\"} %lld\n",
            (long long)json_integer_value(json_object_get(v, "instances")));
    }
    json_decref(j);
    rg_prom__family(b, "raftgate_consul_watches", "gauge",
                    "Consul watches by state (ok: the last query answered; "
                    "stale: it failed, the last answer is served; never: "
                    "no answer yet).");
    for (unsigned k = 0; k < 3; k++)
        rg_buf_addf(b, "raftgate_consul_watches{state=\"%s\"} %llu\n",
                    states[k], (unsigned long long)n[k]);
}

/* raftgate_degraded: one series per reason of control/readiness.h, 1
 * while it holds (the same reasons /health, /ready and /status name). */
static void degraded(const struct rg_prom_src *s, struct rg_buf *b)
{
    unsigned bits = s->readiness ? rg_degraded(s->readiness) : 0;

    rg_prom__family(b, "raftgate_degraded", "gauge",
                    "1 for each reason the node is degraded (no_leader, "
                    "last_config, consul), else 0.");
    for (unsigned bit = 1; bit & RG_DEGRADED_ALL; bit <<= 1)
        rg_buf_addf(b, "raftgate_degraded{reason=\"%s\"} %d\n",
                    rg_degraded_name(bit), (bits & bit) != 0);
}

void rg_prom__node(const struct rg_prom_src *s, struct rg_buf *b)
{
    raft(s, b);
    raft_stats(s, b);
    config(s, b);
    quota(s, b);
    breakers(b);
    consul(s, b);
    degraded(s, b);
}
