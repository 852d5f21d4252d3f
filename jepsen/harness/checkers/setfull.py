"""(b) Acknowledged admin writes are never lost (docs/fault-injection.md 4.4b), set-full
semantics over the durable workload's history:

  add x         ok / fail / info
  read          ok value = sorted list of elements present (linearizable)
  final-read    ok value = the list read locally from one node at the end

  lost        acknowledged but missing from a final read, or seen by a
              linearizable read and missing from a later one (invoked
              after the first completed)                          -> FAIL
  stale       acknowledged, then missing from a linearizable read
              invoked after the acknowledgement                   -> FAIL
  unexpected  present but never attempted, or present although its add
              definitely failed (503 not-proposed)                -> FAIL
  recovered   info but present (counted)
Also the visibility latency: ack -> first read containing it.
"""


def _pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def check(events, wl='durable', name='b/no-lost-acked-writes'):
    inv = {}
    adds = {}           # x -> {'inv', 'type', 'ok_t'}
    reads = []          # (inv_t, ok_t, set, invoke event, node)
    finals = []
    for ev in events:
        if ev.get('wl') != wl or ev.get('proc') == 'nemesis':
            continue
        if ev.get('type') == 'invoke':
            inv[ev['i']] = ev
            if ev.get('f') == 'add':
                adds[ev['value']] = {'inv': ev, 'type': 'info',
                                     'ok_t': None}
            continue
        i = inv.get(ev.get('inv'))
        if i is None:
            continue
        if i.get('f') == 'add':
            a = adds[i['value']]
            a['type'] = ev['type']
            if ev['type'] == 'ok':
                a['ok_t'] = ev['t']
        elif ev['type'] == 'ok' and i.get('f') in ('read', 'final-read'):
            s = set(ev.get('value') or [])
            rec = (i['t'], ev['t'], s, i, i.get('node'))
            (finals if i['f'] == 'final-read' else reads).append(rec)
    acked = {x for x, a in adds.items() if a['type'] == 'ok'}
    failed = {x for x, a in adds.items() if a['type'] == 'fail'}
    infos = {x for x, a in adds.items() if a['type'] == 'info'}
    lost, stale, unexpected, failed_present = {}, {}, set(), set()
    present_any = set()
    for _, _, s, _, _ in reads + finals:
        present_any |= s
    unexpected = {x for x in present_any if x not in adds}
    failed_present = present_any & failed
    recovered = present_any & infos
    # final reads: every acked element on every node
    for _, _, s, i, node in finals:
        for x in acked - s:
            lost.setdefault(x, 'missing from the final read of %s' % node)
    # linearizable reads: sweep in invoke order
    reads.sort(key=lambda r: r[0])
    first_seen = {}     # x -> completion time of the first read with x
    lat = []
    for t_inv, t_ok, s, i, node in reads:
        for x in s:
            if x not in first_seen:
                first_seen[x] = t_ok
                a = adds.get(x)
                if a and a['ok_t'] is not None:
                    lat.append(max(0, t_inv - a['ok_t']))
    by_ok = sorted(reads, key=lambda r: r[1])
    for x in acked:
        a = adds[x]
        for t_inv, t_ok, s, i, node in reads:
            if x in s:
                continue
            if t_inv > a['ok_t']:
                stale.setdefault(x, 'read %d on %s invoked %.3f s after '
                                 'the ack' % (i['i'], node,
                                              (t_inv - a['ok_t']) / 1e9))
            elif x in first_seen and t_inv > first_seen[x]:
                lost.setdefault(x, 'seen, then missing from read %d'
                                % i['i'])
    for x in present_any - acked:
        if x in first_seen:
            for t_inv, t_ok, s, i, node in reads:
                if t_inv > first_seen[x] and x not in s:
                    lost.setdefault(x, 'seen, then missing from read %d'
                                    % i['i'])
                    break
    del by_ok
    bad = bool(lost or stale or unexpected or failed_present)
    p99 = _pct(lat, 0.99)
    summary = ('%d acked, %d lost, %d stale, %d unexpected, %d failed-but-'
               'present, %d recovered; %d reads, %d final reads; '
               'visibility p99 %s'
               % (len(acked), len(lost), len(stale), len(unexpected),
                  len(failed_present), len(recovered), len(reads),
                  len(finals),
                  '-' if p99 is None else '%.0f ms' % (p99 / 1e6)))
    witness = None
    if bad:
        witness = {
            'lost': [{'x': x, 'why': w, 'ack_t': adds[x]['ok_t'],
                      'rid': adds[x]['inv'].get('rid')}
                     for x, w in sorted(lost.items(), key=str)[:10]],
            'stale': [{'x': x, 'why': w, 'ack_t': adds[x]['ok_t']}
                      for x, w in sorted(stale.items(), key=str)[:10]],
            'unexpected': sorted(unexpected, key=str)[:10],
            'failed_present': sorted(failed_present, key=str)[:10],
        }
    if not finals:
        verdict = 'FAIL' if bad else 'UNKNOWN'
        summary += '; no final reads'
    else:
        verdict = 'FAIL' if bad else 'PASS'
    return {'name': name, 'verdict': verdict, 'summary': summary,
            'witness': witness}
