"""Control-plane operations: direct vs proxied, and the data plane's view of table lifecycle changes."""

from e2e_support import create_table


def S(v):
    return {"S": v}


def test_create_describe_list_delete(pair, name):
    r = create_table(pair, name, range_key=("sk", "N"), billing="PROVISIONED")
    assert r["TableDescription"]["TableName"] == name
    assert r["TableDescription"]["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    d = pair.ddb("describe_table", TableName=name)["Table"]
    assert d["TableStatus"] == "ACTIVE"
    assert [k["AttributeName"] for k in d["KeySchema"]] == ["pk", "sk"]
    names = pair.ddb("list_tables")["TableNames"]
    assert name in names
    # ListTables pagination, one table per page, from the start until our table shows up.
    seen, start = [], None
    for _ in range(200):
        kw = {"Limit": 1}
        if start:
            kw["ExclusiveStartTableName"] = start
        r = pair.ddb("list_tables", **kw)
        seen += r["TableNames"]
        start = r.get("LastEvaluatedTableName")
        if not start:
            break
    assert seen == names
    r = pair.ddb("delete_table", TableName=name)
    assert r["TableDescription"]["TableName"] == name
    pair.ddb_err("ResourceNotFoundException", "describe_table", TableName=name)
    assert name not in pair.ddb("list_tables")["TableNames"]
    pair.ddb_err("ResourceNotFoundException", "delete_table", TableName=name)


def test_deleted_and_recreated_table_is_not_served_from_cache(pair, name):
    create_table(pair, name)
    pair.ddb("put_item", TableName=name, Item={"pk": S("k"), "v": S("old")})
    for _ in range(2):
        assert pair.ddb("get_item", TableName=name, Key={"pk": S("k")})["Item"]["v"] == S("old")
    pair.ddb("query", TableName=name, KeyConditionExpression="pk = :k", ExpressionAttributeValues={":k": S("k")})
    pair.ddb("delete_table", TableName=name)
    pair.ddb_err("ResourceNotFoundException", "get_item", TableName=name, Key={"pk": S("k")})
    pair.ddb_err("ResourceNotFoundException", "query", TableName=name, KeyConditionExpression="pk = :k",
                 ExpressionAttributeValues={":k": S("k")})
    create_table(pair, name)
    r = pair.ddb("get_item", TableName=name, Key={"pk": S("k")})
    assert "Item" not in r
    r = pair.ddb("query", TableName=name, KeyConditionExpression="pk = :k", ExpressionAttributeValues={":k": S("k")})
    assert r["Count"] == 0
    pair.ddb("delete_table", TableName=name)


def test_update_table(pair, name):
    create_table(pair, name, billing="PROVISIONED")
    r = pair.ddb("update_table", TableName=name,
                 ProvisionedThroughput={"ReadCapacityUnits": 7, "WriteCapacityUnits": 3})
    assert r["TableDescription"]["ProvisionedThroughput"]["ReadCapacityUnits"] == 7
    r = pair.ddb("update_table", TableName=name, AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}],
                 GlobalSecondaryIndexUpdates=[{"Create": {
                     "IndexName": "g-idx", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                     "Projection": {"ProjectionType": "ALL"},
                     "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}}])
    assert [g["IndexName"] for g in r["TableDescription"]["GlobalSecondaryIndexes"]] == ["g-idx"]
    r = pair.ddb("update_table", TableName=name, BillingMode="PAY_PER_REQUEST")
    assert r["TableDescription"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    r = pair.ddb("update_table", TableName=name,
                 StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    assert r["TableDescription"]["StreamSpecification"]["StreamViewType"] == "KEYS_ONLY"
    d = pair.ddb("describe_table", TableName=name)["Table"]
    assert d["GlobalSecondaryIndexes"][0]["IndexName"] == "g-idx"
    pair.ddb("update_table", TableName=name, DeletionProtectionEnabled=True)
    pair.ddb_err("ValidationException", "delete_table", TableName=name)
    pair.ddb("update_table", TableName=name, DeletionProtectionEnabled=False)
    pair.ddb("delete_table", TableName=name)


def test_time_to_live(pair, name):
    create_table(pair, name)
    r = pair.ddb("describe_time_to_live", TableName=name)
    assert r["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"
    r = pair.ddb("update_time_to_live", TableName=name,
                 TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    assert r["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": "expires"}
    r = pair.ddb("describe_time_to_live", TableName=name)
    assert r["TimeToLiveDescription"]["AttributeName"] == "expires"
    r = pair.ddb("update_time_to_live", TableName=name,
                 TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires"})
    assert r["TimeToLiveSpecification"]["Enabled"] is False
    pair.ddb("describe_time_to_live", TableName=name)
    # moto answers the code "ResourceNotFound" here (DynamoDB: ResourceNotFoundException); what matters
    # is that the proxy relays it unchanged.
    pair.ddb_err("ResourceNotFound", "describe_time_to_live", TableName=name + "-missing")


def test_tags(pair, name):
    arn = create_table(pair, name)["TableDescription"]["TableArn"]
    assert pair.ddb("list_tags_of_resource", ResourceArn=arn)["Tags"] == []
    pair.ddb("tag_resource", ResourceArn=arn, Tags=[{"Key": "team", "Value": "cache"},
                                                    {"Key": "env", "Value": "test ✓"}])
    tags = pair.ddb("list_tags_of_resource", ResourceArn=arn)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "test ✓"), ("team", "cache")]
    pair.ddb("untag_resource", ResourceArn=arn, TagKeys=["team"])
    assert pair.ddb("list_tags_of_resource", ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "test ✓"}]
    pair.ddb_err("ResourceNotFoundException", "list_tags_of_resource",
                 ResourceArn=arn.replace(name, name + "-missing"))


def test_describe_limits_and_endpoints(pair):
    r = pair.ddb("describe_limits")
    assert r["TableMaxReadCapacityUnits"] > 0
    r = pair.ddb("describe_endpoints")
    assert r["Endpoints"]
