"""Cluster harness for raftgate's integration tests, on top of rgtest.py
(Python 3 standard library only).

- ClusterNode: an rgtest.Gateway with a node id, a Raft listen port, a data
  dir and the initial voters (or raft.join), readiness from the admin API's
  GET /status (docs/fault-injection.md §4.2 item 1) instead of the proxy port alone;
- Cluster: N nodes on loopback ephemeral ports sharing one declarative seed;
  start, find the leader, wait for convergence (every node applied a
  revision, every proxy serves a path), write with the not-proposed retry
  rule, SIGKILL/restart nodes, stop by PID and report non-zero exits;
- ClusterTestCase: a unittest base with one upstream and a fresh cluster per
  test (SHARED = True: one per class), failing a test when a node that should
  be running died.

Raft timing defaults to docs/fault-injection.md §4.2 (election 1000 ms, heartbeat 100 ms);
RG_ELECTION_TIMEOUT / RG_HEARTBEAT_TIMEOUT override it. Every wait has a
deadline (scaled by RG_TIME_SCALE, 3 under ASan). RG_KEEP=1 keeps the temp
dirs, RG_VERBOSE=1 prints log tails.

Every cluster gets a generated cluster key (raft.cluster_key_file, 32
random bytes, mode 600) shared by its nodes; Cluster(key=False) runs
without one, and new_node(key=...) gives a node another key file or none.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

import rgtest
from rgtest import HOST, Upstream, free_port, gateway_doc, route, service

__all__ = ["Cluster", "ClusterNode", "ClusterTestCase", "scaled",
           "gateway_doc", "route", "service"]


def time_scale():
    s = os.environ.get("RG_TIME_SCALE")
    if s:
        return float(s)
    try:
        return 3.0 if rgtest.sanitized_binary() else 1.0
    except RuntimeError:
        return 1.0


def scaled(seconds):
    """A deadline in seconds, stretched for slow (sanitizer) builds."""
    return seconds * time_scale()


ELECTION = os.environ.get("RG_ELECTION_TIMEOUT", "1000ms")
HEARTBEAT = os.environ.get("RG_HEARTBEAT_TIMEOUT", "100ms")

# Outcome headers (issue3.md, docs/fault-injection.md §4.2 item 2)
REV = "X-Raftgate-Revision"
OUTCOME = "X-Raftgate-Outcome"


def revision_of(r):
    """The X-Raftgate-Revision of a response as an int, or None."""
    v = r.header(REV)
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


def not_proposed(r):
    """503 with X-Raftgate-Outcome: not-proposed: certainly not applied, a
    client may retry (docs/fault-injection.md §4.2 item 2)."""
    return r.status == 503 and (r.header(OUTCOME) or "").lower() == \
        "not-proposed"


class ClusterNode(rgtest.Gateway):
    """One raftgate process of a cluster. `voters` is a list of (id,
    "host:port"); with join=True the node starts with raft.join and no
    voters and waits to be added through POST /cluster/members."""

    def __init__(self, node_id, workdir, seed, voters=None, join=False,
                 node=None, key_file=None):
        os.makedirs(workdir, exist_ok=True)
        super().__init__(gateway=seed, workdir=workdir)
        self.id = node_id
        self.raft_port = free_port()
        self.join = join
        self.expect_alive = False  # set while the test wants it running
        self.admin_ssl = None  # an ssl.SSLContext: the admin API is https
        self.node["node"] = {"id": node_id, "name": "n%d" % node_id}
        self.node["raft"] = {
            "listen": self.raft_addr,
            "data_dir": "data",
            "election_timeout": ELECTION,
            "heartbeat_timeout": HEARTBEAT,
        }
        if key_file:
            self.node["raft"]["cluster_key_file"] = key_file
        if join:
            self.node["raft"]["join"] = True
        elif voters is not None:
            self.set_voters(voters)
        if node:
            rgtest.deep_update(self.node, node)

    def __repr__(self):
        return "<node %d pid %s>" % (self.id, self.proc.pid if self.proc
                                     else None)

    @property
    def raft_addr(self):
        return "%s:%d" % (HOST, self.raft_port)

    @property
    def admin_addr(self):
        return "%s:%d" % (HOST, self.admin_port)

    @property
    def proxy_addr(self):
        return "%s:%d" % (HOST, self.port)

    @property
    def data_dir(self):
        return os.path.join(self.dir, "data")

    def set_voters(self, voters):
        self.node["raft"]["voters"] = [{"id": i, "address": a}
                                       for i, a in voters]

    def member_doc(self):
        """The body of POST /cluster/members that adds this node."""
        return {"id": self.id, "name": "n%d" % self.id,
                "raft": self.raft_addr, "admin": self.admin_addr,
                "proxy": self.proxy_addr}

    # -- process ---------------------------------------------------------
    def start(self, wait=True, timeout=None):
        self.expect_alive = True
        return super().start(wait, scaled(timeout or 15.0))

    def wait_ready(self, timeout=None):
        """Poll GET /status on the admin API until ready is true (failing
        early if the process exits)."""
        def ready():
            if not self.alive():
                raise RuntimeError("node %d exited with %s during start:\n%s"
                                   % (self.id, self.proc.returncode,
                                      self.log_tail()))
            st = self.status()
            return st is not None and st.get("ready") is True
        rgtest.wait_until(ready, timeout or scaled(15.0), 0.05,
                          "node %d: GET /status ready" % self.id)

    def wait_admin(self, timeout=None):
        """Wait until the admin port accepts (a joining node is not ready
        before it is added)."""
        def up():
            if not self.alive():
                raise RuntimeError("node %d exited with %s:\n%s"
                                   % (self.id, self.proc.returncode,
                                      self.log_tail()))
            return rgtest.port_open(self.admin_port, timeout=0.2)
        rgtest.wait_until(up, timeout or scaled(15.0), 0.02,
                          "node %d admin port" % self.id)

    def kill(self):
        """SIGKILL (process group), as a crash."""
        self.expect_alive = False
        super().kill()

    def stop(self, sig=signal.SIGTERM, timeout=None):
        self.expect_alive = False
        return super().stop(sig, timeout or scaled(15.0))

    # -- admin API -------------------------------------------------------
    def admin(self, method, path, body=None, headers=None, timeout=None):
        """One admin API request; a dict/list body is sent as JSON.
        Returns an rgtest.Response (.json(), .header())."""
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        return rgtest.request(self.admin_port, method, path, hdrs, body,
                              timeout or scaled(10.0),
                              ssl_context=self.admin_ssl)

    def status(self, timeout=2.0):
        """GET /status as a dict, or None when the node does not answer."""
        try:
            r = self.admin("GET", "/status", timeout=timeout)
            if r.status != 200:
                return None
            return r.json()
        except (OSError, ValueError, rgtest.http.client.HTTPException):
            return None

    def cluster_info(self, timeout=2.0):
        """GET /cluster as a dict, or None."""
        try:
            r = self.admin("GET", "/cluster", timeout=timeout)
            return r.json() if r.status == 200 else None
        except (OSError, ValueError, rgtest.http.client.HTTPException):
            return None

    def proxy(self, path, method="GET", headers=None, body=None,
              timeout=None):
        """One request through this node's proxy, on a fresh connection."""
        return rgtest.request(self.port, method, path, headers, body,
                              timeout or scaled(10.0))

    def serves(self, path, status=200):
        try:
            return self.proxy(path, timeout=2.0).status == status
        except OSError:
            return False


def members_of(info):
    """Normalise GET /cluster to {id: member dict with a "role" string}."""
    out = {}
    if not info:
        return out
    members = info.get("members", [])
    if isinstance(members, dict):
        members = [dict(v, id=int(k)) for k, v in members.items()]
    for m in members:
        out[int(m["id"])] = m
    return out


def leader_of(info):
    """The leader id in GET /cluster (an id or an object with an id)."""
    if not info:
        return None
    lead = info.get("leader", info.get("leader_id"))
    if isinstance(lead, dict):
        lead = lead.get("id")
    return int(lead) if lead else None


MAKE_KEY = os.path.join(os.environ.get("RAFTGATE_SRCDIR") or
                        os.path.dirname(os.path.dirname(rgtest.HERE)),
                        "cluster", "make-cluster-key")


def make_key_file(path):
    """A new cluster key at @path (which must not exist yet: an existing
    file is kept) made by cluster/make-cluster-key, as local-cluster and
    the Jepsen harness make theirs: 32 random bytes, mode 600. Returns
    @path."""
    subprocess.run([sys.executable, MAKE_KEY, path], check=True)
    return path


class Cluster:
    """N raftgate nodes on loopback sharing one seed declarative config
    and (unless key=False) one generated cluster key file."""

    def __init__(self, n=3, seed=None, node=None, workdir=None, key=True):
        self.dir = workdir or tempfile.mkdtemp(prefix="rgcluster-")
        self.seed = seed if seed is not None else gateway_doc()
        self.node_overrides = node or {}
        self.key_file = (make_key_file(os.path.join(self.dir, "cluster.key"))
                         if key else None)
        self.nodes = []
        for i in range(1, n + 1):
            self.nodes.append(ClusterNode(
                i, os.path.join(self.dir, "n%d" % i), self.seed,
                node=self.node_overrides, key_file=self.key_file))
        voters = [(nd.id, nd.raft_addr) for nd in self.nodes]
        for nd in self.nodes:
            nd.set_voters(voters)

    # -- membership of the harness --------------------------------------
    def node(self, node_id):
        for nd in self.nodes:
            if nd.id == node_id:
                return nd
        raise KeyError(node_id)

    def alive(self):
        return [nd for nd in self.nodes if nd.expect_alive]

    def new_node(self, node_id=None, join=True, node=None, key=None):
        """A node that joins the running cluster (not started). key: None
        = the cluster's key file, False = no key, a path = that file."""
        node_id = node_id or max(nd.id for nd in self.nodes) + 1
        over = dict(self.node_overrides)
        rgtest.deep_update(over, node or {})
        key_file = self.key_file if key is None else (key or None)
        nd = ClusterNode(node_id, os.path.join(self.dir, "n%d" % node_id),
                         self.seed, join=join, node=over, key_file=key_file)
        self.nodes.append(nd)
        return nd

    # -- lifecycle -------------------------------------------------------
    def start(self, timeout=None):
        """Start every node, then wait for one leader that all agree on
        and every node ready. Returns the leader."""
        for nd in self.nodes:
            nd.start(wait=False)
        for nd in self.nodes:
            nd.wait_ready(timeout or scaled(20.0))
        lead = self.wait_leader(timeout=timeout)
        if self.seed.get("services") or self.seed.get("routes"):
            # ready means "a leader is known"; the seed is proposed by the
            # first leader right after: wait until every node applied it
            self.wait_revision(1, timeout=timeout)
        return lead

    def stop(self):
        """SIGTERM every running node; returns a list of problems (non-zero
        exits with their log tails)."""
        problems = []
        # one SIGTERM each, all at once (a second SIGTERM late in the
        # shutdown may find the default action again: not a fair test)
        for nd in self.nodes:
            if nd.proc is not None and nd.proc.poll() is None:
                nd.send_signal(signal.SIGTERM)
        for nd in self.nodes:
            if nd.proc is None:
                continue
            was_expected = nd.expect_alive
            nd.expect_alive = False
            try:
                code = nd.wait_exit(scaled(15.0))
            except rgtest.subprocess.TimeoutExpired:
                nd.kill()
                problems.append("node %d did not exit within %.0fs of "
                                "SIGTERM:\n%s" % (nd.id, scaled(15.0),
                                                   nd.log_tail(40)))
                continue
            finally:
                nd._close()
            if was_expected and code != 0:
                problems.append("node %d exited with %s on SIGTERM:\n%s"
                                % (nd.id, code, nd.log_tail(60)))
        return problems

    def cleanup(self):
        for nd in self.nodes:
            nd.kill()
        if not os.environ.get("RG_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        elif os.environ.get("RG_VERBOSE"):
            print("kept", self.dir)

    def kill_all(self):
        for nd in self.nodes:
            if nd.alive():
                os.killpg(nd.pid, signal.SIGKILL)
        for nd in self.nodes:
            nd.kill()

    def restart(self, nd, wait=True):
        """Start a stopped/killed node again on the same dir and ports."""
        if nd.alive():
            raise RuntimeError("node %d is running" % nd.id)
        nd.start(wait=False)
        if wait:
            nd.wait_ready()
        return nd

    # -- leadership ------------------------------------------------------
    def statuses(self, nodes=None):
        return {nd.id: nd.status() for nd in (nodes or self.alive())}

    def leader(self, nodes=None):
        """The node that is leader and that every other running node names
        as leader, or None."""
        nodes = nodes or self.alive()
        sts = self.statuses(nodes)
        leaders = [i for i, st in sts.items()
                   if st and st.get("raft_state") == "leader"]
        if len(leaders) != 1:
            return None
        lid = leaders[0]
        for i, st in sts.items():
            if not st or st.get("leader_id") != lid:
                return None
        return self.node(lid)

    def wait_leader(self, timeout=None, nodes=None, not_id=None):
        def pred():
            nd = self.leader(nodes)
            if nd is not None and nd.id != not_id:
                return nd
            return None
        try:
            return rgtest.wait_until(pred, timeout or scaled(15.0), 0.05,
                                     "an agreed leader")
        except TimeoutError as e:
            raise TimeoutError("%s; statuses: %s" % (e, self.statuses(nodes)))

    def followers(self, nodes=None):
        lead = self.wait_leader(nodes=nodes)
        return [nd for nd in (nodes or self.alive()) if nd is not lead]

    # -- convergence -----------------------------------------------------
    def wait_revision(self, revision, nodes=None, timeout=None):
        """Wait until every node's GET /status config_version >= revision."""
        nodes = nodes or self.alive()

        def pred():
            for nd in nodes:
                st = nd.status()
                if not st or int(st.get("config_version") or 0) < revision:
                    return False
            return True
        try:
            rgtest.wait_until(pred, timeout or scaled(10.0), 0.02,
                              "revision %d on nodes %s"
                              % (revision, [n.id for n in nodes]))
        except TimeoutError as e:
            raise TimeoutError("%s; statuses: %s"
                               % (e, self.statuses(nodes)))

    def wait_served(self, path, status=200, nodes=None, timeout=None):
        """Wait until every node's proxy answers `path` with `status`;
        returns the seconds it took."""
        nodes = nodes or self.alive()
        t0 = time.monotonic()
        pending = list(nodes)

        def pred():
            pending[:] = [nd for nd in pending if not nd.serves(path,
                                                                status)]
            return not pending
        try:
            rgtest.wait_until(pred, timeout or scaled(5.0), 0.01,
                              "%s -> %d on every proxy" % (path, status))
        except TimeoutError as e:
            raise TimeoutError("%s; still not on nodes %s"
                               % (e, [n.id for n in pending]))
        return time.monotonic() - t0

    def same_hash(self, nodes=None):
        """The config_hash when every node reports the same one, else
        None."""
        hashes = set()
        for nd in nodes or self.alive():
            st = nd.status()
            if not st:
                return None
            hashes.add(str(st.get("config_hash")))
        return hashes.pop() if len(hashes) == 1 else None

    # -- writes ----------------------------------------------------------
    def write(self, method, path, body=None, node=None, headers=None,
              timeout=None):
        """An admin write on `node` (default: the leader), retried while the
        answer is 503 not-proposed (no leader yet) until the deadline, with
        one X-Request-Id for every attempt. Returns the last response."""
        hdrs = dict(headers or {})
        hdrs.setdefault("X-Request-Id", str(uuid.uuid4()))
        end = time.monotonic() + (timeout or scaled(15.0))
        while True:
            nd = node or self.leader() or self.alive()[0]
            try:
                r = nd.admin(method, path, body, hdrs)
            except OSError:
                if node is not None or time.monotonic() >= end:
                    raise
                time.sleep(0.05)
                continue
            if not not_proposed(r) or time.monotonic() >= end:
                return r
            time.sleep(0.05)


def add_service_with_route(cluster, name, upstream_port, path, node=None):
    """POST a service and a route under it; returns (revision, responses)."""
    r1 = cluster.write("POST", "/services",
                       {"name": name, "protocol": "http", "host": HOST,
                        "port": upstream_port}, node=node)
    if r1.status != 201:
        raise AssertionError("POST /services %s: %r" % (name, r1))
    r2 = cluster.write("POST", "/services/%s/routes" % name,
                       {"name": name + "-route", "paths": [path],
                        "strip_path": False}, node=node)
    if r2.status != 201:
        raise AssertionError("POST /services/%s/routes: %r" % (name, r2))
    return revision_of(r2), (r1, r2)


class ClusterTestCase(unittest.TestCase):
    """One upstream per class; a fresh cluster per test, or one per class
    with SHARED = True. The seed routes /seed to the upstream."""

    N = 3
    SHARED = False
    NODE = {}
    cluster = None
    up = None

    @classmethod
    def seed(cls, up):
        return gateway_doc(service("seed", up.port, routes=[
            route("seed", ["/seed"], strip_path=False)]))

    @classmethod
    def make_cluster(cls):
        return Cluster(cls.N, cls.seed(cls.up), cls.NODE)

    @classmethod
    def setUpClass(cls):
        cls.up = Upstream().start()
        if cls.SHARED:
            cls.cluster = cls.make_cluster()
            try:
                cls.cluster.start()
            except BaseException:
                cls.cluster.cleanup()
                cls.up.stop()
                raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.SHARED and cls.cluster is not None:
                problems = cls.cluster.stop()
                if problems:
                    raise AssertionError("\n".join(problems))
        finally:
            if cls.SHARED and cls.cluster is not None:
                cls.cluster.cleanup()
            cls.up.stop()

    def setUp(self):
        if not self.SHARED:
            self.cluster = self.make_cluster()
            try:
                self.cluster.start()
            except BaseException:
                self.cluster.cleanup()
                raise

    def tearDown(self):
        c = self.cluster
        dead = [nd for nd in c.nodes if nd.expect_alive and not nd.alive()]
        try:
            if dead:
                self.fail("node(s) died during the test:\n" + "\n".join(
                    "node %d exit %s:\n%s" % (nd.id, nd.proc.returncode,
                                              nd.log_tail(40))
                    for nd in dead))
            if not self.SHARED:
                problems = c.stop()
                if problems:
                    self.fail("\n".join(problems))
        finally:
            if not self.SHARED:
                c.cleanup()

    # -- helpers ---------------------------------------------------------
    def assertWrite(self, r, status=(200, 201, 204), what="write"):
        if isinstance(status, int):
            status = (status,)
        self.assertIn(r.status, status, "%s: %r" % (what, r))
        rev = revision_of(r)
        self.assertIsNotNone(rev, "%s: no %s header: %r" % (what, REV, r))
        return rev


class Hammer:
    """Threads that send proxied GETs to nodes' proxies in a loop on
    keep-alive connections (reconnecting when closed) and record every
    failure (status != want, or a connection error)."""

    def __init__(self, nodes, path, want=200, threads_per_node=1):
        self.targets = [nd for nd in nodes for _ in range(threads_per_node)]
        self.path = path
        self.want = want
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failures = []
        self.threads = []

    def _run(self, nd):
        conn = None
        while not self.stop_ev.is_set():
            try:
                if conn is None:
                    conn = rgtest.http.client.HTTPConnection(
                        HOST, nd.port, timeout=scaled(5.0))
                r = rgtest.http_request(conn, "GET", self.path)
                if r.status != self.want:
                    with self.lock:
                        self.failures.append((nd.id, time.monotonic(),
                                              repr(r)))
                else:
                    with self.lock:
                        self.ok += 1
                if (r.header("connection") or "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, rgtest.http.client.HTTPException) as e:
                with self.lock:
                    self.failures.append((nd.id, time.monotonic(), repr(e)))
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def __enter__(self):
        for nd in self.targets:
            t = threading.Thread(target=self._run, args=(nd,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        for t in self.threads:
            t.join(scaled(10.0))
