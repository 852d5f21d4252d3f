#!/usr/bin/python3
"""Certificates and SNIs through the admin API on a three-node cluster:
written on one node, replicated, and served by every node's TLS listener
for its server name (openssl s_client -servername); a POST /config whole
config with certificates[].snis does the same; bad PEMs are refused with
the path, the running config stays. CA certificates (ca_certificates)
named by a service anchor its https upstream's verification on every
node."""

import re

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
        # SNIs are host names: another letter case of a taken name is the
        # same UNIQUE violation (409) as the name itself, on either path.
        for path, dup in (("/snis", "one.example.com"),
                          ("/snis", "One.Example.COM"),
                          ("/certificates/%s/snis" % ids["two.example.com"],
                           "ONE.example.com")):
            r = c.write("POST", path, {"name": dup, "certificate": {
                "id": ids["two.example.com"]}}, node=n1)
            self.assertEqual(r.status, 409, (dup, r))
            self.assertIn("UNIQUE violation", r.body.decode())
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

    def test_startup_line_names_listeners(self):
        """Each node's start-up line names its proxy, proxy TLS, admin,
        status and raft listeners."""
        for nd in self.cluster.nodes:
            nd.wait_log(r"(?m)\] raftgate: listening on proxy %s, proxy TLS "
                        r"127\.0\.0\.1:%d, admin http %s, status "
                        r"127\.0\.0\.1:%d, raft %s; 1 worker \(cluster mode\)$"
                        % (re.escape(nd.proxy_addr), nd.tls_port,
                           re.escape(nd.admin_addr), nd.status_port,
                           re.escape(nd.raft_addr)), 5)

    def test_admin_bad_pem_refused(self):
        c = self.cluster
        pair = tlsutil.pem_pair(*self.ca.issue("bad.example.com"))
        other = tlsutil.pem_pair(*self.ca.issue("other.example.com"))
        for body, msg in ((dict(pair, key="junk"), "key"),
                          (dict(pair, cert="junk"), "cert"),
                          (dict(pair, cert=5), "cert: must be a string"),
                          (dict(pair, key=other["key"]), "does not match")):
            r = c.write("POST", "/certificates", body)
            self.assertEqual(r.status, 400, r)
            self.assertIn(msg, r.body.decode())
        r = c.write("POST", "/certificates", dict(pair, snis=["x.test"]))
        self.assertEqual(r.status, 400, r)
        self.assertIn("snis", r.body.decode())
        self.assertTrue(all(nd.alive() for nd in c.nodes))

    def test_ca_certificates_replicated(self):
        """A CA certificate written on one node, named by a service written
        on another: every node verifies the https upstream against it;
        refused while named (400), a duplicate is 409, and without it the
        upstream is not trusted (502)."""
        c = self.cluster
        n1, n2 = c.nodes[0], c.nodes[1]
        up_ca = tlsutil.temp_ca(self.addCleanup, "upstream CA")
        srv = tlsutil.HTTPSServer(*up_ca.issue("localhost", ["localhost"]))
        self.addCleanup(srv.stop)
        ent = tlsutil.ca_entity(up_ca.cert)
        r = c.write("POST", "/ca_certificates", ent, node=n1)
        self.assertWrite(r, 201, "POST /ca_certificates")
        ca = r.json()
        self.assertEqual(ca["cert_digest"], tlsutil.cert_digest(ent["cert"]))
        r = c.write("POST", "/ca_certificates", ent, node=n2)
        self.assertEqual(r.status, 409, r)
        r = c.write("POST", "/ca_certificates",
                    tlsutil.ca_entity(self.ca.issue("leaf.example.com")[0]))
        self.assertEqual(r.status, 400, r)
        self.assertIn("not a CA certificate", r.body.decode())
        r = c.write("POST", "/ca_certificates",
                    tlsutil.ca_entity(tlsutil.expired_ca(up_ca.dir)))
        self.assertEqual(r.status, 400, r)
        self.assertIn("cert: expired", r.body.decode())
        r = c.write("POST", "/services", {
            "name": "anchored", "url": "https://localhost:%d" % srv.port,
            "ca_certificates": [ca["id"]]}, node=n2)
        self.assertWrite(r, 201, "POST /services")
        r = c.write("POST", "/services/anchored/routes",
                    {"name": "anchored", "paths": ["/anchored"]})
        self.assertWrite(r, 201, "POST /services/anchored/routes")
        c.wait_served("/anchored", 200)
        r = c.write("DELETE", "/ca_certificates/%s" % ca["id"])
        self.assertEqual(r.status, 400, r)
        self.assertIn("references this 'ca_certificates' entity: service "
                      "anchored", r.body.decode())
        r = c.write("PUT", "/ca_certificates/not-a-uuid", ent)
        self.assertEqual(r.status, 400, r)
        self.assertIn("id: expected a valid UUID", r.body.decode())
        r = c.write("PATCH", "/services/anchored", {"ca_certificates": []})
        self.assertWrite(r, 200, "PATCH /services/anchored")
        c.wait_served("/anchored", 502)  # the system store does not know it
        r = c.write("DELETE", "/ca_certificates/%s" % ca["id"])
        c.wait_revision(self.assertWrite(r, 204,
                                         "DELETE /ca_certificates/{id}"))
        self.assertEqual(n2.admin("GET", "/ca_certificates").json()["data"],
                         [])

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
