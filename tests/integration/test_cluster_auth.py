#!/usr/bin/python3
"""Authenticated Raft transport (issue 12, auth): a cluster sharing a
generated key (raft.cluster_key_file) replicates; a fourth node with
another key, or with none, asked to join through POST /cluster/members is
refused by the keyed handshake and never receives an entry, and the
cluster logs the refusal; a raw TCP client speaking libraft's own
handshake on a raft port, or saying nothing, is disconnected and the
cluster keeps committing; the internal admin endpoints refuse calls
without a valid X-Raftgate-Auth MAC."""

import hashlib
import hmac
import json
import os
import socket
import struct
import time
import uuid

import rgcluster
import rgtest
from rgcluster import ClusterTestCase, scaled

REFUSED = r"raft transport: refused "


class ClusterAuthTest(ClusterTestCase):

    def members(self):
        return self.cluster.nodes[:3]

    def route(self, prefix):
        name = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
        lead = self.cluster.wait_leader(nodes=self.members())
        rev, _ = rgcluster.add_service_with_route(
            self.cluster, name, self.up.port, "/" + name, node=lead)
        return "/" + name, rev

    def logs(self):
        return "".join(nd.error_log() for nd in self.cluster.nodes[:3])

    def assert_keeps_committing(self):
        path, rev = self.route("still")
        self.cluster.wait_revision(rev, nodes=self.cluster.nodes[:3])
        self.cluster.wait_served(path, nodes=self.cluster.nodes[:3])
        return rev

    def refused_joiner(self, key):
        """Start node 4 with `key` (rgcluster.new_node), ask the cluster to
        add it, and check it never gets an entry while the cluster logs
        the refusal and keeps committing."""
        c = self.cluster
        rev = self.assert_keeps_committing()
        n4 = c.new_node(4, key=key)
        n4.start(wait=False)
        n4.wait_admin()
        r = c.wait_leader(nodes=self.members()).admin(
            "POST", "/cluster/members",
            n4.member_doc(), timeout=scaled(15.0))
        # the add itself (a spare) may commit: the membership change
        # lives in the cluster's log, not on n4
        self.assertIn(r.status, (200, 201, 409, 500, 503, 504), repr(r))
        rgtest.wait_until(lambda: "refused" in self.logs(), scaled(10.0),
                          0.1, "a refusal in the cluster's log")
        self.assertRegex(self.logs(), REFUSED + r"127\.0\.0\.1:%d \(node 4\)"
                         % n4.raft_port)
        deadline = time.monotonic() + scaled(3.0)
        while time.monotonic() < deadline:
            st = n4.status()
            self.assertEqual(st.get("revision"), 0, repr(st))
            self.assertEqual(st.get("commit_index"), 0, repr(st))
            self.assertNotIn(st.get("raft_state"), ("leader",), repr(st))
            time.sleep(0.2)
        self.assertGreater(self.assert_keeps_committing(), rev)
        self.assertEqual(n4.status().get("revision"), 0)
        return n4

    def test_shared_key_replicates(self):
        c = self.cluster
        for nd in c.nodes:
            self.assertIs(nd.status().get("transport_auth"), True,
                          repr(nd.status()))
        path, rev = self.route("keyed")
        c.wait_revision(rev)
        c.wait_served(path)
        self.assertNotIn("refused", self.logs())

    def test_wrong_key_refused(self):
        other = rgcluster.make_key_file(
            os.path.join(self.cluster.dir, "other.key"))
        n4 = self.refused_joiner(other)
        self.assertRegex(n4.error_log(), REFUSED)  # it refuses them too

    def test_no_key_refused(self):
        n4 = self.refused_joiner(False)
        self.assertIs(n4.status().get("transport_auth"), False)
        # what the cluster knows when node 4 (libraft's own handshake)
        # hangs up on HELLO; another key would have sent a REPLY
        self.assertRegex(self.logs(), REFUSED + r"127\.0\.0\.1:%d \(node 4\): "
                         r"it closed the connection before its handshake "
                         r"reply \(no cluster key there" % n4.raft_port)
        self.assertRegex(n4.error_log(),
                         r"no raft\.cluster_key_file.*NOT authenticated")

    def test_raw_client_disconnected(self):
        c = self.cluster
        lead = c.wait_leader()
        term = lead.status()["term"]
        addr = b"127.0.0.1:1\0\0\0\0\0"  # 16: NUL-padded to 8
        hs = struct.pack("<QQQ", 1, 99, len(addr)) + addr
        # libraft's RequestVote-looking frame: protocol/type/length words
        frame = struct.pack("<QQQQQQ", 1, 1, 32, term + 5, 99, 1 << 40)
        # refusals are logged once per peer address per 10 s: the silent
        # client (below) goes to node 1, the talking ones to nodes 2 and 3
        for nd in c.nodes[1:]:
            s = socket.create_connection((rgtest.HOST, nd.raft_port), 5)
            s.settimeout(scaled(5.0))
            try:
                s.sendall(hs + frame)
                try:
                    got = s.recv(4096)
                except ConnectionResetError:
                    got = b""
                self.assertEqual(got, b"", "node %d answered" % nd.id)
            finally:
                s.close()
        rgtest.wait_until(lambda: "no keyed handshake" in self.logs(),
                          scaled(5.0), 0.1, "the refusal logged")
        # no log flood: 30 more strangers on node 2 within the 10 s add no
        # WARN line (the next one will count them)
        for _ in range(30):
            s = socket.create_connection((rgtest.HOST, c.nodes[1].raft_port),
                                         5)
            s.sendall(hs)
            s.close()
        time.sleep(0.5)
        self.assertEqual(c.nodes[1].error_log().count(
            "refused 127.0.0.1:"), 1, c.nodes[1].log_tail(20))
        # a silent client is dropped at the handshake deadline (1 s,
        # RG_TR_HANDSHAKE_MS)
        s = socket.create_connection((rgtest.HOST, c.nodes[0].raft_port), 5)
        s.settimeout(scaled(10.0))
        t0 = time.monotonic()
        try:
            try:
                got = s.recv(4096)
            except ConnectionResetError:
                got = b""
        finally:
            s.close()
        self.assertEqual(got, b"")
        self.assertLess(time.monotonic() - t0, scaled(3.0))
        c.nodes[0].wait_log(r"refused 127\.0\.0\.1: no complete handshake",
                            timeout=scaled(2.0))
        self.assert_keeps_committing()
        self.assertEqual(c.wait_leader(nodes=self.members()).id, lead.id)
        for nd in c.nodes:
            self.assertEqual(nd.status()["term"], term, nd.id)


def node_mac(key, method, target, body, t_ms=None, rid=""):
    """X-Raftgate-Auth as a node computes it (src/core/reqmac.h) for a
    request whose X-Request-Id is @rid ("" when it has none)."""
    t_ms = int(time.time() * 1000) if t_ms is None else t_ms
    msg = b"\0".join([b"raftgate admin v2", method.encode(),
                      target.encode(), rid.encode(), str(t_ms).encode(),
                      b""]) + hashlib.sha256(body).digest()
    return "t=%d,mac=%s" % (t_ms, hmac.new(key, msg, "sha256").hexdigest())


class InternalCallsAuthTest(ClusterTestCase):
    """With a cluster key the internal endpoints need X-Raftgate-Auth, and
    X-Raftgate-Forwarded without it is a plain client request."""

    SHARED = True

    def post(self, nd, path, body, auth=None, rid=None):
        hdrs = {"Content-Type": "application/json"}
        if auth is not None:
            hdrs["X-Raftgate-Auth"] = auth
        if rid is not None:
            hdrs["X-Request-Id"] = rid
        return nd.admin("POST", path, body, hdrs)

    def test_internal_endpoints_refuse_bad_macs(self):
        c = self.cluster
        lead = c.wait_leader()
        with open(c.key_file, "rb") as f:
            key = f.read()
        body = json.dumps({"node": "x", "cmds": []})
        wrong = os.urandom(32)
        for path in ("/cluster/leases", "/admin/v1/cluster/breaker"):
            for auth in (None, "t=1,mac=" + "0" * 64,
                         node_mac(wrong, "POST", path, body.encode()),
                         node_mac(key, "POST", path, body.encode(),
                                  int(time.time() * 1000) - 40000),
                         node_mac(key, "POST", path, b"{}")):
                r = self.post(lead, path, body, auth)
                self.assertEqual(r.status, 401, "%s %s: %r" % (path, auth, r))
                self.assertIn("X-Raftgate-Auth", r.json()["message"])
            # the MAC covers X-Request-Id: a signed call replayed under
            # another (or an added) request id is refused
            signed = node_mac(key, "POST", path, body.encode(), rid="r-1")
            for rid in ("r-2", None):
                r = self.post(lead, path, body, signed, rid)
                self.assertEqual(r.status, 401, "%s %s: %r" % (path, rid, r))
            r = self.post(lead, path, body,
                          node_mac(key, "POST", path, body.encode()), "r-1")
            self.assertEqual(r.status, 401, "%s added id: %r" % (path, r))
            # right ones pass the gate (the batch itself is junk)
            r = self.post(lead, path, body, signed, "r-1")
            self.assertNotEqual(r.status, 401, repr(r))
            r = self.post(lead, path, body,
                          node_mac(key, "POST", path, body.encode()))
            self.assertNotEqual(r.status, 401, repr(r))

    def test_forwarded_header_without_mac_is_a_client_request(self):
        """A follower given X-Raftgate-Forwarded without a valid MAC does
        not take it as a node's forward (which it would refuse with 503
        not-proposed, "not the leader"): it forwards it like any client
        write, and the write commits."""
        c = self.cluster
        fol = c.followers()[0]
        name = "fwd-%s" % uuid.uuid4().hex[:8]
        r = fol.admin("POST", "/services",
                      {"name": name, "url": "http://127.0.0.1:%d" %
                       self.up.port},
                      {"X-Raftgate-Forwarded": "1",
                       "X-Request-Id": str(uuid.uuid4())})
        self.assertIn(r.status, (200, 201), repr(r))
        self.assertEqual(c.wait_leader().admin(
            "GET", "/services/" + name).status, 200)


if __name__ == "__main__":
    rgtest.main()
