#!/usr/bin/python3
"""WebSocket through the gateway: the upgrade is forwarded, 101 turns the
connection into a tunnel, frames are echoed both ways."""

import base64
import hashlib
import os
import threading

import rgtest
from rgtest import GatewayTestCase, build_request, gateway_doc, route, service
from upstream import WS_GUID, ws_frame


def ws_handshake(conn, path="/ws"):
    key = base64.b64encode(os.urandom(16)).decode()
    conn.send(build_request("GET", path, [
        ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]))
    r = conn.read_response()
    return r, key


def ws_send(conn, opcode, payload, fin=True):
    conn.send(ws_frame(opcode, payload, fin=fin, mask=os.urandom(4)))


def ws_recv(conn, timeout=5):
    """Read one (unmasked, server) frame: (fin|opcode byte, payload)."""
    b0, b1 = conn.recv_exact(2, timeout)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(conn.recv_exact(2, timeout), "big")
    elif n == 127:
        n = int.from_bytes(conn.recv_exact(8, timeout), "big")
    if b1 & 0x80:
        raise AssertionError("server frame is masked")
    return b0, conn.recv_exact(n, timeout) if n else b""


class WebSocketTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("echo", up.port, routes=[
            route("all", ["/"], strip_path=False)]))

    def test_handshake(self):
        """The 101 with the right Sec-WebSocket-Accept reaches the client."""
        with self.gw.connect() as c:
            r, key = ws_handshake(c)
            self.assertEqual(r.status, 101, r)
            want = base64.b64encode(hashlib.sha1(
                (key + WS_GUID).encode()).digest()).decode()
            self.assertEqual(r.header("sec-websocket-accept"), want)
            self.assertEqual((r.header("upgrade") or "").lower(), "websocket")
            self.assertIn("upgrade", (r.header("connection") or "").lower())

    def test_echo_frames(self):
        """Text, binary (large), ping and close frames cross the tunnel."""
        with self.gw.connect() as c:
            r, _ = ws_handshake(c)
            self.assertEqual(r.status, 101, r)
            ws_send(c, 0x1, b"hello")
            self.assertEqual(ws_recv(c), (0x81, b"hello"))
            big = os.urandom(200000)
            ws_send(c, 0x2, big)
            self.assertEqual(ws_recv(c), (0x82, big))
            ws_send(c, 0x9, b"ping!")
            self.assertEqual(ws_recv(c), (0x8A, b"ping!"))
            ws_send(c, 0x8, b"\x03\xe8bye")
            self.assertEqual(ws_recv(c), (0x88, b"\x03\xe8bye"))
            self.assertTrue(c.wait_closed(3), "tunnel not closed after close")

    def test_many_messages(self):
        """Two hundred small round trips in one tunnel."""
        with self.gw.connect() as c:
            self.assertEqual(ws_handshake(c)[0].status, 101)
            for i in range(200):
                msg = b"message %d" % i
                ws_send(c, 0x1, msg)
                self.assertEqual(ws_recv(c), (0x81, msg))

    def test_concurrent_tunnels_and_requests(self):
        """Several tunnels at once while plain requests keep working."""
        errors = []

        def session(i):
            try:
                with self.gw.connect() as c:
                    if ws_handshake(c)[0].status != 101:
                        errors.append("no 101 in session %d" % i)
                        return
                    for j in range(50):
                        msg = b"s%d-m%d" % (i, j)
                        ws_send(c, 0x2, msg)
                        if ws_recv(c) != (0x82, msg):
                            errors.append("bad echo in session %d" % i)
                            return
            except Exception as e:  # reported below
                errors.append("session %d: %r" % (i, e))

        threads = [threading.Thread(target=session, args=(i,))
                   for i in range(5)]
        for t in threads:
            t.start()
        for _ in range(10):
            self.assertEqual(self.gw.get("/echo").status, 200)
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])

    def test_upgrade_refused_is_normal_response(self):
        """An upgrade request the upstream answers with 200 is a normal
        response; the upstream saw Upgrade and Connection: upgrade; the
        connection stays HTTP."""
        with self.gw.connect() as c:
            c.send(build_request("GET", "/echo", [
                ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Sec-WebSocket-Version", "13")]))
            r = c.read_response()
            self.assertEqual(r.status, 200, r)
            h = {k.lower(): v for k, v in r.json()["headers"].items()}
            self.assertEqual(h.get("upgrade", "").lower(), "websocket")
            self.assertIn("upgrade", h.get("connection", "").lower())
            r = c.request("GET", "/echo?after=1")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["path"], "/echo?after=1")


if __name__ == "__main__":
    rgtest.main()
