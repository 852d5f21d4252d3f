"""(a) Admin config register (docs/fault-injection.md 4.4a).

The register of key rK is the route named jr<K>; its value is the route's
tags list, ["v<N>"] with N an integer unique to the write (the admin API
round-trips tags as given).  Absent route = None.

  read       GET /routes/jrK?consistency=linearizable   (WGL-checked)
  read-local GET /routes/jrK                            (version order only)
  write v    PUT /routes/jrK {..., tags: ["v<v>"]}
  cas [e,v]  the same PUT with If-Match: rev(e)

raftgate's If-Match is the object's revision, and an object's revision is
the global revision its last write created (unique per write).  So with
rev(e) = the X-Raftgate-Revision answered to the write of e, "If-Match:
rev(e) holds" is exactly "the register holds e": the cas precondition of
the model.  A cas is only issued for values whose write was acknowledged
(the others' revision is unknown); 412 is an ok op with res false.

Mix 50% read (1 in 10 of them local), 25% write, 25% cas; expected value
the worker's last seen value 60% of the time, else a random recent one.
A key is used for 150 ops or until 8 info ops, then the next key.
"""

import json
import os
import threading
import time

from harness.checkers import versions, wgl
from harness.workloads import common

SERVICE = 'jreg'


def route_body(key, v):
    return {'name': key, 'paths': ['/' + key], 'service': {'name': SERVICE},
            'tags': ['v%d' % v]}


def parse_value(body):
    """The register value in a route JSON body."""
    try:
        o = json.loads(body)
    except ValueError:
        return 'unparsable'
    tags = o.get('tags') or []
    if len(tags) != 1 or not str(tags[0]).startswith('v'):
        return 'tags:%r' % (tags,)
    try:
        return int(tags[0][1:])
    except ValueError:
        return 'tags:%r' % (tags,)


def load_samples(store):
    """The sampler's <store>/samples.jsonl (docs/fault-injection.md 4.7), or None."""
    if not store:
        return None
    path = os.path.join(store, 'samples.jsonl')
    try:
        with open(path, encoding='utf-8') as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except (OSError, ValueError):
        return None


class Register:
    name = 'register'

    def __init__(self, rate=30, workers=6, ops_per_key=150, info_per_key=8,
                 local_p=0.1, proc_base=0, unsafe_local_reads=False):
        self.rate = rate
        self.workers = workers
        self.ops_per_key = ops_per_key
        self.info_per_key = info_per_key
        self.local_p = local_p
        # negative control: 'read' ops are served as local reads (no
        # barrier) yet recorded and checked as linearizable
        self.unsafe_local_reads = unsafe_local_reads
        self.procs = common.Procs(proc_base, workers)
        self.lock = threading.Lock()
        self.key_no = 0
        self.key_ops = 0
        self.key_info = 0
        self.next_value = 0
        self.revs = {}          # (key, value) -> revision of its write
        self.recent = {}        # key -> recent acknowledged values
        self.last_seen = {}     # (worker, key) -> value
        self.rr = [w for w in range(workers)]
        self.applied = {}
        self.applied_complete = False
        self.t_run = (0, 0)
        self.setup_rid = None
        self.final_rid = None

    # -- setup ------------------------------------------------------------
    def setup(self, ctx):
        up = getattr(ctx, 'upstreams', None)
        url = 'http://%s:%d' % (up[0] if up else ('127.0.0.1', 9))
        self.setup_rid = 'reg-setup-%d' % ctx.rng.randrange(1 << 30)
        common.setup_retry(ctx, ctx.nodes, 'PUT', '/services/' + SERVICE,
                           {'name': SERVICE, 'url': url})

    # -- keys and values --------------------------------------------------
    def _key(self):
        return 'jr%d' % self.key_no

    def _take(self, w):
        """(key, value) for an op by worker w; rotates keys."""
        with self.lock:
            if (self.key_ops >= self.ops_per_key or
                    self.key_info >= self.info_per_key):
                self.key_no += 1
                self.key_ops = self.key_info = 0
            self.key_ops += 1
            self.next_value += 1
            return self._key(), self.next_value

    def _info(self, key):
        with self.lock:
            if key == self._key():
                self.key_info += 1

    def _acked(self, key, v, rev):
        with self.lock:
            if rev is not None:
                self.revs[(key, v)] = rev
                r = self.recent.setdefault(key, [])
                r.append(v)
                del r[:-8]

    def _expected(self, ctx, w, key):
        """A value with a known revision to compare against, or None."""
        with self.lock:
            seen = self.last_seen.get((w, key))
            if (seen is not None and (key, seen) in self.revs and
                    ctx.rng.random() < 0.6):
                return seen
            r = self.recent.get(key) or []
            return ctx.rng.choice(r) if r else None

    # -- one op -----------------------------------------------------------
    def _node(self, ctx, w):
        self.rr[w] += 1
        return ctx.nodes[self.rr[w] % len(ctx.nodes)]

    def op(self, ctx, w):
        key, v = self._take(w)
        node = self._node(ctx, w)
        proc = self.procs.get(w)
        r = ctx.rng.random()
        if r < 0.5:
            local = ctx.rng.random() < self.local_p
            return self._read(ctx, w, proc, node, key, local)
        e = self._expected(ctx, w, key) if r >= 0.75 else None
        if r >= 0.75 and e is None:
            return self._read(ctx, w, proc, node, key, False)
        return self._write(ctx, w, proc, node, key, v, e)

    def _read(self, ctx, w, proc, node, key, local):
        f = 'read-local' if local else 'read'
        path = '/routes/' + key + ('' if local or self.unsafe_local_reads
                                   else '?consistency=linearizable')
        op = ctx.history.invoke(proc, self.name, f, node=node.name, key=key)
        try:
            st, h, body = ctx.http(node, 'GET', path,
                                   timeout=common.ADMIN_TIMEOUT)
        except OSError as ex:
            typ = common.exc_outcome(ex)
            ctx.history.complete(op, typ, err=repr(ex)[:120])
            if typ == 'info':
                self.procs.crashed(w)
            return
        if st == 200 or st == 404:
            val = parse_value(body) if st == 200 else None
            ctx.history.complete(op, 'ok', value=val, ver=common.version(h),
                                 http=st)
            with self.lock:
                self.last_seen[(w, key)] = val
        elif st == 503 or st == 421:
            ctx.history.complete(op, 'fail', http=st)
        else:
            ctx.history.complete(op, 'info', http=st)
            self.procs.crashed(w)

    def _write(self, ctx, w, proc, node, key, v, e):
        cas = e is not None
        rid = '%s-%s-p%d-v%d' % (ctx.test or 't', self.name, proc, v)
        rid = rid[-64:]
        hdrs = {'X-Request-Id': rid}
        if cas:
            with self.lock:
                hdrs['If-Match'] = str(self.revs[(key, e)])
        op = ctx.history.invoke(proc, self.name, 'cas' if cas else 'write',
                                node=node.name, key=key,
                                value=[e, v] if cas else v, rid=rid)
        try:
            st, h, body = ctx.http(node, 'PUT', '/routes/' + key,
                                   body=route_body(key, v), headers=hdrs,
                                   timeout=common.ADMIN_TIMEOUT)
        except OSError as ex:
            typ = common.exc_outcome(ex)
            ctx.history.complete(op, typ, err=repr(ex)[:120])
            if typ == 'info':
                self.procs.crashed(w)
                self._info(key)
            return
        typ = common.outcome(st, h)
        ver = common.version(h)
        if typ == 'ok':
            res = st < 300
            fields = {'ver': ver, 'http': st}
            if cas:
                fields['res'] = res
            ctx.history.complete(op, 'ok', **fields)
            if res:
                self._acked(key, v, ver)
                with self.lock:
                    self.last_seen[(w, key)] = v
        elif typ == 'fail':
            ctx.history.complete(op, 'fail', http=st,
                                 err=body[:120].decode('utf-8', 'replace'))
        else:
            ctx.history.complete(op, 'info', http=st)
            self.procs.crashed(w)
            self._info(key)

    # -- phases -----------------------------------------------------------
    def run(self, ctx, stop):
        t0 = time.monotonic()
        common.run_workers(self.name, self.workers, self.rate, stop,
                           lambda w: self.op(ctx, w))
        self.t_run = (t0, time.monotonic())

    def final(self, ctx, deadline_s=15.0):
        """A final barrier write (retried), then the applied logs of every
        node: info ops are resolved against them."""
        self.final_rid = 'reg-final-%d' % ctx.rng.randrange(1 << 30)
        end = time.monotonic() + deadline_s
        k = 0
        done = False
        while time.monotonic() < end and not done:
            node = ctx.nodes[k % len(ctx.nodes)]
            k += 1
            try:
                st, h, _ = ctx.http(node, 'PUT', '/routes/jrfinal',
                                    body=route_body('jrfinal', 0),
                                    headers={'X-Request-Id': self.final_rid},
                                    timeout=common.ADMIN_TIMEOUT)
                done = st in (200, 201)
            except OSError:
                pass
            if not done:
                time.sleep(0.2)
        dumps = {}
        for n in ctx.nodes:
            dumps[n.name] = common.fetch_applied(ctx, n)
        self.applied = common.applied_map(dumps)
        # conclusive when a node's ring holds the final barrier and has
        # lost nothing
        self.applied_complete = False
        for d in dumps.values():
            if not d or not done:
                continue
            rids = {e.get('request_id') for e in d}
            # the ring (part of the snapshot) keeps the last 65536
            # commands: shorter means nothing was ever dropped from it
            if self.final_rid in rids and len(d) < 65536:
                self.applied_complete = True
        self.dumps = dumps
        return done

    # -- checks -----------------------------------------------------------
    def check(self, ctx, history):
        evs = common.events_of(history)
        out = [wgl.check_history(evs, self.applied, self.applied_complete,
                                 wl=self.name)]
        samples = getattr(ctx, 'samples', None)
        if callable(samples):
            samples = samples()
        if samples is None:
            samples = load_samples(getattr(ctx, 'store', None))
        out.append(versions.check(evs, samples=samples,
                                  faults=ctx.faults()))
        n = sum(1 for ev in evs if ev.get('wl') == self.name and
                ev.get('type') == 'invoke')
        return common.rate_guard(out, n, self.t_run[1] - self.t_run[0],
                                 self.rate, self.name)
