#!/usr/bin/python3
"""https upstreams: services with protocol https against Python ssl
servers holding certificates of a generated CA. Verified by default
against proxy.upstream_ca_file, SNI is the service host, pooled TLS
connections are reused; a server of another CA answers 502 unless
tls_verify is false; a server requiring a client certificate gets the
service's client_certificate and refuses a service without one (502);
a service with ca_certificates trusts those CAs alone."""

import unittest

import rgtest
import tlsutil
from rgtest import Gateway, gateway_doc, route, service


CLIENT_CERT = "33333333-3333-4333-8333-333333333333"
OTHER_CA = "44444444-4444-4444-8444-444444444444"



class TLSUpstreamTest(unittest.TestCase):

    @classmethod
    def server(cls, *args, **kw):
        """A tlsutil.HTTPSServer that the class cleanup stops."""
        s = tlsutil.HTTPSServer(*args, **kw)
        cls.addClassCleanup(s.stop)
        return s

    @classmethod
    def setUpClass(cls):
        ca = tlsutil.temp_ca(cls.addClassCleanup)
        other = tlsutil.temp_ca(cls.addClassCleanup, "other CA")
        leaf = ca.issue("localhost", ["localhost", "127.0.0.1"])
        cls.good = cls.server(*leaf)
        cls.foreign = cls.server(*other.issue("localhost", ["localhost"]))
        cls.mtls = cls.server(*leaf, client_ca=ca.cert)
        client = ca.issue("raftgate-client", client=True)

        def https(name, port, **kw):
            return service(name, port, host="localhost", protocol="https",
                           routes=[route(name, ["/" + name])], **kw)
        cls.ca, cls.other = ca, other
        doc = gateway_doc(
            https("good", cls.good.port),
            https("foreign", cls.foreign.port),
            # its own trust anchors: the other CA alone
            https("foreign_anchor", cls.foreign.port,
                  ca_certificates=[OTHER_CA]),
            https("good_anchor", cls.good.port, ca_certificates=[OTHER_CA]),
            https("noverify", cls.foreign.port, tls_verify=False),
            https("mtls", cls.mtls.port,
                  client_certificate={"id": CLIENT_CERT}),
            https("nocert", cls.mtls.port),
            certificates=[dict(tlsutil.pem_pair(*client), id=CLIENT_CERT)],
            ca_certificates=[tlsutil.ca_entity(other.cert, OTHER_CA)])
        cls.gw = rgtest.start_gateway(cls.addClassCleanup, Gateway(
            doc, {"proxy": {"upstream_ca_file": ca.cert}}))

    def test_verified_sni_and_reuse(self):
        """Verified against the CA file; SNI is the service host; three
        requests on one pooled TLS connection."""
        docs = []
        for _ in range(3):
            r = self.gw.get("/good/x")
            self.assertEqual(r.status, 200, r)
            docs.append(r.json())
        self.assertEqual(docs[0]["path"], "/x")
        self.assertIn("localhost", self.good.snis)
        self.assertEqual(len({d["conn"] for d in docs}), 1, docs)

    def test_wrong_ca_is_502(self):
        r = self.gw.get("/foreign")
        self.assertEqual(r.status, 502, r)
        self.assertRegex(self.gw.error_log(),
                         r"TLS handshake: certificate verify failed")

    def test_ca_certificates(self):
        """ca_certificates replace proxy.upstream_ca_file for the service:
        the other CA's server is trusted, the file's CA's is not."""
        r = self.gw.get("/foreign_anchor")
        self.assertEqual(r.status, 200, r)
        r = self.gw.get("/good_anchor")
        self.assertEqual(r.status, 502, r)

    def test_ca_certificate_errors(self):
        leaf, _ = self.ca.issue("leaf.test")
        with open(self.ca.cert) as f:
            pem = f.read()
        with open(self.other.cert) as f:
            two = pem + f.read()
        good = tlsutil.ca_entity(self.ca.cert, OTHER_CA)
        dg = tlsutil.cert_digest(pem)
        for cas, msg in (
                ([tlsutil.ca_entity(leaf, OTHER_CA)],
                 "ca_certificates[0].cert: not a CA certificate"),
                ([{"id": OTHER_CA, "cert": two}],
                 "ca_certificates[0].cert: only one certificate"),
                ([{"id": OTHER_CA, "cert": "junk"}],
                 "ca_certificates[0].cert: not a PEM certificate"),
                ([{"id": OTHER_CA}], "ca_certificates[0]: needs a cert"),
                ([{"id": OTHER_CA, "cert": 5}],
                 "ca_certificates[0].cert: must be a string"),
                ([dict(good, cert_digest="00" * 32)],
                 "ca_certificates[0].cert_digest: does not match cert"),
                ([good, dict(tlsutil.ca_entity(self.other.cert, CLIENT_CERT),
                             cert_digest=dg)],
                 "ca_certificates[1].cert_digest: does not match cert"),
                ([dict(good, cert_digest=dg),
                  dict(good, id=CLIENT_CERT, cert_digest=dg)],
                 "ca_certificates[1].cert: duplicate ca_certificate "
                 "cert_digest (the cert of ca_certificates[0])"),
                ([good, dict(good, id=CLIENT_CERT)],  # no digest given
                 "ca_certificates[1].cert: duplicate ca_certificate")):
            doc = gateway_doc(ca_certificates=cas)
            rc, out = self.gw.check_config(doc)
            self.assertNotEqual(rc, 0, out)
            self.assertIn(msg, out)
        doc = gateway_doc(ca_certificates=[dict(good, cert_digest=dg)])
        rc, out = self.gw.check_config(doc)
        self.assertEqual(rc, 0, out)
        # a file's verdict does not depend on the clock (the replicated
        # store validates with the same parser): an expired CA loads
        doc = gateway_doc(ca_certificates=[tlsutil.ca_entity(
            tlsutil.expired_ca(self.ca.dir), OTHER_CA)])
        rc, out = self.gw.check_config(doc)
        self.assertEqual(rc, 0, out)
        rc, out = self.gw.check_config(gateway_doc(service(
            "s", 1, protocol="https", ca_certificates=[CLIENT_CERT])))
        self.assertIn('services[0].ca_certificates[0]: no ca_certificate '
                      'with id "%s"' % CLIENT_CERT, out)

    def test_tls_verify_false(self):
        r = self.gw.get("/noverify")
        self.assertEqual(r.status, 200, r)

    def test_client_certificate(self):
        r = self.gw.get("/mtls")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["client_cn"], "raftgate-client")
        r = self.gw.get("/nocert")
        self.assertEqual(r.status, 502, r)

    def test_config_errors(self):
        for svc, msg in (
                ({"tls_verify": "yes"}, "services[0].tls_verify"),
                ({"tls_verify_depth": 99}, "services[0].tls_verify_depth"),
                ({"client_certificate": {"id": CLIENT_CERT}},
                 "services[0].client_certificate"),
                ({"ca_certificates": ["x"]}, "services[0].ca_certificates")):
            doc = gateway_doc(service("s", 1, protocol="https", **svc))
            rc, out = self.gw.check_config(doc)
            self.assertNotEqual(rc, 0, out)
            self.assertIn(msg, out)


if __name__ == "__main__":
    unittest.main()
