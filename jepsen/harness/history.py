"""Single-writer JSON-lines history (docs/fault-injection.md section 4.7).

Every event gets a global index 'i' and a time 't' (ns since run start on
the harness monotonic clock).  Callers on any thread hand events to one
writer thread through a queue, so lines never interleave; the in-memory
list is the same sequence and is what checkers read.
"""

import json
import queue
import threading
import time


class History:
    """Thread-safe history.  invoke() returns the op dict that complete()
    takes; nemesis() records a nemesis event (an invoke/info pair is
    written by the nemesis code as two calls)."""

    def __init__(self, path, t0=None):
        self.path = path
        self.t0 = time.monotonic_ns() if t0 is None else t0
        self._lock = threading.Lock()
        self._events = []
        self._q = queue.Queue()
        self._fh = open(path, 'w', encoding='utf-8')
        self._writer = threading.Thread(target=self._write_loop,
                                        name='history-writer', daemon=True)
        self._writer.start()
        self._closed = False

    def now(self):
        return time.monotonic_ns() - self.t0

    def _append(self, ev):
        with self._lock:
            ev['i'] = len(self._events)
            ev['t'] = self.now()
            self._events.append(ev)
            # enqueue inside the lock so the file order equals 'i' order
            self._q.put(ev)
        return ev

    def _write_loop(self):
        while True:
            ev = self._q.get()
            if ev is None:
                break
            self._fh.write(json.dumps(ev, separators=(',', ':'),
                                      default=str) + '\n')
            if self._q.empty():
                self._fh.flush()
        self._fh.flush()

    def invoke(self, proc, wl, f, node=None, **fields):
        ev = {'proc': proc, 'type': 'invoke', 'wl': wl, 'f': f}
        if node is not None:
            ev['node'] = node
        ev.update(fields)
        return self._append(ev)

    def complete(self, op, type, **fields):
        """type in ok/fail/info; copies proc/wl/f/node (and the invoke's
        other fields unless overridden) from op."""
        if type not in ('ok', 'fail', 'info'):
            raise ValueError('bad completion type %r' % (type,))
        ev = {}
        for k, v in op.items():
            if k not in ('i', 't', 'type'):
                ev[k] = v
        ev['type'] = type
        ev['inv'] = op['i']
        ev.update(fields)
        return self._append(ev)

    def nemesis(self, f, value, type='info'):
        return self._append({'proc': 'nemesis', 'type': type, 'f': f,
                             'value': value})

    def events(self):
        with self._lock:
            return list(self._events)

    def close(self):
        if self._closed:
            return
        self._closed = True
        self._q.put(None)
        self._writer.join(timeout=10)
        self._fh.close()


def load(path):
    """Read a history.jsonl back into a list of dicts."""
    out = []
    with open(path, encoding='utf-8') as fh:
        for line in fh:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out
