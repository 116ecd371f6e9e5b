"""The query cache: eventually consistent Query and Scan pages answered from memory, and what makes them stale.

Every read is still compared with moto A directly (so a page served from memory must equal the server's current
answer); in addition each read names the x-dynamo-cache value it must get (`expect_cache`: `hit` from memory,
`miss` fetched from the storage server, `bypass` never cached). A page's entry key is the caller's namespace
plus every request member but ReturnConsumedCapacity, so every request that differs in anything else is a new
entry (`miss` the first time). Any write through the proxy (with the default `--query-invalidation write`) makes
the written table's pages, and its indexes' pages, stale before the write is answered. Proxy-only checks (extra
proxy instances, /stats, the randomised coherence run) need the real proxy and skip in DIRECT_ONLY mode.
"""

import json
import threading
import time
from urllib.parse import urlparse

import pytest

from e2e_support import (BOTO_CONFIG, IN_BETWEEN, LOOPBACK, ProxyProcess, Raw, admin_request, compare_raw, create_table,
                         raw_post, stop_process, unique, value_of)
from test_item_cache import flush  # noqa: F401  (fixture: POST /flush[?table=NAME] on the admin listener)
from test_proxy_only import HoldingServer, coherence_violations

T = "DynamoDB_20120810."


def S(v):
    return {"S": v}


def N(v):
    return {"N": str(v)}


def port(url):
    return urlparse(url).port


def result(r):
    """A boto3 result without ResponseMetadata (request id and headers: per request)."""
    return {k: v for k, v in r.items() if k != "ResponseMetadata"}


def twice(pair, op, **kw):
    """A read never made before in this namespace: `miss` (from the server), then `hit` (from memory); both
    equal to moto A's answer (checked by pair.ddb). Returns the direct answer."""
    first = result(pair.ddb(op, expect_cache="miss", **kw))
    second = result(pair.ddb(op, expect_cache="hit", **kw))
    assert first == second, f"{op}: the server's answer changed between two reads with no write between"
    return first


def all_pages(pair, op, expect_cache, limit_pages=20, **kw):
    """Every page of a paginated Query/Scan, each read once with the x-dynamo-cache value `expect_cache`."""
    pages, start = [], None
    for _ in range(limit_pages):
        args = dict(kw)
        if start is not None:
            args["ExclusiveStartKey"] = start
        r = result(pair.ddb(op, expect_cache=expect_cache, **args))
        pages.append(r)
        start = r.get("LastEvaluatedKey")
        if start is None:
            return pages
    raise AssertionError("pagination did not terminate")


def header_of(result):
    return result["ResponseMetadata"]["HTTPHeaders"].get("x-dynamo-cache")


def labelled(pair, label):
    """Context: prefix the differences recorded inside it with `label` (which write preceded them)."""

    class _Ctx:
        def __enter__(self):
            self.n = len(pair.differences)

        def __exit__(self, *exc):
            for i in range(self.n, len(pair.differences)):
                pair.differences[i] = f"[{label}] " + pair.differences[i]
            return False

    return _Ctx()


GSI = {"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                          {"AttributeName": "sk", "KeyType": "RANGE"}],
       "Projection": {"ProjectionType": "ALL"}}
LSI = {"IndexName": "by-l", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                          {"AttributeName": "lsk", "KeyType": "RANGE"}],
       "Projection": {"ProjectionType": "ALL"}}


def indexed_table(pair, t, *, lsi=True):
    """pk/sk table with a GSI by-g (g, sk) and an LSI by-l (pk, lsk)."""
    create_table(pair, t, range_key=("sk", "S"), extra_attrs=(("g", "S"), ("lsk", "N")) if lsi else (("g", "S"),),
                 gsis=[GSI], lsis=[LSI] if lsi else None)


def item(pk, sk, i, g=None):
    it = {"pk": S(pk), "sk": S(sk), "v": N(i), "odd": {"BOOL": i % 2 == 1}, "name": S(f"n{i}"), "lsk": N(100 - i)}
    if g is not None:
        it["g"] = S(g)
    return it


# --------------------------------------------------------------------------
# 1. What is answered from memory
# --------------------------------------------------------------------------

def test_query_and_scan_pages_served_from_cache(pair, name):
    indexed_table(pair, name)
    for i in range(7):  # partition p: a#00..a#06, then b#00..b#02; partition q: two items
        pair.ddb("put_item", TableName=name, Item=item("p", f"a#{i:02d}", i, g="x" if i % 2 == 0 else "y"))
    for i in range(3):
        pair.ddb("put_item", TableName=name, Item=item("p", f"b#{i:02d}", 10 + i, g="x"))
    for i in range(2):
        pair.ddb("put_item", TableName=name, Item=item("q", f"a#{i:02d}", 20 + i))
    q = dict(TableName=name)
    r = twice(pair, "query", **q, KeyConditionExpression="pk = :p AND begins_with(sk, :a)",
              ExpressionAttributeValues={":p": S("p"), ":a": S("b#")})
    assert [i["sk"]["S"] for i in r["Items"]] == ["b#00", "b#01", "b#02"]
    r = twice(pair, "query", **q, KeyConditionExpression="pk = :p AND sk BETWEEN :lo AND :hi",
              ExpressionAttributeValues={":p": S("p"), ":lo": S("a#02"), ":hi": S("a#05")})
    assert r["Count"] == 4
    # Only the bounds differ: another entry.
    r = twice(pair, "query", **q, KeyConditionExpression="pk = :p AND sk BETWEEN :lo AND :hi",
              ExpressionAttributeValues={":p": S("p"), ":lo": S("a#02"), ":hi": S("a#03")})
    assert r["Count"] == 2
    r = twice(pair, "query", **q, KeyConditionExpression="pk = :p", FilterExpression="odd = :t",
              ExpressionAttributeValues={":p": S("p"), ":t": {"BOOL": True}})
    assert (r["Count"], r["ScannedCount"]) == (4, 10)
    # A projection with a placeholder for a reserved word; the same expression with another mapping is another
    # entry.
    r = twice(pair, "query", **q, KeyConditionExpression="pk = :p", ProjectionExpression="#n, sk",
              ExpressionAttributeNames={"#n": "name"}, ExpressionAttributeValues={":p": S("q")})
    assert r["Items"] == [{"name": S("n20"), "sk": S("a#00")}, {"name": S("n21"), "sk": S("a#01")}]
    r = twice(pair, "query", **q, KeyConditionExpression="pk = :p", ProjectionExpression="#n, sk",
              ExpressionAttributeNames={"#n": "v"}, ExpressionAttributeValues={":p": S("q")})
    assert r["Items"][0] == {"v": N(20), "sk": S("a#00")}
    r = twice(pair, "query", **q, KeyConditionExpression="pk = :p", Select="COUNT",
              ExpressionAttributeValues={":p": S("p")})
    assert r["Count"] == 10 and "Items" not in r
    r = twice(pair, "query", **q, KeyConditionExpression="pk = :p", ScanIndexForward=False, Limit=3,
              ExpressionAttributeValues={":p": S("p")})
    assert [i["sk"]["S"] for i in r["Items"]] == ["b#02", "b#01", "b#00"]
    # ReturnConsumedCapacity is not part of the entry key: the same query asking for it is a hit (0 units,
    # well formed: see e2e_support.check_cached_capacity), and "NONE" is the same as not asking.
    for rcc in ("TOTAL", "INDEXES", "NONE"):
        pair.ddb("query", **q, KeyConditionExpression="pk = :p", ScanIndexForward=False, Limit=3,
                 ExpressionAttributeValues={":p": S("p")}, ReturnConsumedCapacity=rcc, expect_cache="hit")
    # An empty result is an entry too.
    r = twice(pair, "query", **q, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("none")})
    assert (r["Count"], r["Items"]) == (0, [])
    r = twice(pair, "scan", **q, FilterExpression="v > :big", ExpressionAttributeValues={":big": N(1000)})
    assert r["Count"] == 0
    # GSI and LSI queries, and a Scan of the index.
    r = twice(pair, "query", **q, IndexName="by-g", KeyConditionExpression="g = :g",
              ExpressionAttributeValues={":g": S("y")})
    assert [i["sk"]["S"] for i in r["Items"]] == ["a#01", "a#03", "a#05"]
    r = twice(pair, "query", **q, IndexName="by-l", KeyConditionExpression="pk = :p AND lsk < :x",
              ExpressionAttributeValues={":p": S("p"), ":x": N(96)}, ScanIndexForward=False)
    assert [i["lsk"]["N"] for i in r["Items"]] == ["95", "94", "90", "89", "88"]
    pair.ddb("query", **q, IndexName="by-l", KeyConditionExpression="pk = :p AND lsk < :x",
             ExpressionAttributeValues={":p": S("p"), ":x": N(96)}, ScanIndexForward=False,
             ReturnConsumedCapacity="INDEXES", expect_cache="hit")
    r = twice(pair, "scan", **q, IndexName="by-g", Select="COUNT")
    assert r["Count"] == 10  # the two q items have no g
    r = twice(pair, "scan", **q)
    assert r["Count"] == 12
    # Legacy parameters on Query: KeyConditions, QueryFilter, AttributesToGet; each combination its own entry.
    kc = {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("p")]},
          "sk": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [S("a#")]}}
    r = twice(pair, "query", **q, KeyConditions=kc)
    assert [i["sk"]["S"] for i in r["Items"]] == [f"a#{i:02d}" for i in range(7)]
    # moto ignores AttributesToGet and mishandles QueryFilter on Query (e2e_support.MOTO_DEVIATIONS): the proxy
    # caches the server's page as it is, so these are held to moto's answer (direct vs proxy, miss then hit),
    # not to DynamoDB's.
    r = twice(pair, "query", **q, KeyConditions=kc, AttributesToGet=["sk", "v"])
    assert [i["sk"]["S"] for i in r["Items"]] == [f"a#{i:02d}" for i in range(7)]
    twice(pair, "query", **q, KeyConditions=kc, AttributesToGet=["sk", "v"],
          QueryFilter={"odd": {"ComparisonOperator": "EQ", "AttributeValueList": [{"BOOL": False}]}})


def test_pagination_each_page_its_own_entry(pair, name):
    create_table(pair, name, range_key=("sk", "S"))
    for i in range(7):
        pair.ddb("put_item", TableName=name, Item={"pk": S("p"), "sk": S(f"s{i}"), "v": N(i)})
    kw = dict(TableName=name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")}, Limit=2)
    pages = all_pages(pair, "query", "miss", **kw)
    assert len(pages) >= 3 and [i["sk"]["S"] for p in pages for i in p["Items"]] == [f"s{i}" for i in range(7)]
    # Page 2 again (ExclusiveStartKey = page 1's LastEvaluatedKey): its own entry, a hit.
    for _ in range(2):
        r = pair.ddb("query", **kw, ExclusiveStartKey=pages[0]["LastEvaluatedKey"], expect_cache="hit")
        assert result(r) == pages[1]
    assert all_pages(pair, "query", "hit", **kw) == pages
    # Scan pages too, and each segment of a parallel Scan (each page of each segment its own entry).
    scan = all_pages(pair, "scan", "miss", TableName=name, Limit=3)
    assert len(scan) >= 3 and sum(p["Count"] for p in scan) == 7
    assert all_pages(pair, "scan", "hit", TableName=name, Limit=3) == scan
    seen = []
    for seg in range(3):
        first = all_pages(pair, "scan", "miss", TableName=name, Segment=seg, TotalSegments=3)
        assert all_pages(pair, "scan", "hit", TableName=name, Segment=seg, TotalSegments=3) == first
        seen += [i["sk"]["S"] for p in first for i in p["Items"]]
    assert sorted(seen) == [f"s{i}" for i in range(7)]


def raw_both(pair, body: bytes, op: str):
    """POST the same hand-written body to both sides; compare; return (direct, proxy) Raw."""
    a = raw_post(port(pair.direct.endpoint), body, T + op)
    b = raw_post(port(pair.proxy.endpoint), body, T + op)
    ra, rb = Raw(a.status, a.headers, a.body), Raw(b.status, b.headers, b.body)
    try:
        compare_raw(ra, rb, f"raw {op} {body[:200]!r}", request=json.loads(body))
    except AssertionError as e:
        pair.differences.append(str(e))
    return ra, rb


def raw_cache(pair, rb):
    if not pair.proxy_is_real:
        return None
    return {k.lower(): v for k, v in rb.headers.items()}.get("x-dynamo-cache")


def test_member_order_and_whitespace_do_not_matter(pair, name):
    create_table(pair, name, range_key=("sk", "S"))
    for i in range(4):
        pair.ddb("put_item", TableName=name, Item={"pk": S("p"), "sk": S(f"s{i}"), "v": N(i)})
    r = twice(pair, "query", TableName=name, KeyConditionExpression="pk = :p AND sk > :s",
              ExpressionAttributeValues={":p": S("p"), ":s": S("s0")}, ProjectionExpression="sk, #v",
              ExpressionAttributeNames={"#v": "v"}, Limit=2)
    assert len(r["Items"]) == 2
    body = ('\r\n {\n\t"Limit" : 2 ,"ExpressionAttributeNames":{ "#v" : "v" },\n'
            '  "ExpressionAttributeValues" : { ":s" : { "S" : "s0" } ,\n ":p":{"S":"p"} } ,'
            ' "ProjectionExpression" : "sk, #v",\n"TableName" :"%s", '
            '"KeyConditionExpression": "pk = :p AND sk > :s"  }\n ' % name).encode()
    ra, rb = raw_both(pair, body, "Query")
    assert ra.status == 200 and ra.json()["Count"] == 2
    if pair.proxy_is_real:
        assert raw_cache(pair, rb) == "hit", f"reordered body: x-dynamo-cache {raw_cache(pair, rb)!r}"
    # The same, asking for consumed capacity: still the same entry.
    withcc = body.replace(b'"Limit"', b'"ReturnConsumedCapacity": "TOTAL", "Limit"')
    ra, rb = raw_both(pair, withcc, "Query")
    if pair.proxy_is_real:
        assert raw_cache(pair, rb) == "hit", f"reordered body + RCC: x-dynamo-cache {raw_cache(pair, rb)!r}"
    # One value changed in the reordered body: a different request, never served the cached page.
    other = body.replace(b'"s0"', b'"s1"')
    ra, rb = raw_both(pair, other, "Query")
    assert ra.json()["Items"][0]["sk"] == S("s2")
    if pair.proxy_is_real:
        assert raw_cache(pair, rb) == "miss", f"another value: x-dynamo-cache {raw_cache(pair, rb)!r}"


# --------------------------------------------------------------------------
# 2. Writes through the proxy make pages stale
# --------------------------------------------------------------------------

def fresh_reads(t):
    """The reads re-checked after each write: the written partition, the table, both GSI partitions and the
    index's Scan (first page), and an LSI query."""
    return [
        ("query", dict(TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")})),
        ("query", dict(TableName=t, KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
                       ExpressionAttributeValues={":p": S("p"), ":s": S("s")}, Select="COUNT")),
        ("scan", dict(TableName=t)),
        ("query", dict(TableName=t, IndexName="by-g", KeyConditionExpression="g = :g",
                       ExpressionAttributeValues={":g": S("x")})),
        ("query", dict(TableName=t, IndexName="by-g", KeyConditionExpression="g = :g",
                       ExpressionAttributeValues={":g": S("y")})),
        ("scan", dict(TableName=t, IndexName="by-g", Limit=3)),
        ("query", dict(TableName=t, IndexName="by-l", KeyConditionExpression="pk = :p AND lsk > :z",
                       ExpressionAttributeValues={":p": S("p"), ":z": N(0)})),
    ]


def check_reads(pair, t, label, first="miss"):
    """Every read of fresh_reads: equal to direct, `first` (a value or a tuple of allowed ones) then `hit`."""
    with labelled(pair, label):
        for op, kw in fresh_reads(t):
            if isinstance(first, tuple):
                a, b = pair.call("dynamodb", op, **kw)
                got = header_of(b.parsed) if b.parsed else None
                if pair.proxy_is_real and got not in first:
                    pair.differences.append(f"{op}({kw}): x-dynamo-cache {got!r}, expected one of {first}")
            else:
                pair.ddb(op, expect_cache=first, **kw)
            pair.ddb(op, expect_cache="hit", **kw)


def query_p(pair, t):
    return [(i["sk"]["S"], i["v"]["N"], i.get("g", {}).get("S"))
            for i in pair.direct.client("dynamodb").query(
                TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")},
                ConsistentRead=True)["Items"]]


def test_writes_of_every_kind_make_pages_stale(pair, name):
    t = name
    indexed_table(pair, t)
    for i in range(4):
        pair.ddb("put_item", TableName=t, Item=item("p", f"s{i}", i, g="x"))
    pair.ddb("put_item", TableName=t, Item=item("q", "s0", 50, g="y"))
    check_reads(pair, t, "initial")
    writes = [
        ("PutItem", "put_item", dict(TableName=t, Item=item("p", "s4", 4, g="x"))),
        ("UpdateItem", "update_item", dict(TableName=t, Key={"pk": S("p"), "sk": S("s1")},
                                           UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": N(11)})),
        ("DeleteItem", "delete_item", dict(TableName=t, Key={"pk": S("p"), "sk": S("s2")})),
        ("BatchWriteItem", "batch_write_item", dict(RequestItems={t: [
            {"PutRequest": {"Item": item("p", "s5", 5, g="y")}},
            {"DeleteRequest": {"Key": {"pk": S("p"), "sk": S("s3")}}}]})),
        ("TransactWriteItems", "transact_write_items", dict(TransactItems=[
            {"Put": {"TableName": t, "Item": item("p", "s6", 6, g="x")}},
            {"Update": {"TableName": t, "Key": {"pk": S("p"), "sk": S("s4")}, "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": N(44)}}},
            {"Delete": {"TableName": t, "Key": {"pk": S("p"), "sk": S("s0")}}}])),
        # PartiQL writes: literal keys (moto crashes on a parameterised INSERT, see test_errors), numbers in
        # UPDATE as parameters (moto crashes on a number literal there, see e2e_support.MOTO_DEVIATIONS).
        ("PartiQL UPDATE", "execute_statement",
         dict(Statement=f"UPDATE \"{t}\" SET v = ? WHERE pk = 'p' AND sk = 's1'", Parameters=[N(77)])),
        ("PartiQL INSERT", "execute_statement",
         dict(Statement=f"INSERT INTO \"{t}\" VALUE {{'pk': 'p', 'sk': 's7', 'v': 7, 'g': 'y', 'lsk': 93}}")),
        ("PartiQL DELETE", "execute_statement", dict(Statement=f"DELETE FROM \"{t}\" WHERE pk = 'p' AND sk = 's5'")),
        ("BatchExecuteStatement", "batch_execute_statement", dict(Statements=[
            {"Statement": f"INSERT INTO \"{t}\" VALUE {{'pk': 'p', 'sk': 's8', 'v': 8, 'g': 'x', 'lsk': 92}}"},
            {"Statement": f"UPDATE \"{t}\" SET v = ? WHERE pk = 'p' AND sk = 's6'", "Parameters": [N(66)]}])),
        ("ExecuteTransaction", "execute_transaction", dict(TransactStatements=[
            {"Statement": f"UPDATE \"{t}\" SET v = ? WHERE pk = 'p' AND sk = 's8'", "Parameters": [N(88)]},
            {"Statement": f"DELETE FROM \"{t}\" WHERE pk = 'p' AND sk = 's7'"}])),
        # Writes that move an item from GSI partition x to y (the GSI queries must follow).
        ("UpdateItem of the GSI key", "update_item", dict(
            TableName=t, Key={"pk": S("p"), "sk": S("s6")}, UpdateExpression="SET g = :g",
            ExpressionAttributeValues={":g": S("y")})),
        ("PartiQL UPDATE of the GSI key (lower-case keywords)", "execute_statement",
         dict(Statement=f"update \"{t}\" set g = 'y' where pk = 'p' and sk = 's8'")),
        ("UpdateItem removing the GSI key", "update_item", dict(
            TableName=t, Key={"pk": S("p"), "sk": S("s1")}, UpdateExpression="REMOVE g")),
    ]
    history = [query_p(pair, t)]
    for label, op, kw in writes:
        pair.ddb(op, **kw)
        history.append(query_p(pair, t))
        assert history[-1] != history[-2], f"{label}: the write changed nothing (the check would prove nothing)"
        check_reads(pair, t, f"after {label}")
    assert [r[0] for r in history[-1]] == ["s1", "s4", "s6", "s8"]
    assert {r[0]: r[2] for r in history[-1]} == {"s1": None, "s4": "x", "s6": "y", "s8": "y"}

    # Writes that fail change nothing: the next reads (from memory or not) equal the server's, then are hits.
    before = query_p(pair, t)
    pair.ddb_err("ConditionalCheckFailedException", "put_item", TableName=t, Item=item("p", "s4", 0, g="y"),
                 ConditionExpression="attribute_not_exists(pk)")
    check_reads(pair, t, "after a failed conditional PutItem", first=("hit", "miss"))
    pair.ddb_err("ConditionalCheckFailedException", "update_item", TableName=t, Key={"pk": S("p"), "sk": S("s4")},
                 UpdateExpression="SET v = :v", ConditionExpression="v = :old",
                 ExpressionAttributeValues={":v": N(0), ":old": N(-1)})
    check_reads(pair, t, "after a failed conditional UpdateItem", first=("hit", "miss"))
    pair.ddb_err("TransactionCanceledException", "transact_write_items", TransactItems=[
        {"Put": {"TableName": t, "Item": item("p", "s9", 9, g="x")}},
        {"Delete": {"TableName": t, "Key": {"pk": S("p"), "sk": S("s4")}}},
        {"ConditionCheck": {"TableName": t, "Key": {"pk": S("p"), "sk": S("s6")},
                            "ConditionExpression": "v = :nope", "ExpressionAttributeValues": {":nope": N(-1)}}}])
    check_reads(pair, t, "after a cancelled TransactWriteItems", first=("hit", "miss"))
    assert query_p(pair, t) == before


def test_write_to_another_partition_or_table(pair, name):
    """A write elsewhere never makes a page wrong. A write to another table leaves this table's pages cached;
    a write to another partition of the same table must leave the queried partition's answer correct (whether
    the proxy tracks partitions is its business: `hit` or `miss` allowed), and the written partition's page
    and the table's Scan stale."""
    t, other = name, name + "-o"
    create_table(pair, t, range_key=("sk", "S"))
    create_table(pair, other)
    for pk in ("p", "q"):
        pair.ddb("put_item", TableName=t, Item={"pk": S(pk), "sk": S("a"), "v": N(1)})
    qp = dict(TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")})
    qq = dict(TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("q")})
    for kw in (qp, qq):
        twice(pair, "query", **kw)
    twice(pair, "scan", TableName=t)
    pair.ddb("put_item", TableName=other, Item={"pk": S("p"), "v": N(2)})
    pair.ddb("query", **qp, expect_cache="hit")
    pair.ddb("scan", TableName=t, expect_cache="hit")
    pair.ddb("update_item", TableName=t, Key={"pk": S("q"), "sk": S("a")}, UpdateExpression="SET v = :v",
             ExpressionAttributeValues={":v": N(2)})
    a, b = pair.call("dynamodb", "query", **qp)
    if pair.proxy_is_real:
        assert header_of(b.parsed) in ("hit", "miss"), header_of(b.parsed)
    assert pair.ddb("query", **qq, expect_cache="miss")["Items"][0]["v"] == N(2)
    pair.ddb("scan", TableName=t, expect_cache="miss")


def test_multi_table_writes_and_table_arns(pair, name):
    """A BatchWriteItem or TransactWriteItems naming two tables stales both; a table named by its ARN (which
    DynamoDB accepts wherever a table name goes) is the same table as its plain name, for writes and reads."""
    t1, t2 = name + "-1", name + "-2"
    arn1 = create_table(pair, t1, range_key=("sk", "S"))["TableDescription"]["TableArn"]
    create_table(pair, t2)
    pair.ddb("put_item", TableName=t1, Item={"pk": S("p"), "sk": S("a"), "v": N(0)})
    reads = [(t1, "query", dict(TableName=t1, KeyConditionExpression="pk = :p",
                                ExpressionAttributeValues={":p": S("p")})),
             (t1, "query", dict(TableName=arn1, KeyConditionExpression="pk = :p",
                                ExpressionAttributeValues={":p": S("p")})),
             (t1, "scan", dict(TableName=t1)), (t1, "scan", dict(TableName=arn1)), (t2, "scan", dict(TableName=t2))]
    for _, op, kw in reads:
        twice(pair, op, **kw)
    writes = [  # (label, op, arguments, the tables it writes)
        ("BatchWriteItem on two tables", "batch_write_item", dict(RequestItems={
            t1: [{"PutRequest": {"Item": {"pk": S("p"), "sk": S("b"), "v": N(1)}}}],
            t2: [{"PutRequest": {"Item": {"pk": S("x"), "v": N(1)}}}]}), {t1, t2}),
        ("TransactWriteItems on two tables", "transact_write_items", dict(TransactItems=[
            {"Update": {"TableName": t1, "Key": {"pk": S("p"), "sk": S("a")}, "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": N(2)}}},
            {"Delete": {"TableName": t2, "Key": {"pk": S("x")}}}]), {t1, t2}),
        ("PutItem by ARN", "put_item", dict(TableName=arn1, Item={"pk": S("p"), "sk": S("c"), "v": N(3)}), {t1}),
        ("UpdateItem by ARN", "update_item", dict(TableName=arn1, Key={"pk": S("p"), "sk": S("c")},
                                                  UpdateExpression="SET v = :v",
                                                  ExpressionAttributeValues={":v": N(4)}), {t1}),
        ("BatchWriteItem by ARN and name", "batch_write_item", dict(RequestItems={
            arn1: [{"DeleteRequest": {"Key": {"pk": S("p"), "sk": S("b")}}}],
            t2: [{"PutRequest": {"Item": {"pk": S("y"), "v": N(5)}}}]}), {t1, t2}),
    ]
    for label, op, kw, written in writes:
        pair.ddb(op, **kw)
        with labelled(pair, f"after {label}"):
            for table, rop, rkw in reads:  # the other table's pages stay cached
                pair.ddb(rop, expect_cache="miss" if table in written else "hit", **rkw)
                pair.ddb(rop, expect_cache="hit", **rkw)


@pytest.mark.parametrize("write", ["put_item", "batch_write_item", "transact_write_items"])
def test_put_after_a_keyed_read_naming_wrong_key_attributes(pair, name, flush, write):  # noqa: F811
    """The proxy learns a table's key attributes from requests. A GetItem naming attributes that are not the
    table's key (refused by the server: a client's mistake) must not make a later PutItem look like a write to
    another partition: the Query of the written partition must be fetched again. The flush makes the proxy
    forget what it knew of the table (as a restarted proxy would not know it)."""
    create_table(pair, name, range_key=("sk", "S"))
    pair.ddb("put_item", TableName=name, Item={"pk": S("p"), "sk": S("a"), "v": N(1)})
    flush(name)
    pair.ddb_err("ValidationException", "get_item", TableName=name, Key={"v": N(1)})
    q = dict(TableName=name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")})
    twice(pair, "query", **q)
    new = {"pk": S("p"), "sk": S("b"), "v": N(1)}
    if write == "put_item":
        pair.ddb("put_item", TableName=name, Item=new)
    elif write == "batch_write_item":
        pair.ddb("batch_write_item", RequestItems={name: [{"PutRequest": {"Item": new}}]})
    else:
        pair.ddb("transact_write_items", TransactItems=[{"Put": {"TableName": name, "Item": new}}])
    assert pair.ddb("query", **q, expect_cache="miss")["Count"] == 2
    pair.ddb("query", **q, expect_cache="hit")


def test_table_operations_make_pages_stale(pair, name):
    t = name
    create_table(pair, t, range_key=("sk", "S"))
    pair.ddb("put_item", TableName=t, Item={"pk": S("p"), "sk": S("a"), "v": N(1)})
    qp = dict(TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")})
    twice(pair, "query", **qp)
    twice(pair, "scan", TableName=t)
    # UpdateTable: a table operation; the pages must be fetched again.
    pair.ddb("update_table", TableName=t, BillingMode="PROVISIONED",
             ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
    pair.ddb("query", **qp, expect_cache="miss")
    pair.ddb("scan", TableName=t, expect_cache="miss")
    pair.ddb("query", **qp, expect_cache="hit")
    # Deleted: the error is not cached; re-created with the same name: empty, never the old pages.
    pair.ddb("delete_table", TableName=t)
    pair.ddb_err("ResourceNotFoundException", "query", **qp)
    pair.ddb_err("ResourceNotFoundException", "scan", TableName=t)
    create_table(pair, t, range_key=("sk", "S"))
    assert twice(pair, "query", **qp)["Items"] == []
    assert twice(pair, "scan", TableName=t)["Items"] == []


@pytest.mark.parametrize("op", ["Query", "Scan"])
def test_read_racing_a_write_is_not_answered_the_old_page(binary, log_dir, op):
    """Read #1 reaches the (scripted) upstream and takes the old snapshot, answered late; a PutItem through the
    proxy completes meanwhile; read #2, the same request sent after the PutItem was acknowledged, must show the
    new value: it may not share read #1's fetch (begun before the write) nor find its page stored."""
    state = {"v": "old"}
    lock = threading.Lock()
    first_read = threading.Event()

    def respond(target, body):
        with lock:
            if target.endswith(".PutItem"):
                state["v"] = json.loads(body)["Item"]["v"]["S"]
                return 0, b"{}"
            if target.endswith("." + op):
                page = json.dumps({"Items": [{"pk": S("k"), "v": S(state["v"])}], "Count": 1,
                                   "ScannedCount": 1}).encode()
                if not first_read.is_set():
                    first_read.set()
                    return 1.5, page  # snapshot taken now, delivered late
                return 0, page
            return 0, b"{}"

    up = HoldingServer(delay=0, respond=respond)
    p = ProxyProcess(binary, f"http://{LOOPBACK}:{up.port}", log_dir, f"proxy-{op.lower()}-race",
                     extra_args=["--upstream-timeout", "10s"])
    if op == "Query":
        read = json.dumps({"TableName": "t", "KeyConditionExpression": "pk = :p",
                           "ExpressionAttributeValues": {":p": S("k")}}).encode()
    else:
        read = json.dumps({"TableName": "t"}).encode()
    try:
        got = {}
        th = threading.Thread(target=lambda: got.setdefault("r", raw_post(p.data_port, read, T + op)), daemon=True)
        th.start()
        assert first_read.wait(10), f"{op} #1 never reached the upstream"
        put = json.dumps({"TableName": "t", "Item": {"pk": S("k"), "v": S("new")}}).encode()
        r = raw_post(p.data_port, put, T + "PutItem")
        assert r.status == 200, r.body
        answers = [raw_post(p.data_port, read, T + op)]  # sent while #1 is still in flight
        th.join(15)
        assert got["r"].json()["Items"][0]["v"] == S("old")  # #1 itself is legitimately old
        answers += [raw_post(p.data_port, read, T + op) for _ in range(2)]
        for i, r in enumerate(answers):
            cache = {k.lower(): v for k, v in r.headers.items()}.get("x-dynamo-cache")
            assert r.status == 200 and r.json()["Items"][0]["v"] == S("new"), (
                f"{op} #{i + 2}, sent after the PutItem was acknowledged, answered {r.body!r} "
                f"(x-dynamo-cache={cache})")
    finally:
        code = stop_process(p.proc)
        up.close()
    assert code == 0, f"exit code {code}; stderr: {p.stderr_tail()}"


# --------------------------------------------------------------------------
# 3. Other invalidation modes (extra proxy instances in front of moto B, tables of their own)
# --------------------------------------------------------------------------

def proxy_client(pair, p):
    return pair.proxy.session.client("dynamodb", endpoint_url=p.data_url, config=BOTO_CONFIG)


def cache_of(r):
    return header_of(r)


QUERY_TTL = 3.0  # seconds: --query-ttl of the ttl-mode instance


def test_ttl_mode_leaves_pages_until_their_ttl(pair, real_proxy, motos, binary, log_dir):
    """--query-invalidation ttl (DAX's behaviour): writes through the proxy do NOT touch cached pages; a page
    stays (stale, by design) until its TTL ends. Nothing else is stale: the item cache is still write-through."""
    p = ProxyProcess(binary, motos[1].url, log_dir, "proxy-query-ttl-mode",
                     extra_args=["--query-invalidation", "ttl", "--query-ttl", f"{int(QUERY_TTL)}s"])
    t = unique("qc-ttl-mode")
    try:
        c = proxy_client(pair, p)
        c.create_table(TableName=t, BillingMode="PAY_PER_REQUEST",
                       KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                  {"AttributeName": "sk", "KeyType": "RANGE"}],
                       AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                             {"AttributeName": "sk", "AttributeType": "S"}])
        c.put_item(TableName=t, Item={"pk": S("p"), "sk": S("a"), "v": S("old")})
        q = dict(TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")})
        filled = time.monotonic()
        r = c.query(**q)
        assert (cache_of(r), r["Items"][0]["v"]) == ("miss", S("old"))
        assert cache_of(c.scan(TableName=t)) == "miss"
        c.update_item(TableName=t, Key={"pk": S("p"), "sk": S("a")}, UpdateExpression="SET v = :v",
                      ExpressionAttributeValues={":v": S("new")})
        c.put_item(TableName=t, Item={"pk": S("p"), "sk": S("b"), "v": S("added")})
        # Documented staleness: the pages filled before the writes are still served, old.
        r = c.query(**q)
        assert (cache_of(r), [i["v"] for i in r["Items"]]) == ("hit", [S("old")]), r
        r = c.scan(TableName=t)
        assert (cache_of(r), r["Count"]) == ("hit", 1), r
        assert time.monotonic() - filled < QUERY_TTL - 0.5, "too slow: the stale checks ran near the TTL's end"
        # Nothing else is stale: GetItem (item cache, write-through), BatchGetItem, a strong Query, a new Query.
        r = c.get_item(TableName=t, Key={"pk": S("p"), "sk": S("a")})
        assert r["Item"]["v"] == S("new") and cache_of(r) in ("hit", "miss"), r
        r = c.get_item(TableName=t, Key={"pk": S("p"), "sk": S("b")})
        assert r["Item"]["v"] == S("added") and cache_of(r) in ("hit", "miss"), r
        r = c.batch_get_item(RequestItems={t: {"Keys": [{"pk": S("p"), "sk": S("a")}]}})
        assert r["Responses"][t][0]["v"] == S("new")
        r = c.query(**q, ConsistentRead=True)
        assert (cache_of(r), [i["v"] for i in r["Items"]]) == ("bypass", [S("new"), S("added")]), r
        r = c.query(**q, ScanIndexForward=False)
        assert (cache_of(r), [i["v"] for i in r["Items"]]) == ("miss", [S("added"), S("new")]), r
        # Past the TTL the page is fetched again, fresh.
        time.sleep(max(0.0, filled + QUERY_TTL + 0.5 - time.monotonic()))
        r = c.query(**q)
        assert (cache_of(r), [i["v"] for i in r["Items"]]) == ("miss", [S("new"), S("added")]), r
        r = c.query(**q)
        assert (cache_of(r), [i["v"] for i in r["Items"]]) == ("hit", [S("new"), S("added")]), r
        c.delete_table(TableName=t)
    finally:
        code = stop_process(p.proc)
    assert code == 0, f"exit code {code}; stderr: {p.stderr_tail()}"


def test_query_ttl_zero_turns_the_query_cache_off(pair, real_proxy, motos, binary, log_dir):
    p = ProxyProcess(binary, motos[1].url, log_dir, "proxy-query-ttl-0", extra_args=["--query-ttl", "0"])
    t = unique("qc-ttl-0")
    try:
        c = proxy_client(pair, p)
        c.create_table(TableName=t, BillingMode="PAY_PER_REQUEST",
                       KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        c.put_item(TableName=t, Item={"pk": S("p"), "v": S("one")})
        q = dict(TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")})
        for expected in ("one", "two"):
            for _ in range(2):
                r = c.query(**q)
                assert (cache_of(r), r["Items"][0]["v"]) == ("bypass", S(expected)), r
                r = c.scan(TableName=t)
                assert (cache_of(r), r["Items"][0]["v"]) == ("bypass", S(expected)), r
            c.update_item(TableName=t, Key={"pk": S("p")}, UpdateExpression="SET v = :v",
                          ExpressionAttributeValues={":v": S("two")})
        # The item cache is still on.
        c.get_item(TableName=t, Key={"pk": S("p")})
        assert cache_of(c.get_item(TableName=t, Key={"pk": S("p")})) == "hit"
        c.delete_table(TableName=t)
    finally:
        code = stop_process(p.proc)
    assert code == 0, f"exit code {code}; stderr: {p.stderr_tail()}"


# --------------------------------------------------------------------------
# 4-6. Namespaces, admin flush, stats
# --------------------------------------------------------------------------

def test_namespaces_by_access_key(pair, name):
    """Pages belong to the access key id (and region) that filled them: Bob never gets Alice's page."""
    alice, bob = pair.with_key("AKIDALICE"), pair.with_key("AKIDBOB")
    create_table(pair, name, range_key=("sk", "S"))
    pair.ddb("put_item", TableName=name, Item={"pk": S("p"), "sk": S("a"), "v": S("one")})
    q = dict(TableName=name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")})
    twice(alice, "query", **q)
    twice(alice, "scan", TableName=name)
    assert twice(bob, "query", **q)["Items"][0]["v"] == S("one")
    twice(bob, "scan", TableName=name)
    # A write by Bob makes Alice's pages stale too.
    bob.ddb("update_item", TableName=name, Key={"pk": S("p"), "sk": S("a")}, UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": S("two")})
    assert twice(alice, "query", **q)["Items"][0]["v"] == S("two")
    twice(alice, "scan", TableName=name)


def test_flush_after_a_write_behind_the_proxy(pair, motos, real_proxy, name, flush):  # noqa: F811
    """A write made to the storage server behind the proxy's back is NOT seen through the proxy (by design: it
    only knows the writes it forwards) until the page's TTL passes (5 minutes here) or an admin flush."""
    t, t2 = name, name + "-2"
    indexed_table(pair, t, lsi=False)
    create_table(pair, t2)
    pair.ddb("put_item", TableName=t, Item=item("p", "a", 1, g="x"))
    pair.ddb("put_item", TableName=t2, Item={"pk": S("p"), "v": N(1)})
    q = dict(TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")})
    gq = dict(TableName=t, IndexName="by-g", KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": S("x")})
    for op, kw in (("query", q), ("query", gq), ("scan", dict(TableName=t)), ("scan", dict(TableName=t2))):
        twice(pair, op, **kw)
    direct_b = pair.proxy.session.client("dynamodb", endpoint_url=motos[1].url, config=BOTO_CONFIG)
    for c in (pair.direct.client("dynamodb"), direct_b):  # the same direct writes on both servers
        c.put_item(TableName=t, Item=item("p", "b", 2, g="x"))
        c.put_item(TableName=t2, Item={"pk": S("q"), "v": N(2)})
    px = pair.proxy.client("dynamodb")
    for kw, fn in ((q, px.query), (gq, px.query), (dict(TableName=t), px.scan)):
        r = fn(**kw)
        assert (cache_of(r), r["Count"]) == ("hit", 1), f"expected the documented staleness: {r}"
    body = flush(t)
    assert body == {"flushed": "table", "table": t}, body
    assert pair.ddb("query", **q, expect_cache="miss")["Count"] == 2
    assert pair.ddb("query", **gq, expect_cache="miss")["Count"] == 2
    assert pair.ddb("scan", TableName=t, expect_cache="miss")["Count"] == 2
    for op, kw in (("query", q), ("query", gq), ("scan", dict(TableName=t))):
        pair.ddb(op, **kw, expect_cache="hit")
    # The other table's page was not flushed (still stale) until everything is.
    r = px.scan(TableName=t2)
    assert (cache_of(r), r["Count"]) == ("hit", 1), r
    assert flush() == {"flushed": "all"}
    assert pair.ddb("scan", TableName=t2, expect_cache="miss")["Count"] == 2
    pair.ddb("scan", TableName=t2, expect_cache="hit")


def query_stats(proxy):
    r = admin_request(proxy.admin_port, "GET", "/stats")
    assert r.status == 200, f"GET /stats: HTTP {r.status} {r.body[:300]!r}"
    body = r.json()
    qc = body.get("caches", {}).get("query")
    assert isinstance(qc, dict), f"GET /stats: no caches.query object in {body!r}"
    for k in ("hits", "misses", "entries"):
        assert isinstance(qc.get(k), int) and not isinstance(qc.get(k), bool), f"caches.query.{k}: {qc}"
    return qc


def test_stats_count_query_hits(pair, real_proxy, name):
    create_table(pair, name, range_key=("sk", "S"))
    pair.ddb("put_item", TableName=name, Item={"pk": S("s"), "sk": S("a"), "v": N(1)})
    q = dict(TableName=name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("s")})
    s0 = query_stats(real_proxy)
    pair.ddb("query", **q, expect_cache="miss")
    s1 = query_stats(real_proxy)
    assert s1["misses"] == s0["misses"] + 1 and s1["hits"] == s0["hits"], f"{s0} -> {s1} after one miss"
    assert s1["entries"] >= 1, s1
    pair.ddb("query", **q, expect_cache="hit")
    s2 = query_stats(real_proxy)
    assert s2["hits"] == s1["hits"] + 1, f"hits {s1['hits']} -> {s2['hits']} after one hit"
    assert s2["misses"] == s1["misses"], f"misses {s1['misses']} -> {s2['misses']} after a hit"


# --------------------------------------------------------------------------
# 7. Randomised coherence with Query and Scan among the reads
# --------------------------------------------------------------------------
QC_SEED = 20240612
QC_SECONDS = 8.0
QC_MAX_OPS = 600
QC_KEYS = [f"h{i}" for i in range(5)]  # sort keys of the hot partition pk = "hot"
HOT = "hot"


def _qc_client(pair, n, table, t_end, log, errors):
    import random
    rng = random.Random(QC_SEED * 10 + n)
    c = pair.proxy.session.client("dynamodb", endpoint_url=pair.proxy.endpoint, config=BOTO_CONFIG)

    def key(k):
        return {"pk": S(HOT), "sk": S(k)}

    def log_items(items, start, end, cache):
        # A key absent from the result counts as the value "absent" (None), as for GetItem.
        found = {i["sk"]["S"]: value_of(i) for i in items if i["pk"]["S"] == HOT}
        for k in QC_KEYS:
            if found.get(k) is not IN_BETWEEN:
                log.append(("read", k, found.get(k), start, end, cache))

    counter = 0
    try:
        for _ in range(QC_MAX_OPS):
            if time.monotonic() >= t_end:
                return
            op = rng.choices(["put", "update", "delete", "batch_put", "transact_put", "partiql_delete",
                              "get", "query", "scan"], weights=[3, 3, 1, 1, 1, 1, 3, 6, 3])[0]
            k = rng.choice(QC_KEYS)
            counter += 1
            value = f"c{n}-{counter:05d}"
            start = time.monotonic()
            if op == "put":
                c.put_item(TableName=table, Item={**key(k), "v": S(value)})
                log.append(("write", k, value, start, time.monotonic(), None))
            elif op == "update":
                c.update_item(TableName=table, Key=key(k), UpdateExpression="SET v = :n",
                              ExpressionAttributeValues={":n": S(value)})
                log.append(("write", k, value, start, time.monotonic(), None))
            elif op == "delete":
                c.delete_item(TableName=table, Key=key(k))
                log.append(("write", k, None, start, time.monotonic(), None))
            elif op == "batch_put":
                r = c.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {**key(k), "v": S(value)}}}]})
                assert not r.get("UnprocessedItems"), r.get("UnprocessedItems")
                log.append(("write", k, value, start, time.monotonic(), None))
            elif op == "transact_put":
                c.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": {**key(k), "v": S(value)}}}])
                log.append(("write", k, value, start, time.monotonic(), None))
            elif op == "partiql_delete":  # literal key (moto crashes on some parameterised PartiQL writes)
                # (not UPDATE: on a missing item moto's is a silent no-op, see e2e_support.MOTO_DEVIATIONS)
                c.execute_statement(Statement=f"DELETE FROM \"{table}\" WHERE pk = '{HOT}' AND sk = '{k}'")
                log.append(("write", k, None, start, time.monotonic(), None))
            elif op == "get":
                r = c.get_item(TableName=table, Key=key(k))
                end = time.monotonic()
                got = value_of(r["Item"]) if "Item" in r else None
                if got is not IN_BETWEEN:
                    log.append(("read", k, got, start, end, header_of(r)))
            elif op == "query":
                r = c.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S(HOT)})
                assert "LastEvaluatedKey" not in r
                log_items(r["Items"], start, time.monotonic(), "query " + str(header_of(r)))
            else:
                r = c.scan(TableName=table)
                assert "LastEvaluatedKey" not in r
                log_items(r["Items"], start, time.monotonic(), "scan " + str(header_of(r)))
    except Exception as e:  # noqa: BLE001
        errors.append(f"client {n}: {type(e).__name__}: {e}")


def test_concurrent_random_coherence_with_queries(pair, real_proxy, capsys):
    """Like test_proxy_only.test_concurrent_random_coherence (same checker, coherence_violations), on one hot
    partition of 5 items, with Query of that partition and Scan of the table among the reads: each item value
    a Query/Scan returns (or its absence) must not be older than a write of that key acknowledged before the
    read started. Through the proxy only; the table is deleted after."""
    t = unique("qc-coherence")
    create_table(pair, t, range_key=("sk", "S"))
    log = []
    c = pair.proxy.client("dynamodb")
    for k in QC_KEYS:
        start = time.monotonic()
        c.put_item(TableName=t, Item={"pk": S(HOT), "sk": S(k), "v": S("init")})
        log.append(("write", k, "init", start, time.monotonic(), None))
    c.put_item(TableName=t, Item={"pk": S("cold"), "sk": S("c"), "v": S("cold")})  # another partition, Scan only
    errors = []
    t_end = time.monotonic() + QC_SECONDS
    threads = [threading.Thread(target=_qc_client, args=(pair, n, t, t_end, log, errors), daemon=True)
               for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(QC_SECONDS + 60)
    try:
        assert not any(th.is_alive() for th in threads), "clients hung"
        assert not errors, errors[:5]
        # Quiescent: the proxy's Query and Scan answers are the server's current ones.
        q = dict(TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S(HOT)})
        assert c.query(**q)["Items"] == c.query(**q, ConsistentRead=True)["Items"]
        assert c.scan(TableName=t)["Items"] == c.scan(TableName=t, ConsistentRead=True)["Items"]
        reads = [e for e in log if e[0] == "read"]
        counts = {}
        for e in reads:
            counts[e[5]] = counts.get(e[5], 0) + 1
        with capsys.disabled():
            print(f"\nquery coherence: {len(log) - len(reads)} writes, {len(reads)} key reads; x-dynamo-cache of "
                  f"reads: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items(), key=str)))
        bad = coherence_violations(log)
        assert not bad, f"{len(bad)} stale read(s) of {len(reads)}:\n" + "\n".join(bad[:10])
        query_reads = sum(v for k, v in counts.items() if str(k).startswith(("query", "scan")))
        query_hits = counts.get("query hit", 0) + counts.get("scan hit", 0)
        assert query_reads > 100 and query_hits > 0, f"too little exercised: {counts}"
    finally:
        for side in (pair.direct, pair.proxy):
            side.client("dynamodb").delete_table(TableName=t)
