"""raftgate node processes, one per node netns (docs/fault-injection.md 4.2).

Each node gets <store>/nK/{raftgate.yml,data/,raftgate.log,stdout.log}.
Started through `ip netns exec <ns> raftgate -c cfg` (ip execs, so the
Popen PID is raftgate's).  Kill/pause/restart act on that PID only.
Clock tests start nodes under libfaketime with a per-node timestamp file
(<store>/nK.skew) that the clock nemesis rewrites.
"""

import json
import os
import signal
import signal as _sig
import subprocess
import sys
import time

from . import topo as topo_mod

FAKETIME_LIBS = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1',
                 '/usr/lib/faketime/libfaketimeMT.so.1']

SEED = '''_format_version: "3.0"
services:
  - name: jepsen-base
    url: http://10.77.0.61:8080
    routes:
      - name: jepsen-base
        paths:
          - /jepsen-base
'''


def faketime_lib():
    for p in FAKETIME_LIBS:
        if os.path.exists(p):
            return p
    return None


def yaml_scalar(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, int):
        return str(v)
    return json.dumps(str(v))


MAKE_KEY = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'cluster', 'make-cluster-key')


def make_key_file(path):
    """The cluster key (raft.cluster_key_file), made by
    cluster/make-cluster-key: 32 random bytes, mode 600, written once;
    returns @path."""
    subprocess.run([sys.executable, MAKE_KEY, path], check=True)
    return path


def node_yaml(node, nodes, data_dir, raft_extra='', key_file=None):
    voters = '\n'.join('    - {id: %d, address: "%s:9000"}' % (m.id, m.ip)
                       for m in nodes)
    if key_file:
        raft_extra = '  cluster_key_file: %s\n%s' % (yaml_scalar(key_file),
                                                     raft_extra)
    return ('# written by jepsen/harness/procs.py\n'
            'node:\n  id: %d\n  name: %s\n'
            'raft:\n  listen: "%s:9000"\n  data_dir: %s\n  voters:\n%s\n'
            '  election_timeout: 1000ms\n  heartbeat_timeout: 100ms\n%s'
            'proxy:\n  listen: "%s:8000"\n  workers: 1\n'
            'admin:\n  listen: "%s:8001"\n'
            'status:\n  listen: "%s:8100"\n'
            'log:\n  level: info\n  error_log: %s\n  access_log: "off"\n'
            'gateway:\n  declarative_config: %s\n'
            % (node.id, node.name, node.ip, yaml_scalar(data_dir), voters,
               raft_extra, node.ip, node.ip, node.ip,
               yaml_scalar(os.path.join(os.path.dirname(data_dir),
                                        'raftgate.log')),
               yaml_scalar(os.path.join(os.path.dirname(
                   os.path.dirname(data_dir)), 'seed.yml'))))


class NodeProc:
    def __init__(self, node, dir_):
        self.node = node
        self.dir = dir_
        self.data = os.path.join(dir_, 'data')
        self.config = os.path.join(dir_, 'raftgate.yml')
        self.log = os.path.join(dir_, 'raftgate.log')
        self.skew = dir_ + '.skew'
        self.popen = None
        self.paused = False
        self.frozen = None      # the freezer cgroup dir while frozen
        self.rate = 1.0        # libfaketime rate, fixed at start
        self.starts = 0
        self.exits = []         # (t, returncode) of processes that ended


class Cluster:
    def __init__(self, topo, nodes, store, binary, faketime=False,
                 tmpfs_mb=0, log=print, rates=None, args=(),
                 extra_yaml='', raft_extra=''):
        self.topo = topo
        self.nodes = nodes
        self.store = store
        self.binary = binary
        self.args = list(args)      # extra raftgate arguments
        self.faketime = faketime
        self.tmpfs_mb = tmpfs_mb
        self.log = log
        self.p = {}
        with open(os.path.join(store, 'seed.yml'), 'w') as fh:
            fh.write(SEED)
        # one cluster key shared by the nodes (the authenticated transport)
        self.key_file = make_key_file(os.path.join(store, 'cluster.key'))
        for n in nodes:
            np_ = NodeProc(n, os.path.join(store, n.name))
            np_.rate = (rates or {}).get(n.name, 1.0)
            os.makedirs(np_.data, exist_ok=True)
            if tmpfs_mb:
                topo_mod.sh(['mount', '-t', 'tmpfs', '-o',
                             'size=%dm' % tmpfs_mb, 'rgjtmpfs', np_.data])
                topo.record_mount(np_.data)
            with open(np_.config, 'w') as fh:
                fh.write(node_yaml(n, nodes, np_.data, raft_extra,
                                   self.key_file) + extra_yaml)
            if faketime:
                with open(np_.skew, 'w') as fh:
                    fh.write('+0 x%s\n' % np_.rate)
            self.p[n.name] = np_

    def env(self, np_):
        env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C'}
        if self.faketime:
            lib = faketime_lib()
            env.update({'LD_PRELOAD': lib,
                        'FAKETIME_TIMESTAMP_FILE': np_.skew,
                        'FAKETIME_CACHE_DURATION': '1',
                        'FAKETIME_DONT_RESET': '1'})
        return env

    def start(self, node):
        np_ = self.p[getattr(node, 'name', node)]
        if self.running(np_.node):
            return np_.popen.pid
        out = open(os.path.join(np_.dir, 'stdout.log'), 'ab')
        try:
            np_.popen = subprocess.Popen(
                ['ip', 'netns', 'exec', self.topo.ns(np_.node),
                 self.binary, '-c', np_.config] + self.args,
                cwd=np_.dir, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, env=self.env(np_),
                start_new_session=True,
                preexec_fn=_core_unlimited)
        finally:
            out.close()
        np_.paused = False
        np_.starts += 1
        return np_.popen.pid

    def start_all(self):
        for n in self.nodes:
            self.start(n)

    def pid(self, node):
        np_ = self.p[getattr(node, 'name', node)]
        return np_.popen.pid if np_.popen else None

    def running(self, node):
        np_ = self.p[getattr(node, 'name', node)]
        if np_.popen is None:
            return False
        rc = np_.popen.poll()
        if rc is None:
            return True
        np_.exits.append((time.monotonic(), rc))
        np_.popen = None
        return False

    def send(self, node, sig):
        np_ = self.p[getattr(node, 'name', node)]
        if not self.running(np_.node):
            return False
        os.kill(np_.popen.pid, sig)
        return True

    def kill(self, node, sig=_sig.SIGKILL, wait=10.0):
        """Signal the node's raftgate and reap it; True if it is gone."""
        np_ = self.p[getattr(node, 'name', node)]
        if not self.running(np_.node):
            return True
        p = np_.popen
        if np_.frozen:          # a signal waits until the cgroup thaws
            self.thaw(np_.node)
        if np_.paused and sig != _sig.SIGKILL:
            os.kill(p.pid, _sig.SIGCONT)
        os.kill(p.pid, sig)
        if np_.paused:
            os.kill(p.pid, _sig.SIGCONT)
            np_.paused = False
        try:
            rc = p.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, _sig.SIGKILL)
            rc = p.wait(timeout=5)
        np_.exits.append((time.monotonic(), rc))
        np_.popen = None
        return True

    def pause(self, node):
        np_ = self.p[getattr(node, 'name', node)]
        if self.send(node, _sig.SIGSTOP):
            np_.paused = True
            return True
        return False

    def resume(self, node):
        np_ = self.p[getattr(node, 'name', node)]
        ok = self.send(node, _sig.SIGCONT)
        np_.paused = False
        return ok

    def freeze(self, node):
        """Freeze the node's process tree in a cgroup v1 freezer of its
        own (no signal): /sys/fs/cgroup/freezer/<prefix><node>."""
        np_ = self.p[getattr(node, 'name', node)]
        if not self.running(np_.node):
            return False
        d = os.path.join(FREEZER, self.topo.prefix + np_.node.name)
        os.makedirs(d, exist_ok=True)
        self.topo.record_freezer(d)
        _write(os.path.join(d, 'cgroup.procs'), str(np_.popen.pid))
        _write(os.path.join(d, 'freezer.state'), 'FROZEN')
        np_.frozen = d
        return True

    def thaw(self, node):
        """Thaw, move the process back to the root freezer cgroup and
        remove the node's."""
        np_ = self.p[getattr(node, 'name', node)]
        d = np_.frozen
        if d is None:
            return False
        _write(os.path.join(d, 'freezer.state'), 'THAWED')
        if self.running(np_.node):
            _write(os.path.join(FREEZER, 'cgroup.procs'), str(np_.popen.pid))
        np_.frozen = None
        try:
            os.rmdir(d)
        except OSError:
            pass
        return True

    def freezer_state(self, node):
        np_ = self.p[getattr(node, 'name', node)]
        try:
            with open(os.path.join(np_.frozen, 'freezer.state')) as fh:
                return fh.read().strip()
        except (OSError, TypeError):
            return None

    def proc_state(self, node):
        """The kernel's state letter for the node's PID (T = stopped)."""
        pid = self.pid(node)
        if not pid:
            return None
        try:
            with open('/proc/%d/stat' % pid) as fh:
                return fh.read().rsplit(')', 1)[1].split()[0]
        except OSError:
            return None

    def stop_all(self, graceful=True):
        for n in self.nodes:
            np_ = self.p[n.name]
            if np_.frozen:
                self.thaw(n)
            if np_.paused:
                self.resume(n)
            self.kill(n, _sig.SIGTERM if graceful else _sig.SIGKILL,
                      wait=8.0)


FREEZER = '/sys/fs/cgroup/freezer'


def _write(path, text):
    with open(path, 'w') as fh:
        fh.write(text)


def _core_unlimited():
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,
                                                  resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass
