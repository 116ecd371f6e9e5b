"""Hand-written request bodies (valid JSON that SDKs rarely send), posted to both sides and compared byte-level.

A proxy that parses bodies (to cache or invalidate) must read them exactly as the storage server does.
"""

import json
from urllib.parse import urlparse

import pytest

from e2e_support import Raw, compare_raw, create_table, raw_post

T = "DynamoDB_20120810."


def S(v):
    return {"S": v}


def port(url):
    return urlparse(url).port


def both_raw(pair, body: bytes, op: str):
    a = raw_post(port(pair.direct.endpoint), body, T + op)
    b = raw_post(port(pair.proxy.endpoint), body, T + op)
    ra, rb = Raw(a.status, a.headers, a.body), Raw(b.status, b.headers, b.body)
    try:
        request = json.loads(body)
    except ValueError:
        request = None
    compare_raw(ra, rb, f"raw {op} {body[:200]!r}", request=request)
    return ra


@pytest.fixture
def wire_table(pair, name):
    create_table(pair, name)
    for k in ("a", "b", "é", "😀", "a/b"):
        pair.ddb("put_item", TableName=name, Item={"pk": S(k), "v": S("value of " + k)})
    return name


def get(table, key_json):
    return ('{"TableName": "%s", "Key": {"pk": {"S": %s}}}' % (table, key_json)).encode()


@pytest.mark.parametrize("label,key_json,expected", [
    ("plain", '"a"', "a"),
    ("escaped-latin", '"\\u00e9"', "é"),
    ("raw-utf8", '"é"', "é"),
    ("surrogate-pair", '"\\ud83d\\ude00"', "😀"),
    ("raw-emoji", '"😀"', "😀"),
    ("escaped-slash", '"a\\/b"', "a/b"),
    ("escaped-letter", '"\\u0061"', "a"),
])
def test_string_escapes_read_the_same_key(pair, wire_table, label, key_json, expected):
    for _ in range(2):
        r = both_raw(pair, get(wire_table, key_json), "GetItem")
        assert r.status == 200 and r.json()["Item"]["v"] == S("value of " + expected), label
    # A write under another spelling of the same key is seen under this one.
    pair.ddb("update_item", TableName=wire_table, Key={"pk": S(expected)}, UpdateExpression="SET w = :w",
             ExpressionAttributeValues={":w": S(label)})
    r = both_raw(pair, get(wire_table, key_json), "GetItem")
    assert r.json()["Item"]["w"] == S(label)


def test_whitespace_and_member_order(pair, wire_table):
    body = ('\r\n  {\n\t"Key" :\n { "pk" : { "S" : "b" } } ,\n "TableName" : "%s"\n }  \n' % wire_table).encode()
    r = both_raw(pair, body, "GetItem")
    assert r.json()["Item"]["v"] == S("value of b")


def test_duplicate_members(pair, wire_table):
    """JSON with a repeated member: whichever one the storage server uses, the proxy must use the same."""
    body = ('{"TableName": "%s", "Key": {"pk": {"S": "a"}}, "Key": {"pk": {"S": "b"}}}' % wire_table).encode()
    first = both_raw(pair, body, "GetItem")
    pair.ddb("update_item", TableName=wire_table, Key={"pk": S("b")}, UpdateExpression="SET d = :d",
             ExpressionAttributeValues={":d": S("changed b")})
    pair.ddb("update_item", TableName=wire_table, Key={"pk": S("a")}, UpdateExpression="SET d = :d",
             ExpressionAttributeValues={":d": S("changed a")})
    second = both_raw(pair, body, "GetItem")
    assert first.status == second.status == 200
    assert "d" in second.json()["Item"]


def test_deeply_nested_item(pair, wire_table):
    """32 levels of nested maps and lists (DynamoDB's limit) through every path."""
    value = {"S": "leaf"}
    for i in range(32):
        value = {"M": {f"m{i}": value}} if i % 2 == 0 else {"L": [value]}
    item = {"pk": S("deep"), "nest": value}
    pair.ddb("put_item", TableName=wire_table, Item=item)
    assert pair.ddb("get_item", TableName=wire_table, Key={"pk": S("deep")})["Item"] == item
    pair.ddb("transact_write_items", TransactItems=[{"Put": {"TableName": wire_table, "Item": dict(item, pk=S("deep2"))}}])
    r = pair.ddb("batch_get_item", RequestItems={wire_table: {"Keys": [{"pk": S("deep2")}]}})
    assert r["Responses"][wire_table][0]["nest"] == value
    body = json.dumps({"TableName": wire_table, "Key": {"pk": S("deep")}}, indent=4).encode()
    both_raw(pair, body, "GetItem")


@pytest.mark.parametrize("target", ["DynamoDB_20120810.NoSuchOperation", "DynamoDB_20120810."])
def test_unknown_target_forwarded(pair, wire_table, target):
    """The proxy forwards DynamoDB operations it does not know, on purpose: it must not block operations added
    to DynamoDB after it was built; the storage server answers them. So the proxy's answer is the server's own
    (moto: its HTML 500 page), status and body, and the proxy keeps serving."""
    body = json.dumps({"TableName": wire_table, "Key": {"pk": S("a")}}).encode()
    a = raw_post(port(pair.direct.endpoint), body, target)
    b = raw_post(port(pair.proxy.endpoint), body, target)
    compare_raw(Raw(a.status, a.headers, a.body), Raw(b.status, b.headers, b.body),
                f"raw X-Amz-Target {target!r}", json_body=False)
    r = both_raw(pair, get(wire_table, '"a"'), "GetItem")
    assert r.json()["Item"]["v"] == S("value of a")
