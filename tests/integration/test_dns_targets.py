#!/usr/bin/python3
"""A service whose host name resolves to several addresses uses them all:
each worker takes them in turn, and a retry goes to the next one, so one
address that refuses connections costs a retry, not an error.

The name resolves through the real getaddrinfo, answered from a hosts
file of the test's own by nss_wrapper (Debian's libnss-wrapper, preloaded
into the gateway only): 127.0.0.1 and 127.0.0.2, one upstream on each,
on the same port. Both the start-up path (blocking lookup) and the
cluster's asynchronous resolver use the same code to keep every
address."""

import glob
import os
import tempfile
import unittest

import rgtest
from rgtest import Gateway, Upstream, gateway_doc, route, service

NAME = "multi.raftgate.test"


def nss_wrapper():
    libs = glob.glob("/usr/lib/*/libnss_wrapper.so")
    if not libs:
        raise AssertionError("libnss_wrapper.so not found: "
                             "cluster/install-deps installs libnss-wrapper")
    return libs[0]


class DnsTargetsTest(unittest.TestCase):
    def setUp(self):
        self.up1 = Upstream("127.0.0.1").start()
        self.up2 = Upstream("127.0.0.2", self.up1.port).start()
        self.tmp = tempfile.TemporaryDirectory()
        self.hosts = os.path.join(self.tmp.name, "hosts")
        with open(self.hosts, "w") as f:
            f.write("127.0.0.1 %s\n127.0.0.2 %s\n" % (NAME, NAME))
        self.gw = None

    def tearDown(self):
        try:
            if self.gw is not None:
                code = self.gw.stop()
                self.assertEqual(code, 0, self.gw.log_tail(40))
        finally:
            if self.gw is not None:
                self.gw.cleanup()
            self.up1.stop()
            if self.up2 is not None:
                self.up2.stop()
            self.tmp.cleanup()

    def start(self, retries):
        doc = gateway_doc(service("multi", self.up1.port, host=NAME,
                                  retries=retries,
                                  routes=[route("m", ["/m"])]))
        self.gw = Gateway(doc, {"proxy": {"workers": 1}})
        env = {"LD_PRELOAD": nss_wrapper(), "NSS_WRAPPER_HOSTS": self.hosts}
        # An ASan build must come first in the link order; the preloaded
        # library is a plain C one and does not intercept what ASan does.
        env["ASAN_OPTIONS"] = ":".join(
            x for x in (os.environ.get("ASAN_OPTIONS", ""),
                        "verify_asan_link_order=0") if x)
        self.gw.env = env
        self.gw.start()

    def test_every_address_in_turn(self):
        """Eight requests on fresh connections: four reach each address,
        alternating."""
        self.start(retries=0)
        clients = []
        for _ in range(8):
            r = rgtest.request(self.gw.port, "GET", "/m/count?key=rr")
            self.assertEqual(r.status, 200, r.body)
            clients.append((self.up1.hits("rr"), self.up2.hits("rr")))
        self.assertEqual(clients[-1], (4, 4))
        self.assertEqual([a + b for a, b in clients], list(range(1, 9)))
        self.assertTrue(all(abs(a - b) <= 1 for a, b in clients), clients)

    def test_retry_goes_to_the_next_address(self):
        """With one address refusing connections, every request succeeds
        with one retry; without a retry, half of them fail with 502."""
        self.up2.stop()
        self.up2 = None
        self.start(retries=1)
        for _ in range(6):
            r = rgtest.request(self.gw.port, "GET", "/m/count?key=next")
            self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.up1.hits("next"), 6)
        self.gw.stop()
        self.gw.cleanup()
        self.start(retries=0)
        statuses = sorted(rgtest.request(self.gw.port, "GET", "/m/x").status
                          for _ in range(6))
        self.assertEqual(statuses, [200, 200, 200, 502, 502, 502])


if __name__ == "__main__":
    rgtest.main()
