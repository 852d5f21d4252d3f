"""(b) Convergence after heal (docs/fault-injection.md 4.4b): within T_conv of the final
heal every node reports the same (config_version, config_hash), and the
applied logs (GET /debug/applied) agree on their common entries (log
matching: the same index carries the same term, request id, type, status
and revision on every node).

Inputs: polls = [(t_ns, {node: status or None})] taken after the heal at
heal_t (ns), until they agree or bound_s has passed; dumps = {node:
[applied entries] or None}.  Never converging is a FAIL only when the polls
cover the bound; a shorter window is UNKNOWN.
"""

FIELDS = ('term', 'request_id', 'type', 'kind', 'status', 'revision')


def converged_at(polls, nodes):
    """(t, (version, hash)) of the first poll where all @nodes agree."""
    for t, sts in polls:
        vals = set()
        for n in nodes:
            st = sts.get(n)
            if not st:
                vals = None
                break
            vals.add((st.get('config_version'), st.get('config_hash')))
        if vals is not None and len(vals) == 1:
            return t, vals.pop()
    return None, None


def log_matching(dumps):
    """[(index, {node: entry})] where nodes disagree."""
    by_index = {}
    for n, d in dumps.items():
        for e in d or []:
            by_index.setdefault(e.get('index'), {})[n] = e
    bad = []
    for idx in sorted(by_index, key=lambda x: (x is None, x)):
        es = by_index[idx]
        if len(es) < 2:
            continue
        vals = {tuple(e.get(k) for k in FIELDS) for e in es.values()}
        if len(vals) > 1:
            bad.append((idx, es))
    return bad


def check(polls, dumps, heal_t, nodes, bound_s=10.0, name='b/converged'):
    t, val = converged_at(polls, nodes)
    bad = log_matching(dumps)
    missing = [n for n in nodes if not dumps.get(n)]
    parts = []
    witness = {}
    verdict = 'PASS'
    if t is None:
        # "Not within the bound" needs polls that reach the bound: a poll
        # window cut short (one poll right after the final writes, say)
        # shows only that the nodes had not converged yet.
        last = polls[-1] if polls else (None, {})
        span = ((last[0] - heal_t) / 1e9) if last[0] is not None else 0.0
        if span >= bound_s:
            verdict = 'FAIL'
            parts.append('not converged within %.0f s (%d polls over '
                         '%.1f s after heal)' % (bound_s, len(polls), span))
        else:
            verdict = 'UNKNOWN'
            parts.append('not converged yet, but the %d polls end %.1f s '
                         'after heal, short of the %.0f s bound'
                         % (len(polls), span, bound_s))
        witness['last'] = {n: (s or {}).get('config_version') and
                           {k: s.get(k) for k in
                            ('config_version', 'config_hash',
                             'applied_index', 'commit_index', 'term',
                             'leader_id', 'raft_state')}
                           for n, s in last[1].items()}
    else:
        dt = (t - heal_t) / 1e9
        parts.append('%s @ version %s hash %s %.1f s after heal (bound '
                     '%.0f s)' % (','.join(nodes), val[0], val[1], dt,
                                  bound_s))
        if dt > bound_s:
            verdict = 'FAIL'
    if bad:
        verdict = 'FAIL'
        parts.append('logs differ at %d indexes (first %s)'
                     % (len(bad), bad[0][0]))
        witness['log_mismatch'] = [{'index': i, 'entries': es}
                                   for i, es in bad[:3]]
    elif missing:
        parts.append('no applied log from %s' % ','.join(missing))
        if verdict == 'PASS':
            verdict = 'UNKNOWN'
    else:
        common = None
        for d in dumps.values():
            s = {e.get('index') for e in d}
            common = s if common is None else common & s
        parts.append('logs match (%d common entries)' % len(common or ()))
    return {'name': name, 'verdict': verdict, 'summary': '; '.join(parts),
            'witness': witness or None}
