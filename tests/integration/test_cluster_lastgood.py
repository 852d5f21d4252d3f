#!/usr/bin/python3
"""A cluster node that restarts alone (no quorum: it cannot replay its log)
serves the config it served before, from the last good config kept in its
data dir, instead of nothing: routes written before the restart answer
from the upstream, not 404."""

import unittest
import uuid

import rgcluster
import rgtest
from rgcluster import ClusterTestCase, scaled


class LastGoodTest(ClusterTestCase):
    SHARED = False

    def test_lone_restart_serves_last_config(self):
        """Write a route, stop every node, start one alone: its proxy
        serves the route at once (200 from the upstream) although no
        leader can be elected, and an unknown path is still 404."""
        c = self.cluster
        name = "lg-" + uuid.uuid4().hex[:8]
        rev, _ = rgcluster.add_service_with_route(
            c, name, self.up.port, "/" + name)
        c.wait_revision(rev)
        c.wait_served("/" + name + "/echo")
        c.kill_all()
        lone = c.nodes[2]
        c.restart(lone, wait=False)
        lone.wait_admin()
        rgtest.wait_until(
            lambda: lone.serves("/" + name + "/echo"),
            scaled(5.0), 0.05, "the lone node serving its last config")
        self.assertEqual(lone.proxy("/nowhere-" + name).status, 404)
        self.assertNotEqual(lone.status().get("raft_state"), "leader")


if __name__ == "__main__":
    unittest.main()
