#!/usr/bin/env python3
"""DynamoCache's cache hits beside what a user could use instead, measured in one run with one client.

Starts moto_server (ops/moto-server.sh) and loads a table, then nginx (one worker: a proxy_cache in front of moto
and a `return 200` floor) and DynamoCache (`serve --threads 1`), warms the caches until a second pass reaches moto
not once, and measures each target with `wrk -t1`, alternating targets inside every repetition:

  moto         GetItem straight to moto_server: no cache
  nginx        GetItem through nginx proxy_cache (keyed on X-Amz-Target + body), 100% hits
  floor        GetItem to nginx `return 200` with moto's GetItem answer as body: the HTTP floor of machine + client
  proxy        GetItem through DynamoCache, 100% hits
  moto-query   Query of one 10-item partition straight to moto (moto scans its table on every Query: slow)
  nginx-query  the same Query through nginx proxy_cache, 100% hits
  proxy-query  the same Query through DynamoCache, 100% hits
  base, base-query  with BASE_BIN: the same as proxy and proxy-query through another build of dynamo-cache
                    (e.g. the one before a change), started beside the first in the same way

GetItem keys are uniform over all items; Query partitions uniform over the first QUERY_PKS (each one is warmed
through moto at moto's Query speed). Servers run on CPU 0, wrk on CPU 1. Per target and connection count it
reports medians over the repetitions of req/s, p50 and p99, the CPU time the server process used per request
(utime+stime from /proc/PID/stat; nginx: master + worker), the requests that reached moto during the timed runs
(counted in moto's own request log: 0 means every answer was a hit), and how much CPU everything else on the
machine used meanwhile (`other`, % of one core). It ends with the ratios proxy/nginx (req/s and p99), and
proxy/moto and proxy/base.

The table and wrk.lua's requests have the layout of `dynamo-cache bench`'s table (pk "p%06d", numeric sk), so
wrk.lua can also be pointed by hand at a proxy in front of a table bench prepared (TABLE=dynamo-cache-bench).

  Benchmarks/compare/run.py                      # defaults below, about 10 minutes
  REPS=1 DUR=5s Benchmarks/compare/run.py        # a quicker look
  Benchmarks/compare/run.py --quick --no-pin     # smoke mode (1 rep of 2 s, 1,000 items, c8): about a minute

Options: a flag, or the environment variable in capitals; the flag wins.
  --bin PATH          BIN          dynamo-cache binary (the repository's .build/release/dynamo-cache; build it
                                   with `swift build -c release --product dynamo-cache`)
  --base-bin PATH     BASE_BIN     a second dynamo-cache to measure beside it (targets base, base-query; added
                                   after proxy and proxy-query to the default targets)
  --items N           ITEMS        items loaded (10000)
  --item-size BYTES   ITEM_SIZE    DynamoDB size of each item (400)
  --per-pk N          PER_PK       items per partition, i.e. per Query answer (10)
  --query-pks N       QUERY_PKS    partitions the Query targets draw from (10)
  --conns LIST        CONNS        wrk connections for the GetItem targets ("8 32")
  --query-conns LIST  QUERY_CONNS  wrk connections for the Query targets ("8")
  --dur D             DUR          length of one timed run, e.g. 10s, 1m (10s)
  --reps N            REPS         repetitions; figures are medians over them (3)
  --targets LIST      TARGETS      which targets, in this order inside each repetition
                                   ("moto nginx floor proxy nginx-query proxy-query moto-query")
  --no-pin            PIN=0        no taskset (default PIN=1: servers on CPU 0, wrk on CPU 1; needs 2 CPUs)
  --out DIR           OUT          raw wrk outputs (raw/), server logs (logs/), summary.json, table.txt
                                   (/tmp/dynamo-cache-compare-DATE)
  --quick             QUICK=1      smoke mode: REPS=1 DUR=2s ITEMS=1000 CONNS=8 QUERY_CONNS=8 unless given
  --max-minutes N     MAX_MINUTES  hard bound on the whole run; past it everything is stopped (30)

Needs wrk and nginx (Debian: apt-get install -y wrk nginx-light), taskset (util-linux) unless PIN=0, moto_server
and boto3 (pip install 'moto[server]' boto3). It installs nothing. Everything binds 127.0.0.1 on free ports and is
stopped on exit, Ctrl-C and SIGTERM included. Exit status 1 if a timed run got non-2xx answers or a cache target's
run reached moto (its figures would not be those of hits).
"""
import argparse
import http.client
import importlib.util
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TABLE = "bench"
TICK = os.sysconf("SC_CLK_TCK")

# target -> (operation, server)
TARGETS = {
    "moto": ("GetItem", "moto"), "nginx": ("GetItem", "nginx"), "floor": ("GetItem", "floor"),
    "proxy": ("GetItem", "proxy"), "moto-query": ("Query", "moto"), "nginx-query": ("Query", "nginx"),
    "proxy-query": ("Query", "proxy"), "base": ("GetItem", "base"), "base-query": ("Query", "base"),
}
PROXIES = ("proxy", "base")             # the servers that are dynamo-cache
DEFAULTS = dict(bin=".build/release/dynamo-cache", base_bin="", items=10000, item_size=400, per_pk=10, query_pks=10,
                conns="8 32", query_conns="8", dur="10s", reps=3,
                targets="moto nginx floor proxy nginx-query proxy-query moto-query", out="", max_minutes=30.0)
QUICK = dict(items=1000, reps=1, dur="2s", conns="8", query_conns="8")
# The same static headers as wrk.lua (moto needs a SigV4-shaped Authorization to route to DynamoDB).
HEADERS = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Date": "20260101T000000Z",
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/dynamodb/aws4_request, "
                     "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64,
}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def die(msg, code=1):
    log(f"ERROR: {msg}")
    sys.exit(code)


def options():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="See the top of this file for every option and its variable.")
    p.add_argument("--bin"); p.add_argument("--base-bin"); p.add_argument("--items", type=int); p.add_argument("--item-size", type=int)
    p.add_argument("--per-pk", type=int); p.add_argument("--query-pks", type=int)
    p.add_argument("--conns"); p.add_argument("--query-conns"); p.add_argument("--dur")
    p.add_argument("--reps", type=int); p.add_argument("--targets"); p.add_argument("--out")
    p.add_argument("--max-minutes", type=float)
    p.add_argument("--no-pin", action="store_true"); p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    quick = args.quick or os.environ.get("QUICK") == "1"
    o = dict(DEFAULTS, **(QUICK if quick else {}))
    for name, default in DEFAULTS.items():       # flag > environment > (quick) default
        flag, env = getattr(args, name), os.environ.get(name.upper())
        if flag is not None:
            o[name] = flag
        elif env not in (None, ""):
            o[name] = type(default)(env) if not isinstance(default, str) else env
    o["quick"] = quick
    o["pin"] = not args.no_pin and os.environ.get("PIN", "1") != "0"
    o["conns"] = [int(c) for c in str(o["conns"]).split()]
    o["query_conns"] = [int(c) for c in str(o["query_conns"]).split()]
    o["targets"] = o["targets"].split()
    if o["base_bin"] and not (args.targets or os.environ.get("TARGETS")):
        o["targets"] = [x for t in o["targets"] for x in ([t, "base"] if t == "proxy" else
                                                         [t, "base-query"] if t == "proxy-query" else [t])]
    m = re.fullmatch(r"(\d+)(s|m)?", o["dur"])
    if not m:
        die(f"DUR must be like 10s or 1m, got {o['dur']!r}", 2)
    o["dur_s"] = int(m[1]) * (60 if m[2] == "m" else 1)
    for t in o["targets"]:
        if t not in TARGETS:
            die(f"unknown target {t!r}; known: {' '.join(TARGETS)}", 2)
        if TARGETS[t][1] == "base" and not o["base_bin"]:
            die(f"target {t} needs BASE_BIN", 2)
    if o["query_pks"] * o["per_pk"] > o["items"]:
        die("QUERY_PKS × PER_PK must not exceed ITEMS", 2)
    # the default binary is the repository's; a path given is taken from the current directory
    o["bin"] = os.path.join(ROOT, o["bin"]) if o["bin"] == DEFAULTS["bin"] else os.path.abspath(o["bin"])
    o["base_bin"] = o["base_bin"] and os.path.abspath(o["base_bin"])
    o["out"] = os.path.abspath(o["out"] or f"/tmp/dynamo-cache-compare-{time.strftime('%Y%m%d-%H%M%S')}")
    return o


def check_tools(o):
    """Finds wrk and nginx (Debian puts nginx in /usr/sbin, outside a user's PATH); names what to install."""
    need = [("wrk", "wrk")] + ([("taskset", "util-linux")] if o["pin"] else [])
    if any(TARGETS[t][1] in ("nginx", "floor") for t in o["targets"]):
        need.append(("nginx", "nginx-light"))
    for tool, _ in need:
        o[tool] = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    missing = [(tool, pkg) for tool, pkg in need if not o[tool]]
    if missing:
        die(f"{', '.join(t for t, _ in missing)} not found; on Debian: apt-get install -y "
            + " ".join(p for _, p in missing))
    if importlib.util.find_spec("boto3") is None:
        die("boto3 is missing: python3 -m pip install boto3")
    if not shutil.which("moto_server") and importlib.util.find_spec("moto") is None:
        die("moto_server is missing: python3 -m pip install 'moto[server]'")
    if not os.access(o["bin"], os.X_OK):
        die(f"no dynamo-cache binary at {o['bin']}: swift build -c release --product dynamo-cache, or --bin PATH")
    if o["base_bin"] and not os.access(o["base_bin"], os.X_OK):
        die(f"BASE_BIN {o['base_bin']} is not an executable")
    if o["pin"] and os.cpu_count() < 2:
        die("PIN=1 needs two CPUs (servers on 0, wrk on 1); run with PIN=0")


# ---- processes ---------------------------------------------------------------------------------------------

class Processes:
    """Every process this script starts, stopped in reverse order on exit (by its own PID, nothing else)."""

    def __init__(self):
        self.procs = []

    def start(self, name, cmd, log_path, cpu=None, stdout_path=None):
        if cpu is not None:
            cmd = [shutil.which("taskset"), "-c", str(cpu)] + cmd
        # Fresh logs ("wb"): the proxy's ready line and moto's request count are read from them.
        with open(log_path, "wb") as err, open(stdout_path, "wb") if stdout_path else err as out:
            p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        p.name = name
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    log(f"{p.name} ({p.pid}) ignored SIGTERM: killing it")
                    for child in children(p.pid):   # nginx workers would outlive a killed master
                        os.kill(child, signal.SIGKILL)
                    p.kill()
                    p.wait()
        self.procs = []


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait_port(port, proc, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            die(f"{proc.name} exited ({proc.returncode}) before listening on {port}; see its log")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    die(f"{proc.name} did not listen on {port} within {timeout}s")


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d))
    return out


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:                 # the process has just exited
        return b""


def nginx_pids(master):
    """The master and its workers (not the cache loader, which exits a minute after the start), looked up at
    every run: the master listens before it forks its worker."""
    end = time.monotonic() + 10
    while time.monotonic() < end:
        workers = [p for p in children(master) if b"worker process" in read(f"/proc/{p}/cmdline")]
        if workers:
            return [master] + workers
        time.sleep(0.1)
    die("nginx started no worker")


def cpu_seconds(pids):
    """utime + stime of the processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])        # fields 14 and 15 of the full line
    return total / TICK


def machine_busy_seconds():
    """CPU time all CPUs spent busy since boot (user, nice, system, irq, softirq, steal)."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / TICK


class MotoLog:
    """Counts the requests moto_server logged (werkzeug: one '"POST / HTTP/1.1" 200 -' line per request)."""

    def __init__(self, path):
        self.path, self.offset, self.n = path, 0, 0

    def count(self):
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        cut = data.rfind(b"\n") + 1                     # count whole lines only
        self.n += data[:cut].count(b'"POST / HTTP')
        self.offset += cut
        return self.n

    def settle(self, quiet=0.5, timeout=10):
        """Waits until moto has logged everything still in flight (after a moto-direct run, it answers the
        requests wrk abandoned at its end), so that they are not counted in the next run."""
        end, last = time.monotonic() + timeout, self.count()
        while time.monotonic() < end:
            time.sleep(quiet)
            if self.count() == last:
                return
            last = self.n


# ---- data --------------------------------------------------------------------------------------------------

def key(i, per_pk):
    """Item i's key, as `dynamo-cache bench` lays out its table: partition i // per_pk, numeric sort key."""
    return "p%06d" % (i // per_pk), str(i % per_pk)


def item(i, o):
    pk, sk = key(i, o["per_pk"])
    fill = max(1, o["item_size"] - (2 + len(pk)) - (2 + len(sk)) - 4)   # DynamoDB size: names + values
    base = ("%06d-" % i) + "abcdefghijklmnopqrstuvwxyz0123456789" * 4    # differs per item
    return {"pk": {"S": pk}, "sk": {"N": sk}, "data": {"S": (base * (fill // len(base) + 1))[:fill]}}


def body(op, i, o):
    """The request body, byte for byte as wrk.lua sends it (nginx keys its cache on the exact bytes)."""
    if op == "Query":
        return ('{"TableName":"%s","KeyConditionExpression":"pk = :p",'
                '"ExpressionAttributeValues":{":p":{"S":"p%06d"}}}' % (TABLE, i))
    pk, sk = key(i, o["per_pk"])
    return '{"TableName":"%s","Key":{"pk":{"S":"%s"},"sk":{"N":"%s"}}}' % (TABLE, pk, sk)


def load(port, o):
    import boto3
    from botocore.config import Config
    c = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                     aws_access_key_id="AKIDBENCH", aws_secret_access_key="benchsecret",
                     config=Config(retries={"max_attempts": 10, "mode": "standard"}))
    c.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                   AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                         {"AttributeName": "sk", "AttributeType": "N"}],
                   KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                              {"AttributeName": "sk", "KeyType": "RANGE"}])
    for start in range(0, o["items"], 25):                       # BatchWriteItem takes 25 at most
        pending = {TABLE: [{"PutRequest": {"Item": item(i, o)}}
                           for i in range(start, min(start + 25, o["items"]))]}
        while pending:
            pending = c.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    count, page = 0, {"Select": "COUNT", "TableName": TABLE}
    while True:
        r = c.scan(**page)
        count += r["Count"]
        if "LastEvaluatedKey" not in r:
            break
        page["ExclusiveStartKey"] = r["LastEvaluatedKey"]
    if count != o["items"]:
        die(f"moto holds {count} items, {o['items']} were written")


def post(conn, op, payload):
    conn.request("POST", "/", body=payload, headers=dict(HEADERS, **{"X-Amz-Target": f"DynamoDB_20120810.{op}"}))
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise RuntimeError(f"{op} answered {r.status}: {data[:300]!r}")
    return data, r.getheader("Connection", "").lower() == "close"


def warm(port, op, keys, o, threads=8):
    """Sends every request of the workload once, on `threads` keep-alive connections."""
    it, lock, failures = iter(keys), threading.Lock(), []

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while True:
                with lock:
                    i = next(it, None)
                if i is None:
                    return
                _, closed = post(conn, op, body(op, i, o))
                if closed:
                    conn.close()
        except Exception as e:              # reported by the caller, so a broken server stops the run
            failures.append(e)
        finally:
            conn.close()

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if failures:
        die(f"warm-up through port {port} failed: {failures[0]}")


# ---- measurement -------------------------------------------------------------------------------------------

def proxy_misses(admin):
    text = urllib.request.urlopen(f"{admin}/metrics", timeout=10).read().decode()
    return sum(float(m[1]) for m in re.finditer(r"^dynamocache_cache_misses_total\{[^}]*\} (\S+)$", text, re.M))


def measure(target, conns, rep, o, env):
    op, server = TARGETS[target]
    port, pids = env["ports"][server], env["pids"][server]
    pids = pids() if callable(pids) else pids
    for p in env["procs"].procs:
        if p.poll() is not None:
            die(f"{p.name} exited ({p.returncode}) during the run; see {o['out']}/logs")
    label = f"{target}-c{conns}-r{rep}"
    cmd = ([o["taskset"], "-c", "1"] if o["pin"] else []) + [
        o["wrk"], "-t1", f"-c{conns}", f"-d{o['dur_s']}s", "--latency", "--timeout", "10s",   # moto's Query: ~1 s
        "-s", os.path.join(HERE, "wrk.lua"), f"http://127.0.0.1:{port}/"]
    wrk_env = dict(os.environ, OP=op, TABLE=TABLE, ITEMS=str(o["items"]), PER_PK=str(o["per_pk"]),
                   QUERY_PKS=str(o["query_pks"]))
    env["moto_log"].settle()
    misses0 = proxy_misses(env["admin"][server]) if server in PROXIES else None
    moto0, cpu0, busy0 = env["moto_log"].count(), cpu_seconds(pids), machine_busy_seconds()
    ru0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    r = subprocess.run(cmd, env=wrk_env, capture_output=True, text=True, timeout=o["dur_s"] + 60)
    wall = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)         # wrk is the only child that ended meanwhile
    cpu1, busy1 = cpu_seconds(pids), machine_busy_seconds()
    moto1 = env["moto_log"].count()
    with open(os.path.join(o["out"], "raw", label + ".txt"), "w") as f:
        f.write(f"$ {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    m = re.search(r"^WRKJSON (.*)$", r.stdout, re.M)
    if r.returncode != 0 or not m:
        die(f"wrk failed for {label}:\n{r.stdout}{r.stderr}")
    w = json.loads(m[1])
    secs, n = w["duration_us"] / 1e6, max(w["requests"], 1)
    wrk_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    server_cpu = cpu1 - cpu0
    run = dict(target=target, op=op, conns=conns, rep=rep, requests=w["requests"], rps=w["requests"] / secs,
               p50_ms=w["p50_us"] / 1000, p99_ms=w["p99_us"] / 1000, max_ms=w["max_us"] / 1000,
               non2xx=w["non2xx"], socket_errors=w["socket_errors"],
               cpu_us_per_req=server_cpu / n * 1e6, server_cpu_pct=100 * server_cpu / wall,
               wrk_cpu_pct=100 * wrk_cpu / wall, machine_busy_pct=100 * (busy1 - busy0) / wall,
               moto_requests=moto1 - moto0)
    # other: what the rest of the machine (not the server under test, not wrk) used, % of one core
    run["other_cpu_pct"] = run["machine_busy_pct"] - run["server_cpu_pct"] - run["wrk_cpu_pct"]
    if misses0 is not None:
        run["proxy_misses"] = proxy_misses(env["admin"][server]) - misses0
    log(f"rep {rep} {target:<11} c{conns:<3} {run['rps']:>9,.0f} req/s  p50 {run['p50_ms']:.3f} ms  "
        f"p99 {run['p99_ms']:.3f} ms  {run['cpu_us_per_req']:.1f} µs CPU/req  moto {run['moto_requests']}  "
        f"other {run['other_cpu_pct']:.0f}%")
    return run


def conns_of(target, o):
    return o["query_conns"] if TARGETS[target][0] == "Query" else o["conns"]


def summarize(runs, o):
    rows = []
    for target in o["targets"]:
        for conns in conns_of(target, o):
            rs = [r for r in runs if r["target"] == target and r["conns"] == conns]
            med = lambda k: statistics.median(r[k] for r in rs)  # noqa: E731
            rows.append(dict(target=target, op=TARGETS[target][0], conns=conns, reps=len(rs), rps=med("rps"),
                             p50_ms=med("p50_ms"), p99_ms=med("p99_ms"), cpu_us_per_req=med("cpu_us_per_req"),
                             other_cpu_pct=med("other_cpu_pct"), moto_requests=sum(r["moto_requests"] for r in rs),
                             errors=sum(r["non2xx"] + r["socket_errors"] for r in rs)))
    ratios = []
    pairs = [("proxy", "nginx"), ("proxy-query", "nginx-query"), ("proxy", "moto"), ("proxy-query", "moto-query"),
             ("proxy", "base"), ("proxy-query", "base-query")]
    for a, b in pairs:
        for conns in dict.fromkeys(o["conns"] + o["query_conns"]):
            ra = next((r for r in rows if r["target"] == a and r["conns"] == conns), None)
            rb = next((r for r in rows if r["target"] == b and r["conns"] == conns), None)
            if ra and rb:
                ratios.append(dict(a=a, b=b, conns=conns, rps=ra["rps"] / rb["rps"],
                                   p99=ra["p99_ms"] / rb["p99_ms"]))
    return rows, ratios


def table(rows, ratios, header):
    def ms(x):
        return f"{x:.3f}" if x < 10 else f"{x:.1f}"
    lines = header + ["", f"{'target':<12}{'op':<8}{'conns':>5}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
                          f"{'CPU µs/req':>11}{'moto reqs':>10}{'other %':>8}{'errors':>7}"]
    for r in rows:
        lines.append(f"{r['target']:<12}{r['op']:<8}{r['conns']:>5}{r['rps']:>10,.0f}{ms(r['p50_ms']):>9}"
                     f"{ms(r['p99_ms']):>9}{r['cpu_us_per_req']:>11.1f}{r['moto_requests']:>10}"
                     f"{r['other_cpu_pct']:>8.0f}{r['errors']:>7}")
    lines += ["", "medians over reps; CPU µs/req: the server's CPU time per answer; moto reqs: requests that reached",
              "moto during the timed runs, summed (0: all hits); other %: CPU the rest of the machine used meanwhile",
              "(% of one core; not the server, not wrk)", ""]
    for x in ratios:
        lines.append(f"{x['a']}/{x['b']} c{x['conns']}: req/s ×{x['rps']:.3g}, p99 ×{x['p99']:.3g}")
    return "\n".join(lines)


def cpu_model():
    m = re.search(r"^model name\s*:\s*(.*)$", open("/proc/cpuinfo").read(), re.M)
    return m[1] if m else platform.machine()


def version(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except Exception:
        return "?"


def main():
    o = options()
    check_tools(o)
    for d in ("raw", "logs", "nginx"):
        os.makedirs(os.path.join(o["out"], d), exist_ok=True)
    logs = os.path.join(o["out"], "logs")
    servers = {TARGETS[t][1] for t in o["targets"]}
    cpu0 = 0 if o["pin"] else None
    procs = Processes()

    def on_signal(sig, _frame):
        log(f"signal {sig}: stopping everything this run started")
        raise SystemExit(128 + sig)         # unwinds into the finally below, which stops everything
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    signal.signal(signal.SIGALRM, lambda *_: die(f"time limit of {o['max_minutes']:g} minutes reached"))
    signal.alarm(int(o["max_minutes"] * 60))

    try:
        moto_port, cache_port, floor_port = free_ports(3)
        timed = o["reps"] * o["dur_s"] * sum(len(conns_of(t, o)) for t in o["targets"])
        log(f"results in {o['out']}; timed runs take {timed // 60}m{timed % 60:02d}s, plus loading and warm-up")

        moto = procs.start("moto_server", [os.path.join(ROOT, "ops/moto-server.sh"), str(moto_port)],
                           os.path.join(logs, "moto.log"), cpu=cpu0)
        wait_port(moto_port, moto, 60)
        moto_log = MotoLog(os.path.join(logs, "moto.log"))
        t = time.monotonic()
        load(moto_port, o)
        load_s = time.monotonic() - t
        if moto_log.count() == 0:
            die("moto logged no requests: cannot count the requests that reach it (see logs/moto.log)")
        log(f"loaded {o['items']} items of ~{o['item_size']} B ({o['per_pk']} per partition) in {load_s:.0f}s")
        env = dict(procs=procs, moto_log=moto_log, ports=dict(moto=moto_port, nginx=cache_port, floor=floor_port),
                   pids=dict(moto=[moto.pid]), admin={})

        if servers & {"nginx", "floor"}:
            conn = http.client.HTTPConnection("127.0.0.1", moto_port, timeout=30)
            floor_body = post(conn, "GetItem", body("GetItem", 0, o))[0].decode()   # moto's real answer
            conn.close()
            if re.search(r"['$\\]", floor_body):
                die("the floor body would need escaping in nginx.conf")
            run_dir = os.path.join(o["out"], "nginx")
            conf = open(os.path.join(HERE, "nginx.conf.tmpl")).read()
            for k, v in dict(USER="user root;" if os.geteuid() == 0 else "", RUN=run_dir, CACHE_PORT=cache_port,
                             FLOOR_PORT=floor_port, MOTO_PORT=moto_port, FLOOR_BODY=floor_body).items():
                conf = conf.replace(f"@{k}@", str(v))   # `user root`: workers reach the run directory
            with open(os.path.join(run_dir, "nginx.conf"), "w") as f:
                f.write(conf)
            nginx = procs.start("nginx", [o["nginx"], "-c", os.path.join(run_dir, "nginx.conf"), "-e", "stderr",
                                          "-g", "daemon off;"], os.path.join(logs, "nginx.log"), cpu=cpu0)
            wait_port(cache_port, nginx, 20)
            wait_port(floor_port, nginx, 20)
            env["pids"]["nginx"] = env["pids"]["floor"] = lambda: nginx_pids(nginx.pid)

        for name in PROXIES:
            if name not in servers:
                continue
            # TTLs of an hour: entries stored while warming must outlive the run (a hit does not extend them).
            out_path = os.path.join(logs, f"{name}.out")
            proxy = procs.start(f"dynamo-cache ({name})", [
                o["bin"] if name == "proxy" else o["base_bin"], "serve", "--listen", "127.0.0.1:0",
                "--admin-listen", "127.0.0.1:0", "--upstream", f"http://127.0.0.1:{moto_port}", "--threads", "1",
                "--item-ttl", "1h", "--query-ttl", "1h", "--log-level", "warning"],
                os.path.join(logs, f"{name}.err"), cpu=cpu0, stdout_path=out_path)
            ready, end = r"ready: data=http://127\.0\.0\.1:(\d+) admin=(\S+)", time.monotonic() + 30
            while not (m := re.search(ready, open(out_path).read())):
                if proxy.poll() is not None or time.monotonic() > end:
                    die(f"dynamo-cache ({name}) did not start: "
                        + open(os.path.join(logs, f"{name}.err")).read()[-2000:])
                time.sleep(0.1)
            env["ports"][name], env["admin"][name], env["pids"][name] = int(m[1]), m[2], [proxy.pid]

        # Warm-up: a first pass stores every answer, a second must not reach moto at all.
        warmed = []
        for target in o["targets"]:
            op, server = TARGETS[target]
            if server in ("nginx",) + PROXIES and (server, op) not in warmed:
                keys = range(o["query_pks"] if op == "Query" else o["items"])
                t = time.monotonic()
                warm(env["ports"][server], op, keys, o)
                moto_log.settle()
                before = moto_log.count()
                warm(env["ports"][server], op, keys, o)
                moto_log.settle()
                if moto_log.count() != before:
                    die(f"{server} sent {moto_log.count() - before} of a second warm-up pass to moto")
                log(f"warmed {server} with {len(keys)} {op} requests in {time.monotonic() - t:.0f}s: "
                    "second pass all hits")
                warmed.append((server, op))

        header = [f"date {time.strftime('%Y-%m-%d %H:%M:%S')}  {os.cpu_count()} CPUs "
                  f"({cpu_model()}), load average at start "
                  f"{open('/proc/loadavg').read().split()[0]}",
                  f"{version([o['nginx'], '-v']) if o.get('nginx') else ''}; {version([o['wrk'], '-v'])}; moto "
                  + version([sys.executable, "-c", "import moto; print(moto.__version__)"]),
                  f"{o['items']} items of ~{o['item_size']} B, Query: {o['per_pk']}-item partitions among "
                  f"{o['query_pks']}; wrk -t1 -d{o['dur_s']}s, {o['reps']} rep(s); "
                  + ("servers on CPU 0, wrk on CPU 1" if o["pin"] else "PIN=0: no pinning")]
        runs = []
        for rep in range(1, o["reps"] + 1):
            for target in o["targets"]:
                for conns in conns_of(target, o):
                    runs.append(measure(target, conns, rep, o, env))

        rows, ratios = summarize(runs, o)
        text = table(rows, ratios, header)
        print(text)
        problems = [f"{r['target']} c{r['conns']}: {r['non2xx']} non-2xx answers" for r in runs if r["non2xx"]]
        problems += [f"{r['target']} c{r['conns']} rep {r['rep']}: {r['moto_requests']} requests reached moto"
                     for r in runs if TARGETS[r["target"]][1] != "moto" and r["moto_requests"]]
        problems += [f"{r['target']} c{r['conns']} rep {r['rep']}: the proxy counted {r['proxy_misses']:g} misses"
                     for r in runs if r.get("proxy_misses")]
        for p in problems:
            print(f"WARNING: {p}")
        with open(os.path.join(o["out"], "table.txt"), "w") as f:
            f.write(text + "\n" + "".join(f"WARNING: {p}\n" for p in problems))
        with open(os.path.join(o["out"], "summary.json"), "w") as f:
            json.dump(dict(header=header, options=o, load_seconds=load_s,
                           summary=rows, ratios=ratios, runs=runs, ok=not problems), f, indent=1)
        log(f"raw wrk outputs, logs, summary.json and table.txt in {o['out']}")
        return 1 if problems else 0
    finally:
        signal.alarm(0)
        procs.stop_all()
        for d in ("cache", "body", "proxy", "fastcgi", "uwsgi", "scgi"):   # nginx scratch, not results
            shutil.rmtree(os.path.join(o["out"], "nginx", d), ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:       # main's finally has already stopped everything
        log("interrupted")
        sys.exit(130)
