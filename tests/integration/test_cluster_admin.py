#!/usr/bin/python3
"""Admin API on a three-node cluster: every member records itself in the
node registry (GET /cluster shows name, admin and proxy for all of them,
and a node joined without a name gets its own node.name); Kong's
application/x-www-form-urlencoded bodies; ?consistency and ?min_revision
are validated (400); a Content-Length past the body cap is refused with 413
before the body is sent; a target too long is 414, a header too large
431, an obs-fold 400; transfer to / promotion of an unknown id is 404;
removing the leader itself answers 204 or 504 unknown, never 503
not-proposed (the removal committed before the registry write failed)."""

import socket
import uuid

import rgtest
from rgcluster import (OUTCOME, ClusterTestCase, members_of, not_proposed,
                       scaled)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def wait_registry(test, nodes, expect, timeout=None):
    """Every node in `nodes` lists every id of `expect` ({id: {field:
    value}}) with those fields in GET /cluster."""
    seen = {}

    def pred():
        for nd in nodes:
            ms = members_of(nd.cluster_info())
            seen[nd.id] = ms
            for i, want in expect.items():
                m = ms.get(i)
                if m is None or any(m.get(k) != v for k, v in want.items()):
                    return False
        return True
    try:
        rgtest.wait_until(pred, timeout or scaled(10.0), 0.1,
                          "registry records on every node")
    except TimeoutError as e:
        test.fail("%s: %s" % (e, seen))


def record_of(nd):
    return {"name": "n%d" % nd.id, "admin": nd.admin_addr,
            "proxy": nd.proxy_addr, "raft": nd.raft_addr}


class AdminTest(ClusterTestCase):
    SHARED = True

    def uniq(self, prefix):
        return "%s-%s" % (prefix, uuid.uuid4().hex[:8])

    def test_every_member_recorded(self):
        """Not only the leader: each node's name, admin and proxy are in
        the registry, seen from every node."""
        c = self.cluster
        wait_registry(self, c.nodes, {nd.id: dict(record_of(nd),
                                                  role="voter")
                                      for nd in c.nodes})

    def test_form_urlencoded_service_and_route(self):
        c = self.cluster
        fol = c.followers()[0]
        name = self.uniq("form")
        r = c.write("POST", "/services",
                    "name=%s&url=http%%3A%%2F%%2F%s%%3A%d&retries=2"
                    % (name, rgtest.HOST, self.up.port), node=fol,
                    headers=FORM)
        rev = self.assertWrite(r, 201, "form POST /services")
        svc = r.json()
        self.assertEqual(svc["name"], name)
        self.assertEqual(svc["retries"], 2)
        r = c.write("POST", "/services/%s/routes" % name,
                    "name=%s-r&paths[]=/%s-a&paths[]=/%s-b&strip_path=false"
                    % (name, name, name), headers=FORM)
        self.assertWrite(r, 201, "form POST routes")
        self.assertEqual(r.json()["paths"], ["/%s-a" % name,
                                             "/%s-b" % name])
        self.assertIs(r.json()["strip_path"], False)
        self.assertEqual(r.json()["service"], {"id": svc["id"]})
        # a single value of an array field, and a nested foreign key
        r = c.write("POST", "/routes", "name=%s-c&paths=/%s-c&service.id=%s"
                    % (name, name, svc["id"]), headers=FORM)
        self.assertWrite(r, 201, "form POST /routes")
        self.assertEqual(r.json()["paths"], ["/%s-c" % name])
        # repeated keys make an array
        r = c.write("PATCH", "/routes/%s-c" % name,
                    "paths=/%s-d&paths=/%s-e" % (name, name), headers=FORM)
        rev = self.assertWrite(r, 200, "form PATCH")
        self.assertEqual(r.json()["paths"], ["/%s-d" % name,
                                             "/%s-e" % name])
        c.wait_revision(rev)
        c.wait_served("/%s-a/x" % name)
        c.wait_served("/%s-e/x" % name)
        r = c.write("POST", "/services", "name=%s-bad&port=x[" % name,
                    headers=FORM)
        self.assertEqual(r.status, 400, repr(r))

    def test_query_parameters_validated(self):
        nd = self.cluster.nodes[0]
        for q in ("consistency=strong", "consistency=", "min_revision=-1",
                  "min_revision=1x", "min_revision=",
                  "min_revision=99999999999999999999",
                  "min_revision=9223372036854775808"):
            r = nd.admin("GET", "/services?" + q)
            self.assertEqual(r.status, 400, "%s: %r" % (q, r))
        for q in ("consistency=local", "consistency=linearizable",
                  "min_revision=0", "min_revision=1"):
            r = nd.admin("GET", "/services?" + q)
            self.assertEqual(r.status, 200, "%s: %r" % (q, r))

    def raw(self, nd, data):
        """Send @data to @nd's admin listener; the response head."""
        s = socket.create_connection((rgtest.HOST, nd.admin_port),
                                     timeout=scaled(5.0))
        try:
            s.sendall(data)
            got = b""
            while b"\r\n\r\n" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        finally:
            s.close()
        return got

    def test_body_over_cap_refused_before_it_is_read(self):
        nd = self.cluster.nodes[0]
        data = self.raw(nd, b"POST /services HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Type: application/json\r\n"
                            b"Content-Length: 100000000\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 413 "), data)

    def test_bad_requests_say_why(self):
        """The admin server parses with the proxy's glue: a target too long
        is 414, a header too large 431, an obs-fold 400; the node still
        answers afterwards."""
        nd = self.cluster.nodes[0]
        for req, status in (
                (b"GET /services?" + b"a" * 3000 + b" HTTP/1.1\r\n"
                 b"Host: x\r\n\r\n", b"414"),
                (b"GET /services HTTP/1.1\r\nHost: x\r\nX-Big: " +
                 b"b" * 20000 + b"\r\n\r\n", b"431"),
                (b"GET /services HTTP/1.1\r\nHost: x\r\nX-F: a\r\n b\r\n"
                 b"\r\n", b"400")):
            data = self.raw(nd, req)
            self.assertTrue(data.startswith(b"HTTP/1.1 " + status + b" "),
                            (req[:40], data))
        self.assertEqual(nd.admin("GET", "/services").status, 200)

    def test_ids_lower_case_names_strings(self):
        """A UUID key in upper case is stored in lower case (the config
        parser compares ids without case, the store exactly: two spellings
        would pass one and break the other); a name that is not a string
        is refused with 400, as Kong does."""
        c = self.cluster
        nd = c.wait_leader()
        sid = str(uuid.uuid4())
        r = nd.admin("PUT", "/services/" + sid.upper(),
                     {"name": self.uniq("up"), "url": "http://127.0.0.1:9"})
        self.assertEqual(r.status, 201, repr(r))
        self.assertEqual(r.json()["id"], sid)
        r = nd.admin("PUT", "/services/" + sid,
                     {"name": self.uniq("low"), "url": "http://127.0.0.1:9"})
        self.assertEqual(r.status, 200, repr(r))   # the same object
        r = nd.admin("GET", "/services/" + sid.upper())
        self.assertEqual(r.status, 200, repr(r))
        r = nd.admin("POST", "/services", {"id": str(uuid.uuid4()).upper(),
                                           "url": "http://127.0.0.1:9"})
        self.assertEqual(r.status, 201, repr(r))
        self.assertEqual(r.json()["id"], r.json()["id"].lower())
        for name in (5, True, ["a"]):
            r = nd.admin("POST", "/services", {"name": name,
                                               "url": "http://127.0.0.1:9"})
            self.assertEqual(r.status, 400, repr(r))
            self.assertIn("name: expected a string", r.json()["message"])

    def test_status_served_revision(self):
        """GET /status reports the revision the proxy serves; after a
        write every node's served_revision reaches the write's revision."""
        c = self.cluster
        r = c.wait_leader().admin("POST", "/services",
                                  {"name": self.uniq("srv"),
                                   "url": "http://127.0.0.1:9"})
        self.assertEqual(r.status, 201, repr(r))
        rev = int(r.header("x-raftgate-revision"))
        seen = {}

        def pred():
            for nd in c.nodes:
                seen[nd.id] = st = nd.status() or {}
                if st.get("served_revision", 0) < rev:
                    return False
            return True
        try:
            rgtest.wait_until(pred, scaled(5.0), 0.05,
                              "served_revision >= %d everywhere" % rev)
        except TimeoutError as e:
            self.fail("%s: %s" % (e, seen))

    def test_unknown_ids_are_404(self):
        c = self.cluster
        for nd in (c.wait_leader(), c.followers()[0]):
            r = nd.admin("POST", "/cluster/transfer", {"id": 42})
            self.assertEqual(r.status, 404, "node %d: %r" % (nd.id, r))
            r = nd.admin("POST", "/cluster/members/42/promote")
            self.assertEqual(r.status, 404, "node %d: %r" % (nd.id, r))
            r = nd.admin("DELETE", "/cluster/members/42")
            self.assertEqual(r.status, 404, "node %d: %r" % (nd.id, r))
        r = c.wait_leader().admin("POST", "/cluster/transfer", {"id": "x"})
        self.assertEqual(r.status, 400, repr(r))


class MembershipOutcomeTest(ClusterTestCase):

    def test_join_without_name_takes_node_name(self):
        """POST /cluster/members without a name: the new node records
        its own node.name once it runs as a member."""
        c = self.cluster
        n4 = c.new_node(4)
        n4.start(wait=False)
        n4.wait_admin()
        doc = n4.member_doc()
        del doc["name"]
        r = c.write("POST", "/cluster/members", doc)
        self.assertEqual(r.status, 201, repr(r))
        wait_registry(self, c.alive(), {4: dict(record_of(n4),
                                                role="standby")},
                      timeout=scaled(15.0))

    def test_remove_leader_is_never_not_proposed(self):
        """The leader steps down when its own removal commits, so the
        registry write after it cannot be proposed: the answer must say
        the outcome is unknown (or succeed), since the removal happened."""
        c = self.cluster
        lead = c.wait_leader()
        r = lead.admin("DELETE", "/cluster/members/%d" % lead.id)
        self.assertFalse(not_proposed(r), repr(r))
        self.assertIn(r.status, (204, 504), repr(r))
        if r.status == 504:
            self.assertEqual((r.header(OUTCOME) or "").lower(), "unknown",
                             repr(r))
        rest = [nd for nd in c.nodes if nd is not lead]
        new = c.wait_leader(nodes=rest, timeout=scaled(15.0))
        self.assertNotEqual(new.id, lead.id)
        rgtest.wait_until(
            lambda: set(members_of(new.cluster_info())) ==
            {nd.id for nd in rest}, scaled(10.0), 0.05,
            "removed leader gone from the configuration")
        self.assertEqual(lead.stop(), 0, lead.log_tail(40))


if __name__ == "__main__":
    rgtest.main()
