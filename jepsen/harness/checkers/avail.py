"""(e) Proxy availability per node and phase (docs/fault-injection.md 4.4e).

Every proxy request (an invoke of workload 'proxy' and its completion; ok
means a 2xx) is classified by its node and the worse of the phases at its
invoke and at its completion (a request in flight when its node is killed
or paused counts as killed or paused, not as a healthy failure):

  killed / paused   the node is down (expected errors, reported apart)
  recovering        within 2*election_timeout + 1 s of any fault start or
                    heal
  minority-side     a partition puts the node in the minority
  majority-side     a partition (or a kill/pause of another node) is on
  fault:<kind>      other faults (packet, clock, disk): reported, no gate
  healthy           nothing is going on

Gates (per node and phase with at least MIN_N requests):
  healthy >= 99.9%, majority-side >= 99%, minority-side >= 95%.
Also p50/p99 latency per phase and the recovery time after each heal (the
first 1 s window from which a node answers >= 99%).
"""

GATES = {'healthy': 0.999, 'majority-side': 0.99, 'minority-side': 0.95}
MIN_N = 20
PARTITION_WORDS = ('isolate', 'bridge', 'partition', 'majority', 'minority')


def _start(f):
    v = f.get('value') or {}
    return v.get('t_apply', f['start'])


def phase(node, t, faults, recover_ns):
    """The phase of @node at time @t (ns)."""
    active = []
    near = False
    for f in faults:
        s = _start(f)
        e = f.get('end')
        if s <= t and (e is None or t < e):
            active.append(f)
        if s <= t < s + recover_ns or (e is not None and e <= t <
                                        e + recover_ns):
            near = True
    best = None
    rank = {'killed': 0, 'paused': 1, 'recovering': 2, 'minority-side': 3,
            'majority-side': 4}
    for f in active:
        kind = str(f.get('kind', ''))
        nodes = f.get('nodes') or []
        v = f.get('value') or {}
        if kind.startswith('kill'):
            p = 'killed' if node in nodes else 'majority-side'
        elif kind.startswith('pause') or kind.startswith('freeze'):
            p = 'paused' if node in nodes else 'majority-side'
        elif 'minority' in v or any(w in kind for w in PARTITION_WORDS):
            minority = v.get('minority')
            if minority is None:
                minority = nodes if len(nodes) == 1 else []
            p = 'minority-side' if node in minority else 'majority-side'
        else:
            p = 'fault:' + kind
        if p.startswith('fault:'):
            if best is None:
                best = p
            continue
        if best is None or best.startswith('fault:') or rank[p] < rank[best]:
            best = p
    if best in ('killed', 'paused'):
        return best
    if near:
        return 'recovering'
    return best or 'healthy'


SEVERITY = ('killed', 'paused', 'recovering', 'minority-side',
            'majority-side')


def worse(p, q):
    """The more severe of two phases (fault:* above healthy)."""
    def rank(x):
        if x in SEVERITY:
            return SEVERITY.index(x)
        return len(SEVERITY) + (x == 'healthy')
    return p if rank(p) <= rank(q) else q


def request_phase(node, t_inv, t_done, faults, recover_ns):
    """The phase of a request in flight from t_inv to t_done (or None)."""
    p = phase(node, t_inv, faults, recover_ns)
    if t_done is None:
        return p
    return worse(p, phase(node, t_done, faults, recover_ns))


def _pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def requests(events, wl='proxy'):
    """[(node, t_inv, ok, latency_ns or None, invoke i, completion or None)]
    """
    inv = {}
    done = {}
    for ev in events:
        if ev.get('wl') != wl or ev.get('proc') == 'nemesis':
            continue
        if ev.get('type') == 'invoke':
            inv[ev['i']] = ev
        elif ev.get('inv') in inv:
            done[ev['inv']] = ev
    out = []
    for i, ev in inv.items():
        c = done.get(i)
        ok = c is not None and c.get('type') == 'ok'
        lat = c['t'] - ev['t'] if c is not None else None
        out.append((ev.get('node'), ev['t'], ok, lat, i, c))
    out.sort(key=lambda r: r[1])
    return out


def recovery_times(reqs, faults, nodes, window_ns=1_000_000_000,
                   need=0.99):
    """Max over heals and nodes of the time from the heal to the start of
    the first window_ns window with >= need success (None if none)."""
    by_node = {}
    for r in reqs:
        by_node.setdefault(r[0], []).append(r)
    worst = None
    for f in faults:
        e = f.get('end')
        if e is None:
            continue
        for n in nodes:
            lst = [r for r in by_node.get(n, []) if r[1] >= e]
            rec = None
            for k, r in enumerate(lst):
                win = [x for x in lst[k:k + 200] if x[1] < r[1] + window_ns]
                if win and sum(1 for x in win if x[2]) >= need * len(win):
                    rec = r[1] - e
                    break
            if rec is None and lst:
                rec = float('inf')
            if rec is not None and (worst is None or rec > worst):
                worst = rec
    return worst


def check(events, faults, nodes, election_timeout_s=1.0,
          name='e/proxy-availability', gates=None, wl='proxy'):
    gates = dict(GATES if gates is None else gates)
    recover_ns = int((2 * election_timeout_s + 1) * 1e9)
    faults = list(faults or [])
    reqs = requests(events, wl=wl)
    cells = {}          # (node, phase) -> [n, ok, lats]
    phases = {}
    bad = {}            # (node, phase) -> first failed requests
    for node, t, ok, lat, _, c in reqs:
        p = request_phase(node, t, c['t'] if c else None, faults,
                          recover_ns)
        if not ok and p in gates and len(bad.setdefault((node, p), [])) < 5:
            bad[(node, p)].append({'t_inv_s': round(t / 1e9, 3),
                                   'type': c.get('type') if c else None,
                                   'err': (c or {}).get('err')})
        for key, d in (((node, p), cells), (p, phases)):
            c = d.setdefault(key, [0, 0, []])
            c[0] += 1
            c[1] += ok
            if ok and lat is not None:
                c[2].append(lat)
    failed = []
    for (node, p), (n, ok, _) in sorted(cells.items()):
        g = gates.get(p)
        if g is not None and n >= MIN_N and ok < g * n:
            failed.append({'node': node, 'phase': p, 'n': n, 'ok': ok,
                           'ratio': round(ok / n, 4), 'gate': g,
                           'first_failures': bad.get((node, p), [])})
    order = ['healthy', 'majority-side', 'minority-side', 'recovering',
             'paused', 'killed']
    parts = []
    for p in order + sorted(k for k in phases if k not in order):
        if p not in phases:
            continue
        n, ok, lats = phases[p]
        p50, p99 = _pct(lats, 0.5), _pct(lats, 0.99)
        parts.append('%s %.1f%% of %d%s' % (
            p, 100.0 * ok / n, n,
            '' if p50 is None else ' (p50 %.0f ms p99 %.0f ms)'
            % (p50 / 1e6, p99 / 1e6)))
    rec = recovery_times(reqs, faults, nodes)
    if rec is not None:
        parts.append('recovery %s' % ('never' if rec == float('inf')
                                      else '%.1f s' % (rec / 1e9)))
    if not reqs:
        verdict = 'UNKNOWN'
        parts.append('no requests')
    else:
        verdict = 'FAIL' if failed else 'PASS'
    per_node = {'%s/%s' % k: {'n': v[0], 'ok': v[1]}
                for k, v in sorted(cells.items())}
    return {'name': name, 'verdict': verdict, 'summary': ' | '.join(parts),
            'witness': {'below_gate': failed, 'cells': per_node}
            if failed else None, 'cells': per_node}
