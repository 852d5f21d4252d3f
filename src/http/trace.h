/* W3C Trace Context (https://www.w3.org/TR/trace-context/) on the proxy
 * path: the gateway is a span of the trace. A valid client traceparent
 * keeps its trace-id and the flags version 00 defines (RG_TRACE_*; the
 * others are set to zero), and the upstream gets the gateway's own
 * span id as parent-id (as Envoy's and Kong's OpenTelemetry tracers do);
 * an absent or invalid one starts a new trace (trace-id and span id from
 * the worker's generator, flags 01: sampled) and the client's tracestate,
 * which belonged to the trace it named, is dropped; with a valid one it
 * is passed through unchanged. The access log prints trace_id and
 * span_id. No allocation: the ids live in struct rg_req.
 * Thread: the request's worker. */
#ifndef RG_HTTP_TRACE_H
#define RG_HTTP_TRACE_H

#include <stddef.h>

struct rg_req;
struct rg_buf;

/* The trace-flags bits version 00 defines; the others are not propagated. */
#define RG_TRACE_SAMPLED 0x01u /* Trace Context §3.2.2.5.1 */
#define RG_TRACE_RANDOM 0x02u  /* the trace-id is random (Level 2) */

/* Read the client's traceparent (once the head is parsed) and choose the
 * request's trace-id, span id and flags. */
void rg_trace_start(struct rg_req *r);

/* Whether the client's header @name (@n bytes) must not be copied
 * upstream as it is: traceparent always (rg_trace_add writes it),
 * tracestate when the trace was restarted. */
int rg_trace_hides(const struct rg_req *r, const char *name, size_t n);

/* Append "traceparent: 00-<trace-id>-<span id>-<flags>\r\n" to @b,
 * unless a plugin added a traceparent upstream (then that one goes). */
void rg_trace_add(const struct rg_req *r, struct rg_buf *b);

#endif
