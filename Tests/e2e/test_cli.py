"""The AWS CLI (v1) against both endpoints: same stdout, exit code and error code.

AWS CLI v1 exits 255 on a service error (v2 would exit 254)."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from e2e_support import json_diff, normalise

ERR_RE = re.compile(r"An error occurred \((\w+)\) when calling the (\w+) operation[^:]*: (.*)")


def aws_cmd() -> list[str]:
    exe = shutil.which("aws")
    return [exe] if exe else [sys.executable, "-m", "awscli"]


def run(endpoint: str, args: list[str]) -> subprocess.CompletedProcess:
    # The session fixture `aws_env` has set fake credentials, region and an isolated config.
    return subprocess.run(aws_cmd() + ["dynamodb", *args, "--endpoint-url", endpoint, "--output", "json"],
                          capture_output=True, text=True, timeout=60, env=os.environ.copy(),
                          stdin=subprocess.DEVNULL)


def both(endpoints, args, *, expect_rc=0):
    a, b = run(endpoints[0], args), run(endpoints[1], args)
    what = "aws dynamodb " + " ".join(args)
    assert a.returncode == expect_rc, f"{what}: direct exit {a.returncode}, stderr={a.stderr[-2000:]}"
    assert b.returncode == a.returncode, (f"{what}: exit code direct={a.returncode} proxy={b.returncode}\n"
                                          f"proxy stderr={b.stderr[-2000:]}\nproxy stdout={b.stdout[-2000:]}")
    if a.stdout.strip() or b.stdout.strip():
        ja, jb = json.loads(a.stdout), json.loads(b.stdout)
        d = json_diff(normalise(ja), normalise(jb))
        assert not d, f"{what}: stdout differs: {d}"
    else:
        ja = None
    if expect_rc != 0:
        ma, mb = ERR_RE.search(a.stderr), ERR_RE.search(b.stderr)
        assert ma, f"{what}: no error line in direct stderr: {a.stderr[-2000:]}"
        assert mb, f"{what}: no error line in proxy stderr: {b.stderr[-2000:]}"
        assert ma.groups() == mb.groups(), f"{what}: error direct={ma.groups()} proxy={mb.groups()}"
        return ma.groups()
    return ja


@pytest.fixture
def cli_table(endpoints, name):
    both(endpoints, ["create-table", "--table-name", name,
                     "--attribute-definitions", "AttributeName=pk,AttributeType=S", "AttributeName=sk,AttributeType=N",
                     "--key-schema", "AttributeName=pk,KeyType=HASH", "AttributeName=sk,KeyType=RANGE",
                     "--billing-mode", "PAY_PER_REQUEST"])
    return name


def test_cli_round_trip(endpoints, cli_table):
    t = cli_table
    both(endpoints, ["put-item", "--table-name", t, "--item",
                     json.dumps({"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "héllo"}, "n": {"N": "2.50"}})])
    r = both(endpoints, ["get-item", "--table-name", t, "--key", json.dumps({"pk": {"S": "a"}, "sk": {"N": "1"}})])
    assert r["Item"]["v"] == {"S": "héllo"} and r["Item"]["n"] == {"N": "2.50"}
    items = [{"PutRequest": {"Item": {"pk": {"S": "p"}, "sk": {"N": str(i)}}}} for i in range(7)]
    r = both(endpoints, ["batch-write-item", "--request-items", json.dumps({t: items})])
    assert r["UnprocessedItems"] == {}
    r = both(endpoints, ["query", "--table-name", t, "--key-condition-expression", "pk = :p",
                         "--expression-attribute-values", json.dumps({":p": {"S": "p"}})])
    assert r["Count"] == 7
    # The CLI's own pagination: pages of 2 merged into one answer...
    r = both(endpoints, ["scan", "--table-name", t, "--page-size", "2"])
    assert r["Count"] == 8 and len(r["Items"]) == 8
    # ... and --max-items with a NextToken, resumed with --starting-token.
    r = both(endpoints, ["scan", "--table-name", t, "--page-size", "2", "--max-items", "3"])
    assert len(r["Items"]) == 3 and r["NextToken"]
    r2 = both(endpoints, ["scan", "--table-name", t, "--page-size", "2", "--starting-token", r["NextToken"]])
    assert len(r2["Items"]) == 5
    r = both(endpoints, ["update-item", "--table-name", t, "--key", json.dumps({"pk": {"S": "a"}, "sk": {"N": "1"}}),
                         "--update-expression", "SET v = :v", "--expression-attribute-values",
                         json.dumps({":v": {"S": "new"}}), "--return-values", "ALL_NEW"])
    assert r["Attributes"]["v"] == {"S": "new"}
    r = both(endpoints, ["get-item", "--table-name", t, "--key", json.dumps({"pk": {"S": "a"}, "sk": {"N": "1"}})])
    assert r["Item"]["v"] == {"S": "new"}
    both(endpoints, ["delete-table", "--table-name", t])


def test_cli_errors(endpoints, cli_table):
    code, op, _ = both(endpoints, ["describe-table", "--table-name", cli_table + "-missing"], expect_rc=255)
    assert (code, op) == ("ResourceNotFoundException", "DescribeTable")
    code, op, _ = both(endpoints, ["get-item", "--table-name", cli_table, "--key", json.dumps({"pk": {"S": "a"}})],
                       expect_rc=255)
    assert (code, op) == ("ValidationException", "GetItem")
    code, op, _ = both(endpoints, ["put-item", "--table-name", cli_table, "--item",
                                   json.dumps({"pk": {"S": "a"}, "sk": {"N": "1"}}),
                                   "--condition-expression", "attribute_exists(nope)"], expect_rc=255)
    assert code == "ConditionalCheckFailedException"
