"""Error answers from the storage server must reach the client unchanged (status, __type, message, CRC)."""

import pytest

from e2e_support import create_table


def S(v):
    return {"S": v}


@pytest.fixture
def tbl(pair, name):
    create_table(pair, name, range_key=("sk", "N"))
    pair.ddb("put_item", TableName=name, Item={"pk": S("a"), "sk": {"N": "1"}, "v": S("x")})
    return name


MISSING = "no-such-table-e2e"


@pytest.mark.parametrize("op,kw", [
    ("get_item", {"TableName": MISSING, "Key": {"pk": S("a")}}),
    ("put_item", {"TableName": MISSING, "Item": {"pk": S("a")}}),
    ("update_item", {"TableName": MISSING, "Key": {"pk": S("a")}, "UpdateExpression": "SET v = :v",
                     "ExpressionAttributeValues": {":v": S("x")}}),
    ("delete_item", {"TableName": MISSING, "Key": {"pk": S("a")}}),
    ("query", {"TableName": MISSING, "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": S("a")}}),
    ("scan", {"TableName": MISSING}),
    ("describe_table", {"TableName": MISSING}),
    ("batch_get_item", {"RequestItems": {MISSING: {"Keys": [{"pk": S("a")}]}}}),
    ("batch_write_item", {"RequestItems": {MISSING: [{"PutRequest": {"Item": {"pk": S("a")}}}]}}),
])
def test_resource_not_found(pair, op, kw):
    for _ in range(2):  # an error must not be cached into a success, nor change on repeat
        pair.ddb_err("ResourceNotFoundException", op, **kw)


@pytest.mark.parametrize("op,kw", [
    # key attribute missing
    ("get_item", {"Key": {"pk": S("a")}}),
    # extra, non-key attribute in the key
    ("get_item", {"Key": {"pk": S("a"), "sk": {"N": "1"}, "v": S("x")}}),
    # bad projection expression syntax
    ("get_item", {"Key": {"pk": S("a"), "sk": {"N": "1"}}, "ProjectionExpression": "v,,"}),
    # unused expression attribute name
    ("get_item", {"Key": {"pk": S("a"), "sk": {"N": "1"}}, "ProjectionExpression": "v",
                  "ExpressionAttributeNames": {"#unused": "x"}}),
    # update expression syntax error
    ("update_item", {"Key": {"pk": S("a"), "sk": {"N": "1"}}, "UpdateExpression": "SET = 1"}),
    # updating a key attribute
    ("update_item", {"Key": {"pk": S("a"), "sk": {"N": "1"}}, "UpdateExpression": "SET pk = :v",
                     "ExpressionAttributeValues": {":v": S("b")}}),
    # item missing its range key
    ("put_item", {"Item": {"pk": S("a")}}),
    # query without the hash key condition
    ("query", {"KeyConditionExpression": "sk = :s", "ExpressionAttributeValues": {":s": {"N": "1"}}}),
    # invalid number
    ("put_item", {"Item": {"pk": S("a"), "sk": {"N": "not-a-number"}}}),
])
def test_validation_errors(pair, tbl, op, kw):
    for _ in range(2):
        pair.ddb_err("ValidationException", op, TableName=tbl, **kw)
    # The item is intact afterwards.
    assert pair.ddb("get_item", TableName=tbl, Key={"pk": S("a"), "sk": {"N": "1"}})["Item"]["v"] == S("x")


def test_table_already_exists(pair, tbl):
    pair.call("dynamodb", "create_table", expect_error="ResourceInUseException", TableName=tbl,
              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")


def test_batch_get_too_many_keys(pair, tbl):
    keys = [{"pk": S(f"k{i}"), "sk": {"N": str(i)}} for i in range(101)]
    pair.ddb_err("ValidationException", "batch_get_item", RequestItems={tbl: {"Keys": keys}})


def test_query_unknown_index(pair, tbl):
    # moto: ResourceNotFoundException (DynamoDB says ValidationException); relayed unchanged either way.
    pair.ddb_err("ResourceNotFoundException", "query", TableName=tbl, IndexName="nope",
                 KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("a")})


def test_upstream_internal_error_is_relayed(pair, tbl):
    """moto crashes (HTTP 500, HTML body) on a PartiQL INSERT with parameters: relayed as is."""
    a, b = pair.call("dynamodb", "execute_statement", expect_error="500", json_body=False,
                     Statement=f"INSERT INTO \"{tbl}\" VALUE {{'pk': ?, 'sk': ?}}",
                     Parameters=[S("p"), {"N": "5"}])
    assert a.raw.status == 500 and b"Internal Server Error" in a.raw.body


def test_item_too_large(pair, tbl):
    pair.ddb_err("ValidationException", "put_item", TableName=tbl,
                 Item={"pk": S("big"), "sk": {"N": "1"}, "blob": S("x" * 410_000)})
    assert "Item" not in pair.ddb("get_item", TableName=tbl, Key={"pk": S("big"), "sk": {"N": "1"}})


def test_transaction_duplicate_item_and_conflicts(pair, tbl):
    key = {"pk": S("a"), "sk": {"N": "1"}}
    pair.ddb_err("ValidationException", "transact_write_items", TransactItems=[
        {"Delete": {"TableName": tbl, "Key": key}},
        {"Update": {"TableName": tbl, "Key": key, "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": S("y")}}},
    ])
    e = pair.ddb_err("TransactionCanceledException", "transact_write_items", TransactItems=[
        {"Put": {"TableName": tbl, "Item": {"pk": S("a"), "sk": {"N": "1"}, "v": S("new")},
                 "ConditionExpression": "attribute_not_exists(pk)", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
    ])
    assert e.response["CancellationReasons"][0]["Code"] == "ConditionalCheckFailed"
    assert e.response["CancellationReasons"][0]["Item"]["v"] == S("x")
    assert pair.ddb("get_item", TableName=tbl, Key=key)["Item"]["v"] == S("x")
