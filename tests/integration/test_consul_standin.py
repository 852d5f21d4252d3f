#!/usr/bin/python3
"""The Consul stand-in (tests/consul_standin.py) read by a real Consul
client, Debian's python3-consul: health.service(name, passing=True) sees
the registered instances with their addresses, ports and tags, the index
it returns blocks the next call until a change (and only that long), the
tag and dc filters apply, and a wrong ACL token is refused the way Consul
refuses it. The integration test of raftgate's watches trusts the
stand-in because of this test.

python3-consul is installed for Debian's /usr/bin/python3: run under
another interpreter, the test re-runs itself with that one."""

import os
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

try:
    import consul
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists(
            "/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise AssertionError("python3-consul missing: cluster/install-deps "
                         "installs it")

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(HERE, "..", "consul_standin.py")


class Standin:
    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [sys.executable, STANDIN, "--listen", "127.0.0.1:0"] + list(args),
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "ready":
            raise AssertionError("stand-in did not start: %r" % line)
        self.port = int(line[1])

    def ctl(self, method, path):
        req = urllib.request.Request(
            "http://127.0.0.1:%d%s" % (self.port, path), method=method,
            data=b"" if method == "PUT" else None)
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


class StandinClientTest(unittest.TestCase):
    def setUp(self):
        self.s = Standin("--service", "web=a@127.0.0.1:9001,b@127.0.0.2:9002")
        self.c = consul.Consul(host="127.0.0.1", port=self.s.port)

    def tearDown(self):
        self.s.stop()

    def test_passing_instances(self):
        """Both registered instances pass, with address and port."""
        index, nodes = self.c.health.service("web", passing=True)
        self.assertGreater(int(index), 0)
        got = sorted((n["Service"]["Address"], n["Service"]["Port"])
                     for n in nodes)
        self.assertEqual(got, [("127.0.0.1", 9001), ("127.0.0.2", 9002)])
        self.assertEqual(nodes[0]["Node"]["Datacenter"], "dc1")
        self.assertIn("Checks", nodes[0])

    def test_blocking_returns_on_change(self):
        """A blocking call with the index returned waits; a check going
        critical ends it at once with a higher index and one instance
        passing (without passing, both are listed)."""
        index, _ = self.c.health.service("web", passing=True)
        t0 = time.monotonic()
        i2, _ = self.c.health.service("web", passing=True, index=index,
                                      wait="300ms")
        self.assertGreaterEqual(time.monotonic() - t0, 0.25)
        self.assertEqual(i2, index)
        timer = threading.Timer(
            0.3, lambda: self.s.ctl("PUT", "/_ctl/web/b/critical"))
        timer.start()
        t0 = time.monotonic()
        i3, nodes = self.c.health.service("web", passing=True, index=index,
                                          wait="20s")
        took = time.monotonic() - t0
        timer.join()
        self.assertLess(took, 5)
        self.assertGreater(int(i3), int(index))
        self.assertEqual([n["Service"]["ID"] for n in nodes], ["a"])
        _, every = self.c.health.service("web")
        self.assertEqual(len(every), 2)

    def test_tag_and_dc(self):
        """tag= keeps the tagged instance; an unknown dc is Consul's 500."""
        self.s.ctl("PUT", "/_ctl/web/c?address=127.0.0.3&port=9003&tags=v2")
        _, nodes = self.c.health.service("web", passing=True, tag="v2")
        self.assertEqual([n["Service"]["Port"] for n in nodes], [9003])
        _, nodes = self.c.health.service("web", passing=True, dc="dc1")
        self.assertEqual(len(nodes), 3)
        with self.assertRaises(Exception):
            self.c.health.service("web", dc="nowhere")

    def test_unknown_service_is_empty(self):
        index, nodes = self.c.health.service("nothing", passing=True)
        self.assertEqual(nodes, [])
        self.assertGreater(int(index), 0)


class StandinTokenTest(unittest.TestCase):
    def test_token(self):
        """With --token, the right token reads; a wrong one is 403 ACL not
        found (python3-consul's ACLPermissionDenied)."""
        s = Standin("--token", "s3cret", "--service", "web=a@127.0.0.1:9001")
        try:
            ok = consul.Consul(host="127.0.0.1", port=s.port, token="s3cret")
            _, nodes = ok.health.service("web", passing=True)
            self.assertEqual(len(nodes), 1)
            bad = consul.Consul(host="127.0.0.1", port=s.port, token="nope")
            with self.assertRaises(consul.ACLPermissionDenied):
                bad.health.service("web", passing=True)
        finally:
            s.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
