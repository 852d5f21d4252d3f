#!/usr/bin/python3
"""cluster/local-cluster, the launcher the README and the benchmarks use:
start (ephemeral ports) prints a table with one leader, every proxy serves
the seed, status answers, kill/restart a node, stop ends every process by
its recorded PID."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import rgtest
from rgcluster import scaled

SRCDIR = os.environ.get("RAFTGATE_SRCDIR") or os.path.dirname(
    os.path.dirname(rgtest.HERE))
LAUNCHER = os.path.join(SRCDIR, "cluster", "local-cluster")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of ours does not count
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


class LauncherTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rglauncher-")
        self.up = rgtest.Upstream().start()
        self.seed = os.path.join(self.dir, "seed.json")
        rgtest.write_json(self.seed, rgtest.gateway_doc(rgtest.service(
            "echo", self.up.port,
            routes=[rgtest.route("all", ["/"], strip_path=False)])))
        self.cdir = os.path.join(self.dir, "cluster")
        self.started = False

    def tearDown(self):
        try:
            if self.started:
                st = self.state()
                self.run_lc("stop")
                for n in st["nodes"]:
                    if n.get("pid") and pid_alive(n["pid"]):
                        os.kill(n["pid"], 9)
        finally:
            self.up.stop()
            if not os.environ.get("RG_KEEP"):
                shutil.rmtree(self.dir, ignore_errors=True)

    def run_lc(self, *args, check=True):
        p = subprocess.run(
            [sys.executable, LAUNCHER] + list(args) + ["--dir", self.cdir],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=scaled(60.0))
        out = p.stdout.decode("utf-8", "replace")
        if check:
            self.assertEqual(p.returncode, 0, "local-cluster %s:\n%s"
                             % (" ".join(args), out))
        return out

    def state(self):
        with open(os.path.join(self.cdir, "cluster.json")) as f:
            return json.load(f)

    def table_roles(self, out):
        return {int(m.group(1)): m.group(2) for m in re.finditer(
            r"^n(\d+)\s+\S+\s+\S+\s+\S+\s+\S+\s+(\S+)", out, re.M)}

    def test_start_status_kill_restart_stop(self):
        self.started = True
        out = self.run_lc("start", "--base-port", "0", "--raftgate",
                          rgtest.raftgate_bin(), "--seed", self.seed,
                          "--timeout", str(scaled(30.0)))
        roles = self.table_roles(out)
        self.assertEqual(set(roles), {1, 2, 3}, out)
        self.assertEqual(sorted(roles.values()).count("leader"), 1, out)
        st = self.state()
        for n in st["nodes"]:
            self.assertTrue(pid_alive(n["pid"]))
            r = rgtest.request(n["proxy"], "GET", "/echo")
            self.assertEqual(r.status, 200, "n%d: %r" % (n["id"], r))
            with open(n["config"]) as f:
                conf = f.read()
            self.assertIn("voters", conf)
        out = self.run_lc("status")
        self.assertIn("cluster (from n", out)

        victim = [k for k, role in roles.items() if role != "leader"][0]
        pid = st["nodes"][victim - 1]["pid"]
        self.run_lc("kill", str(victim))
        rgtest.wait_until(lambda: not pid_alive(pid), 5.0, 0.02,
                          "killed node to exit")
        self.assertEqual(self.table_roles(self.run_lc("status",
                                                      check=False))
                         .get(victim), "down")
        out = self.run_lc("restart", str(victim))
        self.assertNotEqual(self.table_roles(out).get(victim), "down", out)

        st = self.state()
        pids = [n["pid"] for n in st["nodes"]]
        out = self.run_lc("stop")
        for p in pids:
            self.assertFalse(pid_alive(p), "pid %d still alive" % p)
        self.assertEqual(out.count("stopped"), 3, out)
        self.started = False

    def test_token_restart_and_exit_reported_at_once(self):
        """--admin-token: nodes get admin.token and the launcher polls with
        it (start and restart succeed). Ports come from below the
        ephemeral range (a killed node's port cannot be taken as a source
        port). A restarted node that exits (its admin port taken by
        another listener) ends the wait at once, with its log tail."""
        self.started = True
        timeout = scaled(30.0)
        out = self.run_lc("start", "--base-port", "0", "--raftgate",
                          rgtest.raftgate_bin(), "--seed", self.seed,
                          "--admin-token", "s3cret", "--timeout",
                          str(timeout))
        st = self.state()
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo = int(f.read().split()[0])
        for n in st["nodes"]:
            with open(n["config"]) as f:
                self.assertIn("s3cret", f.read())
            r = rgtest.request(n["admin"], "GET", "/status")
            self.assertEqual(r.status, 401, repr(r))
            for k in ("proxy", "admin", "status", "raft"):
                self.assertLess(n[k], lo, "n%d %s port %d is ephemeral"
                                % (n["id"], k, n[k]))
        roles = self.table_roles(out)
        victim = [k for k, role in roles.items() if role != "leader"][0]
        self.run_lc("kill", str(victim))
        out = self.run_lc("restart", str(victim))
        self.assertNotEqual(self.table_roles(out).get(victim), "down", out)
        out = self.run_lc("status")
        self.assertIn("cluster (from n", out)

        # take the victim's admin port while it is down
        self.run_lc("kill", str(victim))
        n = self.state()["nodes"][victim - 1]
        hold = rgtest.socket.socket()
        hold.setsockopt(rgtest.socket.SOL_SOCKET,
                        rgtest.socket.SO_REUSEADDR, 1)

        def bound():
            # SIGKILL is asynchronous: the dying node may hold it a moment.
            try:
                hold.bind((rgtest.HOST, n["admin"]))
                return True
            except OSError:
                return False
        rgtest.wait_until(bound, 5.0, 0.05, "the victim's admin port")
        hold.listen(1)
        try:
            t0 = time.monotonic()
            out = self.run_lc("restart", str(victim), "--timeout",
                              str(timeout), check=False)
            took = time.monotonic() - t0
        finally:
            hold.close()
        self.assertIn("n%d exited" % victim, out)
        self.assertIn("address already in use", out)
        self.assertLess(took, timeout / 2, out)


if __name__ == "__main__":
    rgtest.main()
