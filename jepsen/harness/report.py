"""Report: report.txt + results.json + per-test timeline.svg (docs/fault-injection.md
4.9).  The last line is `jepsen: N passed, N failed, N skipped`; UNKNOWN
verdicts are counted as skipped (allowed in smoke) and listed."""

import json
import os


def counts(results):
    p = f = s = 0
    for tr in results:
        if tr.get('skipped'):
            s += 1
            continue
        for c in tr.get('checks', []):
            v = c.get('verdict')
            if v == 'PASS':
                p += 1
            elif v == 'FAIL':
                f += 1
            elif v in ('UNKNOWN', 'SKIPPED', 'XFAIL'):
                s += 1  # XFAIL: a known open failure (KNOWN_SMOKE)
            # INFO lines are not counted
    return p, f, s


def op_counts(events):
    out = {}
    for ev in events:
        if ev.get('proc') == 'nemesis' or ev.get('type') == 'invoke':
            continue
        wl = ev.get('wl', '?')
        d = out.setdefault(wl, {'ok': 0, 'fail': 0, 'info': 0})
        d[ev['type']] = d.get(ev['type'], 0) + 1
    return out


def render(run, results):
    lines = ['raftgate jepsen  suite=%s  seed=%s  capabilities: %s' % (
        run['suite'], run['seed'], ' '.join(
            '%s%s' % (k, '' if v else ':absent')
            for k, v in sorted(run['caps'].items())
            if isinstance(v, bool)))]
    for tr in results:
        head = '== %s (%d s; %s) ' % (tr['test'], tr.get('main_s', 0),
                                      tr.get('nemesis', 'none'))
        lines.append(head + '=' * max(3, 78 - len(head)))
        if tr.get('skipped'):
            lines.append(' SKIPPED  %s' % tr['skipped'])
            continue
        ops = tr.get('ops', {})
        lines.append(' ops   ' + ' | '.join(
            '%s ok %d fail %d info %d' % (wl, d['ok'], d['fail'], d['info'])
            for wl, d in sorted(ops.items())))
        for c in tr.get('checks', []):
            lines.append(' %-7s %-28s %s' % (c['verdict'], c['name'],
                                            c.get('summary', '')))
            if c['verdict'] in ('FAIL', 'UNKNOWN') and c.get('witness'):
                w = json.dumps(c['witness'], default=str)
                lines.append('         witness: ' + w[:2000])
        if tr.get('store'):
            lines.append(' store %s' % tr['store'])
    p, f, s = counts(results)
    lines.append('jepsen: %d passed, %d failed, %d skipped' % (p, f, s))
    return '\n'.join(lines) + '\n'


def write(store, run, results):
    text = render(run, results)
    with open(os.path.join(store, 'report.txt'), 'w') as fh:
        fh.write(text)
    p, f, s = counts(results)
    with open(os.path.join(store, 'results.json'), 'w') as fh:
        json.dump({'run': run, 'tests': results,
                   'totals': {'passed': p, 'failed': f, 'skipped': s}},
                  fh, indent=1, default=str)
    return text, (p, f, s)


# ---------------------------------------------------------------- SVG

COLORS = {'ok': '#2a9d3a', 'fail': '#d62828', 'info': '#f4a100'}
FAULT = {'partition': '#8ecae6', 'kill': '#ffb4a2', 'pause': '#cdb4db',
         'clock': '#ffe66d', 'packet': '#bde0fe', 'disk': '#c8b6a6'}


def svg_timeline(path, events, title, width=1200, height=360):
    """Latency (log scale) of every completed client op against time, by
    outcome colour, with fault intervals shaded per node lane."""
    inv = {}
    pts = []
    faults = []
    opens = {}
    t_max = 1
    for ev in events:
        t_max = max(t_max, ev['t'])
        if ev.get('proc') == 'nemesis':
            v = ev.get('value') or {}
            f = ev.get('f', '')
            if f.startswith('start-'):
                rec = [f[6:], v.get('t_apply', ev['t']), None,
                       v.get('kind', ''), v.get('nodes', [])]
                opens[v.get('id')] = rec
                faults.append(rec)
            elif f.startswith('stop-') and v.get('id') in opens:
                opens.pop(v['id'])[2] = ev['t']
            continue
        if ev.get('type') == 'invoke':
            inv[ev['i']] = ev['t']
        elif 'inv' in ev and ev['inv'] in inv:
            pts.append((inv[ev['inv']], max(ev['t'] - inv[ev['inv']], 1e5),
                        ev['type']))
    L, R, T, B = 60, 20, 30, 40
    W, H = width - L - R, height - T - B
    import math
    lo, hi = 5.0, 10.0          # log10 ns: 0.1 ms .. 10 s

    def x(t):
        return L + W * t / t_max

    def y(lat):
        v = min(max(math.log10(lat), lo), hi)
        return T + H * (1 - (v - lo) / (hi - lo))
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="11">' % (width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="18" font-size="13">%s</text>' % (L, title)]
    for fam, a, b, kind, nodes in faults:
        b = t_max if b is None else b
        out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" '
                   'fill="%s" opacity="0.5"><title>%s %s</title></rect>'
                   % (x(a), T, max(1.0, x(b) - x(a)), H,
                      FAULT.get(fam, '#ddd'), kind, ' '.join(nodes)))
        out.append('<text x="%.1f" y="%d" font-size="9">%s %s</text>'
                   % (x(a) + 2, T + 10, kind, ','.join(nodes)))
    for e in range(int(lo), int(hi) + 1):
        yy = y(10 ** e)
        lab = {5: '0.1ms', 6: '1ms', 7: '10ms', 8: '100ms', 9: '1s',
               10: '10s'}[e]
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" '
                   'stroke="#eee"/><text x="4" y="%.1f">%s</text>'
                   % (L, L + W, yy, yy, yy + 4, lab))
    step = max(1, int(t_max / 1e9 / 12))
    for s in range(0, int(t_max / 1e9) + 1, step):
        out.append('<text x="%.1f" y="%d">%ds</text>' % (x(s * 1e9),
                                                         T + H + 15, s))
    if len(pts) > 20000:        # keep the file small
        pts = pts[::len(pts) // 20000 + 1]
    for t, lat, typ in pts:
        out.append('<circle cx="%.1f" cy="%.1f" r="1.3" fill="%s"/>'
                   % (x(t), y(lat), COLORS.get(typ, '#000')))
    out.append('<text x="%d" y="%d">latency (log) vs time; green ok, red '
               'fail, orange info; shaded: faults</text>'
               % (L, height - 6))
    out.append('</svg>')
    with open(path, 'w') as fh:
        fh.write('\n'.join(out) + '\n')
