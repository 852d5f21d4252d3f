"""Nemesis families and schedules (docs/fault-injection.md 4.5).

Every fault is recorded as a pair of history events:
  proc 'nemesis', f 'start-<family>', value {id, kind, nodes, ...,
      effective: bool, detail}
  proc 'nemesis', f 'stop-<family>',  value {id, kind, nodes, ...}
The start event is written after the fault is applied and its effect
verified, with its start time taken *before* applying (field t_apply).
A nemesis whose mechanism is missing raises Skip before any fault.
"""

import errno
import os
import signal
import time

from . import net

ELECTION_S = 1.0


class Skip(Exception):
    pass


def leader_of(ctx, exclude=()):
    """(node, term) of the node that says it is leader (highest term)."""
    best = (None, -1)
    for n in ctx.nodes:
        if n.name in exclude:
            continue
        s = ctx.status(n, timeout=0.5)
        if s and s.get('raft_state') == 'leader' and s.get('term', 0) > best[1]:
            best = (n, s.get('term', 0))
    return best


def wait_new_leader(ctx, old, old_term, among, deadline_s):
    """Poll until a node in `among` is leader with term > old_term."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and not ctx.stop.is_set():
        for n in among:
            s = ctx.status(n, timeout=0.3)
            if s and s.get('raft_state') == 'leader' and \
                    s.get('term', 0) > old_term:
                return True, '%s leader term %d->%d in %.1f s' % (
                    n.name, old_term, s['term'],
                    deadline_s - (end - time.monotonic()))
        time.sleep(0.1)
    return False, 'no new leader among %s within %.0f s' % (
        [n.name for n in among], deadline_s)


class Nemesis:
    """Runs a schedule: a list of (op, hold_s, heal_s) in a thread."""

    def __init__(self, ctx, topo, cluster, caps, log=print):
        self.ctx, self.topo, self.cl, self.caps, self.log = \
            ctx, topo, cluster, caps, log
        self.nid = 0
        self.active = {}        # id -> heal function
        self.delayers = []
        self.balloons = []
        self.offsets = {}

    # ----- bookkeeping
    def _start(self, family, kind, nodes, applyfn, verifyfn, healfn, **v):
        self.nid += 1
        fid = '%s-%d' % (family, self.nid)
        t_apply = self.ctx.history.now()
        self.ctx.history.nemesis('apply-' + family, {'id': fid, 'kind': kind,
                                                     'nodes': nodes},
                                 type='invoke')
        applyfn()
        self.active[fid] = (family, kind, nodes, healfn)
        ok, detail = verifyfn()
        val = {'id': fid, 'kind': kind, 'nodes': nodes, 't_apply': t_apply,
               'effective': bool(ok), 'detail': detail}
        val.update(v)
        self.ctx.history.nemesis('start-' + family, val)
        self.log('nemesis: %s %s %s: %s%s' % (kind, nodes, fid, detail,
                                              '' if ok else ' (NOT EFFECTIVE)'))
        return fid

    def _stop(self, fid):
        family, kind, nodes, healfn = self.active.pop(fid)
        detail = healfn()
        self.ctx.history.nemesis('stop-' + family, {'id': fid, 'kind': kind,
                                                    'nodes': nodes,
                                                    'detail': detail})

    def heal_all(self):
        for fid in list(self.active):
            try:
                self._stop(fid)
            except Exception as e:     # keep healing the rest
                self.log('nemesis: heal %s failed: %s' % (fid, e))

    # ----- families
    def need(self, cap):
        if not self.caps.get(cap):
            raise Skip('capability %s missing' % cap)

    def isolate_from_consul(self):
        """A node drops every packet from the Consul address (10.77.0.50):
        its blocking queries time out, peers and clients still reach it
        (docs/fault-injection.md 3.2).  Without Consul discovery in the
        binary there is nothing to cut: isolate a follower instead, so the
        test keeps its four partitions (logged)."""
        self.need('nft')
        if not self.caps.get('consul'):
            self.log('nemesis: isolate-from-consul: %s; isolating a '
                     'follower instead' % (self.caps.get('consul_why') or
                                           'no Consul discovery'))
            return self.partition('isolate-follower')
        from .ctx import CONSUL
        n = self.ctx.rng.choice(self.ctx.nodes)
        host, port = CONSUL

        def apply():
            net.drop_from(self.topo, n.id, host)

        def verify():
            from .topo import connect_probe
            r = connect_probe(self.topo, n.id, host, port, 0.3)
            others = [m for m in self.ctx.nodes if m is not n]
            r2 = connect_probe(self.topo, others[0].id, host, port, 0.5)
            s = self.ctx.status(n, timeout=1.0)
            ok = r == 'timeout' and r2 == 'ok' and s is not None
            return ok, '%s->consul %s, %s->consul %s, client->%s %s' % (
                n.name, r, others[0].name, r2, n.name,
                'ok' if s is not None else 'no answer')
        return self._start('partition', 'isolate-from-consul', [n.name],
                           apply, verify,
                           lambda: net.heal(self.topo, [n.id]),
                           minority=[], consul_cut=[n.name])

    def partition(self, kind):
        if kind == 'isolate-from-consul':
            return self.isolate_from_consul()
        self.need('nft')
        ids = [n.id for n in self.ctx.nodes]
        leader, term = leader_of(self.ctx)
        lid = leader.id if leader else self.ctx.rng.choice(ids)
        others = [i for i in ids if i != lid]
        if kind == 'isolate-leader':
            a, rest = lid, others
        elif kind == 'isolate-follower':
            a = self.ctx.rng.choice(others)
            rest = [i for i in ids if i != a]
        if kind in ('isolate-leader', 'isolate-follower'):
            grudge = {a: rest}
            for r in rest:
                grudge[r] = [a]
            minority = [a]
        elif kind in ('bridge-leader', 'bridge-follower'):
            mid = lid if kind == 'bridge-leader' else self.ctx.rng.choice(others)
            x, y = [i for i in ids if i != mid][:2]
            grudge = {x: [y], y: [x]}
            minority = []
        else:
            raise ValueError(kind)

        def verify():
            ok, bad = net.verify_partition(self.topo, grudge)
            detail = 'grudge %s' % {('n%d' % k): ['n%d' % p for p in v]
                                   for k, v in grudge.items()}
            if ok and kind == 'isolate-leader' and leader:
                maj = [n for n in self.ctx.nodes if n.id != lid]
                ok, d2 = wait_new_leader(self.ctx, leader, term, maj,
                                         4 * ELECTION_S + 2)
                detail += '; ' + d2
            if bad:
                detail += '; still connected: %s' % bad
            return ok, detail
        return self._start('partition', kind, ['n%d' % k for k in grudge],
                           lambda: net.partition(self.topo, grudge), verify,
                           lambda: net.heal(self.topo, list(grudge)),
                           minority=['n%d' % m for m in minority],
                           leader=leader.name if leader else None)

    def _target(self, which):
        leader, term = leader_of(self.ctx)
        if which == 'leader' and leader:
            return [leader], leader, term
        if which == 'all':
            return list(self.ctx.nodes), leader, term
        cands = [n for n in self.ctx.nodes if n is not leader]
        return [self.ctx.rng.choice(cands)], leader, term

    def kill(self, which):
        targets, leader, term = self._target(which)
        names = [n.name for n in targets]

        def apply():
            for n in targets:
                self.cl.kill(n, signal.SIGKILL)

        def verify():
            dead = [n.name for n in targets if not self.cl.running(n)]
            ok = len(dead) == len(targets)
            detail = 'dead %s' % dead
            if ok and which != 'all':
                ok, d2 = self._replaced(leader, term, targets)
                detail += d2
            return ok, detail

        def heal():
            for n in targets:
                self.cl.start(n)
            return 'restarted %s' % names
        return self._start('kill', 'kill-' + which, names, apply, verify,
                           heal, minority=names)

    def _replaced(self, leader, term, targets):
        """(ok, detail): when the leader is among @targets, the other nodes
        elect a new one at a higher term in time."""
        if leader not in targets:
            return True, ''
        maj = [n for n in self.ctx.nodes if n not in targets]
        ok, d = wait_new_leader(self.ctx, leader, term, maj,
                                4 * ELECTION_S + 2)
        return ok, '; ' + d

    def _halt(self, family, which, halt, state, want, label, resume, done):
        """Stop @which's nodes without ending them: halt(n), then each must
        reach state(n) == @want within 2 s (the stop lands asynchronously)
        and a halted leader must be replaced; heal with resume(n)."""
        targets, leader, term = self._target(which)
        names = [n.name for n in targets]

        def verify():
            end = time.monotonic() + 2.0
            while True:
                st = {n.name: state(n) for n in targets}
                ok = all(s == want for s in st.values())
                if ok or time.monotonic() >= end:
                    break
                time.sleep(0.02)
            detail = '%s %s' % (label, st)
            if ok:
                ok, d2 = self._replaced(leader, term, targets)
                detail += d2
            return ok, detail

        def heal():
            for n in targets:
                resume(n)
            return done
        return self._start(family, '%s-%s' % (family, which), names,
                           lambda: [halt(n) for n in targets],
                           verify, heal, minority=names)

    def pause(self, which):
        """SIGSTOP (state T), then SIGCONT."""
        return self._halt('pause', which, self.cl.pause, self.cl.proc_state,
                          'T', 'proc state', self.cl.resume, 'resumed')

    def freeze(self, which):
        """As pause, through the cgroup v1 freezer: no signal, the whole
        process tree stops (docs/fault-injection.md 3, 4.5 extended)."""
        self.need('freezer')
        return self._halt('freeze', which, self.cl.freeze,
                          self.cl.freezer_state, 'FROZEN', 'freezer',
                          self.cl.thaw, 'thawed')

    def transfer(self, which):
        """Leadership transfer to a random follower (POST /cluster/transfer
        on the leader, docs/fault-injection.md 4.5 membership); effective when that
        follower leads at a higher term.  Nothing to heal."""
        leader, term = leader_of(self.ctx)
        cands = [n for n in self.ctx.nodes if n is not leader]
        target = self.ctx.rng.choice(cands)
        res = {}

        def apply():
            if leader is None:
                res['err'] = 'no leader'
                return
            try:
                st, _, body = self.ctx.http(leader, 'POST', '/cluster/transfer',
                                            {'id': target.id}, timeout=5)
                res['http'] = st
            except OSError as e:
                res['err'] = str(e)[:80]

        def verify():
            if 'http' not in res or res['http'] >= 300:
                return False, 'transfer to %s: %s' % (target.name, res)
            ok, d = wait_new_leader(self.ctx, leader, term, [target],
                                    4 * ELECTION_S)
            return ok, 'to %s (HTTP %s): %s' % (target.name, res['http'], d)

        return self._start('member', 'transfer-' + which,
                           [leader.name if leader else '?', target.name],
                           apply, verify, lambda: 'done')

    # clock: forward jumps through the per-node faketime file; the rate
    # skew is fixed at node start (libfaketime reads the rate once).
    def _probe_clock(self, n):
        """Run a probe under the node's faketime env: (realtime offset s,
        clock rate measured against /proc/uptime, which is not faked)."""
        np_ = self.cl.p[n.name]
        env = self.cl.env(np_)
        code = ('import time\n'
                'up=lambda: float(open("/proc/uptime").read().split()[0])\n'
                'r=time.time();u=up();t=time.monotonic()\n'
                'while up()-u<1.0: time.sleep(0.02)\n'
                'print(r, (time.monotonic()-t)/(up()-u))\n')
        t0 = time.time()
        r = self.topo.exec_in(n.id, ['env'] + ['%s=%s' % kv for kv in
                                               env.items()] +
                              ['/usr/bin/python3', '-c', code], timeout=10)
        try:
            fake, rate = [float(x) for x in r.stdout.split()]
            return fake - t0, rate
        except ValueError:
            return None, None

    def clock_jump(self, seconds):
        self.need('faketime')
        n = self.ctx.rng.choice([x for x in self.ctx.nodes
                                 if self.cl.p[x.name].rate == 1.0])
        np_ = self.cl.p[n.name]
        before = self.offsets.get(n.name, 0)
        after = before + seconds

        def apply():
            with open(np_.skew + '.tmp', 'w') as fh:
                fh.write('%+d x%s\n' % (after, np_.rate))
            os.replace(np_.skew + '.tmp', np_.skew)
            self.offsets[n.name] = after

        def verify():
            off, _ = self._probe_clock(n)
            if off is None:
                return False, 'clock probe failed'
            return abs(off - after) < 1.5, 'probe offset %+.1f s (want %+d)' \
                % (off, after)
        # no heal: monotonic time must not go backwards; the offset stays
        return self._start('clock', 'clock-jump', [n.name], apply, verify,
                           lambda: 'offset kept %+d' % after,
                           seconds=seconds)

    def clock_rate_check(self):
        """Record the start-time rate skew as a fault spanning the run."""
        skewed = [x for x in self.ctx.nodes if self.cl.p[x.name].rate != 1.0]
        if not skewed:
            return None
        n = skewed[0]
        rate = self.cl.p[n.name].rate

        def verify():
            _, got = self._probe_clock(n)
            if got is None:
                return False, 'clock probe failed'
            return abs(got - rate) < 0.04, 'probe rate x%.3f (want x%s)' % (
                got, rate)
        return self._start('clock', 'clock-rate', [n.name], lambda: None,
                           verify, lambda: 'rate kept', rate=rate)

    def packet(self, kind):
        leader, _ = leader_of(self.ctx)
        n = self.ctx.rng.choice(self.ctx.nodes)
        if kind == 'loss':
            self.need('nft_numgen')

            def heal():
                net.heal_loss(self.topo, n.id)
                return 'loss removed'
            return self._start('packet', 'loss-30', [n.name],
                               lambda: net.loss(self.topo, n.id, 30),
                               lambda: net.verify_loss(self.topo, n.id),
                               heal, pct=30)
        self.need('nfqueue')
        d = net.Delayer(self.topo, n.id, 60, 20, 0, lifetime=60)
        log = os.path.join(self.ctx.store, 'nfq_delay-%s.log' % n.name)

        def apply():
            if not d.start(log):
                raise RuntimeError('nfq_delay exited at start')

        def heal():
            d.stop()
            return 'delayer stopped'
        return self._start('packet', 'delay-60ms', [n.name], apply,
                           lambda: d.verify(60), heal, delay_ms=60,
                           jitter_ms=20)

    def disk(self, which):
        self.need('tmpfs')
        targets, leader, _ = self._target(which)
        n = targets[0]
        path = os.path.join(self.cl.p[n.name].data, 'jepsen-balloon')

        def apply():
            buf = b'\0' * (1 << 20)
            with open(path, 'wb') as fh:
                for _ in range(4096):           # bounded: 4 GiB
                    try:
                        fh.write(buf)
                        fh.flush()
                    except OSError as e:
                        if e.errno == errno.ENOSPC:
                            break
                        raise
                try:
                    fh.close()
                except OSError:
                    pass

        def verify():
            st = os.statvfs(self.cl.p[n.name].data)
            free = st.f_bavail * st.f_frsize
            return free < (1 << 20), 'free %d bytes on %s data dir' % (
                free, n.name)

        def heal():
            try:
                os.unlink(path)
            except OSError:
                pass
            return 'balloon freed'
        return self._start('disk', 'enospc-' + which, [n.name], apply,
                           verify, heal)

    # ----- schedule
    def run_op(self, op):
        fam, _, arg = op.partition(':')
        if fam == 'partition':
            return self.partition(arg)
        if fam == 'kill':
            return self.kill(arg)
        if fam == 'pause':
            return self.pause(arg)
        if fam == 'freeze':
            return self.freeze(arg)
        if fam == 'member' and arg == 'transfer':
            return self.transfer('leader')
        if fam == 'clock-jump':
            return self.clock_jump(int(arg))
        if fam == 'packet':
            return self.packet(arg)
        if fam == 'disk':
            return self.disk(arg)
        raise ValueError(op)

    def run_schedule(self, schedule, t_end):
        """schedule: list of (op, hold_s, heal_s).  Bounded by t_end
        (time.monotonic()) and ctx.stop."""
        ctx = self.ctx
        ctx.sleep_until(time.monotonic() + 1.0 + ctx.rng.random())
        for op, hold, healt in schedule:
            if ctx.stop.is_set() or time.monotonic() >= t_end:
                break
            fid = self.run_op(op)
            if hold is None:        # permanent (clock jumps)
                ctx.sleep_until(min(t_end, time.monotonic() + healt))
                continue
            ctx.sleep_until(min(t_end, time.monotonic() + hold))
            if fid in self.active:
                self._stop(fid)
            ctx.sleep_until(min(t_end, time.monotonic() + healt))
