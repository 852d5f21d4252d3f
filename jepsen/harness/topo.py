"""Network topology in namespaces (docs/fault-injection.md section 3.1).

rgj<id>hub holds the bridge; rgj<id>n1..n3 hold the nodes at 10.77.0.K;
rgj<id>c is the client/control netns (10.77.0.100, plus .50 and .61-.63
for fakes).  Nothing is created in the root netns.  A pidfile
/run/rgj-jepsen/rgj<id>.json names the owning harness PID, the netns and
any tmpfs mounts; stale runs whose owner is dead are cleaned at start.
"""

import ctypes
import json
import os
import re
import signal
import subprocess
import time

RUNDIR = '/run/rgj-jepsen'
NET = '10.77.0'
CLIENT_ADDRS = [100, 50, 61, 62, 63, 64, 65, 66]
CLONE_NEWNET = 0x40000000


def sh(args, check=True, input=None, timeout=15):
    """Run a command; returns CompletedProcess.  Bounded by timeout."""
    r = subprocess.run(args, input=input, capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError('%s: rc %d: %s' % (' '.join(args), r.returncode,
                                              r.stderr.strip()))
    return r


def list_netns():
    r = sh(['ip', 'netns', 'list'], check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def netns_pids(ns):
    r = sh(['ip', 'netns', 'pids', ns], check=False)
    return [int(x) for x in r.stdout.split() if x.isdigit()]


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def kill_ns_pids(ns, exclude=(), deadline=3.0):
    """SIGKILL every process in netns ns (except `exclude`); wait."""
    me = set(exclude) | {os.getpid()}
    pids = [p for p in netns_pids(ns) if p not in me]
    for p in pids:
        try:
            os.kill(p, signal.SIGCONT)
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if not [p for p in netns_pids(ns) if p not in me]:
            break
        time.sleep(0.05)
    return pids


def umount(path):
    if os.path.ismount(path):
        sh(['umount', '-l', path], check=False)


def cleanup_state(st, exclude=()):
    """Tear down everything a run recorded: processes, freezer dirs,
    mounts, namespaces."""
    prefix = st['prefix']
    for d in st.get('freezer', []):     # a frozen process cannot die
        try:
            with open(os.path.join(d, 'freezer.state'), 'w') as fh:
                fh.write('THAWED')
        except OSError:
            pass
    for ns in list_netns():
        if re.fullmatch(re.escape(prefix) + r'(hub|n\d+|c)', ns):
            kill_ns_pids(ns, exclude=exclude)
    for m in st.get('mounts', []):
        umount(m)
    for d in st.get('freezer', []):
        try:
            os.rmdir(d)
        except OSError:
            pass
    for ns in list_netns():
        if re.fullmatch(re.escape(prefix) + r'(hub|n\d+|c)', ns):
            sh(['ip', 'netns', 'del', ns], check=False)


def clean_stale(log=print):
    """Delete rgj* namespaces (and recorded mounts) of dead runs."""
    os.makedirs(RUNDIR, exist_ok=True)
    owners = {}
    for fn in os.listdir(RUNDIR):
        if not fn.endswith('.json'):
            continue
        try:
            with open(os.path.join(RUNDIR, fn)) as fh:
                st = json.load(fh)
        except (OSError, ValueError):
            continue
        owners[st['prefix']] = (st, os.path.join(RUNDIR, fn))
    prefixes = set()
    for ns in list_netns():
        m = re.fullmatch(r'(rgj\d+)(hub|n\d+|c)', ns)
        if m:
            prefixes.add(m.group(1))
    prefixes |= set(owners)
    cleaned = []
    for p in sorted(prefixes):
        st, path = owners.get(p, ({'prefix': p, 'pid': None}, None))
        if st.get('pid') and pid_alive(st['pid']) and st['pid'] != os.getpid():
            continue            # a live run owns it
        log('topo: cleaning stale run %s' % p)
        cleanup_state(st)
        if path:
            try:
                os.unlink(path)
            except OSError:
                pass
        cleaned.append(p)
    return cleaned


def _setns(path):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, 'setns %s: %s' % (path, os.strerror(e)))
    finally:
        os.close(fd)


class Topo:
    def __init__(self, n=3, runid=None):
        self.n = n
        self.runid = runid if runid is not None else os.getpid()
        self.prefix = 'rgj%d' % self.runid
        self.hub = self.prefix + 'hub'
        self.client = self.prefix + 'c'
        self.st = {'prefix': self.prefix, 'pid': os.getpid(), 'mounts': [],
                   'freezer': []}
        self.statefile = os.path.join(RUNDIR, self.prefix + '.json')
        self.up_done = False
        self._root_ns_fd = None

    def ns(self, k):
        """netns name of node k (1-based) or a Node."""
        k = getattr(k, 'id', k)
        return '%sn%d' % (self.prefix, k)

    def save(self):
        os.makedirs(RUNDIR, exist_ok=True)
        tmp = self.statefile + '.tmp'
        with open(tmp, 'w') as fh:
            json.dump(self.st, fh)
        os.replace(tmp, self.statefile)

    def record_mount(self, path):
        self.st['mounts'].append(path)
        self.save()

    def record_freezer(self, path):
        self.st['freezer'].append(path)
        self.save()

    def up(self):
        self.save()             # record first: cleanup works even if half-up
        P = self.prefix
        ip = ['ip']
        sh(ip + ['netns', 'add', self.hub])
        sh(ip + ['-n', self.hub, 'link', 'add', 'br0', 'type', 'bridge'])
        sh(ip + ['-n', self.hub, 'link', 'set', 'br0', 'up'])
        for k in range(1, self.n + 1):
            ns = self.ns(k)
            sh(ip + ['netns', 'add', ns])
            sh(ip + ['-n', self.hub, 'link', 'add', 'v%d' % k, 'type', 'veth',
                     'peer', 'name', 'eth0', 'netns', ns])
            sh(ip + ['-n', self.hub, 'link', 'set', 'v%d' % k, 'master', 'br0',
                     'up'])
            sh(ip + ['-n', ns, 'addr', 'add', '%s.%d/24' % (NET, k), 'dev',
                     'eth0'])
            sh(ip + ['-n', ns, 'link', 'set', 'eth0', 'up'])
            sh(ip + ['-n', ns, 'link', 'set', 'lo', 'up'])
        sh(ip + ['netns', 'add', self.client])
        sh(ip + ['-n', self.hub, 'link', 'add', 'vc', 'type', 'veth', 'peer',
                 'name', 'eth0', 'netns', self.client])
        sh(ip + ['-n', self.hub, 'link', 'set', 'vc', 'master', 'br0', 'up'])
        for a in CLIENT_ADDRS:
            sh(ip + ['-n', self.client, 'addr', 'add', '%s.%d/24' % (NET, a),
                     'dev', 'eth0'])
        sh(ip + ['-n', self.client, 'link', 'set', 'eth0', 'up'])
        sh(ip + ['-n', self.client, 'link', 'set', 'lo', 'up'])
        self.up_done = True

    def enter_client(self):
        """Move this process (call before starting threads) into the
        client netns, so every socket the harness opens lives there."""
        self._root_ns_fd = os.open('/proc/self/ns/net', os.O_RDONLY)
        _setns('/run/netns/' + self.client)

    def leave_client(self):
        if self._root_ns_fd is not None:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.setns(self._root_ns_fd, CLONE_NEWNET)
            os.close(self._root_ns_fd)
            self._root_ns_fd = None

    def down(self):
        self.leave_client()
        cleanup_state(self.st, exclude=(os.getpid(),))
        try:
            os.unlink(self.statefile)
        except OSError:
            pass

    def exec_in(self, k, args, timeout=15, check=False, input=None):
        """Run a short command in node k's netns."""
        return sh(['ip', 'netns', 'exec', self.ns(k)] + list(args),
                  check=check, timeout=timeout, input=input)


def connect_probe(topo, k, ip, port, timeout=0.4):
    """From node k's netns: 'ok', 'refused' or 'timeout' connecting to
    ip:port."""
    code = ('import socket,sys\n'
            's=socket.socket();s.settimeout(%r)\n'
            'try:\n s.connect((%r,%d));print("ok")\n'
            'except ConnectionRefusedError:print("refused")\n'
            'except OSError:print("timeout")\n' % (timeout, ip, port))
    r = topo.exec_in(k, ['/usr/bin/python3', '-c', code], timeout=10)
    return r.stdout.strip() or 'error'
