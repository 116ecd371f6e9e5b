#!/usr/bin/env python3
"""The proxy in front of a storage server that has stalled: memory stays bounded and hits are still served. A
benchmark, not a test (the test is Tests/e2e/test_overload.py).

Starts a storage server that reads every request and answers only GetItem of the key "hot" (every other request
waits, unanswered, until the proxy gives up on it), and the proxy in front of it (`--threads 1`, CPU 0). Then:
1. a client on CPU 1 reads "hot" on one keep-alive connection: hit latency before the flood;
2. `dynamo-cache bench` floods the proxy from CPU 1 with GetItem of keys that are never cached, `--rate` a second
   (default 3,000; 0: closed loop, every refusal sent again at once) on `--connections` connections (default
   2,000): at most --upstream-max-inflight (default 1,024) wait on the storage server, the rest are refused at
   once with ThrottlingException;
3. during the flood the hit client keeps reading "hot", and every second the proxy's RSS, jemalloc's allocated
   bytes and dynamocache_upstream_inflight are sampled.
Prints hit latency before and during, the requests refused, and memory before, at most and after.

  swift build -c release --product dynamo-cache
  Benchmarks/overload/stalled.py --bin .build/release/dynamo-cache [--seconds 30] [--connections 2000]
"""
import argparse
import http.client
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # Benchmarks/, for benchsupport
from benchsupport import free_port, get, metric_sum, rss_bytes, wait_port  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOT = json.dumps({"TableName": "hot-table", "Key": {"pk": {"S": "hot"}}}).encode()
HOT_ITEM = json.dumps({"Item": {"pk": {"S": "hot"}, "v": {"S": "x" * 400}}}).encode()


async def stalled_server(port):
    """Answers GetItem of "hot"; reads every other request and never answers it (the proxy gives up on it at
    its --upstream-timeout). asyncio, so thousands of held connections cost no threads."""
    import asyncio

    async def serve(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
                body = await reader.readexactly(length)
                if b'"hot"' not in body:
                    await reader.read()  # held until the proxy closes it
                    return
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nx-amz-crc32: "
                             + str(zlib.crc32(HOT_ITEM)).encode() + b"\r\nContent-Length: "
                             + str(len(HOT_ITEM)).encode() + b"\r\n\r\n" + HOT_ITEM)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=8192)
    async with server:
        await server.serve_forever()


def metric(admin, name, labels=""):
    return metric_sum(get(f"http://127.0.0.1:{admin}/metrics"), name, labels)


def memory(pid, admin):
    stats = json.loads(get(f"http://127.0.0.1:{admin}/stats"))
    return rss_bytes(pid), stats["memory"]["allocated_bytes"] or 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=os.path.join(REPO, ".build/release/dynamo-cache"))
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=3000)
    parser.add_argument("--upstream-max-inflight", default="1024")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the stalled server's own process
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))

    def pinned(cpu, argv):
        return argv if args.no_pin else ["taskset", "-c", str(cpu), *argv]

    if args.serve:
        import asyncio
        asyncio.run(stalled_server(args.serve))
        return
    if not args.no_pin:
        os.sched_setaffinity(0, {1})
    up_port = free_port()
    up = subprocess.Popen(pinned(0, [sys.executable, os.path.abspath(__file__), "--serve", str(up_port)]))
    wait_port(up_port)
    data, admin = free_port(), free_port()
    log = tempfile.NamedTemporaryFile(prefix="dynamo-cache-stalled-", suffix=".log", delete=False)
    proxy = subprocess.Popen(pinned(0, [args.bin, "serve", "--upstream", f"http://127.0.0.1:{up_port}",
                                        "--threads", "1", "--listen", f"127.0.0.1:{data}",
                                        "--admin-listen", f"127.0.0.1:{admin}", "--log-level", "error",
                                        "--upstream-max-inflight", args.upstream_max_inflight]),
                             stdout=subprocess.DEVNULL, stderr=log)
    flood = None
    try:
        wait_port(data)
        wait_port(admin)
        conn = http.client.HTTPConnection("127.0.0.1", data, timeout=10)
        headers = {"X-Amz-Target": "DynamoDB_20120810.GetItem", "Content-Type": "application/x-amz-json-1.0",
                   "Authorization": "AWS4-HMAC-SHA256 Credential=soak/20260101/us-east-1/dynamodb/aws4_request, "
                                    "SignedHeaders=host, Signature=0"}

        def hits(n):
            out = []
            for _ in range(n):
                t0 = time.perf_counter()
                conn.request("POST", "/", body=HOT, headers=headers)
                r = conn.getresponse()
                r.read()
                out.append(time.perf_counter() - t0)
                if r.status != 200 or r.getheader("x-dynamo-cache") not in ("hit", "miss"):
                    raise RuntimeError(f"a read of the hot key got {r.status}")
            return out

        hits(100)
        before = hits(2000)
        mem_before = memory(proxy.pid, admin)
        flood = subprocess.Popen(
            [args.bin, "bench", "--target", f"proxy=http://127.0.0.1:{data}", "--workload", "get", "--keys",
             "uniform", "--items", "1000000", "--prepare", "never", "--connections", str(args.connections),
             "--duration", f"{args.seconds}s", "--warmup", "0s", "--rounds", "1", "--timeout", "30s", "--quiet",
             *(["--rate", str(args.rate)] if args.rate else []),
             "--table", "stalled", "--json", log.name + ".bench.json"],
            stdout=subprocess.DEVNULL, stderr=open(log.name + ".bench.log", "w"))
        samples, during = [], []
        end = time.monotonic() + args.seconds
        time.sleep(2)
        while time.monotonic() < end and flood.poll() is None:
            during += hits(200)
            samples.append((*memory(proxy.pid, admin), metric(admin, "dynamocache_upstream_inflight")))
            time.sleep(max(0.0, 1 - (time.monotonic() % 1)))
        flood.wait(60)
        bench = json.load(open(log.name + ".bench.json"))["results"][0]
        time.sleep(2)
        mem_after = memory(proxy.pid, admin)
        refused = metric(admin, "dynamocache_upstream_errors_total", 'kind="overloaded"')
    finally:
        if flood and flood.poll() is None:
            flood.kill()
        proxy.terminate()
        proxy.wait(10)
        up.terminate()

    def ms(values, q):
        return statistics.quantiles(values, n=100)[q - 1] * 1e3

    mib = 2 ** 20
    print(f"flood: {args.connections} connections for {args.seconds} s: {bench['answers']:,} answers, "
          f"errors {bench['errors']}")
    print(f"refused as overload (ThrottlingException): {refused:,.0f}; waiting on the storage server at most "
          f"{max(s[2] for s in samples):.0f}")
    print(f"hot-key hits: p50 {ms(before, 50):.3f} ms / p99 {ms(before, 99):.3f} ms before; "
          f"p50 {ms(during, 50):.3f} ms / p99 {ms(during, 99):.3f} ms during the flood ({len(during)} reads)")
    # A short flood may give one sample only: it then stands for both halves.
    half = max(1, len(samples) // 2)
    halves = (samples[:half], samples[half:] or samples[-1:])
    for index, name in ((0, "RSS"), (1, "jemalloc allocated")):
        first, second = (max(s[index] for s in part) / mib for part in halves)
        print(f"{name}: {mem_before[index] / mib:.1f} MiB before; at most {first:.1f} MiB in the flood's first half, "
              f"{second:.1f} MiB in its second; {mem_after[index] / mib:.1f} MiB after")


if __name__ == "__main__":
    sys.exit(main())
