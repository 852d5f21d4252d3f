"""TLS helpers for the integration tests: a throw-away CA and certificates
made with the openssl command line (temp_ca: in a temp dir a test's
cleanup removes), `openssl s_client` and curl runs, and an https upstream
(HTTPSServer)."""

import hashlib
import http.server
import json
import os
import ssl
import subprocess
import threading

import rgtest


def _openssl(args, **kw):
    p = subprocess.run(["openssl"] + list(args), capture_output=True,
                       timeout=rgtest.DEFAULT_TIMEOUT, **kw)
    if p.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args),
                                                p.stderr.decode()))
    return p


class CA:
    """A CA in @dir (ca.pem, ca.key) that issues leaf certificates."""

    def __init__(self, dir, name="raftgate test CA"):
        self.dir = dir
        self.cert = os.path.join(dir, "%s.pem" % name.replace(" ", "_"))
        self.key = self.cert[:-4] + ".key"
        _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                  "-subj", "/CN=%s" % name, "-keyout", self.key,
                  "-out", self.cert])

    def issue(self, name, sans=None, client=False):
        """A leaf for CN @name with DNS/IP subjectAltNames @sans (default:
        @name); returns (cert_path, key_path)."""
        base = os.path.join(self.dir, name.replace("*", "star"))
        key, csr, crt = base + ".key", base + ".csr", base + ".pem"
        ext = base + ".ext"
        sans = sans or [name]
        alt = ",".join(("IP:" if s[0].isdigit() else "DNS:") + s
                       for s in sans)
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\n" % alt)
            f.write("extendedKeyUsage=%s\n" %
                    ("clientAuth" if client else "serverAuth"))
        _openssl(["req", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-subj",
                  "/CN=%s" % name, "-keyout", key, "-out", csr])
        _openssl(["x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey",
                  self.key, "-CAcreateserial", "-days", "2", "-extfile", ext,
                  "-out", crt])
        return crt, key


def temp_ca(add_cleanup, name="raftgate test CA"):
    """A CA named @name in its own new temporary directory (CA.dir, also
    the place for a test's other files), removed by @add_cleanup (a
    TestCase's addCleanup, or addClassCleanup in setUpClass) after the
    test (class) is torn down."""
    return CA(rgtest.temp_dir(add_cleanup, "rgtls-"), name)


def s_client(port, *args, data=b"", host="127.0.0.1", timeout=None):
    """Run `openssl s_client -connect host:port -ign_eof ARGS` with @data
    on stdin (so it waits for the server to close); returns (returncode,
    stdout+stderr as text)."""
    p = subprocess.run(
        ["openssl", "s_client", "-connect", "%s:%d" % (host, port),
         "-ign_eof"] + list(args), input=data, capture_output=True,
        timeout=timeout or rgtest.DEFAULT_TIMEOUT)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def curl(*args, timeout=None):
    """Run curl -sS ARGS; returns (returncode, stdout bytes, stderr)."""
    p = subprocess.run(["curl", "-sS", "--max-time", "10"] + list(args),
                       capture_output=True,
                       timeout=timeout or rgtest.DEFAULT_TIMEOUT)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def pem_pair(cert_path, key_path):
    """The PEM texts of a certificate and key file, as a Kong certificate
    entity's cert and key."""
    with open(cert_path) as c, open(key_path) as k:
        return {"cert": c.read(), "key": k.read()}


_EXPIRED_CNF = """[ca]
default_ca = d
[d]
database = db/index
serial = db/serial
new_certs_dir = db
default_md = sha256
policy = p
x509_extensions = ext
[p]
commonName = supplied
[ext]
basicConstraints = critical,CA:TRUE
"""


def expired_ca(dir, name="expired CA"):
    """A self-signed CA certificate valid only on 2020-01-01 (openssl ca,
    which takes explicit dates), in @dir; returns its PEM path."""
    base = os.path.join(dir, name.replace(" ", "_"))
    os.makedirs(os.path.join(dir, "db"), exist_ok=True)
    open(os.path.join(dir, "db", "index"), "w").close()
    with open(os.path.join(dir, "db", "serial"), "w") as f:
        f.write("01\n")
    with open(base + ".cnf", "w") as f:
        f.write(_EXPIRED_CNF)
    _openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-subj", "/CN=%s" % name, "-keyout", base + ".key",
              "-out", base + ".csr"])
    _openssl(["ca", "-batch", "-config", base + ".cnf", "-selfsign",
              "-keyfile", base + ".key", "-in", base + ".csr",
              "-startdate", "20200101000000Z", "-enddate",
              "20200102000000Z", "-out", base + ".pem"], cwd=dir)
    return base + ".pem"


def ca_entity(path, id=None):
    """A Kong ca_certificates entity of the PEM file @path."""
    with open(path) as f:
        e = {"cert": f.read()}
    if id:
        e["id"] = id
    return e


def cert_digest(pem):
    """Kong's cert_digest: the SHA-256 of the certificate's DER, hex."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def served_cn(port, servername=None, host="127.0.0.1"):
    """The subject CN of the certificate the server at @port presents for
    @servername (None: no SNI), or None when the handshake fails."""
    args = ["-servername", servername] if servername else ["-noservername"]
    rc, out = s_client(port, *args, host=host,
                       data=b"GET / HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\n\r\n")
    for line in out.splitlines():
        if line.startswith("subject="):
            return line.split("CN = ", 1)[-1].strip()
    return None


class HTTPSServer:
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
        # the handshake runs on the handler's thread (at its first read),
        # so a silent client cannot stall accept() for the others
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                            server_side=True,
                                            do_handshake_on_connect=False)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
