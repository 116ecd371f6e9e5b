"""Data-plane operations, each run against moto A directly and through the proxy (-> moto B).

Many scenarios read an item, change it through some write path, and read it again:
the second read must show the write (a caching proxy must not serve the old answer).
"""

import pytest

from e2e_support import create_table


def S(v):
    return {"S": v}


def N(v):
    return {"N": str(v)}


@pytest.fixture
def kv(pair, name):
    """Hash-only table."""
    create_table(pair, name)
    return name


@pytest.fixture
def hr(pair, name):
    """Hash + range table."""
    create_table(pair, name, range_key=("sk", "N"))
    return name


RICH_ITEM = {
    "pk": S("rich"),
    "str": S("héllo wörld ✓ \"quoted\" \\ back\nslash"),
    "empty": S(""),
    "num": N("1.50"),
    "big": N("12345678901234567890123456789012345678"),
    "neg": N("-0.000000000000000000000000000000000000001"),
    "bin": {"B": b"\x00\x01\xfe\xff binary"},
    "bool": {"BOOL": True},
    "null": {"NULL": True},
    "ss": {"SS": ["b", "a", "c"]},
    "ns": {"NS": ["3", "1.0", "-2"]},
    "bs": {"BS": [b"x", b"\x00y"]},
    "list": {"L": [S("a"), N(1), {"M": {"deep": {"L": [{"BOOL": False}]}}}]},
    "map": {"M": {"a.b": S("dotted"), "#x": N(7), "nested": {"M": {"k": {"NULL": True}}}}},
}


def test_put_get_all_attribute_types(pair, kv):
    pair.ddb("put_item", TableName=kv, Item=RICH_ITEM)
    for _ in range(2):  # second read may be served from the cache
        r = pair.ddb("get_item", TableName=kv, Key={"pk": S("rich")})
        assert r["Item"]["num"] == N("1.50")
        assert r["Item"]["bin"] == {"B": b"\x00\x01\xfe\xff binary"}
        assert r["Item"]["str"] == RICH_ITEM["str"]
    pair.ddb("get_item", TableName=kv, Key={"pk": S("rich")}, ConsistentRead=True)


def test_get_item_variants(pair, hr):
    for i in range(3):
        pair.ddb("put_item", TableName=hr, Item={"pk": S("p"), "sk": N(i), "a": S(f"a{i}"),
                                                  "b": {"M": {"c": N(i), "d": S("x")}}, "n": N(i * 10)})
    key = {"pk": S("p"), "sk": N(1)}
    r = pair.ddb("get_item", TableName=hr, Key=key)
    assert r["Item"]["a"] == S("a1")
    r = pair.ddb("get_item", TableName=hr, Key=key)  # repeat: possible cache hit
    assert r["Item"]["n"] == N(10)
    r = pair.ddb("get_item", TableName=hr, Key=key, ConsistentRead=True)
    assert r["Item"]["a"] == S("a1")
    r = pair.ddb("get_item", TableName=hr, Key=key, ConsistentRead=False)
    assert r["Item"]["a"] == S("a1")
    # Projection: a different projection of a cached item must not return the cached full item.
    r = pair.ddb("get_item", TableName=hr, Key=key, ProjectionExpression="a, #b.c",
                 ExpressionAttributeNames={"#b": "b"})
    assert r["Item"] == {"a": S("a1"), "b": {"M": {"c": N(1)}}}
    r = pair.ddb("get_item", TableName=hr, Key=key, ProjectionExpression="n")
    assert r["Item"] == {"n": N(10)}
    # Legacy AttributesToGet: moto ignores it (e2e_support.MOTO_DEVIATIONS), so the proxy is held to
    # DynamoDB's documented answer instead: only the named attributes; {"Item": {}} when it has none of them.
    pair.ddb_documented("get_item", {"Item": {"a": S("a1")}}, TableName=hr, Key=key, AttributesToGet=["a"])
    pair.ddb_documented("get_item", {"Item": {"a": S("a1"), "n": N(10)}}, TableName=hr, Key=key,
                        AttributesToGet=["n", "a", "nope"])
    pair.ddb_documented("get_item", {"Item": {}}, TableName=hr, Key=key, AttributesToGet=["nope"])
    pair.ddb_documented("get_item", {}, TableName=hr, Key={"pk": S("p"), "sk": N(98)}, AttributesToGet=["a"])
    r = pair.ddb("get_item", TableName=hr, Key=key, ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"]["TableName"] == hr
    r = pair.ddb("get_item", TableName=hr, Key=key)
    assert "ConsumedCapacity" not in r
    # Missing item: no "Item" key at all, twice (negative caching must stay correct too).
    for _ in range(2):
        r = pair.ddb("get_item", TableName=hr, Key={"pk": S("p"), "sk": N(99)})
        assert "Item" not in r
    pair.ddb("put_item", TableName=hr, Item={"pk": S("p"), "sk": N(99), "a": S("late")})
    r = pair.ddb("get_item", TableName=hr, Key={"pk": S("p"), "sk": N(99)})
    assert r["Item"]["a"] == S("late")
    # Same key, attribute order / number spelling in the request must not matter for correctness.
    r = pair.ddb("get_item", TableName=hr, Key={"sk": N("1.0"), "pk": S("p")})
    assert r["Item"]["a"] == S("a1")


def test_put_item_overwrite_and_conditions(pair, kv):
    pair.ddb("put_item", TableName=kv, Item={"pk": S("k"), "v": N(1)})
    assert pair.ddb("get_item", TableName=kv, Key={"pk": S("k")})["Item"]["v"] == N(1)
    r = pair.ddb("put_item", TableName=kv, Item={"pk": S("k"), "v": N(2)}, ReturnValues="ALL_OLD")
    assert r["Attributes"] == {"pk": S("k"), "v": N(1)}
    assert pair.ddb("get_item", TableName=kv, Key={"pk": S("k")})["Item"]["v"] == N(2)
    r = pair.ddb("put_item", TableName=kv, Item={"pk": S("new"), "v": N(0)}, ReturnValues="ALL_OLD")
    assert "Attributes" not in r
    e = pair.ddb_err("ConditionalCheckFailedException", "put_item", TableName=kv,
                     Item={"pk": S("k"), "v": N(3)}, ConditionExpression="attribute_not_exists(pk)")
    assert "Item" not in e.response
    e = pair.ddb_err("ConditionalCheckFailedException", "put_item", TableName=kv,
                     Item={"pk": S("k"), "v": N(3)}, ConditionExpression="v = :one",
                     ExpressionAttributeValues={":one": N(1)},
                     ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert e.response["Item"] == {"pk": S("k"), "v": N(2)}
    # A failed conditional write changes nothing.
    assert pair.ddb("get_item", TableName=kv, Key={"pk": S("k")})["Item"]["v"] == N(2)
    pair.ddb("put_item", TableName=kv, Item={"pk": S("k"), "v": N(4)}, ConditionExpression="v = :two",
             ExpressionAttributeValues={":two": N(2)})
    assert pair.ddb("get_item", TableName=kv, Key={"pk": S("k")})["Item"]["v"] == N(4)


@pytest.mark.parametrize("rv", ["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"])
def test_update_item_return_values(pair, kv, rv):
    pair.ddb("put_item", TableName=kv, Item={"pk": S("u"), "cnt": N(1), "keep": S("k"), "gone": S("g")})
    assert pair.ddb("get_item", TableName=kv, Key={"pk": S("u")})["Item"]["cnt"] == N(1)
    r = pair.ddb("update_item", TableName=kv, Key={"pk": S("u")},
                 UpdateExpression="SET #t = :t ADD cnt :inc REMOVE gone",
                 ExpressionAttributeNames={"#t": "title"},
                 ExpressionAttributeValues={":t": S("T"), ":inc": N(5)}, ReturnValues=rv)
    expected = {
        "NONE": None,
        "ALL_OLD": {"pk": S("u"), "cnt": N(1), "keep": S("k"), "gone": S("g")},
        "UPDATED_OLD": {"cnt": N(1), "gone": S("g")},
        "ALL_NEW": {"pk": S("u"), "cnt": N(6), "keep": S("k"), "title": S("T")},
        "UPDATED_NEW": {"cnt": N(6), "title": S("T")},
    }[rv]
    assert r.get("Attributes") == expected
    item = pair.ddb("get_item", TableName=kv, Key={"pk": S("u")})["Item"]
    assert item == {"pk": S("u"), "cnt": N(6), "keep": S("k"), "title": S("T")}


def test_update_item_upsert_and_condition(pair, kv):
    assert "Item" not in pair.ddb("get_item", TableName=kv, Key={"pk": S("up")})
    pair.ddb("update_item", TableName=kv, Key={"pk": S("up")}, UpdateExpression="SET v = :v",
             ExpressionAttributeValues={":v": S("created")})
    assert pair.ddb("get_item", TableName=kv, Key={"pk": S("up")})["Item"]["v"] == S("created")
    e = pair.ddb_err("ConditionalCheckFailedException", "update_item", TableName=kv, Key={"pk": S("up")},
                     UpdateExpression="SET v = :v", ConditionExpression="v = :other",
                     ExpressionAttributeValues={":v": S("x"), ":other": S("nope")},
                     ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert e.response["Item"] == {"pk": S("up"), "v": S("created")}
    pair.ddb("update_item", TableName=kv, Key={"pk": S("up")},
             AttributeUpdates={"legacy": {"Action": "PUT", "Value": N(1)}})
    assert pair.ddb("get_item", TableName=kv, Key={"pk": S("up")})["Item"]["legacy"] == N(1)


def test_read_your_writes_loop(pair, kv):
    """Alternate increments and reads many times: every read must see the latest write."""
    pair.ddb("put_item", TableName=kv, Item={"pk": S("c"), "n": N(0)})
    for i in range(1, 16):
        pair.ddb("update_item", TableName=kv, Key={"pk": S("c")}, UpdateExpression="ADD n :one",
                 ExpressionAttributeValues={":one": N(1)})
        assert pair.ddb("get_item", TableName=kv, Key={"pk": S("c")})["Item"]["n"] == N(i)


def test_delete_item(pair, kv):
    pair.ddb("put_item", TableName=kv, Item={"pk": S("d"), "v": N(1)})
    assert pair.ddb("get_item", TableName=kv, Key={"pk": S("d")})["Item"]["v"] == N(1)
    pair.ddb_err("ConditionalCheckFailedException", "delete_item", TableName=kv, Key={"pk": S("d")},
                 ConditionExpression="v = :two", ExpressionAttributeValues={":two": N(2)})
    assert pair.ddb("get_item", TableName=kv, Key={"pk": S("d")})["Item"]["v"] == N(1)
    r = pair.ddb("delete_item", TableName=kv, Key={"pk": S("d")}, ReturnValues="ALL_OLD")
    assert r["Attributes"] == {"pk": S("d"), "v": N(1)}
    assert "Item" not in pair.ddb("get_item", TableName=kv, Key={"pk": S("d")})
    r = pair.ddb("delete_item", TableName=kv, Key={"pk": S("d")}, ReturnValues="ALL_OLD")
    assert "Attributes" not in r
    r = pair.ddb("delete_item", TableName=kv, Key={"pk": S("never")})
    assert "Attributes" not in r


def test_batch_get_item(pair, name):
    t1, t2 = name + "-1", name + "-2"
    create_table(pair, t1)
    create_table(pair, t2, range_key=("sk", "S"))
    for i in range(5):
        pair.ddb("put_item", TableName=t1, Item={"pk": S(f"k{i}"), "v": N(i), "x": S("x")})
        pair.ddb("put_item", TableName=t2, Item={"pk": S("p"), "sk": S(f"s{i}"), "v": N(i)})
    req = {
        t1: {"Keys": [{"pk": S(f"k{i}")} for i in (0, 2, 4, 9)], "ProjectionExpression": "pk, v"},
        t2: {"Keys": [{"pk": S("p"), "sk": S(f"s{i}")} for i in (1, 3)], "ConsistentRead": True},
    }
    r = pair.ddb("batch_get_item", RequestItems=req)
    assert sorted(x["v"]["N"] for x in r["Responses"][t1]) == ["0", "2", "4"]
    assert len(r["Responses"][t2]) == 2
    assert r["UnprocessedKeys"] == {}
    # Warm single-item reads, change items, batch read again: must see the changes.
    pair.ddb("get_item", TableName=t1, Key={"pk": S("k2")})
    pair.ddb("update_item", TableName=t1, Key={"pk": S("k2")}, UpdateExpression="SET v = :v",
             ExpressionAttributeValues={":v": N(222)})
    pair.ddb("delete_item", TableName=t1, Key={"pk": S("k4")})
    r = pair.ddb("batch_get_item", RequestItems={t1: {"Keys": [{"pk": S("k2")}, {"pk": S("k4")}]}})
    assert r["Responses"][t1] == [{"pk": S("k2"), "v": N(222), "x": S("x")}]
    assert pair.ddb("get_item", TableName=t1, Key={"pk": S("k2")})["Item"]["v"] == N(222)
    r = pair.ddb("batch_get_item", RequestItems={t1: {"Keys": [{"pk": S("k1")}]}},
                 ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"][0]["TableName"] == t1


def test_batch_write_item_large(pair, kv):
    items = [{"pk": S(f"b{i:02d}"), "v": N(i), "pad": S("p" * 200)} for i in range(25)]
    r = pair.ddb("batch_write_item", RequestItems={kv: [{"PutRequest": {"Item": it}} for it in items]})
    assert r["UnprocessedItems"] == {}
    keys = [{"pk": it["pk"]} for it in items]
    r = pair.ddb("batch_get_item", RequestItems={kv: {"Keys": keys}})
    assert len(r["Responses"][kv]) == 25
    # Warm some single reads, then delete / overwrite them through BatchWriteItem.
    for i in (0, 1, 2):
        pair.ddb("get_item", TableName=kv, Key={"pk": S(f"b{i:02d}")})
    reqs = [{"DeleteRequest": {"Key": {"pk": S(f"b{i:02d}")}}} for i in range(0, 20, 2)]
    reqs += [{"PutRequest": {"Item": {"pk": S(f"b{i:02d}"), "v": N(-i)}}} for i in (1, 3, 5)]
    r = pair.ddb("batch_write_item", RequestItems={kv: reqs}, ReturnConsumedCapacity="TOTAL",
                 ReturnItemCollectionMetrics="SIZE")
    assert r["UnprocessedItems"] == {}
    assert "Item" not in pair.ddb("get_item", TableName=kv, Key={"pk": S("b00")})
    assert "Item" not in pair.ddb("get_item", TableName=kv, Key={"pk": S("b02")})
    assert pair.ddb("get_item", TableName=kv, Key={"pk": S("b01")})["Item"] == {"pk": S("b01"), "v": N(-1)}
    r = pair.ddb("scan", TableName=kv, Select="COUNT")
    assert r["Count"] == 15


def _query_all(pair, **kw):
    pages, start = [], None
    for _ in range(20):
        args = dict(kw)
        if start is not None:
            args["ExclusiveStartKey"] = start
        r = pair.ddb("query", **args)
        pages.append(r)
        start = r.get("LastEvaluatedKey")
        if start is None:
            return pages
    raise AssertionError("pagination did not terminate")


def _scan_all(pair, **kw):
    pages, start = [], None
    for _ in range(20):
        args = dict(kw)
        if start is not None:
            args["ExclusiveStartKey"] = start
        r = pair.ddb("scan", **args)
        pages.append(r)
        start = r.get("LastEvaluatedKey")
        if start is None:
            return pages
    raise AssertionError("pagination did not terminate")


def test_query_pagination_and_filters(pair, hr):
    for i in range(12):
        pair.ddb("put_item", TableName=hr, Item={"pk": S("q"), "sk": N(i), "odd": {"BOOL": i % 2 == 1},
                                                  "tag": S("t" + str(i % 3))})
    pair.ddb("put_item", TableName=hr, Item={"pk": S("other"), "sk": N(0)})
    pages = _query_all(pair, TableName=hr, KeyConditionExpression="pk = :p",
                       ExpressionAttributeValues={":p": S("q")}, Limit=5)
    assert [p["Count"] for p in pages] == [5, 5, 2]
    assert [i["sk"]["N"] for p in pages for i in p["Items"]] == [str(i) for i in range(12)]
    pages = _query_all(pair, TableName=hr, KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
                       ExpressionAttributeValues={":p": S("q"), ":a": N(2), ":b": N(9), ":t": {"BOOL": True}},
                       FilterExpression="odd = :t", Limit=3, ScanIndexForward=False)
    got = [i["sk"]["N"] for p in pages for i in p["Items"]]
    assert got == ["9", "7", "5", "3"]
    assert sum(p["ScannedCount"] for p in pages) == 8
    r = pair.ddb("query", TableName=hr, KeyConditionExpression="pk = :p AND sk >= :a",
                 ExpressionAttributeValues={":p": S("q"), ":a": N(10)}, Select="COUNT")
    assert r["Count"] == 2 and "Items" not in r
    r = pair.ddb("query", TableName=hr, KeyConditionExpression="pk = :p",
                 ExpressionAttributeValues={":p": S("q")}, ProjectionExpression="sk, #t",
                 ExpressionAttributeNames={"#t": "tag"}, Limit=2)
    assert r["Items"] == [{"sk": N(0), "tag": S("t0")}, {"sk": N(1), "tag": S("t1")}]
    # A write between two identical queries must show up in the second.
    pair.ddb("put_item", TableName=hr, Item={"pk": S("q"), "sk": N(0), "tag": S("changed")})
    r = pair.ddb("query", TableName=hr, KeyConditionExpression="pk = :p",
                 ExpressionAttributeValues={":p": S("q")}, ProjectionExpression="sk, #t",
                 ExpressionAttributeNames={"#t": "tag"}, Limit=2)
    assert r["Items"][0] == {"sk": N(0), "tag": S("changed")}


def test_scan_pagination_filters_and_segments(pair, kv):
    for i in range(14):
        pair.ddb("put_item", TableName=kv, Item={"pk": S(f"s{i:02d}"), "n": N(i), "grp": S("even" if i % 2 == 0 else "odd")})
    pages = _scan_all(pair, TableName=kv, Limit=4)
    assert sum(p["Count"] for p in pages) == 14 and len(pages) >= 4
    assert sorted(i["pk"]["S"] for p in pages for i in p["Items"]) == [f"s{i:02d}" for i in range(14)]
    pages = _scan_all(pair, TableName=kv, Limit=5, FilterExpression="grp = :g AND n > :m",
                      ExpressionAttributeValues={":g": S("even"), ":m": N(3)})
    assert sorted(int(i["n"]["N"]) for p in pages for i in p["Items"]) == [4, 6, 8, 10, 12]
    for total in (2, 3):
        seen = []
        for seg in range(total):
            for p in _scan_all(pair, TableName=kv, Segment=seg, TotalSegments=total, Limit=3):
                seen += [i["pk"]["S"] for i in p["Items"]]
        assert sorted(seen) == [f"s{i:02d}" for i in range(14)], f"TotalSegments={total}"
    r = pair.ddb("scan", TableName=kv, Select="COUNT", ConsistentRead=True)
    assert r["Count"] == 14
    pair.ddb("delete_item", TableName=kv, Key={"pk": S("s00")})
    assert pair.ddb("scan", TableName=kv, Select="COUNT")["Count"] == 13


def test_index_queries(pair, name):
    create_table(
        pair, name, range_key=("sk", "S"), extra_attrs=(("gpk", "S"), ("lsk", "N")),
        gsis=[{"IndexName": "by-g", "KeySchema": [{"AttributeName": "gpk", "KeyType": "HASH"},
                                                  {"AttributeName": "sk", "KeyType": "RANGE"}],
               "Projection": {"ProjectionType": "ALL"}},
              {"IndexName": "by-g-keys", "KeySchema": [{"AttributeName": "gpk", "KeyType": "HASH"}],
               "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        lsis=[{"IndexName": "by-l", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                  {"AttributeName": "lsk", "KeyType": "RANGE"}],
               "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["extra"]}}],
    )
    for i in range(9):
        pair.ddb("put_item", TableName=name, Item={"pk": S("p"), "sk": S(f"s{i}"), "gpk": S(f"g{i % 3}"),
                                                    "lsk": N(100 - i), "extra": S(f"e{i}"), "other": S("o")})
    pages = _query_all(pair, TableName=name, IndexName="by-g", KeyConditionExpression="gpk = :g",
                       ExpressionAttributeValues={":g": S("g1")}, Limit=2)
    assert [i["sk"]["S"] for p in pages for i in p["Items"]] == ["s1", "s4", "s7"]
    r = pair.ddb("query", TableName=name, IndexName="by-g-keys", KeyConditionExpression="gpk = :g",
                 ExpressionAttributeValues={":g": S("g2")})
    assert r["Count"] == 3
    pages = _query_all(pair, TableName=name, IndexName="by-l", KeyConditionExpression="pk = :p AND lsk < :x",
                       ExpressionAttributeValues={":p": S("p"), ":x": N(96)}, Limit=2)
    assert [i["lsk"]["N"] for p in pages for i in p["Items"]] == ["92", "93", "94", "95"]
    r = pair.ddb("scan", TableName=name, IndexName="by-g")
    assert r["Count"] == 9
    # Move an item to another GSI partition; the index query must reflect it.
    pair.ddb("update_item", TableName=name, Key={"pk": S("p"), "sk": S("s1")}, UpdateExpression="SET gpk = :g",
             ExpressionAttributeValues={":g": S("g2")})
    r = pair.ddb("query", TableName=name, IndexName="by-g", KeyConditionExpression="gpk = :g",
                 ExpressionAttributeValues={":g": S("g1")})
    assert [i["sk"]["S"] for i in r["Items"]] == ["s4", "s7"]


def test_transactions(pair, name):
    create_table(pair, name)
    pair.ddb("put_item", TableName=name, Item={"pk": S("a"), "bal": N(100)})
    pair.ddb("put_item", TableName=name, Item={"pk": S("b"), "bal": N(0)})
    pair.ddb("put_item", TableName=name, Item={"pk": S("gone"), "x": S("x")})
    for k in ("a", "b", "gone"):
        pair.ddb("get_item", TableName=name, Key={"pk": S(k)})
    pair.ddb("transact_write_items", TransactItems=[
        {"Update": {"TableName": name, "Key": {"pk": S("a")}, "UpdateExpression": "SET bal = bal - :x",
                    "ConditionExpression": "bal >= :x", "ExpressionAttributeValues": {":x": N(30)}}},
        {"Update": {"TableName": name, "Key": {"pk": S("b")}, "UpdateExpression": "SET bal = bal + :x",
                    "ExpressionAttributeValues": {":x": N(30)}}},
        {"Delete": {"TableName": name, "Key": {"pk": S("gone")}}},
        {"Put": {"TableName": name, "Item": {"pk": S("c"), "bal": N(1)}}},
    ])
    assert pair.ddb("get_item", TableName=name, Key={"pk": S("a")})["Item"]["bal"] == N(70)
    assert pair.ddb("get_item", TableName=name, Key={"pk": S("b")})["Item"]["bal"] == N(30)
    assert "Item" not in pair.ddb("get_item", TableName=name, Key={"pk": S("gone")})
    r = pair.ddb("transact_get_items", TransactItems=[
        {"Get": {"TableName": name, "Key": {"pk": S("a")}}},
        {"Get": {"TableName": name, "Key": {"pk": S("c")}, "ProjectionExpression": "bal"}},
        {"Get": {"TableName": name, "Key": {"pk": S("missing")}}},
    ])
    assert r["Responses"][0]["Item"]["bal"] == N(70)
    assert r["Responses"][1]["Item"]["bal"] == N(1)  # moto ignores the projection here
    assert r["Responses"][2] == {}
    # Cancelled transaction: nothing changes, reasons are reported per item.
    e = pair.ddb_err("TransactionCanceledException", "transact_write_items", TransactItems=[
        {"Update": {"TableName": name, "Key": {"pk": S("a")}, "UpdateExpression": "SET bal = :z",
                    "ExpressionAttributeValues": {":z": N(0)}}},
        {"ConditionCheck": {"TableName": name, "Key": {"pk": S("b")}, "ConditionExpression": "bal > :big",
                            "ExpressionAttributeValues": {":big": N(1000)},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
    ])
    reasons = e.response["CancellationReasons"]
    assert [x["Code"] for x in reasons] == ["None", "ConditionalCheckFailed"]
    assert reasons[1]["Item"] == {"pk": S("b"), "bal": N(30)}
    assert pair.ddb("get_item", TableName=name, Key={"pk": S("a")})["Item"]["bal"] == N(70)


def test_400kb_item_round_trip(pair, kv):
    # DynamoDB's item limit is 400 KB including attribute names; stay just under it.
    blob = "".join(chr(0x41 + (i * 7) % 26) for i in range(399_000))
    item = {"pk": S("huge"), "blob": S(blob), "n": N(1)}
    pair.ddb("put_item", TableName=kv, Item=item)
    for cache in (None, "hit"):  # the second read at least is answered from memory
        r = pair.ddb("get_item", TableName=kv, Key={"pk": S("huge")}, expect_cache=cache)
        assert r["Item"]["blob"]["S"] == blob
    r = pair.ddb("batch_get_item", RequestItems={kv: {"Keys": [{"pk": S("huge")}, {"pk": S("nope")}]}},
                 expect_cache="partial")
    assert r["Responses"][kv][0]["blob"]["S"] == blob
    r = pair.ddb("batch_get_item", RequestItems={kv: {"Keys": [{"pk": S("huge")}, {"pk": S("nope")}]}},
                 expect_cache="hit")
    assert r["Responses"][kv][0]["blob"]["S"] == blob
    pair.ddb("update_item", TableName=kv, Key={"pk": S("huge")}, UpdateExpression="SET n = :n",
             ExpressionAttributeValues={":n": N(2)})
    r = pair.ddb("get_item", TableName=kv, Key={"pk": S("huge")}, expect_cache="hit")
    assert r["Item"]["n"] == N(2) and len(r["Item"]["blob"]["S"]) == 399_000
    r = pair.ddb("get_item", TableName=kv, Key={"pk": S("huge")}, ProjectionExpression="n", expect_cache="hit")
    assert r["Item"] == {"n": N(2)}
    r = pair.ddb("query", TableName=kv, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("huge")})
    assert r["Items"][0]["blob"]["S"] == blob


def test_equal_numbers_are_the_same_key(pair, hr):
    """N "1", "1.0" and "1E0" name the same item: a write through one spelling must be seen through the others."""
    pair.ddb("put_item", TableName=hr, Item={"pk": S("num"), "sk": N("1"), "v": S("old")})
    for spelling in ("1", "1.0", "1E0", "01"):
        assert pair.ddb("get_item", TableName=hr, Key={"pk": S("num"), "sk": N(spelling)})["Item"]["v"] == S("old")
    pair.ddb("update_item", TableName=hr, Key={"pk": S("num"), "sk": N("1.00")}, UpdateExpression="SET v = :v",
             ExpressionAttributeValues={":v": S("new")})
    for spelling in ("1", "1.0", "1E0", "01"):
        r = pair.ddb("get_item", TableName=hr, Key={"pk": S("num"), "sk": N(spelling)})
        assert r["Item"]["v"] == S("new"), f"sk spelled {spelling!r}"
    pair.ddb("delete_item", TableName=hr, Key={"pk": S("num"), "sk": N("10E-1")})
    for spelling in ("1", "1.0", "1E0"):
        assert "Item" not in pair.ddb("get_item", TableName=hr, Key={"pk": S("num"), "sk": N(spelling)})


def test_keys_that_could_collide_in_a_cache_key(pair, name):
    create_table(pair, name, range_key=("sk", "S"))
    pairs = [("a", "b|c"), ("a|b", "c"), ("a", "b\u0000c"), ("a\u0000b", "c"), ('a"', '"b'), ("a", '""b'),
             ("a\\", "b"), ("a", "\\b"), ("a:b", "c"), ("a", "b:c"), ("", "x"), ("é", "e"), ("e\u0301", "e")]
    pairs = [(p, s) for p, s in pairs if p]  # empty key values are invalid
    for i, (p, s) in enumerate(pairs):
        pair.ddb("put_item", TableName=name, Item={"pk": S(p), "sk": S(s), "i": N(i)})
    for _ in range(2):
        for i, (p, s) in enumerate(pairs):
            r = pair.ddb("get_item", TableName=name, Key={"pk": S(p), "sk": S(s)})
            assert r["Item"]["i"] == N(i), f"key {(p, s)!r}"
    pair.ddb("update_item", TableName=name, Key={"pk": S("a"), "sk": S("b|c")}, UpdateExpression="SET i = :v",
             ExpressionAttributeValues={":v": N(100)})
    assert pair.ddb("get_item", TableName=name, Key={"pk": S("a|b"), "sk": S("c")})["Item"]["i"] == N(1)
    assert pair.ddb("get_item", TableName=name, Key={"pk": S("a"), "sk": S("b|c")})["Item"]["i"] == N(100)


def test_same_projection_text_different_names(pair, kv):
    pair.ddb("put_item", TableName=kv, Item={"pk": S("p"), "a": S("A"), "b": S("B")})
    r = pair.ddb("get_item", TableName=kv, Key={"pk": S("p")}, ProjectionExpression="#x",
                 ExpressionAttributeNames={"#x": "a"})
    assert r["Item"] == {"a": S("A")}
    r = pair.ddb("get_item", TableName=kv, Key={"pk": S("p")}, ProjectionExpression="#x",
                 ExpressionAttributeNames={"#x": "b"})
    assert r["Item"] == {"b": S("B")}
    r = pair.ddb("query", TableName=kv, KeyConditionExpression="pk = :v", ExpressionAttributeValues={":v": S("p")},
                 ProjectionExpression="#x", ExpressionAttributeNames={"#x": "a"})
    assert r["Items"] == [{"a": S("A")}]
    r = pair.ddb("query", TableName=kv, KeyConditionExpression="pk = :v", ExpressionAttributeValues={":v": S("p")},
                 ProjectionExpression="#x", ExpressionAttributeNames={"#x": "b"})
    assert r["Items"] == [{"b": S("B")}]


def _create_through(pair, path, table, key, item):
    """Create `item` (whose only other attribute is v = "here") through one write path."""
    q = f'"{table}"'
    if path == "put":
        pair.ddb("put_item", TableName=table, Item=item)
    elif path == "update":
        pair.ddb("update_item", TableName=table, Key=key, UpdateExpression="SET v = :v",
                 ExpressionAttributeValues={":v": S("here")})
    elif path == "batch_write":
        pair.ddb("batch_write_item", RequestItems={table: [{"PutRequest": {"Item": item}}]})
    elif path == "transact_put":
        pair.ddb("transact_write_items", TransactItems=[{"Put": {"TableName": table, "Item": item}}])
    elif path == "transact_update":
        pair.ddb("transact_write_items", TransactItems=[{"Update": {
            "TableName": table, "Key": key, "UpdateExpression": "SET v = :v",
            "ExpressionAttributeValues": {":v": S("here")}}}])
    elif path == "partiql_insert":
        pair.ddb("execute_statement", Statement=f"INSERT INTO {q} VALUE {{'pk': 'later', 'v': 'here'}}")
    elif path == "partiql_batch":
        pair.ddb("batch_execute_statement",
                 Statements=[{"Statement": f"INSERT INTO {q} VALUE {{'pk': 'later', 'v': 'here'}}"}])
    elif path == "partiql_transaction":
        pair.ddb("execute_transaction",
                 TransactStatements=[{"Statement": f"INSERT INTO {q} VALUE {{'pk': 'later', 'v': 'here'}}"}])
    else:
        raise AssertionError(path)


# After a write the proxy either knows the new state (PutItem, UpdateItem asked ALL_NEW by the proxy, deletes,
# puts in batches and transactions: the next read is a `hit`) or evicts (UpdateItem with old/updated values,
# updates in transactions, PartiQL: the next read is a `miss`). See the design note in Sources/Proxy/DynamoProxy.swift.
CREATE_PATHS = {"put": "hit", "update": "hit", "batch_write": "hit", "transact_put": "hit",
                "transact_update": "miss", "partiql_insert": "miss", "partiql_batch": "miss",
                "partiql_transaction": "miss"}


@pytest.mark.parametrize("path", list(CREATE_PATHS))
def test_missing_item_then_created(pair, kv, path):
    """A remembered 'no such item' must be forgotten once the item is created, whatever the write path."""
    key = {"pk": S("later")}
    for _ in range(2):
        assert "Item" not in pair.ddb("get_item", TableName=kv, Key=key)
    pair.ddb("batch_get_item", RequestItems={kv: {"Keys": [key]}}, expect_cache="hit")
    item = {"pk": S("later"), "v": S("here")}
    _create_through(pair, path, kv, key, item)
    assert pair.ddb("get_item", TableName=kv, Key=key, expect_cache=CREATE_PATHS[path])["Item"]["v"] == S("here")
    r = pair.ddb("batch_get_item", RequestItems={kv: {"Keys": [key]}}, expect_cache="hit")
    assert r["Responses"][kv] == [item]
    r = pair.ddb("transact_get_items", TransactItems=[{"Get": {"TableName": kv, "Key": key}}], expect_cache="bypass")
    assert r["Responses"][0]["Item"] == item


def _write_cached(pair, path, t):
    """One write touching the cached items c1 (v=1, keep) and c2 (v=2) of table t; returns
    (expected c1 or None, expected c2 or None, x-dynamo-cache expected on the next read of c1)."""
    k1, k2 = {"pk": S("c1")}, {"pk": S("c2")}
    old1 = {"pk": S("c1"), "v": N(1), "keep": S("k")}
    old2 = {"pk": S("c2"), "v": N(2)}
    q = f'"{t}"'
    if path == "put":
        new1 = {"pk": S("c1"), "v": N(10), "other": S("o")}
        r = pair.ddb("put_item", TableName=t, Item=new1, ReturnValues="ALL_OLD")
        assert r["Attributes"] == old1
        return new1, old2, "hit"
    if path.startswith("update_"):
        rv = path[len("update_"):]
        r = pair.ddb("update_item", TableName=t, Key=k1, UpdateExpression="SET v = v + :d, w = :w REMOVE keep",
                     ExpressionAttributeValues={":d": N(10), ":w": S("W")}, ReturnValues=rv)
        new1 = {"pk": S("c1"), "v": N(11), "w": S("W")}
        assert r.get("Attributes") == {"NONE": None, "ALL_NEW": new1, "ALL_OLD": old1,
                                       "UPDATED_OLD": {"v": N(1), "keep": S("k")},
                                       "UPDATED_NEW": {"v": N(11), "w": S("W")}}[rv]
        # NONE and ALL_NEW: the proxy asks for ALL_NEW and keeps it; other ReturnValues evict the key.
        return new1, old2, "hit" if rv in ("NONE", "ALL_NEW") else "miss"
    if path == "delete":
        r = pair.ddb("delete_item", TableName=t, Key=k1, ReturnValues="ALL_OLD")
        assert r["Attributes"] == old1
        return None, old2, "hit"
    if path == "batch_write":
        new2 = {"pk": S("c2"), "v": N(20)}
        pair.ddb("batch_write_item", RequestItems={t: [{"DeleteRequest": {"Key": k1}}, {"PutRequest": {"Item": new2}}]})
        return None, new2, "hit"
    if path == "transact":
        new2 = {"pk": S("c2"), "v": N(2), "t": S("T")}
        pair.ddb("transact_write_items", TransactItems=[
            {"Delete": {"TableName": t, "Key": k1}},
            {"Update": {"TableName": t, "Key": k2, "UpdateExpression": "SET t = :t",
                        "ExpressionAttributeValues": {":t": S("T")}}},
            {"Put": {"TableName": t, "Item": {"pk": S("c3"), "v": N(3)}}},
        ])
        return None, new2, "hit"
    if path == "transact_put_condition_check":
        new1 = {"pk": S("c1"), "v": N(100)}
        pair.ddb("transact_write_items", TransactItems=[
            {"Put": {"TableName": t, "Item": new1}},
            {"ConditionCheck": {"TableName": t, "Key": k2, "ConditionExpression": "v = :two",
                                "ExpressionAttributeValues": {":two": N(2)}}},
        ])
        return new1, old2, "hit"
    if path == "partiql_update":
        pair.ddb("execute_statement", Statement=f"UPDATE {q} SET v = ? WHERE pk = 'c1'", Parameters=[N(5)])
        return dict(old1, v=N(5)), old2, "miss"
    if path == "partiql_delete":
        pair.ddb("execute_statement", Statement=f"DELETE FROM {q} WHERE pk = 'c1'")
        return None, old2, "miss"
    if path == "partiql_insert":
        pair.ddb("execute_statement", Statement=f"INSERT INTO {q} VALUE {{'pk': 'c3', 'v': 3}}")
        return old1, old2, "miss"  # a PartiQL write drops every entry of its table
    if path == "partiql_batch":
        pair.ddb("batch_execute_statement", Statements=[
            {"Statement": f"UPDATE {q} SET v = ? WHERE pk = 'c1'", "Parameters": [N(6)]},
            {"Statement": f"DELETE FROM {q} WHERE pk = 'c2'"},
        ])
        return dict(old1, v=N(6)), None, "miss"
    if path == "partiql_transaction":
        pair.ddb("execute_transaction", TransactStatements=[
            {"Statement": f"UPDATE {q} SET v = ? WHERE pk = 'c1'", "Parameters": [N(7)]},
            {"Statement": f"DELETE FROM {q} WHERE pk = 'c2'"},
        ])
        return dict(old1, v=N(7)), None, "miss"
    raise AssertionError(path)


@pytest.mark.parametrize("path", [
    "put", "update_NONE", "update_ALL_NEW", "update_UPDATED_OLD", "update_ALL_OLD", "update_UPDATED_NEW",
    "delete", "batch_write", "transact", "transact_put_condition_check", "partiql_update", "partiql_delete",
    "partiql_insert", "partiql_batch", "partiql_transaction"])
def test_cached_item_then_written(pair, kv, path):
    """Items that ARE cached when a write changes them: the next reads through the proxy show the new state."""
    pair.ddb("put_item", TableName=kv, Item={"pk": S("c1"), "v": N(1), "keep": S("k")})
    pair.ddb("put_item", TableName=kv, Item={"pk": S("c2"), "v": N(2)})
    for k in ("c1", "c2"):  # CreateTable through the proxy taught it the key: a PutItem fills the entry
        pair.ddb("get_item", TableName=kv, Key={"pk": S(k)}, expect_cache="hit")
    new1, new2, first = _write_cached(pair, path, kv)
    r = pair.ddb("get_item", TableName=kv, Key={"pk": S("c1")}, expect_cache=first)
    assert r.get("Item") == new1
    r = pair.ddb("get_item", TableName=kv, Key={"pk": S("c1")}, expect_cache="hit")
    assert r.get("Item") == new1
    assert pair.ddb("get_item", TableName=kv, Key={"pk": S("c2")}).get("Item") == new2
    c3 = pair.ddb("get_item", TableName=kv, Key={"pk": S("c3")}).get("Item")  # created by some paths
    # Every key has been read since the write: the batch is answered from memory, with the new state.
    r = pair.ddb("batch_get_item", RequestItems={kv: {"Keys": [{"pk": S(k)} for k in ("c1", "c2", "c3")]}},
                 expect_cache="hit")
    assert sorted(r["Responses"][kv], key=str) == sorted([i for i in (new1, new2, c3) if i], key=str)


@pytest.mark.parametrize("op", ["put", "update", "delete"])
@pytest.mark.parametrize("rv", [None, "ALL_OLD"])
def test_failed_condition_on_cached_item(pair, kv, op, rv):
    """A write whose condition fails changes nothing; the proxy's answer (error, message, the old item with
    ReturnValuesOnConditionCheckFailure) equals the server's, and the next reads show the unchanged item."""
    item = {"pk": S("f"), "v": N(1), "tag": S("t")}
    pair.ddb("put_item", TableName=kv, Item=item)
    assert pair.ddb("get_item", TableName=kv, Key={"pk": S("f")}, expect_cache="hit")["Item"] == item
    cond = {"ConditionExpression": "v = :x", "ExpressionAttributeValues": {":x": N(999)}}
    if rv:
        cond["ReturnValuesOnConditionCheckFailure"] = rv
    if op == "put":
        e = pair.ddb_err("ConditionalCheckFailedException", "put_item", TableName=kv,
                         Item={"pk": S("f"), "v": N(2)}, **cond)
    elif op == "update":
        cond["ExpressionAttributeValues"][":n"] = N(2)
        e = pair.ddb_err("ConditionalCheckFailedException", "update_item", TableName=kv, Key={"pk": S("f")},
                         UpdateExpression="SET v = :n", ReturnValues="ALL_NEW", **cond)
    else:
        e = pair.ddb_err("ConditionalCheckFailedException", "delete_item", TableName=kv, Key={"pk": S("f")}, **cond)
    assert e.response.get("Item") == (item if rv else None)
    # A failed condition evicts (the proxy's copy may be stale): the next read goes to the server.
    assert pair.ddb("get_item", TableName=kv, Key={"pk": S("f")}, expect_cache="miss")["Item"] == item
    assert pair.ddb("get_item", TableName=kv, Key={"pk": S("f")}, expect_cache="hit")["Item"] == item
    r = pair.ddb("batch_get_item", RequestItems={kv: {"Keys": [{"pk": S("f")}]}}, expect_cache="hit")
    assert r["Responses"][kv] == [item]


def test_cancelled_transaction_on_cached_items(pair, kv):
    items = {k: {"pk": S(k), "v": N(i)} for i, k in enumerate(("a", "b", "c", "d"))}
    for it in items.values():
        pair.ddb("put_item", TableName=kv, Item=it)
    for k in items:
        pair.ddb("get_item", TableName=kv, Key={"pk": S(k)}, expect_cache="hit")
    e = pair.ddb_err("TransactionCanceledException", "transact_write_items", TransactItems=[
        {"Put": {"TableName": kv, "Item": {"pk": S("a"), "v": N(100)}}},
        {"Update": {"TableName": kv, "Key": {"pk": S("b")}, "UpdateExpression": "SET v = :z",
                    "ExpressionAttributeValues": {":z": N(0)}}},
        {"Delete": {"TableName": kv, "Key": {"pk": S("new")}}},
        {"ConditionCheck": {"TableName": kv, "Key": {"pk": S("c")}, "ConditionExpression": "v > :big",
                            "ExpressionAttributeValues": {":big": N(1000)},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
    ])
    reasons = e.response["CancellationReasons"]
    assert [x["Code"] for x in reasons] == ["None", "None", "None", "ConditionalCheckFailed"]
    assert reasons[3]["Item"] == items["c"]
    # Keys the transaction named were evicted (miss); d, not in it, is still answered from memory.
    for k in ("a", "b", "c"):
        assert pair.ddb("get_item", TableName=kv, Key={"pk": S(k)}, expect_cache="miss")["Item"] == items[k]
    assert pair.ddb("get_item", TableName=kv, Key={"pk": S("d")}, expect_cache="hit")["Item"] == items["d"]
    assert "Item" not in pair.ddb("get_item", TableName=kv, Key={"pk": S("new")})
    r = pair.ddb("batch_get_item", RequestItems={kv: {"Keys": [{"pk": S(k)} for k in ("a", "b", "c", "d", "new")]}},
                 expect_cache="hit")
    assert sorted(i["v"]["N"] for i in r["Responses"][kv]) == ["0", "1", "2", "3"]
