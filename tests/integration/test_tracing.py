#!/usr/bin/python3
"""W3C traceparent through the real binary and the real test upstream
(which echoes the headers it got): absent -> a new valid one; present and
valid -> the same trace-id and the defined flags (undefined flag bits set
to zero), the gateway's span as parent-id,
tracestate passed through; malformed (several forms) or repeated -> a new
trace, the old tracestate dropped. The access log names trace and span."""

import json
import os
import re
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rgtest  # noqa: E402
from rgtest import GatewayTestCase, gateway_doc, route, service  # noqa: E402

TP = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
PLUGIN_TP = "00-%s-%s-01" % ("a" * 32, "b" * 16)


class TracingTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        plugin = {"name": "request-transformer", "config": {"add": {
            "headers": ["traceparent:" + PLUGIN_TP]}}}
        return gateway_doc(service("echo", up.port, routes=[
            route("all", ["/"], strip_path=False),
            route("rt", ["/rt"], plugins=[plugin])]))

    def send(self, headers, path="/echo"):
        """(upstream's headers with lower-case names, access log line)."""
        rid = uuid.uuid4().hex
        hs = [("X-Request-ID", rid)] + list(headers)
        with self.gw.connect() as c:
            c.send(rgtest.build_request("GET", path, hs, b""))
            r = c.read_response("GET")
        self.assertEqual(r.status, 200, r)
        up = {k.lower(): v for k, v in r.json()["headers"].items()}
        line = []

        def pred():
            line[:] = [x for x in self.gw.access_log()
                       if x.get("request_id") == rid]
            return line
        rgtest.wait_until(pred, 5, 0.02, "the access log line")
        return up, line[0]

    def valid_new(self, up, log):
        m = TP.match(up.get("traceparent", ""))
        self.assertIsNotNone(m, up.get("traceparent"))
        trace, span, flags = m.groups()
        self.assertNotEqual(trace, "0" * 32)
        self.assertNotEqual(span, "0" * 16)
        self.assertEqual(flags, "01")
        self.assertEqual((log["trace_id"], log["span_id"]), (trace, span))
        return trace

    def test_absent_generates(self):
        """No traceparent: a new one, version 00, random ids, sampled;
        each request its own trace."""
        up, log = self.send([])
        t1 = self.valid_new(up, log)
        self.assertNotIn("tracestate", up)
        up, log = self.send([])
        self.assertNotEqual(self.valid_new(up, log), t1)

    def test_valid_kept(self):
        """A valid traceparent: trace-id and flags kept, parent-id is the
        gateway's span (not the client's), tracestate unchanged."""
        for flags in ("01", "00"):
            tp = "00-%s-%s-%s" % (CLIENT_TRACE, CLIENT_SPAN, flags)
            up, log = self.send([("traceparent", tp),
                                 ("tracestate", "congo=t61rcWkgMzE,rojo=1")])
            m = TP.match(up["traceparent"])
            self.assertIsNotNone(m, up["traceparent"])
            self.assertEqual(m.group(1), CLIENT_TRACE)
            self.assertNotEqual(m.group(2), CLIENT_SPAN)
            self.assertEqual(m.group(3), flags)
            self.assertEqual(up["tracestate"], "congo=t61rcWkgMzE,rojo=1")
            self.assertEqual((log["trace_id"], log["span_id"]),
                             (CLIENT_TRACE, m.group(2)))

    def test_undefined_flags_zeroed(self):
        """Only the flags version 00 defines go on: 01 sampled and 02
        random (Trace Context Level 2); the other bits are set to zero
        (Trace Context §3.2.2.5.3), the trace is still the client's."""
        for flags, sent in (("02", "02"), ("03", "03"), ("04", "00"),
                            ("81", "01"), ("fe", "02"), ("ff", "03")):
            tp = "00-%s-%s-%s" % (CLIENT_TRACE, CLIENT_SPAN, flags)
            up, log = self.send([("traceparent", tp),
                                 ("tracestate", "rojo=1")])
            m = TP.match(up["traceparent"])
            self.assertIsNotNone(m, up["traceparent"])
            self.assertEqual((m.group(1), m.group(3)), (CLIENT_TRACE, sent),
                             flags)
            self.assertEqual(up["tracestate"], "rojo=1")

    def test_later_version(self):
        """A later version with more fields: parsed as 00 says, sent on
        as version 00 with the flags version 00 defines."""
        for flags, sent in (("03", "03"), ("fd", "01")):
            tp = "cc-%s-%s-%s-what-the-future-holds" % (
                CLIENT_TRACE, CLIENT_SPAN, flags)
            up, _ = self.send([("traceparent", tp)])
            m = TP.match(up["traceparent"])
            self.assertEqual((m.group(1), m.group(3)), (CLIENT_TRACE, sent))

    def test_malformed_replaced(self):
        """Malformed or repeated: a new trace; tracestate dropped."""
        bad = [
            "garbage",
            "00-%s-%s-01-extra" % (CLIENT_TRACE, CLIENT_SPAN),
            "00-%s-%s-01" % (CLIENT_TRACE.upper(), CLIENT_SPAN),
            "00-%s-%s-01" % ("0" * 32, CLIENT_SPAN),
            "00-%s-%s-01" % (CLIENT_TRACE, "0" * 16),
            "ff-%s-%s-01" % (CLIENT_TRACE, CLIENT_SPAN),
            "00-%s-%s-0x" % (CLIENT_TRACE, CLIENT_SPAN),
            "00_%s_%s_01" % (CLIENT_TRACE, CLIENT_SPAN),
            "00-%s-%s-1" % (CLIENT_TRACE, CLIENT_SPAN),
        ]
        for tp in bad:
            up, log = self.send([("traceparent", tp),
                                 ("tracestate", "rojo=1")])
            trace = self.valid_new(up, log)
            self.assertNotEqual(trace, CLIENT_TRACE, tp)
            self.assertNotIn("tracestate", up, tp)
        good = "00-%s-%s-01" % (CLIENT_TRACE, CLIENT_SPAN)
        up, log = self.send([("traceparent", good), ("traceparent", good)])
        self.assertNotEqual(self.valid_new(up, log), CLIENT_TRACE)

    def test_plugin_header_wins(self):
        """A traceparent a plugin adds upstream (request-transformer) is
        sent alone, in place of the gateway's."""
        up, _ = self.send([], path="/rt/echo")
        self.assertEqual(up["traceparent"], PLUGIN_TP)


if __name__ == "__main__":
    unittest.main()
