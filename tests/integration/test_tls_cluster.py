#!/usr/bin/python3
"""Certificates and SNIs through the admin API on a three-node cluster:
written on one node, replicated, and served by every node's TLS listener
for its server name (openssl s_client -servername); a POST /config whole
config with certificates[].snis does the same; bad PEMs are refused with
the path, the running config stays."""

import rgtest
import tlsutil
from rgcluster import ClusterTestCase, Cluster, free_port, scaled


class TLSClusterTest(ClusterTestCase):
    SHARED = True

    @classmethod
    def make_cluster(cls):
        c = Cluster(cls.N, cls.seed(cls.up), cls.NODE)
        for nd in c.nodes:
            nd.tls_port = free_port()
            nd.node["proxy"]["tls_listen"] = "127.0.0.1:%d" % nd.tls_port
        return c

    @classmethod
    def setUpClass(cls):
        cls.ca = tlsutil.temp_ca(cls.addClassCleanup)
        super().setUpClass()

    def wait_cn(self, nd, name, cn):
        seen = []

        def pred():
            seen.append(tlsutil.served_cn(nd.tls_port, name))
            return seen[-1] == cn
        try:
            rgtest.wait_until(pred, scaled(10.0), 0.1,
                              "node %d serves %s for %s" % (nd.id, cn, name))
        except TimeoutError as e:
            self.fail("%s; last seen %r" % (e, seen[-1:]))

    def test_admin_certificates_replicated(self):
        """Two certificates with different SNIs written on node 1: nodes 2
        and 3 present each for its name, the default for others."""
        c = self.cluster
        n1, others = c.nodes[0], c.nodes[1:]
        ids = {}
        for name in ("one.example.com", "two.example.com"):
            r = c.write("POST", "/certificates",
                        tlsutil.pem_pair(*self.ca.issue(name)), node=n1)
            self.assertWrite(r, 201, "POST /certificates")
            ids[name] = r.json()["id"]
        r = c.write("POST", "/certificates/%s/snis" % ids["one.example.com"],
                    {"name": "one.example.com"}, node=n1)
        self.assertWrite(r, 201, "POST /certificates/{c}/snis")
        r = c.write("POST", "/snis", {"name": "*.two.example.com",
                                      "certificate": {
                                          "id": ids["two.example.com"]}},
                    node=n1)
        self.assertWrite(r, 201, "POST /snis")
        for nd in others:
            self.wait_cn(nd, "one.example.com", "one.example.com")
            self.wait_cn(nd, "x.two.example.com", "two.example.com")
            self.assertEqual(tlsutil.served_cn(nd.tls_port, "none.test"),
                             "localhost")
        # A name moves to the other certificate: PATCH the sni.
        r = c.write("PATCH", "/snis/one.example.com",
                    {"certificate": {"id": ids["two.example.com"]}},
                    node=others[0])
        self.assertWrite(r, 200, "PATCH /snis/{name}")
        for nd in c.nodes:
            self.wait_cn(nd, "one.example.com", "two.example.com")
        r = c.write("GET", "/snis")
        self.assertEqual(r.status, 200)
        self.assertEqual(sorted(s["name"] for s in r.json()["data"]),
                         ["*.two.example.com", "one.example.com"])
        # Still named by snis: refused (Kong would cascade); then the
        # snis go, the certificate goes, and the default is served again.
        r = c.write("DELETE", "/certificates/%s" % ids["two.example.com"])
        self.assertEqual(r.status, 400, r)
        for name in ("one.example.com", "*.two.example.com"):
            self.assertWrite(c.write("DELETE", "/snis/%s" % name), 204)
        self.assertWrite(c.write("DELETE", "/certificates/%s" %
                                 ids["two.example.com"]), 204)
        for nd in c.nodes:
            self.wait_cn(nd, "one.example.com", "localhost")

    def test_admin_bad_pem_refused(self):
        c = self.cluster
        pair = tlsutil.pem_pair(*self.ca.issue("bad.example.com"))
        other = tlsutil.pem_pair(*self.ca.issue("other.example.com"))
        for body, msg in ((dict(pair, key="junk"), "key"),
                          (dict(pair, cert="junk"), "cert"),
                          (dict(pair, key=other["key"]), "does not match")):
            r = c.write("POST", "/certificates", body)
            self.assertEqual(r.status, 400, r)
            self.assertIn(msg, r.body.decode())
        r = c.write("POST", "/certificates", dict(pair, snis=["x.test"]))
        self.assertEqual(r.status, 400, r)
        self.assertIn("snis", r.body.decode())
        self.assertTrue(all(nd.alive() for nd in c.nodes))

    def test_post_config_with_certificates(self):
        """A whole config (POST /config) with a certificate nesting its
        snis, names and objects: every node serves it."""
        c = self.cluster
        doc = self.seed(self.up)
        doc["certificates"] = [dict(
            tlsutil.pem_pair(*self.ca.issue("conf.example.com")),
            snis=["conf.example.com", {"name": "*.conf.example.com"}])]
        r = c.write("POST", "/config", doc)
        self.assertWrite(r, (200, 201), "POST /config")
        for nd in c.nodes:
            self.wait_cn(nd, "conf.example.com", "conf.example.com")
            self.wait_cn(nd, "a.conf.example.com", "conf.example.com")


if __name__ == "__main__":
    import unittest
    unittest.main()
