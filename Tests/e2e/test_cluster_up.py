"""ops/cluster-up.sh: moto_server, three nodes with --streams auto and HAProxy in front of them, on free ports.

Through the load balancer: the AWS CLI creates a table with a stream, boto3 writes and reads; a write straight
to moto_server must then be returned by every node (HAProxy names the node that answered in
X-Dynamo-Cache-Node). The script must stop everything it started on SIGTERM, and by itself after
CLUSTER_UP_SECONDS.

HAProxy is required when $CI is set; elsewhere these tests skip without it (ops/install-deps.sh installs it).
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time

import boto3
import pytest

from aws_fixtures import wait_until
from e2e_support import BOTO_CONFIG, LOOPBACK, REGION, admin_request, free_port, unique

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(REPO_ROOT, "ops", "cluster-up.sh")
NODES = 3


def S(v):
    return {"S": v}


@pytest.fixture(scope="module")
def cluster_binary(binary):
    if os.environ.get("DYNAMO_CACHE_E2E_DIRECT_ONLY") == "1":
        pytest.skip("DYNAMO_CACHE_E2E_DIRECT_ONLY=1: cluster-up.sh needs the real dynamo-cache binary")
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.fail(f"dynamo-cache binary not found or not executable: {binary} (set DYNAMO_CACHE_BIN)",
                    pytrace=False)
    if shutil.which("haproxy") is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but haproxy is not on PATH: ops/install-deps.sh installs it", pytrace=False)
        pytest.skip("haproxy is not on PATH (ops/install-deps.sh, or apt-get install haproxy)")
    return binary


def listening(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


class Cluster:
    """ops/cluster-up.sh on free ports; waits for its ready line."""

    def __init__(self, binary: str, log_dir: str, seconds: int, ready_timeout: float = 120.0):
        self.lb, self.moto = free_port(), free_port()
        self.nodes = [free_port() for _ in range(NODES)]
        self.admins = [free_port() for _ in range(NODES)]
        self.ports = [self.lb, self.moto, *self.nodes, *self.admins]
        env = {k: v for k, v in os.environ.items() if not k.startswith("DYNAMO_CACHE_")}
        env.update(LB_PORT=str(self.lb), MOTO_PORT=str(self.moto), NODE_PORTS=" ".join(map(str, self.nodes)),
                   ADMIN_PORTS=" ".join(map(str, self.admins)), DYNAMO_CACHE_BIN=binary,
                   CLUSTER_UP_SECONDS=str(seconds), CLUSTER_LOG_DIR=log_dir)
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        self.proc = subprocess.Popen([SCRIPT], cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + ready_timeout
        while True:
            try:
                line = self._q.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if line is None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"cluster-up.sh: no ready line (exit code {self.proc.poll()}); output:\n"
                                     + "".join(self.lines))
            if line.startswith("cluster-up ready: "):
                assert f"lb=http://{LOOPBACK}:{self.lb}" in line, line
                return

    def _read(self):
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace")
            self.lines.append(line)
            self._q.put(line)
        self._q.put(None)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.lb}"

    def output(self) -> str:
        return "".join(self.lines)

    def kill(self):
        """Whatever a failed test left running: the script's whole process group."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(30)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)

    def assert_all_stopped(self, timeout: float = 15.0):
        wait_until(lambda: not any(listening(p) for p in self.ports), timeout,
                   f"every port of the cluster to close; output:\n{self.output()}", interval=0.2)


@pytest.fixture
def start_cluster(cluster_binary, tmp_path):
    started: list[Cluster] = []

    def start(seconds: int) -> Cluster:
        c = Cluster(cluster_binary, str(tmp_path / f"cluster{len(started)}"), seconds)
        started.append(c)
        return c

    yield start
    for c in started:
        c.kill()


def client(url: str, seen: dict):
    c = boto3.session.Session(region_name=REGION).client("dynamodb", endpoint_url=url, config=BOTO_CONFIG)

    def capture(http_response, **_):
        seen["cache"] = http_response.headers.get("x-dynamo-cache")
        seen["node"] = http_response.headers.get("x-dynamo-cache-node")

    c.meta.events.register("after-call", capture)
    return c


def test_cluster_up_every_node_follows_a_direct_write(start_cluster):
    cluster = start_cluster(180)   # bounded: stops by itself even if this test cannot stop it
    table = unique("cluster-up")
    # The example of the script's own message: the AWS CLI through the load balancer.
    r = subprocess.run(["aws", "dynamodb", "create-table", "--endpoint-url", cluster.url, "--table-name", table,
                        "--attribute-definitions", "AttributeName=id,AttributeType=S",
                        "--key-schema", "AttributeName=id,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST",
                        "--stream-specification", "StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES"],
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, f"aws dynamodb create-table: {r.returncode} {r.stderr}"

    seen: dict = {}
    lb = client(cluster.url, seen)
    moto = client(f"http://{LOOPBACK}:{cluster.moto}", {})
    key = {"id": S("u1")}
    lb.put_item(TableName=table, Item={**key, "v": S("one")})
    assert seen["cache"] == "write" and seen["node"] in {f"node{i + 1}" for i in range(NODES)}, seen

    def all_nodes_answer(value: str, *, hits: bool, since: dict):
        """Reads through the load balancer until every node has answered `value` (as a hit, if `hits`);
        `since` collects each node's first such answer. A node that answered it must not go back."""
        def done():
            item = lb.get_item(TableName=table, Key=key).get("Item")
            node, cache = seen["node"], seen["cache"]
            if node in since:
                assert item and item["v"] == S(value), f"{node} answered {value!r}, then {item} ({cache})"
            elif item and item["v"] == S(value) and (cache == "hit" or not hits):
                since[node] = time.monotonic()
            return len(since) == NODES or None

        return done

    warm: dict = {}
    wait_until(all_nodes_answer("one", hits=True, since=warm), 60,
               "every node answering the item from memory", interval=0.05)
    t0 = time.monotonic()
    moto.put_item(TableName=table, Item={**key, "v": S("two")})       # straight to the storage server
    fresh: dict = {}
    wait_until(all_nodes_answer("two", hits=False, since=fresh), 20,
               f"every node returning the direct write (so far: {fresh})", interval=0.02)
    latency = {n: round(t - t0, 3) for n, t in sorted(fresh.items())}
    print(f"\ncluster-up: each node first returned the direct write after {latency} s")

    for admin in cluster.admins:
        body = admin_request(admin, "GET", "/stats").json()
        st = next((s for s in body.get("streams") or [] if s["table"] == table), None)
        assert st and st["state"] == "following" and st["serving"] is True, f"admin {admin}: {st}"

    os.kill(cluster.proc.pid, signal.SIGTERM)
    try:
        code = cluster.proc.wait(40)
    except subprocess.TimeoutExpired:
        raise AssertionError("cluster-up.sh did not stop within 40 s of SIGTERM:\n" + cluster.output()) from None
    assert code == 143, f"exit code {code} after SIGTERM:\n{cluster.output()}"
    cluster.assert_all_stopped()


def test_cluster_up_stops_by_itself(start_cluster):
    cluster = start_cluster(3)
    try:
        code = cluster.proc.wait(60)
    except subprocess.TimeoutExpired:
        raise AssertionError("CLUSTER_UP_SECONDS=3 did not stop cluster-up.sh within 60 s:\n"
                             + cluster.output()) from None
    assert code == 0, f"exit code {code}:\n{cluster.output()}"
    assert "3s are up; stopping" in cluster.output()
    cluster.assert_all_stopped()
