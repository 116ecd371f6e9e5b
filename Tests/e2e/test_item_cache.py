"""The item cache: what is answered from memory, for whom, and how the admin endpoints act on it.

Every read is still compared with moto A directly; in addition each read names the x-dynamo-cache value it must
get from the proxy (`expect_cache`: `hit` answered from memory, `miss` fetched from the storage server,
`partial` a BatchGetItem answered partly from memory, `bypass` never cached). Those checks need the real proxy
and are skipped in DIRECT_ONLY mode, where the `flush` fixture does nothing.
"""

import pytest

from e2e_support import admin_request, create_table, header


def S(v):
    return {"S": v}


def N(v):
    return {"N": str(v)}


@pytest.fixture
def flush(proxy):
    """flush(table=None): POST /flush[?table=NAME] on the admin listener; must answer 200 JSON."""

    def run(table=None):
        if proxy is None:
            return None
        path = "/flush" if table is None else f"/flush?table={table}"
        r = admin_request(proxy.admin_port, "POST", path)
        assert r.status == 200, f"POST {path}: HTTP {r.status} {r.body[:300]!r}"
        ct = header(r.headers, "content-type") or ""
        assert "json" in ct, f"POST {path}: Content-Type {ct!r}"
        return r.json()

    return run


def stats(proxy):
    r = admin_request(proxy.admin_port, "GET", "/stats")
    assert r.status == 200, f"GET /stats: HTTP {r.status} {r.body[:300]!r}"
    body = r.json()
    assert isinstance(body.get("caches", {}).get("item"), dict), f"GET /stats: no caches.item object in {body!r}"
    return body["caches"]["item"]


NESTED = {
    "pk": S("p"),
    "m": {"M": {"x": N(1), "y": {"M": {"z": S("deep"), "w": N(2)}}, "lst": {"L": [S("m0"), S("m1")]}}},
    "l": {"L": [S("l0"), {"M": {"q": N(5), "r": S("R")}}, S("l2"), {"L": [N(30), N(31)]}]},
    "s": S("str"),
    "n": N(3),
    "ss": {"SS": ["a", "b"]},
    "a.b": S("dotted name"),
    "x y": S("spaced name"),
}

# Projections of one cached item, each answered from memory. None uses two indexes into one list or
# overlapping paths (moto deviates there, see e2e_support.MOTO_DEVIATIONS).
PROJECTIONS = [
    ("m.x", None),
    ("m.y.z", None),
    ("m.y", None),
    ("m.lst[1]", None),
    ("l[1].q", None),
    ("l[2]", None),
    ("l[1].r, m.y.w, s", None),
    ("s, n, ss", None),
    ("nosuch", None),                                  # no such attribute: {"Item": {}}
    ("m.nosuch, l[9]", None),
    ("pk, #d", {"#d": "a.b"}),                         # a name with a dot needs a placeholder
    ("#m.#y.#z", {"#m": "m", "#y": "y", "#z": "z"}),
    ("#sp, l[0]", {"#sp": "x y"}),
    ("#size", {"#size": "n"}),                         # a reserved word as a placeholder
]


def test_projections_served_from_cache(pair, name, flush):
    create_table(pair, name)
    pair.ddb("put_item", TableName=name, Item=NESTED)
    flush(name)  # so that the next full GetItem is what fills the entry
    assert pair.ddb("get_item", TableName=name, Key={"pk": S("p")}, expect_cache="miss")["Item"] == NESTED
    assert pair.ddb("get_item", TableName=name, Key={"pk": S("p")}, expect_cache="hit")["Item"] == NESTED
    for expr, names in PROJECTIONS:
        kw = {"ExpressionAttributeNames": names} if names else {}
        pair.ddb("get_item", TableName=name, Key={"pk": S("p")}, ProjectionExpression=expr,
                 expect_cache="hit", **kw)
    r = pair.ddb("get_item", TableName=name, Key={"pk": S("p")}, ProjectionExpression="m.y.z", expect_cache="hit")
    assert r["Item"] == {"m": {"M": {"y": {"M": {"z": S("deep")}}}}}
    r = pair.ddb("get_item", TableName=name, Key={"pk": S("p")}, ProjectionExpression="nosuch", expect_cache="hit")
    assert r["Item"] == {}
    # Where moto deviates (e2e_support.MOTO_DEVIATIONS), the proxy's answer from memory is held to DynamoDB's.
    pair.ddb_documented("get_item", {"Item": {"l": {"L": [{"L": [N(31)]}]}}}, TableName=name, Key={"pk": S("p")},
                        ProjectionExpression="l[3][1]", expect_cache="hit")
    pair.ddb_documented("get_item", {"Item": {"l": {"L": [S("l0")]}}}, TableName=name, Key={"pk": S("p")},
                        ProjectionExpression="#l[0]", ExpressionAttributeNames={"#l": "l"}, expect_cache="hit")
    pair.ddb_documented("get_item", {"Item": {"l": {"L": [S("l0"), S("l2")]}}}, TableName=name,
                        Key={"pk": S("p")}, ProjectionExpression="l[2], l[0]", expect_cache="hit")
    pair.ddb_documented("get_item", {"Item": {"m": NESTED["m"], "s": S("str")}}, TableName=name,
                        Key={"pk": S("p")}, AttributesToGet=["s", "m", "nosuch"], expect_cache="hit")
    # A projection with consumed capacity asked: from memory too, with a well-formed ConsumedCapacity
    # (the rule on cache answers in e2e_support checks it).
    pair.ddb("get_item", TableName=name, Key={"pk": S("p")}, ProjectionExpression="l[1].q",
             ReturnConsumedCapacity="TOTAL", expect_cache="hit")
    # A projected read of a key the cache does not hold fills it (whole) and answers the projection.
    pair.ddb("put_item", TableName=name, Item=dict(NESTED, pk=S("p2")))
    flush(name)
    r = pair.ddb("get_item", TableName=name, Key={"pk": S("p2")}, ProjectionExpression="m.y.z, s",
                 expect_cache="miss")
    assert r["Item"] == {"m": {"M": {"y": {"M": {"z": S("deep")}}}}, "s": S("str")}
    assert pair.ddb("get_item", TableName=name, Key={"pk": S("p2")}, expect_cache="hit")["Item"]["pk"] == S("p2")
    # A missing item, projected: no Item, from memory the second time.
    for cache in ("miss", "hit"):
        r = pair.ddb("get_item", TableName=name, Key={"pk": S("none")}, ProjectionExpression="m.x",
                     expect_cache=cache)
        assert "Item" not in r


def test_batch_get_mixing_hits_and_misses(pair, name, flush):
    t1, t2 = name + "-1", name + "-2"
    create_table(pair, t1)
    create_table(pair, t2, range_key=("sk", "S"))
    for i in range(8):
        pair.ddb("put_item", TableName=t1, Item={"pk": S(f"k{i}"), "v": N(i), "m": {"M": {"x": S(f"x{i}")}}})
    for i in range(6):
        pair.ddb("put_item", TableName=t2, Item={"pk": S("p"), "sk": S(f"s{i}"), "v": N(100 + i)})
    flush()
    # Warm some keys through GetItem (one of them known absent), leave the others cold.
    for k in ("k0", "k1", "nope0"):
        pair.ddb("get_item", TableName=t1, Key={"pk": S(k)}, expect_cache="miss")
    pair.ddb("get_item", TableName=t2, Key={"pk": S("p"), "sk": S("s0")}, expect_cache="miss")

    def t2key(s):
        return {"pk": S("p"), "sk": S(s)}

    req = {
        t1: {"Keys": [{"pk": S(k)} for k in ("k0", "k2", "k1", "nope0", "k3", "nope9")]},
        t2: {"Keys": [t2key("s1"), t2key("s0"), t2key("s9")]},
    }
    r = pair.ddb("batch_get_item", RequestItems=req, expect_cache="partial")
    assert sorted(i["pk"]["S"] for i in r["Responses"][t1]) == ["k0", "k1", "k2", "k3"]
    assert sorted(i["sk"]["S"] for i in r["Responses"][t2]) == ["s0", "s1"]
    r = pair.ddb("batch_get_item", RequestItems=req, expect_cache="hit")
    assert len(r["Responses"][t1]) == 4 and len(r["Responses"][t2]) == 2
    # With projections (one with placeholders): k0 and s0 are cached, k4/k5/s2 cold, k8/s8 absent.
    preq = {
        t1: {"Keys": [{"pk": S(k)} for k in ("k4", "k0", "k8", "k5")], "ProjectionExpression": "#m.x, v",
             "ExpressionAttributeNames": {"#m": "m"}},
        t2: {"Keys": [t2key("s2"), t2key("s8"), t2key("s0")], "ProjectionExpression": "sk"},
    }
    r = pair.ddb("batch_get_item", RequestItems=preq, expect_cache="partial")
    assert sorted(i["v"]["N"] for i in r["Responses"][t1]) == ["0", "4", "5"]
    assert all(set(i) == {"m", "v"} for i in r["Responses"][t1])
    assert sorted(r["Responses"][t2], key=str) == [{"sk": S("s0")}, {"sk": S("s2")}]
    pair.ddb("batch_get_item", RequestItems=preq, expect_cache="hit")
    # Consumed capacity asked on a partial answer: well formed, one element per table.
    creq = {t1: {"Keys": [{"pk": S("k0")}, {"pk": S("k6")}]}, t2: {"Keys": [t2key("s0"), t2key("s3")]}}
    pair.ddb("batch_get_item", RequestItems=creq, ReturnConsumedCapacity="TOTAL", expect_cache="partial")
    pair.ddb("batch_get_item", RequestItems=creq, ReturnConsumedCapacity="TOTAL", expect_cache="hit")
    # And what the batch filled serves GetItem.
    assert pair.ddb("get_item", TableName=t1, Key={"pk": S("k5")}, expect_cache="hit")["Item"]["v"] == N(5)
    assert "Item" not in pair.ddb("get_item", TableName=t2, Key=t2key("s9"), expect_cache="hit")


def test_consistent_reads_bypass(pair, name):
    create_table(pair, name)
    pair.ddb("put_item", TableName=name, Item={"pk": S("c"), "v": N(1)})
    pair.ddb("get_item", TableName=name, Key={"pk": S("c")})
    assert pair.ddb("get_item", TableName=name, Key={"pk": S("c")}, expect_cache="hit")["Item"]["v"] == N(1)
    for _ in range(2):
        r = pair.ddb("get_item", TableName=name, Key={"pk": S("c")}, ConsistentRead=True, expect_cache="bypass")
        assert r["Item"]["v"] == N(1)
        r = pair.ddb("get_item", TableName=name, Key={"pk": S("c")}, ConsistentRead=True,
                     ProjectionExpression="v", ReturnConsumedCapacity="TOTAL", expect_cache="bypass")
        assert r["Item"] == {"v": N(1)}
        r = pair.ddb("transact_get_items", TransactItems=[
            {"Get": {"TableName": name, "Key": {"pk": S("c")}}},
            {"Get": {"TableName": name, "Key": {"pk": S("absent")}}},
        ], expect_cache="bypass")
        assert r["Responses"][0]["Item"]["v"] == N(1) and r["Responses"][1] == {}


def test_direct_writes_are_stale_until_flush(pair, motos, real_proxy, name, flush):
    """Writes made to the storage server behind the proxy's back are NOT seen through the proxy until the
    entry's TTL passes (by design: the proxy only knows the writes it forwards). That staleness is expected and
    its timing is not tested here; the admin flush is how an operator ends it at once."""
    t1, t2 = name + "-1", name + "-2"
    for t in (t1, t2):
        create_table(pair, t)
        pair.ddb("put_item", TableName=t, Item={"pk": S("k"), "v": S("old")})
        assert pair.ddb("get_item", TableName=t, Key={"pk": S("k")}, expect_cache="hit")["Item"]["v"] == S("old")
    direct_b = pair.proxy.session.client("dynamodb", endpoint_url=motos[1].url,
                                         config=pair.proxy.client("dynamodb").meta.config)
    for t in (t1, t2):  # the same direct write on both servers, so they stay equal
        for c in (pair.direct.client("dynamodb"), direct_b):
            c.put_item(TableName=t, Item={"pk": S("k"), "v": S("new")})
    stale = pair.proxy.client("dynamodb").get_item(TableName=t1, Key={"pk": S("k")})
    assert stale["Item"]["v"] == S("old"), "expected the documented staleness (else this test proves nothing)"
    assert stale["ResponseMetadata"]["HTTPHeaders"].get("x-dynamo-cache") == "hit"
    # Flush one table: its next read goes to the server; the other table's entry is untouched.
    body = flush(t1)
    assert body == {"flushed": "table", "table": t1}, body
    assert pair.ddb("get_item", TableName=t1, Key={"pk": S("k")}, expect_cache="miss")["Item"]["v"] == S("new")
    assert pair.ddb("get_item", TableName=t1, Key={"pk": S("k")}, expect_cache="hit")["Item"]["v"] == S("new")
    other = pair.proxy.client("dynamodb").get_item(TableName=t2, Key={"pk": S("k")})
    assert (other["Item"]["v"], other["ResponseMetadata"]["HTTPHeaders"].get("x-dynamo-cache")) == (S("old"), "hit")
    # Flush everything.
    assert flush() == {"flushed": "all"}
    r = pair.ddb("batch_get_item", RequestItems={t2: {"Keys": [{"pk": S("k")}]}}, expect_cache="miss")
    assert r["Responses"][t2] == [{"pk": S("k"), "v": S("new")}]
    assert pair.ddb("get_item", TableName=t2, Key={"pk": S("k")}, expect_cache="hit")["Item"]["v"] == S("new")


def test_namespaces_by_access_key(pair, name, flush):
    """Entries belong to the access key id (and region) that filled them: Bob never gets Alice's entry."""
    alice, bob = pair.with_key("AKIDALICE"), pair.with_key("AKIDBOB")
    create_table(pair, name)
    pair.ddb("put_item", TableName=name, Item={"pk": S("shared"), "v": S("one")})
    flush(name)
    alice.ddb("get_item", TableName=name, Key={"pk": S("shared")}, expect_cache="miss")
    assert alice.ddb("get_item", TableName=name, Key={"pk": S("shared")}, expect_cache="hit")["Item"]["v"] == S("one")
    assert bob.ddb("get_item", TableName=name, Key={"pk": S("shared")}, expect_cache="miss")["Item"]["v"] == S("one")
    assert bob.ddb("get_item", TableName=name, Key={"pk": S("shared")}, expect_cache="hit")["Item"]["v"] == S("one")
    r = bob.ddb("batch_get_item", RequestItems={name: {"Keys": [{"pk": S("shared")}]}}, expect_cache="hit")
    assert r["Responses"][name][0]["v"] == S("one")
    # A write by Bob is seen by Alice's next read; her old entry must not be served (nor Bob's: another
    # namespace), so that read goes to the server.
    bob.ddb("update_item", TableName=name, Key={"pk": S("shared")}, UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": S("two")})
    assert alice.ddb("get_item", TableName=name, Key={"pk": S("shared")}, expect_cache="miss")["Item"]["v"] == S("two")
    assert alice.ddb("get_item", TableName=name, Key={"pk": S("shared")}, expect_cache="hit")["Item"]["v"] == S("two")
    r = alice.ddb("batch_get_item", RequestItems={name: {"Keys": [{"pk": S("shared")}]}}, expect_cache="hit")
    assert r["Responses"][name][0]["v"] == S("two")
    # Deletes too, and an absent entry is per namespace as well.
    alice.ddb("delete_item", TableName=name, Key={"pk": S("shared")})
    assert "Item" not in bob.ddb("get_item", TableName=name, Key={"pk": S("shared")}, expect_cache="miss")
    assert "Item" not in bob.ddb("get_item", TableName=name, Key={"pk": S("shared")}, expect_cache="hit")


def test_stats_count_hits(pair, real_proxy, name):
    create_table(pair, name)
    pair.ddb("put_item", TableName=name, Item={"pk": S("s"), "v": N(1)})
    pair.ddb("get_item", TableName=name, Key={"pk": S("s")}, expect_cache="hit")
    before = stats(real_proxy)
    for k in ("hits", "misses", "entries"):
        assert isinstance(before.get(k), int) and not isinstance(before.get(k), bool), f"caches.item.{k}: {before}"
    pair.ddb("get_item", TableName=name, Key={"pk": S("s")}, expect_cache="hit")
    after = stats(real_proxy)
    assert after["hits"] == before["hits"] + 1, f"hits {before['hits']} -> {after['hits']} after one hit"
    assert after["misses"] == before["misses"], f"misses {before['misses']} -> {after['misses']} after a hit"


def test_items_stored_by_writes_are_served_as_the_server_would(pair, name):
    """PutItem, BatchWriteItem and TransactWriteItems puts store the written item itself, re-encoded: what the
    proxy then answers from memory, whole or projected, must equal the server's answer, for every attribute type
    and odd strings. Its numbers are spelled as DynamoDB keeps them (the next test covers the other spellings)."""
    from test_data_plane import RICH_ITEM
    create_table(pair, name)
    rich = dict(RICH_ITEM, num=N("1.5"), ns={"NS": ["3", "1", "-2"]}, ctl=S("\u0001\u001f\u007f\u2028 \t/"),
                sci=N("1500"), zero=N("0"), tiny=N("0.0001"))
    pair.ddb("put_item", TableName=name, Item=dict(rich, pk=S("put")))
    pair.ddb("batch_write_item", RequestItems={name: [{"PutRequest": {"Item": dict(rich, pk=S("batch"))}}]})
    pair.ddb("transact_write_items", TransactItems=[{"Put": {"TableName": name, "Item": dict(rich, pk=S("tx"))}}])
    keys = [{"pk": S(k)} for k in ("put", "batch", "tx")]
    for key in keys:
        assert pair.ddb("get_item", TableName=name, Key=key, expect_cache="hit")["Item"]["ctl"] == rich["ctl"]
        pair.ddb("get_item", TableName=name, Key=key, expect_cache="hit",
                 ProjectionExpression="bin, bs, ns, #m.#x, #m.#ab, sci, ctl",  # ("list" is a reserved word)
                 ExpressionAttributeNames={"#m": "map", "#x": "#x", "#ab": "a.b"})
    pair.ddb("batch_get_item", RequestItems={name: {"Keys": keys}}, expect_cache="hit")
    pair.ddb("batch_get_item", RequestItems={name: {"Keys": keys, "ProjectionExpression": "bs, sci, zero"}},
             expect_cache="hit")


def test_numbers_not_spelled_as_dynamodb_keeps_them_are_not_cached_from_the_write(pair, real_proxy, name):
    """DynamoDB trims numbers ("2.50" reads back "2.5") and answers binaries as padded Base64, so an item whose
    numbers or binaries are spelled otherwise is not stored from the request: the write evicts its key, the next
    read fetches the server's own form (moto keeps the request's, so here that is "2.50") and caches that."""
    create_table(pair, name)
    canonical = {"pk": S("c"), "n": N("2.5"), "ns": {"NS": ["1", "-0.5"]}, "l": {"L": [{"M": {"x": N("10")}}]}}
    odd = {
        "number": {"pk": S("n"), "n": N("2.50")},
        "exponent": {"pk": S("e"), "n": N("1e2")},
        "negative zero": {"pk": S("z"), "n": N("-0")},
        "nested in a list": {"pk": S("l"), "l": {"L": [{"M": {"x": N("007")}}]}},
        "number set": {"pk": S("s"), "ns": {"NS": ["1", "+2"]}},
    }
    before = admin_invalidations(real_proxy, "non_canonical")
    pair.ddb("put_item", TableName=name, Item=canonical)
    pair.ddb("get_item", TableName=name, Key={"pk": S("c")}, expect_cache="hit")
    for item in odd.values():
        pair.ddb("put_item", TableName=name, Item=item)
        pair.ddb("get_item", TableName=name, Key={"pk": item["pk"]}, expect_cache="miss")
        pair.ddb("get_item", TableName=name, Key={"pk": item["pk"]}, expect_cache="hit")
    assert admin_invalidations(real_proxy, "non_canonical") == before + len(odd)


def admin_invalidations(proxy, cause):
    """The proxy's count of invalidations with `cause`, read from its Prometheus endpoint."""
    r = admin_request(proxy.admin_port, "GET", "/metrics")
    assert r.status == 200, f"GET /metrics: HTTP {r.status}"
    line = f'dynamocache_invalidations_total{{cause="{cause}"}} '
    values = [l[len(line):] for l in r.body.decode().splitlines() if l.startswith(line)]
    return int(float(values[0])) if values else 0
