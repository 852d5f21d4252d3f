#!/usr/bin/python3
"""TLS termination on proxy.tls_listen: real curl and openssl s_client
against the real binary. Protocol versions, ALPN, session resumption, the
request path over TLS (X-Forwarded-Proto, keep-alive, large bodies), and
bad clients (garbage, plaintext HTTP) on the TLS port."""

import hashlib
import http.client
import json
import os
import socket
import ssl
import unittest

import rgtest
import tlsutil
from rgtest import GatewayTestCase, Gateway, gateway_doc, route, service

REQ = (b"GET /echo HTTP/1.1\r\nHost: localhost\r\n"
       b"Connection: close\r\n\r\n")


class TLSTest(GatewayTestCase):

    CERT_A = "11111111-1111-4111-8111-111111111111"

    @classmethod
    def gateway_config(cls, up):
        """Certificates by SNI: one nested with a name and an object, one
        with a wildcard, and a top-level sni naming the first by id."""
        return gateway_doc(
            service("echo", up.port, routes=[
                route("all", ["/"], strip_path=False)]),
            certificates=[
                dict(tlsutil.pem_pair(*cls.ca.issue("a.example.com")),
                     id=cls.CERT_A,
                     snis=["a.example.com", {"name": "A2.Example.com"}]),
                dict(tlsutil.pem_pair(*cls.ca.issue("*.wild.test")),
                     snis=[{"name": "*.wild.test"}]),
                dict(tlsutil.pem_pair(*cls.ca.issue("suffix.example")),
                     snis=["suffix.*"]),
            ],
            snis=[{"name": "b.example.com",
                   "certificate": {"id": cls.CERT_A}}])

    @classmethod
    def setUpClass(cls):
        cls.ca = tlsutil.temp_ca(cls.addClassCleanup)
        cls.cert, cls.key = cls.ca.issue("localhost",
                                         ["localhost", "127.0.0.1"])
        cls.tls_port = rgtest.free_port()
        cls.GATEWAY_NODE = {"proxy": {
            "tls_listen": "127.0.0.1:%d" % cls.tls_port,
            "tls_certificate": cls.cert,
            "tls_certificate_key": cls.key,
        }}
        super().setUpClass()
        rgtest.wait_until(lambda: rgtest.port_open(cls.tls_port),
                          what="TLS port open")

    def url(self, path):
        return "https://localhost:%d%s" % (self.tls_port, path)

    def https(self):
        ctx = ssl.create_default_context(cafile=self.ca.cert)
        return http.client.HTTPSConnection("localhost", self.tls_port,
                                           context=ctx, timeout=10)

    # -- the request path ---------------------------------------------

    def test_curl_cacert_forwarded_proto(self):
        """curl verifying against the test CA gets the upstream's answer,
        which saw X-Forwarded-Proto https and the TLS port."""
        rc, out, err = tlsutil.curl("--cacert", self.ca.cert,
                                    self.url("/echo"))
        self.assertEqual(rc, 0, err)
        doc = json.loads(out)
        self.assertEqual(doc["path"], "/echo")
        self.assertEqual(doc["headers"]["X-Forwarded-Proto"], "https")
        self.assertEqual(doc["headers"]["X-Forwarded-Port"],
                         str(self.tls_port))
        # the plain listener still says http
        plain = self.gw.get("/echo").json()
        self.assertEqual(plain["headers"]["X-Forwarded-Proto"], "http")

    def test_curl_unknown_ca_fails(self):
        """Without the CA curl refuses the certificate (exit 60): the
        verification in the test above is real; -k accepts it."""
        rc, _, err = tlsutil.curl(self.url("/echo"))
        self.assertEqual(rc, 60, err)
        rc, out, err = tlsutil.curl("-k", self.url("/echo"))
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["path"], "/echo")

    def test_keepalive_over_tls(self):
        """Five requests on one TLS connection; one upstream connection."""
        c = self.https()
        try:
            docs = []
            for i in range(5):
                c.request("GET", "/echo?i=%d" % i)
                r = c.getresponse()
                self.assertEqual(r.status, 200)
                docs.append(json.loads(r.read()))
                if i == 0:
                    sock = c.sock
                self.assertIs(c.sock, sock)  # never reconnected
        finally:
            c.close()
        self.assertEqual([d["path"] for d in docs],
                         ["/echo?i=%d" % i for i in range(5)])
        self.assertEqual(len({d["conn_id"] for d in docs}), 1, docs)

    def test_large_bodies_over_tls(self):
        """An 8 MB upload and an 8 MB download stream through TLS intact
        (both far past the write-queue and pend marks)."""
        n = 8 * 1000 * 1000
        body = rgtest.pattern(0, n)
        c = self.https()
        try:
            c.request("POST", "/upload", body=body)
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            doc = json.loads(r.read())
            self.assertEqual(doc["bytes"], n)
            self.assertEqual(doc["sha256"], hashlib.sha256(body).hexdigest())
            c.request("GET", "/bytes/%d" % n)
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            data = r.read()
        finally:
            c.close()
        self.assertEqual(len(data), n)
        self.assertTrue(rgtest.pattern_ok(0, data))

    def test_pipelined_over_tls(self):
        """Three requests in one TLS write come back in order."""
        ctx = ssl.create_default_context(cafile=self.ca.cert)
        with socket.create_connection(("127.0.0.1", self.tls_port), 10) as s:
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                t.sendall(b"".join(
                    rgtest.build_request("GET", "/echo?n=%d" % i,
                                         headers={"Connection": "close"}
                                         if i == 2 else None)
                    for i in range(3)))
                data = b""
                while True:
                    chunk = t.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        self.assertEqual(data.count(b"HTTP/1.1 200"), 3, data[:300])
        self.assertLess(data.find(b'"/echo?n=0"'), data.find(b'"/echo?n=1"'))
        self.assertLess(data.find(b'"/echo?n=1"'), data.find(b'"/echo?n=2"'))

    # -- protocols, ALPN, resumption ----------------------------------

    def test_tls12_and_tls13_accepted(self):
        for flag, name in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
            rc, out = tlsutil.s_client(self.tls_port, flag, "-CAfile",
                                       self.ca.cert, "-servername",
                                       "localhost", data=REQ)
            self.assertEqual(rc, 0, out)
            self.assertIn("Protocol  : %s" % name, out)
            self.assertIn("Verify return code: 0 (ok)", out)
            self.assertIn("HTTP/1.1 200", out)

    def test_tls11_refused(self):
        """A client that offers only TLS 1.1 (seclevel 0 so that OpenSSL
        offers it at all) gets no session."""
        rc, out = tlsutil.s_client(self.tls_port, "-tls1_1", "-cipher",
                                   "DEFAULT@SECLEVEL=0", data=REQ)
        self.assertNotEqual(rc, 0, out)
        self.assertNotIn("HTTP/1.1 200", out)
        self.assertTrue(self.gw.alive())

    def test_alpn_http11_only(self):
        rc, out = tlsutil.s_client(self.tls_port, "-alpn", "h2,http/1.1",
                                   data=REQ)
        self.assertEqual(rc, 0, out)
        self.assertIn("ALPN protocol: http/1.1", out)
        rc, out = tlsutil.s_client(self.tls_port, "-alpn", "h2", data=REQ)
        self.assertEqual(rc, 0, out)
        self.assertIn("No ALPN negotiated", out)
        self.assertIn("HTTP/1.1 200", out)

    def resumed(self, *flags):
        sess = os.path.join(self.ca.dir, "sess-%s.pem" % "".join(flags))
        rc, out = tlsutil.s_client(self.tls_port, "-sess_out", sess,
                                   *flags, data=REQ)
        self.assertEqual(rc, 0, out)
        self.assertIn("New, ", out)
        rc, out = tlsutil.s_client(self.tls_port, "-sess_in", sess,
                                   *flags, data=REQ)
        self.assertEqual(rc, 0, out)
        self.assertIn("HTTP/1.1 200", out)
        return out

    def test_resumption_tls13_ticket(self):
        self.assertIn("Reused, TLSv1.3", self.resumed("-tls1_3"))

    def test_resumption_tls12_ticket(self):
        self.assertIn("Reused, TLSv1.2", self.resumed("-tls1_2"))

    def test_resumption_tls12_session_cache(self):
        """No tickets: the session id is found in the server-side cache."""
        self.assertIn("Reused, TLSv1.2",
                      self.resumed("-tls1_2", "-no_ticket"))

    # -- certificates by SNI (declarative) -----------------------------

    def test_sni_picks_certificate(self):
        """Exact names (any case), a top-level sni, a "*." and a ".*"
        wildcard; an unknown name or none gets the default."""
        cases = [("a.example.com", "a.example.com"),
                 ("a2.example.com", "a.example.com"),
                 ("b.example.com", "a.example.com"),
                 ("x.wild.test", "*.wild.test"),
                 ("suffix.anything", "suffix.example"),
                 ("x.y.wild.test", "localhost"),  # one label only
                 ("other.test", "localhost"),
                 (None, "localhost")]
        for name, cn in cases:
            self.assertEqual(tlsutil.served_cn(self.tls_port, name), cn,
                             name)

    def test_sni_curl_verifies(self):
        """curl resolving a.example.com to the TLS port verifies the SNI
        certificate against the CA and gets through to the upstream."""
        rc, out, err = tlsutil.curl(
            "--cacert", self.ca.cert, "--resolve",
            "a.example.com:%d:127.0.0.1" % self.tls_port,
            "https://a.example.com:%d/echo" % self.tls_port)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["headers"]["X-Forwarded-Host"],
                         "a.example.com:%d" % self.tls_port)

    def test_bad_certificate_entities(self):
        """A bad PEM or a clash is a config error naming the path."""
        good = tlsutil.pem_pair(self.cert, self.key)
        other_key = tlsutil.pem_pair(*self.ca.issue("other"))["key"]
        cases = [
            ([dict(good, key="-----BEGIN PRIVATE KEY-----\nAAAA\n")],
             None, "certificates[0].key"),
            ([dict(good, cert="not a pem")], None, "certificates[0].cert"),
            ([dict(good, cert=5)], None,
             "certificates[0].cert: must be a string"),
            ([dict(good, key=True)], None,
             "certificates[0].key: must be a string"),
            ([dict(good, key=1.5e3)], None,
             "certificates[0].key: must be a string"),
            ([dict(good, key=other_key)], None,
             "certificates[0].key: does not match"),
            ([dict(good, snis=["x.test"]), dict(good, snis=["X.test"])],
             None, "certificates[1].snis[0]: duplicate sni name"),
            ([dict(good, snis=["1.2.3.4"])], None,
             "certificates[0].snis[0]"),
            ([dict(good, snis=["*.*.test"])], None,
             "certificates[0].snis[0]"),
            ([good], [{"name": "x.test", "certificate": {
                "id": "22222222-2222-4222-8222-222222222222"}}],
             "snis[0].certificate"),
        ]
        for certs, snis, msg in cases:
            doc = gateway_doc(certificates=certs)
            if snis is not None:
                doc["snis"] = snis
            rc, out = self.gw.check_config(doc)
            self.assertNotEqual(rc, 0, (msg, out))
            self.assertIn(msg, out)

    # -- bad clients ----------------------------------------------------

    def test_garbage_closed(self):
        """Bytes that are no TLS: the connection is closed, the process
        stays up and serves the next client."""
        with socket.create_connection(("127.0.0.1", self.tls_port), 5) as s:
            s.sendall(b"\x16\x03\x01\x00\x05hello" + os.urandom(3000))
            s.settimeout(5)
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
        self.assertTrue(self.gw.alive())
        rc, out, err = tlsutil.curl("--cacert", self.ca.cert,
                                    self.url("/echo"))
        self.assertEqual(rc, 0, err)

    def test_plain_http_gets_400(self):
        with rgtest.RawConn(self.tls_port) as c:
            c.send(rgtest.build_request("GET", "/echo"))
            r = c.read_response()
            self.assertEqual(r.status, 400)
            self.assertIn(b"plain HTTP request was sent to the HTTPS port",
                          r.body)
            self.assertTrue(c.wait_closed(2))
        self.assertTrue(self.gw.alive())

    def test_handshake_cut(self):
        """A client that stops mid-handshake, and one that never sends a
        byte, do not stall the worker: others are served meanwhile."""
        idle = socket.create_connection(("127.0.0.1", self.tls_port), 5)
        cut = socket.create_connection(("127.0.0.1", self.tls_port), 5)
        try:
            cut.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            rc, out, err = tlsutil.curl("--cacert", self.ca.cert,
                                        self.url("/echo"))
            self.assertEqual(rc, 0, err)
        finally:
            idle.close()
            cut.close()


class TLSConfigTest(unittest.TestCase):
    """Node-config keys: defaults, errors naming the key."""

    def check(self, tls):
        gw = Gateway(gateway_doc(), {"proxy": dict(
            {"tls_listen": "127.0.0.1:%d" % rgtest.free_port()}, **tls)})
        self.addCleanup(gw.cleanup)
        if gw.node["proxy"]["tls_listen"] == "SAME":
            gw.node["proxy"]["tls_listen"] = gw.node["proxy"]["listen"]
        return gw.check()

    def test_bad_files_name_the_key(self):
        ca = tlsutil.temp_ca(self.addCleanup)
        bad = os.path.join(ca.dir, "bad.pem")
        with open(bad, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64\n")
        cert, key = ca.issue("localhost")
        other_cert, other_key = ca.issue("other")
        cases = [
            ({"tls_certificate": bad, "tls_certificate_key": key},
             "proxy.tls_certificate: %s" % bad),
            ({"tls_certificate": cert, "tls_certificate_key": bad},
             "proxy.tls_certificate_key: %s" % bad),
            ({"tls_certificate": cert, "tls_certificate_key": other_key},
             "proxy.tls_certificate_key: %s: does not match the "
             "certificate" % other_key),
            ({"tls_certificate": bad + ".missing",
              "tls_certificate_key": key},
             "proxy.tls_certificate: %s.missing: cannot read a PEM "
             "certificate (No such file or directory)" % bad),
            ({"tls_certificate": cert}, "proxy.tls_certificate_key"),
            ({"tls_certificate_key": key}, "proxy.tls_certificate"),
            ({"tls_protocols": "TLSv1.1 TLSv1.2"}, "proxy.tls_protocols"),
            ({"tls_ciphers": "NO-SUCH-CIPHER"}, "proxy.tls_ciphers"),
            ({"tls_listen": "SAME"}, "proxy.tls_listen: must differ"),
        ]
        for tls, msg in cases:
            rc, out = self.check(tls)
            self.assertNotEqual(rc, 0, (tls, out))
            self.assertIn(msg, out, tls)
        rc, out = self.check({"tls_certificate": cert,
                              "tls_certificate_key": key})
        self.assertEqual(rc, 0, out)

    def test_self_signed_default_and_protocol_choice(self):
        """No certificate: a self-signed one with a WARN; curl -k works,
        verification fails. tls_protocols TLSv1.3 refuses TLS 1.2."""
        port = rgtest.free_port()
        gw = rgtest.start_gateway(self.addCleanup, Gateway(
            gateway_doc(), {"proxy": {"tls_listen": "127.0.0.1:%d" % port,
                                      "tls_protocols": "TLSv1.3"}}))
        rgtest.wait_until(lambda: rgtest.port_open(port), what="TLS port")
        self.assertRegex(gw.error_log(), r"\[warn\].*self-signed")
        url = "https://localhost:%d/" % port
        rc, _, err = tlsutil.curl(url)
        self.assertEqual(rc, 60, err)
        rc, out, err = tlsutil.curl("-k", "-o", "/dev/null", "-w",
                                    "%{http_code}", url)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b"404")  # no routes: the gateway answered
        rc, out = tlsutil.s_client(port, "-tls1_2", data=REQ)
        self.assertNotEqual(rc, 0, out)
        rc, out = tlsutil.s_client(port, "-tls1_3", data=REQ)
        self.assertEqual(rc, 0, out)
        self.assertIn("Protocol  : TLSv1.3", out)
        # A reload cannot change them: a WARN, and TLS 1.2 still refused.
        self.assertNotIn("proxy.tls_* and admin.tls_*", gw.error_log())
        gw.reload(node={"proxy": {"tls_protocols": "TLSv1.2 TLSv1.3"}})
        self.assertRegex(gw.error_log(),
                         r"\[warn\] reload: proxy.tls_\* and admin.tls_\* "
                         r"take effect on restart only")
        rc, out = tlsutil.s_client(port, "-tls1_2", data=REQ)
        self.assertNotEqual(rc, 0, out)
        # Compared with what runs, not with the last file read: going back
        # to the running TLSv1.3 warns no more.
        warn = "reload: proxy.tls_* and admin.tls_* take effect"
        self.assertEqual(gw.error_log().count(warn), 1)
        gw.reload(node={"proxy": {"tls_protocols": "TLSv1.3"}})
        self.assertEqual(gw.error_log().count(warn), 1)


class AdminTLSTest(unittest.TestCase):
    """admin.tls_certificate: the admin API over TLS (single-node; cluster
    mode: test_admin_tls_cluster)."""

    def test_admin_over_tls(self):
        ca = tlsutil.temp_ca(self.addCleanup)
        cert, key = ca.issue("localhost", ["localhost", "127.0.0.1"])
        admin = {"tls_certificate": cert, "tls_certificate_key": key}
        tls_port = rgtest.free_port()
        gw = rgtest.start_gateway(self.addCleanup, Gateway(
            gateway_doc(), {"admin": admin, "proxy": {
                "tls_listen": "127.0.0.1:%d" % tls_port}}))
        # The start-up line names every listener, the admin one as https.
        gw.wait_log(r"(?m)\] raftgate: listening on proxy 127\.0\.0\.1:%d, "
                    r"proxy TLS 127\.0\.0\.1:%d, admin https 127\.0\.0\.1:%d, "
                    r"status 127\.0\.0\.1:%d; 1 worker$"
                    % (gw.port, tls_port, gw.admin_port, gw.status_port), 5)
        url = "https://localhost:%d/services" % gw.admin_port
        for _ in range(2):  # and again: the listener stays up
            rc, out, err = tlsutil.curl("--cacert", ca.cert, url)
            self.assertEqual(rc, 0, err)
            self.assertEqual(json.loads(out)["data"], [])
        rc, _, err = tlsutil.curl(url)  # not trusted without the CA
        self.assertEqual(rc, 60, err)
        rc, _, err = tlsutil.curl(
            "http://127.0.0.1:%d/services" % gw.admin_port)
        self.assertNotEqual(rc, 0, err)  # no plain HTTP there
        self.assertTrue(gw.alive())


if __name__ == "__main__":
    unittest.main()
