"""Fast global version-order pre-check (docs/fault-injection.md 4.4a), O(n log n),
across keys and workloads, from the versions (global revisions) that
admin answers carry (X-Raftgate-Version):

 (i)   distinct ok writes have distinct versions;
 (ii)  if A (an ok write) completes before B (an ok linearizable read or
       ok write) is invoked, v(B) >= v(A), strictly when B is a write;
 (iii) per node and incarnation, local reads and status samples never
       decrease.  Local reads carry no incarnation: restarts are taken
       from the nemesis log (kill/restart faults) and from incarnation
       changes in the samples; reads overlapping a restart window are not
       compared.

A write is an ok register write, an ok cas with res true or an ok durable
add; an ok cas with res false is a read (it changed nothing).
"""

import bisect

WRITES = {('register', 'write'), ('register', 'cas'), ('durable', 'add')}
LIN_READS = {('register', 'read'), ('register', 'cas'), ('durable', 'read')}
LOCAL_READS = {('register', 'read-local'), ('durable', 'final-read')}
RESTART_KINDS = ('kill', 'restart', 'crash', 'stop-start', 'disk')


def _ops(events):
    """(invoke, ok completion) pairs with a version."""
    inv = {}
    out = []
    for ev in events:
        if ev.get('proc') == 'nemesis':
            continue
        if ev.get('type') == 'invoke':
            inv[ev['i']] = ev
        elif ev.get('type') == 'ok' and ev.get('inv') in inv and \
                isinstance(ev.get('ver'), int):
            out.append((inv[ev['inv']], ev))
    return out


def _kind(i, c):
    wf = (i.get('wl'), i.get('f'))
    if wf in WRITES and not (wf[1] == 'cas' and c.get('res') is False):
        return 'write'
    if wf in LIN_READS:
        return 'read'
    if wf in LOCAL_READS:
        return 'local'
    return None


def _line(i, c):
    return {'wl': i.get('wl'), 'f': i.get('f'), 'proc': i.get('proc'),
            'node': i.get('node'), 'key': i.get('key'),
            'value': i.get('value'), 'inv_i': i['i'], 'inv_t': i['t'],
            'ok_i': c['i'], 'ok_t': c['t'], 'ver': c.get('ver')}


def blackouts(faults, samples, node):
    """Intervals [a, b] (ns) when @node may have restarted."""
    out = []
    for f in faults or []:
        kind = str(f.get('kind', ''))
        nodes = f.get('nodes') or []
        if isinstance(nodes, dict):
            nodes = list(nodes)
        if any(k in kind for k in RESTART_KINDS) and \
                (not nodes or node in nodes):
            end = f.get('end')
            out.append((f['start'], float('inf') if end is None else end))
    last = None
    for s in samples or []:
        if s.get('node') != node or not isinstance(s.get('status'), dict):
            continue
        inc = s['status'].get('incarnation')
        if last is not None and inc != last[1]:
            out.append((last[0], s['t']))
        last = (s['t'], inc)
    out.sort()
    return out


def check(events, samples=None, faults=None, name='a/version-order'):
    ops = _ops(events)
    writes = [(i, c) for i, c in ops if _kind(i, c) == 'write']
    anomalies = []
    # (i) distinct versions
    seen = {}
    dup = 0
    for i, c in writes:
        v = c['ver']
        if v in seen:
            dup += 1
            if len(anomalies) < 5:
                anomalies.append({'kind': 'duplicate-version', 'ver': v,
                                  'a': _line(*seen[v]), 'b': _line(i, c)})
        else:
            seen[v] = (i, c)
    # (ii) real-time order: sweep B by invoke time over A by completion
    acks = sorted(writes, key=lambda p: p[1]['t'])
    bs = sorted([(i, c) for i, c in ops if _kind(i, c) in ('write', 'read')],
                key=lambda p: p[0]['t'])
    inv = 0
    k = 0
    best = None          # the A with the highest version completed so far
    for i, c in bs:
        while k < len(acks) and acks[k][1]['t'] < i['t']:
            if best is None or acks[k][1]['ver'] > best[1]['ver']:
                best = acks[k]
            k += 1
        if best is None:
            continue
        vb, va = c['ver'], best[1]['ver']
        strict = _kind(i, c) == 'write'
        if vb < va or (strict and vb == va and best[0] is not i):
            inv += 1
            if len(anomalies) < 10:
                anomalies.append({'kind': 'realtime-inversion',
                                  'a': _line(*best), 'b': _line(i, c)})
    # (iii) per node: local reads (between restarts) and status samples
    reg = 0
    n_local = 0
    by_node = {}
    for i, c in ops:
        if _kind(i, c) == 'local' and i.get('node'):
            by_node.setdefault(i['node'], []).append((i, c))
    for node, lst in by_node.items():
        bo = blackouts(faults, samples, node)
        starts = [a for a, _ in bo]

        def epoch(t):
            """Index of the restart window @t is past, or None when @t
            lies inside one."""
            j = bisect.bisect_right(starts, t)
            if j > 0 and bo[j - 1][1] >= t:
                return None
            return j
        # events: completions raise the floor, invokes are checked
        evs = []
        for i, c in lst:
            e_inv, e_ok = epoch(i['t']), epoch(c['t'])
            if e_inv is None or e_ok is None or e_inv != e_ok:
                continue
            n_local += 1
            evs.append((i['t'], 1, e_inv, i, c))
            evs.append((c['t'], 0, e_inv, i, c))
        evs.sort(key=lambda x: (x[0], x[1]))
        floor = {}
        for t, is_inv, ep, i, c in evs:
            if is_inv:
                f = floor.get(ep)
                if f is not None and c['ver'] < f[1]['ver']:
                    reg += 1
                    if len(anomalies) < 15:
                        anomalies.append({'kind': 'local-regression',
                                          'node': node, 'a': _line(*f),
                                          'b': _line(i, c)})
            else:
                f = floor.get(ep)
                if f is None or c['ver'] > f[1]['ver']:
                    floor[ep] = (i, c)
    sreg = 0
    last = {}
    for s in samples or []:
        st = s.get('status')
        if not isinstance(st, dict):
            continue
        key = (s.get('node'), st.get('incarnation'))
        cur = {k: st.get(k) for k in ('term', 'commit_index',
                                      'applied_index', 'config_version')}
        prev = last.get(key)
        if prev is not None:
            for k, v in cur.items():
                pv = prev[1].get(k)
                if isinstance(v, int) and isinstance(pv, int) and v < pv:
                    sreg += 1
                    if len(anomalies) < 20:
                        anomalies.append({'kind': 'sample-regression',
                                          'node': key[0], 'field': k,
                                          'from': pv, 'to': v,
                                          't0': prev[0], 't1': s.get('t')})
        last[key] = (s.get('t'), cur)
    bad = dup + inv + reg + sreg
    summary = ('%d realtime inversions, %d duplicate write versions, '
               '%d per-node regressions (%d in local reads, %d in samples); '
               '%d writes, %d ordered ops, %d local reads, %d samples'
               % (inv, dup, reg + sreg, reg, sreg, len(writes), len(bs),
                  n_local, len(samples or [])))
    return {'name': name, 'verdict': 'FAIL' if bad else 'PASS',
            'summary': summary, 'witness': anomalies[:10] or None}
