"""DynamoDB Streams through the same endpoint (boto3 `dynamodbstreams` client)."""

from e2e_support import PerSide, create_table


def S(v):
    return {"S": v}


def test_stream_records(pair, name):
    desc = create_table(pair, name, stream="NEW_AND_OLD_IMAGES")["TableDescription"]
    assert desc["StreamSpecification"]["StreamEnabled"] is True
    pair.ddb("put_item", TableName=name, Item={"pk": S("a"), "v": S("1")})
    pair.ddb("update_item", TableName=name, Key={"pk": S("a")}, UpdateExpression="SET v = :v",
             ExpressionAttributeValues={":v": S("2")})
    pair.ddb("delete_item", TableName=name, Key={"pk": S("a")})
    pair.ddb("put_item", TableName=name, Item={"pk": S("b"), "v": S("x")})

    a, b = pair.call("dynamodbstreams", "list_streams", TableName=name)
    streams_a, streams_b = a.parsed["Streams"], b.parsed["Streams"]
    assert len(streams_a) == 1 and streams_a[0]["TableName"] == name
    arn = PerSide(streams_a[0]["StreamArn"], streams_b[0]["StreamArn"])
    # The ARN embeds each server's own creation timestamp; it must still name our table.
    assert f"table/{name}/stream/" in streams_b[0]["StreamArn"]

    a, b = pair.call("dynamodbstreams", "describe_stream", StreamArn=arn)
    sd = a.parsed["StreamDescription"]
    assert sd["StreamStatus"] == "ENABLED" and sd["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    shard_id = sd["Shards"][0]["ShardId"]

    a, b = pair.call("dynamodbstreams", "get_shard_iterator", StreamArn=arn, ShardId=shard_id,
                     ShardIteratorType="TRIM_HORIZON")
    it = PerSide(a.parsed["ShardIterator"], b.parsed["ShardIterator"])
    a, b = pair.call("dynamodbstreams", "get_records", ShardIterator=it, Limit=100)
    recs = a.parsed["Records"]
    assert [r["eventName"] for r in recs] == ["INSERT", "MODIFY", "REMOVE", "INSERT"]
    assert recs[1]["dynamodb"]["OldImage"]["v"] == S("1")
    assert recs[1]["dynamodb"]["NewImage"]["v"] == S("2")

    # Page through with Limit=1 and the per-side NextShardIterator.
    a, b = pair.call("dynamodbstreams", "get_shard_iterator", StreamArn=arn, ShardId=shard_id,
                     ShardIteratorType="AT_SEQUENCE_NUMBER",
                     SequenceNumber=recs[1]["dynamodb"]["SequenceNumber"])
    it = PerSide(a.parsed["ShardIterator"], b.parsed["ShardIterator"])
    names = []
    for _ in range(3):
        a, b = pair.call("dynamodbstreams", "get_records", ShardIterator=it, Limit=1)
        names += [r["eventName"] for r in a.parsed["Records"]]
        it = PerSide(a.parsed["NextShardIterator"], b.parsed["NextShardIterator"])
    assert names == ["MODIFY", "REMOVE", "INSERT"]

    # Errors from the streams API.
    pair.call("dynamodbstreams", "describe_stream", expect_error="ResourceNotFoundException",
              StreamArn=f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}-missing/stream/2020-01-01T00:00:00.000")


def test_enable_stream_later(pair, name):
    create_table(pair, name)
    r = pair.ddb("update_table", TableName=name,
                 StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    assert r["TableDescription"]["StreamSpecification"]["StreamViewType"] == "KEYS_ONLY"
    pair.ddb("put_item", TableName=name, Item={"pk": S("k"), "big": S("z" * 100)})
    a, b = pair.call("dynamodbstreams", "list_streams", TableName=name)
    arn = PerSide(a.parsed["Streams"][0]["StreamArn"], b.parsed["Streams"][0]["StreamArn"])
    a, _ = pair.call("dynamodbstreams", "describe_stream", StreamArn=arn)
    shard = a.parsed["StreamDescription"]["Shards"][0]["ShardId"]
    a, b = pair.call("dynamodbstreams", "get_shard_iterator", StreamArn=arn, ShardId=shard,
                     ShardIteratorType="TRIM_HORIZON")
    a, b = pair.call("dynamodbstreams", "get_records",
                     ShardIterator=PerSide(a.parsed["ShardIterator"], b.parsed["ShardIterator"]))
    rec = a.parsed["Records"][0]["dynamodb"]
    assert rec["Keys"] == {"pk": S("k")} and "NewImage" not in rec
