"""The proxy in front of a storage server that authenticates: SigV4 re-signing, signature pass-through, TLS.

Real parts only: an AuthMoto (moto_server that verifies every SigV4 signature, body included, against IAM
users it created), openssl certificates, stunnel terminating TLS in front of that moto, and the dynamo-cache
binary. No pair of servers here: each proxied answer is compared with what the same AuthMoto answers to a
direct, properly signed client (same server, same state).

1. `--upstream-auth sign` over plain http: the test client signs with made-up keys, the proxy drops that
   signature and signs with the "proxy" IAM user's keys. Every cache path (projected GetItem miss, which the
   proxy rewrites to fetch the whole item; UpdateItem ReturnValues NONE, rewritten to ALL_NEW; partial
   BatchGetItem, which sends only the missing keys; Query, Scan, TransactWriteItems, PartiQL, Streams,
   DescribeTable, ListTables) must pass moto's signature check and answer what moto answers. All callers
   share one cache namespace; temporary (assumed-role) credentials sign too.
2. `--upstream-auth forward`: the client's own (valid) signature is passed through unchanged, which proves
   that moto checks signatures: a request the proxy rewrites is refused (403 SignatureDoesNotMatch), and
   with `--rewrite-requests off` it passes.
3. An https:// storage server (stunnel in front of the AuthMoto): trusted through `--upstream-ca-file`, it
   works and caches; an untrusted certificate, a certificate for another name and a server that does not
   speak TLS are each refused with a retryable 503 ServiceUnavailable saying why, nothing is sent, and the
   reason is logged once, not once per request.
4. `--region` alone means real DynamoDB of that region, signed; `sign` without any region is refused at
   start-up.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import tempfile
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from aws_fixtures import NO_RETRY, AuthMoto, CertificateAuthority, Stunnel, proxy_environment, wait_until
from e2e_support import (LOOPBACK, REGION, ProxyProcess, Raw, admin_request, comparable, header, json_diff,
                         normalise, unique)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
STOP_GRACE = 10.0  # seconds the proxies get to exit after SIGTERM at teardown before they are killed
TLS_REFUSED = "storage server TLS refused"


def S(v):
    return {"S": v}


def N(v):
    return {"N": str(v)}


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def fmt(raw: Raw | None, limit: int = 800) -> str:
    if raw is None:
        return "<no HTTP response>"
    body = raw.body[:limit].decode("utf-8", "replace")
    return (f"HTTP {raw.status} x-dynamo-cache={header(raw.headers, 'x-dynamo-cache')!r} "
            f"body={body}{'...' if len(raw.body) > limit else ''}")


class Client:
    """A boto3 client (no retries unless `config` says so) that keeps the last raw HTTP answer."""

    def __init__(self, endpoint: str, key: str, secret: str, service: str = "dynamodb",
                 token: str | None = None, config: Config = NO_RETRY):
        self.endpoint = endpoint
        self.boto = boto3.client(service, endpoint_url=endpoint, region_name=REGION, config=config,
                                 aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token)
        self.boto.meta.events.register("after-call", self._capture)
        self.last: Raw | None = None

    def _capture(self, http_response, **_kw) -> None:
        self.last = Raw(http_response.status_code, dict(http_response.headers), http_response.content)

    @property
    def cache(self) -> str | None:
        return header(self.last.headers, "x-dynamo-cache") if self.last is not None else None

    def __call__(self, op: str, cache: str | None = None, **kwargs) -> dict:
        """A call that must succeed (and, with `cache`, answer that x-dynamo-cache value)."""
        self.last = None
        what = f"{op}({short(kwargs)}) via {self.endpoint}"
        try:
            result = getattr(self.boto, op)(**kwargs)
        except ClientError as e:
            raise AssertionError(f"{what}: expected success, got {e.response['Error'].get('Code')}: "
                                 f"{e.response['Error'].get('Message')}\n  {fmt(self.last)}") from None
        if cache is not None:
            assert self.cache == cache, f"{what}: x-dynamo-cache {self.cache!r}, expected {cache!r}\n  {fmt(self.last)}"
        return result

    def fails(self, op: str, **kwargs) -> ClientError:
        """A call that must fail with an answer from the server (not a connection error)."""
        self.last = None
        try:
            result = getattr(self.boto, op)(**kwargs)
        except ClientError as e:
            assert self.last is not None, f"{op}: no HTTP response captured"
            return e
        raise AssertionError(f"{op}({short(kwargs)}) via {self.endpoint}: expected an error, got {short(result)}")


def short(value, limit: int = 300) -> str:
    s = json.dumps(value, default=repr)
    return s if len(s) <= limit else s[:limit] + "..."


def view(result: dict) -> object:
    """A boto3 result as compared here: no ResponseMetadata, no ConsumedCapacity (a cache answer has its own),
    sets and BatchGetItem lists in a stable order, volatile fields (iterators, stream timestamps) masked."""
    return normalise(comparable(result, cached=True))


def assert_same(proxied: dict, direct: dict, what: str) -> None:
    d = json_diff(view(direct), view(proxied))
    assert not d, (f"{what}: the proxy's answer differs from moto's answer to a direct client:\n  - "
                   + "\n  - ".join(d))


def flush(proxy: ProxyProcess) -> None:
    r = admin_request(proxy.admin_port, "POST", "/flush")
    assert r.status == 200, f"POST /flush: HTTP {r.status} {r.body[:300]!r}"


def log_text(proxy: ProxyProcess) -> str:
    with open(proxy.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def ready_line(proxy: ProxyProcess) -> str:
    lines = wait_until(lambda: [ln for ln in log_text(proxy).splitlines() if "proxy ready" in ln], 10,
                       f"'proxy ready' in {proxy.log_path}")
    return lines[0]


def wait_serving(proxy: ProxyProcess) -> None:
    """Until the proxy's background services run (a sample in /stats history; the sampler runs every second).
    Only then is SIGTERM handled: one sent the moment the ready line appears can end the process the default way
    (status -15, no drain)."""
    def sampled():
        r = admin_request(proxy.admin_port, "GET", "/stats")
        return r.status == 200 and r.json().get("history")
    wait_until(sampled, 10, f"{proxy.name}: a sample in /stats history", interval=0.2)


def create_table(c: Client, name: str, stream: str | None = None) -> dict:
    kw = dict(TableName=name, BillingMode="PAY_PER_REQUEST",
              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                    {"AttributeName": "sk", "AttributeType": "N"}])
    if stream:
        kw["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
    desc = c("create_table", **kw)["TableDescription"]
    assert desc["TableName"] == name and desc["TableStatus"] in ("ACTIVE", "CREATING"), short(desc)
    return desc


def key(pk: str, sk: int) -> dict:
    return {"pk": S(pk), "sk": N(sk)}


def stop_all(procs: list[ProxyProcess], grace: float = STOP_GRACE) -> dict[str, int | None]:
    """SIGTERM every proxy at once, give them `grace` seconds together, then kill what is left.
    Returns each one's exit status (None: it had to be killed)."""
    for p in procs:
        if p.proc.poll() is None:
            p.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    return {p.name: p.stop(timeout=max(0.1, deadline - time.monotonic())) for p in procs}


# ---------------------------------------------------------------------------
# Fixtures: one AuthMoto, proxies started on demand and all stopped at the end of the module
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def moto(log_dir):
    m = AuthMoto(REPO_ROOT, log_dir, "upauth-moto", users=("proxy",))
    try:
        yield m
    finally:
        m.stop()


@pytest.fixture(scope="module")
def launch(binary, log_dir):
    """launch(name, upstream, args, env) -> a started ProxyProcess, stopped at the end of the module."""
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.fail(f"dynamo-cache binary not found or not executable: {binary} (set DYNAMO_CACHE_BIN)",
                    pytrace=False)
    started: list[ProxyProcess] = []

    def start(name: str, upstream: str | None, args: list[str], env: dict[str, str]) -> ProxyProcess:
        p = ProxyProcess(binary, upstream, log_dir, f"upauth-{name}", args, env=env)
        started.append(p)
        return p

    try:
        yield start
    finally:
        codes = stop_all(started)
    unclean = {name: code for name, code in codes.items() if code != 0}
    assert not unclean, f"proxies that did not exit 0 on SIGTERM (None: killed after {STOP_GRACE}s): {unclean}"


def proxy_keys(moto: AuthMoto) -> dict[str, str]:
    k, s = moto.keys["proxy"]
    return {"AWS_ACCESS_KEY_ID": k, "AWS_SECRET_ACCESS_KEY": s}


@pytest.fixture(scope="module")
def direct(moto) -> Client:
    """A properly signed client of the AuthMoto itself (the reference)."""
    return Client(moto.url, *moto.keys["proxy"])


@pytest.fixture(scope="module")
def signing_proxy(moto, launch) -> ProxyProcess:
    return launch("sign", moto.url, ["--upstream-auth", "sign"],
                  proxy_environment(proxy_keys(moto), AWS_REGION=REGION))


@pytest.fixture(scope="module")
def client(signing_proxy) -> Client:
    """The test's client of the signing proxy: keys moto never issued."""
    return Client(signing_proxy.data_url, "AKIDNOTKNOWNTOMOTO01", "not-a-real-secret")


# ---------------------------------------------------------------------------
# 1. --upstream-auth sign over plain http
# ---------------------------------------------------------------------------

def test_made_up_keys_are_refused_by_moto_itself(moto):
    """The premise of everything below: moto refuses the test client's keys when they reach it."""
    e = Client(moto.url, "AKIDNOTKNOWNTOMOTO01", "not-a-real-secret").fails("list_tables")
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 403 and b"InvalidClientTokenId" in \
        e.response["Error"]["Message"].encode(), f"moto accepted or answered oddly: {e.response['Error']}"


def test_sign_tables_and_writes(moto, signing_proxy, client, direct):
    ready = ready_line(signing_proxy)
    assert f"upstream={moto.url}" in ready and "upstreamAuth=sign" in ready, ready
    t = unique("ua-tables")
    create_table(client, t)
    assert client.cache == "bypass", fmt(client.last)
    assert_same(client("describe_table", TableName=t), direct("describe_table", TableName=t), "DescribeTable")
    listed = client("list_tables")
    assert t in listed["TableNames"], listed["TableNames"]
    assert_same(listed, direct("list_tables"), "ListTables")
    # The signature covers the body: non-ASCII text and a large item must be signed as sent.
    item = {**key("a", 1), "text": S("héllo wörld ✓ 𝄞"), "big": S("x" * 100_000), "n": N(7)}
    client("put_item", cache="write", TableName=t, Item=item)
    got = direct("get_item", TableName=t, Key=key("a", 1), ConsistentRead=True)
    assert got.get("Item") == item, f"moto holds {short(got.get('Item'))}"


def test_sign_projected_get_item_miss_then_hit(signing_proxy, client, direct):
    t = unique("ua-proj")
    create_table(client, t)
    item = {**key("p", 1), "a": S("A"), "b": {"M": {"c": N(3), "d": S("D")}}, "e": {"SS": ["x", "y"]}}
    client("put_item", TableName=t, Item=item)
    flush(signing_proxy)
    proj = dict(TableName=t, Key=key("p", 1), ProjectionExpression="a, b.c")
    first = client("get_item", cache="miss", **proj)  # sent to moto without the projection, signed after that
    assert first.get("Item") == {"a": S("A"), "b": {"M": {"c": N(3)}}}, short(first)
    assert_same(first, direct("get_item", **proj), "projected GetItem (miss)")
    second = client("get_item", cache="hit", **proj)
    assert_same(second, direct("get_item", **proj), "projected GetItem (hit)")
    # The miss cached the whole item: other projections and the whole item are answered from memory.
    other = dict(TableName=t, Key=key("p", 1), ProjectionExpression="e, b.d")
    assert_same(client("get_item", cache="hit", **other), direct("get_item", **other), "other projection")
    whole = client("get_item", cache="hit", TableName=t, Key=key("p", 1))
    assert_same(whole, direct("get_item", TableName=t, Key=key("p", 1)), "whole item after a projected miss")


def test_sign_update_item_return_values_none(signing_proxy, client, direct):
    t = unique("ua-update")
    create_table(client, t)
    client("put_item", TableName=t, Item={**key("u", 1), "v": S("old"), "n": N(1)})
    flush(signing_proxy)
    r = client("update_item", cache="write", TableName=t, Key=key("u", 1), ReturnValues="NONE",
               UpdateExpression="SET v = :v ADD n :one", ExpressionAttributeValues={":v": S("new"), ":one": N(1)})
    assert "Attributes" not in r, f"ReturnValues NONE answered Attributes: {short(r)}"
    expected = {**key("u", 1), "v": S("new"), "n": N(2)}
    assert direct("get_item", TableName=t, Key=key("u", 1))["Item"] == expected
    got = client("get_item", cache="hit", TableName=t, Key=key("u", 1))
    assert got.get("Item") == expected, f"cached item after UpdateItem: {short(got)}"


def test_sign_batch_get_item_partial(signing_proxy, client, direct):
    t = unique("ua-batch")
    create_table(client, t)
    for i in range(4):
        client("put_item", TableName=t, Item={**key("b", i), "v": S(f"v{i}")})
    flush(signing_proxy)
    client("get_item", cache="miss", TableName=t, Key=key("b", 0))
    client("get_item", cache="miss", TableName=t, Key=key("b", 2))
    keys = [key("b", i) for i in range(4)] + [key("b", 9)]  # b/9 does not exist
    request = {t: {"Keys": keys}}
    first = client("batch_get_item", cache="partial", RequestItems=request)  # only b/1, b/3, b/9 sent
    assert first.get("UnprocessedKeys") in (None, {}), short(first)
    assert sorted(i["sk"]["N"] for i in first["Responses"][t]) == ["0", "1", "2", "3"], short(first)
    assert_same(first, direct("batch_get_item", RequestItems=request), "BatchGetItem (partial)")
    second = client("batch_get_item", cache="hit", RequestItems=request)
    assert_same(second, direct("batch_get_item", RequestItems=request), "BatchGetItem (hit)")
    proj = {t: {"Keys": keys, "ProjectionExpression": "v"}}
    assert_same(client("batch_get_item", cache="hit", RequestItems=proj),
                direct("batch_get_item", RequestItems=proj), "projected BatchGetItem (hit)")


def paged(c: Client, op: str, cache: str | None, **kwargs) -> list[dict]:
    """Every page of a Query or Scan, following LastEvaluatedKey (bounded)."""
    pages, start = [], None
    for _ in range(20):
        kw = dict(kwargs, **({"ExclusiveStartKey": start} if start else {}))
        page = c(op, cache=cache, **kw)
        pages.append(page)
        start = page.get("LastEvaluatedKey")
        if not start:
            return pages
    raise AssertionError(f"{op}: more than 20 pages")


def test_sign_query_and_scan(client, direct):
    t = unique("ua-query")
    create_table(client, t)
    for pk in ("q", "r"):
        for i in range(5):
            client("put_item", TableName=t, Item={**key(pk, i), "v": S(f"{pk}{i}"), "n": N(i * 10)})
    reads = [
        ("query", dict(TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("q")})),
        ("query", dict(TableName=t, KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b", Limit=2,
                       ScanIndexForward=False, ProjectionExpression="v, n",
                       ExpressionAttributeValues={":p": S("r"), ":a": N(1), ":b": N(4)})),
        ("scan", dict(TableName=t, Limit=3)),
        ("scan", dict(TableName=t, FilterExpression="n >= :m", ExpressionAttributeValues={":m": N(20)})),
    ]
    for op, kw in reads:
        want = paged(direct, op, None, **kw)
        assert sum(p["Count"] for p in want) > 0, f"{op} {short(kw)}: moto found nothing"
        for cache in ("miss", "hit"):
            got = paged(client, op, cache, **kw)
            assert len(got) == len(want), f"{op} {short(kw)} ({cache}): {len(got)} pages, moto {len(want)}"
            for i, (g, w) in enumerate(zip(got, want)):
                assert_same(g, w, f"{op} {short(kw)} page {i} ({cache})")


def test_sign_transact_write_items(signing_proxy, client, direct):
    t = unique("ua-tx")
    create_table(client, t)
    client("put_item", TableName=t, Item={**key("t", 1), "v": S("before")})
    client("put_item", TableName=t, Item={**key("t", 2), "v": S("doomed")})
    flush(signing_proxy)
    client("get_item", cache="miss", TableName=t, Key=key("t", 1))
    client("get_item", cache="hit", TableName=t, Key=key("t", 1))
    q = dict(TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("t")})
    client("query", cache="miss", **q)
    client("query", cache="hit", **q)
    client("transact_write_items", cache="write", TransactItems=[
        {"Update": {"TableName": t, "Key": key("t", 1), "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": S("after")}}},
        {"Delete": {"TableName": t, "Key": key("t", 2)}},
        {"Put": {"TableName": t, "Item": {**key("t", 3), "v": S("added")}}},
    ])
    assert client("get_item", TableName=t, Key=key("t", 1)).get("Item") == {**key("t", 1), "v": S("after")}, \
        fmt(client.last)
    assert "Item" not in client("get_item", TableName=t, Key=key("t", 2)), fmt(client.last)
    assert client("get_item", TableName=t, Key=key("t", 3)).get("Item") == {**key("t", 3), "v": S("added")}, \
        fmt(client.last)
    got = client("query", **q)
    assert [i["v"]["S"] for i in got["Items"]] == ["after", "added"], fmt(client.last)
    assert_same(got, direct("query", **q), "Query after TransactWriteItems")


def test_sign_partiql(client, direct):
    t = unique("ua-partiql")
    create_table(client, t)
    client("put_item", TableName=t, Item={**key("s", 1), "v": S("one")})
    client("get_item", TableName=t, Key=key("s", 1))
    assert "Item" not in client("get_item", TableName=t, Key=key("s", 2))  # now known (cached) as absent
    select = dict(Statement=f'SELECT * FROM "{t}" WHERE pk = ?', Parameters=[S("s")])
    assert_same(client("execute_statement", **select), direct("execute_statement", **select), "PartiQL SELECT")
    # moto answers HTTP 500 to Parameters in an INSERT's VALUE and to a number literal in a WHERE clause (as it
    # does to some others, see e2e_support.MOTO_DEVIATIONS): literals in the INSERT, Parameters in the UPDATE.
    client("execute_statement", Statement=f"INSERT INTO \"{t}\" VALUE {{'pk': 's', 'sk': 2, 'v': 'two'}}")
    client("execute_statement", Statement=f'UPDATE "{t}" SET v = ? WHERE pk = ? AND sk = ?',
           Parameters=[S("uno"), S("s"), N(1)])
    assert client("get_item", TableName=t, Key=key("s", 1)).get("Item") == {**key("s", 1), "v": S("uno")}, \
        fmt(client.last)
    assert client("get_item", TableName=t, Key=key("s", 2)).get("Item") == {**key("s", 2), "v": S("two")}, \
        fmt(client.last)
    got = client("execute_statement", **select)
    assert sorted(i["v"]["S"] for i in got["Items"]) == ["two", "uno"], short(got)
    assert_same(got, direct("execute_statement", **select), "PartiQL SELECT after INSERT and UPDATE")


def test_sign_streams(signing_proxy, client, direct, moto):
    t = unique("ua-stream")
    desc = create_table(client, t, stream="NEW_AND_OLD_IMAGES")
    assert desc["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}, desc
    client("put_item", TableName=t, Item={**key("k", 1), "v": S("1")})
    client("update_item", TableName=t, Key=key("k", 1), UpdateExpression="SET v = :v",
           ExpressionAttributeValues={":v": S("2")})
    client("delete_item", TableName=t, Key=key("k", 1))
    streams = Client(signing_proxy.data_url, "AKIDNOTKNOWNTOMOTO01", "not-a-real-secret", "dynamodbstreams")
    streams_direct = Client(moto.url, *moto.keys["proxy"], "dynamodbstreams")
    listed = streams("list_streams", TableName=t)
    assert_same(listed, streams_direct("list_streams", TableName=t), "ListStreams")
    assert len(listed["Streams"]) == 1, short(listed)
    arn = listed["Streams"][0]["StreamArn"]
    described = streams("describe_stream", StreamArn=arn)
    assert_same(described, streams_direct("describe_stream", StreamArn=arn), "DescribeStream")
    shard = described["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams("get_shard_iterator", StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams("get_records", ShardIterator=it["ShardIterator"], Limit=100)["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"], short(records)
    assert records[1]["dynamodb"]["OldImage"]["v"] == S("1") and records[1]["dynamodb"]["NewImage"]["v"] == S("2")
    it_direct = streams_direct("get_shard_iterator", StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    want = streams_direct("get_records", ShardIterator=it_direct["ShardIterator"], Limit=100)["Records"]
    assert_same({"Records": records}, {"Records": want}, "GetRecords")


def test_sign_callers_share_one_namespace(signing_proxy, client, direct):
    """No client auth: whoever calls (other made-up keys, a made-up session token, no signature at all) is
    served with the proxy's credentials, from the same cache."""
    t = unique("ua-shared")
    create_table(client, t)
    item = {**key("n", 1), "v": S("shared")}
    client("put_item", TableName=t, Item=item)
    flush(signing_proxy)
    assert client("get_item", cache="miss", TableName=t, Key=key("n", 1))["Item"] == item
    other = Client(signing_proxy.data_url, "AKIDSOMEONEELSE00002", "another-secret", token="made-up-session-token")
    assert other("get_item", cache="hit", TableName=t, Key=key("n", 1))["Item"] == item
    assert other("get_item", cache="bypass", ConsistentRead=True, TableName=t, Key=key("n", 1))["Item"] == item
    # Unsigned requests (no Authorization, no X-Amz-Date): a hit, and a strong read the proxy signs for moto.
    status, answer, cache = unsigned_get_item(signing_proxy, {"TableName": t, "Key": key("n", 1)})
    assert (status, answer, cache) == (200, {"Item": item}, "hit"), f"unsigned GetItem: {status} {cache} {answer}"
    status, answer, cache = unsigned_get_item(signing_proxy, {"TableName": t, "Key": key("n", 2),
                                                              "ConsistentRead": True})
    assert (status, answer) == (200, {}), f"unsigned strong GetItem: HTTP {status} {answer}"


def unsigned_get_item(proxy: ProxyProcess, request: dict) -> tuple[int, object, str | None]:
    conn = http.client.HTTPConnection(LOOPBACK, proxy.data_port, timeout=15)
    try:
        conn.request("POST", "/", body=json.dumps(request).encode(),
                     headers={"Content-Type": "application/x-amz-json-1.0",
                              "X-Amz-Target": "DynamoDB_20120810.GetItem"})
        r = conn.getresponse()
        data = r.read()
    finally:
        conn.close()
    try:
        answer = json.loads(data)
    except ValueError:
        answer = data[:300]
    return r.status, answer, r.getheader("x-dynamo-cache")


def test_sign_with_temporary_credentials(moto, launch, direct):
    """The proxy's own credentials are an assumed role's (key, secret, session token): moto accepts them."""
    creds = moto.assume_role()
    env = proxy_environment({"AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
                             "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                             "AWS_SESSION_TOKEN": creds["SessionToken"]}, AWS_DEFAULT_REGION=REGION)
    p = launch("sign-temporary", moto.url, ["--upstream-auth", "sign"], env)
    c = Client(p.data_url, "AKIDNOTKNOWNTOMOTO01", "not-a-real-secret")
    t = unique("ua-temp")
    create_table(c, t)
    item = {**key("r", 1), "v": S("role")}
    c("put_item", cache="write", TableName=t, Item=item)
    assert direct("get_item", TableName=t, Key=key("r", 1)).get("Item") == item
    flush(p)
    got = c("get_item", cache="miss", TableName=t, Key=key("r", 1), ProjectionExpression="v")
    assert got["Item"] == {"v": S("role")}, short(got)
    assert c("get_item", cache="hit", TableName=t, Key=key("r", 1))["Item"] == item


# ---------------------------------------------------------------------------
# 2. --upstream-auth forward: moto checks the client's signature
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def forward_table(direct):
    t = unique("ua-forward")
    create_table(direct, t)
    for i in range(1, 6):
        direct("put_item", TableName=t, Item={**key("f", i), "v": S(f"v{i}"), "w": S(f"w{i}")})
    return t


def forwarding_proxy(moto, launch, name, *args):
    """No AWS settings at all in its environment: forward mode needs no credentials of its own."""
    return launch(name, moto.url, ["--upstream-auth", "forward", *args], proxy_environment())


def assert_signature_refused(e: ClientError, c: Client, what: str) -> None:
    assert c.last is not None and c.last.status == 403, f"{what}: expected HTTP 403 from moto, got {fmt(c.last)}"
    assert b"SignatureDoesNotMatch" in c.last.body, f"{what}: expected SignatureDoesNotMatch, got {fmt(c.last)}"


def test_forward_passes_the_signature_through(moto, launch, forward_table, direct):
    p = forwarding_proxy(moto, launch, "forward")
    ready = ready_line(p)
    assert "upstreamAuth=forward" in ready, ready
    c = Client(p.data_url, *moto.keys["proxy"])
    got = c("get_item", cache="miss", TableName=forward_table, Key=key("f", 1))
    assert_same(got, direct("get_item", TableName=forward_table, Key=key("f", 1)), "forwarded GetItem")
    assert c("get_item", cache="hit", TableName=forward_table, Key=key("f", 1))["Item"] == got["Item"]
    # The client's keys are what moto checks: made-up keys are refused (forwarded, not re-signed).
    e = Client(p.data_url, "AKIDNOTKNOWNTOMOTO01", "x").fails("get_item", TableName=forward_table, Key=key("f", 3))
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 403 and \
        "InvalidClientTokenId" in e.response["Error"]["Message"], f"made-up keys forwarded: {e.response['Error']}"


def test_forward_rewritten_requests_break_the_signature(moto, launch, forward_table, direct):
    p = forwarding_proxy(moto, launch, "forward-rewrite")
    c = Client(p.data_url, *moto.keys["proxy"])
    e = c.fails("get_item", TableName=forward_table, Key=key("f", 2), ProjectionExpression="v")
    assert_signature_refused(e, c, "projected GetItem miss (sent without its projection)")
    e = c.fails("update_item", TableName=forward_table, Key=key("f", 2), ReturnValues="NONE",
                UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": S("changed")})
    assert_signature_refused(e, c, "UpdateItem ReturnValues NONE (sent with ALL_NEW)")
    got = direct("get_item", TableName=forward_table, Key=key("f", 2), ConsistentRead=True)
    assert got["Item"]["v"] == S("v2"), f"the refused UpdateItem changed the item: {short(got)}"


def test_forward_without_rewrites_passes(moto, launch, forward_table, direct):
    p = forwarding_proxy(moto, launch, "forward-norewrite", "--rewrite-requests", "off")
    c = Client(p.data_url, *moto.keys["proxy"])
    proj = dict(TableName=forward_table, Key=key("f", 4), ProjectionExpression="v")
    got = c("get_item", **proj)
    assert got.get("Item") == {"v": S("v4")}, fmt(c.last)
    assert_same(got, direct("get_item", **proj), "projected GetItem without rewriting")
    r = c("update_item", cache="write", TableName=forward_table, Key=key("f", 4), ReturnValues="NONE",
          UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": S("changed")})
    assert "Attributes" not in r, short(r)
    assert direct("get_item", TableName=forward_table, Key=key("f", 4), ConsistentRead=True)["Item"]["v"] == \
        S("changed")
    assert c("get_item", TableName=forward_table, Key=key("f", 4))["Item"]["v"] == S("changed"), fmt(c.last)


# ---------------------------------------------------------------------------
# 3. https:// storage server: stunnel with our own CA in front of the AuthMoto
# ---------------------------------------------------------------------------

class TLSParts:
    def __init__(self, ca: CertificateAuthority, good: Stunnel, other: Stunnel):
        self.ca, self.good, self.other = ca, good, other


@pytest.fixture(scope="module")
def tls(moto, log_dir):
    ca = CertificateAuthority(tempfile.mkdtemp(prefix="ca-", dir=log_dir))
    cert, cert_key = ca.issue("localhost", dns=("localhost",), ips=("127.0.0.1",))
    other_cert, other_key = ca.issue("other", dns=("other.example",), ips=())
    started = []
    try:
        started.append(Stunnel(log_dir, "upauth-stunnel-localhost", moto.port, cert, cert_key))
        started.append(Stunnel(log_dir, "upauth-stunnel-other", moto.port, other_cert, other_key))
        yield TLSParts(ca, *started)
    finally:
        for s in started:
            s.stop()


def tls_proxy(moto, launch, name, port, *args):
    return launch(name, f"https://localhost:{port}", list(args), proxy_environment(proxy_keys(moto), AWS_REGION=REGION))


def moto_posts(moto) -> int:
    """Requests moto has logged so far, once its log has stopped growing (it logs just after answering)."""
    def count():
        with open(moto.log_path, "rb") as f:
            return sum(1 for line in f if b'"POST ' in line)
    last = [count()]

    def settled():
        time.sleep(0.3)
        now = count()
        same, last[0] = now == last[0], now
        return same
    wait_until(settled, 10, "moto's log to stop growing", interval=0)
    return last[0]


def assert_tls_refused(c: Client, what: str, reason: str, op: str = "get_item", **kwargs) -> ClientError:
    e = c.fails(op, **kwargs)
    err = e.response["Error"]
    assert c.last.status == 503 and err.get("Code") == "ServiceUnavailable", \
        f"{what}: expected 503 ServiceUnavailable, got {err.get('Code')}\n  {fmt(c.last)}"
    assert reason in (err.get("Message") or ""), f"{what}: message does not say {reason!r}: {err.get('Message')!r}"
    return e


def tls_refused_lines(p: ProxyProcess) -> list[str]:
    return [ln for ln in log_text(p).splitlines() if TLS_REFUSED in ln]


def test_tls_upstream_trusted_through_ca_file(moto, launch, tls, direct):
    p = tls_proxy(moto, launch, "tls-good", tls.good.port, "--upstream-ca-file", tls.ca.cert)
    ready = ready_line(p)
    assert f"upstream=https://localhost:{tls.good.port}" in ready and "upstreamAuth=sign" in ready, \
        f"https:// should sign by default: {ready}"
    c = Client(p.data_url, "AKIDNOTKNOWNTOMOTO01", "not-a-real-secret")
    t = unique("ua-tls")
    create_table(c, t)
    for i in range(3):
        c("put_item", cache="write", TableName=t, Item={**key("h", i), "v": S(f"tls{i}")})
    flush(p)
    g = dict(TableName=t, Key=key("h", 1))
    assert_same(c("get_item", cache="miss", **g), direct("get_item", **g), "GetItem over TLS (miss)")
    assert_same(c("get_item", cache="hit", **g), direct("get_item", **g), "GetItem over TLS (hit)")
    pg = dict(TableName=t, Key=key("h", 2), ProjectionExpression="v")
    assert_same(c("get_item", cache="miss", **pg), direct("get_item", **pg), "projected GetItem over TLS (miss)")
    assert c("get_item", cache="hit", **pg)["Item"] == {"v": S("tls2")}
    q = dict(TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("h")})
    assert_same(c("query", cache="miss", **q), direct("query", **q), "Query over TLS (miss)")
    assert_same(c("query", cache="hit", **q), direct("query", **q), "Query over TLS (hit)")
    assert not tls_refused_lines(p), tls_refused_lines(p)


def test_tls_untrusted_certificate_refused(moto, launch, tls, direct):
    p = tls_proxy(moto, launch, "tls-no-ca", tls.good.port)  # the system trust store does not know our CA
    c = Client(p.data_url, "AKIDNOTKNOWNTOMOTO01", "not-a-real-secret")
    t = unique("ua-notrust")
    create_table(direct, t)
    before = moto_posts(moto)
    assert_tls_refused(c, "GetItem, untrusted certificate", "not trusted", TableName=t, Key=key("x", 1))
    assert_tls_refused(c, "PutItem, untrusted certificate", "not trusted", "put_item",
                       TableName=t, Item={**key("x", 1), "v": S("must not arrive")})
    assert moto_posts(moto) == before, "a request reached moto through a TLS connection the proxy refused"
    got = direct("get_item", TableName=t, Key=key("x", 1), ConsistentRead=True)
    assert "Item" not in got, f"the refused PutItem was applied: {short(got)}"
    lines = wait_until(lambda: tls_refused_lines(p), 10, f"a '{TLS_REFUSED}' line in {p.log_path}")
    assert len(lines) == 1 and "not trusted" in lines[0], f"{len(lines)} '{TLS_REFUSED}' lines:\n" + "\n".join(lines)


def test_tls_certificate_for_another_name_refused(moto, launch, tls):
    p = tls_proxy(moto, launch, "tls-other-name", tls.other.port, "--upstream-ca-file", tls.ca.cert)
    c = Client(p.data_url, "AKIDNOTKNOWNTOMOTO01", "not-a-real-secret")
    t = unique("ua-othername")
    for _ in range(4):
        assert_tls_refused(c, "certificate for other.example", "does not name localhost",
                           TableName=t, Key=key("x", 1))
    # The client's SDK takes the 503 as retryable: with one retry allowed, botocore retries it.
    retrying = Client(p.data_url, "AKIDNOTKNOWNTOMOTO01", "not-a-real-secret",
                      config=Config(retries={"total_max_attempts": 2, "mode": "standard"}, connect_timeout=5,
                                    read_timeout=30))
    e = assert_tls_refused(retrying, "certificate for other.example (retrying client)", "does not name localhost",
                           TableName=t, Key=key("x", 1))
    assert e.response["ResponseMetadata"].get("RetryAttempts") == 1, \
        f"botocore did not retry the 503: {e.response['ResponseMetadata']}"
    lines = wait_until(lambda: tls_refused_lines(p), 10, f"a '{TLS_REFUSED}' line in {p.log_path}")
    time.sleep(0.5)  # a second line, if any, would be written by now: the requests are long answered
    lines = tls_refused_lines(p)
    assert len(lines) == 1 and "does not name localhost" in lines[0], \
        f"expected one '{TLS_REFUSED}' line for 6 refused requests, got {len(lines)}:\n" + "\n".join(lines)


def test_tls_to_a_plain_http_server_refused(moto, launch, tls):
    p = tls_proxy(moto, launch, "tls-plain", moto.port, "--upstream-ca-file", tls.ca.cert)
    c = Client(p.data_url, "AKIDNOTKNOWNTOMOTO01", "not-a-real-secret")
    for _ in range(2):
        assert_tls_refused(c, "https:// to a plain HTTP server", "does not speak TLS",
                           TableName=unique("ua-plain"), Key=key("x", 1))
    lines = wait_until(lambda: tls_refused_lines(p), 10, f"a '{TLS_REFUSED}' line in {p.log_path}")
    assert "does not speak TLS" in lines[0], lines


# ---------------------------------------------------------------------------
# 4. --region, and signing without one
# ---------------------------------------------------------------------------

def test_region_alone_means_real_dynamodb(launch):
    env = proxy_environment({"AWS_ACCESS_KEY_ID": "AKIDFORSTARTUPONLY01", "AWS_SECRET_ACCESS_KEY": "unused"})
    p = launch("region", None, ["--region", "eu-west-1"], env)
    try:
        ready = ready_line(p)
        assert "upstream=https://dynamodb.eu-west-1.amazonaws.com" in ready and "upstreamAuth=sign" in ready, ready
        wait_serving(p)
    finally:
        stop_all([p])  # now, not at the end of the module: it would probe the real endpoint meanwhile


def test_sign_without_a_region_refused(binary, log_dir):
    env = proxy_environment({"AWS_ACCESS_KEY_ID": "AKIDFORSTARTUPONLY01", "AWS_SECRET_ACCESS_KEY": "unused"})
    assert not any(k in env for k in ("AWS_REGION", "AWS_DEFAULT_REGION")), "the environment names a region"
    with pytest.raises(RuntimeError) as info:
        p = ProxyProcess(binary, f"http://{LOOPBACK}:1", log_dir, "upauth-sign-no-region",
                         ["--upstream-auth", "sign"], ready_timeout=30, env=env)
        p.stop()  # it started: the assertion below says so
    message = str(info.value)
    m = re.search(r"exited \(code (-?\d+)\) before printing the ready line", message)
    assert m, f"expected an exit before the ready line, got: {message}"
    assert int(m.group(1)) > 0, f"exit code {m.group(1)}: {message}"
    assert "--region" in message, f"the error does not name --region: {message}"


def test_open_listener_signing_for_anyone_must_be_asked_for(binary):
    """Secure by default: --upstream-auth sign without client authentication on a listener other hosts can reach
    lends the proxy's AWS identity to anyone there; the proxy refuses to start unless --client-auth none is said.
    (Nothing is bound: the check comes before the listeners.)"""
    env = proxy_environment({"AWS_ACCESS_KEY_ID": "AKIDFORSTARTUPONLY01", "AWS_SECRET_ACCESS_KEY": "unused"})
    out = subprocess.run([binary, "serve", "--listen", "0.0.0.0:0", "--admin-listen", f"{LOOPBACK}:0",
                          "--upstream", f"http://{LOOPBACK}:1", "--upstream-auth", "sign", "--region", REGION],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode != 0 and "ready" not in out.stdout, (out.returncode, out.stdout, out.stderr)
    assert "--client-auth sigv4" in out.stderr and "--client-auth none" in out.stderr, out.stderr


# ---------------------------------------------------------------------------
# Lifecycle of a signing proxy
# ---------------------------------------------------------------------------

def test_signing_proxy_background_tasks_and_sigterm(moto, binary, log_dir):
    """A signing proxy with keys that never expire (nothing to refresh) keeps its background work going (the 1 s
    statistics sampler, seen in /stats history) and exits 0 on SIGTERM, as a forwarding proxy does. (Regression:
    the credentials refresher used to return at once, which ended the service group: no sampler, sweeper or
    readiness probe, and SIGTERM ignored.)"""
    env = proxy_environment(proxy_keys(moto), AWS_REGION=REGION)
    p = ProxyProcess(binary, moto.url, log_dir, "upauth-sign-lifecycle", ["--upstream-auth", "sign"], env=env)
    try:
        wait_serving(p)
        p.proc.send_signal(signal.SIGTERM)
        try:
            code = p.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = "still running 10 s after SIGTERM"
        assert code == 0, f"exit status after SIGTERM: {code}; stderr: {p.stderr_tail()}"
    finally:
        p.stop(timeout=1)
