"""The proxy in front of a storage server that throttles, answers part of a batch, fails after it wrote, drops the
connection, answers late, truncates or corrupts its answer (faulty_storage.py, in front of a real moto_server).

For each fault: the client gets what an SDK retries (ThrottlingException, or a 500), a retrying boto3 client gets
the right answer, and afterwards every read through the proxy agrees with moto itself: nothing stale, nothing
corrupt is ever served from memory."""
from __future__ import annotations

import os
import threading

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from e2e_support import FAKE_KEY, FAKE_SECRET, REGION, MotoServer, ProxyProcess, unique
from faulty_storage import FaultyStorage

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TABLE = "faults"


def client(endpoint: str, attempts: int):
    return boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=FAKE_KEY,
        aws_secret_access_key=FAKE_SECRET,
        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}, read_timeout=20, connect_timeout=5))


@pytest.fixture(scope="module")
def world(binary, log_dir):
    moto = MotoServer(REPO_ROOT, log_dir, "moto-faults")
    faulty = FaultyStorage(moto.url)
    proxy = None
    try:
        proxy = ProxyProcess(binary, faulty.url, log_dir, "proxy-faults",
                             extra_args=["--upstream-timeout", "1s", "--shutdown-grace", "1s"])
        direct = client(moto.url, 1)
        direct.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        yield {"direct": direct, "once": client(proxy.data_url, 1), "retrying": client(proxy.data_url, 4),
               "faulty": faulty, "proxy": proxy}
    finally:
        faulty.clear()
        if proxy is not None:
            proxy.stop()
        faulty.close()
        moto.stop()


def key(k: str) -> dict:
    return {"pk": {"S": k}}


def item(k: str, v: str) -> dict:
    return {"pk": {"S": k}, "v": {"S": v}}


def agrees(w, *keys: str) -> None:
    """Every key read through the proxy, twice (the second from memory if kept), is what moto holds."""
    for k in keys:
        truth = w["direct"].get_item(TableName=TABLE, Key=key(k)).get("Item")
        for attempt in range(2):
            seen = w["once"].get_item(TableName=TABLE, Key=key(k)).get("Item")
            assert seen == truth, f"{k}: read {attempt + 1} through the proxy gave {seen}, moto holds {truth}"


def fails_retryably(call, code: str = "InternalServerError") -> ClientError:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response
    assert error["Error"]["Code"] == code, error
    assert error["ResponseMetadata"]["HTTPStatusCode"] == (400 if code.endswith("Exception") else 500), error
    return raised.value


# ---- reads --------------------------------------------------------------------------------------------------

READ_FAULTS = {
    "throttle": ({}, "ThrottlingException"),
    "error_after_write": ({}, "InternalServerError"),
    "truncate": ({}, "InternalServerError"),
    "corrupt": ({"old": '"first"', "new": '"faked"'}, "InternalServerError"),
    "slow_answer": ({"seconds": 2}, "InternalServerError"),  # past --upstream-timeout 1s
}


@pytest.mark.parametrize("fault", sorted(READ_FAULTS))
def test_a_failed_fill_is_a_retryable_error_and_nothing_is_kept(world, fault):
    params, code = READ_FAULTS[fault]
    k = unique("read")
    world["direct"].put_item(TableName=TABLE, Item=item(k, "first"))  # behind the proxy's back: not cached
    world["faulty"].inject("GetItem", fault, **params)
    fails_retryably(lambda: world["once"].get_item(TableName=TABLE, Key=key(k)), code)
    agrees(world, k)
    # A retrying SDK gets the item through the same fault.
    k2 = unique("read")
    world["direct"].put_item(TableName=TABLE, Item=item(k2, "first"))
    world["faulty"].inject("GetItem", fault, **params)
    assert world["retrying"].get_item(TableName=TABLE, Key=key(k2))["Item"] == item(k2, "first")
    agrees(world, k2)


def test_a_dropped_read_is_retried_or_refused_and_nothing_is_kept(world):
    k = unique("drop")
    world["direct"].put_item(TableName=TABLE, Item=item(k, "first"))
    world["faulty"].inject("GetItem", "drop_after_write")
    try:
        got = world["once"].get_item(TableName=TABLE, Key=key(k)).get("Item")
        assert got == item(k, "first")  # the proxy may resend a read whose connection closed before any answer
    except ClientError as e:
        assert e.response["Error"]["Code"] == "InternalServerError", e.response
    agrees(world, k)


def test_a_corrupt_query_page_is_not_kept(world):
    k = unique("query")
    world["direct"].put_item(TableName=TABLE, Item=item(k, "first"))
    query = dict(TableName=TABLE, KeyConditionExpression="pk = :k", ExpressionAttributeValues={":k": {"S": k}})
    world["faulty"].inject("Query", "corrupt", old='"first"', new='"faked"')
    fails_retryably(lambda: world["once"].query(**query))
    for _ in range(2):
        assert world["once"].query(**query)["Items"] == [item(k, "first")]


def test_a_slow_fill_overtaken_by_a_write_is_not_kept(world):
    k = unique("lease")
    world["direct"].put_item(TableName=TABLE, Item=item(k, "old"))
    # moto reads "old" at once; its answer reaches the proxy 0.8 s later, after the write below was acknowledged.
    world["faulty"].inject("GetItem", "slow_answer", seconds=0.8)
    world["faulty"].late_answers_read.clear()
    late = {}
    reader = threading.Thread(
        target=lambda: late.update(world["once"].get_item(TableName=TABLE, Key=key(k))), daemon=True)
    reader.start()
    # The write goes only once moto has answered the read (on a busy machine it could otherwise overtake it).
    assert world["faulty"].late_answers_read.wait(10), "the slow read never reached moto"
    world["once"].put_item(TableName=TABLE, Item=item(k, "new"))
    reader.join(15)
    assert late.get("Item") == item(k, "old"), late  # the reader was answered what was true when it asked
    agrees(world, k)
    assert world["once"].get_item(TableName=TABLE, Key=key(k))["Item"] == item(k, "new")


# ---- writes -------------------------------------------------------------------------------------------------

def write(op: str, k: str, v: str) -> tuple[str, dict]:
    """A write of `v` to key `k` by operation `op`, as (boto3 method, arguments)."""
    if op == "PutItem":
        return "put_item", dict(TableName=TABLE, Item=item(k, v))
    if op == "UpdateItem":
        return "update_item", dict(TableName=TABLE, Key=key(k), UpdateExpression="SET v = :v",
                                   ExpressionAttributeValues={":v": {"S": v}}, ReturnValues="ALL_NEW")
    if op == "DeleteItem":
        return "delete_item", dict(TableName=TABLE, Key=key(k))
    if op == "BatchWriteItem":
        return "batch_write_item", dict(RequestItems={TABLE: [{"PutRequest": {"Item": item(k, v)}}]})
    if op == "TransactWriteItems":
        return "transact_write_items", dict(TransactItems=[{"Put": {"TableName": TABLE, "Item": item(k, v)}}])
    raise ValueError(op)


WRITES = ["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"]
UNKNOWN_OUTCOMES = ["error_after_write", "drop_after_write", "truncate", "slow_answer"]


@pytest.mark.parametrize("fault", UNKNOWN_OUTCOMES)
@pytest.mark.parametrize("op", WRITES)
def test_a_write_whose_outcome_is_unknown_evicts_what_it_touched(world, op, fault):
    k = unique("write")
    world["once"].put_item(TableName=TABLE, Item=item(k, "old"))
    agrees(world, k)  # "old" is now in memory
    world["faulty"].inject(op, fault, **({"seconds": 2} if fault == "slow_answer" else {}))
    method, args = write(op, k, "new")
    fails_retryably(lambda: getattr(world["once"], method)(**args))
    assert world["faulty"].count(op, fault) == 1
    agrees(world, k)  # moto applied the write: the proxy shows it, not its old copy


def test_a_corrupt_write_answer_evicts(world):
    k = unique("corrupt")
    world["once"].put_item(TableName=TABLE, Item=item(k, "old"))
    agrees(world, k)
    world["faulty"].inject("UpdateItem", "corrupt", old='"new"', new='"bad"')
    method, args = write("UpdateItem", k, "new")
    fails_retryably(lambda: getattr(world["once"], method)(**args))
    agrees(world, k)


@pytest.mark.parametrize("code", ["ThrottlingException", "ProvisionedThroughputExceededException"])
def test_a_throttled_write_changes_nothing_and_is_retried(world, code):
    k = unique("throttled")
    world["once"].put_item(TableName=TABLE, Item=item(k, "old"))
    agrees(world, k)
    world["faulty"].inject("PutItem", "throttle", code=code)
    fails_retryably(lambda: world["once"].put_item(TableName=TABLE, Item=item(k, "new")), code)
    agrees(world, k)
    assert world["once"].get_item(TableName=TABLE, Key=key(k))["Item"] == item(k, "old")
    throttled = world["faulty"].count("PutItem", "throttle")
    world["faulty"].inject("PutItem", "throttle", code=code)
    world["retrying"].put_item(TableName=TABLE, Item=item(k, "new"))
    assert world["faulty"].count("PutItem", "throttle") == throttled + 1
    agrees(world, k)
    assert world["once"].get_item(TableName=TABLE, Key=key(k))["Item"] == item(k, "new")


# ---- partial batch answers ----------------------------------------------------------------------------------

def test_unprocessed_items_keep_their_old_values_and_the_rest_is_refreshed(world):
    keys = [unique("batch") for _ in range(3)]
    for k in keys:
        world["once"].put_item(TableName=TABLE, Item=item(k, "old"))
    agrees(world, *keys)
    world["faulty"].inject("BatchWriteItem", "unprocessed")
    answer = world["once"].batch_write_item(
        RequestItems={TABLE: [{"PutRequest": {"Item": item(k, "new")}} for k in keys]})
    left = answer["UnprocessedItems"][TABLE]
    assert [w["PutRequest"]["Item"]["pk"]["S"] for w in left] == keys[1:]
    agrees(world, *keys)
    assert world["once"].get_item(TableName=TABLE, Key=key(keys[0]))["Item"] == item(keys[0], "new")
    assert world["once"].get_item(TableName=TABLE, Key=key(keys[1]))["Item"] == item(keys[1], "old")
    # The application sends the rest again, as the SDKs' documentation says.
    assert world["once"].batch_write_item(RequestItems=answer["UnprocessedItems"])["UnprocessedItems"] == {}
    agrees(world, *keys)


def test_unprocessed_keys_are_not_remembered_as_absent(world):
    keys = [unique("bget") for _ in range(3)]
    for k in keys:
        world["direct"].put_item(TableName=TABLE, Item=item(k, "v"))
    world["faulty"].inject("BatchGetItem", "unprocessed")
    request = {TABLE: {"Keys": [key(k) for k in keys]}}
    answer = world["once"].batch_get_item(RequestItems=request)
    assert sorted(i["pk"]["S"] for i in answer["Responses"][TABLE]) == sorted(keys[:2])
    assert answer["UnprocessedKeys"][TABLE]["Keys"] == [key(keys[2])]
    agrees(world, *keys)
    again = world["once"].batch_get_item(RequestItems=request)
    assert sorted(i["pk"]["S"] for i in again["Responses"][TABLE]) == sorted(keys)
    assert not again.get("UnprocessedKeys")
