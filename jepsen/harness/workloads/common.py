"""Shared pieces of the workloads: paced worker loops with Jepsen process
ids, the admin write outcome mapping (docs/fault-injection.md 4.2 item 2), the applied
log dump and the rate guard."""

import json
import os
import threading
import time

ADMIN_TIMEOUT = 2.0


def outcome(status, headers):
    """ok / fail / info of an admin write answer.  2xx: ok; 412/409: ok
    (a CAS that failed at the linearization point; the caller sets res);
    503 + not-proposed: fail; 400/404: fail (refused at apply, nothing
    changed); 504 and anything else: info."""
    if 200 <= status < 300 or status in (409, 412):
        return 'ok'
    if status == 503 and headers.get('x-raftgate-outcome') == 'not-proposed':
        return 'fail'
    if status in (400, 401, 404, 405):
        return 'fail'
    return 'info'


def exc_outcome(e):
    """fail when the request was certainly not sent (connection refused:
    nothing reached the node), info otherwise (timeout, reset)."""
    return 'fail' if isinstance(e, ConnectionRefusedError) else 'info'


def version(headers):
    v = headers.get('x-raftgate-version') or headers.get(
        'x-raftgate-revision')
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


class Procs:
    """Jepsen process ids for @workers workers starting at @base: after an
    info op a worker takes id + workers, so no process ever has two open
    ops."""

    def __init__(self, base, workers):
        self.workers = workers
        self.ids = [base + w for w in range(workers)]

    def get(self, w):
        return self.ids[w]

    def crashed(self, w):
        self.ids[w] += self.workers
        return self.ids[w]


def run_workers(name, workers, rate, stop, body, deadline_s=None):
    """Run body(w) for every worker w in its own thread, each paced at
    rate/workers ops/s, until @stop is set (or @deadline_s passes).
    body returns nothing; exceptions end that worker (and are re-raised
    after the join)."""
    errors = []
    period = workers / float(rate) if rate > 0 else 0.0
    end = None if deadline_s is None else time.monotonic() + deadline_s

    def loop(w):
        nxt = time.monotonic() + period * w / max(workers, 1)
        try:
            while not stop.is_set():
                if end is not None and time.monotonic() >= end:
                    break
                d = nxt - time.monotonic()
                if d > 0 and stop.wait(d):
                    break
                nxt = max(nxt + period, time.monotonic() - period)
                body(w)
        except Exception as e:      # pragma: no cover (reported)
            errors.append((w, e))

    ts = [threading.Thread(target=loop, args=(w,), name='%s-%d' % (name, w),
                           daemon=True) for w in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError('%s worker %d: %r' % (name, errors[0][0],
                                                 errors[0][1]))


def fetch_applied(ctx, node, timeout=5.0):
    """The node's /debug/applied dump (a list) or None."""
    try:
        st, _, body = ctx.http(node, 'GET', '/debug/applied?since=0',
                               timeout=timeout)
        if st != 200:
            return None
        return json.loads(body)
    except (OSError, ValueError):
        return None


def applied_map(dumps):
    """rid -> applied entry (the first seen) over all nodes' dumps."""
    out = {}
    for d in dumps.values():
        for e in d or []:
            rid = e.get('request_id')
            if rid and rid not in out:
                out[rid] = e
    return out


def rate_guard(results, n_invoked, seconds, target, name):
    """docs/fault-injection.md 4.3: if the achieved rate is under 70% of target, the
    workload's verdicts become UNKNOWN (a FAIL stays a FAIL: an anomaly
    is an anomaly however few ops found it)."""
    if seconds <= 0 or target <= 0:
        return results
    achieved = n_invoked / seconds
    if achieved >= 0.7 * target:
        return results
    for r in results:
        if r['verdict'] == 'PASS':
            r['verdict'] = 'UNKNOWN'
        r['summary'] += ('; rate %.1f/s < 70%% of %s/s (%s)'
                         % (achieved, target, name))
    return results


def setup_retry(ctx, node_list, method, path, body, deadline_s=15.0,
                ok=(200, 201)):
    """An idempotent admin write retried on any node until it answers one
    of @ok or the deadline passes.  Returns the status."""
    end = time.monotonic() + deadline_s
    last = None
    k = 0
    while time.monotonic() < end:
        node = node_list[k % len(node_list)]
        k += 1
        try:
            st, h, b = ctx.http(node, method, path, body=body,
                                timeout=ADMIN_TIMEOUT)
            last = (st, b[:200])
            if st in ok:
                return st
        except OSError as e:
            last = repr(e)
        if ctx.stop.wait(0.2):
            break
    raise RuntimeError('setup %s %s: %r' % (method, path, last))


def events_of(history):
    if history is None:
        return []
    if hasattr(history, 'events'):
        return history.events()
    return list(history)


def skipped(names, reason, label=None):
    """One SKIPPED verdict (never PASS) for the checks @names whose feature
    the running binary lacks: named @label (default: the checks' common
    prefix and their list), with 'covers' listing them, so a negative
    control over one of them sees it skipped."""
    if label is None:
        label = names[0] if len(names) == 1 else '%s (%s)' % (
            names[0].split('/')[0][0], ' '.join(n.split('/')[0]
                                                for n in names))
    return [{'name': label, 'verdict': 'SKIPPED', 'summary': reason,
             'witness': None, 'covers': list(names)}]


def load_samples(ctx):
    """The 10 Hz status samples of this test: the harness's sampler when
    it hands them over (ctx.sampler), else <store>/samples.jsonl."""
    smp = getattr(ctx, 'sampler', None)
    if smp is not None:
        return smp.get()
    path = os.path.join(getattr(ctx, 'store', '') or '', 'samples.jsonl')
    out = []
    try:
        with open(path, encoding='utf-8') as fh:
            for line in fh:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass        # a line cut by a crash
    except OSError:
        pass
    return out


def put_plugin(ctx, pid, doc, deadline_s=15.0):
    """PUT /plugins/<pid> (an upsert, so a retry is harmless): (status,
    body text).  A 400 is the schema's (or the loader's) refusal: the
    feature is missing; it is returned, not retried."""
    end = time.monotonic() + deadline_s
    last = None
    k = 0
    while time.monotonic() < end:
        node = ctx.nodes[k % len(ctx.nodes)]
        k += 1
        try:
            st, h, b = ctx.http(node, 'PUT', '/plugins/' + pid, body=doc,
                                timeout=ADMIN_TIMEOUT)
            last = (st, b[:300].decode('utf-8', 'replace'))
            if st in (200, 201) or 400 <= st < 500:
                return last
        except OSError as e:
            last = (None, repr(e))
        if ctx.stop.wait(0.2):
            break
    return last or (None, 'no answer')
