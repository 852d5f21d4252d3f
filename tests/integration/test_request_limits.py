#!/usr/bin/python3
"""request-size-limiting and request-validator through the real binary.

request-size-limiting: a Content-Length over the limit is refused 413 (417
with Expect: 100-continue) before a body byte is read, and never reaches
the upstream; a body of exactly the limit passes; chunked bodies are
counted as they stream (413 and the connection closed past the limit);
require_content_length answers 411 without a length; a service-level
instance applies to its routes; with request-validator on the route the
buffered body is measured instead.

request-validator: a conforming JSON body passes intact; a body that does
not conform is refused 400 naming the path and the rule (detail only when
verbose) and never reaches the upstream; a non-JSON body with a JSON
content type, a Content-Type missing or not allowed (parameters strictly)
are refused 400; a non-JSON allowed type passes unvalidated; chunked
bodies are validated too; the schema may be a JSON string or a YAML
mapping. Config errors name the path to the bad key and a bad reload
leaves the running config in place. A malformed request closes only its
own connection. On a three-node cluster both plugins written through the
admin API are checked on the way in and enforced by every node."""

import json
import time

import rgtest
from rgcluster import ClusterTestCase, scaled
from rgtest import (GatewayTestCase, build_request, chunked, gateway_doc,
                    route, service)

TOO_LARGE = {"message": "Request size limit exceeded"}
NEED_LENGTH = {"message": "A valid Content-Length header is required"}
BAD_TYPE = {"message": "specified Content-Type is not allowed"}
BAD_BODY = "request body doesn't conform to schema"

USER_SCHEMA = {
    "type": "object",
    "required": ["user"],
    "properties": {
        "user": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "minLength": 2,
                         "pattern": "^[a-z]+$"},
                "age": {"type": "integer", "minimum": 18, "maximum": 150},
                "role": {"enum": ["admin", "user"]},
                "tags": {"type": "array", "items": {"type": "string",
                                                    "maxLength": 4}},
            },
        },
    },
}


def rsl(**config):
    return {"name": "request-size-limiting", "config": config}


def rv(**config):
    return {"name": "request-validator", "config": config}


def key():
    return "rl-%d" % time.monotonic_ns()


class RequestSizeLimitingTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(
            service("svc", up.port, routes=[
                route("small", ["/small"], strip_path=False,
                      plugins=[rsl(allowed_payload_size=10,
                                   size_unit="bytes")]),
                route("kb", ["/kb"], strip_path=False,
                      plugins=[rsl(allowed_payload_size=1,
                                   size_unit="kilobytes")]),
                route("need", ["/need"], strip_path=False,
                      plugins=[rsl(allowed_payload_size=100,
                                   size_unit="bytes",
                                   require_content_length=True)]),
                route("both", ["/both"], strip_path=False,
                      plugins=[rsl(allowed_payload_size=50,
                                   size_unit="bytes"),
                               rv(body_schema='{"type": "object"}')]),
                route("free", ["/free"], strip_path=False),
            ]),
            service("svc2", up.port, plugins=[rsl(allowed_payload_size=5,
                                                  size_unit="bytes")],
                    routes=[route("svcwide", ["/svcwide"],
                                  strip_path=False)]))

    def post(self, path, body, headers=None):
        with self.gw.connect() as c:
            c.send(build_request("POST", path, headers or [], body))
            r = c.read_response()
            return r, c.wait_closed(3)

    def test_content_length_at_and_over_the_limit(self):
        r, _ = self.post("/small/echo", b"x" * 10)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["body_len"], 10)
        k = key()
        r, closed = self.post("/small/count?key=" + k, b"x" * 11)
        self.assertEqual(r.status, 413, r)
        self.assertEqual(r.json(), TOO_LARGE)
        self.assertEqual(self.up.hits(k), 0)
        self.assertTrue(closed, "the unread body must close the connection")

    def test_kilobytes_unit(self):
        r, _ = self.post("/kb/echo", b"y" * 1024)
        self.assertEqual(r.status, 200, r)
        r, _ = self.post("/kb/echo", b"y" * 1025)
        self.assertEqual(r.status, 413, r)

    def test_expect_continue_gets_417_without_100(self):
        with self.gw.connect() as c:
            c.send(build_request("POST", "/small/echo",
                                 [("Expect", "100-continue"),
                                  ("Content-Length", "11")], b""))
            r = c.read_response(interim=True)
        self.assertEqual(r.status, 417, r)
        self.assertEqual(r.json(), TOO_LARGE)

    def test_chunked_counted_as_it_streams(self):
        with self.gw.connect() as c:
            c.send(build_request("POST", "/small/echo",
                                 [("Transfer-Encoding", "chunked")],
                                 chunked(b"z" * 10, 3)))
            r = c.read_response()
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["body_len"], 10)
            # The same connection goes on after a chunked body in limits.
            self.assertEqual(c.request("GET", "/free/echo").status, 200)
        with self.gw.connect() as c:
            c.send(build_request("POST", "/small/echo",
                                 [("Transfer-Encoding", "chunked")],
                                 chunked(b"z" * 5000, 100)))
            r = c.read_response()
            self.assertEqual(r.status, 413, r)
            # The proxy's own refusal, with the plugin's message.
            self.assertEqual(r.json()["message"], TOO_LARGE["message"])
            self.assertTrue(c.wait_closed(3))

    def test_require_content_length(self):
        with self.gw.connect() as c:
            r = c.request("GET", "/need/echo")
        self.assertEqual(r.status, 411, r)
        self.assertEqual(r.json(), NEED_LENGTH)
        r, _ = self.post("/need/echo", b"", [("Content-Length", "0")])
        self.assertEqual(r.status, 200, r)
        r, _ = self.post("/need/echo", b"a" * 100)
        self.assertEqual(r.status, 200, r)
        # Chunked bodies have no Content-Length and are counted (Kong).
        with self.gw.connect() as c:
            c.send(build_request("POST", "/need/echo",
                                 [("Transfer-Encoding", "chunked")],
                                 chunked(b"q" * 20, 7)))
            self.assertEqual(c.read_response().status, 200)
        # Without the option a bodiless request passes.
        with self.gw.connect() as c:
            self.assertEqual(c.request("GET", "/small/echo").status, 200)

    def test_service_level_instance(self):
        self.assertEqual(self.post("/svcwide/echo", b"12345")[0].status, 200)
        self.assertEqual(self.post("/svcwide/echo", b"123456")[0].status,
                         413)
        self.assertEqual(self.post("/free/echo", b"1" * 1000)[0].status, 200)

    def test_buffered_by_validator_measured_whole(self):
        k = key()
        with self.gw.connect() as c:
            c.send(build_request("POST", "/both/count?key=" + k,
                                 [("Transfer-Encoding", "chunked"),
                                  ("Content-Type", "application/json")],
                                 chunked(b'{"a":"' + b"b" * 60 + b'"}', 9)))
            r = c.read_response()
        self.assertEqual(r.status, 413, r)
        self.assertEqual(r.json(), TOO_LARGE)
        self.assertEqual(self.up.hits(k), 0)
        r, _ = self.post("/both/echo", b'{"a":1}',
                         [("Content-Type", "application/json")])
        self.assertEqual(r.status, 200, r)


class RequestValidatorTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("svc", up.port, routes=[
            route("v", ["/v"], strip_path=False,
                  plugins=[rv(body_schema=json.dumps(USER_SCHEMA))]),
            route("vv", ["/vv"], strip_path=False,
                  plugins=[rv(body_schema=USER_SCHEMA,
                              verbose_response=True, version="draft4")]),
            route("types", ["/types"], strip_path=False,
                  plugins=[rv(body_schema='{"type": "object"}',
                              allowed_content_types=[
                                  "application/json",
                                  "text/plain; charset=utf-8",
                                  "application/*"])]),
            route("loose", ["/loose"], strip_path=False,
                  plugins=[rv(body_schema='{"type": "object"}',
                              content_type_parameter_validation=False)]),
        ]))

    def send(self, path, body, ctype="application/json", extra=()):
        headers = list(extra)
        if ctype is not None:
            headers.append(("Content-Type", ctype))
        with self.gw.connect() as c:
            c.send(build_request("POST", path, headers, body))
            r = c.read_response()
            # The body was read: the connection serves the next request.
            ok = c.request("POST", "/v/echo",
                           [("Content-Type", "application/json")],
                           b'{"user": {"name": "zz"}}')
            self.assertEqual(ok.status, 200, ok)
            return r

    def refused(self, path, body, want, ctype="application/json"):
        k = key()
        r = self.send(path + "/count?key=" + k, body, ctype)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json(), want)
        self.assertEqual(self.up.hits(k), 0)
        return r

    def test_conforming_body_passes_intact(self):
        body = json.dumps({"user": {"name": "ann", "age": 30,
                                    "role": "admin", "tags": ["a", "bb"]}})
        r = self.send("/v/echo", body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["body_len"], len(body))

    def test_failures_name_path_and_rule(self):
        cases = [
            ({}, "$.user", "required"),
            ({"user": {}}, "$.user.name", "required"),
            ({"user": {"name": "ann", "age": 17}}, "$.user.age", "minimum"),
            ({"user": {"name": "ann", "age": 151}}, "$.user.age",
             "maximum"),
            ({"user": {"name": "ann", "age": 20.5}}, "$.user.age", "type"),
            ({"user": {"name": "a"}}, "$.user.name", "minLength"),
            ({"user": {"name": "Ann"}}, "$.user.name", "pattern"),
            ({"user": {"name": "ann", "role": "root"}}, "$.user.role",
             "enum"),
            ({"user": {"name": "ann", "tags": ["ok", "toolong"]}},
             "$.user.tags[1]", "maxLength"),
            ({"user": {"name": "ann", "x y": 1}}, "$.user['x y']",
             "additionalProperties"),
            ([], "$", "type"),
        ]
        for doc, path, rule in cases:
            with self.subTest(doc=doc):
                self.refused("/v", json.dumps(doc),
                             {"message": BAD_BODY, "path": path,
                              "rule": rule})

    def test_verbose_adds_the_detail(self):
        r = self.send("/vv/echo", json.dumps({"user": {"name": "ann",
                                                       "age": 3}}))
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json(), {"message": BAD_BODY,
                                    "path": "$.user.age", "rule": "minimum",
                                    "detail": "must be >= 18"})
        r = self.send("/vv/echo", json.dumps({"user": {"name": "ann",
                                                       "age": 33}}))
        self.assertEqual(r.status, 200, r)

    def test_not_json(self):
        for body in (b"{nope", b"", b'{"user": {"name": "ann"}} x',
                     b'{"user": {"name": "ann"}, "user": {}}',
                     b'\xff\xfe'):
            with self.subTest(body=body):
                r = self.refused("/v", body, {"message": BAD_BODY,
                                              "path": "$", "rule": "json"})

    def test_content_types(self):
        obj = b'{"a": 1}'
        self.refused("/v", obj, BAD_TYPE, ctype=None)
        self.refused("/v", obj, BAD_TYPE, ctype="text/html")
        self.refused("/v", obj, BAD_TYPE, ctype="application/json-ish")
        # Parameters are strict: none allowed, one given.
        self.refused("/v", obj, BAD_TYPE,
                     ctype="application/json; charset=utf-8")
        self.assertEqual(self.send("/v/echo", b'{"user":{"name":"ab"}}',
                                   "Application/JSON").status, 200)
        self.assertEqual(self.send("/loose/echo", obj,
                                   "application/json; charset=utf-8")
                         .status, 200)
        # A charset's value has no case; a non-JSON type is not validated.
        self.assertEqual(self.send("/types/echo", b"not json",
                                   'text/plain; charset="UTF-8"').status,
                         200)
        self.refused("/types", obj, BAD_TYPE, ctype="text/plain")
        # A wildcard subtype, and +json bodies are validated.
        self.assertEqual(self.send("/types/echo", obj,
                                   "application/merge-patch+json").status,
                         200)
        self.refused("/types", b"[1]", {"message": BAD_BODY, "path": "$",
                                        "rule": "type"},
                     ctype="application/merge-patch+json")

    def test_chunked_body_validated(self):
        for body, status in ((b'{"user": {"name": "bob"}}', 200),
                             (b'{"user": {"name": 5}}', 400)):
            with self.gw.connect() as c:
                c.send(build_request("POST", "/v/echo",
                                     [("Transfer-Encoding", "chunked"),
                                      ("Content-Type", "application/json")],
                                     chunked(body, 4)))
                r = c.read_response()
                self.assertEqual(r.status, status, r)

    def test_malformed_request_closes_only_its_connection(self):
        with self.gw.connect() as other:
            self.assertEqual(other.request("GET", "/v/echo").status, 400)
            with self.gw.connect() as bad:
                bad.send(b"POST /v/echo HTTP/1.1\r\nHost: t\r\n"
                         b"Content-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")
                r = bad.read_response()
                self.assertEqual(r.status, 400, r)
                self.assertTrue(bad.wait_closed(3))
            r = other.request("POST", "/v/echo",
                              [("Content-Type", "application/json")],
                              b'{"user": {"name": "cy"}}')
            self.assertEqual(r.status, 200, r)


class ConfigErrorsTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("svc", up.port, routes=[
            route("r", ["/r"], strip_path=False,
                  plugins=[rsl(allowed_payload_size=3, size_unit="bytes")])]))

    def doc(self, plugin):
        return gateway_doc(service("svc", self.up.port, routes=[
            route("r", ["/r"], strip_path=False, plugins=[plugin])]))

    def test_errors_name_the_path(self):
        pre = "services[0].routes[0].plugins[0].config"
        cases = [
            (rsl(size_unit="gigabytes"),
             pre + ".size_unit: must be one of bytes, kilobytes, megabytes"),
            (rsl(allowed_payload_size=-1),
             pre + ".allowed_payload_size: must be an integer in 0.."),
            (rsl(require_content_length="yes"),
             pre + ".require_content_length: must be a boolean"),
            (rsl(allowed_payload_sise=1), pre + ".allowed_payload_sise"),
            (rv(body_schema='{"properties": {"age": '
                            '{"exclusiveMinimum": true}}}'),
             pre + ".body_schema: properties.age.exclusiveMinimum: keyword "
                   "not supported"),
            (rv(body_schema={"type": "object", "oneOf": []}),
             pre + ".body_schema: oneOf: keyword not supported"),
            (rv(body_schema='{"type": '), pre + ".body_schema: not JSON"),
            (rv(body_schema='{"pattern": "("}'),
             pre + ".body_schema: pattern: not a POSIX extended regular "
                   "expression"),
            (rv(body_schema='[{"name": {"type": "string"}}]'),
             pre + ".body_schema: is in Kong's own schema format"),
            (rv(body_schema="{}", version="kong"),
             pre + ".version: kong (Kong's own schema format) is not "
                   "supported"),
            (rv(), pre + ": needs body_schema"),
            (rv(body_schema="{}", allowed_content_types=["json"]),
             pre + ".allowed_content_types[0]: must be a media type"),
            (rv(body_schema="{}", verbose_response=1),
             pre + ".verbose_response: must be a boolean"),
        ]
        for plugin, msg in cases:
            with self.subTest(msg=msg):
                rc, out = self.gw.check_config(self.doc(plugin))
                self.assertNotEqual(rc, 0, out)
                self.assertIn(msg, out)

    def test_bad_reload_keeps_the_running_config(self):
        def status():
            with self.gw.connect() as c:
                return c.request("POST", "/r/echo", body=b"1234").status
        self.assertEqual(status(), 413)
        since = len(self.gw.error_log())
        self.gw.reload(self.doc(rv(body_schema='{"minimum": "x"}')),
                       wait=False)
        self.gw.wait_log(r"\[error\] .*reload rejected: .*services\[0\]\."
                         r"routes\[0\]\.plugins\[0\]\.config\.body_schema: "
                         r"minimum: must be a number", 5, since)
        self.assertEqual(status(), 413)
        self.gw.reload(self.doc(rsl(allowed_payload_size=4,
                                    size_unit="bytes")))
        self.assertEqual(status(), 200)


class ClusterTest(ClusterTestCase):
    """Both plugins written through the admin API of a three-node cluster:
    checked by their schemas on the way in (400 naming the path, nothing
    stored), enforced by every node's proxy, a PATCH giving the schema as
    a JSON object (the mapping form) enforced everywhere too."""
    SHARED = True

    def everywhere(self, body, want, headers=None):
        """Wait until every node answers POST /seed/echo with @body as
        @want: a status, or (status, path, rule)."""
        seen = {}
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})

        def pred():
            for nd in self.cluster.alive():
                r = nd.proxy("/seed/echo", "POST", hdrs, body.encode())
                got = r.status
                if r.status == 400 and isinstance(want, tuple):
                    doc = r.json()
                    got = (400, doc.get("path"), doc.get("rule"))
                seen[nd.id] = got
                if got != want:
                    return False
            return True
        try:
            rgtest.wait_until(pred, scaled(5.0), 0.05,
                              "%r -> %r on every node" % (body, want))
        except TimeoutError as e:
            self.fail("%s: %s" % (e, seen))

    def test_written_on_one_node_enforced_on_all(self):
        c = self.cluster
        r = c.write("POST", "/routes/seed/plugins",
                    rv(body_schema=json.dumps(USER_SCHEMA)), node=c.nodes[1])
        self.assertEqual(r.status, 201, r)
        vid = r.json()["id"]
        r = c.write("POST", "/routes/seed/plugins",
                    rsl(allowed_payload_size=40, size_unit="bytes"),
                    node=c.nodes[2])
        self.assertEqual(r.status, 201, r)
        sid = r.json()["id"]
        self.everywhere('{"user": {"name": "a"}}',
                        (400, "$.user.name", "minLength"))
        self.everywhere('{"user": {"name": "abc"}}', 200)
        self.everywhere('{"user": {"name": "' + "a" * 40 + '"}}', 413)
        r = c.write("PATCH", "/plugins/" + vid,
                    {"config": {"body_schema": {"type": "object",
                                                "required": ["x"]}}},
                    node=c.nodes[0])
        self.assertEqual(r.status, 200, r)
        self.everywhere('{"user": {"name": "abc"}}', (400, "$.x",
                                                      "required"))
        self.everywhere('{"x": 1}', 200)
        for pid in (vid, sid):
            self.assertEqual(c.write("DELETE", "/plugins/" + pid).status,
                             204)
        self.everywhere("not json", 200)

    def test_bad_config_refused_nothing_stored(self):
        c = self.cluster
        before = c.nodes[0].admin("GET", "/plugins").json()["data"]
        cases = [
            (rsl(size_unit="gigabytes"), "config.size_unit: must be one of"),
            (rv(body_schema={"properties": {"a": {"format": "email"}}}),
             "config.body_schema: properties.a.format: keyword not "
             "supported"),
            (rv(body_schema='{"type": 1}'), "config.body_schema: type: "),
        ]
        for body, msg in cases:
            for nd in c.nodes:
                r = c.write("POST", "/routes/seed/plugins", body, node=nd)
                self.assertEqual(r.status, 400, (body, r))
                self.assertIn(msg, r.json().get("message", ""), (body, r))
        self.assertEqual(before,
                         c.nodes[2].admin("GET", "/plugins").json()["data"])


if __name__ == "__main__":
    rgtest.main()
