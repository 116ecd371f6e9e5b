#!/usr/bin/env python3
"""Propagation between nodes through DynamoDB Streams, and the follower's CPU cost per record. A benchmark,
not a test.

Starts moto_server and three proxy nodes (`--streams auto`) on free loopback ports, then:
1. `dynamo-cache bench --workload staleness` with the writes straight to moto_server, then through node n1:
   per target, the time from a write's acknowledgement until that target first returns it (p50/p99/max), and
   reads older than a write acknowledged more than 1 s before they began;
2. the follower's CPU per record: node n3's CPU time (utime + stime from /proc) while `--records` items are
   written straight to moto_server and nothing reads through n3, minus its CPU time over an idle period as
   long (it still polls), divided by the records it applied (/stats).

  swift build -c release --product dynamo-cache
  Benchmarks/streams/staleness.py --bin .build/release/dynamo-cache
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

import boto3
import botocore.config

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # Benchmarks/, for benchsupport
from benchsupport import free_port, wait_port  # noqa: E402


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stats(admin):
    return json.load(urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats", timeout=10))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=".build/release/dynamo-cache")
    parser.add_argument("--duration", default="20s", help="staleness: time the writer writes")
    parser.add_argument("--write-rate", default="20")
    parser.add_argument("--connections", default="2", help="staleness: readers per target")
    parser.add_argument("--records", type=int, default=2000, help="CPU cost: records written straight to moto")
    args = parser.parse_args()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    procs = []
    try:
        moto_port = free_port()
        procs.append(subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(moto_port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(moto_port)
        nodes = []
        for name in ["n1", "n2", "n3"]:
            p = subprocess.Popen([args.bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                                  "--upstream", f"http://127.0.0.1:{moto_port}", "--region", "us-east-1",
                                  "--streams", "auto", "--log-level", "error"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
            procs.append(p)
            line = p.stdout.readline()
            data, admin = [int(part.rsplit(":", 1)[1]) for part in line.split()[2:4]]
            nodes.append((name, data, admin, p.pid))
        targets = [f"--target=moto=http://127.0.0.1:{moto_port}"] + [
            f"--target={name}=http://127.0.0.1:{data}" for name, data, _, _ in nodes]
        for writer in ["moto", "n1"]:
            print(f"== writes through {writer}", flush=True)
            subprocess.run([args.bin, "bench", "--workload", "staleness", *targets, "--writer", writer,
                            "--duration", args.duration, "--write-rate", args.write_rate,
                            "--connections", args.connections, "--quiet"], check=True, env=env)

        # The follower's CPU per record, on n3: nothing reads through it from here on.
        name, _, admin, pid = nodes[2]
        table = "dynamo-cache-bench-staleness"
        moto = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{moto_port}", region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=botocore.config.Config(retries={"max_attempts": 1}))
        applied = lambda: sum(t["records_applied"] for t in stats(admin)["streams"] if t["table"] == table)
        time.sleep(2)
        idle_start, idle_cpu = time.monotonic(), cpu_seconds(pid)
        time.sleep(10)
        idle_rate = (cpu_seconds(pid) - idle_cpu) / (time.monotonic() - idle_start)
        before, busy_start, busy_cpu = applied(), time.monotonic(), cpu_seconds(pid)
        for i in range(args.records):
            moto.put_item(TableName=table, Item={"pk": {"S": f"cpu{i % 50}"}, "v": {"N": str(i)},
                                                 "pad": {"S": "x" * 200}})
        deadline = time.monotonic() + 30
        while applied() - before < args.records and time.monotonic() < deadline:
            time.sleep(0.2)
        busy = time.monotonic() - busy_start
        records = applied() - before
        cost = (cpu_seconds(pid) - busy_cpu) - idle_rate * busy
        print(f"== follower CPU on {name}: {records} records applied in {busy:.1f} s; "
              f"idle polling {idle_rate * 1000:.1f} ms CPU/s; "
              f"{cost / max(1, records) * 1e6:.0f} µs CPU per record above idle")
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    sys.exit(main())
