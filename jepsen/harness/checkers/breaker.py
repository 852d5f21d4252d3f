"""(d) Replicated circuit breakers converge (docs/fault-injection.md 4.4d).

Inputs:
  samples  [{'t', 'node', 'status'}]: status.cb[<service>] = {state:
           closed|open|half_open, version: <epoch>}, status.incarnation;
  faults   ctx.faults();
  cycles   [{'fail': t_ns, 'heal': t_ns or None}]: when the harness
           switched the flaky upstream to 100% 500s and back;
  probes   history events of workload 'breaker' (invoke + completion with
           http, 'up' true when the answer came from the upstream, node).

Samples whose breaker says local: true (the node's own breaker: policy
local, or cut off from the leader) number their own versions: d1-d3 leave
them out, d4 and d5 judge what each node enforced.

d1 convergence: after each transition (the first sample of a new version
   anywhere) and each heal, every node that is live and connected through
   [e, e + T_cb] reports a version at least as high within T_cb.
d2 per node and incarnation the version never decreases.
d3 one global version -> state map (no two states for one version).
d4 liveness: some node reports open within min(window, burst) + 1 s of a
   failure burst's start, and closed within recovery_timeout + 2 s of the
   upstream's recovery (cycles overlapping a fault that leaves no live
   majority are not judged).
d5 while a node's breaker is open (the samples before and after the
   request both say open at one version) the request is refused by the
   gateway: 503, never answered by the upstream, and fast (at most 5% over
   50 ms).
"""

import math

NS = 1_000_000_000


def cb_of(status, service):
    """(state, version, local) of @service's breaker in a status, or None.
    local: the node's own breaker (policy local, or cut off from the
    leader): its versions are not the replicated sequence."""
    if not status:
        return None
    cb = (status.get('cb') or {}).get(service)
    if not isinstance(cb, dict) or cb.get('version') is None:
        return None
    return cb.get('state'), cb.get('version'), bool(cb.get('local'))


def series(samples, service, replicated=True):
    """node -> [(t, incarnation, state, version)] in time order; with
    @replicated only the samples of the replicated breaker (not local),
    else all of them."""
    out = {}
    for s in sorted(samples, key=lambda s: s['t']):
        st = s.get('status')
        v = cb_of(st, service)
        if v is None or (replicated and v[2]):
            continue
        out.setdefault(s['node'], []).append((s['t'], st.get('incarnation'),
                                              v[0], v[1]))
    return out


def has_field(samples, service):
    return any(cb_of(s.get('status'), service) is not None for s in samples)


def check_monotonic(ser, name='d2/breaker-version-monotonic'):
    bad = []
    for node, lst in ser.items():
        last = {}
        for t, inc, state, ver in lst:
            p = last.get(inc)
            if p is not None and ver < p[1]:
                bad.append({'node': node, 'incarnation': inc,
                            't_s': t / NS, 'from': p[1], 'to': ver,
                            'state_from': p[2], 'state_to': state})
            if p is None or ver >= p[1]:
                last[inc] = (t, ver, state)
    n = sum(len(v) for v in ser.values())
    return {'name': name, 'verdict': 'FAIL' if bad else 'PASS',
            'summary': '%d samples, %d regressions' % (n, len(bad)),
            'witness': bad[:10] or None}


def check_sequence(ser, name='d3/breaker-one-sequence'):
    seen = {}
    bad = []
    for node, lst in ser.items():
        for t, inc, state, ver in lst:
            p = seen.get(ver)
            if p is None:
                seen[ver] = (state, node, t)
            elif p[0] != state and len(bad) < 10:
                bad.append({'version': ver, 'states': [p[0], state],
                            'nodes': [p[1], node],
                            't_s': [p[2] / NS, t / NS]})
    seq = ' '.join('%s:%s' % (v, seen[v][0]) for v in sorted(seen))
    return {'name': name, 'verdict': 'FAIL' if bad else 'PASS',
            'summary': '%d versions, %d conflicts; %s' % (
                len(seen), len(bad), seq[:200]),
            'witness': bad or None}


def excused(faults, node, t0, t1):
    """Is @node down or cut off at some time in [t0, t1]?"""
    for f in faults:
        s = (f.get('value') or {}).get('t_apply', f['start'])
        e = f.get('end') if f.get('end') is not None else math.inf
        if s > t1 or e < t0:
            continue
        kind = str(f.get('kind', ''))
        v = f.get('value') or {}
        if kind.startswith(('kill', 'pause', 'freeze')) and \
                node in (f.get('nodes') or []):
            return True
        if 'consul' in kind:
            continue
        if kind.startswith(('loss', 'delay', 'packet')) and \
                node in (f.get('nodes') or []):
            return True     # its answers are late or lost by design
        if node in (v.get('minority') or []):
            return True
        if kind.startswith('bridge') or kind.startswith('partition'):
            return True     # everyone's view is odd in a bridge
    return False


def check_convergence(ser, faults, t_cb_s=5.0, t_end=None,
                      name='d1/breaker-converged'):
    t_cb = int(t_cb_s * NS)
    events = []         # (t, version that every node must reach)
    first = {}
    for node, lst in ser.items():
        for t, inc, state, ver in lst:
            if ver not in first or t < first[ver]:
                first[ver] = t
    for ver, t in first.items():
        events.append((t, ver, 'transition'))
    for f in faults:
        if f.get('end') is None:
            continue
        h = f['end']
        vmax = max((ver for lst in ser.values() for t, _, _, ver in lst
                    if t <= h), default=None)
        if vmax is not None:
            events.append((h, vmax, 'heal'))
    if t_end is None:
        t_end = max((lst[-1][0] for lst in ser.values() if lst), default=0)
    lags = []
    bad = []
    skipped = 0
    for e, ver, why in sorted(events):
        if e + t_cb > t_end:
            skipped += 1
            continue
        for node, lst in ser.items():
            if excused(faults, node, e, e + t_cb):
                continue
            reach = next((t for t, _, _, v in lst if t >= e and v >= ver),
                         None)
            # already there before e counts as 0
            if any(t <= e and v >= ver for t, _, _, v in lst):
                reach = e
            lag = None if reach is None else reach - e
            if lag is None or lag > t_cb:
                bad.append({'node': node, 'after': why, 't_s': e / NS,
                            'version': ver,
                            'reached_s': None if reach is None else
                            round(reach / NS, 2)})
            else:
                lags.append(lag)
    lags.sort()
    mx = lags[-1] / NS if lags else 0.0
    p95 = lags[int(0.95 * (len(lags) - 1))] / NS if lags else 0.0
    if not ser:
        return {'name': name, 'verdict': 'UNKNOWN', 'summary':
                'no breaker state sampled', 'witness': None}
    return {'name': name, 'verdict': 'FAIL' if bad else 'PASS',
            'summary': '%d transitions/heals, max %.2f s, p95 %.2f s (bound '
                       '%g s); %d too close to the end' % (
                           len(events), mx, p95, t_cb_s, skipped),
            'witness': bad[:10] or None}


def check_liveness(ser, cycles, faults, nodes, window_s, recovery_s,
                   name='d4/breaker-liveness', t_end=None):
    """@t_end: when the probe traffic ended (a breaker closes only through
    half-open trials, so a cycle whose bounds pass the end is not
    judged)."""
    states = sorted((t, node, state, ver) for node, lst in ser.items()
                    for t, _, state, ver in lst)
    bad = []
    parts = []
    judged = 0
    late = 0
    for c in cycles:
        f0, h = c['fail'], c.get('heal')
        if h is None:
            continue
        burst = (h - f0) / NS
        ob = int((min(window_s, burst) + 1.0) * NS)
        cb = int((recovery_s + 2.0) * NS)
        if t_end is not None and h + cb > t_end:
            late += 1
            continue
        live = [n for n in nodes if not excused(faults, n, f0, h + cb)]
        if len(live) * 2 <= len(nodes):
            continue
        judged += 1
        t_open = next((t for t, n, s, v in states if f0 <= t <= f0 + ob and
                       s == 'open'), None)
        # closed again on a live node after the recovery (and the open);
        # no version order: a local breaker's versions are its own
        t_close = next((t for t, n, s, v in states if h <= t <= h + cb and
                        s == 'closed' and n in live and
                        (t_open is None or t >= t_open)), None)
        parts.append('open +%s close +%s' % (
            '-' if t_open is None else '%.1f' % ((t_open - f0) / NS),
            '-' if t_close is None else '%.1f' % ((t_close - h) / NS)))
        if t_open is None:
            bad.append({'cycle_fail_s': f0 / NS, 'problem':
                        'not open within %.1f s' % (ob / NS)})
        if t_close is None:
            bad.append({'cycle_heal_s': h / NS, 'problem':
                        'not closed within %.1f s' % (cb / NS)})
    if not judged:
        return {'name': name, 'verdict': 'UNKNOWN',
                'summary': 'no failure cycle judged (%d cycles)' %
                len(cycles), 'witness': None}
    return {'name': name, 'verdict': 'FAIL' if bad else 'PASS',
            'summary': ('%d cycles: %s' % (judged, ', '.join(parts)))[:300] +
            ('; %d too close to the end' % late if late else ''),
            'witness': bad or None}


def _around(lst, t0, t1):
    """(sample before t0, sample after t1) of one node's series."""
    before = after = None
    for rec in lst:
        if rec[0] <= t0:
            before = rec
        elif rec[0] >= t1 and after is None:
            after = rec
    return before, after


def check_fast_refusal(ser, probes, fast_ms=50.0, slow_share=0.05,
                       name='d5/breaker-fast-503', faults=(),
                       recover_s=2.0):
    """Requests on a node down, cut off or under packet faults, or in
    the @recover_s after such a fault, are not judged."""
    inv = {}
    n_open = 0
    slow = 0
    bad = []
    for ev in probes:
        if ev.get('type') == 'invoke':
            inv[ev['i']] = ev
            continue
        i = inv.get(ev.get('inv'))
        if i is None or ev.get('type') != 'ok':
            continue
        if excused(faults, ev.get('node'), i['t'] - int(recover_s * NS),
                   ev['t']):
            continue
        b, a = _around(ser.get(ev.get('node'), []), i['t'], ev['t'])
        if not b or not a or b[1] != a[1] or b[3] != a[3] or \
                b[2] != 'open' or a[2] != 'open':
            continue
        n_open += 1
        lat = (ev['t'] - i['t']) / 1e6
        if ev.get('http') != 503 or ev.get('up'):
            if len(bad) < 10:
                bad.append({'node': ev.get('node'), 't_s': i['t'] / NS,
                            'http': ev.get('http'), 'from_upstream':
                            bool(ev.get('up')), 'version': b[3]})
        elif lat > fast_ms:
            slow += 1
    verdict = 'PASS'
    if bad or (n_open and slow > slow_share * n_open):
        verdict = 'FAIL'
    if not n_open:
        verdict = 'UNKNOWN'
    return {'name': name, 'verdict': verdict,
            'summary': '%d requests while open: %d not a gateway 503, %d '
                       'slower than %.0f ms' % (n_open, len(bad), slow,
                                                fast_ms),
            'witness': bad or None}


def check_all(samples, faults, cycles, probes, nodes, service, window_s,
              recovery_s, t_cb_s=5.0):
    """d1-d3 on the replicated breaker's samples (a node's local breaker,
    status local: true, numbers its own versions); d4 and d5 on what each
    node enforced, local or not."""
    rep = series(samples, service)
    every = series(samples, service, replicated=False)
    t_end = max((ev['t'] for ev in probes if ev.get('type') != 'invoke'),
                default=None)
    return [check_convergence(rep, faults, t_cb_s),
            check_monotonic(rep), check_sequence(rep),
            check_liveness(every, cycles, faults, nodes, window_s,
                           recovery_s, t_end=t_end),
            check_fast_refusal(every, probes, faults=faults)]
