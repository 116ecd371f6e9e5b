"""`dynamo-cache bench` against moto_server directly and through the proxy, in one run (issue 6's done-when)."""
import json
import os
import subprocess

import boto3

from aws_fixtures import CertificateAuthority
from e2e_support import BOTO_CONFIG, REGION, ProxyProcess, free_port, unique


def run_bench(binary, *args, timeout=240):
    out = subprocess.run([binary, "bench", *args], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"bench failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return out


def by_target(document, workload):
    return {r["target"]: r for r in document["results"] if r["workload"] == workload}


def test_bench_compares_moto_and_the_proxy(real_proxy, motos, binary, tmp_path):
    """Hits and misses through the proxy beside moto direct: three outputs, exact request counts, no errors,
    the cache verdicts the proxy reported, and ratios over the first target."""
    table = unique("bench")
    report_json, report_html = tmp_path / "bench.json", tmp_path / "bench.html"
    out = run_bench(
        binary, "--target", f"direct={motos[1].url}", "--target", f"proxy={real_proxy.data_url}",
        "--workload", "get-once", "--workload", "get", "--table", table, "--items", "400", "--item-size", "300",
        "--requests", "120", "--rounds", "2", "--warmup", "0", "--connections", "4",
        "--json", str(report_json), "--html", str(report_html))
    # The table on stdout: one block per workload with both targets and the ratio line.
    assert out.stdout.count("proxy/direct: req/s ×") == 2, out.stdout
    # Progress and preparation go to stderr; a phase's summary is kept when stderr is not a terminal.
    assert f"loading 400 items of 300 bytes into {table}" in out.stderr
    assert "get proxy round 2/2" in out.stderr

    document = json.loads(report_json.read_text())
    assert document["configuration"]["targets"] == [
        {"name": "direct", "url": motos[1].url}, {"name": "proxy", "url": real_proxy.data_url}]
    for workload in ("get", "get-once"):
        rows = by_target(document, workload)
        for target in ("direct", "proxy"):
            assert rows[target]["answers"] == 120, rows[target]
            assert rows[target]["errors"] == {}, rows[target]
            latency = rows[target]["latencyMicroseconds"]
            assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["p99_9"] <= latency["max"]
        # moto sends no x-dynamo-cache header; the proxy judges every GetItem.
        assert rows["direct"]["cache"]["none"] == 120 and "hitRatio" not in rows["direct"]
        assert rows["proxy"]["cache"]["hit"] + rows["proxy"]["cache"]["miss"] == 120
    # Zipf over 400 keys from a cold cache: the popular keys hit. get-once reads each key once through the proxy: every read misses.
    assert by_target(document, "get")["proxy"]["hitRatio"] > 0.25
    assert by_target(document, "get-once")["proxy"]["cache"]["hit"] == 0
    assert {(r["workload"], r["target"], r["baseline"]) for r in document["ratios"]} == {
        ("get", "proxy", "direct"), ("get-once", "proxy", "direct")}

    html = report_html.read_text()
    assert html.count("<svg") == 2 and html.count("<polyline") == 4
    assert "<script" not in html

    # The items bench loaded are what DynamoDB holds: 400 items of about 300 bytes plus the marker.
    client = boto3.client("dynamodb", endpoint_url=motos[1].url, region_name=REGION, config=BOTO_CONFIG)
    item = client.get_item(TableName=table, Key={"pk": {"S": "p000039"}, "sk": {"N": "9"}})["Item"]
    assert len(item["data"]["S"]) == 280
    assert client.scan(TableName=table, Select="COUNT")["Count"] == 401

    # A second run with the same dataset reuses the table instead of loading it again.
    again = run_bench(binary, "--target", f"proxy={real_proxy.data_url}", "--table", table, "--items", "400",
                      "--item-size", "300", "--requests", "30", "--warmup", "0")
    assert f"table {table} already holds 400 items" in again.stderr and "loading" not in again.stderr
    quiet = run_bench(binary, "--target", f"proxy={real_proxy.data_url}", "--table", table, "--items", "400",
                      "--item-size", "300", "--requests", "30", "--warmup", "0", "--quiet")
    assert quiet.stderr == "" and "get (zipf" in quiet.stdout
    client.delete_table(TableName=table)


def test_bench_writes_through_the_proxy_stay_coherent(real_proxy, motos, binary):
    """A 50/50 UpdateItem mix and a query workload through the proxy, then every item read through the proxy
    (eventually consistent, so from its cache where it has one) equals what moto holds."""
    table = unique("bench-mix")
    run_bench(binary, "--target", f"proxy={real_proxy.data_url}", "--workload", "mix-50-50", "--workload", "query",
              "--workload", "batch-get", "--workload", "scan-polluted", "--write", "update", "--table", table,
              "--items", "60", "--partition-size", "6", "--requests", "200", "--warmup", "0", "--quiet")
    proxy = boto3.client("dynamodb", endpoint_url=real_proxy.data_url, region_name=REGION, config=BOTO_CONFIG)
    direct = boto3.client("dynamodb", endpoint_url=motos[1].url, region_name=REGION, config=BOTO_CONFIG)
    for index in range(60):
        key = {"pk": {"S": f"p{index // 6:06d}"}, "sk": {"N": str(index % 6)}}
        assert proxy.get_item(TableName=table, Key=key)["Item"] == direct.get_item(TableName=table, Key=key)["Item"]
    for partition in range(10):
        query = dict(TableName=table, KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": f"p{partition:06d}"}})
        assert proxy.query(**query)["Items"] == direct.query(**query)["Items"]
    direct.delete_table(TableName=table)


def test_bench_reports_an_unreachable_target_and_bad_options(binary):
    dead = f"http://127.0.0.1:{free_port()}"
    out = subprocess.run([binary, "bench", "--target", f"dead={dead}", "--prepare", "never", "--duration", "300ms",
                          "--warmup", "0", "--rounds", "1", "--quiet"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ConnectionFailed" in out.stdout
    for bad in (["--workload", "nope"], ["--target", "x=localhost:8000"], ["--batch-size", "101"],
                ["--rate", "0"], ["--table", "a b"]):
        out = subprocess.run([binary, "bench", *bad], capture_output=True, text=True, timeout=60)
        assert out.returncode != 0 and "Error" in out.stderr, (bad, out.stderr)


def test_bench_over_tls_to_a_proxy_that_authenticates_clients(motos, binary, log_dir, tmp_path):
    """An https:// target verified with --ca-file, signed with the key bench is given: every answer a success and
    mostly hits; a wrong secret shows up as the proxy's InvalidSignatureException, a missing CA as TLS refused."""
    ca = CertificateAuthority(str(tmp_path / "ca"))
    cert, key = ca.issue("bench-proxy")
    clients = tmp_path / "clients"
    clients.write_text("[bench]\naws_access_key_id = AKIDBENCHCLIENT\naws_secret_access_key = bench-secret\n"
                       "access = admin\n")  # bench creates its table
    proxy = ProxyProcess(binary, motos[1].url, log_dir, "proxy-bench-tls",
                         ["--tls-cert", cert, "--tls-key", key, "--client-auth", "sigv4",
                          "--client-credentials", str(clients)])
    try:
        url = f"https://localhost:{proxy.data_port}"
        table = unique("bench-tls")
        common = ["--target", f"tls={url}", "--table", table, "--items", "50", "--item-size", "100",
                  "--warmup", "0", "--rounds", "1", "--connections", "2", "--keys", "uniform"]
        report = tmp_path / "tls.json"
        run_bench(binary, *common, "--ca-file", ca.cert, "--access-key-id", "AKIDBENCHCLIENT",
                  "--secret-access-key", "bench-secret", "--requests", "200", "--json", str(report), "--quiet")
        row = by_target(json.loads(report.read_text()), "get")["tls"]
        assert row["answers"] == 200 and row["errors"] == {}, row
        assert row["cache"]["hit"] > 100, row

        wrong = tmp_path / "wrong.json"
        run_bench(binary, *common, "--ca-file", ca.cert, "--access-key-id", "AKIDBENCHCLIENT",
                  "--secret-access-key", "not-the-secret", "--requests", "20", "--prepare", "never",
                  "--json", str(wrong), "--quiet")
        row = by_target(json.loads(wrong.read_text()), "get")["tls"]
        assert row["errors"] == {"InvalidSignatureException": 20}, row

        untrusted = tmp_path / "untrusted.json"
        run_bench(binary, *common, "--access-key-id", "AKIDBENCHCLIENT", "--secret-access-key", "bench-secret",
                  "--duration", "500ms", "--prepare", "never", "--json", str(untrusted), "--quiet")
        row = by_target(json.loads(untrusted.read_text()), "get")["tls"]
        assert row["answers"] == 0 and set(row["errors"]) == {"TLSRefused"}, row
    finally:
        proxy.stop()
        # Only on the proxy's moto: the differential tests compare both servers' table lists.
        boto3.client("dynamodb", endpoint_url=motos[1].url, region_name=REGION, config=BOTO_CONFIG).delete_table(
            TableName=table)
