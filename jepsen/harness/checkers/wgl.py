"""Wing-Gong / Lowe linearizability checker for a register (docs/fault-injection.md 4.4a).

The model is a register per key with three operations:
    read  v        ok iff state == v          (v None: the key is absent)
    write v        state := v
    cas   [e, v]   res True : requires state == e, then state := v
                   res False: requires state != e (412 at the linearization
                              point: an ok op that changed nothing)
                   res None : either (a resolved info op whose result is
                              not known)

An op is a dict {id, f, value, res, call, ret, optional}.  call and ret
are times (ns); ret None means "never returned" (an info op): it may be
linearized at any point after its call.  optional ops (info ops we could
not resolve) may also never take effect; required ops must all be
linearized.

check(ops) runs Lowe's WGL with a cache of (linearized set, state): the
search lifts a call and its return out of a doubly linked entry list when
the op can be applied, and backtracks when it meets the return of an op
that is still pending.  The deepest partial linearization and the op where
the search got stuck are kept as the witness.
"""

import time

INF = float('inf')
OK, FAIL, UNKNOWN = 'PASS', 'FAIL', 'UNKNOWN'


def step(state, op):
    """(ok, new_state) of applying @op to @state."""
    f = op['f']
    if f == 'read':
        return state == op['value'], state
    if f == 'write':
        return True, op['value']
    if f == 'cas':
        e, v = op['value']
        res = op.get('res')
        if res is True:
            return (True, v) if state == e else (False, state)
        if res is False:
            return state != e, state
        raise ValueError('cas with unknown result goes through expand()')
    raise ValueError('unknown f %r' % (f,))


class _Entry:
    __slots__ = ('op', 'is_call', 'time', 'match', 'prev', 'next', 'k')

    def __init__(self, op, is_call, t, k):
        self.op = op
        self.is_call = is_call
        self.time = t
        self.k = k
        self.match = None
        self.prev = None
        self.next = None


def _build(ops):
    """Linked list of call/return entries ordered by time.  At equal times
    calls come first (the ops are then concurrent: the permissive choice).
    Returns of never-returned ops come after every finite return, required
    ones before optional ones, so reaching an optional return means every
    required op is linearized."""
    ents = []
    for k, op in enumerate(ops):
        c = _Entry(op, True, op['call'], k)
        if op.get('ret') is None:
            rt = (INF, 1 if op.get('optional') else 0)
        else:
            rt = (op['ret'], 0)
        r = _Entry(op, False, rt, k)
        c.match = r
        ents.append(((op['call'], 0, 0), c))
        ents.append(((rt[0], rt[1], 1), r))
    ents.sort(key=lambda x: (x[0][0], x[0][2], x[0][1], x[1].k))
    head = _Entry(None, False, -1, -1)
    prev = head
    for _, e in ents:
        prev.next = e
        e.prev = prev
        prev = e
    return head


def _lift(e):
    e.prev.next = e.next
    if e.next is not None:
        e.next.prev = e.prev
    m = e.match
    m.prev.next = m.next
    if m.next is not None:
        m.next.prev = m.prev


def _unlift(e):
    m = e.match
    m.prev.next = m
    if m.next is not None:
        m.next.prev = m
    e.prev.next = e
    if e.next is not None:
        e.next.prev = e


def _step_any(state, op):
    if op['f'] == 'cas' and op.get('res') is None:
        e, v = op['value']
        return True, (v if state == e else state)
    return step(state, op)


def check(ops, init=None, budget_s=10.0):
    """Check one key's ops.  Returns a dict: verdict PASS/FAIL/UNKNOWN,
    ops (count), elapsed (s), and on FAIL: stuck (the op whose return was
    reached while it could not be linearized at the deepest point),
    partial (the deepest linearization, a list of op dicts in order)."""
    t0 = time.monotonic()
    ops = list(ops)
    n = len(ops)
    res = {'verdict': OK, 'ops': n, 'elapsed': 0.0}
    if n == 0:
        return res
    head = _build(ops)
    state = init
    linearized = 0
    calls = []          # stack of (entry, state before)
    cache = set()
    best_depth = -1
    best_partial = []
    stuck = None
    entry = head.next
    iters = 0
    while head.next is not None:
        iters += 1
        if (iters & 0x3ff) == 0 and time.monotonic() - t0 > budget_s:
            res['verdict'] = UNKNOWN
            res['elapsed'] = time.monotonic() - t0
            res['why'] = 'over budget (%.1f s)' % budget_s
            return res
        if entry.is_call:
            ok, new_state = _step_any(state, entry.op)
            if ok:
                nl = linearized | (1 << entry.k)
                key = (nl, new_state)
                if key not in cache:
                    cache.add(key)
                    calls.append((entry, state))
                    state = new_state
                    linearized = nl
                    _lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            if entry.op.get('ret') is None and entry.op.get('optional'):
                break       # only optional ops are left pending
            if len(calls) > best_depth:
                best_depth = len(calls)
                best_partial = [c[0].op for c in calls]
                stuck = entry.op
            if not calls:
                res['verdict'] = FAIL
                res['stuck'] = stuck
                res['partial'] = best_partial
                res['elapsed'] = time.monotonic() - t0
                return res
            entry, state = calls.pop()
            linearized &= ~(1 << entry.k)
            _unlift(entry)
            entry = entry.next
    res['elapsed'] = time.monotonic() - t0
    return res


# ---------------------------------------------------------------------------
# history -> per-key op lists

def pair(events, wl='register'):
    """Invoke/completion pairs of workload @wl: a list of (invoke,
    completion or None) in invoke order."""
    inv = {}
    out = []
    for ev in events:
        if ev.get('wl') != wl or ev.get('proc') == 'nemesis':
            continue
        if ev.get('type') == 'invoke':
            inv[ev['i']] = [ev, None]
            out.append(inv[ev['i']])
        else:
            k = ev.get('inv')
            if k is None:
                # no back pointer: the process' open invoke
                for p in reversed(out):
                    if p[1] is None and p[0].get('proc') == ev.get('proc'):
                        k = p[0]['i']
                        break
            if k in inv:
                inv[k][1] = ev
    return out


def register_ops(events, applied=None, applied_complete=False,
                 wl='register', reads=('read',)):
    """Per-key op lists for check() from a history (docs/fault-injection.md 4.4a
    pre-processing).

    fail ops and info reads are dropped; an ok cas carries res (False for
    412).  An info write/cas is looked up by its request id in @applied
    (rid -> {'status': 'ok'|'conflict'|...}): found ok -> a required op that
    never returned (a cas with res True), found conflict -> a cas with res
    False (a write: dropped), not found -> dropped when @applied_complete
    (the applied logs cover the whole run), otherwise optional.
    Ops whose invoke never completed are treated as info.
    Returns (keys: {key: [op]}, stats)."""
    keys = {}
    stats = {'ok': 0, 'fail': 0, 'info': 0, 'resolved': 0, 'dropped': 0,
             'optional': 0}
    for inv, comp in pair(events, wl):
        f = inv.get('f')
        if f not in reads and f not in ('write', 'cas'):
            continue
        typ = comp.get('type') if comp else 'info'
        stats[typ] = stats.get(typ, 0) + 1
        if typ == 'fail':
            continue
        op = {'id': inv['i'], 'f': 'read' if f in reads else f,
              'value': inv.get('value'), 'call': inv['t'], 'ret': None,
              'proc': inv.get('proc'), 'node': inv.get('node'),
              'key': inv.get('key'), 'rid': inv.get('rid')}
        if op['f'] == 'cas' and isinstance(op['value'], list):
            op['value'] = tuple(op['value'])
        if typ == 'ok':
            op['ret'] = comp['t']
            op['cid'] = comp['i']
            if op['f'] == 'read':
                op['value'] = comp.get('value')
            if op['f'] == 'cas':
                op['res'] = bool(comp.get('res'))
        else:
            if op['f'] == 'read':
                stats['info_reads'] = stats.get('info_reads', 0) + 1
                continue
            a = (applied or {}).get(inv.get('rid'))
            if a is not None:
                st = a.get('status')
                if st == 'ok':
                    if op['f'] == 'cas':
                        op['res'] = True
                    stats['resolved'] += 1
                elif st == 'conflict' and op['f'] == 'cas':
                    op['res'] = False
                    stats['resolved'] += 1
                else:
                    stats['dropped'] += 1
                    continue
            elif applied_complete:
                stats['dropped'] += 1
                continue
            else:
                op['optional'] = True
                if op['f'] == 'cas':
                    op['res'] = None
                stats['optional'] += 1
        keys.setdefault(op['key'], []).append(op)
    return keys, stats


def context_lines(events, i, radius=10):
    """The history lines around global index @i."""
    pos = None
    for k, ev in enumerate(events):
        if ev.get('i') == i:
            pos = k
            break
    if pos is None:
        return []
    return events[max(0, pos - radius):pos + radius + 1]


def short(op):
    if op is None:
        return None
    d = {k: op.get(k) for k in ('id', 'proc', 'node', 'f', 'value', 'res',
                                'call', 'ret')}
    if op.get('optional'):
        d['optional'] = True
    return d


def check_history(events, applied=None, applied_complete=False,
                  budget_key=10.0, budget_total=60.0, wl='register'):
    """WGL over every key.  Returns one result dict (name, verdict,
    summary, witness)."""
    keys, stats = register_ops(events, applied, applied_complete, wl)
    t0 = time.monotonic()
    valid = invalid = unknown = 0
    worst = 0.0
    witness = None
    for key in sorted(keys, key=str):
        left = budget_total - (time.monotonic() - t0)
        if left <= 0:
            unknown += 1
            continue
        r = check(keys[key], budget_s=min(budget_key, left))
        worst = max(worst, r['elapsed'])
        if r['verdict'] == OK:
            valid += 1
        elif r['verdict'] == FAIL:
            invalid += 1
            if witness is None:
                st = r.get('stuck')
                witness = {
                    'key': key,
                    'stuck': short(st),
                    'partial': [short(o) for o in r.get('partial', [])],
                    'lines': context_lines(events, st['id']) if st else [],
                }
        else:
            unknown += 1
    verdict = FAIL if invalid else (UNKNOWN if unknown else OK)
    summary = ('%d keys: %d valid, %d invalid, %d unknown; %d info '
               '(%d reads dropped; writes: %d found applied, %d not applied,'
               ' %d open); max %.2f s/key'
               % (len(keys), valid, invalid, unknown, stats['info'],
                  stats.get('info_reads', 0), stats['resolved'],
                  stats['dropped'], stats['optional'], worst))
    return {'name': 'a/linearizable-admin', 'verdict': verdict,
            'summary': summary, 'witness': witness, 'counts': stats}
