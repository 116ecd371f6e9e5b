"""Checks of the proxy itself, with no direct counterpart.

Bad requests it must answer itself (HTTP 400, DynamoDB-style JSON error, connection not dropped; unknown
X-Amz-Target operations are forwarded, see test_raw_wire.test_unknown_target_forwarded),
keep-alive, an unreachable or silent upstream, concurrent clients, and graceful shutdown on SIGTERM.
"""

import http.client
import json
import socket
import threading
import time
import zlib

import pytest

from e2e_support import (IN_BETWEEN, LOOPBACK, ProxyProcess, create_table, free_port, header, raw_post,
                         signed_headers, stop_process, value_of)

pytestmark = pytest.mark.usefixtures("real_proxy")

GET_ITEM = "DynamoDB_20120810.GetItem"
ERROR_TYPES = ("#SerializationException", "#ValidationException")


def S(v):
    return {"S": v}


@pytest.fixture(scope="module")
def table(pair):
    """A small table, created on both sides so that both servers keep the same state."""
    from e2e_support import unique
    t = unique("proxy-only")
    create_table(pair, t)
    pair.ddb("put_item", TableName=t, Item={"pk": S("k"), "v": S("value")})
    return t


def assert_still_serving(pair, table):
    r = pair.proxy.client("dynamodb").get_item(TableName=table, Key={"pk": S("k")})
    assert r["Item"] == {"pk": S("k"), "v": S("value")}


def assert_dynamo_error(resp, status, type_suffixes, what):
    assert resp.status == status, f"{what}: HTTP {resp.status}, body={resp.body[:500]!r}"
    try:
        body = resp.json()
    except ValueError:
        raise AssertionError(f"{what}: error body is not JSON: {resp.body[:500]!r}") from None
    assert isinstance(body, dict), f"{what}: error body is not a JSON object: {body!r}"
    t = body.get("__type", "")
    assert t.endswith(type_suffixes), f"{what}: __type={t!r}, expected one ending in {type_suffixes}"
    msg = body.get("message", body.get("Message"))
    assert isinstance(msg, str) and msg, f"{what}: no message in {body!r}"
    ct = header(resp.headers, "content-type") or ""
    assert "json" in ct, f"{what}: Content-Type {ct!r}"
    crc = header(resp.headers, "x-amz-crc32")
    if crc is not None:
        assert int(crc) == zlib.crc32(resp.body) & 0xFFFFFFFF, f"{what}: wrong x-amz-crc32 {crc}"
    return body


BAD_BODIES = {
    "not-json": b"this is not JSON at all",
    "malformed-json": b'{"TableName": proxy-only, "Key": {"pk": {"S": "k"}}}',
    "truncated-json": b'{"TableName": "t", "Key": {"pk": {"S": "k',
    "json-array": b'[{"TableName": "t", "Key": {"pk": {"S": "k"}}}]',
    "json-string": b'"GetItem"',
    "empty-body": b"",
    "invalid-utf8": b'{"TableName": "\xff\xfe", "Key": {"pk": {"S": "k"}}}',
    "lone-surrogate": b'{"TableName": "t", "Key": {"pk": {"S": "\\ud800"}}}',
    "nested-100k": b'{"TableName": "t", "Key": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "trailing-garbage": b'{"TableName": "t", "Key": {"pk": {"S": "k"}}} trailing',
    "two-objects": b'{"TableName": "t"}{"TableName": "t"}',
}


@pytest.mark.parametrize("kind", sorted(BAD_BODIES))
def test_bad_body_answered_400(pair, real_proxy, table, kind):
    resp = raw_post(real_proxy.data_port, BAD_BODIES[kind], GET_ITEM, timeout=15)
    assert resp.elapsed < 10, f"{kind}: took {resp.elapsed:.1f}s"
    assert_dynamo_error(resp, 400, ERROR_TYPES, kind)
    assert_still_serving(pair, table)


def test_body_over_16mb_answered_400(pair, real_proxy, table):
    filler = "x" * (16 * 1024 * 1024 + 4096)
    body = json.dumps({"TableName": table, "Key": {"pk": S(filler)}}).encode()
    resp = raw_post(real_proxy.data_port, body, GET_ITEM, timeout=60)
    assert resp.elapsed < 30, f"took {resp.elapsed:.1f}s"
    assert_dynamo_error(resp, 400, ERROR_TYPES, f"{len(body)}-byte body (send: {resp.send_error or 'complete'})")
    assert_still_serving(pair, table)


def test_keep_alive(pair, real_proxy, table):
    host = f"{LOOPBACK}:{real_proxy.data_port}"
    conn = http.client.HTTPConnection(LOOPBACK, real_proxy.data_port, timeout=15)
    conn.auto_open = 0  # never silently reconnect: a closed connection must show up as an error
    plan = [
        ("GetItem", {"TableName": table, "Key": {"pk": S("k")}}, 200),
        ("GetItem", {"TableName": table, "Key": {"pk": S("k")}}, 200),
        ("GetItem", {"TableName": table + "-missing", "Key": {"pk": S("k")}}, 400),  # upstream error
        ("GetItem", {"TableName": table, "Key": {"pk": S("absent")}}, 200),
        ("DescribeTable", {"TableName": table}, 200),
        ("GetItem", {"TableName": table, "Key": {"pk": S("k")}, "ConsistentRead": True}, 200),
    ]
    try:
        conn.connect()
        local = conn.sock.getsockname()
        for i, (op, payload, status) in enumerate(plan):
            body = json.dumps(payload).encode()
            h = signed_headers(host, body, f"DynamoDB_20120810.{op}")
            conn.request("POST", "/", body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            assert r.status == status, f"request {i} ({op}): HTTP {r.status} {data[:300]!r}"
            assert (r.getheader("Connection") or "").lower() != "close", f"request {i}: proxy asked to close"
            if op == "GetItem" and status == 200 and payload["Key"]["pk"] == S("k"):
                assert json.loads(data)["Item"]["v"] == S("value")
            assert conn.sock is not None and conn.sock.getsockname() == local, f"request {i}: connection was closed"
    finally:
        conn.close()


def test_concurrent_clients(pair, real_proxy, table):
    for i in range(5):
        pair.ddb("put_item", TableName=table, Item={"pk": S(f"c{i}"), "v": S(f"v{i}")})
    errors = []

    def worker(n):
        try:
            c = pair.proxy.session.client("dynamodb", endpoint_url=pair.proxy.endpoint,
                                          config=pair.proxy.client("dynamodb").meta.config)
            for j in range(20):
                k = (n + j) % 5
                r = c.get_item(TableName=table, Key={"pk": S(f"c{k}")})
                if r.get("Item", {}).get("v") != S(f"v{k}"):
                    errors.append(f"thread {n} read {j}: {r.get('Item')}")
        except Exception as e:  # noqa: BLE001
            errors.append(f"thread {n}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "concurrent readers hung"
    assert not errors, errors[:5]


def test_cache_header_values(pair, real_proxy, table):
    """x-dynamo-cache, when present: a known value; strong reads and writes are never cache hits."""
    d = pair.proxy.client("dynamodb")
    seen = {}
    calls = [
        ("get", lambda: d.get_item(TableName=table, Key={"pk": S("k")})),
        ("get", lambda: d.get_item(TableName=table, Key={"pk": S("k")})),
        ("consistent", lambda: d.get_item(TableName=table, Key={"pk": S("k")}, ConsistentRead=True)),
        ("write", lambda: d.put_item(TableName=table, Item={"pk": S("hdr"), "v": S("1")})),
        ("write", lambda: d.update_item(TableName=table, Key={"pk": S("hdr")}, UpdateExpression="SET v = :v",
                                        ExpressionAttributeValues={":v": S("2")})),
    ]
    for kind, fn in calls:
        r = fn()
        v = r["ResponseMetadata"]["HTTPHeaders"].get("x-dynamo-cache")
        seen.setdefault(kind, []).append(v)
        assert v in (None, "hit", "miss", "partial", "bypass", "write"), f"{kind}: x-dynamo-cache={v!r}"
    assert "hit" not in seen["consistent"], seen
    assert "hit" not in seen["write"], seen
    # keep both sides in the same state
    pair.direct.client("dynamodb").put_item(TableName=table, Item={"pk": S("hdr"), "v": S("2")})


# ---------------------------------------------------------------------------
# Extra proxy instances with a broken or slow upstream
# ---------------------------------------------------------------------------

def get_item_body(table="t"):
    return json.dumps({"TableName": table, "Key": {"pk": S("k")}}).encode()


def test_dead_upstream_answers_503(binary, log_dir):
    dead = free_port()  # nothing listens there
    p = ProxyProcess(binary, f"http://{LOOPBACK}:{dead}", log_dir, "proxy-dead-upstream",
                     extra_args=["--upstream-connect-timeout", "1s"])
    try:
        for _ in range(2):
            resp = raw_post(p.data_port, get_item_body(), GET_ITEM, timeout=20)
            assert resp.elapsed < 6, f"took {resp.elapsed:.1f}s"
            body = assert_dynamo_error(resp, 503, ("ServiceUnavailable", "ServiceUnavailableException"),
                                       "dead upstream")
            assert "__type" in body
    finally:
        code = stop_process(p.proc)
    assert code == 0, f"exit code {code}; stderr: {p.stderr_tail()}"


class HoldingServer:
    """A scripted upstream. Reads each request, then answers after `delay` seconds (None: never).

    respond(target, body) -> (delay, response body) overrides `delay` and the answer `{}` per request.
    """

    def __init__(self, delay, respond=None):
        self.delay = delay
        self.respond = respond
        self.sock = socket.socket()
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests = []          # (target, time received)
        self.got_request = threading.Event()
        self.stopping = threading.Event()
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(10)
        try:
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = c.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, rest = buf.split(b"\r\n\r\n", 1)
            headers = {}
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                headers[k.strip().lower()] = v.strip()
            n = int(headers.get(b"content-length", b"0"))
            while len(rest) < n:
                chunk = c.recv(65536)
                if not chunk:
                    break
                rest += chunk
            target = headers.get(b"x-amz-target", b"").decode()
            self.requests.append((target, time.monotonic()))
            self.got_request.set()
            delay, body = self.delay, b"{}"
            if self.respond is not None:
                delay, body = self.respond(target, rest[:n])
            if delay is None:
                self.stopping.wait(30)
                return
            time.sleep(delay)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
                      b"x-amz-crc32: " + str(zlib.crc32(body)).encode() + b"\r\n"
                      b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.stopping.set()
        self.sock.close()
        self.thread.join(5)


def test_silent_upstream_answers_500(binary, log_dir):
    up = HoldingServer(delay=None)
    p = ProxyProcess(binary, f"http://{LOOPBACK}:{up.port}", log_dir, "proxy-silent-upstream",
                     extra_args=["--upstream-connect-timeout", "1s", "--upstream-timeout", "1s"])
    try:
        resp = raw_post(p.data_port, get_item_body(), GET_ITEM, timeout=30)
        assert up.got_request.is_set(), "the request never reached the upstream"
        assert resp.elapsed < 8, f"took {resp.elapsed:.1f}s with --upstream-timeout 1s"
        assert_dynamo_error(resp, 500, ("InternalServerError",), "silent upstream")
    finally:
        code = stop_process(p.proc)
        up.close()
    assert code == 0, f"exit code {code}; stderr: {p.stderr_tail()}"


def test_sigterm_lets_in_flight_request_finish(binary, log_dir):
    up = HoldingServer(delay=1.0)
    p = ProxyProcess(binary, f"http://{LOOPBACK}:{up.port}", log_dir, "proxy-graceful",
                     extra_args=["--upstream-timeout", "10s"])
    result = {}

    def client():
        try:
            result["resp"] = raw_post(p.data_port, get_item_body(), GET_ITEM, timeout=20)
        except Exception as e:  # noqa: BLE001
            result["error"] = f"{type(e).__name__}: {e}"

    t = threading.Thread(target=client, daemon=True)
    try:
        t.start()
        assert up.got_request.wait(10), "the request never reached the upstream"
        t_sig = time.monotonic()
        p.proc.terminate()  # SIGTERM while the upstream is still holding the answer
        t.join(20)
        assert not t.is_alive(), "in-flight request hung after SIGTERM"
        assert "error" not in result, f"in-flight request failed after SIGTERM: {result['error']}"
        resp = result["resp"]
        assert resp.status == 200 and resp.json() == {}, f"HTTP {resp.status} {resp.body[:300]!r}"
        code = p.proc.wait(timeout=10)
        took = time.monotonic() - t_sig
        assert code == 0, f"exit code {code} after SIGTERM; stderr: {p.stderr_tail()}"
        assert took < 6, f"exited {took:.1f}s after SIGTERM"
    finally:
        stop_process(p.proc)
        up.close()


def test_read_racing_a_write_does_not_leave_a_stale_entry(binary, log_dir):
    """GetItem #1 reads the old value upstream but is answered late; a PutItem completes meanwhile.
    GetItem #2 (after both) must show the new value: the late old answer must not stay cached."""
    state = {"v": "old"}
    lock = threading.Lock()
    first_get = threading.Event()

    def respond(target, body):
        with lock:
            if target.endswith(".PutItem"):
                state["v"] = json.loads(body)["Item"]["v"]["S"]
                return 0, b"{}"
            if target.endswith(".GetItem"):
                item = json.dumps({"Item": {"pk": S("k"), "v": S(state["v"])}}).encode()
                if not first_get.is_set():
                    first_get.set()
                    return 1.5, item  # snapshot taken now, delivered late
                return 0, item
            return 0, b"{}"

    up = HoldingServer(delay=0, respond=respond)
    p = ProxyProcess(binary, f"http://{LOOPBACK}:{up.port}", log_dir, "proxy-race",
                     extra_args=["--upstream-timeout", "10s"])
    try:
        got = {}
        t = threading.Thread(target=lambda: got.setdefault("r", raw_post(p.data_port, get_item_body(), GET_ITEM)),
                             daemon=True)
        t.start()
        assert first_get.wait(10), "GetItem #1 never reached the upstream"
        put = json.dumps({"TableName": "t", "Item": {"pk": S("k"), "v": S("new")}}).encode()
        r = raw_post(p.data_port, put, "DynamoDB_20120810.PutItem")
        assert r.status == 200, r.body
        t.join(15)
        assert got["r"].json()["Item"]["v"] == S("old")  # the late answer itself is legitimately old
        for i in range(3):
            r = raw_post(p.data_port, get_item_body(), GET_ITEM)
            assert r.status == 200 and r.json()["Item"]["v"] == S("new"), (
                f"GetItem #{i + 2} after the PutItem answered {r.body!r} "
                f"(x-dynamo-cache={header(r.headers, 'x-dynamo-cache')})")
    finally:
        code = stop_process(p.proc)
        up.close()
    assert code == 0, f"exit code {code}; stderr: {p.stderr_tail()}"


def test_pipelined_requests(pair, real_proxy, table):
    """Three requests written back to back on one connection before reading any answer."""
    host = f"{LOOPBACK}:{real_proxy.data_port}"
    wire = b""
    for key in ("k", "absent", "k"):
        body = json.dumps({"TableName": table, "Key": {"pk": S(key)}}).encode()
        h = {"Host": host, **signed_headers(host, body, GET_ITEM), "Content-Length": str(len(body))}
        wire += b"POST / HTTP/1.1\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in h.items()) + b"\r\n" + body
    with socket.create_connection((LOOPBACK, real_proxy.data_port), timeout=15) as sock:
        sock.sendall(wire)
        f = sock.makefile("rb")
        answers = []
        for i in range(3):
            status_line = f.readline(65536)
            assert status_line.startswith(b"HTTP/1.1 "), f"answer {i}: status line {status_line!r}"
            headers = {}
            while True:
                line = f.readline(65536)
                assert line, f"answer {i}: connection closed inside the headers"
                if line in (b"\r\n", b"\n"):
                    break
                k, _, v = line.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            assert "content-length" in headers, f"answer {i}: no Content-Length in {headers}"
            data = f.read(int(headers["content-length"]))
            answers.append((int(status_line.split()[1]), json.loads(data)))
    assert [a[0] for a in answers] == [200, 200, 200], answers
    assert answers[0][1]["Item"]["v"] == S("value")
    assert answers[1][1] == {}
    assert answers[2][1]["Item"]["v"] == S("value")


def test_chunked_request_body(pair, real_proxy, table):
    """HTTP/1.1 clients may send the body chunked instead of with a Content-Length."""
    host = f"{LOOPBACK}:{real_proxy.data_port}"
    body = json.dumps({"TableName": table, "Key": {"pk": S("k")}}).encode()
    h = signed_headers(host, body, GET_ITEM)
    conn = http.client.HTTPConnection(LOOPBACK, real_proxy.data_port, timeout=15)
    try:
        conn.request("POST", "/", body=iter([body[:10], body[10:]]), headers=h, encode_chunked=True)
        r = conn.getresponse()
        data = r.read()
        assert r.status == 200, f"HTTP {r.status} {data[:300]!r}"
        assert json.loads(data)["Item"]["v"] == S("value")
    finally:
        conn.close()


# Randomised coherence check: 4 boto3 clients through the proxy (-> moto B) mix writes and reads of 5 hot keys.
COHERENCE_SEED = 20240611
COHERENCE_SECONDS = 8.0
COHERENCE_MAX_OPS = 600          # per client; the run stops at whichever bound comes first
COHERENCE_KEYS = [f"h{i}" for i in range(5)]


def _coherence_client(pair, n, table, t_end, log, errors):
    import random
    rng = random.Random(COHERENCE_SEED * 10 + n)
    c = pair.proxy.session.client("dynamodb", endpoint_url=pair.proxy.endpoint,
                                  config=pair.proxy.client("dynamodb").meta.config)
    counter = 0
    try:
        for _ in range(COHERENCE_MAX_OPS):
            if time.monotonic() >= t_end:
                return
            op = rng.choices(["put", "update", "delete", "get", "batch", "batch_put", "transact_put", "partiql_delete"],
                             weights=[3, 3, 1, 6, 3, 1, 1, 1])[0]
            key = rng.choice(COHERENCE_KEYS)
            counter += 1
            value = f"c{n}-{counter:05d}"  # unique, increasing per writer
            start = time.monotonic()
            if op == "put":
                c.put_item(TableName=table, Item={"pk": S(key), "v": S(value)})
                log.append(("write", key, value, start, time.monotonic(), None))
            elif op == "update":
                c.update_item(TableName=table, Key={"pk": S(key)}, UpdateExpression="SET v = :n",
                              ExpressionAttributeValues={":n": S(value)})
                log.append(("write", key, value, start, time.monotonic(), None))
            elif op == "delete":
                c.delete_item(TableName=table, Key={"pk": S(key)})
                log.append(("write", key, None, start, time.monotonic(), None))
            elif op == "batch_put":
                r = c.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {"pk": S(key), "v": S(value)}}}]})
                assert not r.get("UnprocessedItems"), r.get("UnprocessedItems")
                log.append(("write", key, value, start, time.monotonic(), None))
            elif op == "transact_put":
                c.transact_write_items(TransactItems=[{"Put": {"TableName": table,
                                                               "Item": {"pk": S(key), "v": S(value)}}}])
                log.append(("write", key, value, start, time.monotonic(), None))
            elif op == "partiql_delete":  # PartiQL writes drop the table's entries instead of updating them
                # (literal key: moto crashes on some parameterised PartiQL writes, see test_errors)
                c.execute_statement(Statement=f'DELETE FROM "{table}" WHERE pk = \'{key}\'')
                log.append(("write", key, None, start, time.monotonic(), None))
            elif op == "get":
                r = c.get_item(TableName=table, Key={"pk": S(key)})
                end = time.monotonic()
                got = value_of(r["Item"]) if "Item" in r else None
                if got is not IN_BETWEEN:
                    log.append(("read", key, got, start, end,
                                r["ResponseMetadata"]["HTTPHeaders"].get("x-dynamo-cache")))
            else:
                keys = rng.sample(COHERENCE_KEYS, rng.choice([2, 3]))
                r = c.batch_get_item(RequestItems={table: {"Keys": [{"pk": S(k)} for k in keys]}})
                end = time.monotonic()
                assert not r.get("UnprocessedKeys"), r.get("UnprocessedKeys")
                found = {i["pk"]["S"]: value_of(i) for i in r["Responses"].get(table, [])}
                cache = r["ResponseMetadata"]["HTTPHeaders"].get("x-dynamo-cache")
                for k in keys:
                    if found.get(k) is not IN_BETWEEN:
                        log.append(("read", k, found.get(k), start, end, cache))
    except Exception as e:  # noqa: BLE001
        errors.append(f"client {n}: {type(e).__name__}: {e}")


def coherence_violations(log):
    """Reads that returned a value older than a write acknowledged before the read started.

    A read of key k (start rs, end re) returning x is correct iff some write w of k with value x (the
    initial put included) satisfies: w started before the read ended (no value from the future), and no
    other write w2 of k started after w was acknowledged and was itself acknowledged before rs (w is not
    superseded by a write that wholly happened between w and the read). This is the brief's rule ("not older
    than the newest write acknowledged before the read started") in its exact form: writes that overlap in
    time may be applied in either order, so the one acknowledged last is not necessarily the newest.
    """
    writes: dict[str, list] = {}
    for kind, key, value, start, end, _ in log:
        if kind == "write":
            writes.setdefault(key, []).append((start, end, value))
    bad = []
    for kind, key, value, rs, re, cache in log:
        if kind != "read":
            continue
        ok = False
        for ws, we, wv in writes.get(key, []):
            if wv != value or ws >= re:
                continue
            if not any(s2 > we and e2 < rs for s2, e2, _ in writes[key]):
                ok = True
                break
        if not ok:
            acked = [w for w in writes.get(key, []) if w[1] < rs]
            newest = max(acked, key=lambda w: w[1]) if acked else None
            where = f"{newest[2]!r} [{newest[0]:.4f}, {newest[1]:.4f}]" if newest else "none"
            bad.append(f"read of {key} [{rs:.4f}, {re:.4f}] (x-dynamo-cache {cache}) returned {value!r}; "
                       f"newest write acknowledged before it started: {where}")
    return bad


def test_concurrent_random_coherence(pair, real_proxy, capsys):
    """4 concurrent clients, fixed-seed random PutItem / UpdateItem / DeleteItem / GetItem / BatchGetItem (and a
    few BatchWriteItem and TransactWriteItems puts and PartiQL deletes) over 5 hot keys for ~8 s (or
    COHERENCE_MAX_OPS each): no read may return a value older than a write acknowledged before it started.
    (This strengthens the former per-client read-your-writes check: a client's own acknowledged write is one
    such write.) Through the proxy only; the two sides' items differ here, so the table is deleted after."""
    from e2e_support import unique
    t = unique("proxy-coherence")
    create_table(pair, t)
    log = []
    c = pair.proxy.client("dynamodb")
    for k in COHERENCE_KEYS:
        start = time.monotonic()
        c.put_item(TableName=t, Item={"pk": S(k), "v": S("init")})
        log.append(("write", k, "init", start, time.monotonic(), None))
    errors = []
    t_end = time.monotonic() + COHERENCE_SECONDS
    threads = [threading.Thread(target=_coherence_client, args=(pair, n, t, t_end, log, errors), daemon=True)
               for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(COHERENCE_SECONDS + 60)
    try:
        assert not any(th.is_alive() for th in threads), "clients hung"
        assert not errors, errors[:5]
        # Quiescent: the proxy's answer for every key is the server's current one.
        for k in COHERENCE_KEYS:
            cached = c.get_item(TableName=t, Key={"pk": S(k)}).get("Item")
            strong = c.get_item(TableName=t, Key={"pk": S(k)}, ConsistentRead=True).get("Item")
            assert cached == strong, f"{k}: after the run the proxy answers {cached}, the server has {strong}"
        reads = [e for e in log if e[0] == "read"]
        counts = {}
        for e in reads:
            counts[e[5]] = counts.get(e[5], 0) + 1
        with capsys.disabled():
            print(f"\ncoherence: {len(log) - len(reads)} writes, {len(reads)} key reads; x-dynamo-cache of reads: "
                  + ", ".join(f"{k}={v}" for k, v in sorted(counts.items(), key=str)))
        bad = coherence_violations(log)
        assert not bad, f"{len(bad)} stale read(s) of {len(reads)}:\n" + "\n".join(bad[:10])
        assert len(reads) > 100 and counts.get("hit", 0) > 0, f"too little exercised: {counts}"
    finally:
        for side in (pair.direct, pair.proxy):
            side.client("dynamodb").delete_table(TableName=t)


def test_admin_healthz(real_proxy):
    conn = http.client.HTTPConnection(LOOPBACK, real_proxy.admin_port, timeout=10)
    try:
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, f"GET /healthz on the admin listener: HTTP {r.status} {body[:300]!r}"
    finally:
        conn.close()
