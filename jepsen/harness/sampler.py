"""10 Hz GET /status per node -> samples.jsonl (docs/fault-injection.md 4.7)."""

import json
import threading
import time


class Sampler:
    def __init__(self, ctx, path, hz=10.0):
        self.ctx, self.path, self.period = ctx, path, 1.0 / hz
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.samples = []
        self.fh = open(path, 'w', encoding='utf-8')
        self.threads = [threading.Thread(target=self._loop, args=(n,),
                                         name='sampler-' + n.name,
                                         daemon=True) for n in ctx.nodes]

    def start(self):
        for t in self.threads:
            t.start()

    def _loop(self, node):
        nxt = time.monotonic()
        while not self.stop.is_set():
            t = self.ctx.history.now()
            st = self.ctx.status(node, timeout=0.3)
            rec = {'t': t, 'node': node.name, 'status': st}
            with self.lock:
                self.samples.append(rec)
                self.fh.write(json.dumps(rec, separators=(',', ':')) + '\n')
            nxt += self.period
            d = nxt - time.monotonic()
            if d < 0:
                nxt = time.monotonic()
            else:
                self.stop.wait(d)

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=3)
        with self.lock:
            self.fh.close()

    def get(self):
        with self.lock:
            return list(self.samples)
