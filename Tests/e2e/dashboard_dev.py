"""Serve the DynamoCache dashboard with a fake, changing /stats (the monitoring contract), without the proxy.

    python3 Tests/e2e/dashboard_dev.py [--port 8099]     then open http://127.0.0.1:8099/

The page is read from Sources/Server/DashboardPage.swift on every request, so an edit shows on reload.
The page fetches the relative URL "stats", so each path prefix below is its own scenario:

    /          traffic: ratios, latencies and a growing history (one sample per second, at most 300)
    /empty/    just started: empty history, no lookups yet, latency nulls
    /sparse/   light traffic: a short history where lookups happened in isolated seconds (dots, not lines)
    /flaky/    the first /stats answers, every later one fails with 503 (banner, last figures kept)
    /down/     /stats always fails

test_dashboard.py uses this module (page_html, DevServer) for the states the real proxy cannot be put in.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
SWIFT_FILE = os.path.join(HERE, "..", "..", "Sources", "Server", "DashboardPage.swift")
OPEN, CLOSE = '#"""\n', '"""#'


def page_html(path: str = SWIFT_FILE) -> str:
    """The page as Swift holds it: the multi-line raw string between the `#\"\"\"` and `\"\"\"#` lines, with the
    closing delimiter's indentation removed from every line (Swift's rule; `swift format` indents the body)."""
    with open(path, encoding="utf-8") as f:
        src = f.read()
    start = src.index(OPEN) + len(OPEN)
    close = src.index(CLOSE, start)
    line_start = src.rindex("\n", start - 1, close) + 1
    indent = src[line_start:close]
    assert indent.strip() == "", "the closing delimiter must stand on its own line"
    lines = src[start:line_start - 1].split("\n")
    return "\n".join(line[len(indent):] if line.startswith(indent) else line.lstrip(" ") for line in lines)


def cache(hits: int, misses: int, ratio_1m: float | None, *, memory: bool = True) -> dict:
    c = {"hits": hits, "misses": misses, "hit_ratio": hits / (hits + misses) if hits + misses else None,
         "hit_ratio_1m": ratio_1m}
    if memory:
        cap = 256 * 1024 * 1024
        used = min(cap, hits * 300 + 12_345_678)
        c.update(entries=hits // 7, bytes=used, capacity_bytes=cap, memory_utilization=used / cap, evictions=0,
                 evicted_bytes=0, expirations=0, invalidations=3, discarded_fills=0, rejected_too_large=0)
    return c


def lookups(hits: int, misses: int, t: int = 0) -> dict:
    """One second's lookups, all caches together and split as /stats splits them: most in the item cache, some
    Query pages (whose ratio differs), a few Scan pages."""
    query_hits, query_misses = hits // 8, misses // 3
    scan_hits, scan_misses = (2, 1) if hits and t % 3 == 0 else (0, 0)
    scan_hits, scan_misses = min(scan_hits, hits - query_hits), min(scan_misses, misses - query_misses)
    return {"hits": hits, "misses": misses,
            "item_hits": hits - query_hits - scan_hits, "item_misses": misses - query_misses - scan_misses,
            "query_hits": query_hits, "query_misses": query_misses, "scan_hits": scan_hits, "scan_misses": scan_misses}


def fake_stats(started: float, empty: bool = False, sparse: bool = False) -> dict:
    """A /stats document that changes with time; `empty` is a proxy that has seen no request yet, `sparse` one
    that has seen a handful, in two separate seconds of a 6-second history."""
    now = time.time()
    up = now - started
    hist = []
    if sparse:
        for i, t in enumerate(range(int(now) - 5, int(now) + 1)):
            n = 5 if i in (1, 3) else 0
            hist.append({"t": t, "requests": n, **lookups(4 if n else 0, 1 if n else 0),
                         "p50_ms": 0.38 if n else None, "p99_ms": 7.2 - i if n else None,
                         "resident_bytes": 8_400_000 + 20_000 * i})
    elif not empty:
        t_now = int(now)
        for t in range(t_now - min(299, int(up) + 120), t_now + 1):
            req = int(900 + 400 * math.sin(t / 17) + (t * 7919) % 150)
            if t % 45 < 4 and t != t_now - 30:
                hist.append({"t": t, "requests": 0, **lookups(0, 0), "p50_ms": None, "p99_ms": None,
                             "resident_bytes": 180_000_000 + (t % 300) * 40_000})
                continue
            miss = int(req * (0.04 + 0.03 * math.sin(t / 29)))
            hist.append({"t": t, "requests": req, **lookups(req - miss, miss, t),
                         # A spike now and then: the log-scale axis keeps p50 readable beside it.
                         "p50_ms": 0.11 + 0.02 * math.sin(t / 11),
                         "p99_ms": 459.0 if t == t_now - 30 else 0.4 + 0.25 * abs(math.sin(t / 23)),
                         "resident_bytes": 180_000_000 + (t % 300) * 40_000})
    total = 0 if empty else int(up * 1000) + 123_456
    k = 0 if empty else int(up * 10)
    item = cache(0, 0, None) if empty else cache(100_000 + k * 9, 2_000 + k, 0.9 + 0.05 * math.sin(now / 30))
    query = cache(0, 0, None) if empty else cache(5_000 + k, 700, 0.87)
    scan = cache(0, 0, None, memory=False) if empty else cache(40, 10, None, memory=False)
    memory = {"allocator": "jemalloc", "version": "5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c",
                 "allocated_bytes": 150_000_000, "active_bytes": 160_000_000,
                 "resident_bytes": hist[-1]["resident_bytes"] if hist else 52_000_000,
                 "mapped_bytes": 200_000_000, "retained_bytes": 10_000_000}
    return {
        "uptime_seconds": round(up, 1),
        "connections": 0 if empty else 8,
        "requests": {"total": total, "errors": 0 if empty else 12, "faults": 0, "failed": 0 if empty else 12,
                     "throttled": 0, "by_outcome": {"hit": 0, "miss": 0, "partial": 0, "bypass": 0, "write": 0,
                                                    "rejected": 0}},
        "caches": {"item": item, "query": query, "scan": scan},
        "latency_ms_1m": ({"p50": None, "p90": None, "p99": None, "max": None} if empty else
                          {"p50": 0.12, "p90": 0.2, "p99": 0.43, "max": 3.1}),
        "memory": memory,
        "history": hist,
        "credentials": None,
        # A table name with markup in it: the page must show it as text.
        "streams": [] if empty else [{
            "table": "orders<b>bold</b>", "state": "following", "serving": True, "view_type": "NEW_AND_OLD_IMAGES",
            "shards": 1, "lag_seconds": 0.4, "since_current_seconds": 0.2, "records_applied": 1234,
            "own_records": 56, "flushes": {"trimmed": 0, "shard_gap": 1}, "errors": {"throttled": 2},
            "last_error": "GetRecords: LimitExceededException"}],
    }


class DevServer:
    """The fake admin listener on 127.0.0.1:port (0: any free port), in a background thread."""

    def __init__(self, port: int = 0):
        self.started = time.time()
        self.stats_served: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):  # quiet; the page polls every 2 s
                pass

            def _send(self, status: int, ctype: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                prefix, _, leaf = path.rpartition("/")
                if prefix not in ("", "/empty", "/sparse", "/flaky", "/down"):
                    return self._send(404, "text/plain", b"not found\n")
                if leaf == "":
                    return self._send(200, "text/html; charset=utf-8", page_html().encode())
                if leaf != "stats":
                    return self._send(404, "text/plain", b"not found\n")
                n = outer.stats_served[prefix] = outer.stats_served.get(prefix, 0) + 1
                if prefix == "/down" or (prefix == "/flaky" and n > 1):
                    return self._send(503, "text/plain", b"unavailable\n")
                doc = fake_stats(outer.started, empty=prefix == "/empty", sparse=prefix == "/sparse")
                self._send(200, "application/json", json.dumps(doc).encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8099)
    srv = DevServer(ap.parse_args().port)
    print(f"dashboard: {srv.url}/  (also /empty/ /sparse/ /flaky/ /down/)", flush=True)
    try:
        srv.thread.join()
    except KeyboardInterrupt:
        srv.stop()
