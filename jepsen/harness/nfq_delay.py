#!/usr/bin/python3
"""Userspace netem substitute: an NFQUEUE delayer (stdlib only).

    nfq_delay.py QUEUE DELAY_MS JITTER_MS LOSS_PCT LIFETIME_S

Binds NFQUEUE QUEUE over AF_NETLINK (nfnetlink_queue, metadata copy
mode), holds every packet DELAY_MS +- JITTER_MS (uniform) and then
accepts it, dropping LOSS_PCT percent.  SIGTERM (or LIFETIME_S) accepts
everything still held and exits.  Pair with
`iptables -A OUTPUT ... -j NFQUEUE --queue-num QUEUE --queue-bypass`
so traffic flows if the delayer dies.  Exits 3 if the queue is taken.
"""

import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
NF_DROP = 0
NF_ACCEPT = 1


def attr(t, payload):
    n = 4 + len(payload)
    return struct.pack('=HH', n, t) + payload + b'\0' * ((4 - n % 4) % 4)


def msg(mtype, queue, attrs, flags=NLM_F_REQUEST, seq=0):
    body = struct.pack('=BBH', socket.AF_UNSPEC, 0, socket.htons(queue))
    body += b''.join(attrs)
    hdr = struct.pack('=IHHII', 16 + len(body),
                      (NFNL_SUBSYS_QUEUE << 8) | mtype, flags, seq, 0)
    return hdr + body


def parse_attrs(buf):
    out = {}
    i = 0
    while i + 4 <= len(buf):
        n, t = struct.unpack_from('=HH', buf, i)
        if n < 4:
            break
        out[t & 0x7fff] = buf[i + 4:i + n]
        i += (n + 3) & ~3
    return out


def main(argv):
    if len(argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    queue = int(argv[0])
    delay = float(argv[1]) / 1000.0
    jitter = float(argv[2]) / 1000.0
    loss = float(argv[3]) / 100.0
    deadline = time.monotonic() + float(argv[4])
    rng = random.Random()
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((0, 0))

    def request(m):
        s.send(m)
        r, _, _ = select.select([s], [], [], 2.0)
        if not r:
            return -110
        data = s.recv(65536)
        _, t = struct.unpack_from('=IH', data, 0)
        if t == NLMSG_ERROR:
            return struct.unpack_from('=i', data, 16)[0]
        return 0

    err = request(msg(NFQNL_MSG_CONFIG, queue, [
        attr(NFQA_CFG_CMD, struct.pack('=BBH', NFQNL_CFG_CMD_BIND, 0, 0))],
        NLM_F_REQUEST | NLM_F_ACK, 1))
    if err != 0:
        sys.stderr.write('nfq_delay: bind queue %d: error %d\n' % (queue, err))
        return 3
    err = request(msg(NFQNL_MSG_CONFIG, queue, [
        attr(NFQA_CFG_PARAMS, struct.pack('>IB', 0, NFQNL_COPY_META)),
        attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack('>I', 16384))],
        NLM_F_REQUEST | NLM_F_ACK, 2))
    if err != 0:
        sys.stderr.write('nfq_delay: params: error %d\n' % err)
        return 3
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    held = []                   # (release_time, seq, packet_id, verdict)
    seq = 0
    counts = {'pkts': 0, 'dropped': 0}

    def verdict(pid, v):
        try:
            s.send(msg(NFQNL_MSG_VERDICT, queue, [
                attr(NFQA_VERDICT_HDR, struct.pack('>II', v, pid))]))
        except OSError:
            pass

    print('nfq_delay: queue %d delay %.0f ms jitter %.0f ms loss %.0f%%'
          % (queue, delay * 1e3, jitter * 1e3, loss * 100), flush=True)
    while not stop and time.monotonic() < deadline:
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, _, pid, v = heapq.heappop(held)
            verdict(pid, v)
        timeout = 0.2
        if held:
            timeout = max(0.0, min(timeout, held[0][0] - now))
        try:
            r, _, _ = select.select([s], [], [], timeout)
        except InterruptedError:
            continue
        if not r:
            continue
        try:
            data = s.recv(1 << 16, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:         # ENOBUFS: the kernel dropped messages
            continue
        now = time.monotonic()     # not the pre-select time
        i = 0
        while i + 16 <= len(data):
            n, t = struct.unpack_from('=IH', data, i)
            if n < 16:
                break
            if t == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                a = parse_attrs(data[i + 20:i + n])
                h = a.get(NFQA_PACKET_HDR)
                if h:
                    pid = struct.unpack_from('>I', h, 0)[0]
                    counts['pkts'] += 1
                    v = NF_ACCEPT
                    if loss and rng.random() < loss:
                        v = NF_DROP
                        counts['dropped'] += 1
                    d = delay + (rng.uniform(-jitter, jitter) if jitter else 0)
                    seq += 1
                    heapq.heappush(held, (now + max(0.0, d), seq, pid, v))
            i += (n + 3) & ~3
    for _, _, pid, v in held:
        verdict(pid, NF_ACCEPT if v == NF_ACCEPT else NF_DROP)
    print('nfq_delay: done, %d packets, %d dropped' % (counts['pkts'],
                                                      counts['dropped']),
          flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
