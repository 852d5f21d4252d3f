#!/usr/bin/python3
"""request-transformer and response-transformer through the real binary
against an echoing upstream: Kong's remove/rename/replace/add/append on
headers, query strings, JSON and form bodies (in Kong's order),
http_method, replace.uri; raftgate's extensions (path_rewrite,
header_mapping, body_wrap, gateway_timestamp, body_unwrap, response_time,
status_map); bodies that are not JSON pass untouched; config errors name
the bad key's path."""

import json
import time

import rgtest
from rgtest import GatewayTestCase, free_port, gateway_doc, route, service


def rq(**config):
    return {"name": "request-transformer", "config": config}


def rs(**config):
    return {"name": "response-transformer", "config": config}


def r(name, plugins, **kw):
    return route(name, ["/" + name], strip_path=False, plugins=plugins, **kw)


class TransformersTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        dead = free_port()
        return gateway_doc(
            service("svc", up.port, routes=[
                r("rq", [rq(
                    remove={"headers": ["X-Drop"], "querystring": ["drop"]},
                    rename={"headers": ["X-Old:X-New"],
                            "querystring": ["old:new"]},
                    replace={"headers": ["X-Rep:replaced", "X-Absent:no"],
                             "querystring": ["rep:r2", "absent:no"]},
                    add={"headers": ["X-Add:added", "X-Present:no"],
                         "querystring": ["added:1 x", "rep:no"]},
                    append={"headers": ["X-App:two"],
                            "querystring": ["app:2"]},
                    header_mapping={"X-From": "X-To"},
                    gateway_timestamp=True)]),
                r("rqbody", [rq(
                    remove={"body": ["secret"]},
                    rename={"body": ["old:new"]},
                    replace={"body": ["rep:R", "absent:no"]},
                    add={"body": ["added:A", "keep:no"]},
                    append={"body": ["app:2"]},
                    body_wrap="data")]),
                r("meth", [rq(http_method="PUT",
                              replace={"uri": "/meth/echo/fixed"})]),
                r("rw", [rq(path_rewrite={"^/rw/v1/(.*)$": "/rw/v2/\\1",
                                          "never": "/x"})]),
                r("rs", [rs(
                    remove={"headers": ["X-Up-Drop"]},
                    rename={"headers": ["X-Up-Old:X-Up-New"]},
                    replace={"headers": ["X-Up-Rep:rep", "X-Absent:no"]},
                    add={"headers": ["X-Added:a", "X-Up-Keep:no"]},
                    append={"headers": ["X-Up-App:2"]},
                    response_time=True)]),
                r("rsjson", [rs(
                    remove={"json": ["conn_id"]},
                    rename={"json": ["method:verb"]},
                    replace={"json": ["request_no:42", "absent:no"],
                             "json_types": ["number"]},
                    add={"json": ["added:true", "method:again", "path:no"],
                         "json_types": ["boolean"]},
                    append={"json": ["client:x", "list:1"],
                            "json_types": ["string", "number"]})]),
                r("unwrap", [rs(body_unwrap="headers")]),
                r("seedmap", [rs(status_map="seed")]),
                r("mymap", [rs(status_map={"418": 200, "500": 503})]),
                r("hdronly", [rq(add={"headers": ["X-A:1"]}),
                              rs(add={"headers": ["X-B:2"]})]),
                r("auth", [{"name": "key-auth"},
                           rs(add={"headers": ["X-Added:on-401"]})]),
            ]),
            service("dead", dead, routes=[
                r("deadmap", [rs(status_map={"502": 503})]),
                r("deadraw", []),
            ]))

    def test_request_headers_and_query(self):
        t0 = int(time.time())
        resp = self.gw.get(
            "/rq/echo?drop=1&old=o&rep=r&app=1",
            {"X-Drop": "d", "X-Old": "o", "X-Rep": "r", "X-Present": "yes",
             "X-App": "one", "X-From": "f"})
        self.assertEqual(resp.status, 200, resp)
        d = resp.json()
        h = {k.lower(): v for k, v in d["headers"].items()}
        self.assertNotIn("x-drop", h)
        self.assertNotIn("x-old", h)
        self.assertEqual(h["x-new"], "o")
        self.assertEqual(h["x-rep"], "replaced")
        self.assertNotIn("x-absent", h)   # replace only when present
        self.assertEqual(h["x-add"], "added")
        self.assertEqual(h["x-present"], "yes")  # add only when absent
        self.assertEqual(h["x-app"], "one, two")  # append always
        self.assertEqual(h["x-to"], "f")
        self.assertEqual(h["x-from"], "f")
        ts = int(h["x-gateway-timestamp"])
        self.assertTrue(t0 - 2 <= ts <= int(time.time()) + 2, ts)
        self.assertEqual(d["path"],
                         "/rq/echo?new=o&rep=r2&app=1&added=1%20x&app=2")

    def test_request_query_added_to_none(self):
        d = self.gw.get("/rq/echo").json()
        self.assertEqual(d["path"], "/rq/echo?added=1%20x&rep=no&app=2")

    def test_request_json_body(self):
        body = json.dumps({"secret": 1, "old": "o", "rep": "r", "app": "1",
                           "keep": True}).encode()
        resp = self.gw.request("POST", "/rqbody/echo?body=1",
                               {"Content-Type": "application/json"}, body)
        self.assertEqual(resp.status, 200, resp)
        got = json.loads(resp.json()["body"])
        self.assertEqual(got, {"data": {"new": "o", "rep": "R",
                                        "app": ["1", "2"], "keep": True,
                                        "added": "A"}})

    def test_request_form_body(self):
        resp = self.gw.request(
            "POST", "/rqbody/echo?body=1",
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"secret=1&old=o&rep=r&app=1&keep")
        self.assertEqual(resp.json()["body"],
                         "new=o&rep=R&app=1&keep&added=A&app=2")

    def test_request_body_untouched(self):
        for ctype, body in (("application/json", "not {json"),
                            ("text/plain", '{"secret":1}'),
                            (None, '{"secret":1}')):
            hdrs = {"Content-Type": ctype} if ctype else {}
            resp = self.gw.request("POST", "/rqbody/echo?body=1", hdrs,
                                   body.encode())
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(resp.json()["body"], body, ctype)

    def test_method_and_uri(self):
        d = self.gw.get("/meth/anything?q=1").json()
        self.assertEqual(d["method"], "PUT")
        self.assertEqual(d["path"], "/meth/echo/fixed?q=1")

    def test_path_rewrite(self):
        d = self.gw.get("/rw/v1/echo/x?q=1").json()
        self.assertEqual(d["path"], "/rw/v2/echo/x?q=1")
        d = self.gw.get("/rw/v3/echo").json()
        self.assertEqual(d["path"], "/rw/v3/echo")

    def test_response_headers(self):
        resp = self.gw.get("/rs/set-headers?X-Up-Drop=1&X-Up-Old=o&"
                           "X-Up-Rep=r&X-Up-Keep=k&X-Up-App=1")
        self.assertEqual(resp.status, 200, resp)
        self.assertIsNone(resp.header("X-Up-Drop"))
        self.assertIsNone(resp.header("X-Up-Old"))
        self.assertEqual(resp.header("X-Up-New"), "o")
        self.assertEqual(resp.header("X-Up-Rep"), "rep")
        self.assertIsNone(resp.header("X-Absent"))
        self.assertEqual(resp.header("X-Added"), "a")
        self.assertEqual(resp.header_all("X-Up-Keep"), ["k"])
        self.assertEqual(resp.header_all("X-Up-App"), ["1", "2"])
        self.assertGreaterEqual(int(resp.header("X-Gateway-Response-Time")),
                                0)
        d = self.gw.get("/rs/delay/150").json()  # still passes the body
        self.assertEqual(d["method"], "GET")
        resp = self.gw.get("/rs/delay/150")
        self.assertGreaterEqual(int(resp.header("X-Gateway-Response-Time")),
                                140)

    def test_response_json(self):
        resp = self.gw.get("/rsjson/echo")
        self.assertEqual(resp.status, 200, resp)
        d = resp.json()
        self.assertNotIn("conn_id", d)
        self.assertEqual(d["verb"], "GET")
        self.assertEqual(d["method"], "again")   # add after rename
        self.assertEqual(d["request_no"], 42)
        self.assertNotIn("absent", d)
        self.assertIs(d["added"], True)
        self.assertEqual(d["path"], "/rsjson/echo")  # add: present
        self.assertEqual(d["client"][1], "x")
        self.assertEqual(len(d["client"]), 2)
        self.assertEqual(d["list"], [1])
        self.assertEqual(int(resp.header("Content-Length")), len(resp.body))

    def test_response_not_json_untouched(self):
        resp = self.gw.get("/rsjson/echo?notjson=1")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, b"not {json")
        resp = self.gw.get("/rsjson/bytes/300")  # not labelled JSON
        self.assertEqual(resp.body, rgtest.pattern(0, 300))

    def test_unwrap(self):
        d = self.gw.get("/unwrap/echo", {"X-Mark": "m"}).json()
        self.assertNotIn("method", d)
        self.assertEqual({k.lower(): v for k, v in d.items()}["x-mark"], "m")

    def test_status_map_seed(self):
        for code, want in ((501, 404), (502, 503), (503, 504), (500, 500),
                           (200, 200)):
            resp = self.gw.get("/seedmap/status/%d" % code)
            self.assertEqual(resp.status, want, (code, resp))
        resp = self.gw.get("/mymap/status/418")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.reason, "OK")
        self.assertEqual(self.gw.get("/mymap/status/500").status, 503)
        self.assertEqual(self.gw.get("/mymap/status/502").status, 502)

    def test_status_map_gateway_error(self):
        self.assertEqual(self.gw.get("/deadraw").status, 502)
        resp = self.gw.get("/deadmap")
        self.assertEqual(resp.status, 503, resp)

    def test_local_reply_gets_added_header(self):
        resp = self.gw.get("/auth/echo")
        self.assertEqual(resp.status, 401, resp)
        self.assertEqual(resp.header("X-Added"), "on-401")

    def test_header_only_configs_stream(self):
        chunked = {"Transfer-Encoding": "chunked"}
        body = b"5\r\nhello\r\n0\r\n\r\n"
        resp = self.gw.request("POST", "/hdronly/upload", chunked, body)
        self.assertEqual(resp.json()["framing"], "chunked", resp)
        self.assertEqual(resp.header("X-B"), "2")
        resp = self.gw.request("POST", "/rqbody/upload", chunked, body)
        self.assertEqual(resp.json()["framing"], "content-length", resp)
        resp = self.gw.get("/hdronly/chunked/1000")
        self.assertTrue(resp.chunked, resp)
        self.assertEqual(resp.body, rgtest.pattern(0, 1000))
        resp = self.gw.get("/rsjson/chunked/1000")  # buffered: a length
        self.assertFalse(resp.chunked, resp)
        self.assertEqual(resp.header("Content-Length"), "1000")

    def check(self, plugin):
        d = gateway_doc(service("svc", self.up.port, routes=[
            route("r", ["/"], plugins=[plugin])]))
        return self.gw.check_config(d)

    def test_check_names_the_path(self):
        pre = "services[0].routes[0].plugins[0].config"
        cases = [
            (rq(add={"headers": ["NoColon"]}),
             pre + ".add.headers[0]: must be \"name:value\""),
            (rq(remove={"headers": ["Content-Length"]}),
             pre + ".remove.headers[0]: is not a header name the gateway"),
            (rq(rename={"querystring": ["a:"]}),
             pre + ".rename.querystring[0]: the new name must not be empty"),
            (rq(replace={"uri": "no-slash"}),
             pre + ".replace.uri: must be a path"),
            (rq(http_method="HEAD"), pre + ".http_method: HEAD and CONNECT"),
            (rq(path_rewrite={"(": "/x"}),
             pre + ".path_rewrite.(: the pattern is not a valid regex"),
            (rq(path_rewrite={"^/a": "/b\\5"}),
             pre + ".path_rewrite.^/a: the replacement names a group the "
                   "pattern does not have"),
            (rq(path_rewrite={"^/a": "/b?x=1"}),
             pre + ".path_rewrite.^/a: the replacement may hold only "
                   "visible ASCII"),
            (rq(path_rewrite={"^/a": "/b c"}),
             pre + ".path_rewrite.^/a: the replacement may hold only "
                   "visible ASCII"),
            (rq(header_mapping={"X-A": "Host"}),
             pre + ".header_mapping.X-A: both must be header names"),
            (rq(bogus=1), pre + ".bogus: unknown key"),
            (rs(add={"json": ["a:x"], "json_types": ["number"]}),
             pre + ".add.json_types[0]: \"x\" is not a number"),
            (rs(add={"json_types": ["float"]}),
             pre + ".add.json_types[0]: must be one of string"),
            (rs(status_map={"502": 204}),
             pre + ".status_map.502: 204 and 304 cannot be answered"),
            (rs(status_map={"abc": 200}),
             pre + ".status_map.abc: the status to map must be a code"),
            (rs(status_map="nope"),
             pre + ".status_map: must be a mapping of status codes"),
            (rs(remove={"body": ["x"]}), pre + ".remove.body: unknown key"),
        ]
        for plugin, msg in cases:
            rc, out = self.check(plugin)
            self.assertNotEqual(rc, 0, out)
            self.assertIn(msg, out)
        rc, out = self.check(rq(add={"headers": ["X-A:1"]}))
        self.assertEqual(rc, 0, out)
        self.assertNotIn("not enforced", out)


if __name__ == "__main__":
    rgtest.main()
