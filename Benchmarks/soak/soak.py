#!/usr/bin/env python3
"""Soak: the proxy under steady load for minutes, and whether its memory stays flat and nothing fails. A
benchmark, not a test.

Starts moto_server and the proxy (`--threads 1`) on CPU 0 and the load generator on CPU 1 (`--no-pin` to not
pin), then:
1. measures the peak of the mix, closed loop: `dynamo-cache bench --workload mix-95-5` (Zipf GetItem with 5%
   PutItem) on `--connections` and, beside it, `--workload query` on 2 connections;
2. runs `--load` (default 80%) of each one's peak as an open loop for `--minutes` (default 10);
   The caches (`--item-cache-size 1MiB`, `--query-cache-size 512KiB`) are much smaller than the table, so they
   are full within the first minute even at moto's pace, and memory is watched under steady eviction; entries
   live `--ttl` (default 30 s), so that they also expire steadily;
3. every `--sample` seconds (default 10) prints and records the proxy's RSS (/proc), jemalloc's allocated bytes
   (/stats), requests and failed requests (5xx and 4xx answers), fail-open and storage-server errors
   (/metrics), and the p99 of the interval (the highest per-second p99 in /stats' history);
4. says whether memory was flat (every sample of the last `--flat-minutes`, default 8, within ±5% of their
   median, RSS and allocated bytes alike) and errors were 0 (the proxy's counters and both load generators').
   Exit status 0 only if both hold.

  swift build -c release --product dynamo-cache
  Benchmarks/soak/soak.py --bin .build/release/dynamo-cache [--minutes 10] [--json soak.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # Benchmarks/, for benchsupport
from benchsupport import free_port, get, metric_sum, rss_bytes, wait_port  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=os.path.join(REPO, ".build/release/dynamo-cache"))
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--flat-minutes", type=float, default=8, help="the final stretch whose memory must be flat")
    parser.add_argument("--load", type=float, default=0.8, help="fraction of the measured peak to run at")
    parser.add_argument("--sample", type=float, default=10, help="seconds between samples")
    parser.add_argument("--peak-seconds", type=int, default=15, help="how long the peak is measured")
    parser.add_argument("--items", default="10000")
    parser.add_argument("--item-size", default="400")
    parser.add_argument("--connections", default="16")
    # Caches smaller than the table, so that they are full within the first minute and the soak watches memory
    # under steady eviction, not a cache still filling (or emptying as the 5-minute TTL ends).
    parser.add_argument("--item-cache-size", default="1MiB")
    parser.add_argument("--query-cache-size", default="512KiB")
    # Short, so that entries expire all through the measured stretch: with the default 5 minutes every entry
    # filled in the first minutes would expire in one wave at minute 5, inside it.
    parser.add_argument("--ttl", default="30s", help="the proxy's --item-ttl and --query-ttl")
    parser.add_argument("--json", help="also write the samples and the verdict to this file")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the servers and the load with taskset")
    args = parser.parse_args()
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"no proxy binary at {args.bin}: swift build -c release --product dynamo-cache")

    def pinned(cpu, argv):
        return argv if args.no_pin else ["taskset", "-c", str(cpu), *argv]

    work = tempfile.mkdtemp(prefix="dynamo-cache-soak-")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="soak", AWS_SECRET_ACCESS_KEY="soak", AWS_REGION="us-east-1")
    procs = []
    try:
        moto_port = free_port()
        procs.append(subprocess.Popen(pinned(0, [os.path.join(REPO, "ops/moto-server.sh"), str(moto_port)]),
                                      stdout=open(os.path.join(work, "moto.log"), "w"), stderr=subprocess.STDOUT))
        wait_port(moto_port)
        data_port, admin_port = free_port(), free_port()
        proxy = subprocess.Popen(
            pinned(0, [args.bin, "serve", "--upstream", f"http://127.0.0.1:{moto_port}", "--threads", "1",
                       "--listen", f"127.0.0.1:{data_port}", "--admin-listen", f"127.0.0.1:{admin_port}",
                       "--item-cache-size", args.item_cache_size, "--query-cache-size", args.query_cache_size,
                       "--item-ttl", args.ttl, "--query-ttl", args.ttl]),
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "proxy.log"), "w"), env=env)
        procs.append(proxy)
        wait_port(data_port)
        wait_port(admin_port)
        target = ["--target", f"proxy=http://127.0.0.1:{data_port}"]
        dataset = ["--items", args.items, "--item-size", args.item_size, "--quiet"]

        def bench(extra, name):
            out = os.path.join(work, f"{name}.json")
            return out, subprocess.Popen(pinned(1, [args.bin, "bench", *target, *dataset, *extra, "--json", out]),
                                         stdout=open(os.path.join(work, f"{name}.txt"), "w"), env=env)

        # The peak of the same mix as the soak: both workloads at once, closed loop. Queries that miss cost moto
        # far more than GetItems (it sorts its table on each), so a peak measured without them is not one.
        # The table is prepared first, by one bench alone: two preparing it at once would race.
        out, prepare = bench(["--workload", "get", "--requests", "1", "--warmup", "0s", "--rounds", "1"], "prepare")
        if prepare.wait() != 0:
            sys.exit(f"preparing the table failed: {open(out.replace('.json', '.txt')).read()}")
        peaks = [bench(["--workload", "mix-95-5", "--duration", f"{args.peak_seconds}s", "--warmup", "5s",
                        "--rounds", "1", "--connections", args.connections, "--prepare", "never"], "peak-mix"),
                 bench(["--workload", "query", "--duration", f"{args.peak_seconds}s", "--warmup", "5s",
                        "--rounds", "1", "--connections", "2", "--prepare", "never"], "peak-query")]
        for out, run in peaks:
            if run.wait() != 0:
                sys.exit(f"the peak run failed: {open(out.replace('.json', '.txt')).read()}")
        mix_peak, query_peak = (json.load(open(out))["results"][0]["requestsPerSecond"] for out, _ in peaks)
        peak = mix_peak + query_peak
        rate = peak * args.load
        mix_rate, query_rate = mix_peak * args.load, max(query_peak * args.load, 1)
        print(f"peak {peak:,.0f} req/s ({mix_peak:,.0f} mix-95-5 on {args.connections} connections beside "
              f"{query_peak:,.0f} Query on 2, closed loop); soaking at {args.load:.0%}: {mix_rate:,.0f} req/s "
              f"mix-95-5 + {query_rate:,.0f} req/s Query for {args.minutes:g} min")
        # Counted before the soak: what the peak run and the table's preparation did is not the soak's.
        baseline = get(f"http://127.0.0.1:{admin_port}/metrics")
        base = {name: metric_sum(baseline, f"dynamocache_{name}_total")
                for name in ("requests", "requests_failed", "fail_open", "upstream_errors")}
        duration = f"{int(args.minutes * 60)}s"
        # Twice the peak's connections: an open loop holds one request per connection, and moto's pauses of a
        # second would otherwise leave requests unsent at the end (counted as errors).
        runs = [bench(["--workload", "mix-95-5", "--rate", f"{mix_rate:.0f}", "--duration", duration,
                       "--warmup", "0s", "--rounds", "1", "--connections", str(2 * int(args.connections))],
                      "soak-mix"),
                # Likewise: a Query that misses can take most of a second at moto.
                bench(["--workload", "query", "--rate", f"{query_rate:.0f}", "--duration", duration,
                       "--warmup", "0s", "--rounds", "1", "--connections", "8"], "soak-query")]
        samples = []
        started = time.monotonic()
        print(f"{'t s':>6} {'RSS MiB':>8} {'alloc MiB':>9} {'req/s':>8} {'failed':>6} {'fail-open':>9} "
              f"{'upstream err':>12} {'p99 ms':>7}")
        previous = None
        while any(run.poll() is None for _, run in runs):
            time.sleep(args.sample - (time.monotonic() - started) % args.sample)
            if all(run.poll() is not None for _, run in runs):
                break
            stats = json.loads(get(f"http://127.0.0.1:{admin_port}/stats"))
            metrics = get(f"http://127.0.0.1:{admin_port}/metrics")
            now = time.monotonic() - started
            recent = [s for s in stats["history"] if s["t"] > time.time() - args.sample]
            p99s = [s["p99_ms"] for s in recent if s.get("p99_ms") is not None]
            sample = {
                "t": round(now, 1), "rss": rss_bytes(proxy.pid), "allocated": stats["memory"]["allocated_bytes"],
                "requests": metric_sum(metrics, "dynamocache_requests_total") - base["requests"],
                "failed": metric_sum(metrics, "dynamocache_requests_failed_total") - base["requests_failed"],
                "failOpen": metric_sum(metrics, "dynamocache_fail_open_total") - base["fail_open"],
                "upstreamErrors": metric_sum(metrics, "dynamocache_upstream_errors_total") - base["upstream_errors"],
                "p99Ms": max(p99s) if p99s else None,
            }
            previous = previous or {"requests": 0, "t": 0}
            rate_now = (sample["requests"] - previous["requests"]) / (now - previous["t"])
            previous = sample
            samples.append(sample)
            print(f"{now:6.0f} {sample['rss'] / 2**20:8.1f} {(sample['allocated'] or 0) / 2**20:9.1f} "
                  f"{rate_now:8.0f} {sample['failed']:6.0f} {sample['failOpen']:9.0f} "
                  f"{sample['upstreamErrors']:12.0f} {sample['p99Ms'] if sample['p99Ms'] is not None else '-':>7}",
                  flush=True)
        codes = [run.wait() for _, run in runs]
        results = [json.load(open(out))["results"][0] for out, _ in runs]
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()

    flat_from = args.minutes * 60 - args.flat_minutes * 60
    window = [s for s in samples if s["t"] >= flat_from]
    verdicts = {}
    for field in ("rss", "allocated"):
        values = [s[field] for s in window if s[field]]
        middle = statistics.median(values) if values else 0
        spread = max(abs(v - middle) / middle for v in values) if values else float("inf")
        verdicts[field] = spread
        print(f"{field}: median {middle / 2**20:.1f} MiB over the last {args.flat_minutes:g} min, "
              f"largest deviation {spread:.1%} ({'flat' if spread <= 0.05 else 'NOT flat'}: ±5% allowed)")
    bench_errors = sum(sum(r["errors"].values()) for r in results)
    last = samples[-1] if samples else {"failed": 0, "failOpen": 0, "upstreamErrors": 0}
    proxy_errors = last["failed"] + last["failOpen"] + last["upstreamErrors"]
    p99s = [s["p99Ms"] for s in samples if s["p99Ms"] is not None]
    for r in results:
        print(f"{r['workload']}: {r['answers']:,} answers at {r['requestsPerSecond']:,.0f} req/s, "
              f"p50 {r['latencyMicroseconds']['p50'] / 1000:.3f} ms, p99 {r['latencyMicroseconds']['p99'] / 1000:.3f} ms"
              f", errors {sum(r['errors'].values())} {r['errors'] or ''}")
    if p99s:
        print(f"proxy p99 per {args.sample:g} s: median {statistics.median(p99s):.3f} ms, highest {max(p99s):.3f} ms")
    flat = all(v <= 0.05 for v in verdicts.values())
    clean = bench_errors == 0 and proxy_errors == 0 and all(c == 0 for c in codes)
    print(f"verdict: memory {'flat' if flat else 'NOT flat'}, errors {'0' if clean else 'NOT 0'} "
          f"(load generators {bench_errors}, proxy failed/fail-open/upstream {proxy_errors:.0f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"peak": peak, "rate": rate, "samples": samples, "results": results,
                       "deviation": verdicts, "flat": flat, "clean": clean}, f, indent=1)
    sys.exit(0 if flat and clean else 1)


if __name__ == "__main__":
    main()
