"""Monitoring: after a known sequence of hits, misses, writes and errors through a fresh proxy, GET /metrics and
GET /stats report exactly those counts; /healthz and /readyz answer as documented.

A dedicated proxy instance (in front of moto B, with its own table) keeps the counts free of other tests' traffic.
"""

import re

import botocore.exceptions
import pytest

from e2e_support import BOTO_CONFIG, ProxyProcess, admin_request, stop_process, unique


def S(v):
    return {"S": v}


def metrics(p):
    r = admin_request(p.admin_port, "GET", "/metrics")
    assert r.status == 200, f"GET /metrics: HTTP {r.status}"
    text = r.body.decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.fullmatch(r"([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)", line)
        assert m, f"not Prometheus text: {line!r}"
        values[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return text, values


def stats(p):
    r = admin_request(p.admin_port, "GET", "/stats")
    assert r.status == 200, f"GET /stats: HTTP {r.status}"
    return r.json()


def test_exact_counts_after_a_known_sequence(real_proxy, pair, motos, binary, log_dir):
    p = ProxyProcess(binary, motos[1].url, log_dir, "proxy-monitoring")
    t = unique("monitoring")
    try:
        c = pair.proxy.session.client("dynamodb", endpoint_url=p.data_url, config=BOTO_CONFIG)
        c.create_table(TableName=t, BillingMode="PAY_PER_REQUEST",
                       KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        c.put_item(TableName=t, Item={"pk": S("a"), "v": S("1")})         # write; the key schema is known
        c.get_item(TableName=t, Key={"pk": S("a")})                          # hit (the put stored it)
        c.get_item(TableName=t, Key={"pk": S("a")})                          # hit
        c.get_item(TableName=t, Key={"pk": S("b")})                          # miss (absent, now cached)
        c.get_item(TableName=t, Key={"pk": S("b")})                          # hit
        q = dict(TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("a")})
        c.query(**q)                                                          # query miss
        c.query(**q)                                                          # query hit
        c.scan(TableName=t)                                                   # scan miss
        c.scan(TableName=t)                                                   # scan hit
        c.get_item(TableName=t, Key={"pk": S("a")}, ConsistentRead=True)     # bypass
        with pytest.raises(botocore.exceptions.ClientError) as error:        # a client error (4xx)
            c.put_item(TableName=t, Item={"pk": S("a")}, ConditionExpression="attribute_not_exists(pk)")
        assert error.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
        with pytest.raises(botocore.exceptions.ClientError):                 # 4xx from the server: no such table
            c.get_item(TableName=t + "-missing", Key={"pk": S("a")})

        text, m = metrics(p)
        expected = {
            'dynamocache_requests_total{operation="CreateTable"}': 1,
            'dynamocache_requests_total{operation="PutItem"}': 2,
            'dynamocache_requests_total{operation="GetItem"}': 6,
            'dynamocache_requests_total{operation="Query"}': 2,
            'dynamocache_requests_total{operation="Scan"}': 2,
            'dynamocache_cache_hits_total{cache="item"}': 3,
            'dynamocache_cache_misses_total{cache="item"}': 2,   # b, and the missing table's key
            'dynamocache_cache_hits_total{cache="query"}': 1,
            'dynamocache_cache_misses_total{cache="query"}': 1,
            'dynamocache_cache_hits_total{cache="scan"}': 1,
            'dynamocache_cache_misses_total{cache="scan"}': 1,
            "dynamocache_request_errors_total": 2,
            "dynamocache_request_faults_total": 0,
            "dynamocache_requests_failed_total": 2,
            "dynamocache_requests_throttled_total": 0,
            'dynamocache_invalidations_total{cause="condition_failed"}': 1,
            'dynamocache_invalidations_total{cause="not_found"}': 1,
            'dynamocache_cache_entries{cache="item"}': 1,        # b; a was evicted by the failed condition
            "dynamocache_upstream_ready": 1,
        }
        for key, value in expected.items():
            assert m.get(key) == value, f"{key}: {m.get(key)} != {value}\n{text}"
        # Every answer is in the latency histogram, by operation and outcome.
        assert m['dynamocache_request_duration_seconds_count{operation="GetItem",outcome="hit"}'] == 3
        assert m['dynamocache_request_duration_seconds_count{operation="Query",outcome="miss"}'] == 1
        # Only pairs that occurred have series: 13 answers in a handful of pairs, not 20 operations × 6 outcomes.
        pairs = {k.split("{", 1)[1] for k in m if k.startswith("dynamocache_request_duration_seconds_count")}
        assert 1 < len(pairs) <= 12, pairs
        assert not any('outcome="hit"' in p and "PutItem" in p for p in pairs), pairs
        assert len(text.splitlines()) < 600, f"/metrics has {len(text.splitlines())} lines"
        for pair in pairs:   # cumulative buckets ending in the count
            labels = pair.rstrip("}")
            assert m[f'dynamocache_request_duration_seconds_bucket{{{labels},le="+Inf"}}'] == m[
                f"dynamocache_request_duration_seconds_count{{{pair}"]
        assert m["dynamocache_jemalloc_resident_bytes"] > 0
        assert "# TYPE dynamocache_requests_total counter" in text
        assert "# TYPE dynamocache_request_duration_seconds histogram" in text
        # Labels come from closed sets: no table name or key ever appears.
        assert t not in text and '"a"' not in text

        s = stats(p)
        assert s["requests"]["total"] == 13
        assert s["requests"]["by_outcome"] == {"hit": 5, "miss": 4, "partial": 0, "bypass": 2, "write": 2,
                                               "rejected": 0}
        assert (s["requests"]["errors"], s["requests"]["faults"], s["requests"]["failed"]) == (2, 0, 2)
        item = s["caches"]["item"]
        assert (item["hits"], item["misses"], item["entries"]) == (3, 2, 1)
        assert item["hit_ratio"] == pytest.approx(0.6)
        assert (s["caches"]["query"]["hits"], s["caches"]["query"]["misses"]) == (1, 1)
        assert (s["caches"]["scan"]["hits"], s["caches"]["scan"]["misses"]) == (1, 1)
        assert s["memory"]["allocator"] == "jemalloc" and s["memory"]["resident_bytes"] > 0
        assert_stats_schema(s)
        assert s["connections"] >= 1
        # The sampler has run at least once since start (one sample per second).
        assert isinstance(s["history"], list)

        assert admin_request(p.admin_port, "GET", "/healthz").status == 200
        assert admin_request(p.admin_port, "GET", "/readyz").status == 200
        page = admin_request(p.admin_port, "GET", "/")
        assert page.status == 200 and b"<html" in page.body.lower()
        c.delete_table(TableName=t)
    finally:
        code = stop_process(p.proc)
    assert code == 0, f"exit code {code}; stderr: {p.stderr_tail()}"


def test_readyz_fails_while_the_storage_server_is_unreachable(real_proxy, binary, log_dir):
    from e2e_support import free_port
    p = ProxyProcess(binary, f"http://127.0.0.1:{free_port()}", log_dir, "proxy-unready",
                     extra_args=["--upstream-connect-timeout", "500ms"])
    try:
        import time
        deadline = time.monotonic() + 5
        while admin_request(p.admin_port, "GET", "/readyz").status != 503 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert admin_request(p.admin_port, "GET", "/readyz").status == 503
        assert admin_request(p.admin_port, "GET", "/healthz").status == 200
        _, m = metrics(p)
        assert m["dynamocache_upstream_ready"] == 0
    finally:
        code = stop_process(p.proc)
    assert code == 0


def test_monitoring_files_name_only_metrics_the_proxy_exports(real_proxy, binary, motos, log_dir):
    """ops/monitoring's dashboard and alert rules must query metrics that a real proxy exposes on /metrics: a
    proxy forwarding signatures, and one signing with temporary credentials of its own (the credentials series
    exist only then), served by a stand-in container credentials endpoint."""
    import datetime
    import json
    import os
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from aws_fixtures import proxy_environment

    class Agent(BaseHTTPRequestHandler):
        def do_GET(self):
            expiration = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
            body = json.dumps({"AccessKeyId": "ASIAMONITORING", "SecretAccessKey": "s", "Token": "t",
                               "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ")}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    agent = ThreadingHTTPServer(("127.0.0.1", 0), Agent)
    threading.Thread(target=agent.serve_forever, daemon=True).start()
    ops = os.path.join(os.path.dirname(__file__), "..", "..", "ops", "monitoring")
    exported = set()
    try:
        for name, extra, env in [
            ("proxy-monitoring-files", [], None),
            ("proxy-monitoring-files-sign", ["--upstream-auth", "sign", "--region", "us-east-1"],
             proxy_environment(AWS_CONTAINER_CREDENTIALS_FULL_URI=f"http://127.0.0.1:{agent.server_address[1]}/c")),
        ]:
            p = ProxyProcess(binary, motos[1].url, log_dir, name, extra, env=env)
            try:
                text, _ = metrics(p)
            finally:
                stop_process(p.proc)
            exported |= set(re.findall(r"^# TYPE (\w+) ", text, re.M))
        # The stream series exist per followed table: follow one.
        import boto3
        from aws_fixtures import wait_until
        table = unique("monitoring-stream")
        keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        direct = boto3.client("dynamodb", endpoint_url=motos[1].url, region_name="us-east-1", config=BOTO_CONFIG, **keys)
        direct.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST",
                            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
        p = ProxyProcess(binary, motos[1].url, log_dir, "proxy-monitoring-files-streams",
                         ["--streams", "auto", "--region", "us-east-1"],
                         env=proxy_environment({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}))
        try:
            client = boto3.client("dynamodb", endpoint_url=p.data_url, region_name="us-east-1", config=BOTO_CONFIG,
                                  **keys)
            client.get_item(TableName=table, Key={"pk": {"S": "a"}})
            wait_until(lambda: "dynamocache_stream_since_current_seconds" in metrics(p)[0], 20,
                       "the follower's metrics")
            text, _ = metrics(p)
            stats = json.loads(admin_request(p.admin_port, "GET", "/stats").body)
            assert_stats_schema(stats)
            assert [t["table"] for t in stats["streams"]] == [table], stats["streams"]
        finally:
            stop_process(p.proc)
        exported |= set(re.findall(r"^# TYPE (\w+) ", text, re.M))
    finally:
        agent.shutdown()
    sources = [json.dumps(json.load(open(os.path.join(ops, "grafana-dashboard.json")))),
               open(os.path.join(ops, "alerts.yml")).read()]
    used = {re.sub(r"_(bucket|sum|count)$", "", name)
            for source in sources for name in re.findall(r"\bdynamocache_\w+", source)}
    assert used, "no dynamocache_ metric found in the monitoring files"
    assert used <= exported, f"not exported by the proxy: {sorted(used - exported)}"


def test_stats_command_shows_the_running_proxy(real_proxy, pair, binary, motos, log_dir):
    """`dynamo-cache stats --admin URL` prints the live view; `--json` the /stats document; a dead admin URL fails."""
    import json
    import subprocess

    p = ProxyProcess(binary, motos[1].url, log_dir, "proxy-stats-command")
    t = unique("stats-cmd")
    try:
        c = pair.proxy.session.client("dynamodb", endpoint_url=p.data_url, config=BOTO_CONFIG)
        c.create_table(TableName=t, BillingMode="PAY_PER_REQUEST",
                       KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        c.get_item(TableName=t, Key={"pk": S("x")})   # miss
        c.get_item(TableName=t, Key={"pk": S("x")})   # hit
        admin = f"http://127.0.0.1:{p.admin_port}"
        out = subprocess.run([binary, "stats", "--admin", admin, "--json"], capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, out.stderr
        document = json.loads(out.stdout)
        assert (document["caches"]["item"]["hits"], document["caches"]["item"]["misses"]) == (1, 1)
        out = subprocess.run([binary, "stats", "--admin", admin], capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, out.stderr
        item_line = next(line for line in out.stdout.splitlines() if line.startswith("item "))
        assert "50.0%" in item_line, out.stdout
        assert "latency 1m" in out.stdout and "memory  jemalloc" in out.stdout, out.stdout
        c.delete_table(TableName=t)
    finally:
        stop_process(p.proc)
    from e2e_support import free_port
    dead = subprocess.run([binary, "stats", "--admin", f"http://127.0.0.1:{free_port()}"], capture_output=True,
                          text=True, timeout=20)
    assert dead.returncode != 0 and "cannot read" in dead.stderr


# The /stats document's members (README, "The /stats document"): every one always present, nothing else.
STATS_SCHEMA = {
    "uptime_seconds": None, "connections": None,
    "requests": {"total", "errors", "faults", "failed", "throttled", "by_outcome"},
    "caches": {"item", "query", "scan"},
    "latency_ms_1m": {"p50", "p90", "p99", "max"},
    "memory": {"allocator", "version", "allocated_bytes", "active_bytes", "resident_bytes", "mapped_bytes",
               "retained_bytes"},
    "history": None, "credentials": None, "streams": None,
}
STREAM_MEMBERS = {"table", "state", "serving", "view_type", "shards", "lag_seconds", "since_current_seconds",
                  "records_applied", "own_records", "flushes", "errors", "last_error"}
STORE_MEMBERS = {"hits", "misses", "hit_ratio", "hit_ratio_1m", "entries", "bytes", "capacity_bytes",
                 "memory_utilization", "evictions", "evicted_bytes", "expirations", "invalidations",
                 "discarded_fills", "rejected_too_large"}


def assert_stats_schema(s):
    assert set(s) == set(STATS_SCHEMA), f"/stats members: {sorted(s)}"
    for name, members in STATS_SCHEMA.items():
        if members is not None:
            assert set(s[name]) == members, f"/stats {name}: {sorted(s[name])}"
    assert set(s["caches"]["item"]) == STORE_MEMBERS and set(s["caches"]["query"]) == STORE_MEMBERS
    assert set(s["caches"]["scan"]) == {"hits", "misses", "hit_ratio", "hit_ratio_1m"}
    for second in s["history"]:
        assert set(second) == {"t", "requests", "hits", "misses", "item_hits", "item_misses", "query_hits",
                               "query_misses", "scan_hits", "scan_misses", "p50_ms", "p99_ms",
                               "resident_bytes"}, second
        assert second["hits"] == second["item_hits"] + second["query_hits"] + second["scan_hits"], second
        assert second["misses"] == second["item_misses"] + second["query_misses"] + second["scan_misses"], second
    for table in s["streams"]:
        assert set(table) == STREAM_MEMBERS, table
