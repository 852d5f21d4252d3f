/* The Prometheus exposition of GET /metrics on the status listener (text
 * format 0.0.4): the workers' request counters summed (gateway_*), and the
 * node's own state read on the control thread (raftgate_*). README
 * "Metrics" lists every series. */
#ifndef RG_CONTROL_PROM_H
#define RG_CONTROL_PROM_H

#include <stdint.h>

#include "core/buf.h"

struct rg_consul;
struct rg_gen;
struct rg_quota;
struct rg_raft;
struct rg_readiness;
struct rg_worker;

/* What a scrape reads; every pointer is borrowed for the call and may be
 * NULL (its series are then left out, or zero). */
struct rg_prom_src {
    struct rg_worker *workers;
    unsigned n_workers;
    const struct rg_gen *gen;     /* the generation the node serves */
    const struct rg_raft *raft;   /* NULL in single-node mode */
    const struct rg_quota *quota; /* cluster mode's lease client */
    const struct rg_consul *consul;
    uint64_t served_rev; /* store revision the workers serve */
    const struct rg_readiness *readiness; /* degraded state, or NULL */
};

/* The content type of the exposition. */
#define RG_PROM_CTYPE "text/plain; version=0.0.4; charset=utf-8"

/* Render every series of @s into @b (appended). 0 or -ENOMEM (@b then
 * holds part of it). Thread: control. */
int rg_prom_render(const struct rg_prom_src *s, struct rg_buf *b);

#endif
