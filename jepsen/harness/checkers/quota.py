"""(c) Cluster quota: admitted <= envelope; the minority stops
(docs/fault-injection.md 4.4c).

Inputs are plain lists, so the self-tests can plant histories:

  admits   [{'node', 'inv', 'cmp', 'lease', 'window', 'hnode'}]: every
           admitted request (200) with its client span in ns (harness
           monotonic clock) and the X-Raftgate-Quota fields (lease id,
           window start in epoch seconds, the node the header names);
           admits(events) builds it from a history.
  samples  [{'t', 'node', 'status'}] (GET /status at 10 Hz), for the lease
           table (status.quota.leases: [{id, key, window, tokens, used,
           expires_in_ms}]) and the lease lifetime D.
  faults   ctx.faults(): [{'kind', 'start', 'end', 'nodes', 'value'}].

c1 envelope (clock-free, sound): for every interval [t1, t2] the admits
   whose whole span lies inside it number at most B + r*(t2 - t1) + S.
   For fixed windows (W s, limit L) the true bound L*(ceil(dt/W)+1)*(1+rho)
   + S lies under the line 2L(1+rho) + L(1+rho)/W*dt + S, so B = 2L(1+rho)
   and r = L(1+rho)/W.  Computed exactly over every candidate pair (t1 an
   invoke, t2 a completion) by a sweep over completions with a segment
   tree (range add, range max): O(n log n).
c2 server accounting: per lease, and at every sample of its lease table,
   the admits answered before that sample was asked for <= the tokens it
   showed granted; one node only; per window, sum of admits <= L + S.
   (A lease id names one node process's grants of one window, and its
   tokens only grow: a grant after the lease's last sample, before the
   window ends or the node is killed, is never shown, so its admits are
   judged by the per-window sum alone, not against the last sample.)
c3 minority stops: a node cut off from the leader (isolated by a
   partition) admits nothing invoked after cut + D*(1+rho) + eps and
   answered before the heal, and no more during the cut than it held at
   the cut (last sample before it) plus one grant in flight; a paused
   node, once resumed, never spends again a lease it used before the
   pause (its monotonic clock ran on: the lease is expired).
c4 utilization (soft): per 5 s bin on the majority side, admitted /
   min(allowed, offered) after the first grace_s of each fault and heal;
   reported, FAIL only below 0.5.
"""

import math

NS = 1_000_000_000
RHO = 0.1           # allowed clock drift
EPS_S = 0.2         # decision/network slack for c3
MINORITY_WORDS = ('isolate',)


# ------------------------------------------------------------- inputs
def parse_header(v):
    """'node=n1;lease=L7;window=1700000000' -> dict (strings; window int
    when it parses)."""
    out = {}
    for part in str(v or '').split(';'):
        k, _, x = part.strip().partition('=')
        if k:
            out[k.strip()] = x.strip()
    if 'window' in out:
        try:
            out['window'] = int(out['window'])
        except ValueError:
            pass
    return out


def admits(events, wl='quota'):
    """Admitted requests (ok completions with http 200) of workload @wl:
    [{'node', 'inv', 'cmp', 'lease', 'window', 'hnode', 'i'}]."""
    inv = {}
    out = []
    for ev in events:
        if ev.get('wl') != wl or ev.get('proc') == 'nemesis':
            continue
        if ev.get('type') == 'invoke':
            inv[ev['i']] = ev
        elif ev.get('type') == 'ok' and ev.get('http') == 200 and \
                ev.get('inv') in inv:
            q = ev.get('quota') or {}
            out.append({'node': ev.get('node'), 'inv': inv[ev['inv']]['t'],
                        'cmp': ev['t'], 'lease': q.get('lease'),
                        'window': q.get('window'), 'hnode': q.get('node'),
                        'i': ev['inv']})
    return out


def offered(events, wl='quota'):
    """[(node, t_inv, admitted?)] of every completed request (200 or 429)."""
    inv = {}
    out = []
    for ev in events:
        if ev.get('wl') != wl or ev.get('proc') == 'nemesis':
            continue
        if ev.get('type') == 'invoke':
            inv[ev['i']] = ev
        elif ev.get('inv') in inv and ev.get('http') in (200, 429):
            out.append((ev.get('node'), inv[ev['inv']]['t'],
                        ev.get('http') == 200))
    return out


# ------------------------------------------------------------- c1
class SegTree:
    """Range add, range max over n leaves (iterative lazy-free form:
    max of a node = max(children) + add of the node)."""

    def __init__(self, values):
        n = 1
        while n < max(1, len(values)):
            n *= 2
        self.n = n
        self.mx = [-math.inf] * (2 * n)
        self.add = [0.0] * (2 * n)
        for k, v in enumerate(values):
            self.mx[n + k] = v
        for k in range(n - 1, 0, -1):
            self.mx[k] = max(self.mx[2 * k], self.mx[2 * k + 1])

    def _pull(self, k):
        while k > 1:
            k //= 2
            self.mx[k] = max(self.mx[2 * k], self.mx[2 * k + 1]) + \
                self.add[k]

    def range_add(self, lo, hi, v):
        """Add v to leaves lo..hi-1."""
        if lo >= hi:
            return
        lo += self.n
        hi += self.n
        l0, h0 = lo, hi - 1
        while lo < hi:
            if lo & 1:
                self.mx[lo] += v
                self.add[lo] += v
                lo += 1
            if hi & 1:
                hi -= 1
                self.mx[hi] += v
                self.add[hi] += v
            lo //= 2
            hi //= 2
        self._pull(l0)
        self._pull(h0)

    def range_max(self, lo, hi):
        """(max, leaf index) over leaves lo..hi-1 (hi > lo)."""
        best = (-math.inf, -1)
        # walk down from the root: simple recursive descent, O(log n)
        stack = [(1, 0, self.n, 0.0)]
        while stack:
            k, a, b, acc = stack.pop()
            if b <= lo or hi <= a:
                continue
            if lo <= a and b <= hi:
                v = self.mx[k] + acc
                if v > best[0]:
                    # descend to find the leaf
                    kk, aa, bb, ac = k, a, b, acc
                    while kk < self.n:
                        ac += self.add[kk]
                        m = (aa + bb) // 2
                        if self.mx[2 * kk] >= self.mx[2 * kk + 1]:
                            kk, bb = 2 * kk, m
                        else:
                            kk, aa = 2 * kk + 1, m
                    best = (v, aa)
                continue
            m = (a + b) // 2
            acc2 = acc + self.add[k]
            stack.append((2 * k, a, m, acc2))
            stack.append((2 * k + 1, m, b, acc2))
        return best


def envelope(spans, B, r_per_s, S=0.0):
    """Max over [t1, t2] (t1 an invoke, t2 a completion, t1 <= t2) of
    #{i: t1 <= inv_i, cmp_i <= t2} - (B + r*(t2 - t1) + S).  @spans:
    [(inv_ns, cmp_ns)].  Returns (excess, t1, t2, count, allowed) or None
    without spans.  O(n log n)."""
    if not spans:
        return None
    r = r_per_s / NS
    invs = sorted({a for a, _ in spans})
    idx = {t: k for k, t in enumerate(invs)}
    # leaf k: count(inv >= invs[k], cmp <= t2) + r*invs[k]
    tree = SegTree([r * t for t in invs])
    best = None
    import bisect
    for a, b in sorted(spans, key=lambda s: s[1]):
        tree.range_add(0, idx[a] + 1, 1.0)
        hi = bisect.bisect_right(invs, b)     # t1 <= t2 = b
        v, k = tree.range_max(0, hi)
        exc = v - r * b - B - S
        if best is None or exc > best[0]:
            t1 = invs[k]
            cnt = round(v - r * t1)
            best = (exc, t1, b, cnt, B + r * (b - t1) + S)
    return best


def envelope_brute(spans, B, r_per_s, S=0.0):
    """The same maximum by enumeration (O(n^3)): for the self-tests."""
    if not spans:
        return None
    r = r_per_s / NS
    best = None
    for t1 in {a for a, _ in spans}:
        for t2 in {b for _, b in spans}:
            if t1 > t2:
                continue
            c = sum(1 for a, b in spans if t1 <= a and b <= t2)
            exc = c - (B + r * (t2 - t1) + S)
            if best is None or exc > best[0]:
                best = (exc, t1, t2, c, B + r * (t2 - t1) + S)
    return best


def fixed_window_params(L, W_s, rho=RHO):
    """(B, r) of the line over the fixed-window step bound."""
    return 2 * L * (1 + rho), L * (1 + rho) / W_s


def check_envelope(adm, L, W_s, S=0, rho=RHO, name='c1/quota-envelope'):
    B, r = fixed_window_params(L, W_s, rho)
    res = envelope([(a['inv'], a['cmp']) for a in adm], B, r, S)
    if res is None:
        return {'name': name, 'verdict': 'UNKNOWN',
                'summary': 'no admitted requests', 'witness': None}
    exc, t1, t2, cnt, allowed = res
    bad = exc > 1e-9
    per_node = {}
    if bad:
        for a in adm:
            if t1 <= a['inv'] and a['cmp'] <= t2:
                per_node[a['node']] = per_node.get(a['node'], 0) + 1
    return {'name': name, 'verdict': 'FAIL' if bad else 'PASS',
            'summary': 'max excess %+.1f (B=%.0f r=%.1f/s S=%s) worst '
                       '[%.2f,%.2f]s %d admits vs %.1f allowed; %d admits' % (
                           exc, B, r, S, t1 / NS, t2 / NS, cnt, allowed,
                           len(adm)),
            'witness': {'t1_s': t1 / NS, 't2_s': t2 / NS, 'admits': cnt,
                        'allowed': round(allowed, 2),
                        'per_node': per_node} if bad else None}


# ------------------------------------------------------------- c2
def lease_table(samples):
    """lease id -> {'tokens': max granted seen, 'nodes': {sampling
    nodes}, 'window', 'seen': [(t, tokens)] in time order}."""
    out = {}
    for s in samples:
        st = s.get('status') or {}
        q = st.get('quota') or {}
        for ls in q.get('leases') or []:
            lid = ls.get('id')
            if lid is None:
                continue
            lid = str(lid)
            d = out.setdefault(lid, {'tokens': 0, 'nodes': set(),
                                     'window': ls.get('window'),
                                     'key': ls.get('key'), 'seen': []})
            try:
                tok = int(ls.get('tokens') or 0)
            except (TypeError, ValueError):
                continue
            d['tokens'] = max(d['tokens'], tok)
            d['seen'].append((s.get('t', 0), tok))
            d['nodes'].add(s.get('node'))
    for d in out.values():
        d['seen'].sort()
    return out


def overspent_at(lst, seen):
    """The first sample (t, tokens) of a lease at which more of its admits
    @lst had been answered (cmp <= t: taken before the status was asked
    for) than the sample showed granted, as (t, tokens, admits); None when
    every sample covers them.  Also the admits answered after the last
    sample (the tail, judged per window only)."""
    cmps = sorted(a['cmp'] for a in lst)
    k = 0
    bad = None
    for t, tok in seen:
        while k < len(cmps) and cmps[k] <= t:
            k += 1
        if k > tok and bad is None:
            bad = (t, tok, k)
    last = seen[-1][0] if seen else None
    tail = sum(1 for c in cmps if last is None or c > last)
    return bad, tail


def check_accounting(adm, samples, L, S=0, name='c2/quota-accounting'):
    bad = []
    no_header = sum(1 for a in adm if not a.get('lease'))
    by_lease = {}
    by_window = {}
    for a in adm:
        if a.get('lease'):
            by_lease.setdefault(str(a['lease']), []).append(a)
        if a.get('window') is not None:
            by_window.setdefault(a['window'], []).append(a)
        if a.get('hnode') and a['hnode'] != a['node']:
            if len(bad) < 20:
                bad.append({'kind': 'header-node', 'asked': a['node'],
                            'header': a['hnode'], 'i': a.get('i')})
    table = lease_table(samples)
    unverified = 0
    shared = 0
    tail = 0
    for lid, lst in by_lease.items():
        nodes = sorted({a['node'] for a in lst})
        if len(nodes) > 1:
            bad.append({'kind': 'lease-on-two-nodes', 'lease': lid,
                        'nodes': nodes, 'admits': len(lst)})
        t = table.get(lid)
        if t is None or not t['tokens']:
            unverified += 1
            continue
        over, n_tail = overspent_at(lst, t['seen'])
        tail += n_tail
        if over is not None:
            bad.append({'kind': 'lease-overspent', 'lease': lid,
                        'sample_t_s': over[0] / NS, 'tokens': over[1],
                        'admits_before': over[2], 'admits': len(lst),
                        'node': nodes})
        if t['nodes'] - set(nodes):
            # listed by another node's table too: fine if the tables show
            # the ledger (the leader's view), so only counted
            shared += 1
    worst = None
    for w, lst in by_window.items():
        if worst is None or len(lst) > worst[1]:
            worst = (w, len(lst))
        if len(lst) > L + S:
            per = {}
            for a in lst:
                per[a['node']] = per.get(a['node'], 0) + 1
            bad.append({'kind': 'window-over-limit', 'window': w,
                        'admits': len(lst), 'limit': L + S,
                        'per_node': per})
    if not adm:
        verdict, summ = 'UNKNOWN', 'no admitted requests'
    elif no_header == len(adm):
        verdict, summ = 'UNKNOWN', 'no admitted answer carried ' \
                                   'X-Raftgate-Quota'
    else:
        verdict = 'FAIL' if bad else 'PASS'
        summ = ('%d leases (%d not in any sampled lease table, %d also in '
                'another node\'s), %d admits after their lease\'s last '
                'sample (judged per window), %d windows, busiest %s with %s '
                'admits (limit %s + S %s); %d admits without header; %d '
                'anomalies'
                % (len(by_lease), unverified, shared, tail, len(by_window),
                    worst[0] if worst else '-', worst[1] if worst else 0,
                    L, S, no_header, len(bad)))
        if no_header:
            verdict = 'FAIL'    # an admitted answer must carry the header
    return {'name': name, 'verdict': verdict, 'summary': summ,
            'witness': bad[:20] or None}


# ------------------------------------------------------------- c3
def lease_duration_ms(samples, default_ms=500):
    """D from the status (quota.lease_ms, lease_duration_ms, duration_ms or
    d_ms), else the larger of @default_ms and the longest expires_in_ms
    ever sampled.  Returns (D ms, source)."""
    best = None
    longest = 0
    for s in samples:
        q = (s.get('status') or {}).get('quota') or {}
        for k in ('lease_ms', 'lease_duration_ms', 'duration_ms', 'd_ms'):
            v = q.get(k)
            if isinstance(v, (int, float)) and v > 0:
                best = max(best or 0, v)
        for ls in q.get('leases') or []:
            v = ls.get('expires_in_ms')
            if isinstance(v, (int, float)):
                longest = max(longest, v)
    if best is not None:
        return float(best), 'status'
    return float(max(default_ms, longest)), 'default/observed'


def cuts(faults):
    """[(node, t_cut, t_heal, kind)]: nodes a partition put alone in the
    minority (cut off from every peer, so from the leader)."""
    out = []
    for f in faults:
        v = f.get('value') or {}
        kind = str(f.get('kind', ''))
        if not any(w in kind for w in MINORITY_WORDS):
            continue
        if 'consul' in kind:
            continue        # cut from Consul, not from the leader
        for n in v.get('minority') or []:
            out.append((n, v.get('t_apply', f['start']), f.get('end'), kind))
    return out


def pauses(faults):
    out = []
    for f in faults:
        kind = str(f.get('kind', ''))
        if kind.startswith('pause') or kind.startswith('freeze'):
            for n in f.get('nodes') or []:
                out.append((n, (f.get('value') or {}).get('t_apply',
                                                           f['start']),
                            f.get('end'), kind))
    return out


def held_at(samples, node, t):
    """Unspent tokens in @node's lease table at its last sample before t
    (None without one), and the largest lease seen anywhere."""
    last = None
    for s in samples:
        if s.get('node') == node and s['t'] <= t and s.get('status'):
            last = s
    if last is None:
        return None
    held = 0
    for ls in ((last['status'].get('quota') or {}).get('leases') or []):
        try:
            if (ls.get('expires_in_ms') or 0) > 0:
                held += max(0, int(ls.get('tokens') or 0) -
                            int(ls.get('used') or 0))
        except (TypeError, ValueError):
            pass
    return held


def max_lease(samples):
    m = 0
    for s in samples:
        for ls in (((s.get('status') or {}).get('quota') or {})
                   .get('leases') or []):
            try:
                m = max(m, int(ls.get('tokens') or 0))
            except (TypeError, ValueError):
                pass
    return m


def check_minority(adm, faults, samples, D_ms=None, rho=RHO, eps_s=EPS_S,
                   name='c3/minority-stops'):
    if D_ms is None:
        D_ms, src = lease_duration_ms(samples)
    else:
        src = 'given'
    bound = int((D_ms / 1000.0 * (1 + rho) + eps_s) * NS)
    big = max_lease(samples)
    bad = []
    parts = []
    cs = cuts(faults)
    for node, t0, t1, kind in cs:
        end = t1 if t1 is not None else math.inf
        during = [a for a in adm if a['node'] == node and a['inv'] >= t0
                  and a['cmp'] <= end]
        late = [a for a in during if a['inv'] >= t0 + bound]
        last = max((a['cmp'] for a in during), default=None)
        held = held_at(samples, node, t0)
        parts.append('%s cut %.1f s: %d admits, last %s (bound %.2f s)%s' % (
            node, ((end if end != math.inf else t0) - t0) / NS, len(during),
            'none' if last is None else '+%.2f s' % ((last - t0) / NS),
            bound / NS, '' if held is None else ', held %d' % held))
        if late:
            bad.append({'kind': 'admit-after-lease-expiry', 'node': node,
                        'cut_s': t0 / NS, 'bound_s': bound / NS,
                        'late_admits': len(late),
                        'first': {'inv_s': late[0]['inv'] / NS,
                                  'lease': late[0].get('lease')}})
        if held is not None and len(during) > held + big:
            bad.append({'kind': 'spent-more-than-held', 'node': node,
                        'cut_s': t0 / NS, 'admits': len(during),
                        'held': held, 'in_flight_allowance': big})
    ps = pauses(faults)
    for node, t0, t1, kind in ps:
        if t1 is None:
            continue
        before = {a['lease'] for a in adm if a['node'] == node and
                  a['cmp'] <= t0 and a.get('lease')}
        reused = [a for a in adm if a['node'] == node and a['inv'] >= t1 and
                  a['inv'] >= t0 + bound and a.get('lease') in before]
        parts.append('%s paused %.1f s: %d admits on old leases after' % (
            node, (t1 - t0) / NS, len(reused)))
        if reused and t1 - t0 >= bound:
            bad.append({'kind': 'old-lease-after-pause', 'node': node,
                        'pause_s': [t0 / NS, t1 / NS],
                        'admits': len(reused),
                        'leases': sorted({a['lease'] for a in reused})[:5]})
    if not cs and not ps:
        return {'name': name, 'verdict': 'INFO',
                'summary': 'no node cut off or paused (D=%.0f ms %s)' % (
                    D_ms, src), 'witness': None}
    return {'name': name, 'verdict': 'FAIL' if bad else 'PASS',
            'summary': '; '.join(parts)[:400] + ' (D=%.0f ms %s)' % (D_ms,
                                                                     src),
            'witness': bad or None}


# ------------------------------------------------------------- c4
def down_nodes(faults, t0, t1):
    """Nodes killed, paused or isolated at any time in [t0, t1)."""
    out = set()
    for f in faults:
        s = (f.get('value') or {}).get('t_apply', f['start'])
        e = f.get('end') if f.get('end') is not None else math.inf
        if s >= t1 or e <= t0:
            continue
        kind = str(f.get('kind', ''))
        if kind.startswith(('kill', 'pause', 'freeze')):
            out |= set(f.get('nodes') or [])
        elif 'isolate' in kind and 'consul' not in kind:
            out |= set((f.get('value') or {}).get('minority') or [])
    return out


def other_fault(faults, t0, t1):
    """Is a disk or packet fault on in [t0, t1)?  (ENOSPC, loss, delay:
    the majority side is not defined; clock skew within rho is judged.)"""
    for f in faults:
        s = (f.get('value') or {}).get('t_apply', f['start'])
        e = f.get('end') if f.get('end') is not None else math.inf
        if s >= t1 or e <= t0:
            continue
        kind = str(f.get('kind', ''))
        if kind.startswith(('enospc', 'loss', 'delay')):
            return True
    return False


def check_utilization(events_offered, faults, nodes, L, W_s, t_span,
                      bin_s=5.0, grace_s=2.0, floor=0.5,
                      name='c4/quota-utilization'):
    """@events_offered: offered() output; @t_span: (t_start, t_end) ns of
    the main phase the bins cover."""
    bin_ns = int(bin_s * NS)
    grace = int(grace_s * NS)
    marks = []
    for f in faults:
        s = (f.get('value') or {}).get('t_apply', f['start'])
        marks.append(s)
        if f.get('end') is not None:
            marks.append(f['end'])
    ratios = []
    t = t_span[0]
    low = []
    skipped = 0
    while t + bin_ns <= t_span[1]:
        t_end = t + bin_ns
        if any(t - grace < m < t_end for m in marks):
            t = t_end
            continue
        if other_fault(faults, t, t_end):
            t = t_end
            skipped += 1
            continue            # disk, packet, clock: no majority side
        down = down_nodes(faults, t, t_end)
        up = [n for n in nodes if n not in down]
        if len(up) * 2 <= len(nodes):
            t = t_end
            continue            # no majority side
        off = [x for x in events_offered if t <= x[1] < t_end and
               x[0] in up]
        adm = sum(1 for x in off if x[2])
        allowed = min(L * bin_s / W_s, len(off))
        if allowed > 0:
            r = adm / allowed
            ratios.append(r)
            if r < floor:
                low.append({'bin_s': [t / NS, t_end / NS], 'admits': adm,
                            'allowed': allowed, 'offered': len(off)})
        t = t_end
    if not ratios:      # soft: nothing to judge is not a verdict
        return {'name': name, 'verdict': 'INFO',
                'summary': 'no eligible %.0f s bin' % bin_s, 'witness': None}
    ratios.sort()
    return {'name': name, 'verdict': 'FAIL' if low else 'PASS',
            'summary': '%d bins of %.0f s: min %.2f median %.2f (fail < %.1f,'
                       ' goal 0.8); %d bins under disk/packet faults '
                       'not judged' % (len(ratios), bin_s, ratios[0],
                                       ratios[len(ratios) // 2], floor,
                                       skipped),
            'witness': low[:10] or None}


def check_all(events, samples, faults, nodes, L, W_s, S=0, t_span=None,
              D_ms=None):
    adm = admits(events)
    out = [check_envelope(adm, L, W_s, S),
           check_accounting(adm, samples, L, S),
           check_minority(adm, faults, samples, D_ms=D_ms)]
    if t_span is None:
        ts = [a['inv'] for a in adm] or [0]
        t_span = (min(ts), max(ts))
    out.append(check_utilization(offered(events), faults, nodes, L, W_s,
                                 t_span))
    return out
