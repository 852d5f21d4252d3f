#!/usr/bin/python3
"""The control listeners (admin and status, admin/httpd.c): keep-alive,
pipelining and connection teardown."""

import subprocess
import unittest

import rgtest
from rgtest import GatewayTestCase, RawConn, build_request


def close_wait_count(pid):
    """The TCP sockets of process @pid in CLOSE-WAIT (ss in this netns)."""
    out = subprocess.run(["ss", "-tanpH", "state", "close-wait"],
                         capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if "pid=%d," % pid in line)


class ControlKeepAliveTest(GatewayTestCase):
    """Keep-alive on the admin and status listeners, and no socket left in
    CLOSE-WAIT after the client closed."""

    def listeners(self):
        return ((self.gw.admin_port, "/services"),
                (self.gw.status_port, "/metrics"))

    def test_two_requests_one_connection(self):
        """Two requests on one keep-alive connection are both answered."""
        for port, path in self.listeners():
            with RawConn(port) as c:
                for _ in range(2):
                    c.send(build_request("GET", path))
                    r = c.read_response(timeout=3)
                    self.assertEqual(r.status, 200, (port, r))

    def test_pipelined_pair(self):
        """Two requests in one write are both answered, in order."""
        port, path = self.listeners()[0]
        with RawConn(port) as c:
            c.send(build_request("GET", path) + build_request("GET", "/x"))
            self.assertEqual(c.read_response(timeout=3).status, 200)
            self.assertEqual(c.read_response(timeout=3).status, 404)

    def test_head_has_no_body(self):
        """HEAD is answered with the GET answer's head and no body, so the
        next request on the connection is read right."""
        # the admin API answers HEAD 405 (Kong's does too): no body either
        for (port, path), want in zip(self.listeners(), (405, 200)):
            with RawConn(port) as c:
                c.send(build_request("HEAD", path) +
                       build_request("GET", "/x"))
                r = c.read_response(method="HEAD", timeout=3)
                self.assertEqual(r.status, want, (port, r))
                self.assertEqual(c.read_response(timeout=3).status, 404,
                                 port)

    def test_status_methods(self):
        """The status listener serves GET and HEAD; any other method gets
        405 with Allow, and the connection goes on."""
        with RawConn(self.gw.status_port) as c:
            for method in ("POST", "PUT", "DELETE"):
                c.send(build_request(method, "/metrics", body=b"x"))
                r = c.read_response(timeout=3)
                self.assertEqual(r.status, 405, method)
                self.assertEqual(r.header("Allow"), "GET, HEAD")
            c.send(build_request("GET", "/health"))
            self.assertEqual(c.read_response(timeout=3).status, 200)

    def test_no_close_wait_after_client_close(self):
        """After 20 short connections closed by the client (one request
        each, keep-alive), the process holds no CLOSE-WAIT socket."""
        for port, path in self.listeners():
            for _ in range(20):
                with RawConn(port) as c:
                    c.send(build_request("GET", path))
                    self.assertEqual(c.read_response(timeout=3).status, 200)
        rgtest.wait_until(lambda: close_wait_count(self.gw.pid) == 0,
                          timeout=3, what="no CLOSE-WAIT socket left")


if __name__ == "__main__":
    unittest.main()
