#!/usr/bin/python3
"""https upstreams: services with protocol https against Python ssl
servers holding certificates of a generated CA. Verified by default
against proxy.upstream_ca_file, SNI is the service host, pooled TLS
connections are reused; a server of another CA answers 502 unless
tls_verify is false; a server requiring a client certificate gets the
service's client_certificate and refuses a service without one (502)."""

import http.server
import json
import ssl
import threading
import unittest

import rgtest
import tlsutil
from rgtest import Gateway, gateway_doc, route, service


class Server:
    """A threaded HTTP/1.1 server over TLS answering JSON about the
    connection: the SNI it saw, the client certificate's CN, and a
    connection number."""

    def __init__(self, cert, key, client_ca=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        if client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(client_ca)
        self.snis = []
        self.conns = 0
        lock = threading.Lock()
        outer = self

        def on_sni(sock, name, c):
            outer.snis.append(name)
        ctx.sni_callback = on_sni

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with lock:
                    outer.conns += 1
                    self.conn_no = outer.conns

            def do_GET(self):
                peer = self.connection.getpeercert()
                cn = None
                if peer:
                    for rdn in peer.get("subject", ()):
                        for k, v in rdn:
                            if k == "commonName":
                                cn = v
                body = json.dumps({"conn": self.conn_no, "client_cn": cn,
                                   "path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                            server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


CLIENT_CERT = "33333333-3333-4333-8333-333333333333"


class TLSUpstreamTest(unittest.TestCase):

    @classmethod
    def server(cls, *args, **kw):
        """A Server (above) that the class cleanup stops."""
        s = Server(*args, **kw)
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
        doc = gateway_doc(
            https("good", cls.good.port),
            https("foreign", cls.foreign.port),
            https("noverify", cls.foreign.port, tls_verify=False),
            https("mtls", cls.mtls.port,
                  client_certificate={"id": CLIENT_CERT}),
            https("nocert", cls.mtls.port),
            certificates=[dict(tlsutil.pem_pair(*client), id=CLIENT_CERT)])
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
