#!/usr/bin/python3
"""Membership: a fourth node started with raft.join is added through
POST /cluster/members (spare, then standby: it replicates and proxies
without a vote), promoted to voter, then removed; the cluster keeps
accepting writes at every step and the node registry follows."""

import uuid

import rgcluster
import rgtest
from rgcluster import ClusterTestCase, members_of, scaled


def role_of(member):
    r = member.get("role")
    return r.lower() if isinstance(r, str) else r


class MembershipTest(ClusterTestCase):

    def wait_role(self, node_id, role, timeout=None):
        """Every running member's GET /cluster lists node_id with role
        (None: absent)."""
        c = self.cluster

        def pred():
            for nd in c.alive():
                if nd.id == node_id and role is None:
                    continue
                m = members_of(nd.cluster_info()).get(node_id)
                if role is None:
                    if m is not None:
                        return False
                elif m is None or role_of(m) != role:
                    return False
            return True
        try:
            rgtest.wait_until(pred, timeout or scaled(10.0), 0.05,
                              "node %d role %s everywhere" % (node_id, role))
        except TimeoutError as e:
            raise TimeoutError("%s: %s" % (e, {
                nd.id: nd.cluster_info() for nd in c.alive()}))

    def route(self, prefix, node=None):
        name = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
        rev, _ = rgcluster.add_service_with_route(
            self.cluster, name, self.up.port, "/" + name, node=node)
        return "/" + name, rev

    def test_join_standby_promote_remove(self):
        c = self.cluster
        before, rev = self.route("before")
        n4 = c.new_node(4)
        n4.start(wait=False)
        n4.wait_admin()
        info = c.nodes[0].cluster_info()
        self.assertEqual(set(members_of(info)), {1, 2, 3}, repr(info))
        for m in members_of(info).values():
            self.assertEqual(role_of(m), "voter", repr(info))

        # join through a follower (forwarded to the leader)
        fol = c.followers(nodes=c.nodes[:3])[0]  # n4 knows no leader yet
        r = fol.admin("POST", "/cluster/members", n4.member_doc())
        self.assertIn(r.status, (200, 201), repr(r))
        self.wait_role(4, "standby", timeout=scaled(15.0))
        n4.wait_ready()
        # a standby replicates: it serves what was written before and after
        c.wait_revision(rev, nodes=[n4])
        c.wait_served(before, nodes=[n4])
        after, rev = self.route("standby")
        c.wait_served(after)  # all four
        st = n4.status()
        self.assertNotEqual(st.get("raft_state"), "leader", repr(st))
        # the node registry has its addresses
        m = members_of(c.wait_leader().cluster_info())[4]
        for k in ("admin", "proxy"):
            if k in m:
                self.assertEqual(m[k], n4.member_doc()[k], repr(m))

        # a standby does not vote: with two voters down there is no quorum
        # even though three processes run -- checked cheaply: the leader's
        # configuration still has 3 voters
        voters = [i for i, m in members_of(c.nodes[0].cluster_info()).items()
                  if role_of(m) == "voter"]
        self.assertEqual(sorted(voters), [1, 2, 3])

        # promote
        r = c.wait_leader().admin("POST", "/cluster/members/4/promote")
        self.assertIn(r.status, (200, 201, 204), repr(r))
        self.wait_role(4, "voter")
        promoted, rev = self.route("voter", node=n4)
        c.wait_served(promoted)

        # transfer leadership to the new voter, then back (it can lead)
        r = c.wait_leader().admin("POST", "/cluster/transfer", {"id": 4})
        self.assertIn(r.status, (200, 202, 204), repr(r))
        rgtest.wait_until(lambda: c.leader() and c.leader().id == 4,
                          scaled(10.0), 0.05, "node 4 leads")
        r = n4.admin("POST", "/cluster/transfer", {"id": 1})
        self.assertIn(r.status, (200, 202, 204), repr(r))
        rgtest.wait_until(lambda: c.leader() and c.leader().id == 1,
                          scaled(10.0), 0.05, "node 1 leads again")

        # remove (through the leader)
        r = c.wait_leader().admin("DELETE", "/cluster/members/4")
        self.assertIn(r.status, (200, 204), repr(r))
        self.wait_role(4, None)
        code = n4.stop()
        self.assertEqual(code, 0, n4.log_tail(40))
        last, rev = self.route("removed")
        c.wait_served(last, nodes=c.alive())
        c.wait_revision(rev, nodes=c.alive())
        self.assertEqual(set(members_of(c.nodes[0].cluster_info())),
                         {1, 2, 3})

    def test_remove_unknown_member(self):
        """Removing a node that is not a member answers 404 and changes
        nothing."""
        c = self.cluster
        r = c.wait_leader().admin("DELETE", "/cluster/members/9")
        self.assertEqual(r.status, 404, repr(r))
        self.assertEqual(set(members_of(c.nodes[0].cluster_info())),
                         {1, 2, 3})


if __name__ == "__main__":
    rgtest.main()
