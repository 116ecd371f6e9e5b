"""What a person typing `dynamo-cache` sees when something is wrong: an error that names the option and what is
expected, and the usage of the subcommand they ran (not the root's); and `--table-policy` live in front of moto."""
import os
import subprocess

import pytest

from e2e_support import LOOPBACK, ProxyProcess, raw_post, unique

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("argv, error, subcommand", [
    (["serve", "--upstream", "localhost:8001"], "--upstream: localhost:8001: a URL needs its scheme, e.g. http://", "serve"),
    (["--upstream", "localhost:8001"], "a URL needs its scheme", "serve"),     # serve is the default subcommand
    (["stats", "--admin", "127.0.0.1:9090"], "--admin: 127.0.0.1:9090: a URL needs its scheme", "stats"),
    (["bench", "--table", "t"], "table name t is not one DynamoDB accepts", "bench"),
    (["serve", "--table-policy", "sessions"], "--table-policy: sessions: expected TABLE:off or TABLE:ttl=DURATION",
     "serve"),
    (["serve", "--table-policy", "sessions:ttl=soon"], "--table-policy sessions ttl: expected a duration", "serve"),
    (["serve", "--table-policy", "audit:off,ttl=1s"], "a table that is off has no TTL", "serve"),
    (["serve", "--table-policy", "a:off"], "a is not a table name", "serve"),
    (["serve", "--table-policy", "audit:off", "--table-policy", "audit:ttl=1s"], "audit is given twice", "serve"),
])
def test_a_usage_error_names_the_problem_and_the_subcommands_help(binary, argv, error, subcommand):
    out = run(binary, *argv)
    assert out.returncode == 64, (out.returncode, out.stderr)
    assert error in out.stderr, out.stderr
    assert f"Usage: dynamo-cache {subcommand} " in out.stderr, out.stderr
    assert f"See 'dynamo-cache {subcommand} --help' for more information." in out.stderr, out.stderr


def test_a_taken_port_names_the_listener_and_the_address(binary, log_dir):
    import socket
    taken = socket.socket()
    taken.bind((LOOPBACK, 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        out = run(binary, "serve", "--listen", f"{LOOPBACK}:{port}", "--admin-listen", f"{LOOPBACK}:0",
                  "--upstream", "http://127.0.0.1:9")
    finally:
        taken.close()
    assert out.returncode != 0
    assert f"cannot listen on {LOOPBACK}:{port} (the data listener): the address is already in use" in out.stderr, (
        out.stderr)


def test_table_policies_in_front_of_moto(binary, motos, log_dir):
    """An `off` table is read from moto every time; a table with its own TTL is served from memory."""
    import boto3
    from e2e_support import FAKE_KEY, FAKE_SECRET, REGION
    audit, sessions = unique("audit"), unique("sessions")
    direct = boto3.client("dynamodb", endpoint_url=motos[1].url, region_name=REGION, aws_access_key_id=FAKE_KEY,
                          aws_secret_access_key=FAKE_SECRET)
    for table in (audit, sessions):
        direct.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        direct.put_item(TableName=table, Item={"pk": {"S": "k"}})
    p = ProxyProcess(binary, motos[1].url, log_dir, "proxy-table-policy",
                     extra_args=["--table-policy", f"{audit}:off", "--table-policy", f"{sessions}:ttl=30s"])
    try:
        def verdicts(table):
            body = f'{{"TableName":"{table}","Key":{{"pk":{{"S":"k"}}}}}}'.encode()
            return [raw_post(p.data_port, body).headers.get("x-dynamo-cache") for _ in range(3)]
        assert verdicts(audit) == ["bypass"] * 3
        assert verdicts(sessions) == ["miss", "hit", "hit"]
    finally:
        p.stop()
        # moto B is the main proxy's server; the pair's tests compare its tables with moto A's.
        for table in (audit, sessions):
            direct.delete_table(TableName=table)
