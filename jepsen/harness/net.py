"""Network faults inside node namespaces (docs/fault-injection.md 3.2).

Partitions: an nftables table `inet jepsen` per node dropping input from
the grudged peers' addresses (heal = delete the table).  Loss: table
`inet jepsenloss` with a numgen rule.  Delay/jitter: an iptables NFQUEUE
rule in OUTPUT (--queue-bypass) plus nfq_delay.py in the node netns.
"""

import os
import subprocess
import time

from .topo import NET, connect_probe

HERE = os.path.dirname(os.path.abspath(__file__))


def _nft(topo, k, script):
    return topo.exec_in(k, ['nft', '-f', '-'], input=script, check=True)


def partition(topo, grudge):
    """grudge: {node_id: [peer ids whose packets node_id drops]}."""
    for k, peers in grudge.items():
        if not peers:
            continue
        rules = ''.join('add rule inet jepsen input ip saddr %s.%d drop\n'
                        % (NET, p) for p in sorted(peers))
        _nft(topo, k, 'add table inet jepsen\n'
             'add chain inet jepsen input { type filter hook input '
             'priority -10 ; policy accept ; }\n' + rules)


def drop_from(topo, k, addr):
    """Node k drops input from @addr (one address, e.g. Consul's); healed
    by heal() like a partition (same table)."""
    _nft(topo, k, 'add table inet jepsen\n'
         'add chain inet jepsen input { type filter hook input '
         'priority -10 ; policy accept ; }\n'
         'add rule inet jepsen input ip saddr %s drop\n' % addr)


def heal(topo, ids):
    for k in ids:
        topo.exec_in(k, ['nft', 'delete', 'table', 'inet', 'jepsen'])


def verify_partition(topo, grudge, port=9000):
    """True when every grudged pair times out (checked on one pair per
    node, from the dropping side's peer) and the client still reaches
    every node.  Returns (ok, detail)."""
    bad = []
    for k, peers in grudge.items():
        for p in sorted(peers)[:1]:
            r = connect_probe(topo, p, '%s.%d' % (NET, k), port, 0.3)
            if r != 'timeout':
                bad.append('n%d->n%d %s' % (p, k, r))
    return (not bad), bad


def loss(topo, k, pct):
    _nft(topo, k, 'add table inet jepsenloss\n'
         'add chain inet jepsenloss input { type filter hook input '
         'priority -5 ; policy accept ; }\n'
         'add rule inet jepsenloss input ip saddr %s.0/24 numgen random '
         'mod 100 < %d drop\n' % (NET, int(pct)))


def heal_loss(topo, k):
    topo.exec_in(k, ['nft', 'delete', 'table', 'inet', 'jepsenloss'])


def verify_loss(topo, k, tries=40):
    """Connect from a peer with a 0.3 s timeout until one times out (its SYN
    dropped by the loss rule), at most `tries` times. With 30% input loss
    every connect succeeds with probability 0.7 ** 40 (< 1e-6); the old
    12 tries left that at 1.4%, a false "not effective" now and then."""
    peer = 1 if k != 1 else 2
    code = ('import socket\nok=n=0\nfor _ in range(%d):\n'
            ' n+=1;s=socket.socket();s.settimeout(0.3)\n'
            ' try:\n  s.connect(("%s.%d",9000));ok+=1\n'
            ' except OSError:\n  s.close();break\n s.close()\n'
            'print(ok,n)\n' % (tries, NET, k))
    r = topo.exec_in(peer, ['/usr/bin/python3', '-c', code], timeout=20)
    try:
        ok, n = (int(x) for x in r.stdout.split())
    except ValueError:
        return False, 'probe failed: %s' % r.stderr.strip()
    return ok < n, '%d/%d connects ok' % (ok, n)


class Delayer:
    """NFQUEUE rule + nfq_delay.py in node k's netns."""

    def __init__(self, topo, k, delay_ms, jitter_ms, loss_pct=0,
                 lifetime=120, queue=0):
        self.topo, self.k, self.queue = topo, k, queue
        self.args = [str(queue), str(delay_ms), str(jitter_ms),
                     str(loss_pct), str(lifetime)]
        self.proc = None

    def start(self, logpath):
        self.topo.exec_in(self.k, ['iptables', '-w', '-A', 'OUTPUT', '-d',
                                   NET + '.0/24', '-j', 'NFQUEUE',
                                   '--queue-num', str(self.queue),
                                   '--queue-bypass'], check=True)
        out = open(logpath, 'ab')
        try:
            self.proc = subprocess.Popen(
                ['ip', 'netns', 'exec', self.topo.ns(self.k),
                 '/usr/bin/python3', os.path.join(HERE, 'nfq_delay.py')] +
                self.args, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            out.close()
        time.sleep(0.3)         # bind; checked by verify()
        return self.proc.poll() is None

    def verify(self, expect_ms):
        peer = 1 if self.k != 1 else 2
        code = ('import socket,time\nbest=9\nfor _ in range(3):\n'
                ' t=time.monotonic();s=socket.socket();s.settimeout(2)\n'
                ' try:\n  s.connect(("%s.%d",9000))\n'
                '  best=min(best,time.monotonic()-t)\n'
                ' except OSError:pass\n s.close()\nprint(best*1000)\n'
                % (NET, peer))
        r = self.topo.exec_in(self.k, ['/usr/bin/python3', '-c', code],
                              timeout=20)
        try:
            ms = float(r.stdout.strip())
        except ValueError:
            return False, 'probe failed'
        return ms >= 0.5 * expect_ms, 'connect %.1f ms (delay %s ms)' % (
            ms, expect_ms)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.topo.exec_in(self.k, ['iptables', '-w', '-D', 'OUTPUT', '-d',
                                   NET + '.0/24', '-j', 'NFQUEUE',
                                   '--queue-num', str(self.queue),
                                   '--queue-bypass'])
