#!/usr/bin/env python3
"""Regenerates the seed corpus of the fuzz targets (Tests/Fuzz/Corpus/<target>/).

boto3 talks to a moto_server that this script starts on a free loopback port, through a recording relay, so the
seeds are the bytes the AWS SDK really sends and a DynamoDB-compatible server really answers. From those come:

    requests/     request bodies (request-<call>.json) and answer bodies (response-<call>.json)
    json/         a few of those bodies, plus JSON edge cases written here
    dataplane/    whole HTTP/1.1 requests as boto3 sent them, plus pipelined, 100-continue, chunked, HTTP/1.0 and
                  client-authentication variants
    expressions/  `expression NUL names NUL item` inputs: the projections, key conditions and PartiQL statements
                  of the calls, plus cases written here

The output is deterministic (fixed signing clock, invocation ids and Host; volatile answer fields pinned), so a
re-run changes files only when boto3 or moto change what they send. Each directory is rewritten whole.

    python3 Tests/Fuzz/Corpus/capture.py      # needs boto3 and moto[server]; binds 127.0.0.1 only; < 1 minute
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import boto3
import botocore.auth
import urllib3.util.connection
from botocore.config import Config
from botocore.exceptions import ClientError

CORPUS = Path(__file__).resolve().parent
LOOPBACK = "127.0.0.1"
# The address boto3 is given: every seed says Host 127.0.0.1:8000 and is signed for it, whatever port the relay
# has (its connections are redirected there).
ENDPOINT = (LOOPBACK, 8000)
TIME_LIMIT = 60  # seconds for the whole capture

# The signing clock and the SDK's random ids, fixed so that a re-run writes the same bytes.
botocore.auth.get_current_datetime = lambda: datetime.datetime(2024, 1, 2, 3, 4, 5)
_ids = iter(range(1, 1 << 30))
uuid.uuid4 = lambda: uuid.UUID(int=next(_ids))

# Answer fields that differ between runs, and what they are pinned to.
VOLATILE = {
    "CreationDateTime": 1704164645.0,
    "TableId": "00000000-0000-0000-0000-000000000000",
    "LatestStreamLabel": "2024-01-02T03:04:05.000",
    "StreamLabel": "2024-01-02T03:04:05.000",
    "ApproximateCreationDateTime": 1704164645.0,
    "CreationRequestDateTime": 1704164645.0,
    "eventID": "00000000000000000000000000000000",
    "LastUpdateToPayPerRequestDateTime": 1704164645.0,
    "SizeBytes": 256,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


class Relay:
    """A loopback TCP relay in front of moto that records both directions. Calls are made one at a time, so the
    bytes recorded since the previous call are exactly this call's request and answer."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.sent = bytearray()
        self.answered = bytearray()
        self.marks = (0, 0)
        self.lock = threading.Lock()
        self.server = socket.socket()
        self.server.bind((LOOPBACK, 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection((LOOPBACK, self.upstream_port), timeout=30)
            threading.Thread(target=self.pump, args=(client, upstream, self.sent), daemon=True).start()
            threading.Thread(target=self.pump, args=(upstream, client, self.answered), daemon=True).start()

    def pump(self, source: socket.socket, sink: socket.socket, record: bytearray) -> None:
        try:
            while data := source.recv(65536):
                with self.lock:
                    record.extend(data)  # before forwarding: the call cannot return before it is recorded
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def take(self) -> tuple[bytes, bytes]:
        """The request and answer bytes of the call just made."""
        with self.lock:
            request, answer = bytes(self.sent[self.marks[0]:]), bytes(self.answered[self.marks[1]:])
            self.marks = (len(self.sent), len(self.answered))
        return request, answer


def split_message(raw: bytes) -> tuple[bytes, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head, body


def pin(value):
    if isinstance(value, dict):
        return {k: VOLATILE[k] if k in VOLATILE else pin(v) for k, v in value.items()}
    if isinstance(value, list):
        return [pin(v) for v in value]
    return value


def normalise_answer(body: bytes) -> bytes:
    """The body with volatile fields pinned, laid out as moto lays it out (json.dumps' default separators)."""
    if not body:
        return body
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    pinned = pin(parsed)
    if pinned == parsed:
        return body
    compact = b'": ' not in body and b", " not in body
    text = json.dumps(pinned, separators=(",", ":") if compact else None)
    return text.encode()


def with_header(raw: bytes, line: str) -> bytes:
    head, body = split_message(raw)
    return head + b"\r\n" + line.encode() + b"\r\n\r\n" + body


def chunked(raw: bytes) -> bytes:
    """The request with its body sent in two chunks instead of with a Content-Length."""
    head, body = split_message(raw)
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"content-length:")]
    lines.append(b"Transfer-Encoding: chunked")
    half = len(body) // 2
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:half], body[half:]) if part)
    return b"\r\n".join(lines) + b"\r\n\r\n" + chunks + b"0\r\n\r\n"


def start_moto(port: int) -> subprocess.Popen:
    moto = subprocess.Popen(
        ["moto_server", "-H", LOOPBACK, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection((LOOPBACK, port), timeout=1).close()
            return moto
        except OSError:
            if moto.poll() is not None:
                sys.exit("moto_server exited at start")
            time.sleep(0.2)
    moto.kill()
    sys.exit("moto_server did not start within 30 s")


def calls(ddb, streams):
    """(name, call) in order. Names become file names; errors are recorded like any answer."""
    users_key = {"pk": {"S": "user#1"}}
    item = {
        "pk": {"S": "user#1"},
        "name": {"S": "Ada \u00e9\u00e8 \U0001f600 \"quoted\"\n"},
        "age": {"N": "36.50"},
        "avatar": {"B": b"\x00\x01\xfe\xff"},
        "active": {"BOOL": True},
        "nothing": {"NULL": True},
        "tags": {"L": [{"S": "a"}, {"N": "-1e3"}, {"L": [{"S": "nested"}]}]},
        "profile": {"M": {"city": {"S": "Paris"}, "zip": {"N": "75001"}, "langs": {"SS": ["en", "fr"]}}},
        "scores": {"NS": ["1", "2.5", "-3"]},
        "blobs": {"BS": [b"\x01", b"\x02\x03"]},
    }
    event = lambda sk, kind: {"pk": {"S": "user#1"}, "sk": {"N": str(sk)}, "kind": {"S": kind}}
    return [
        ("CreateTable-users", lambda: ddb.create_table(
            TableName="users", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])),
        ("CreateTable-events", lambda: ddb.create_table(
            TableName="events", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"},
                {"AttributeName": "kind", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[{
                "IndexName": "by_kind", "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"}}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})),
        ("DescribeTable", lambda: ddb.describe_table(TableName="events")),
        ("ListTables", lambda: ddb.list_tables(Limit=10)),
        ("PutItem", lambda: ddb.put_item(TableName="users", Item=item, ReturnConsumedCapacity="TOTAL")),
        ("PutItem-condition", lambda: ddb.put_item(
            TableName="events", Item=event(1, "login"), ConditionExpression="attribute_not_exists(pk)")),
        ("BatchWriteItem", lambda: ddb.batch_write_item(RequestItems={
            "events": [{"PutRequest": {"Item": event(2, "click")}}, {"PutRequest": {"Item": event(3, "logout")}}],
            "users": [{"DeleteRequest": {"Key": {"pk": {"S": "user#9"}}}}]})),
        ("GetItem", lambda: ddb.get_item(TableName="users", Key=users_key)),
        ("GetItem-projection", lambda: ddb.get_item(
            TableName="users", Key=users_key, ProjectionExpression="#n, tags[2][0], profile.city, scores",
            ExpressionAttributeNames={"#n": "name"}, ReturnConsumedCapacity="TOTAL")),
        ("GetItem-attributes-to-get", lambda: ddb.get_item(
            TableName="users", Key=users_key, AttributesToGet=["age", "active"], ConsistentRead=True)),
        ("GetItem-missing", lambda: ddb.get_item(TableName="events", Key={"pk": {"S": "x"}, "sk": {"N": "0"}})),
        ("GetItem-no-table", lambda: ddb.get_item(TableName="nope", Key=users_key)),
        ("BatchGetItem", lambda: ddb.batch_get_item(RequestItems={
            "users": {"Keys": [users_key, {"pk": {"S": "user#2"}}], "ProjectionExpression": "pk, #p.#c",
                      "ExpressionAttributeNames": {"#p": "profile", "#c": "city"}},
            "events": {"Keys": [{"pk": {"S": "user#1"}, "sk": {"N": "1"}}], "ConsistentRead": True}},
            ReturnConsumedCapacity="INDEXES")),
        ("Query", lambda: ddb.query(
            TableName="events", KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
            FilterExpression="attribute_exists(kind) AND kind <> :k", ProjectionExpression="sk, kind",
            ExpressionAttributeValues={":p": {"S": "user#1"}, ":a": {"N": "1"}, ":b": {"N": "3"},
                                       ":k": {"S": "x"}}, Limit=2, ScanIndexForward=False)),
        ("Query-index", lambda: ddb.query(
            TableName="events", IndexName="by_kind", KeyConditionExpression="#k = :k",
            ExpressionAttributeNames={"#k": "kind"}, ExpressionAttributeValues={":k": {"S": "click"}})),
        ("Scan", lambda: ddb.scan(
            TableName="users", FilterExpression="age > :a", ExpressionAttributeValues={":a": {"N": "18"}},
            Select="ALL_ATTRIBUTES", ReturnConsumedCapacity="TOTAL")),
        ("UpdateItem", lambda: ddb.update_item(
            TableName="users", Key=users_key, UpdateExpression="SET age = age + :one, #n = :n REMOVE nothing",
            ConditionExpression="attribute_exists(pk)", ExpressionAttributeNames={"#n": "name"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":n": {"S": "Ada L."}}, ReturnValues="ALL_NEW")),
        ("UpdateItem-none", lambda: ddb.update_item(
            TableName="events", Key={"pk": {"S": "user#1"}, "sk": {"N": "2"}},
            UpdateExpression="ADD hits :one", ExpressionAttributeValues={":one": {"N": "1"}})),
        ("DeleteItem", lambda: ddb.delete_item(
            TableName="events", Key={"pk": {"S": "user#1"}, "sk": {"N": "3"}}, ReturnValues="ALL_OLD")),
        ("TransactWriteItems", lambda: ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "events", "Item": event(4, "buy")}},
            {"Update": {"TableName": "users", "Key": users_key, "UpdateExpression": "SET active = :f",
                        "ExpressionAttributeValues": {":f": {"BOOL": False}}}},
            {"Delete": {"TableName": "events", "Key": {"pk": {"S": "user#1"}, "sk": {"N": "2"}}}},
            {"ConditionCheck": {"TableName": "events", "Key": {"pk": {"S": "user#1"}, "sk": {"N": "1"}},
                                "ConditionExpression": "attribute_exists(pk)"}}])),
        ("TransactGetItems", lambda: ddb.transact_get_items(TransactItems=[
            {"Get": {"TableName": "users", "Key": users_key, "ProjectionExpression": "age"}}])),
        ("ExecuteStatement-select", lambda: ddb.execute_statement(
            Statement='SELECT pk, age FROM "users" WHERE pk = ?', Parameters=[{"S": "user#1"}])),
        ("ExecuteStatement-insert", lambda: ddb.execute_statement(
            Statement="INSERT INTO \"users\" VALUE {'pk': 'user#3', 'age': 7}")),
        ("ExecuteStatement-update", lambda: ddb.execute_statement(
            Statement="UPDATE users SET age = 8 WHERE pk = 'user#3'")),
        ("BatchExecuteStatement", lambda: ddb.batch_execute_statement(Statements=[
            {"Statement": 'SELECT * FROM "users" WHERE pk = ?', "Parameters": [{"S": "user#3"}]},
            {"Statement": 'SELECT * FROM "events"."by_kind" WHERE kind = ?', "Parameters": [{"S": "buy"}]}])),
        ("ExecuteTransaction", lambda: ddb.execute_transaction(TransactStatements=[
            {"Statement": "DELETE FROM \"users\" WHERE pk = 'user#3'"}])),
        ("DescribeStream", lambda: streams.describe_stream(StreamArn=STREAM["arn"])),
        ("GetShardIterator", lambda: streams.get_shard_iterator(
            StreamArn=STREAM["arn"], ShardId=STREAM["shard"], ShardIteratorType="TRIM_HORIZON")),
        ("GetRecords", lambda: streams.get_records(ShardIterator=STREAM["iterator"], Limit=100)),
        ("UpdateTable", lambda: ddb.update_table(
            TableName="users", StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})),
        ("DeleteTable", lambda: ddb.delete_table(TableName="users")),
    ]


# What the streams calls need from the answers before them.
STREAM: dict[str, str] = {}


def capture(out: dict[str, dict[str, bytes]]) -> None:
    moto_port = free_port()
    moto = start_moto(moto_port)
    try:
        relay = Relay(moto_port)
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
        config = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=20)
        connect = urllib3.util.connection.create_connection
        urllib3.util.connection.create_connection = lambda address, *args, **kwargs: connect(
            (LOOPBACK, relay.port) if address == ENDPOINT else address, *args, **kwargs)
        url = "http://%s:%d" % ENDPOINT
        ddb = session.client("dynamodb", endpoint_url=url, config=config)
        streams = session.client("dynamodbstreams", endpoint_url=url, config=config)
        started = time.monotonic()
        for name, call in calls(ddb, streams):
            if time.monotonic() - started > TIME_LIMIT:
                sys.exit("the capture took longer than %d s" % TIME_LIMIT)
            try:
                answer = call()
            except ClientError as error:
                answer = error.response
            if name == "DescribeTable":
                STREAM["arn"] = answer["Table"]["LatestStreamArn"]
            if name == "DescribeStream":
                STREAM["shard"] = answer["StreamDescription"]["Shards"][0]["ShardId"]
            if name == "GetShardIterator":
                STREAM["iterator"] = answer["ShardIterator"]
            request, response = relay.take()
            out["raw"][name] = request
            out["requests"][f"request-{name}.json"] = split_message(request)[1]
            out["requests"][f"response-{name}.json"] = normalise_answer(split_message(response)[1])
    finally:
        os.killpg(moto.pid, 15)
        try:
            moto.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(moto.pid, 9)


def pin_run_values(out: dict[str, dict[str, bytes]]) -> None:
    """Pins what changes from run to run: the User-Agent's feature list (botocore writes a set) and kernel
    version, and what moto makes up (stream labels from its clock, shard iterators) wherever it appears, the
    latter with values of the same length so that Content-Length headers stay right."""
    for name, data in out["raw"].items():
        head, body = split_message(data)
        head = re.sub(rb" m/([^ \r]+)", lambda m: b" m/" + b",".join(sorted(m.group(1).split(b","))), head)
        out["raw"][name] = re.sub(rb" os/linux#[^ \r]+", b" os/linux", head) + b"\r\n\r\n" + body
    replacements: dict[bytes, bytes] = {}
    for data in out["requests"].values():
        for label in re.findall(rb"/stream/(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})", data):
            replacements[label] = b"2024-01-02T03:04:05.000000"
        for token in re.findall(rb'ShardIterator": "[^"|]*\|[^"|]*\|([^"]+)"', data):
            replacements[token] = (b"FUZZ" * len(token))[: len(token)]
    for files in out.values():
        for name, data in files.items():
            pinned = data
            for old, new in replacements.items():
                pinned = pinned.replace(old, new)
            if pinned != data and files is out["raw"]:
                # The signature covered the body as sent; a stand-in of the same length keeps the seed stable.
                unsigned = re.sub(rb"Signature=[0-9a-f]{64}", b"Signature=", pinned)
                stand_in = hashlib.sha256(unsigned).hexdigest().encode()
                pinned = unsigned.replace(b"Signature=", b"Signature=" + stand_in, 1)
            files[name] = pinned


def derive(out: dict[str, dict[str, bytes]]) -> None:
    raw = out["raw"]
    requests = out["requests"]

    # dataplane: whole requests, and the framings a client may use.
    for name in ["GetItem", "GetItem-projection", "GetItem-attributes-to-get", "BatchGetItem", "PutItem",
                 "UpdateItem", "UpdateItem-none", "DeleteItem", "BatchWriteItem", "Query", "Query-index", "Scan",
                 "TransactWriteItems", "TransactGetItems", "ExecuteStatement-select", "ExecuteStatement-insert",
                 "DescribeTable", "CreateTable-users", "ListTables", "DescribeStream", "GetRecords"]:
        out["dataplane"][f"{name}.http"] = raw[name]
    out["dataplane"]["pipelined-GetItem-GetItem-projection-Query.http"] = (
        raw["GetItem"] + raw["GetItem-projection"] + raw["Query"])
    out["dataplane"]["pipelined-PutItem-GetItem.http"] = raw["PutItem"] + raw["GetItem"]
    out["dataplane"]["expect-100-continue-PutItem.http"] = with_header(raw["PutItem"], "Expect: 100-continue")
    out["dataplane"]["chunked-BatchGetItem.http"] = chunked(raw["BatchGetItem"])
    out["dataplane"]["http10-GetItem.http"] = raw["GetItem"].replace(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", 1)
    out["dataplane"]["connection-close-GetItem.http"] = with_header(raw["GetItem"], "Connection: close")
    out["dataplane"]["too-large-PutItem.http"] = raw["PutItem"].replace(
        b"Content-Length: ", b"Content-Length: 9", 1)
    # The fuzz target's proxy with client authentication (DataPlaneFuzz.swift) takes inputs with this header; it
    # is not signed, so the seeds' signatures still verify.
    for name in ["GetItem", "PutItem", "BatchGetItem", "Query", "TransactWriteItems", "ExecuteStatement-select",
                 "CreateTable-users", "DescribeStream"]:
        out["dataplane"][f"client-auth-{name}.http"] = with_header(raw[name], "X-Fuzz-Client-Auth: 1")
    out["dataplane"]["client-auth-pipelined-PutItem-GetItem.http"] = with_header(
        raw["PutItem"], "X-Fuzz-Client-Auth: 1") + raw["GetItem"]

    # json: bodies of every shape, and what JSON allows that SDKs rarely send.
    for name in ["request-PutItem.json", "request-BatchGetItem.json", "request-Query.json",
                 "response-DescribeTable.json", "response-GetItem.json", "response-GetRecords.json"]:
        out["json"][name] = requests[name]
    edge = {
        "escapes.json": '{"s":"\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\\\/\\b\\f\\r","\\u0054ableName":"t"}',
        "numbers.json": '{"a":[0,-0,1.5,-0.5e+10,1E-7,12345678901234567890123456789012345678901]}',
        "literals-whitespace.json": ' \r\n\t{ "a" : [ true , false , null , { } , [ ] ] } \n',
        "nested.json": '{"M":' * 40 + '{"S":"deep"}' + "}" * 40,
        "attribute-map.json": '{"pk":{"S":"a"},"n":{"N":"-1.50E+3"},"b":{"B":"AAE="},"l":{"L":[{"NULL":true},'
                              '{"M":{"x":{"SS":["p","q"]}}}]},"u":{"S":"x","Unknown":1},"z":{"N":null,"S":"s"}}',
        "attribute-value.json": '{"NS":["1","0.10","-3E2"]}',
        "duplicate-escaped.json": '{"TableName":"t","T\\u0061bleName":"u"}',
        "array-root.json": '[{"a":1},"x",2]',
        "utf8.json": '{"\u00e9":"\u4e2d\u6587 \U0001f600"}',
    }
    for name, text in edge.items():
        out["json"][name] = text.encode()

    # expressions: from the calls, with the names and the item they go with.
    item = json.loads(requests["request-PutItem.json"])["Item"]
    item_json = json.dumps(item, separators=(",", ":")).encode()
    for name in requests:
        if not name.startswith("request-"):
            continue
        body = json.loads(requests[name] or b"{}")
        tables = body.get("RequestItems", {})
        for index, part in enumerate([body] + [t for t in tables.values() if isinstance(t, dict)]):
            names = json.dumps(part.get("ExpressionAttributeNames", {})).encode()
            for field in ["ProjectionExpression", "KeyConditionExpression", "Statement"]:
                if field in part:
                    seed = part[field].encode() + b"\0" + names + b"\0" + item_json
                    out["expressions"][f"{name[8:-5]}-{index}-{field}.txt"] = seed
        for number, statement in enumerate(body.get("Statements", []) + body.get("TransactStatements", [])):
            out["expressions"][f"{name[8:-5]}-{number}-Statement.txt"] = statement["Statement"].encode()
    written = {
        "paths.txt": "a, m.b[1].c, l[2][0], #x.d.e\0{\"#x\":\"m\"}",
        "list-merge.txt": "l[2], l[0], l[1].x, m.b[0]",
        "placeholders.txt": "#a.#b[0], #c\0{\"#a\":\"m\",\"#b\":\"b\",\"#c\":\"pk\"}",
        "escaped-names.txt": "esc.M, u.M, u.x",
        "reserved-word.txt": "name, size",
        "key-between.txt": "pk = :p AND sk BETWEEN :a AND :b",
        "key-reversed.txt": ":v = #pk AND begins_with(sk, :s)",
        "key-function.txt": "size(pk) = :p",
        "partiql-select-index.txt": "SELECT * FROM \"users\".\"by_kind\" WHERE kind = 'x' -- trailing",
        "partiql-exists.txt": "EXISTS(SELECT * FROM t WHERE a = 1)",
        "partiql-update-comment.txt": "/* why */ UPDATE \"t\" SET a = 1 WHERE pk = 'x'",
        "partiql-delete.txt": "DELETE FROM users WHERE pk = ?",
        "partiql-subquery.txt": "SELECT a FROM t WHERE b IN (SELECT c FROM \"u\"\"v\")",
        "partiql-arn.txt": "select * from \"arn:aws:dynamodb:us-east-1:123456789012:table/t\"",
    }
    for name, text in written.items():
        out["expressions"][name] = text.encode()


def main() -> None:
    out: dict[str, dict[str, bytes]] = {k: {} for k in ["raw", "requests", "json", "dataplane", "expressions"]}
    capture(out)
    pin_run_values(out)
    derive(out)
    for target in ["requests", "json", "dataplane", "expressions"]:
        directory = CORPUS / target
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir()
        for name, data in sorted(out[target].items()):
            (directory / name).write_bytes(data)
        print(f"{target}: {len(out[target])} files, {sum(map(len, out[target].values()))} bytes")


if __name__ == "__main__":
    main()
