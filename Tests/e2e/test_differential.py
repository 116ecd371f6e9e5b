"""Seeded differential fuzzing (differential.py) on the session's servers: a fixed random sequence of data-plane
operations sent to moto A directly and through the proxy to moto B must get equal answers.

In DYNAMO_CACHE_E2E_DIRECT_ONLY=1 mode the "proxy" side is moto B itself: the same run then checks the fuzzer
(a direct-vs-direct run must find nothing, not even a quirk).
"""

import json
import zlib

import pytest

import differential
from differential import MOTO_STORES, QUIRKS, REPAIRS, Answer, Connection, Step, explain
from e2e_support import unique

SEED = 20240611
OPS = 1500
# Bounds on a busy 2-core machine; a run cut short by one still checks every answer it got (and says so).
SECONDS = 30.0
CONCURRENT_SEED, CONCURRENT_OPS, CONCURRENT_SECONDS = 77, 250, 10.0


def _run(motos, proxy, capsys, what: str, **kwargs) -> None:
    a, b = motos
    results = differential.run(a.port, proxy.data_port if proxy else b.port, prefix=unique("difftest"), **kwargs)
    with capsys.disabled():
        print(f"\ndifferential {what}: {sum(results.operations.values())} operations in {results.elapsed:.1f}s"
              f"{' (cut short by the time bound)' if results.stopped_early else ''}; x-dynamo-cache "
              + ", ".join(f"{k}={v}" for k, v in sorted(results.cache.items()))
              + "; quirks " + (", ".join(f"{k}={v}" for k, v in sorted(results.quirks.items())) or "none"))
    problems = [d.report() for d in results.differences] + results.errors
    assert not problems, f"{len(results.differences)} difference(s), {len(results.errors)} error(s):\n\n" \
                         + "\n\n".join(problems)
    if proxy is None:
        assert not results.quirks, f"direct vs direct, yet quirks were accepted: {dict(results.quirks)}"
    else:
        # The run must have exercised the cache, or it proved little.
        assert results.cache["hit"] > 0, dict(results.cache)


def test_fixed_seed_sequence(motos, proxy, capsys):
    """OPS random operations of every kind (SEED), one client."""
    _run(motos, proxy, capsys, f"seed {SEED}", seeds=[SEED], ops=OPS, max_seconds=SECONDS)


def test_two_concurrent_clients(motos, proxy, capsys):
    """Two clients at once, each on its own tables: the servers interleave them, each table's order stays."""
    _run(motos, proxy, capsys, f"seed {CONCURRENT_SEED}, 2 clients", seeds=[CONCURRENT_SEED], ops=CONCURRENT_OPS,
         clients=2, max_seconds=CONCURRENT_SECONDS)


# --------------------------------------------------------------------------
# The quirk tables describe moto as it is: each entry reproduced with a few raw requests. When moto changes,
# the entry (and the rule that accepts it) must go.
# --------------------------------------------------------------------------

ITEM = {"pk": {"S": "q"}, "l": {"L": [{"S": "l0"}, {"S": "l1"}, {"L": [{"S": "x0"}, {"S": "x1"}]}]},
        "n": {"N": "7"}, "c": {"S": "has x"}}
QUIRK_REQUESTS = {
    "placeholder with index": {"ProjectionExpression": "#l[0]", "ExpressionAttributeNames": {"#l": "l"}},
    "list indexes": {"ProjectionExpression": "l[2], l[0]"},
    "nested list index": {"ProjectionExpression": "l[2][1]"},
    "member of a non-map": {"ProjectionExpression": "n.x, c.x"},
}


@pytest.fixture
def quirk_table(motos, proxy):
    a, b = motos
    table = unique("difftest-quirks")
    sides = [Connection(a.port), Connection(proxy.data_port if proxy else b.port)]
    create = json.dumps({"TableName": table, "BillingMode": "PAY_PER_REQUEST",
                         "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                         "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}).encode()
    for side in sides:
        assert side.post("CreateTable", create).status == 200
        assert side.post("PutItem", json.dumps({"TableName": table, "Item": ITEM}).encode()).status == 200
    yield table, sides
    for side in sides:
        side.post("DeleteTable", json.dumps({"TableName": table}).encode())
        side.close()


@pytest.mark.parametrize("name", sorted(QUIRK_REQUESTS))
def test_quirk_reproduces(quirk_table, proxy, name):
    """moto's answer has the quirk's signature, and the proxy's (from memory) is DynamoDB's documented one."""
    assert {q.name for q in QUIRKS} == set(QUIRK_REQUESTS)
    table, (direct_side, proxy_side) = quirk_table
    body = {"TableName": table, "Key": {"pk": ITEM["pk"]}, **QUIRK_REQUESTS[name]}
    raw = json.dumps(body).encode()
    proxy_side.post("GetItem", json.dumps({"TableName": table, "Key": body["Key"]}).encode())  # fill the cache
    direct, answer = direct_side.post("GetItem", raw), proxy_side.post("GetItem", raw)
    quirk = next(q for q in QUIRKS if q.name == name)
    projected = differential.projected_read(Step("GetItem", body, "GetItem"), direct, direct_side.post)
    assert projected is not None and quirk.recognise(projected), f"moto no longer shows {name!r}: {direct.brief()}"
    if proxy is not None:
        assert explain(Step("GetItem", body, "GetItem"), direct, answer, direct_side.post) == (name, []), \
            f"proxy: {answer.brief()}"


def test_repairs_and_stored_values_reproduce(quirk_table):
    """REPAIRS and MOTO_STORES describe moto (the direct side) as it is."""
    table, (direct_side, _) = quirk_table

    def post(op: str, body: dict) -> Answer:
        return direct_side.post(op, json.dumps({"TableName": table, **body}).encode())

    post("PutItem", {"Item": {"pk": {"S": "r"}, "c": {"S": "old"}, "ss": {"BS": ["AA=="]}}})
    refused = post("UpdateItem", {"Key": {"pk": {"S": "r"}}, "UpdateExpression": "SET c = :new ADD ss :v",
                                  "ExpressionAttributeValues": {":new": {"S": "new"}, ":v": {"SS": ["a"]}}})
    assert [r.name for r in REPAIRS if r.recognise(refused)] == ["update applied in part"], refused.brief()
    assert post("GetItem", {"Key": {"pk": {"S": "r"}}}).json()["Item"]["c"] == {"S": "new"}

    stored = {
        "bad number in SET": ("UpdateItem", {"Key": {"pk": {"S": "s1"}}, "UpdateExpression": "SET n = :v",
                                             "ExpressionAttributeValues": {":v": {"N": "abc"}}}),
        "number out of range": ("PutItem", {"Item": {"pk": {"S": "s2"}, "n": {"N": "1e126"}}}),
        "duplicate set element": ("PutItem", {"Item": {"pk": {"S": "s3"}, "s": {"NS": ["1", "1.0"]}}}),
        "empty set": ("PutItem", {"Item": {"pk": {"S": "s4"}, "s": {"BS": []}}}),
        "overflow in SET": ("UpdateItem", {"Key": {"pk": {"S": "s5"}}, "UpdateExpression": "SET n = :a + :b",
                                           "ExpressionAttributeValues": {
                                               ":a": {"N": "9.9999999999999999999999999999999999999E+125"},
                                               ":b": {"N": "1.5E+125"}}}),
        "key of a refused update": ("UpdateItem", {"Key": {"pk": {"S": "s6"}}, "UpdateExpression": "ADD q :v",
                                                   "ExpressionAttributeValues": {":v": {"BS": []}}}),
    }
    assert set(stored) == set(MOTO_STORES)
    for name, (op, body) in stored.items():
        post(op, body)
        key = body["Key"] if "Key" in body else {"pk": body["Item"]["pk"]}
        assert "Item" in post("GetItem", {"Key": key}).json(), f"moto no longer stores {name!r}"


def _answer(body: dict, status: int = 200, cache: str | None = None, crc: int | None = None) -> Answer:
    raw = json.dumps(body).encode()
    headers = {"content-type": "application/x-amz-json-1.0", "x-amz-crc32": str(crc or zlib.crc32(raw))}
    return Answer(status, {**headers, **({"x-dynamo-cache": cache} if cache else {})}, raw)


def test_compare_rules():
    """What differential.compare lets pass (each rule of its docstring) and what it does not."""
    get = Step("GetItem", {"TableName": "t", "Key": {"pk": {"S": "a"}}}, "GetItem")
    projected = Step("GetItem", {**get.body, "ProjectionExpression": "n"}, "GetItem")
    item = {"pk": {"S": "a"}, "n": {"N": "1e2"}, "s": {"SS": ["a", "b"]}}
    same = _answer({"Item": item})
    assert differential.compare(get, same, _answer({"Item": {**item, "s": {"SS": ["b", "a"]}}})) == []
    respelt = _answer({"Item": {**item, "n": {"N": "1E+2"}}})
    assert differential.compare(get, same, respelt) != []  # whole items: the server's spelling
    assert differential.compare(projected, _answer({"Item": {"n": {"N": "1E+2"}}}),
                                _answer({"Item": {"n": {"N": "1e2"}}}, cache="hit")) == []
    capacity = {"TableName": "t", "CapacityUnits": 0.5}
    assert differential.compare(get, _answer({"Item": item, "ConsumedCapacity": capacity}),
                                _answer({"Item": item}, cache="hit")) == []
    assert differential.compare(get, same, _answer({"Item": item, "ConsumedCapacity": capacity}, cache="hit")) != []
    assert differential.compare(get, same, _answer({"Item": item}, cache="hit", crc=1)) != []
    assert differential.compare(get, same, _answer({"Item": item}, status=400)) != []
