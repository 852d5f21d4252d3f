#!/usr/bin/python3
"""The admin API over TLS on a three-node cluster (admin.tls_certificate,
admin.tls_ca_file): a write sent to a follower is forwarded to the leader
over https, verified against the cluster's CA, and replicated; a follower
that does not trust the leader's certificate answers 503 not-proposed,
logs the handshake failure, and nothing is written. A bad tls_ca_file is
a config error naming the key."""

import os
import ssl
import unittest

import rgtest
import tlsutil
from rgcluster import (ClusterTestCase, Cluster, not_proposed, scaled,
                       gateway_doc)


class AdminTLSClusterTest(ClusterTestCase):
    SHARED = True

    @classmethod
    def setUpClass(cls):
        cls.ca = tlsutil.temp_ca(cls.addClassCleanup)
        cls.cert, cls.key = cls.ca.issue("localhost",
                                         ["localhost", "127.0.0.1"])
        cls.client = ssl.create_default_context(cafile=cls.ca.cert)
        super().setUpClass()

    @classmethod
    def make_cluster(cls):
        c = Cluster(cls.N, cls.seed(cls.up), {"admin": {
            "tls_certificate": cls.cert, "tls_certificate_key": cls.key,
            "tls_ca_file": cls.ca.cert}})
        for nd in c.nodes:
            nd.admin_ssl = cls.client
        return c

    def follower(self):
        c = self.cluster
        lead = c.wait_leader()
        return lead, next(nd for nd in c.alive() if nd.id != lead.id)

    def test_1_write_on_follower_forwarded_over_https(self):
        c = self.cluster
        lead, f = self.follower()
        r = f.admin("POST", "/consumers", {"username": "via-follower"},
                    {"X-Request-Id": "tls-fwd-1"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.header("X-Request-Id"), "tls-fwd-1")
        rev = int(r.header("X-Raftgate-Revision"))
        c.wait_revision(rev)
        for nd in c.nodes:
            g = nd.admin("GET", "/consumers/via-follower")
            self.assertEqual(g.status, 200, (nd, g))
        # no plain HTTP on the admin port
        with self.assertRaises(Exception):
            rgtest.request(f.admin_port, "GET", "/status", timeout=2.0)

    def test_2_untrusted_leader_certificate_not_proposed(self):
        c = self.cluster
        other = tlsutil.temp_ca(self.addCleanup, "another CA")
        lead, f = self.follower()
        f.stop()
        f.node["admin"]["tls_ca_file"] = other.cert
        c.restart(f)
        lead = c.wait_leader()
        if lead.id == f.id:
            self.skipTest("the restarted node became the leader")
        r = f.admin("POST", "/consumers", {"username": "never-written"})
        self.assertTrue(not_proposed(r), r)
        self.assertIn("leader unreachable", r.body.decode())
        self.assertEqual(
            lead.admin("GET", "/consumers/never-written").status, 404)
        rgtest.wait_until(
            lambda: "TLS handshake failed: certificate verify failed"
            in f.log_tail(), scaled(5.0), what="the handshake WARN")
        self.assertTrue(f.alive())
        # trusted again: forwarding works again
        f.stop()
        f.node["admin"]["tls_ca_file"] = self.ca.cert
        c.restart(f)
        r = c.write("POST", "/consumers", {"username": "after"}, node=f)
        self.assertEqual(r.status, 201, r)


class AdminTLSConfigTest(unittest.TestCase):
    """admin.tls_ca_file errors name the key; the process does not start."""

    def check(self, admin, cluster=True):
        node = {"admin": admin}
        if cluster:
            node.update({"node": {"id": 1}, "raft": {
                "listen": "127.0.0.1:%d" % rgtest.free_port(),
                "join": True}})
        gw = rgtest.Gateway(gateway_doc(), node)
        self.addCleanup(gw.cleanup)
        return gw.check()

    def test_bad_ca_file(self):
        ca = tlsutil.temp_ca(self.addCleanup)
        cert, key = ca.issue("localhost", ["localhost", "127.0.0.1"])
        missing = os.path.join(ca.dir, "missing.pem")
        rc, out = self.check({"tls_certificate": cert,
                              "tls_certificate_key": key,
                              "tls_ca_file": missing})
        self.assertNotEqual(rc, 0, out)
        self.assertIn("admin.tls_ca_file: cannot read CA file %s" % missing,
                      out)
        rc, out = self.check({"tls_ca_file": ca.cert})
        self.assertNotEqual(rc, 0, out)
        self.assertIn("admin.tls_ca_file: needs admin.tls_certificate", out)
        rc, out = self.check({"tls_certificate": cert,
                              "tls_certificate_key": key,
                              "tls_ca_file": ca.cert})
        self.assertEqual(rc, 0, out)


if __name__ == "__main__":
    unittest.main()
