#!/usr/bin/env python3
"""Query-cache hit ratio under a read/write mix, for one or more dynamo-cache binaries in one run.

Each binary gets its own moto_server and the same fixed-seed workload: Query of one partition (95%) and
UpdateItem of one item (5%), partitions picked uniformly or by Zipf. The hit ratio is read from the proxy's
x-dynamo-cache header. A benchmark, not a test.

  Benchmarks/query-invalidation/hit_ratio.py --bin table=/path/a --bin partition=/path/b \\
      --partitions 100 --ops 3000 --dist zipf
"""
import argparse, bisect, os, random, signal, subprocess, sys
import boto3, botocore.config

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # Benchmarks/, for benchsupport
from benchsupport import free_port, wait_port  # noqa: E402


def run(binary, args):
    moto_port = free_port()
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = None
    try:
        wait_port(moto_port)
        proxy = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                                  "--upstream", f"http://127.0.0.1:{moto_port}", "--log-level", "error"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = proxy.stdout.readline()
        endpoint = line.split("data=")[1].split()[0]
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="bench", aws_secret_access_key="bench",
                              config=botocore.config.Config(retries={"total_max_attempts": 1}))
        statuses = []
        client.meta.events.register("after-call.dynamodb.Query",
                                    lambda http_response, **_: statuses.append(
                                        http_response.headers.get("x-dynamo-cache")))
        client.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                  {"AttributeName": "sk", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}])
        client.describe_table(TableName="t")  # the proxy learns the key schema from the answer
        for p in range(args.partitions):
            client.put_item(TableName="t", Item={"pk": {"S": f"p{p}"}, "sk": {"S": "0"}, "v": {"N": "0"}})
        rnd = random.Random(args.seed)
        if args.dist == "zipf":
            weights = [1 / (i + 1) ** 0.99 for i in range(args.partitions)]
            total = sum(weights)
            cdf, acc = [], 0.0
            for w in weights:
                acc += w / total
                cdf.append(acc)
            pick = lambda: min(bisect.bisect_left(cdf, rnd.random()), args.partitions - 1)
        else:
            pick = lambda: rnd.randrange(args.partitions)
        for i in range(args.ops):
            p = pick()
            if rnd.random() < args.write_fraction:
                client.update_item(TableName="t", Key={"pk": {"S": f"p{p}"}, "sk": {"S": "0"}},
                                   UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"N": str(i)}})
            else:
                client.query(TableName="t", KeyConditionExpression="pk = :p",
                             ExpressionAttributeValues={":p": {"S": f"p{p}"}})
        return statuses.count("hit") / len(statuses), len(statuses)
    finally:
        for process in (proxy, moto):
            if process and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", action="append", required=True, help="NAME=PATH of a dynamo-cache binary")
    parser.add_argument("--partitions", type=int, default=100)
    parser.add_argument("--ops", type=int, default=3000)
    parser.add_argument("--write-fraction", type=float, default=0.05)
    parser.add_argument("--dist", choices=["uniform", "zipf"], default="zipf")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"{args.ops} ops, {args.write_fraction:.0%} UpdateItem, Query of one of {args.partitions} partitions "
          f"({args.dist}), seed {args.seed}")
    for spec in args.bin:
        name, path = spec.split("=", 1)
        ratio, queries = run(path, args)
        print(f"{name:>12}: query hit ratio {ratio:6.1%} over {queries} queries")


if __name__ == "__main__":
    main()
