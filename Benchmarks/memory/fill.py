#!/usr/bin/env python3
"""Memory against the budget: fills the item cache to its budget through the real data path and reports what
jemalloc says the proxy holds beside what the cache says it charged. A benchmark, not a test.

For each item size (default 100 B, 1 KB and 64 KB) a fresh proxy (`--threads 1`, `--item-cache-size`, default
16MiB, `--item-ttl 0` so nothing expires during the fill) in front of one moto_server reads, once each, enough items of that size to fill its item cache 1.5 times
over (`dynamo-cache bench --workload get-once`), so the cache ends full and evicting. Then, from /stats:
- charged: the bytes the item cache accounts for its entries (at most the budget);
- allocated: jemalloc's allocated bytes, less what the same proxy had allocated before its first request;
- the ratio allocated / budget, against the aim of at most 1.25 x budget + 16 MiB of allocated bytes in all.

  swift build -c release --product dynamo-cache
  Benchmarks/memory/fill.py --bin .build/release/dynamo-cache [--budget 16MiB] [--sizes 100,1000,65536] [--json F]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # Benchmarks/, for benchsupport
from benchsupport import free_port, get, wait_port  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIB = 1 << 20


def parse_size(text):
    units = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=os.path.join(REPO, ".build/release/dynamo-cache"))
    parser.add_argument("--budget", default="16MiB", help="--item-cache-size of each proxy")
    parser.add_argument("--sizes", default="100,1000,65536", help="item sizes in bytes, comma-separated")
    parser.add_argument("--overfill", type=float, default=1.5, help="items read, as a multiple of what fits")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the servers and the load with taskset")
    args = parser.parse_args()
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"no proxy binary at {args.bin}: swift build -c release --product dynamo-cache")
    budget = parse_size(args.budget)

    def pinned(cpu, argv):
        return argv if args.no_pin else ["taskset", "-c", str(cpu), *argv]

    work = tempfile.mkdtemp(prefix="dynamo-cache-memory-")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="memory", AWS_SECRET_ACCESS_KEY="memory", AWS_REGION="us-east-1")
    moto_port = free_port()
    moto = subprocess.Popen(pinned(0, [os.path.join(REPO, "ops/moto-server.sh"), str(moto_port)]),
                            stdout=open(os.path.join(work, "moto.log"), "w"), stderr=subprocess.STDOUT)
    rows = []
    try:
        wait_port(moto_port)
        print(f"item cache budget {budget / MIB:.1f} MiB; aim: allocated <= 1.25 x budget + 16 MiB "
              f"= {(1.25 * budget + 16 * MIB) / MIB:.1f} MiB")
        print(f"{'item B':>7} {'read':>7} {'entries':>8} {'charged MiB':>11} {'allocated MiB':>13} "
              f"{'idle MiB':>8} {'alloc/budget':>12} {'B/entry':>8}")
        for size in (int(s) for s in args.sizes.split(",")):
            rows.append(measure(args, budget, size, moto_port, work, env, pinned))
            r = rows[-1]
            print(f"{size:7d} {r['read']:7d} {r['entries']:8d} {r['charged'] / MIB:11.1f} "
                  f"{r['allocated'] / MIB:13.1f} {r['idle'] / MIB:8.1f} {r['allocated'] / budget:12.2f} "
                  f"{r['allocatedPerEntry']:8.0f}", flush=True)
    finally:
        moto.terminate()
        moto.wait(timeout=30)
    worst = max(r["allocated"] + r["idle"] for r in rows)
    verdict = "within" if worst <= 1.25 * budget + 16 * MIB else "OVER"
    print(f"largest allocated in all: {worst / MIB:.1f} MiB, {verdict} the aim")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"budget": budget, "rows": rows}, f, indent=2)
    return 0 if verdict == "within" else 1


def measure(args, budget, size, moto_port, work, env, pinned):
    data_port, admin_port = free_port(), free_port()
    proxy = subprocess.Popen(
        pinned(0, [args.bin, "serve", "--upstream", f"http://127.0.0.1:{moto_port}", "--threads", "1",
                   "--listen", f"127.0.0.1:{data_port}", "--admin-listen", f"127.0.0.1:{admin_port}",
                   "--item-cache-size", str(budget), "--query-cache-size", "1MiB", "--item-ttl", "0"]),
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, f"proxy-{size}.log"), "w"), env=env)
    try:
        wait_port(data_port)
        wait_port(admin_port)
        idle = json.loads(get(f"http://127.0.0.1:{admin_port}/stats"))["memory"]["allocated_bytes"]
        # An entry costs its body (the item's JSON, about `size` plus its key) and a few hundred bytes more.
        items = int(budget / (size + 300) * args.overfill) + 1
        out = os.path.join(work, f"bench-{size}.json")
        subprocess.run(
            pinned(1, [args.bin, "bench", "--target", f"proxy=http://127.0.0.1:{data_port}",
                       "--table", f"memory-{size}", "--items", str(items), "--item-size", str(size),
                       "--workload", "get-once", "--requests", str(items), "--warmup", "0s", "--rounds", "1",
                       "--connections", "8", "--quiet", "--json", out]),
            check=True, env=env, stdout=subprocess.DEVNULL)
        stats = json.loads(get(f"http://127.0.0.1:{admin_port}/stats"))
        cache = stats["caches"]["item"]
        allocated = stats["memory"]["allocated_bytes"] - idle
        return {"itemSize": size, "read": items, "entries": cache["entries"], "charged": cache["bytes"],
                "allocated": allocated, "idle": idle,
                "allocatedPerEntry": allocated / max(cache["entries"], 1),
                "chargedPerEntry": cache["bytes"] / max(cache["entries"], 1)}
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
