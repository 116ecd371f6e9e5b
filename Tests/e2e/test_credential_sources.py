"""The proxy's own AWS credentials (`--upstream-auth sign`), end to end, from every source it knows.

Topology of each test (all on 127.0.0.1):

    boto3 ──► dynamo-cache serve --upstream-auth sign ──► UpstreamRecorder ──► AuthMoto (checks SigV4)
                          │
                          └──► fake credential endpoint (STS / container agent / IMDSv2), defined here

- AuthMoto refuses any request not signed with a key it issued (and, for temporary keys, without the matching
  session token): a successful write and read through the proxy proves the proxy signed with the credentials
  the source gave it. The client's own keys are fake ("testing"); the proxy drops their signature.
- UpstreamRecorder forwards every request unchanged to AuthMoto and notes the access key id (from the
  Authorization header) and the session token each one was signed with: the tests check the proxy signed with
  exactly the key the source served (the newest one after a refresh), and that nothing at all was sent while
  the proxy had no usable credentials.
- The fake credential endpoints answer as AWS does (formats of STS AssumeRoleWithWebIdentity, the ECS/EKS
  container agent and EC2 IMDSv2), refuse requests missing what AWS requires (web identity token, container
  Authorization token, IMDSv2 session token), and hand out fresh temporary credentials of AuthMoto's role on
  every fetch, with an Expiration of the test's choosing.
- Every proxy runs at --log-level trace; at the end of each test, its stderr log, /stats and /metrics are
  searched for every secret access key and session token served to it.

Timing assumptions are loose on purpose (busy 2-core machines): expirations of 6-8 s, waits of tens of seconds.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import http.client
import json
import os
import re
import signal
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from xml.sax.saxutils import escape as xml_escape

import boto3
import pytest
from botocore.exceptions import ClientError

from aws_fixtures import AuthMoto, proxy_environment, wait_until
from e2e_support import BOTO_CONFIG, FAKE_KEY, FAKE_SECRET, LOOPBACK, REGION, ProxyProcess, admin_request, \
    free_port

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
SIGN_ARGS = ["--upstream-auth", "sign", "--region", REGION, "--log-level", "trace"]
ROLE_ARN = "arn:aws:iam::123456789012:role/dynamo-cache-web-identity"


def S(v: str) -> dict:
    return {"S": v}


def iso8601(unix: float) -> str:
    """An expiration as AWS writes it: 2026-12-01T09:09:13Z."""
    return datetime.datetime.fromtimestamp(int(unix), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------
# Fake HTTP servers
# --------------------------------------------------------------------------

@dataclasses.dataclass
class Seen:
    """One request a fake server received."""
    method: str
    path: str
    headers: dict[str, str]   # lower-case names
    body: bytes
    at: float                 # time.time() when it arrived
    status: int = 0           # what the fake answered

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


class FakeServer:
    """A ThreadingHTTPServer (HTTP/1.1, keep-alive) on a free 127.0.0.1 port, in a daemon thread.

    `handle(seen)` returns (status, headers, body). Every request is recorded in `requests`; an exception in
    `handle` is answered 500 and kept in `errors` (tests assert there are none)."""

    def __init__(self, name: str, handle: Callable[[Seen], tuple[int, dict[str, str], bytes]]):
        self.name = name
        self.handle = handle
        self.requests: list[Seen] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                            time.time())
                try:
                    status, headers, payload = outer.handle(seen)
                except Exception:  # noqa: BLE001 - reported by the test through .errors
                    status, headers, payload = 500, {"Content-Type": "text/plain"}, b"fake server error"
                    with outer.lock:
                        outer.errors.append(traceback.format_exc())
                seen.status = status
                with outer.lock:
                    outer.requests.append(seen)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self.httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                       name=f"fake-{name}", daemon=True)
        self.thread.start()

    def seen(self) -> list[Seen]:
        with self.lock:
            return list(self.requests)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def json_answer(status: int, obj: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(obj).encode()


def text_answer(status: int, text: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "text/plain"}, text.encode()


@dataclasses.dataclass
class Served:
    """Temporary credentials a fake endpoint handed out."""
    key: str
    secret: str
    token: str
    expiration: float   # the Unix time advertised
    at: float           # when it was served


class Mint:
    """Real temporary credentials of AuthMoto's role (moto accepts them), a new set on every call."""

    def __init__(self, moto: AuthMoto):
        self.moto = moto
        self.lock = threading.Lock()   # boto3 client creation is not thread-safe
        self.served: list[Served] = []

    def issue(self, lifetime: float) -> Served:
        with self.lock:
            c = self.moto.assume_role()
            now = time.time()
            s = Served(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"], float(int(now + lifetime)), now)
            self.served.append(s)
            return s

    def token_of(self, key: str) -> str | None:
        with self.lock:
            return next((s.token for s in self.served if s.key == key), None)

    def index_of(self, key: str) -> int | None:
        with self.lock:
            return next((i for i, s in enumerate(self.served) if s.key == key), None)

    def secrets(self) -> dict[str, str]:
        with self.lock:
            out = {}
            for s in self.served:
                out[f"secret access key of {s.key}"] = s.secret
                out[f"session token of {s.key}"] = s.token
            return out


class ContainerAgent:
    """The ECS / EKS Pod Identity container credentials endpoint: GET <path> with `Authorization: <token>`."""

    def __init__(self, mint: Mint, token: str, path: str = "/v2/credentials/7f3c5a1e-task", lifetime: float = 900):
        self.mint = mint
        self.token = token
        self.path = path
        self.lifetime = lifetime
        self.fail_with: int | None = None   # answer this status instead of credentials
        self.server = FakeServer("container-agent", self.handle)
        self.url = self.server.url + path

    def handle(self, r: Seen) -> tuple[int, dict[str, str], bytes]:
        if r.method != "GET" or r.path != self.path:
            return json_answer(404, {"Code": "NotFound", "Message": f"no route {r.method} {r.path}"})
        if r.headers.get("authorization") != self.token:
            return json_answer(401, {"Code": "AccessDenied", "Message": "invalid authorization token"})
        if self.fail_with is not None:
            return json_answer(self.fail_with, {"Code": "InternalError", "Message": "credentials agent unavailable"})
        s = self.mint.issue(self.lifetime)
        return json_answer(200, {"AccessKeyId": s.key, "SecretAccessKey": s.secret, "Token": s.token,
                                 "Expiration": iso8601(s.expiration),
                                 "RoleArn": "arn:aws:iam::123456789012:role/dynamo-cache-task"})

    def fetches(self) -> list[Seen]:
        return [r for r in self.server.seen() if r.status == 200]

    def failures(self) -> list[Seen]:
        return [r for r in self.server.seen() if r.status >= 500]


class InstanceMetadata:
    """EC2 IMDSv2: PUT /latest/api/token (TTL header) → session token; GETs need X-aws-ec2-metadata-token."""

    ROLE = "dynamo-cache-instance-role"
    BASE = "/latest/meta-data/iam/security-credentials/"

    def __init__(self, mint: Mint, lifetime: float = 900):
        self.mint = mint
        self.lifetime = lifetime
        self.session_token = f"AQAEA{uuid.uuid4().hex}=="
        self.server = FakeServer("imds", self.handle)

    def handle(self, r: Seen) -> tuple[int, dict[str, str], bytes]:
        if r.method == "PUT" and r.path == "/latest/api/token":
            ttl = r.headers.get("x-aws-ec2-metadata-token-ttl-seconds", "")
            if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return text_answer(400, "missing or invalid X-aws-ec2-metadata-token-ttl-seconds")
            return 200, {"Content-Type": "text/plain", "X-aws-ec2-metadata-token-ttl-seconds": ttl}, \
                self.session_token.encode()
        if r.method != "GET":
            return text_answer(405, "method not allowed")
        if r.headers.get("x-aws-ec2-metadata-token") != self.session_token:
            return text_answer(401, "")  # IMDSv2 required: no (or a wrong) session token
        if r.path == self.BASE:
            return text_answer(200, self.ROLE)
        if r.path == self.BASE + self.ROLE:
            s = self.mint.issue(self.lifetime)
            return json_answer(200, {"Code": "Success", "LastUpdated": iso8601(s.at), "Type": "AWS-HMAC",
                                     "AccessKeyId": s.key, "SecretAccessKey": s.secret, "Token": s.token,
                                     "Expiration": iso8601(s.expiration)})
        return text_answer(404, "not found")


class FakeSTS:
    """STS AssumeRoleWithWebIdentity (unsigned form POST, XML answer), checking the web identity token."""

    NS = "https://sts.amazonaws.com/doc/2011-06-15/"

    def __init__(self, mint: Mint, token: str, role_arn: str = ROLE_ARN, lifetime: float = 900):
        self.mint = mint
        self.token = token
        self.role_arn = role_arn
        self.lifetime = lifetime
        self.refusing = False   # answer InvalidIdentityToken to everything
        self.forms: list[dict[str, list[str]]] = []
        self.server = FakeServer("sts", self.handle)

    def error(self, status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
        body = (f'<ErrorResponse xmlns="{self.NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
                f"<Message>{xml_escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId>"
                "</ErrorResponse>")
        return status, {"Content-Type": "text/xml"}, body.encode()

    def handle(self, r: Seen) -> tuple[int, dict[str, str], bytes]:
        if r.method != "POST" or r.path != "/":
            return self.error(404, "NotFound", f"{r.method} {r.path}")
        if "authorization" in r.headers:
            return self.error(400, "InvalidRequest", "AssumeRoleWithWebIdentity must not be signed")
        if not r.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return self.error(400, "InvalidRequest", f"Content-Type {r.headers.get('content-type')!r}")
        form = urllib.parse.parse_qs(r.body.decode(), keep_blank_values=True, strict_parsing=True)
        self.forms.append(form)
        one = {k: v[0] for k, v in form.items() if len(v) == 1}
        if one.get("Action") != "AssumeRoleWithWebIdentity" or one.get("Version") != "2011-06-15":
            return self.error(400, "InvalidAction", f"Action/Version {one.get('Action')}/{one.get('Version')}")
        if one.get("RoleArn") != self.role_arn:
            return self.error(403, "AccessDenied", f"unknown role {one.get('RoleArn')}")
        if not one.get("RoleSessionName"):
            return self.error(400, "ValidationError", "RoleSessionName is required")
        if self.refusing or one.get("WebIdentityToken") != self.token:
            return self.error(400, "InvalidIdentityToken", "The web identity token is not valid")
        s = self.mint.issue(self.lifetime)
        session = one["RoleSessionName"]
        body = (
            f'<AssumeRoleWithWebIdentityResponse xmlns="{self.NS}"><AssumeRoleWithWebIdentityResult>'
            "<SubjectFromWebIdentityToken>system:serviceaccount:prod:dynamo-cache</SubjectFromWebIdentityToken>"
            "<Audience>sts.amazonaws.com</Audience>"
            f"<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/dynamo-cache-web-identity/"
            f"{xml_escape(session)}</Arn><AssumedRoleId>AROAEXAMPLEID:{xml_escape(session)}</AssumedRoleId>"
            "</AssumedRoleUser>"
            f"<Credentials><SessionToken>{xml_escape(s.token)}</SessionToken>"
            f"<SecretAccessKey>{xml_escape(s.secret)}</SecretAccessKey>"
            f"<Expiration>{iso8601(s.expiration)}</Expiration><AccessKeyId>{s.key}</AccessKeyId></Credentials>"
            "<Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE</Provider>"
            f"</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
            "</ResponseMetadata></AssumeRoleWithWebIdentityResponse>")
        return 200, {"Content-Type": "text/xml"}, body.encode()

    def fetches(self) -> list[Seen]:
        return [r for r in self.server.seen() if r.status == 200]


@dataclasses.dataclass
class Forwarded:
    at: float
    target: str
    access_key: str | None
    session_token: str | None
    status: int


class UpstreamRecorder:
    """Between the proxy and AuthMoto: forwards each request unchanged (Host included, so moto checks the
    signature the proxy made for this address) and records which key signed it."""

    CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
    HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}

    def __init__(self, target_url: str):
        parsed = urllib.parse.urlsplit(target_url)
        self.target = (parsed.hostname, parsed.port)
        self.log: list[Forwarded] = []
        self.server = FakeServer("upstream-recorder", self.handle)
        self.url = self.server.url

    def handle(self, r: Seen) -> tuple[int, dict[str, str], bytes]:
        if "chunked" in r.headers.get("transfer-encoding", ""):
            return text_answer(501, "the recorder does not forward chunked bodies")
        m = self.CREDENTIAL.search(r.headers.get("authorization", ""))
        conn = http.client.HTTPConnection(*self.target, timeout=30)
        try:
            conn.request(r.method, r.path, body=r.body,
                         headers={k: v for k, v in r.headers.items() if k not in self.HOP})
            resp = conn.getresponse()
            body = resp.read()
            headers = {k: v for k, v in resp.getheaders() if k.lower() not in self.HOP}
        finally:
            conn.close()
        self.log.append(Forwarded(r.at, r.headers.get("x-amz-target", ""), m.group(1) if m else None,
                                  r.headers.get("x-amz-security-token"), resp.status))
        return resp.status, headers, body

    def since(self, n: int) -> list[Forwarded]:
        return list(self.log[n:])


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sign_binary(binary):
    if os.environ.get("DYNAMO_CACHE_E2E_DIRECT_ONLY") == "1":
        pytest.skip("DYNAMO_CACHE_E2E_DIRECT_ONLY=1: credential tests need the real dynamo-cache binary")
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.fail(f"dynamo-cache binary not found or not executable: {binary} (set DYNAMO_CACHE_BIN)",
                    pytrace=False)
    return binary


@pytest.fixture(scope="module")
def moto(log_dir):
    m = AuthMoto(REPO_ROOT, log_dir, "moto-auth-credentials")
    try:
        yield m
    finally:
        m.stop()


@pytest.fixture
def mint(moto):
    return Mint(moto)


@pytest.fixture
def fakes():
    """Every fake server a test starts; stopped at teardown (after the proxies: see `launch`)."""
    started: list[FakeServer] = []
    yield started
    for f in started:
        f.stop()
    problems = [f"{f.name}: {e}" for f in started for e in f.errors]
    assert not problems, "a fake server failed while handling a request:\n" + "\n".join(problems)


@pytest.fixture
def upstream(moto, fakes):
    rec = UpstreamRecorder(moto.url)
    fakes.append(rec.server)
    return rec


@pytest.fixture
def agent(mint, fakes):
    a = ContainerAgent(mint, token=f"agent-token-{uuid.uuid4().hex}")
    fakes.append(a.server)
    return a


@pytest.fixture
def imds(mint, fakes):
    i = InstanceMetadata(mint)
    fakes.append(i.server)
    return i


@pytest.fixture
def sts(mint, fakes):
    s = FakeSTS(mint, token=fake_jwt())
    fakes.append(s.server)
    return s


@pytest.fixture
def launch(sign_binary, log_dir, upstream, fakes, request):
    """launch(suffix, env) → a signing proxy in front of the recorder; stopped at teardown if still running."""
    started: list[ProxyProcess] = []

    def start(suffix: str, env: dict[str, str], extra: list[str] | None = None) -> ProxyProcess:
        name = f"creds-{request.node.name}-{suffix}"[:90].replace("[", "-").replace("]", "")
        p = ProxyProcess(sign_binary, upstream.url, log_dir, name, [*SIGN_ARGS, *(extra or [])], env=env)
        started.append(p)
        return p

    yield start
    for p in started:
        # Only what a failed test left running; the tests themselves check a clean SIGTERM exit.
        p.stop(timeout=3)


def fake_jwt() -> str:
    """Looks like a projected service-account token: three base64url parts."""
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return ".".join([part({"alg": "RS256", "kid": uuid.uuid4().hex}),
                     part({"aud": ["sts.amazonaws.com"], "sub": "system:serviceaccount:prod:dynamo-cache",
                           "exp": int(time.time()) + 3600}),
                     uuid.uuid4().hex + "-_" + uuid.uuid4().hex])


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------

def data_client(proxy: ProxyProcess):
    """boto3 against the proxy with fake keys: in sign mode the proxy drops the client's signature."""
    return boto3.client("dynamodb", endpoint_url=proxy.data_url, region_name=REGION, config=BOTO_CONFIG,
                        aws_access_key_id=FAKE_KEY, aws_secret_access_key=FAKE_SECRET)


def call(proxy: ProxyProcess, client, op: str, **kwargs) -> dict:
    try:
        return getattr(client, op)(**kwargs)
    except ClientError as e:
        raise AssertionError(f"{op} through the proxy failed: {e}\nproxy stderr: {proxy.stderr_tail(800)}") from e


def stats(proxy: ProxyProcess) -> dict:
    r = admin_request(proxy.admin_port, "GET", "/stats")
    assert r.status == 200, f"/stats: HTTP {r.status} {r.body[:300]!r}"
    return r.json()


def credentials_stats(proxy: ProxyProcess) -> dict:
    c = stats(proxy).get("credentials")
    assert isinstance(c, dict), f"/stats has no credentials object in sign mode: {c!r}"
    return c


def metrics(proxy: ProxyProcess) -> str:
    r = admin_request(proxy.admin_port, "GET", "/metrics")
    assert r.status == 200, f"/metrics: HTTP {r.status}"
    return r.body.decode()


def metric_value(text: str, name: str) -> float | None:
    m = re.search(rf"^{re.escape(name)}(?:\{{\}})? ([-+0-9.eE]+|NaN)$", text, re.M)
    return float(m.group(1)) if m else None


def readyz(proxy: ProxyProcess) -> tuple[int, str]:
    r = admin_request(proxy.admin_port, "GET", "/readyz")
    return r.status, r.body.decode(errors="replace")


def wait_for_readyz(proxy: ProxyProcess, ok: Callable[[tuple[int, str]], bool], timeout: float,
                    what: str) -> tuple[int, str]:
    """Polls /readyz until ok(status, body); the failure names the last answer."""
    last: list[tuple[int, str]] = []

    def probe():
        last[:] = [readyz(proxy)]
        return last[0] if ok(last[0]) else None
    try:
        return wait_until(probe, timeout, what, interval=0.25)
    except AssertionError as e:
        raise AssertionError(f"{e}; last /readyz answer: {last[0] if last else None}") from None


def write_and_read(proxy: ProxyProcess, table: str, tag: str) -> None:
    """CreateTable, PutItem, then GetItem (consistent and not), Query: each needs moto to accept the proxy's
    signature; the reads must return what was written."""
    ddb = data_client(proxy)
    call(proxy, ddb, "create_table", TableName=table, BillingMode="PAY_PER_REQUEST",
         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    item = {"pk": S(tag), "v": S(f"value of {tag}")}
    call(proxy, ddb, "put_item", TableName=table, Item=item)
    for consistent in (True, False, False):
        got = call(proxy, ddb, "get_item", TableName=table, Key={"pk": S(tag)}, ConsistentRead=consistent)
        assert got.get("Item") == item, f"GetItem(ConsistentRead={consistent}) returned {got.get('Item')!r}"
    q = call(proxy, ddb, "query", TableName=table, KeyConditionExpression="pk = :k",
             ExpressionAttributeValues={":k": S(tag)})
    assert q["Items"] == [item], f"Query returned {q['Items']!r}"


def assert_signed_with(upstream: UpstreamRecorder, start: int, keys: dict[str, str | None], what: str) -> None:
    """Every request forwarded since `start` was signed with one of `keys` (key id → session token or None)
    and moto accepted it."""
    sent = upstream.since(start)
    assert sent, f"{what}: nothing reached the storage server"
    for f in sent:
        assert f.access_key in keys, (f"{what}: {f.target} was signed with key {f.access_key!r}, expected one of "
                                      f"{sorted(keys)}")
        assert f.session_token == keys[f.access_key], (
            f"{what}: {f.target} signed with {f.access_key} carried session token "
            f"{'absent' if f.session_token is None else 'present'}, expected "
            f"{'none' if keys[f.access_key] is None else 'the one served with that key'}")
        assert f.status == 200, f"{what}: moto answered {f.status} to {f.target} signed with {f.access_key}"


def leak_windows(secret: str) -> list[str]:
    """The secret, and a slice of its middle (a truncated or reformatted print of it still shows)."""
    out = [secret]
    if len(secret) >= 40:
        mid = len(secret) // 2
        out.append(secret[mid - 12:mid + 12])
    return out


def assert_no_secret_leaks(proxy: ProxyProcess, secrets: dict[str, str]) -> None:
    """None of `secrets` (label → value) in /stats, /metrics or the stderr log."""
    assert secrets, "no secret to look for: the test did not record what it served"
    texts = {"/stats": admin_request(proxy.admin_port, "GET", "/stats").body.decode(errors="replace"),
             "/metrics": metrics(proxy),
             "/readyz": readyz(proxy)[1]}
    check_log_for_secrets(proxy, secrets, texts)


def check_log_for_secrets(proxy: ProxyProcess, secrets: dict[str, str], texts: dict[str, str] | None = None):
    texts = dict(texts or {})
    texts["stderr log"] = proxy.stderr_tail(n=1 << 30)  # the whole log
    for where, text in texts.items():
        for label, secret in secrets.items():
            for window in leak_windows(secret):
                i = text.find(window)
                assert i < 0, (f"the {label} appears in the proxy's {where}: "
                               f"...{text[max(0, i - 120):i + len(window) + 40]!r}...")


def stop_cleanly(proxy: ProxyProcess, what: str) -> None:
    code = proxy.stop()
    assert code == 0, (f"{what}: the proxy did not exit 0 on SIGTERM within 10 s (exit code {code}; None = had to "
                       f"be killed)\nstderr: {proxy.stderr_tail(800)}")


def unique_table(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------
# 1. Each source
# --------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["long-term-keys", "session-token"])
def test_environment(launch, moto, upstream, kind):
    if kind == "long-term-keys":
        key, secret = moto.keys["proxy"]
        token = None
        env = proxy_environment({"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret})
    else:
        c = moto.assume_role()
        key, secret, token = c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]
        env = proxy_environment({"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
                                 "AWS_SESSION_TOKEN": token})
    p = launch("env", env)
    write_and_read(p, unique_table("env"), kind)
    assert_signed_with(upstream, 0, {key: token}, f"environment ({kind})")
    c = credentials_stats(p)
    assert c["source"] == "environment" and c["usable"] is True, f"/stats credentials: {c}"
    assert c["expires_in_seconds"] is None, f"environment keys do not expire, /stats says {c}"
    text = metrics(p)
    # No expiry to report (an alert on a low expiry must not fire for keys that never expire).
    assert metric_value(text, "dynamocache_credentials_expiry_seconds") is None, text
    assert metric_value(text, "dynamocache_credentials_usable") == 1, text
    wait_for_readyz(p, lambda r: r[0] == 200, 10, "/readyz 200 with environment keys")
    secrets = {"secret access key": secret, **({"session token": token} if token else {})}
    assert_no_secret_leaks(p, secrets)
    stop_cleanly(p, f"environment ({kind})")
    check_log_for_secrets(p, secrets)


def write_profile_file(path: str, text: str) -> str:
    with open(path, "w") as f:
        f.write(text)
    return path


@pytest.mark.parametrize("file", ["credentials-file", "config-file"])
def test_shared_file_profile(launch, moto, upstream, tmp_path, file):
    """Profile `prod` (AWS_PROFILE=prod): `[prod]` in the credentials file (long-term keys) or
    `[profile prod]` in the config file (temporary keys with aws_session_token). The other profiles in the file
    hold keys moto does not know: signing with them would be refused."""
    decoy = "[default]\naws_access_key_id = AKIADEFAULTDECOY0000\naws_secret_access_key = decoy/default/secret\n"
    if file == "credentials-file":
        key, secret = moto.keys["proxy"]
        token = None
        path = write_profile_file(str(tmp_path / "credentials"), (
            f"# shared credentials\n{decoy}\n[prod]\naws_access_key_id = {key}\n"
            f"aws_secret_access_key = {secret}\n\n[staging]\naws_access_key_id = AKIASTAGINGDECOY0000\n"
            "aws_secret_access_key = decoy/staging\n"))
        env = proxy_environment(AWS_SHARED_CREDENTIALS_FILE=path, AWS_PROFILE="prod")
    else:
        c = moto.assume_role()
        key, secret, token = c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]
        path = write_profile_file(str(tmp_path / "config"), (
            f"; shared config\n{decoy}region = us-west-2\n\n[profile prod]\nregion = {REGION}\n"
            f"aws_access_key_id = {key}\naws_secret_access_key = {secret}\naws_session_token = {token}\n"
            "s3 =\n  addressing_style = path\n\n[prod]\naws_access_key_id = AKIANOTAPROFILE00000\n"
            "aws_secret_access_key = decoy/section-without-profile-prefix\n"))
        env = proxy_environment(AWS_CONFIG_FILE=path, AWS_PROFILE="prod")
    p = launch("profile", env)
    write_and_read(p, unique_table("profile"), file)
    assert_signed_with(upstream, 0, {key: token}, f"profile prod in the {file}")
    c = credentials_stats(p)
    assert c["source"] == "profile prod" and c["usable"] is True, f"/stats credentials: {c}"
    secrets = {"secret access key": secret, **({"session token": token} if token else {})}
    assert_no_secret_leaks(p, secrets)
    stop_cleanly(p, f"profile prod in the {file}")
    check_log_for_secrets(p, secrets)


def test_profile_read_again_on_sighup(launch, moto, upstream, tmp_path):
    """Keys a tool rewrites in the profile are picked up on SIGHUP (`systemctl reload`), without a restart."""
    key, secret = moto.keys["proxy"]
    path = write_profile_file(str(tmp_path / "credentials"),
                              f"[prod]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n")
    p = launch("profile-sighup", proxy_environment(AWS_SHARED_CREDENTIALS_FILE=path, AWS_PROFILE="prod"))
    start = len(upstream.log)
    write_and_read(p, unique_table("sighup-before"), "before")
    assert_signed_with(upstream, start, {key: None}, "before SIGHUP")
    c = moto.assume_role()
    write_profile_file(path, f"[prod]\naws_access_key_id = {c['AccessKeyId']}\n"
                             f"aws_secret_access_key = {c['SecretAccessKey']}\naws_session_token = {c['SessionToken']}\n")
    p.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: credentials_stats(p)["refreshes"] >= 2, 15, "the profile fetched again after SIGHUP")
    start = len(upstream.log)
    write_and_read(p, unique_table("sighup-after"), "after")
    assert_signed_with(upstream, start, {c["AccessKeyId"]: c["SessionToken"]}, "after SIGHUP")
    stop_cleanly(p, "profile read again on SIGHUP")


@pytest.mark.parametrize("configured_by", ["environment", "config-profile"])
def test_web_identity(launch, mint, sts, upstream, tmp_path, configured_by):
    """AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME), or the same as role_arn,
    web_identity_token_file and role_session_name of `[profile prod]` in the config file."""
    token_file = tmp_path / "eks-token"
    token_file.write_text(sts.token)
    session = f"dynamo-cache-e2e-{configured_by}"
    if configured_by == "environment":
        env = proxy_environment(AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file), AWS_ROLE_ARN=ROLE_ARN,
                                AWS_ROLE_SESSION_NAME=session, AWS_ENDPOINT_URL_STS=sts.server.url)
    else:
        config = write_profile_file(str(tmp_path / "config"), (
            f"[default]\nregion = {REGION}\n\n[profile prod]\nrole_arn = {ROLE_ARN}\n"
            f"web_identity_token_file = {token_file}\nrole_session_name = {session}\n"))
        env = proxy_environment(AWS_CONFIG_FILE=config, AWS_PROFILE="prod", AWS_ENDPOINT_URL_STS=sts.server.url)
    p = launch("webid", env)
    write_and_read(p, unique_table("webid"), f"web-identity-{configured_by}")
    seen = sts.server.seen()
    assert len(sts.fetches()) == 1, f"STS should be called once (900 s credentials), saw {[str(r) for r in seen]}"
    form = sts.forms[0]
    expected = {"Action": ["AssumeRoleWithWebIdentity"], "Version": ["2011-06-15"], "RoleArn": [ROLE_ARN],
                "RoleSessionName": [session], "WebIdentityToken": [sts.token]}
    assert form == expected, f"AssumeRoleWithWebIdentity form: {form!r}, expected {expected!r}"
    served = mint.served[0]
    assert_signed_with(upstream, 0, {served.key: served.token}, "web identity")
    c = credentials_stats(p)
    assert c["source"] == f"web identity ({ROLE_ARN})" and c["usable"] is True, f"/stats credentials: {c}"
    assert c["expires_in_seconds"] is not None and 600 < c["expires_in_seconds"] <= 900, f"/stats: {c}"
    assert_no_secret_leaks(p, {**mint.secrets(), "web identity token": sts.token})
    stop_cleanly(p, "web identity")
    check_log_for_secrets(p, {**mint.secrets(), "web identity token": sts.token})


@pytest.mark.parametrize("auth", ["token", "token-file", "both-file-wins"])
def test_container_full_uri(launch, mint, agent, upstream, tmp_path, auth):
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": agent.url}
    token_file = tmp_path / "eks-pod-identity-token"
    if auth in ("token-file", "both-file-wins"):
        token_file.write_text(agent.token)
        env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = str(token_file)
    if auth == "token":
        env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = agent.token
    if auth == "both-file-wins":
        env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "stale-token-the-file-overrides"
    p = launch("container", proxy_environment(**env))
    write_and_read(p, unique_table("container"), auth)
    seen = agent.server.seen()
    assert [(r.method, r.path, r.status) for r in seen] == [("GET", agent.path, 200)], (
        f"the agent should see one authorised GET {agent.path}, saw {[str(r) for r in seen]}")
    served = mint.served[0]
    assert_signed_with(upstream, 0, {served.key: served.token}, f"container endpoint ({auth})")
    c = credentials_stats(p)
    # The path (the task's credentials id) is a secret the SDKs never print: scheme and authority only.
    assert c["source"] == f"container endpoint {agent.server.url}/…" and c["usable"] is True, f"/stats credentials: {c}"
    secrets = {**mint.secrets(), "container authorization token": agent.token, "credentials path": agent.path}
    assert_no_secret_leaks(p, secrets)
    stop_cleanly(p, "container endpoint")
    check_log_for_secrets(p, secrets)


@pytest.mark.parametrize("disabled", ["unset", "false"])
def test_instance_metadata_v2(launch, mint, imds, upstream, disabled):
    env = proxy_environment(AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.server.url + "/")
    if disabled == "unset":
        del env["AWS_EC2_METADATA_DISABLED"]
    else:
        env["AWS_EC2_METADATA_DISABLED"] = "false"
    p = launch("imds", env)
    write_and_read(p, unique_table("imds"), f"imds-{disabled}")
    seen = imds.server.seen()
    got = [(r.method, r.path, r.status) for r in seen]
    want = [("PUT", "/latest/api/token", 200), ("GET", imds.BASE, 200), ("GET", imds.BASE + imds.ROLE, 200)]
    assert got == want, f"IMDSv2 exchange: {got}, expected {want}"
    for r in seen[1:]:
        assert r.headers.get("x-aws-ec2-metadata-token") == imds.session_token, f"{r}: no session token header"
    served = mint.served[0]
    assert_signed_with(upstream, 0, {served.key: served.token}, "instance metadata")
    c = credentials_stats(p)
    assert c["source"] == f"instance metadata {imds.server.url}" and c["usable"] is True, f"/stats: {c}"
    assert_no_secret_leaks(p, {**mint.secrets(), "IMDSv2 session token": imds.session_token})
    stop_cleanly(p, "instance metadata")
    check_log_for_secrets(p, {**mint.secrets(), "IMDSv2 session token": imds.session_token})


# --------------------------------------------------------------------------
# 2. Precedence
# --------------------------------------------------------------------------

def test_environment_wins_over_container(launch, moto, agent, upstream):
    key, secret = moto.keys["proxy"]
    p = launch("precedence", proxy_environment(
        {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret},
        AWS_CONTAINER_CREDENTIALS_FULL_URI=agent.url, AWS_CONTAINER_AUTHORIZATION_TOKEN=agent.token))
    write_and_read(p, unique_table("precedence"), "env-wins")
    assert agent.server.seen() == [], f"the container agent was called: {[str(r) for r in agent.server.seen()]}"
    assert_signed_with(upstream, 0, {key: None}, "environment over container")
    assert credentials_stats(p)["source"] == "environment"
    assert_no_secret_leaks(p, {"secret access key": secret})
    stop_cleanly(p, "environment over container")


@pytest.mark.parametrize("pair", ["web-identity-over-container", "container-over-imds"])
def test_precedence_of_fetched_sources(launch, mint, sts, agent, imds, upstream, tmp_path, pair):
    """Two fetched sources configured: only the first in the chain's order is ever asked."""
    token_file = tmp_path / "token"
    token_file.write_text(sts.token)
    container = dict(AWS_CONTAINER_CREDENTIALS_FULL_URI=agent.url, AWS_CONTAINER_AUTHORIZATION_TOKEN=agent.token)
    if pair == "web-identity-over-container":
        env = proxy_environment(AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file), AWS_ROLE_ARN=ROLE_ARN,
                                AWS_ENDPOINT_URL_STS=sts.server.url, **container)
        winner, losers, source = sts.server, [agent.server, imds.server], f"web identity ({ROLE_ARN})"
    else:
        env = proxy_environment(AWS_EC2_METADATA_DISABLED="false",
                                AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.server.url, **container)
        winner, losers, source = agent.server, [sts.server, imds.server], f"container endpoint {agent.server.url}/…"
    p = launch("precedence", env)
    write_and_read(p, unique_table("precedence"), pair)
    assert [r.status for r in winner.seen()] == [200], f"{winner.name}: {[str(r) for r in winner.seen()]}"
    for loser in losers:
        assert loser.seen() == [], f"{loser.name} was asked although {winner.name} comes first: " \
                                   f"{[str(r) for r in loser.seen()]}"
    assert credentials_stats(p)["source"] == source
    assert_signed_with(upstream, 0, {mint.served[0].key: mint.served[0].token}, pair)
    assert_no_secret_leaks(p, mint.secrets())
    stop_cleanly(p, pair)


# --------------------------------------------------------------------------
# 3. Refresh ahead of expiry
# --------------------------------------------------------------------------

def test_expiring_credentials_refreshed_without_failures(launch, mint, agent, upstream):
    agent.lifetime = 8   # refreshed at expiration - lifetime/2, i.e. about every 4 s
    p = launch("refresh", proxy_environment(AWS_CONTAINER_CREDENTIALS_FULL_URI=agent.url,
                                            AWS_CONTAINER_AUTHORIZATION_TOKEN=agent.token))
    ddb = data_client(p)
    table = unique_table("refresh")
    call(p, ddb, "create_table", TableName=table, BillingMode="PAY_PER_REQUEST",
         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    start = len(upstream.log)
    failures: list[str] = []
    ok = 0
    deadline = time.monotonic() + 14
    i = 0
    while time.monotonic() < deadline:
        item = {"pk": S(f"k{i}"), "n": {"N": str(i)}}
        try:
            ddb.put_item(TableName=table, Item=item)
            got = ddb.get_item(TableName=table, Key={"pk": S(f"k{i}")}, ConsistentRead=True).get("Item")
            if got != item:
                failures.append(f"iteration {i}: read {got!r}, wrote {item!r}")
            else:
                ok += 1
        except Exception as e:  # noqa: BLE001 - every failure is reported
            failures.append(f"iteration {i} at +{14 - (deadline - time.monotonic()):.1f}s: {type(e).__name__}: {e}")
        i += 1
        time.sleep(0.05)
    assert not failures, (f"{len(failures)} of {i} iterations failed while credentials were refreshed:\n"
                          + "\n".join(failures[:5]) + f"\nproxy stderr: {p.stderr_tail(1000)}")
    fetches = agent.fetches()
    assert len(fetches) >= 3, (f"8-second credentials over ~14 s should be fetched at least 3 times, the agent "
                               f"saw {[str(r) for r in agent.server.seen()]}")
    c = credentials_stats(p)
    assert c["refreshes"] >= 3, f"/stats credentials.refreshes {c['refreshes']} < 3: {c}"
    assert c["refresh_failures"] == 0 and c["usable"] is True and c["last_error"] is None, f"/stats: {c}"
    assert 0 < c["expires_in_seconds"] <= 8, f"expires_in_seconds of 8-second credentials: {c}"
    text = metrics(p)
    refreshes = metric_value(text, "dynamocache_credentials_refreshes_total")
    assert refreshes is not None and refreshes >= 3, (
        f"dynamocache_credentials_refreshes_total = {refreshes}: "
        f"{[line for line in text.splitlines() if 'credentials' in line]}")
    assert metric_value(text, "dynamocache_credentials_usable") == 1
    expiry = metric_value(text, "dynamocache_credentials_expiry_seconds")
    assert expiry is not None and 0 < expiry <= 8, f"dynamocache_credentials_expiry_seconds = {expiry}"

    # The proxy signed with the refreshed keys: every request with a served key that had not expired yet, never
    # going back to an older one, and with several distinct keys over the run.
    sent = upstream.since(start)
    keys = {s.key: s.token for s in mint.served}
    assert_signed_with(upstream, start, keys, "refreshing container credentials")
    order = [mint.index_of(f.access_key) for f in sent]
    assert order == sorted(order), f"the proxy went back to older credentials: served-key order {order}"
    assert len(set(order)) >= 2, f"all {len(sent)} requests were signed with the same key {sent[0].access_key}"
    expired = [f for f in sent if f.at >= mint.served[mint.index_of(f.access_key)].expiration]
    assert not expired, f"requests signed with expired credentials: {expired[:3]}"
    assert sum(1 for f in sent if f.target.endswith("PutItem")) == i, "not every PutItem reached the storage server"
    assert_no_secret_leaks(p, {**mint.secrets(), "container authorization token": agent.token})
    stop_cleanly(p, "refreshing container credentials")


# --------------------------------------------------------------------------
# 4. A failing refresh: old credentials while they last, then not ready, then recovery
# --------------------------------------------------------------------------

def expect_cannot_sign(client, op: str, what: str, **kwargs) -> str:
    try:
        getattr(client, op)(**kwargs)
    except ClientError as e:
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        code = e.response["Error"]["Code"]
        msg = e.response["Error"]["Message"]
        assert status == 503 and code == "ServiceUnavailable" and "cannot sign" in msg, (
            f"{what}: expected HTTP 503 ServiceUnavailable 'cannot sign', got HTTP {status} {code}: {msg}")
        return msg
    raise AssertionError(f"{what}: succeeded although the proxy has no usable credentials")


def test_failing_refresh_then_recovery(launch, mint, agent, upstream):
    agent.lifetime = 6   # refresh due ~3 s after the first fetch
    p = launch("failing-refresh", proxy_environment(AWS_CONTAINER_CREDENTIALS_FULL_URI=agent.url,
                                                    AWS_CONTAINER_AUTHORIZATION_TOKEN=agent.token))
    agent.fail_with = 500
    first = mint.served[0]
    assert len(mint.served) == 1, f"expected one fetch before the listeners opened, got {len(mint.served)}"
    ddb = data_client(p)
    table = unique_table("failing")
    call(p, ddb, "create_table", TableName=table, BillingMode="PAY_PER_REQUEST",
         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    before = {"pk": S("before"), "v": S("written with the first credentials")}
    call(p, ddb, "put_item", TableName=table, Item=before)

    # The refresh fails; the first credentials still sign while they last, and the proxy stays ready.
    wait_until(lambda: agent.failures(), 15, "the proxy's first (failing) refresh")
    failures_at_first = credentials_stats(p)["refresh_failures"]
    during = 0
    while time.time() < first.expiration - 1.0:
        call(p, ddb, "put_item", TableName=table, Item={"pk": S(f"during{during}"), "v": S("old credentials")})
        got = call(p, ddb, "get_item", TableName=table, Key={"pk": S(f"during{during}")}, ConsistentRead=True)
        assert got.get("Item", {}).get("v") == S("old credentials"), f"read {got.get('Item')!r}"
        during += 1
        time.sleep(0.1)
    assert during > 0, ("no request could be made between the first failed refresh and 1 s before expiry "
                        f"(refresh failed at {agent.failures()[0].at:.1f}, expiration {first.expiration:.0f})")
    if time.time() < first.expiration - 0.3:
        c = credentials_stats(p)
        assert c["usable"] is True and "500" in (c["last_error"] or "") and c["refresh_failures"] >= 1, (
            f"/stats while the old credentials last, after a failed refresh: {c}")
        assert readyz(p)[0] == 200, f"/readyz while the old credentials last: {readyz(p)}"
    assert_signed_with(upstream, 0, {first.key: first.token}, "with the first credentials")

    # Expired, not refreshed: not ready, naming the source; requests that need the storage server get 503.
    wait_until(lambda: time.time() > first.expiration + 0.2, 15, "the first credentials to expire")
    status, body = wait_for_readyz(p, lambda r: r[0] == 503, 10, "/readyz to answer 503 once the credentials expired")
    assert f"no usable AWS credentials from container endpoint {agent.server.url}/…" in body and "500" in body, (
        f"/readyz 503 reason should name the source and its error: {body!r}")
    sent_before = len(upstream.log)
    msg = expect_cannot_sign(ddb, "put_item", "PutItem after expiry", TableName=table,
                             Item={"pk": S("after-expiry"), "v": S("x")})
    expect_cannot_sign(ddb, "get_item", "GetItem of an uncached key after expiry", TableName=table,
                       Key={"pk": S("never-read")})
    expect_cannot_sign(ddb, "get_item", "consistent GetItem after expiry", TableName=table,
                       Key={"pk": S("before")}, ConsistentRead=True)
    # Where the proxy's credentials come from is for its operator (/readyz, the log), not for clients.
    assert "no usable AWS credentials" in msg and "container" not in msg, f"the 503 message: {msg!r}"
    assert len(upstream.log) == sent_before, (
        f"requests were sent to the storage server without usable credentials: {upstream.since(sent_before)}")
    c = credentials_stats(p)
    # Retries 1 s then 2 s after the first failure, both before expiry: the count has grown since.
    assert c["usable"] is False and "500" in (c["last_error"] or ""), f"/stats: {c}"
    assert c["refresh_failures"] > failures_at_first, (
        f"refresh_failures did not grow from {failures_at_first} (retries with back-off): {c}")
    text = metrics(p)
    assert metric_value(text, "dynamocache_credentials_usable") == 0, "dynamocache_credentials_usable should be 0"
    fails_metric = metric_value(text, "dynamocache_credentials_refresh_failures_total")
    assert fails_metric is not None and fails_metric >= 2, f"refresh_failures_total = {fails_metric}"

    # The agent recovers: the next retry (back-off well under 30 s) makes the proxy ready again.
    agent.fail_with = None
    recovered_at = time.monotonic()
    wait_for_readyz(p, lambda r: r[0] == 200, 35, "/readyz 200 after the agent recovered")
    took = time.monotonic() - recovered_at
    assert readyz(p)[1].strip() == "ready"
    marker = len(upstream.log)
    call(p, ddb, "put_item", TableName=table, Item={"pk": S("after"), "v": S("new credentials")})
    for key, v in (("after", "new credentials"), ("before", "written with the first credentials")):
        got = call(p, ddb, "get_item", TableName=table, Key={"pk": S(key)}, ConsistentRead=True)
        assert got.get("Item", {}).get("v") == S(v), f"{key}: read {got.get('Item')!r} after recovery ({took:.1f}s)"
    newest = mint.served[-1]
    assert len(mint.served) >= 2 and newest.key != first.key
    assert_signed_with(upstream, marker, {newest.key: newest.token}, "after recovery")
    c = credentials_stats(p)
    assert c["usable"] is True and c["last_error"] is None and c["refreshes"] >= 2, f"/stats after recovery: {c}"
    assert_no_secret_leaks(p, {**mint.secrets(), "container authorization token": agent.token})
    stop_cleanly(p, "after a failing refresh")


def test_source_failing_at_start_then_recovering(launch, mint, sts, upstream, tmp_path):
    """STS refuses the token at start: the proxy starts anyway, not ready with STS's reason, signs nothing,
    and retries until STS accepts."""
    token_file = tmp_path / "token"
    token_file.write_text(sts.token)
    sts.refusing = True
    p = launch("start-failure", proxy_environment(AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file),
                                                  AWS_ROLE_ARN=ROLE_ARN, AWS_ENDPOINT_URL_STS=sts.server.url))
    # (Until its first storage-server probe, a moment after start, /readyz says "storage server unreachable".)
    status, body = wait_for_readyz(p, lambda r: "credentials" in r[1], 10,
                                   "/readyz to give the credentials as its reason")
    assert status == 503, f"/readyz with no credentials yet: {status} {body!r}"
    assert f"no usable AWS credentials from web identity ({ROLE_ARN})" in body and "InvalidIdentityToken" in body, (
        f"/readyz reason: {body!r}")
    ddb = data_client(p)
    expect_cannot_sign(ddb, "list_tables", "ListTables before any credentials")
    assert upstream.log == [], f"sent to the storage server without credentials: {upstream.log}"
    c = credentials_stats(p)
    assert c["usable"] is False and c["refreshes"] == 0 and "InvalidIdentityToken" in (c["last_error"] or ""), c
    wait_until(lambda: len(sts.server.seen()) >= 2, 15, "the proxy to retry STS")
    sts.refusing = False
    wait_for_readyz(p, lambda r: r[0] == 200, 35, "/readyz 200 once STS accepts the token")
    write_and_read(p, unique_table("late"), "late-credentials")
    served = mint.served[-1]
    assert_signed_with(upstream, 0, {served.key: served.token}, "web identity after a failed start")
    assert_no_secret_leaks(p, {**mint.secrets(), "web identity token": sts.token})
    stop_cleanly(p, "web identity after a failed start")


# --------------------------------------------------------------------------
# 5. Start-up failures
# --------------------------------------------------------------------------

def start_up_failure(sign_binary, log_dir, name: str, env: dict[str, str]) -> str:
    """Starts the proxy, which must exit before its ready line; returns its stderr."""
    with pytest.raises(RuntimeError) as info:
        p = ProxyProcess(sign_binary, f"http://{LOOPBACK}:{free_port()}", log_dir, name, SIGN_ARGS, env=env)
        p.stop(timeout=3)
    message = str(info.value)
    assert "before printing the ready line" in message, f"expected an exit before the ready line: {message}"
    code = re.search(r"exited \(code (-?\d+)\)", message)
    assert code and int(code.group(1)) != 0, f"expected a non-zero exit code: {message}"
    with open(os.path.join(log_dir, f"{name}.stderr.log"), "rb") as f:
        return f.read().decode(errors="replace")


def test_start_without_any_source_exits(sign_binary, log_dir):
    err = start_up_failure(sign_binary, log_dir, "creds-no-source", proxy_environment())
    assert "AWS_ACCESS_KEY_ID" in err and "no AWS credentials found" in err, f"stderr: {err!r}"


def test_start_without_any_source_and_silent_imds_exits(sign_binary, log_dir):
    env = proxy_environment(AWS_EC2_METADATA_SERVICE_ENDPOINT=f"http://{LOOPBACK}:{free_port()}")
    del env["AWS_EC2_METADATA_DISABLED"]
    t0 = time.monotonic()
    err = start_up_failure(sign_binary, log_dir, "creds-no-source-imds", env)
    for var in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS"):
        assert var in err, f"the error should name {var}: {err!r}"
    assert time.monotonic() - t0 < 25, "giving up on an unreachable metadata service took too long"


def test_start_with_key_but_no_secret_exits(sign_binary, log_dir, moto):
    key, _ = moto.keys["proxy"]
    err = start_up_failure(sign_binary, log_dir, "creds-key-no-secret",
                           proxy_environment({"AWS_ACCESS_KEY_ID": key}))
    assert re.search(r"AWS_SECRET_ACCESS_KEY is not( set)?\b", err), f"stderr: {err!r}"


def test_start_with_container_uri_to_a_remote_http_host_exits(sign_binary, log_dir):
    """Plain http:// container URIs may only name loopback or the agent: the token must not cross a network."""
    err = start_up_failure(sign_binary, log_dir, "creds-remote-container",
                           proxy_environment(AWS_CONTAINER_CREDENTIALS_FULL_URI="http://10.20.30.40/creds",
                                             AWS_CONTAINER_AUTHORIZATION_TOKEN="secret-agent-token"))
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" in err and "loopback" in err, f"stderr: {err!r}"
    assert "secret-agent-token" not in err


def test_start_with_missing_profile_exits(sign_binary, log_dir, moto, tmp_path):
    key, secret = moto.keys["proxy"]
    path = write_profile_file(str(tmp_path / "credentials"),
                              f"[prod]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n")
    err = start_up_failure(sign_binary, log_dir, "creds-missing-profile",
                           proxy_environment(AWS_SHARED_CREDENTIALS_FILE=path, AWS_PROFILE="nosuchprofile"))
    assert "nosuchprofile" in err, f"the error should name the profile: {err!r}"
    assert secret not in err, "the error printed another profile's secret"


# --------------------------------------------------------------------------
# Background tasks with keys that never expire; credentials expired on arrival
# --------------------------------------------------------------------------

def test_long_term_keys_keep_background_tasks_running(launch, moto, upstream, fakes):
    """Regression (fixed in 2e25299): with keys that never expire the refresher has nothing to do; it used to
    return at once, which ended the whole service group: the 1-second sampler and the readiness probe stopped
    (/readyz stayed "ready" with the storage server gone), SIGHUP reloads stopped, and SIGTERM was ignored."""
    key, secret = moto.keys["proxy"]
    p = launch("static-background", proxy_environment({"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}))
    wait_until(lambda: len(stats(p)["history"]) >= 2, 15, "/stats history to grow (the 1-second sampler)")
    wait_for_readyz(p, lambda r: r[0] == 200, 10, "/readyz 200")
    upstream.server.stop()
    fakes.remove(upstream.server)
    wait_for_readyz(p, lambda r: r == (503, "storage server unreachable\n"), 15,
                    "/readyz to notice the storage server is gone")
    stop_cleanly(p, "long-term environment keys")


def test_already_expired_credentials_are_not_refetched_in_a_tight_loop(launch, mint, agent):
    """Credentials served already expired (a clock off, a stale agent) are a failure, retried with back-off."""
    agent.lifetime = -30
    p = launch("expired-on-arrival", proxy_environment(AWS_CONTAINER_CREDENTIALS_FULL_URI=agent.url,
                                                       AWS_CONTAINER_AUTHORIZATION_TOKEN=agent.token))
    n0 = len(agent.server.seen())
    time.sleep(4)
    n = len(agent.server.seen()) - n0
    assert n <= 8, f"{n} fetches of the container endpoint in 4 s"
    status, body = readyz(p)
    assert status == 503 and "not fetched yet" not in body and "expired" in body, f"/readyz: {status} {body!r}"
