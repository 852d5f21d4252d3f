"""(b) Durability and convergence (docs/fault-injection.md 4.4b).

Each add creates a unique route d-<seq> (PUT /routes/d-<seq>); every 2 s a
linearizable list of the routes (GET /routes?consistency=linearizable) from
a random node records which d-* are present.  final(): after the harness
healed everything (and, in kill tests, killed and restarted all nodes),
poll /status until all nodes agree on (config_version, config_hash) or
T_conv passes, read the routes locally from every node, and dump every
node's /debug/applied for log matching.
"""

import json
import time

from harness.checkers import converge, setfull
from harness.workloads import common

SERVICE = 'jdur'
PREFIX = 'd-'


def names(body):
    try:
        data = json.loads(body).get('data') or []
    except (ValueError, AttributeError):
        return None
    return sorted(int(o['name'][len(PREFIX):]) for o in data
                  if str(o.get('name', '')).startswith(PREFIX) and
                  o['name'][len(PREFIX):].isdigit())


class Durable:
    name = 'durable'

    def __init__(self, rate=10, workers=2, read_every_s=2.0, t_conv=10.0,
                 proc_base=100):
        self.rate = rate
        self.workers = workers
        self.read_every_s = read_every_s
        self.t_conv = t_conv
        self.procs = common.Procs(proc_base, workers + 1)
        self.seq = 0
        self.polls = []
        self.dumps = {}
        self.heal_t = None
        self.t_run = (0, 0)
        import threading
        self.lock = threading.Lock()

    def setup(self, ctx):
        up = getattr(ctx, 'upstreams', None)
        url = 'http://%s:%d' % (up[0] if up else ('127.0.0.1', 9))
        common.setup_retry(ctx, ctx.nodes, 'PUT', '/services/' + SERVICE,
                           {'name': SERVICE, 'url': url})

    def _add(self, ctx, w):
        with self.lock:
            self.seq += 1
            x = self.seq
        node = ctx.nodes[ctx.rng.randrange(len(ctx.nodes))]
        proc = self.procs.get(w)
        rid = ('%s-dur-p%d-%d' % (ctx.test or 't', proc, x))[-64:]
        name = '%s%d' % (PREFIX, x)
        op = ctx.history.invoke(proc, self.name, 'add', node=node.name,
                                value=x, rid=rid)
        try:
            st, h, body = ctx.http(
                node, 'PUT', '/routes/' + name,
                body={'name': name, 'paths': ['/d/%d' % x],
                      'service': {'name': SERVICE}},
                headers={'X-Request-Id': rid}, timeout=common.ADMIN_TIMEOUT)
        except OSError as e:
            typ = common.exc_outcome(e)
            ctx.history.complete(op, typ, err=repr(e)[:120])
            if typ == 'info':
                self.procs.crashed(w)
            return
        typ = common.outcome(st, h)
        if typ == 'ok' and st >= 300:
            typ = 'fail'
        ctx.history.complete(op, typ, http=st, ver=common.version(h))
        if typ == 'info':
            self.procs.crashed(w)

    def _read(self, ctx, w, f='read', node=None, local=False):
        node = node or ctx.nodes[ctx.rng.randrange(len(ctx.nodes))]
        proc = self.procs.get(w)
        op = ctx.history.invoke(proc, self.name, f, node=node.name)
        path = '/routes' + ('' if local else '?consistency=linearizable')
        try:
            st, h, body = ctx.http(node, 'GET', path, timeout=5.0)
        except OSError as e:
            typ = common.exc_outcome(e)
            ctx.history.complete(op, typ, err=repr(e)[:120])
            if typ == 'info':
                self.procs.crashed(w)
            return False
        v = names(body) if st == 200 else None
        if v is None:
            ctx.history.complete(op, 'fail', http=st)
            return False
        ctx.history.complete(op, 'ok', value=v, ver=common.version(h),
                             http=st)
        return True

    def run(self, ctx, stop):
        t0 = time.monotonic()
        reader = self.workers      # the last worker slot reads

        def body(w):
            if w == reader:
                self._read(ctx, w)
            else:
                self._add(ctx, w)
        # adders paced at rate; the reader at 1/read_every_s: two groups
        import threading
        t = threading.Thread(
            target=common.run_workers,
            args=('durable-read', 1, 1.0 / self.read_every_s, stop,
                  lambda _w: body(reader)), daemon=True)
        t.start()
        common.run_workers(self.name, self.workers, self.rate, stop, body)
        t.join()
        self.t_run = (t0, time.monotonic())

    def final(self, ctx, heal_t=None):
        """Wait for convergence (bounded by t_conv), then read locally from
        every node and dump the applied logs."""
        now = ctx.history.now() if hasattr(ctx.history, 'now') else None
        if heal_t is None:
            # The final heal (the harness's step 4), else the last fault's
            # end: the schedule's last fault may end long before the main
            # phase does, while the workloads keep writing.
            ends = [f['end'] for f in ctx.faults() if f.get('end')]
            if getattr(ctx, 'heal_t', None) is not None:
                ends.append(ctx.heal_t)
            heal_t = max(ends) if ends else now
        self.heal_t = heal_t
        names_ = [n.name for n in ctx.nodes]
        end = time.monotonic() + self.t_conv
        self.polls = []
        while True:
            past = time.monotonic() >= end  # this poll is the last one
            sts = {n.name: ctx.status(n) for n in ctx.nodes}
            t = ctx.history.now() if hasattr(ctx.history, 'now') else 0
            self.polls.append((t, sts))
            tt, _ = converge.converged_at(self.polls[-1:], names_)
            if tt is not None:
                # also wait for the applied indexes to line up so the
                # local reads see the same state
                ai = {s.get('applied_index') for s in sts.values()}
                if len(ai) == 1:
                    break
            # Not ctx.stop.wait(): the harness sets stop before final()
            # (the workers must end first), so it returned at once and
            # this took a single poll, within milliseconds of the register
            # workload's final write, before the followers had the
            # heartbeat carrying its commit index. The last poll starts
            # at or after the deadline, so a FAIL covers all of t_conv.
            if past:
                break
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))
        w = self.workers
        for n in ctx.nodes:
            ok = False
            for _ in range(3):
                if self._read(ctx, w, f='final-read', node=n, local=True):
                    ok = True
                    break
            if not ok:
                pass    # no final read from n: setfull reports it
        self.dumps = {n.name: common.fetch_applied(ctx, n) for n in ctx.nodes}
        return self.dumps

    def check(self, ctx, history):
        evs = common.events_of(history)
        out = [setfull.check(evs, wl=self.name)]
        names_ = [n.name for n in ctx.nodes]
        finals = {ev.get('node') for ev in evs
                  if ev.get('wl') == self.name and ev.get('f') == 'final-read'
                  and ev.get('type') == 'ok'}
        if set(names_) - finals:
            r = out[0]
            r['summary'] += '; no final read from %s' % ','.join(
                sorted(set(names_) - finals))
            if r['verdict'] == 'PASS':
                r['verdict'] = 'UNKNOWN'
        out.append(converge.check(self.polls, self.dumps,
                                  self.heal_t or 0, names_,
                                  bound_s=self.t_conv))
        n = sum(1 for ev in evs if ev.get('wl') == self.name and
                ev.get('type') == 'invoke' and ev.get('f') == 'add')
        return common.rate_guard(out, n, self.t_run[1] - self.t_run[0],
                                 self.rate, self.name)
