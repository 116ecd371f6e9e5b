"""Client authentication (`--client-auth sigv4 --client-credentials FILE`) and TLS for clients (`--tls-cert`,
`--tls-key`), end to end, with real clients: boto3, the AWS CLI and raw SigV4-signed HTTP (botocore's signer).

Topology (all on 127.0.0.1):

    boto3 / aws cli / http.client ──► dynamo-cache serve --client-auth sigv4 ──► plain moto_server (this module's)
    boto3 / aws cli / ssl          ──► dynamo-cache serve --tls-cert/--tls-key ──► the same moto_server

moto here ignores signatures, so whatever the proxy refuses is refused by the proxy alone; that it never reached
the storage server is proven from moto's request log (one line per request): a marker request sent straight to
moto after the refused one must be the only new line.

Clients (sections of the credentials file): admin (every table), reader (access = read), orders (tables = orders,
orders-archive-*), second (every table); late is added and removed on SIGHUP.

- good keys: boto3 (create, put, get, hit), the AWS CLI (get-item; its view of a wrong secret and of a denied
  write), raw signed requests (any region accepted);
- each rejection (boto3: wrong secret, unknown key, session token; raw: no/malformed Authorization, body or signed
  header changed after signing, session token, signed 6 minutes before/after now; 4 minutes either way is
  accepted): HTTP 400, exact __type and message, Content-Type, x-amz-crc32, x-dynamo-cache: rejected, nothing forwarded;
  malformed JSON from a valid client answers as a proxy without client auth does;
- access rules of `access = read` and `tables = ...` (Message naming the section, operation and table);
- cache namespaces per client (GetItem and Query), writes by one client seen by the other;
- SIGHUP: a client added, removed, a secret rotated, a broken file refused with an error line, keep-alive
  connections kept; an unknown setting is a start-up error;
- TLS on the data listener (boto3, the AWS CLI, ALPN, untrusted clients refused, admin stays plain), certificate
  reload on SIGHUP (new connections get the new serial, old connections keep working), admin TLS.

test_credential_scope_region_separates_cache_entries: with forwarded signatures a client's namespace is also the
region it signed for (the storage server keeps one database per region).
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import unittest.mock
import uuid
import zlib
from dataclasses import dataclass
from typing import Any, Callable

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions
import pytest
from botocore.exceptions import ClientError

from aws_fixtures import NO_RETRY, CertificateAuthority, proxy_environment, wait_until
from e2e_support import LOOPBACK, REGION, MotoServer, ProxyProcess, admin_request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
CORAL = "com.amazon.coral.service#"
JSON_10 = "application/x-amz-json-1.0"
TARGET = "DynamoDB_20120810."

MISSING_TOKEN = "Request is missing Authentication Token"
BAD_TOKEN = "The security token included in the request is invalid."
BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                 "Secret Access Key and signing method. Consult the service documentation for details.")
AMZ_DATE = r"(\d{8}T\d{6}Z)"
EXPIRED_RE = re.compile(rf"^Signature expired: {AMZ_DATE} is now earlier than {AMZ_DATE} \({AMZ_DATE} - 5 min\.\)$")
NOT_YET_RE = re.compile(
    rf"^Signature not yet current: {AMZ_DATE} is still later than {AMZ_DATE} \({AMZ_DATE} \+ 5 min\.\)$")


@dataclass(frozen=True)
class Client:
    section: str
    key: str
    secret: str
    settings: tuple[tuple[str, str], ...] = ()


ADMIN = Client("admin", "AKIDCACHEADMIN00001", "admin/secret+0001", (("access", "admin"),))
READER = Client("reader", "AKIDCACHEREADER0001", "reader/secret+0001", (("access", "read"),))
ORDERS = Client("orders", "AKIDCACHEORDERS0001", "orders/secret+0001", (("tables", "orders, orders-archive-*"),))
SECOND = Client("second", "AKIDCACHESECOND0001", "second/secret+0001")
LATE = Client("late", "AKIDCACHELATE000001", "late/secret+0001")
NOBODY = Client("nobody", "AKIDCACHENOBODY0001", "nobody/secret+0001")
CLIENTS = (ADMIN, READER, ORDERS, SECOND)


def credentials_text(clients) -> str:
    out = ["# dynamo-cache clients (test_client_auth.py)"]
    for c in clients:
        out += [f"[{c.section}]", f"aws_access_key_id = {c.key}", f"aws_secret_access_key = {c.secret}"]
        out += [f"{k} = {v}" for k, v in c.settings]
        out.append("")
    return "\n".join(out)


def write_file(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:6]}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def S(v: str) -> dict:
    return {"S": v}


# --------------------------------------------------------------------------
# What came back
# --------------------------------------------------------------------------

@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def __str__(self) -> str:
        return (f"HTTP {self.status} headers={self.headers} "
                f"body={self.body[:1500].decode('utf-8', 'replace')}")


def check_crc32(ans: Answer, what: str) -> None:
    crc = ans.header("x-amz-crc32")
    assert crc is not None, f"{what}: no x-amz-crc32 header: {ans}"
    actual = zlib.crc32(ans.body) & 0xFFFFFFFF
    assert crc.isdigit() and int(crc) == actual, f"{what}: x-amz-crc32 {crc!r} != crc32(body) {actual}: {ans}"


def check_error(ans: Answer | None, error_type: str, what: str, *, message: str | None = None,
                message_re: re.Pattern | None = None, member: str = "message") -> str:
    """An error the proxy answered itself: HTTP 400, DynamoDB's JSON error with the exact __type, the message
    in `member`, Content-Type application/x-amz-json-1.0, a correct x-amz-crc32, x-dynamo-cache: rejected."""
    assert ans is not None, f"{what}: no HTTP response captured"
    assert ans.status == 400, f"{what}: expected HTTP 400: {ans}"
    assert ans.header("content-type") == JSON_10, f"{what}: Content-Type {ans.header('content-type')!r}: {ans}"
    check_crc32(ans, what)
    try:
        body = ans.json()
    except ValueError:
        raise AssertionError(f"{what}: error body is not JSON: {ans}") from None
    assert isinstance(body, dict), f"{what}: error body is not an object: {ans}"
    assert body.get("__type") == CORAL + error_type, f"{what}: expected __type {CORAL + error_type}: {ans}"
    msg = body.get(member)
    assert isinstance(msg, str) and msg, f"{what}: no {member!r} string member: {ans}"
    if message is not None:
        assert msg == message, f"{what}: message {msg!r}, expected {message!r}"
    if message_re is not None:
        assert message_re.match(msg), f"{what}: message {msg!r} does not match {message_re.pattern!r}"
    assert ans.header("x-dynamo-cache") == "rejected", f"{what}: x-dynamo-cache of the proxy's own rejection: {ans}"
    return msg


def denied_message(section: str, operation: str, resource: str) -> str:
    return f"User: {section} is not authorized to perform: dynamodb:{operation} on resource: {resource} because "


def check_denied(ans: Answer | None, section: str, operation: str, resource: str, what: str) -> None:
    msg = check_error(ans, "AccessDeniedException", what, member="Message")
    prefix = denied_message(section, operation, resource)
    assert msg.startswith(prefix) and len(msg) > len(prefix), f"{what}: Message {msg!r} does not start {prefix!r}"


# --------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------

class Ddb:
    """A boto3 DynamoDB client (one attempt per call) that keeps the raw HTTP answer of its last call."""

    def __init__(self, endpoint: str, key: str, secret: str, token: str | None = None, verify: Any = None,
                 region: str = REGION):
        self.client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region, config=NO_RETRY,
                                   aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
                                   verify=verify)
        self.last: Answer | None = None
        self.client.meta.events.register("after-call", self._capture)

    @classmethod
    def of(cls, endpoint: str, c: Client, **kw) -> "Ddb":
        return cls(endpoint, c.key, c.secret, **kw)

    def _capture(self, http_response, **_kw) -> None:
        self.last = Answer(http_response.status_code, {k.lower(): v for k, v in http_response.headers.items()},
                           http_response.content)

    def ok(self, op: str, **kw) -> dict:
        self.last = None
        try:
            return getattr(self.client, op)(**kw)
        except ClientError as e:
            raise AssertionError(f"{op}({json.dumps(kw, default=str)[:300]}): expected success, got "
                                 f"{e.response['Error'].get('Code')}: {e.response['Error'].get('Message')}; "
                                 f"{self.last}") from None

    def fails(self, op: str, **kw) -> Answer:
        self.last = None
        try:
            r = getattr(self.client, op)(**kw)
        except ClientError:
            assert self.last is not None, f"{op}: ClientError without a captured HTTP answer"
            return self.last
        raise AssertionError(f"{op}({json.dumps(kw, default=str)[:300]}): expected an error, succeeded: "
                             f"{json.dumps(r, default=str)[:1000]}")

    @property
    def cache(self) -> str | None:
        return self.last.header("x-dynamo-cache") if self.last else None


def sign(host: str, body: bytes, op: str, key: str, secret: str, *, when: datetime.datetime | None = None,
         token: str | None = None, region: str = REGION, scheme: str = "http") -> dict[str, str]:
    """SigV4 headers (botocore's signer) for a POST of `body` to `op`; `when` (naive UTC) signs at that time."""
    req = botocore.awsrequest.AWSRequest(method="POST", url=f"{scheme}://{host}/", data=body)
    req.headers["Content-Type"] = JSON_10
    req.headers["X-Amz-Target"] = TARGET + op
    signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret, token), "dynamodb", region)
    if when is None:
        signer.add_auth(req)
    else:
        with unittest.mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(req)
    return dict(req.headers.items())


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def send(conn: http.client.HTTPConnection, body: bytes, headers: dict[str, str]) -> Answer:
    conn.request("POST", "/", body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    return Answer(r.status, {k.lower(): v for k, v in r.getheaders()}, data)


def raw(port: int, body: bytes, headers: dict[str, str]) -> Answer:
    """One POST on a fresh connection to 127.0.0.1:port."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=20)
    try:
        return send(conn, body, headers)
    finally:
        conn.close()


def raw_signed(port: int, op: str, payload: dict, c: Client, **kw) -> Answer:
    body = json.dumps(payload).encode()
    return raw(port, body, sign(f"{LOOPBACK}:{port}", body, op, c.key, c.secret, **kw))


def aws_cmd() -> list[str]:
    exe = shutil.which("aws")
    return [exe] if exe else [sys.executable, "-m", "awscli"]


CLI_ERROR_RE = re.compile(r"An error occurred \((\w+)\) when calling the (\w+) operation(?: \([^)]*\))?: (.*)")


def cli_error(stderr: str) -> tuple[str, str, str] | None:
    """(code, operation, message) of the AWS CLI's error line."""
    m = CLI_ERROR_RE.search(stderr)
    return (m.group(1), m.group(2), m.group(3).strip()) if m else None


def aws_cli(args: list[str], *, key: str, secret: str) -> subprocess.CompletedProcess:
    # The session fixture `aws_env` has set the region and an isolated config; only the keys change here.
    env = dict(os.environ, AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
    env.pop("AWS_SESSION_TOKEN", None)
    return subprocess.run(aws_cmd() + ["dynamodb", *args, "--output", "json"], capture_output=True, text=True,
                          timeout=90, env=env, stdin=subprocess.DEVNULL)


# --------------------------------------------------------------------------
# The storage server saw nothing
# --------------------------------------------------------------------------

REQUEST_LINE = re.compile(rb'"[A-Z]+ \S+ HTTP/1\.[01]" \d{3} ')


def moto_requests(moto: MotoServer) -> int:
    with open(moto.log_path, "rb") as f:
        return len(REQUEST_LINE.findall(f.read()))


class Upstream:
    """The module's plain moto_server, with a way to prove a request never reached it."""

    def __init__(self, moto: MotoServer):
        self.moto = moto
        self.direct = Ddb(moto.url, "direct", "direct")  # moto ignores signatures

    def unseen(self, action: Callable[[], Any], what: str) -> Any:
        """Runs `action`; fails if moto logged any request for it. A marker request sent straight to moto
        afterwards must be the only new line of moto's log (its line is written after any earlier one)."""
        before = moto_requests(self.moto)
        result = action()
        self.direct.ok("list_tables", Limit=1)
        wait_until(lambda: moto_requests(self.moto) >= before + 1, 20, f"moto to log the marker request ({what})")
        seen = moto_requests(self.moto) - before - 1
        assert seen == 0, f"{what}: the storage server received {seen} request(s); the proxy answered: {result}"
        return result

    def item(self, table: str, key: str) -> dict | None:
        return self.direct.ok("get_item", TableName=table, Key={"pk": S(key)}, ConsistentRead=True).get("Item")


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def upstream(log_dir, aws_env):
    m = MotoServer(REPO_ROOT, log_dir, f"auth-moto-{uuid.uuid4().hex[:6]}")
    try:
        yield Upstream(m)
    finally:
        m.stop()


@pytest.fixture(scope="module")
def auth_dir(log_dir):
    d = os.path.join(log_dir, f"client-auth-{uuid.uuid4().hex[:6]}")
    os.makedirs(d)
    return d


def start_auth_proxy(binary, upstream: Upstream, log_dir: str, name: str, creds_path: str) -> ProxyProcess:
    return ProxyProcess(binary, upstream.moto.url, log_dir, name,
                        ["--client-auth", "sigv4", "--client-credentials", creds_path], env=proxy_environment())


@dataclass
class Auth:
    proxy: ProxyProcess
    upstream: Upstream
    creds_path: str

    @property
    def port(self) -> int:
        return self.proxy.data_port

    @property
    def url(self) -> str:
        return self.proxy.data_url

    def ddb(self, c: Client, **kw) -> Ddb:
        return Ddb.of(self.url, c, **kw)


@pytest.fixture(scope="module")
def auth(binary, upstream, log_dir, auth_dir):
    path = os.path.join(auth_dir, "clients.ini")
    write_file(path, credentials_text(CLIENTS))
    p = start_auth_proxy(binary, upstream, log_dir, "proxy-client-auth", path)
    try:
        yield Auth(p, upstream, path)
    finally:
        p.stop()


TABLES = ("orders", "orders-archive-2026", "orders-archive", "customers")


@pytest.fixture(scope="module")
def seeded(auth):
    """Tables created and seeded through the proxy with the admin key."""
    admin = auth.ddb(ADMIN)
    existing = set(admin.ok("list_tables")["TableNames"])
    for t in TABLES:
        if t not in existing:
            admin.ok("create_table", TableName=t, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        admin.ok("put_item", TableName=t, Item={"pk": S("seed"), "v": S(f"{t} seed")})
    return auth


def new_table(ddb: Ddb, prefix: str) -> str:
    t = f"{prefix}-{uuid.uuid4().hex[:8]}"
    ddb.ok("create_table", TableName=t, BillingMode="PAY_PER_REQUEST",
           KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
           AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    return t


# --------------------------------------------------------------------------
# 1-2. Good keys work: boto3, the AWS CLI, raw signed HTTP
# --------------------------------------------------------------------------

def test_boto3_with_a_good_key(auth):
    admin = auth.ddb(ADMIN)
    t = new_table(admin, "auth-boto3")
    admin.ok("put_item", TableName=t, Item={"pk": S("k"), "v": S("one")})
    assert admin.cache == "write", f"PutItem: x-dynamo-cache {admin.cache!r}: {admin.last}"
    check_crc32(admin.last, "PutItem")
    r = admin.ok("get_item", TableName=t, Key={"pk": S("k")})
    assert r.get("Item") == {"pk": S("k"), "v": S("one")}, f"first GetItem: {admin.last}"
    assert admin.cache in ("miss", "hit"), f"first GetItem: x-dynamo-cache {admin.cache!r}: {admin.last}"
    r = admin.ok("get_item", TableName=t, Key={"pk": S("k")})
    assert r.get("Item") == {"pk": S("k"), "v": S("one")}, f"second GetItem: {admin.last}"
    assert admin.cache == "hit", f"second GetItem: x-dynamo-cache {admin.cache!r}: {admin.last}"
    check_crc32(admin.last, "GetItem (hit)")
    assert auth.upstream.item(t, "k") == {"pk": S("k"), "v": S("one")}, "the write did not reach moto"
    # Any region is accepted (moto keeps one database per region: the table is not there).
    other = auth.ddb(ADMIN, region="eu-west-1")
    assert t not in other.ok("list_tables")["TableNames"]


def test_aws_cli_with_a_good_key(seeded):
    args = ["get-item", "--table-name", "orders", "--key", json.dumps({"pk": S("seed")}),
            "--endpoint-url", seeded.url]
    r = aws_cli(args, key=ADMIN.key, secret=ADMIN.secret)
    assert r.returncode == 0, f"aws {' '.join(args)}: exit {r.returncode}\nstderr={r.stderr[-2000:]}"
    assert json.loads(r.stdout)["Item"] == {"pk": S("seed"), "v": S("orders seed")}, r.stdout
    # The same call with the right key id and a wrong secret is refused, and the CLI reports DynamoDB's error.
    r = aws_cli(args, key=ADMIN.key, secret="not-the-secret")
    assert r.returncode == 255, f"wrong secret: exit {r.returncode}\nstdout={r.stdout}\nstderr={r.stderr[-2000:]}"
    assert cli_error(r.stderr) == ("InvalidSignatureException", "GetItem", BAD_SIGNATURE), r.stderr[-2000:]
    # A write by a read-only client.
    r = aws_cli(["put-item", "--table-name", "orders", "--item", json.dumps({"pk": S("cli")}),
                 "--endpoint-url", seeded.url], key=READER.key, secret=READER.secret)
    assert r.returncode == 255, f"reader put-item: exit {r.returncode}\nstderr={r.stderr[-2000:]}"
    code, op, msg = cli_error(r.stderr) or (None, None, "")
    assert (code, op) == ("AccessDeniedException", "PutItem"), r.stderr[-2000:]
    assert msg.startswith(denied_message("reader", "PutItem", "table/orders")), r.stderr[-2000:]
    assert seeded.upstream.item("orders", "cli") is None


def test_raw_signed_request_with_a_good_key(seeded):
    payload = {"TableName": "orders", "Key": {"pk": S("seed")}}
    first = raw_signed(seeded.port, "GetItem", payload, ADMIN)
    assert first.status == 200, f"raw GetItem: {first}"
    check_crc32(first, "raw GetItem")
    assert first.header("content-type") == JSON_10, str(first)
    assert first.json()["Item"] == {"pk": S("seed"), "v": S("orders seed")}, str(first)
    again = raw_signed(seeded.port, "GetItem", payload, ADMIN)
    assert again.status == 200 and again.header("x-dynamo-cache") == "hit", f"second raw GetItem: {again}"
    assert again.json() == first.json()
    check_crc32(again, "raw GetItem (hit)")
    # Signed for another region: accepted too (moto keeps a database per region; that one has no tables).
    other = raw_signed(seeded.port, "ListTables", {}, ADMIN, region="ap-southeast-2")
    assert other.status == 200 and "orders" not in other.json()["TableNames"], str(other)


# --------------------------------------------------------------------------
# 3. Each rejection, through the client kind that produces it; moto sees none of them
# --------------------------------------------------------------------------

GET_SEED = {"TableName": "orders", "Key": {"pk": S("seed")}}


def _boto3_case(c: Client, **kw) -> Callable[[Auth], Answer]:
    return lambda a: a.ddb(c, **kw).fails("get_item", **GET_SEED)


def _raw_case(mutate: Callable[[dict, bytes], tuple[dict, bytes]] | None = None, *, c: Client = ADMIN,
              **sign_kw) -> Callable[[Auth], Answer]:
    def run(a: Auth) -> Answer:
        body = json.dumps(GET_SEED).encode()
        headers = sign(f"{LOOPBACK}:{a.port}", body, "GetItem", c.key, c.secret, **sign_kw)
        if mutate:
            headers, body = mutate(headers, body)
        return raw(a.port, body, headers)
    return run


def _without_authorization(h, b):
    return {k: v for k, v in h.items() if k.lower() != "authorization"}, b


def _authorization(value: str):
    def mutate(h, b):
        h = {k: v for k, v in h.items() if k.lower() != "authorization"}
        h["Authorization"] = value.format(key=ADMIN.key, day=utc_now().strftime("%Y%m%d"))
        return h, b
    return mutate


def _body_changed(h, b):
    changed = b.replace(b'"seed"', b'"sEed"')
    assert changed != b and len(changed) == len(b)
    return h, changed


def _target_changed(h, b):
    h = dict(h)
    assert h["X-Amz-Target"] == TARGET + "GetItem"
    h["X-Amz-Target"] = TARGET + "DeleteItem"
    return h, b


REJECTIONS = {
    # boto3
    "wrong-secret": (_boto3_case(Client("admin", ADMIN.key, "wrong/secret")), "InvalidSignatureException",
                     BAD_SIGNATURE),
    "unknown-key": (_boto3_case(NOBODY), "UnrecognizedClientException", BAD_TOKEN),
    "session-token": (_boto3_case(ADMIN, token="FQoGZXIvYXdzEXAMPLE//session-token"),
                      "UnrecognizedClientException", BAD_TOKEN),
    # raw
    "no-authorization": (_raw_case(_without_authorization), "MissingAuthenticationTokenException", MISSING_TOKEN),
    "authorization-not-sigv4": (_raw_case(_authorization("Bearer abc.def")), "IncompleteSignatureException", None),
    "authorization-without-signature": (
        _raw_case(_authorization("AWS4-HMAC-SHA256 Credential={key}/{day}/us-east-1/dynamodb/aws4_request")),
        "IncompleteSignatureException", None),
    "authorization-bad-credential": (
        _raw_case(_authorization("AWS4-HMAC-SHA256 Credential={key}/{day}, SignedHeaders=host;x-amz-date, "
                                 "Signature=" + "0" * 64)),
        "IncompleteSignatureException", None),
    "body-changed-after-signing": (_raw_case(_body_changed), "InvalidSignatureException", BAD_SIGNATURE),
    "signed-header-changed": (_raw_case(_target_changed), "InvalidSignatureException", BAD_SIGNATURE),
    "raw-session-token": (_raw_case(token="raw-session-token"), "UnrecognizedClientException", BAD_TOKEN),
}


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_rejected_before_the_storage_server(seeded, case):
    run, error_type, message = REJECTIONS[case]
    ans = seeded.upstream.unseen(lambda: run(seeded), case)
    check_error(ans, error_type, case, message=message)
    # The proxy still serves good clients afterwards.
    assert seeded.ddb(ADMIN).ok("get_item", **GET_SEED)["Item"]["v"] == S("orders seed")


def _parse_amz(s: str) -> datetime.datetime:
    return datetime.datetime.strptime(s, "%Y%m%dT%H%M%SZ")


@pytest.mark.parametrize("minutes", [-6, 6], ids=["6-minutes-old", "6-minutes-ahead"])
def test_signature_outside_five_minutes(seeded, minutes):
    when = utc_now().replace(microsecond=0) + datetime.timedelta(minutes=minutes)
    signed = when.strftime("%Y%m%dT%H%M%SZ")
    what = f"signed at {signed} ({minutes:+d} min)"
    ans = seeded.upstream.unseen(lambda: raw_signed(seeded.port, "GetItem", GET_SEED, ADMIN, when=when), what)
    pattern = EXPIRED_RE if minutes < 0 else NOT_YET_RE
    msg = check_error(ans, "InvalidSignatureException", what, message_re=pattern)
    request_date, bound, now = pattern.match(msg).groups()
    assert request_date == signed, f"{what}: message names {request_date}: {msg!r}"
    server_now = _parse_amz(now)
    assert abs((server_now - utc_now()).total_seconds()) < 120, f"{what}: the proxy's 'now' {now} is off: {msg!r}"
    expected_bound = server_now + datetime.timedelta(minutes=5 if minutes > 0 else -5)
    assert _parse_amz(bound) == expected_bound, f"{what}: bound {bound} != now {now} {'+' if minutes > 0 else '-'}"\
                                                f" 5 min: {msg!r}"


@pytest.mark.parametrize("minutes", [-4, 4], ids=["4-minutes-old", "4-minutes-ahead"])
def test_signature_within_five_minutes_is_accepted(seeded, minutes):
    when = utc_now() + datetime.timedelta(minutes=minutes)
    ans = raw_signed(seeded.port, "GetItem", GET_SEED, ADMIN, when=when)
    assert ans.status == 200 and ans.json()["Item"]["v"] == S("orders seed"), f"signed {minutes:+d} min: {ans}"


def test_malformed_json_from_a_valid_client(seeded, binary, log_dir):
    """A SerializationException, as the proxy answers without client auth (compared with such a proxy)."""
    body = b'{"TableName": orders, "Key": {"pk": {"S": "seed"}}}'
    plain = ProxyProcess(binary, seeded.upstream.moto.url, log_dir, "proxy-no-client-auth", env=proxy_environment())
    try:
        reference = raw(plain.data_port, body, sign(f"{LOOPBACK}:{plain.data_port}", body, "GetItem",
                                                    ADMIN.key, ADMIN.secret))
    finally:
        plain.stop()
    assert reference.status == 400, f"without client auth: {reference}"
    for c in (ADMIN, ORDERS, READER):
        what = f"malformed JSON signed by {c.section}"
        ans = seeded.upstream.unseen(
            lambda: raw(seeded.port, body, sign(f"{LOOPBACK}:{seeded.port}", body, "GetItem", c.key, c.secret)),
            what)
        check_error(ans, "SerializationException", what, member="Message" if "Message" in ans.json() else "message")
        assert ans.json() == reference.json(), f"{what}: {ans}\nwithout client auth: {reference}"
    # Malformed and unsigned: the signature is checked first.
    ans = raw(seeded.port, body, {"Content-Type": JSON_10, "X-Amz-Target": TARGET + "GetItem"})
    check_error(ans, "MissingAuthenticationTokenException", "malformed JSON, unsigned", message=MISSING_TOKEN)


# --------------------------------------------------------------------------
# 4. Access rules: `access = read` and `tables = ...`
# --------------------------------------------------------------------------

def test_read_only_client(seeded):
    reader, up = seeded.ddb(READER), seeded.upstream
    assert reader.ok("get_item", TableName="customers", Key={"pk": S("seed")})["Item"]["v"] == S("customers seed")
    assert reader.ok("query", TableName="orders", KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": S("seed")})["Count"] == 1
    assert reader.ok("scan", TableName="customers")["Count"] >= 1
    reader.ok("batch_get_item", RequestItems={"orders": {"Keys": [{"pk": S("seed")}]},
                                              "customers": {"Keys": [{"pk": S("seed")}]}})
    reader.ok("describe_table", TableName="orders")
    reader.ok("list_tables")
    reader.ok("execute_statement", Statement='SELECT * FROM "customers" WHERE pk = \'seed\'')

    refused = [
        ("PutItem", "put_item", {"TableName": "customers", "Item": {"pk": S("r-put")}}, "customers"),
        ("DeleteItem", "delete_item", {"TableName": "customers", "Key": {"pk": S("seed")}}, "customers"),
        ("UpdateItem", "update_item", {"TableName": "customers", "Key": {"pk": S("seed")},
                                       "UpdateExpression": "SET v = :v",
                                       "ExpressionAttributeValues": {":v": S("by reader")}}, "customers"),
        ("BatchWriteItem", "batch_write_item",
         {"RequestItems": {"orders": [{"PutRequest": {"Item": {"pk": S("r-batch")}}}]}}, "orders"),
        ("CreateTable", "create_table",
         {"TableName": "reader-table", "BillingMode": "PAY_PER_REQUEST",
          "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
          "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}, "reader-table"),
        ("ExecuteStatement", "execute_statement",
         {"Statement": 'INSERT INTO "customers" VALUE {\'pk\': \'r-partiql\'}'}, "customers"),
        ("TransactWriteItems", "transact_write_items",
         {"TransactItems": [{"Put": {"TableName": "orders", "Item": {"pk": S("r-tx")}}}]}, "orders"),
    ]
    for op, method, kw, table in refused:
        what = f"reader {op}"
        ans = up.unseen(lambda: reader.fails(method, **kw), what)
        check_denied(ans, "reader", op, f"table/{table}", what)
    # Nothing changed.
    assert up.item("customers", "seed") == {"pk": S("seed"), "v": S("customers seed")}
    for t, k in (("customers", "r-put"), ("orders", "r-batch"), ("customers", "r-partiql"), ("orders", "r-tx")):
        assert up.item(t, k) is None, f"{t}/{k} was written by a read-only client"
    assert "reader-table" not in up.direct.ok("list_tables")["TableNames"]


def test_client_limited_to_some_tables(seeded):
    orders, up = seeded.ddb(ORDERS), seeded.upstream
    # Allowed: its named table and tables with its prefix.
    assert orders.ok("get_item", TableName="orders", Key={"pk": S("seed")})["Item"]["v"] == S("orders seed")
    orders.ok("put_item", TableName="orders-archive-2026", Item={"pk": S("o-put"), "v": S("archived")})
    assert up.item("orders-archive-2026", "o-put") == {"pk": S("o-put"), "v": S("archived")}
    r = orders.ok("batch_get_item", RequestItems={"orders": {"Keys": [{"pk": S("seed")}]},
                                                  "orders-archive-2026": {"Keys": [{"pk": S("o-put")}]}})
    assert len(r["Responses"]["orders"]) == 1 and len(r["Responses"]["orders-archive-2026"]) == 1, r
    orders.ok("transact_write_items", TransactItems=[
        {"Put": {"TableName": "orders", "Item": {"pk": S("o-tx-ok")}}},
        {"Put": {"TableName": "orders-archive-2026", "Item": {"pk": S("o-tx-ok")}}}])
    assert orders.ok("execute_statement", Statement='SELECT * FROM "orders" WHERE pk = \'seed\'')["Items"]
    assert orders.ok("query", TableName="orders", KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": S("seed")})["Count"] == 1

    refused = [
        ("GetItem", "get_item", {"TableName": "customers", "Key": {"pk": S("seed")}}, "table/customers"),
        ("PutItem", "put_item", {"TableName": "customers", "Item": {"pk": S("o-put")}}, "table/customers"),
        ("BatchGetItem", "batch_get_item", {"RequestItems": {"orders": {"Keys": [{"pk": S("seed")}]},
                                                             "customers": {"Keys": [{"pk": S("seed")}]}}},
         "table/customers"),
        ("TransactWriteItems", "transact_write_items", {"TransactItems": [
            {"Put": {"TableName": "orders", "Item": {"pk": S("o-tx")}}},
            {"Put": {"TableName": "customers", "Item": {"pk": S("o-tx")}}}]}, "table/customers"),
        ("ExecuteStatement", "execute_statement", {"Statement": 'SELECT * FROM "customers"'}, "table/customers"),
        ("Query", "query", {"TableName": "customers", "KeyConditionExpression": "pk = :p",
                            "ExpressionAttributeValues": {":p": S("seed")}}, "table/customers"),
        # `orders-archive-*` is a prefix with its dash: the bare name is not covered; `orders` is exact.
        ("GetItem", "get_item", {"TableName": "orders-archive", "Key": {"pk": S("seed")}}, "table/orders-archive"),
        ("DescribeTable", "describe_table", {"TableName": "orders-archive"}, "table/orders-archive"),
        ("ListTables", "list_tables", {}, "*"),
    ]
    for op, method, kw, resource in refused:
        what = f"orders {op} {json.dumps(kw)[:120]}"
        ans = up.unseen(lambda: orders.fails(method, **kw), what)
        check_denied(ans, "orders", op, resource, what)
    assert up.item("customers", "o-put") is None
    assert up.item("orders", "o-tx") is None, "half of a refused TransactWriteItems reached the storage server"
    assert up.item("customers", "o-tx") is None


# --------------------------------------------------------------------------
# 5. The cache namespace is the verified client
# --------------------------------------------------------------------------

def test_cache_namespace_is_the_client(auth):
    admin, second, up = auth.ddb(ADMIN), auth.ddb(SECOND), auth.upstream
    t = new_table(admin, "auth-ns")
    up.direct.ok("put_item", TableName=t, Item={"pk": S("k"), "v": S("v1")})
    up.direct.ok("put_item", TableName=t, Item={"pk": S("k2"), "v": S("v1")})

    def read(ddb: Ddb, who: str, key: str, value: str, cache: str | tuple[str, ...] | None) -> None:
        r = ddb.ok("get_item", TableName=t, Key={"pk": S(key)})
        assert r.get("Item") == {"pk": S(key), "v": S(value)}, f"{who} read of {key}: {ddb.last}"
        if cache is not None:
            allowed = (cache,) if isinstance(cache, str) else cache
            assert ddb.cache in allowed, f"{who} read of {key}: x-dynamo-cache {ddb.cache!r}, expected {allowed}"

    read(admin, "admin 1st", "k", "v1", "miss")
    read(admin, "admin 2nd", "k", "v1", "hit")
    read(second, "second 1st", "k", "v1", "miss")  # never the entry admin's reads filled
    read(second, "second 2nd", "k", "v1", "hit")
    second.ok("put_item", TableName=t, Item={"pk": S("k"), "v": S("v2")})
    assert second.cache == "write", f"second PutItem: {second.last}"
    read(admin, "admin after second's write", "k", "v2", None)
    read(second, "second after its write", "k", "v2", None)
    read(admin, "admin again", "k", "v2", None)

    # k2: admin's entry is cached, then second writes without reading first; admin must see the write.
    read(admin, "admin 1st", "k2", "v1", "miss")
    read(admin, "admin 2nd", "k2", "v1", "hit")
    second.ok("update_item", TableName=t, Key={"pk": S("k2")}, UpdateExpression="SET v = :v",
              ExpressionAttributeValues={":v": S("v2")})
    read(admin, "admin after second's update", "k2", "v2", None)
    second.ok("delete_item", TableName=t, Key={"pk": S("k2")})
    r = admin.ok("get_item", TableName=t, Key={"pk": S("k2")})
    assert "Item" not in r, f"admin read after second's delete: {admin.last}"

    # Query pages too: admin's cached page is not second's.
    q = dict(TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("k")})
    for ddb, who, cache in ((admin, "admin", "miss"), (admin, "admin", "hit"), (second, "second", "miss"),
                            (second, "second", "hit")):
        r = ddb.ok("query", **q)
        assert r["Items"] == [{"pk": S("k"), "v": S("v2")}], f"{who} Query: {ddb.last}"
        assert ddb.cache == cache, f"{who} Query: x-dynamo-cache {ddb.cache!r}, expected {cache!r}: {ddb.last}"


def test_credential_scope_region_separates_cache_entries(auth):
    up = auth.upstream
    t = f"auth-region-{uuid.uuid4().hex[:8]}"
    for region in ("us-east-1", "ap-southeast-2"):
        m = Ddb(up.moto.url, "direct", "direct", region=region)
        m.ok("create_table", TableName=t, BillingMode="PAY_PER_REQUEST",
             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        m.ok("put_item", TableName=t, Item={"pk": S("k"), "v": S(f"{region} data")})
    east, ap = auth.ddb(ADMIN), auth.ddb(ADMIN, region="ap-southeast-2")
    key = {"pk": S("k")}
    east.ok("get_item", TableName=t, Key=key)
    assert east.ok("get_item", TableName=t, Key=key)["Item"]["v"] == S("us-east-1 data") and east.cache == "hit"
    # The storage server answers this one with ap-southeast-2's item.
    got = ap.ok("get_item", TableName=t, Key=key)["Item"]["v"]
    assert got == S("ap-southeast-2 data"), f"signed for ap-southeast-2, served {got} ({ap.cache}): {ap.last}"
    ap.ok("put_item", TableName=t, Item={"pk": S("k"), "v": S("written in ap-southeast-2")})
    got = east.ok("get_item", TableName=t, Key=key)["Item"]["v"]
    assert got == S("us-east-1 data"), f"us-east-1 read after an ap-southeast-2 write: {got} ({east.cache})"


# --------------------------------------------------------------------------
# 6. SIGHUP reloads the credentials file without dropping connections
# --------------------------------------------------------------------------

def log_count(p: ProxyProcess, text: str) -> int:
    with open(p.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace").count(text)


def hangup(p: ProxyProcess, expect_line: str) -> None:
    """SIGHUP, then wait for the log line saying what the proxy did with it."""
    before = log_count(p, expect_line)
    p.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: log_count(p, expect_line) > before, 30, f"{expect_line!r} in {p.log_path}")
    assert p.proc.poll() is None, f"proxy exited after SIGHUP: {p.stderr_tail()}"


class KeepAlive:
    """One HTTP/1.1 connection reused for signed requests; it must never be reopened."""

    def __init__(self, port: int, c: Client):
        self.port, self.c = port, c
        self.conn = http.client.HTTPConnection(LOOPBACK, port, timeout=20)
        self.conn.auto_open = 0
        self.conn.connect()
        self.local = self.conn.sock.getsockname()
        self.count = 0

    def get(self, payload: dict) -> Answer:
        body = json.dumps(payload).encode()
        assert self.conn.sock is not None, f"keep-alive connection of {self.c.section} was closed"
        assert self.conn.sock.getsockname() == self.local
        ans = send(self.conn, body, sign(f"{LOOPBACK}:{self.port}", body, "GetItem", self.c.key, self.c.secret))
        self.count += 1
        assert (ans.header("connection") or "").lower() != "close", f"request {self.count}: proxy closes: {ans}"
        return ans

    def close(self) -> None:
        self.conn.close()


def test_sighup_reloads_client_credentials(seeded, binary, log_dir, auth_dir):
    path = os.path.join(auth_dir, "reloaded.ini")
    write_file(path, credentials_text(CLIENTS))
    p = start_auth_proxy(binary, seeded.upstream, log_dir, "proxy-client-auth-reload", path)
    conns: list[KeepAlive] = []
    try:
        url = p.data_url

        def late_answer() -> Answer | None:
            d = Ddb.of(url, LATE)
            try:
                d.client.get_item(**GET_SEED)
            except ClientError:
                pass
            return d.last

        def late_works() -> bool:
            a = late_answer()
            return a is not None and a.status == 200

        def late_refused() -> Answer | None:
            a = late_answer()
            return a if a is not None and a.status == 400 else None

        def admin_ok(conn: KeepAlive, what: str) -> None:
            a = conn.get(GET_SEED)
            assert a.status == 200 and a.json()["Item"]["v"] == S("orders seed"), f"{what}: {a}"
            assert Ddb.of(url, ADMIN).ok("get_item", **GET_SEED)["Item"]["v"] == S("orders seed"), what

        admin_conn = KeepAlive(p.data_port, ADMIN)
        conns.append(admin_conn)
        admin_ok(admin_conn, "before any SIGHUP")
        check_error(late_answer(), "UnrecognizedClientException", "late before it is added", message=BAD_TOKEN)

        # Add [late].
        write_file(path, credentials_text(CLIENTS + (LATE,)))
        hangup(p, "client credentials reloaded")
        wait_until(late_works, 30, "the late client to be accepted after SIGHUP")
        admin_ok(admin_conn, "after adding late")
        late_conn = KeepAlive(p.data_port, LATE)
        conns.append(late_conn)
        a = late_conn.get(GET_SEED)
        assert a.status == 200, f"late on its own keep-alive connection: {a}"

        # Remove [late] (every request is verified, also on a connection that was accepted before) and rotate
        # [second]'s secret (its old secret no longer verifies).
        assert Ddb.of(url, SECOND).ok("get_item", **GET_SEED)["Item"]["v"] == S("orders seed")
        rotated = Client("second", SECOND.key, "second/rotated+0002")
        write_file(path, credentials_text((ADMIN, READER, ORDERS, rotated)))
        hangup(p, "client credentials reloaded")
        check_error(wait_until(late_refused, 30, "the late client to be refused after SIGHUP"),
                    "UnrecognizedClientException", "late after its removal", message=BAD_TOKEN)
        check_error(late_conn.get(GET_SEED), "UnrecognizedClientException", "late, connection opened while known",
                    message=BAD_TOKEN)
        admin_ok(admin_conn, "after removing late")
        check_error(Ddb.of(url, SECOND).fails("get_item", **GET_SEED), "InvalidSignatureException",
                    "second with its secret from before the rotation", message=BAD_SIGNATURE)
        assert Ddb.of(url, rotated).ok("get_item", **GET_SEED)["Item"]["v"] == S("orders seed")

        # A broken file (a misspelt restriction): the old clients stay, an error is logged.
        broken = credentials_text(CLIENTS + (LATE,)) + "\n[typo]\naws_access_key_id = AKIDTYPO\n" \
            "aws_secret_access_key = typo\ntabels = orders\n"
        write_file(path, broken)
        hangup(p, "client credentials not reloaded")
        with open(p.log_path, "rb") as f:
            lines = [ln for ln in f.read().decode("utf-8", "replace").splitlines()
                     if "client credentials not reloaded" in ln]
        assert lines and " error " in f" {lines[-1]} ", f"not an error line: {lines[-1:]}"
        admin_ok(admin_conn, "after a broken file")
        assert Ddb.of(url, rotated).ok("get_item", **GET_SEED)["Item"]["v"] == S("orders seed")
        check_error(Ddb.of(url, SECOND).fails("get_item", **GET_SEED), "InvalidSignatureException",
                    "second's old secret, after a broken file naming it", message=BAD_SIGNATURE)
        check_denied(Ddb.of(url, ORDERS).fails("get_item", TableName="customers", Key={"pk": S("seed")}),
                     "orders", "GetItem", "table/customers", "orders after a broken file")
        check_error(late_answer(), "UnrecognizedClientException", "late after a broken file", message=BAD_TOKEN)
        check_error(late_conn.get(GET_SEED), "UnrecognizedClientException", "late conn after a broken file",
                    message=BAD_TOKEN)
        assert admin_conn.count >= 4 and p.proc.poll() is None
    finally:
        for c in conns:
            c.close()
        p.stop()


def test_unknown_setting_is_a_startup_error(seeded, binary, log_dir, auth_dir):
    path = os.path.join(auth_dir, "unknown-setting.ini")
    write_file(path, credentials_text(CLIENTS) + "\n[typo]\naws_access_key_id = AKIDTYPO\n"
               "aws_secret_access_key = typo\ntabels = orders\n")
    with pytest.raises(RuntimeError) as e:
        p = start_auth_proxy(binary, seeded.upstream, log_dir, "proxy-client-auth-bad-file", path)
        p.stop()
    assert "before printing the ready line" in str(e.value), str(e.value)
    assert "tabels" in str(e.value), f"the error does not name the unknown setting: {e.value}"


# --------------------------------------------------------------------------
# 7. TLS for clients, and certificate reload on SIGHUP
# --------------------------------------------------------------------------

def openssl_serial(pem: str) -> str:
    r = subprocess.run(["openssl", "x509", "-in", pem, "-noout", "-serial"], capture_output=True, text=True,
                       timeout=30, check=True)
    return r.stdout.strip().split("=", 1)[1].upper()


def peer(port: int, cafile: str | None) -> tuple[dict, str | None]:
    """(peer certificate, ALPN protocol) of a new TLS connection to 127.0.0.1:port, verified as `localhost`."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection((LOOPBACK, port), timeout=15) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            return t.getpeercert(), t.selected_alpn_protocol()


def test_tls_for_clients(upstream, binary, log_dir):
    d = os.path.join(log_dir, f"tls-{uuid.uuid4().hex[:6]}")
    ca = CertificateAuthority(d)
    cert1, key1 = ca.issue("proxy-1")
    cert, key = os.path.join(d, "server.pem"), os.path.join(d, "server.key")
    shutil.copyfile(cert1, cert)
    shutil.copyfile(key1, key)
    p = ProxyProcess(binary, upstream.moto.url, log_dir, "proxy-tls", ["--tls-cert", cert, "--tls-key", key],
                     env=proxy_environment())
    old_conn = None
    try:
        assert p.data_url.startswith("https://127.0.0.1:"), f"ready line: {p.stdout_lines}"
        assert p.admin_url.startswith("http://127.0.0.1:"), f"ready line: {p.stdout_lines}"
        endpoint = f"https://localhost:{p.data_port}"

        # boto3 trusting the CA.
        ddb = Ddb(endpoint, "tls-client", "tls-secret", verify=ca.cert)
        t = new_table(ddb, "auth-tls")
        ddb.ok("put_item", TableName=t, Item={"pk": S("k"), "v": S("over tls")})
        assert ddb.cache == "write", str(ddb.last)
        assert ddb.ok("get_item", TableName=t, Key={"pk": S("k")})["Item"]["v"] == S("over tls")
        assert ddb.ok("get_item", TableName=t, Key={"pk": S("k")})["Item"]["v"] == S("over tls")
        assert ddb.cache == "hit", f"second GetItem over TLS: {ddb.last}"
        check_crc32(ddb.last, "GetItem over TLS")

        # The certificate served, and ALPN.
        cert_seen, alpn = peer(p.data_port, ca.cert)
        serial1 = cert_seen["serialNumber"].upper()
        assert serial1 == openssl_serial(cert1), f"served {serial1}, proxy-1 is {openssl_serial(cert1)}"
        assert alpn == "http/1.1", f"ALPN offered h2, http/1.1: selected {alpn!r}"

        # The AWS CLI with --ca-bundle.
        r = aws_cli(["get-item", "--table-name", t, "--key", json.dumps({"pk": S("k")}), "--endpoint-url", endpoint,
                     "--ca-bundle", ca.cert], key="tls-cli", secret="tls-cli")
        assert r.returncode == 0, f"aws cli over TLS: exit {r.returncode}\nstderr={r.stderr[-2000:]}"
        assert json.loads(r.stdout)["Item"]["v"] == S("over tls"), r.stdout

        # Clients that do not trust the CA fail verification.
        with pytest.raises(botocore.exceptions.SSLError) as e:
            Ddb(endpoint, "tls-client", "tls-secret").client.list_tables()
        assert "CERTIFICATE_VERIFY_FAILED" in str(e.value), str(e.value)
        with pytest.raises(ssl.SSLCertVerificationError):
            peer(p.data_port, None)

        # Plain HTTP to the TLS listener gets no answer (the connection is closed), and nothing is forwarded.
        def plain_to_tls():
            conn = http.client.HTTPConnection(LOOPBACK, p.data_port, timeout=15)
            try:
                return send(conn, b"{}", {"Content-Type": JSON_10, "X-Amz-Target": TARGET + "ListTables"})
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                return e
            finally:
                conn.close()
        got = upstream.unseen(plain_to_tls, "plain HTTP to the TLS listener")
        assert isinstance(got, OSError) or isinstance(got, http.client.HTTPException) or got.status >= 400, str(got)

        # The admin listener stays plain HTTP.
        h = admin_request(p.admin_port, "GET", "/healthz")
        assert h.status == 200, f"/healthz: HTTP {h.status} {h.body[:300]!r}"
        s = admin_request(p.admin_port, "GET", "/stats")
        assert s.status == 200 and json.loads(s.body), f"/stats: HTTP {s.status} {s.body[:300]!r}"

        # A keep-alive TLS connection opened before the new certificate.
        ctx = ssl.create_default_context(cafile=ca.cert)
        old_conn = http.client.HTTPSConnection("localhost", p.data_port, timeout=20, context=ctx)
        old_conn.auto_open = 0
        old_conn.connect()
        host = f"localhost:{p.data_port}"

        def old_conn_get(what: str) -> None:
            body = json.dumps({"TableName": t, "Key": {"pk": S("k")}}).encode()
            a = send(old_conn, body, sign(host, body, "GetItem", "tls-client", "tls-secret", scheme="https"))
            assert a.status == 200 and a.json()["Item"]["v"] == S("over tls"), f"{what}: {a}"

        old_conn_get("keep-alive TLS connection, before the reload")

        # New certificate pair in place, SIGHUP: new connections get it.
        cert2, key2 = ca.issue("proxy-2")
        serial2 = openssl_serial(cert2)
        assert serial2 != serial1
        shutil.copyfile(cert2, cert)
        shutil.copyfile(key2, key)
        hangup(p, "certificate reloaded")
        served = wait_until(lambda: (lambda s: s if s == serial2 else None)(peer(p.data_port, ca.cert)[0]
                                                                           ["serialNumber"].upper()),
                            30, f"new connections to be served proxy-2 ({serial2})")
        assert served == serial2
        assert ddb.ok("get_item", TableName=t, Key={"pk": S("k")})["Item"]["v"] == S("over tls")
        fresh = Ddb(endpoint, "tls-client", "tls-secret", verify=ca.cert)
        fresh.ok("put_item", TableName=t, Item={"pk": S("k"), "v": S("after reload")})
        assert fresh.ok("get_item", TableName=t, Key={"pk": S("k")})["Item"]["v"] == S("after reload")
        assert fresh.cache == "hit", str(fresh.last)
        # The connection opened before the reload is not dropped and keeps its certificate.
        body = json.dumps({"TableName": t, "Key": {"pk": S("k")}}).encode()
        a = send(old_conn, body, sign(host, body, "GetItem", "tls-client", "tls-secret", scheme="https"))
        assert a.status == 200 and a.json()["Item"]["v"] == S("after reload"), f"old connection after reload: {a}"
        assert old_conn.sock.getpeercert()["serialNumber"].upper() == serial1

        # A broken certificate file on SIGHUP: the current one stays.
        write_file(cert, "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
        hangup(p, "certificate not reloaded")
        assert peer(p.data_port, ca.cert)[0]["serialNumber"].upper() == serial2
        assert fresh.ok("get_item", TableName=t, Key={"pk": S("k")})["Item"]["v"] == S("after reload")
    finally:
        if old_conn is not None:
            old_conn.close()
        p.stop()


def test_admin_listener_tls(upstream, binary, log_dir):
    """With --admin-tls-cert/--admin-tls-key the admin listener speaks TLS too (and only TLS)."""
    d = os.path.join(log_dir, f"admin-tls-{uuid.uuid4().hex[:6]}")
    ca = CertificateAuthority(d)
    cert, key = ca.issue("proxy-admin")
    p = ProxyProcess(binary, upstream.moto.url, log_dir, "proxy-admin-tls",
                     ["--tls-cert", cert, "--tls-key", key, "--admin-tls-cert", cert, "--admin-tls-key", key],
                     env=proxy_environment())
    try:
        assert p.data_url.startswith("https://127.0.0.1:") and p.admin_url.startswith("https://127.0.0.1:"), \
            f"ready line: {p.stdout_lines}"
        conn = http.client.HTTPSConnection("localhost", p.admin_port, timeout=15,
                                           context=ssl.create_default_context(cafile=ca.cert))
        try:
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            body = r.read()
            assert r.status == 200, f"/healthz over TLS: HTTP {r.status} {body[:300]!r}"
        finally:
            conn.close()
        with pytest.raises((http.client.HTTPException, OSError)):
            admin_request(p.admin_port, "GET", "/healthz", timeout=15)
    finally:
        p.stop()


def test_refused_from_the_head_before_the_body_is_read(auth):
    """A request that its headers alone show to be refused (here an unknown key) is answered before its body is
    read: no 100 Continue is promised and the 8 MB it announces is never waited for."""
    import socket
    body = json.dumps({"TableName": "orders", "Key": {"pk": S("seed")}}).encode()
    headers = sign(f"{LOOPBACK}:{auth.port}", body, "GetItem", NOBODY.key, NOBODY.secret)
    head = ["POST / HTTP/1.1", f"Host: {LOOPBACK}:{auth.port}", "Expect: 100-continue", "Content-Length: 8000000"]
    head += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
    with socket.create_connection((LOOPBACK, auth.port), timeout=20) as s:
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 100:
            chunk = s.recv(65536)
            assert chunk, f"connection closed after {data!r}"
            data += chunk
    status_line = data.split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 400 Bad Request", data[:300]
    assert b"100 Continue" not in data and b"UnrecognizedClientException" in data, data[:500]
