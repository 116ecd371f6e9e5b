"""Helpers for the DynamoCache end-to-end differential suite.

Everything here is bounded in time and bound to 127.0.0.1.

The core idea: every scenario issues the same call against moto_server A
(directly) and against the proxy in front of moto_server B.  Both servers start
empty and receive the same sequence of calls, so their answers must match,
apart from the few volatile fields named in VOLATILE_KEYS below.
"""

from __future__ import annotations

import copy
import datetime
import http.client
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = "us-east-1"
FAKE_KEY = "testing"
FAKE_SECRET = "testing"
LOOPBACK = "127.0.0.1"

# One attempt per call: an error must be seen exactly as the server sent it,
# never hidden behind a retry. (`max_attempts` in botocore's retry config counts
# *retries*; `total_max_attempts` counts the initial attempt too, so 1 == no retry.)
BOTO_CONFIG = Config(
    retries={"total_max_attempts": 1, "mode": "standard"},
    connect_timeout=5,
    read_timeout=30,
    s3={"addressing_style": "path"},
)

# --------------------------------------------------------------------------
# Volatile fields.  Each is replaced by a placeholder that keeps its presence
# and JSON type, so a missing or re-typed field is still a difference.
# --------------------------------------------------------------------------
VOLATILE_KEYS: dict[str, str] = {
    "CreationDateTime": "wall-clock time of CreateTable on each server",
    "CreationRequestDateTime": "stream creation wall-clock time (DescribeStream)",
    "LatestStreamLabel": "stream label is the ISO timestamp of stream creation",
    "LatestStreamArn": "ARN ends with the stream label (a timestamp)",
    "StreamLabel": "ISO timestamp of stream creation",
    "StreamArn": "ARN ends with the stream label (a timestamp)",
    "ApproximateCreationDateTime": "wall-clock time of the stream record",
    "eventID": "random UUID per stream record",
    "ShardIterator": "opaque token, encrypted per server and embeds the stream ARN",
    "NextShardIterator": "opaque token, encrypted per server and embeds the stream ARN",
    "LastIncreaseDateTime": "wall-clock time of the last throughput change",
    "LastDecreaseDateTime": "wall-clock time of the last throughput change",
    "LastUpdateToPayPerRequestDateTime": "wall-clock time of the billing-mode change",
    "TableId": "random UUID per table",
    "SizeBytes": "stream record size; moto derives it from the serialised record, timestamp digits included",
}
# Top-level key that is not part of the wire body at all (boto3 adds it).
BOTO_ONLY_KEYS = {"ResponseMetadata": "request id, HTTP headers and retry count (per request)"}

PLACEHOLDER = {str: "<str>", int: 0, float: 0.0, bool: False}


def normalise(value: Any) -> Any:
    """Deep copy of a parsed JSON (or boto3) value with volatile fields masked."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in BOTO_ONLY_KEYS:
                continue
            if k in VOLATILE_KEYS:
                out[k] = f"<volatile {k}: {type(v).__name__}>"
            else:
                out[k] = normalise(v)
        return out
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def header(headers: Any, name: str) -> str | None:
    for k, v in dict(headers).items():
        if k.lower() == name.lower():
            return v
    return None


# --------------------------------------------------------------------------
# Processes and ports
# --------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> int | None:
    """SIGTERM, wait, then SIGKILL. Returns the exit code (None if it had to be killed)."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
        return None


def moto_server_cmd(port: int, repo_root: str) -> list[str]:
    return [os.path.join(repo_root, "ops", "moto-server.sh"), str(port)]


class MotoServer:
    def __init__(self, repo_root: str, log_dir: str, name: str):
        self.name = name
        self.log_path = os.path.join(log_dir, f"{name}.log")
        last_err: Exception | None = None
        for _ in range(3):  # a freshly probed port can be taken by someone else: retry
            self.port = free_port()
            self._log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                moto_server_cmd(self.port, repo_root),
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                wait_for_port(self.port, self.proc, 30, f"moto_server {name}")
                self.url = f"http://{LOOPBACK}:{self.port}"
                return
            except Exception as e:  # noqa: BLE001
                last_err = e
                self.stop()
        raise RuntimeError(f"could not start moto_server {name}: {last_err}; log: {self.log_path}")

    def stop(self) -> None:
        try:
            stop_process(self.proc)
        finally:
            self._log.close()


class ProxyExited(RuntimeError):
    """The proxy process ended before its ready line: its exit code and stderr log."""

    def __init__(self, returncode: int, log_path: str, message: str):
        super().__init__(message)
        self.returncode = returncode
        self.log_path = log_path


READY_RE = re.compile(
    r"^dynamo-cache ready: data=(https?://127\.0\.0\.1:(\d+)) admin=(https?://127\.0\.0\.1:(\d+))$")


class ProxyProcess:
    """A dynamo-cache serve process; waits for its single ready line on stdout."""

    def __init__(self, binary: str, upstream: str | None, log_dir: str, name: str,
                 extra_args: list[str] | None = None, ready_timeout: float = 30.0,
                 env: dict[str, str] | None = None):
        """upstream None: no --upstream (e.g. --region gives it); env: the whole environment (default: this
        process's, without DYNAMO_CACHE_* settings)."""
        self.name = name
        self.log_path = os.path.join(log_dir, f"{name}.stderr.log")
        self.stdout_lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.argv = [binary, "serve", "--listen", f"{LOOPBACK}:0", "--admin-listen", f"{LOOPBACK}:0",
                     *(["--upstream", upstream] if upstream else []), *(extra_args or [])]
        self._log = open(self.log_path, "ab")
        # Only the command line configures it: drop DYNAMO_CACHE_* settings from the environment.
        if env is None:
            env = {k: v for k, v in os.environ.items() if not k.startswith("DYNAMO_CACHE_")}
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._log, start_new_session=True, env=env)
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + ready_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise RuntimeError(f"{name}: no ready line within {ready_timeout}s "
                                   f"(stdout so far: {self.stdout_lines!r}; stderr: {self.stderr_tail()})")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                code = self.proc.wait(timeout=5)
                self.returncode = code
                tail = self.stderr_tail()
                self._log.close()
                raise ProxyExited(code, self.log_path, f"{name}: exited (code {code}) before printing the ready line; "
                                  f"argv={self.argv}; stdout={self.stdout_lines!r}; stderr: {tail}")

            m = READY_RE.match(line.rstrip("\n"))
            if not m:
                self.stop()
                raise RuntimeError(f"{name}: first stdout line is not the ready line: {line!r}")
            self.data_url, self.data_port = m.group(1), int(m.group(2))
            self.admin_url, self.admin_port = m.group(3), int(m.group(4))
            return

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace")
            self.stdout_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def stderr_tail(self, n: int = 1500) -> str:
        """Head and tail of the stderr log (a crash message is at the head of a long backtrace)."""
        if not self._log.closed:
            self._log.flush()
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except OSError:
            return "<no log>"
        text = data.decode("utf-8", "replace")
        if len(text) <= 2 * n:
            return text
        return f"{text[:n]}\n[... {len(text) - 2 * n} chars ...]\n{text[-n:]}"

    def stop(self, timeout: float = 10.0) -> int | None:
        try:
            return stop_process(self.proc, timeout)
        finally:
            self._log.close()


# --------------------------------------------------------------------------
# Raw capture of every boto3 call
# --------------------------------------------------------------------------

@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Outcome:
    """What one side answered to one call."""
    side: str
    op: str
    raw: Raw | None
    parsed: Any = None                 # boto3 result (None on error)
    error: ClientError | None = None
    exc: Exception | None = None       # a non-ClientError exception (connection error...)

    @property
    def code(self) -> str | None:
        return self.error.response["Error"]["Code"] if self.error else None


# (side, x-dynamo-cache value) -> count, for the end-of-run summary.
CACHE_HEADER_COUNTS: dict[tuple[str, str | None], int] = {}
CACHE_HEADER_VALUES = ("hit", "miss", "partial", "bypass", "write")
# x-dynamo-cache values of an answer served (wholly or partly: BatchGetItem) from the proxy's memory.
CACHE_ANSWERED = ("hit", "partial")


# --------------------------------------------------------------------------
# Comparison rules for answers served from the cache.  Each is narrow and says why.
# --------------------------------------------------------------------------

def without_consumed_capacity(body: Any) -> Any:
    """Rule (ConsumedCapacity on cache answers): a cache hit consumes no capacity, so the proxy reports
    CapacityUnits 0.0 (by design); and moto adds ConsumedCapacity to every BatchGetItem answer
    even when it was not asked for (real DynamoDB does not). So when the proxy answered `hit` or `partial`,
    ConsumedCapacity (present or absent, and its units) is left out of the comparison; check_cached_capacity
    checks the proxy's own one instead."""
    if isinstance(body, dict) and "ConsumedCapacity" in body:
        return {k: v for k, v in body.items() if k != "ConsumedCapacity"}
    return body


def check_cached_capacity(request: dict | None, body: Any) -> list[str]:
    """The proxy's ConsumedCapacity on a cache answer: well formed, naming the request's table(s), when the
    caller asked for it (TOTAL or INDEXES); absent when it did not (as DynamoDB does)."""
    if not isinstance(request, dict) or not isinstance(body, dict):
        return []
    got = body.get("ConsumedCapacity")
    if request.get("ReturnConsumedCapacity") not in ("TOTAL", "INDEXES"):
        return [] if got is None else [f"proxy: ConsumedCapacity {got!r} on a cache answer nobody asked for"]
    if "RequestItems" in request:  # BatchGetItem: one element per table of the request
        tables, elements = sorted(request["RequestItems"]), got
        if not isinstance(elements, list):
            return [f"proxy: BatchGetItem ConsumedCapacity is not a list: {got!r}"]
    else:
        tables, elements = [request.get("TableName")], [got]
    problems = []
    for e in elements:
        units = e.get("CapacityUnits") if isinstance(e, dict) else None
        if not isinstance(units, (int, float)) or isinstance(units, bool) or units < 0:
            problems.append(f"proxy: ConsumedCapacity element without non-negative CapacityUnits: {e!r}")
    names = sorted(e.get("TableName") for e in elements if isinstance(e, dict))
    if names != tables:
        problems.append(f"proxy: ConsumedCapacity names tables {names}, the request named {tables}")
    return problems


def sorted_batch_responses(body: Any) -> Any:
    """Rule (BatchGetItem order): DynamoDB does not order the items of a table in BatchGetItem's Responses
    (and the proxy lists the ones from memory first), so each table's list is compared as a multiset.
    Only the BatchGetItem shape (Responses is an object of lists) is touched."""
    if isinstance(body, dict) and isinstance(body.get("Responses"), dict):
        resp = {t: sorted(items, key=lambda i: json.dumps(i, sort_keys=True, default=str))
                if isinstance(items, list) else items for t, items in body["Responses"].items()}
        return {**body, "Responses": resp}
    return body


def sorted_sets(value: Any) -> Any:
    """Rule (set order): SS, NS and BS are sets; DynamoDB keeps no order for them, and moto's order changes
    between a full read and a projected read of one item. Their elements are compared sorted."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in ("SS", "NS", "BS") and isinstance(v, list) and len(value) == 1:
                out[k] = sorted(v, key=lambda e: json.dumps(e, sort_keys=True, default=str))
            else:
                out[k] = sorted_sets(v)
        return out
    if isinstance(value, list):
        return [sorted_sets(v) for v in value]
    return value


def comparable(body: Any, cached: bool) -> Any:
    body = sorted_batch_responses(sorted_sets(body))  # sets first: batch items are then ordered by their sorted form
    return without_consumed_capacity(body) if cached else body


class Side:
    def __init__(self, name: str, endpoint: str, access_key: str = FAKE_KEY):
        self.name = name
        self.endpoint = endpoint
        self._clients: dict[str, Any] = {}
        self.session = boto3.session.Session(
            aws_access_key_id=access_key, aws_secret_access_key=FAKE_SECRET, region_name=REGION)
        self.last_raw: Raw | None = None

    def _capture(self, http_response, **_kw) -> None:
        self.last_raw = Raw(http_response.status_code, dict(http_response.headers), http_response.content)
        v = header(self.last_raw.headers, "x-dynamo-cache")
        CACHE_HEADER_COUNTS[(self.name, v)] = CACHE_HEADER_COUNTS.get((self.name, v), 0) + 1

    def client(self, service: str):
        c = self._clients.get(service)
        if c is None:
            c = self.session.client(service, endpoint_url=self.endpoint, config=BOTO_CONFIG)
            c.meta.events.register("after-call", self._capture)
            self._clients[service] = c
        return c

    def call(self, service: str, op: str, kwargs: dict) -> Outcome:
        self.last_raw = None
        try:
            parsed = getattr(self.client(service), op)(**kwargs)
            return Outcome(self.name, op, self.last_raw, parsed=parsed)
        except ClientError as e:
            return Outcome(self.name, op, self.last_raw, error=e)
        except Exception as e:  # noqa: BLE001 - reported as a difference, not swallowed
            return Outcome(self.name, op, self.last_raw, exc=e)


@dataclass
class PerSide:
    """A call argument whose value differs per side (e.g. a shard iterator)."""
    direct: Any
    proxy: Any


def _resolve(value: Any, side: str) -> Any:
    if isinstance(value, PerSide):
        return value.direct if side == "direct" else value.proxy
    if isinstance(value, dict):
        return {k: _resolve(v, side) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, side) for v in value]
    return value


def _fmt_body(raw: Raw | None, limit: int = 1500) -> str:
    if raw is None:
        return "<no HTTP response>"
    b = raw.body
    s = b[:limit].decode("utf-8", "replace")
    return f"HTTP {raw.status} {header(raw.headers, 'content-type')} body={s}{'...' if len(b) > limit else ''}"


class DifferenceError(AssertionError):
    pass


def json_diff(a: Any, b: Any, path: str = "$", labels: tuple[str, str] = ("direct", "proxy")) -> list[str]:
    """Human-readable list of differences between two JSON values (first 20)."""
    out: list[str] = []
    la, lb = labels

    def walk(x, y, p):
        if len(out) >= 20:
            return
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                if k not in y:
                    out.append(f"{p}.{k}: only in {la} ({json.dumps(x[k], default=str)[:200]})")
                elif k not in x:
                    out.append(f"{p}.{k}: only in {lb} ({json.dumps(y[k], default=str)[:200]})")
                else:
                    walk(x[k], y[k], f"{p}.{k}")
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                out.append(f"{p}: list length {len(x)} ({la}) != {len(y)} ({lb})")
            for i, (u, v) in enumerate(zip(x, y)):
                walk(u, v, f"{p}[{i}]")
        elif x != y or type(x) is not type(y):
            out.append(f"{p}: {la}={json.dumps(x, default=str)[:300]} {lb}={json.dumps(y, default=str)[:300]}")

    walk(a, b, path)
    return out


def check_crc32(raw: Raw, side: str) -> list[str]:
    v = header(raw.headers, "x-amz-crc32")
    if v is None:
        return []
    actual = zlib.crc32(raw.body) & 0xFFFFFFFF
    if not v.isdigit() or int(v) != actual:
        return [f"{side}: x-amz-crc32 header {v!r} != crc32(body) {actual}"]
    return []


def compare_raw(a: Raw | None, b: Raw | None, what: str, *, json_body: bool = True,
                body_normaliser: Callable[[bytes], bytes] | None = None,
                extra_headers: tuple[str, ...] = (), request: dict | None = None) -> None:
    """request: the (proxy side's) request body, for the rules on cache answers above."""
    problems: list[str] = []
    if a is None or b is None:
        raise DifferenceError(f"{what}: missing HTTP response: direct={a is not None} proxy={b is not None}")
    if a.status != b.status:
        problems.append(f"status: direct={a.status} proxy={b.status}")
    for h in ("content-type", *extra_headers):
        ha, hb = header(a.headers, h), header(b.headers, h)
        if ha != hb:
            problems.append(f"header {h}: direct={ha!r} proxy={hb!r}")
    ca, cb = header(a.headers, "x-amz-crc32"), header(b.headers, "x-amz-crc32")
    if (ca is None) != (cb is None):
        problems.append(f"x-amz-crc32 presence: direct={ca!r} proxy={cb!r}")
    problems += check_crc32(a, "direct") + check_crc32(b, "proxy")
    xc = header(b.headers, "x-dynamo-cache")
    if xc is not None and xc not in CACHE_HEADER_VALUES:
        problems.append(f"proxy: x-dynamo-cache {xc!r} not one of {CACHE_HEADER_VALUES}")
    cached = xc in CACHE_ANSWERED
    if json_body:
        try:
            ja, jb = a.json(), b.json()
        except ValueError as e:
            problems.append(f"body is not JSON: {e}")
        else:
            problems += json_diff(normalise(comparable(ja, cached)), normalise(comparable(jb, cached)))
            if cached and b.status == 200:
                problems += check_cached_capacity(request, jb)
    else:
        ba, bb = a.body, b.body
        if body_normaliser:
            ba, bb = body_normaliser(ba), body_normaliser(bb)
        if ba != bb:
            problems.append("raw body differs")
    if problems:
        raise DifferenceError(f"{what}: direct and proxy differ:\n  - " + "\n  - ".join(problems)
                              + f"\n  direct: {_fmt_body(a)}\n  proxy:  {_fmt_body(b)}")


def _jsonable(v: Any) -> Any:
    """boto3 results hold datetimes, bytes and Decimals; make them comparable JSON-ish values."""
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set)):
        return [_jsonable(x) for x in v]
    if isinstance(v, datetime.datetime):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray)):
        return {"<bytes>": bytes(v).hex()}
    if hasattr(v, "read"):  # StreamingBody
        return "<stream>"
    return v


class Pair:
    """The two sides of every differential call."""

    def __init__(self, direct_url: str, proxy_url: str, proxy_is_real: bool, access_key: str = FAKE_KEY):
        self.direct = Side("direct", direct_url, access_key)
        self.proxy = Side("proxy", proxy_url, access_key)
        self.proxy_is_real = proxy_is_real
        # Differences found during the current test. Recorded and the scenario goes on (using the direct
        # side's answers), so one run lists every difference; the test then fails with all of them.
        self.differences: list[str] = []

    def with_key(self, access_key: str) -> "Pair":
        """The same two endpoints, signed with another access key id (another cache namespace on the proxy).
        Its differences are recorded in this pair's list, so the test fails with them too."""
        other = Pair(self.direct.endpoint, self.proxy.endpoint, self.proxy_is_real, access_key)
        other.differences = self.differences
        return other

    def call(self, service: str, op: str, *, expect_error: str | None = None,
             json_body: bool = True, body_normaliser: Callable[[bytes], bytes] | None = None,
             extra_headers: tuple[str, ...] = (), expect_cache: str | None = None,
             **kwargs) -> tuple[Outcome, Outcome]:
        """Run one call on both sides, compare everything, return both outcomes.

        expect_error: the error code both sides must answer (None: both must succeed).
        expect_cache: the x-dynamo-cache value the proxy must answer (checked only with the real proxy).
        """
        a = self.direct.call(service, op, _resolve(kwargs, "direct"))
        b = self.proxy.call(service, op, _resolve(kwargs, "proxy"))
        what = f"{service}.{op}({_short(kwargs)})"
        try:
            self._compare(a, b, what, json_body, body_normaliser, extra_headers, _resolve(kwargs, "proxy"))
        except DifferenceError as e:
            self.differences.append(str(e))
        self._check_cache_header(b, expect_cache, what)
        if a.exc is not None:
            raise AssertionError(f"{what}: direct side raised {type(a.exc).__name__}: {a.exc}")
        # The test's own expectation, checked on the direct side (the reference).
        if expect_error is None and a.error is not None:
            raise AssertionError(f"{what}: expected success, direct answered {a.code}: "
                                 f"{a.error.response['Error'].get('Message')}")
        if expect_error is not None and a.code != expect_error:
            raise AssertionError(f"{what}: expected {expect_error}, direct answered {a.code or 'success'}")
        return a, b

    def _check_cache_header(self, b: Outcome, expect_cache: str | None, what: str) -> None:
        if expect_cache is None or not self.proxy_is_real:
            return
        got = header(b.raw.headers, "x-dynamo-cache") if b.raw is not None else "<no HTTP response>"
        if got != expect_cache:
            self.differences.append(f"{what}: x-dynamo-cache: expected {expect_cache!r}, proxy answered {got!r}\n"
                                    f"  proxy:  {_fmt_body(b.raw)}")

    def _compare(self, a: Outcome, b: Outcome, what: str, json_body: bool,
                 body_normaliser: Callable[[bytes], bytes] | None, extra_headers: tuple[str, ...],
                 request: dict | None = None) -> None:
        for o in (a, b):
            if o.exc is not None:
                raise DifferenceError(f"{what}: {o.side} raised {type(o.exc).__name__}: {o.exc}\n"
                                      f"  direct: {_fmt_body(a.raw)}\n  proxy:  {_fmt_body(b.raw)}")
        compare_raw(a.raw, b.raw, what, json_body=json_body, body_normaliser=body_normaliser,
                    extra_headers=extra_headers, request=request)
        cached = b.raw is not None and header(b.raw.headers, "x-dynamo-cache") in CACHE_ANSWERED
        if a.code != b.code:
            raise DifferenceError(f"{what}: error code direct={a.code} proxy={b.code}")
        if a.error is not None:
            ma, mb = a.error.response["Error"].get("Message"), b.error.response["Error"].get("Message")
            if ma != mb:
                raise DifferenceError(f"{what}: error message direct={ma!r} proxy={mb!r}")
            ea = normalise(_jsonable(a.error.response))
            eb = normalise(_jsonable(b.error.response))
            d = json_diff(ea, eb)
            if d:
                raise DifferenceError(f"{what}: parsed error differs: {d}")
        elif json_body:
            d = json_diff(normalise(comparable(_jsonable(a.parsed), cached)),
                          normalise(comparable(_jsonable(b.parsed), cached)))
            if d:
                raise DifferenceError(f"{what}: boto3-parsed results differ: {d}")

    def ddb(self, op: str, **kwargs) -> dict:
        """Successful DynamoDB call on both sides; returns the (equal) direct result."""
        return self.call("dynamodb", op, **kwargs)[0].parsed

    def ddb_err(self, code: str, op: str, **kwargs) -> ClientError:
        return self.call("dynamodb", op, expect_error=code, **kwargs)[0].error

    def ddb_documented(self, op: str, expected: dict, *, expect_cache: str | None = None, **kwargs) -> None:
        """A READ where moto deviates from DynamoDB (see MOTO_DEVIATIONS): not compared with moto; the proxy's
        answer (raw body and boto3 result, ConsumedCapacity aside) must equal `expected`, DynamoDB's documented
        answer. Sent to the proxy side only (a read: both servers keep the same state). With no real proxy
        (DIRECT_ONLY) the proxy side is moto itself, so only the call is made."""
        b = self.proxy.call("dynamodb", op, _resolve(kwargs, "proxy"))
        what = f"dynamodb.{op}({_short(kwargs)}) [proxy vs DynamoDB-documented answer]"
        if not self.proxy_is_real:
            return
        problems = []
        if b.exc is not None or b.error is not None or b.raw is None:
            problems.append(f"failed: {b.exc or b.code}")
        else:
            problems += check_crc32(b.raw, "proxy")
            labels = ("documented", "proxy")
            problems += json_diff(expected, without_consumed_capacity(b.raw.json()), labels=labels)
            problems += json_diff(expected, without_consumed_capacity(normalise(_jsonable(b.parsed))), labels=labels)
        if problems:
            self.differences.append(f"{what}:\n  - " + "\n  - ".join(problems) + f"\n  proxy:  {_fmt_body(b.raw)}")
        self._check_cache_header(b, expect_cache, what)


# Known moto deviations from DynamoDB (moto 5.x), where a differential comparison would be wrong. Tests that
# touch them use Pair.ddb_documented (reads) or accept moto's answer where the proxy forwards to the server.
MOTO_DEVIATIONS = {
    "AttributesToGet": "GetItem: moto ignores it and returns the whole item; DynamoDB returns only the named "
                       "attributes ({\"Item\": {}} when the item has none of them)",
    "list indexes": "ProjectionExpression 'l[0], l[2]': moto keeps only the last index; DynamoDB keeps both, "
                    "in index order",
    "nested list index": "ProjectionExpression 'l[3][1]': moto answers {\"Item\": {}}; DynamoDB returns "
                         "{\"l\": [[<element>]]}",
    "placeholder with index": "ProjectionExpression '#l[0]': moto reports #l as an unused "
                              "ExpressionAttributeNames key (ValidationException); DynamoDB accepts it",
    "overlapping paths": "ProjectionExpression 'm, m.x': moto accepts it; DynamoDB rejects it "
                         "(ValidationException). The proxy forwards such projections, so there it equals moto",
    "PartiQL UPDATE of a missing item": "moto answers 200 and writes nothing; DynamoDB fails it "
                                        "(ConditionalCheckFailedException). The coherence runs use PartiQL DELETE",
    "PartiQL number literal in SET": "UPDATE \"t\" SET v = 77 WHERE ...: moto crashes (HTTP 500, HTML body); "
                                     "DynamoDB accepts it. Tests pass numbers as Parameters instead",
    "AttributesToGet on Query": "moto ignores it and returns whole items; DynamoDB returns only the named "
                                "attributes",
    "UpdateItem creating an item": "moto stores the new item with its key only, then applies the update "
                                   "expression in place, so a read running meanwhile (moto_server serves requests "
                                   "on threads) sees the item without the attributes being set; DynamoDB's update "
                                   "is atomic. The coherence runs skip such a read (IN_BETWEEN): it shows only the "
                                   "in-flight update, which no checked rule is about",
    "QueryFilter": "Query with KeyConditions and QueryFilter: moto returns items outside the key condition and "
                   "some twice; DynamoDB applies the key condition, then the filter. The proxy caches the "
                   "server's page as is, so test_query_cache compares it with moto's only",
}


# What a coherence run records for an item read without its value attribute: moto's half-made item of an
# UpdateItem in flight (MOTO_DEVIATIONS["UpdateItem creating an item"]). Such reads are not checked.
IN_BETWEEN = object()


def value_of(item: dict, attribute: str = "v"):
    """The string value of `attribute` in a read item, or IN_BETWEEN when moto answered its half-made item."""
    return item[attribute]["S"] if attribute in item else IN_BETWEEN


def _short(kwargs: dict, limit: int = 300) -> str:
    s = json.dumps(kwargs, default=lambda o: repr(o))
    return s if len(s) <= limit else s[:limit] + "..."


# --------------------------------------------------------------------------
# Raw signed HTTP (proxy-only checks)
# --------------------------------------------------------------------------

def signed_headers(host: str, body: bytes, target: str | None, service: str = "dynamodb",
                   content_type: str = "application/x-amz-json-1.0") -> dict[str, str]:
    """Real SigV4 headers for a raw request (moto only reads the credential scope)."""
    req = botocore.awsrequest.AWSRequest(method="POST", url=f"http://{host}/", data=body)
    req.headers["Content-Type"] = content_type
    if target is not None:
        req.headers["X-Amz-Target"] = target
    creds = botocore.credentials.Credentials(FAKE_KEY, FAKE_SECRET)
    botocore.auth.SigV4Auth(creds, service, REGION).add_auth(req)
    return dict(req.headers.items())


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float
    send_error: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)


def raw_post(port: int, body: bytes, target: str | None = "DynamoDB_20120810.GetItem",
             timeout: float = 15.0, headers: dict[str, str] | None = None,
             chunk: int = 1 << 20) -> RawResponse:
    """POST `body` on a fresh connection; tolerate the server answering before reading it all."""
    host = f"{LOOPBACK}:{port}"
    h = signed_headers(host, body, target)
    if headers:
        h.update(headers)
    h["Content-Length"] = str(len(body))
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    send_error = None
    try:
        conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host)
        for k, v in h.items():
            if k.lower() != "host":
                conn.putheader(k, v)
        conn.endheaders()
        try:
            for i in range(0, len(body), chunk):
                conn.send(body[i:i + chunk])
        except (BrokenPipeError, ConnectionResetError) as e:
            send_error = f"{type(e).__name__} after server stopped reading"
        resp = conn.getresponse()
        data = resp.read()
        return RawResponse(resp.status, dict(resp.getheaders()), data, time.monotonic() - t0, send_error)
    finally:
        conn.close()


# --------------------------------------------------------------------------
# Table helpers
# --------------------------------------------------------------------------

def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_table(pair: Pair, table: str, *, hash_key=("pk", "S"), range_key=None,
                 extra_attrs=(), gsis=None, lsis=None, stream=None, billing="PAY_PER_REQUEST"):
    attrs = {hash_key[0]: hash_key[1]}
    ks = [{"AttributeName": hash_key[0], "KeyType": "HASH"}]
    if range_key:
        attrs[range_key[0]] = range_key[1]
        ks.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
    for n, t in extra_attrs:
        attrs[n] = t
    kw = dict(TableName=table, KeySchema=ks,
              AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in attrs.items()],
              BillingMode=billing)
    if billing == "PROVISIONED":
        kw["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    if gsis:
        kw["GlobalSecondaryIndexes"] = gsis
    if lsis:
        kw["LocalSecondaryIndexes"] = lsis
    if stream:
        kw["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
    return pair.ddb("create_table", **kw)


# --------------------------------------------------------------------------
# Admin listener
# --------------------------------------------------------------------------

def admin_request(port: int, method: str, path: str, timeout: float = 10.0) -> RawResponse:
    """One request to the proxy's admin listener (GET /stats, POST /flush[?table=NAME], ...)."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request(method, path, body=b"" if method == "POST" else None)
        r = conn.getresponse()
        data = r.read()
        return RawResponse(r.status, dict(r.getheaders()), data, time.monotonic() - t0)
    finally:
        conn.close()
