#!/usr/bin/env python3
"""Checks the monitoring files against the DynamoCache metrics contract.

    python3 ops/monitoring/check_dashboard.py [--contract CONTRACT.md]

- grafana-dashboard.json: valid JSON, schemaVersion >= 36, a `DS_PROMETHEUS` datasource variable that every
  panel and query uses, unique panel ids, grid positions inside 24 columns;
- grafana-dashboard.json and alerts.yml: every metric in every PromQL expression is a contract metric (histograms
  as _bucket/_sum/_count), plus Prometheus's own `up`; every label matcher names a label that metric has
  (or job/instance, le on _bucket) and, for the closed label sets, a value of the set; `by (...)` labels exist;
- with promtool on PATH, every expression also parses (wrapped in a throwaway rules file, Grafana variables
  substituted).
With --contract, the metric table of the contract document (markdown) must equal the copy below.
Exit status 0 when all is well, 1 otherwise.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))

# The contract (issue 5): metric -> (type, labels). Keep in step with the contract document.
METRICS = {
    "dynamocache_cache_hits_total": ("counter", {"cache"}),
    "dynamocache_cache_misses_total": ("counter", {"cache"}),
    "dynamocache_requests_total": ("counter", {"operation"}),
    "dynamocache_request_errors_total": ("counter", set()),
    "dynamocache_request_faults_total": ("counter", set()),
    "dynamocache_requests_failed_total": ("counter", set()),
    "dynamocache_requests_throttled_total": ("counter", set()),
    "dynamocache_client_connections": ("gauge", set()),
    "dynamocache_cache_bytes": ("gauge", {"cache"}),
    "dynamocache_cache_capacity_bytes": ("gauge", {"cache"}),
    "dynamocache_cache_memory_utilization_ratio": ("gauge", {"cache"}),
    "dynamocache_cache_entries": ("gauge", {"cache"}),
    "dynamocache_cache_evicted_bytes_total": ("counter", {"cache"}),
    "dynamocache_cache_evictions_total": ("counter", {"cache"}),
    "dynamocache_request_duration_seconds": ("histogram", {"operation", "outcome"}),
    "dynamocache_upstream_request_duration_seconds": ("histogram", set()),
    "dynamocache_upstream_errors_total": ("counter", {"kind"}),
    "dynamocache_fills_discarded_total": ("counter", {"cache"}),
    "dynamocache_singleflight_joins_total": ("counter", {"cache"}),
    "dynamocache_invalidations_total": ("counter", {"cause"}),
    "dynamocache_fail_open_total": ("counter", {"cause"}),
    "dynamocache_jemalloc_allocated_bytes": ("gauge", set()),
    "dynamocache_jemalloc_resident_bytes": ("gauge", set()),
    "dynamocache_upstream_ready": ("gauge", set()),
    "dynamocache_credentials_refreshes_total": ("counter", set()),
    "dynamocache_credentials_refresh_failures_total": ("counter", set()),
    "dynamocache_credentials_usable": ("gauge", set()),
    "dynamocache_credentials_expiry_seconds": ("gauge", set()),
    "dynamocache_stream_lag_seconds": ("gauge", {"table"}),
    "dynamocache_stream_since_current_seconds": ("gauge", {"table"}),
    "dynamocache_stream_serving": ("gauge", {"table"}),
    "dynamocache_stream_records_total": ("counter", {"table", "origin"}),
    "dynamocache_stream_flushes_total": ("counter", {"table", "reason"}),
    "dynamocache_stream_errors_total": ("counter", {"table", "error"}),
    "dynamocache_client_connections_refused_total": ("counter", set()),
    "dynamocache_client_timeouts_total": ("counter", {"kind"}),
    "dynamocache_upstream_inflight": ("gauge", set()),
}
# Metrics whose `cache` label is item|query only (scan exists only on hits and misses).
ITEM_QUERY_ONLY = {m for m in METRICS if "cache" in METRICS[m][1]} - {
    "dynamocache_cache_hits_total", "dynamocache_cache_misses_total"}
VALUES = {
    "operation": {"GetItem", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "Query", "Scan",
                  "TransactGetItems", "TransactWriteItems", "ExecuteStatement", "BatchExecuteStatement",
                  "ExecuteTransaction", "CreateTable", "DeleteTable", "UpdateTable", "DescribeTable", "Other",
                  "Streams", "NotDynamoDB"},
    "outcome": {"hit", "miss", "partial", "bypass", "write", "rejected"},
    "cache": {"item", "query", "scan"},
    "kind": {"unreachable", "timeout", "connection_lost", "invalid_response", "tls_refused", "no_credentials",
             "overloaded"},
    "cause": {"write", "condition_failed", "unknown_outcome", "table_operation", "partiql", "not_found", "flush",
              "non_canonical", "stream", "stream_lost",
              "stored_entry", "unreadable_answer", "unexpected_error"},  # the last three: fail_open's
    "origin": {"own", "other"},
    "reason": {"trimmed", "shard_gap", "expired_iterator", "stream_disabled", "stream_replaced", "unreadable"},
    "error": {"throttled", "no_credentials", "transport", "server_error", "refused", "invalid_answer"},
}
TARGET_LABELS = {"job", "instance"}
OTHER_METRICS = {"up": set()}  # Prometheus's own scrape metric

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool",
            "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
            "group", "inf", "nan", "atan2"}

errors = []


def err(where, message):
    errors.append(f"{where}: {message}")


def resolve(name):
    """Contract (metric, labels, is_bucket) for a series name, or None."""
    if name in METRICS:
        kind, labels = METRICS[name]
        return (None if kind == "histogram" else (name, labels, False))
    if name in OTHER_METRICS:
        return name, OTHER_METRICS[name], False
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and METRICS.get(base, ("",))[0] == "histogram":
            return base, METRICS[base][1], suffix == "_bucket"
    return None


def check_expr(where, expr):
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # strings out (label values kept below)
    # Selectors: name{matchers}
    for m in re.finditer(r'([A-Za-z_:][A-Za-z0-9_:]*)?\s*\{([^}]*)\}', expr):
        name, body = m.group(1), m.group(2)
        if not name or name in KEYWORDS:
            continue
        r = resolve(name)
        if r is None:
            continue                                          # reported below as unknown metric
        base, labels, bucket = r
        allowed = labels | TARGET_LABELS | ({"le"} if bucket else set())
        for lm in re.finditer(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"', body):
            label, op, value = lm.groups()
            if label == "__name__":
                err(where, f"__name__ matcher not checked: {expr}")
                continue
            if label not in allowed:
                err(where, f"{name} has no label {label!r} (contract: {sorted(labels) or 'none'})")
                continue
            if label in VALUES and "$" not in value:
                closed = VALUES[label]
                if label == "cache" and base in ITEM_QUERY_ONLY:
                    closed = {"item", "query"}
                wanted = value.split("|") if op in ("=~", "!~") else [value]
                for v in wanted:
                    if v not in closed:
                        err(where, f"{name}{{{label}}}: {v!r} is not one of {sorted(closed)}")
    # Grouping labels must exist somewhere in the contract.
    known = set().union(*(l for _, l in METRICS.values())) | TARGET_LABELS | {"le"}
    for g in re.finditer(r'\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)', text):
        for label in filter(None, (s.strip() for s in g.group(1).split(","))):
            if label not in known:
                err(where, f"grouping label {label!r} is in no contract metric")
    # Metric names: identifiers left once strings, matchers, groupings, ranges, numbers and functions are gone.
    bare = re.sub(r'\{[^}]*\}', ' ', text)
    bare = re.sub(r'\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)', ' ', bare)
    bare = re.sub(r'\[[^\]]*\]', ' ', bare)
    bare = re.sub(r'\$\{?\w+\}?', ' ', bare)
    for tok in re.finditer(r'(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?', bare):
        name, call = tok.group(1), tok.group(2)
        if call or name.lower() in KEYWORDS or re.fullmatch(r'\d.*', name):
            continue
        if re.fullmatch(r'\d+(ms|s|m|h|d|w|y)', name):
            continue
        if resolve(name) is None:
            err(where, f"metric {name!r} is not in the contract" + (" (histogram: use _bucket/_sum/_count)"
                                                                   if name in METRICS else ""))


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def check_dashboard(path):
    try:
        with open(path) as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        err(path, f"not valid JSON: {e}")
        return []
    if dash.get("schemaVersion", 0) < 36:
        err(path, f"schemaVersion {dash.get('schemaVersion')} < 36")
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("DS_PROMETHEUS")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        err(path, "no datasource variable DS_PROMETHEUS of type prometheus")
    exprs = []
    for name, v in variables.items():
        if v.get("type") == "query":
            q = v.get("query")
            exprs.append((f"{path}: variable {name}", q.get("query") if isinstance(q, dict) else q))
            if (v.get("datasource") or {}).get("uid") != "${DS_PROMETHEUS}":
                err(path, f"variable {name} does not use ${{DS_PROMETHEUS}}")
    ids = set()
    for p in walk_panels(dash.get("panels", [])):
        where = f"{path}: panel {p.get('id')} {p.get('title')!r}"
        if p.get("id") in ids:
            err(where, "duplicate panel id")
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        if not g or g.get("x", 0) + g.get("w", 0) > 24:
            err(where, f"gridPos {g} outside 24 columns")
        if p.get("type") == "row":
            continue
        if (p.get("datasource") or {}).get("uid") != "${DS_PROMETHEUS}":
            err(where, "panel datasource is not ${DS_PROMETHEUS}")
        if not p.get("targets"):
            err(where, "no query")
        for t in p.get("targets", []):
            if (t.get("datasource") or {}).get("uid") != "${DS_PROMETHEUS}":
                err(where, f"query {t.get('refId')} datasource is not ${{DS_PROMETHEUS}}")
            exprs.append((f"{where} query {t.get('refId')}", t.get("expr", "")))
    for where, expr in exprs:
        if expr.startswith("label_values("):
            inner = re.fullmatch(r'label_values\((.*),\s*(\w+)\)', expr)
            if not inner:
                err(where, f"cannot read {expr}")
                continue
            check_expr(where, inner.group(1))
        else:
            check_expr(where, expr)
    return [e for _, e in exprs if not e.startswith("label_values(")] + \
           [re.fullmatch(r'label_values\((.*),\s*\w+\)', e).group(1) for _, e in exprs if e.startswith("label_values(")]


def check_alerts(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    exprs = []
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            where = f"{path}: {rule.get('alert') or rule.get('record')}"
            if "alert" in rule:
                if "severity" not in rule.get("labels", {}):
                    err(where, "no severity label")
                if not {"summary", "description"} <= set(rule.get("annotations", {})):
                    err(where, "needs summary and description annotations")
            check_expr(where, rule["expr"])
            exprs.append(rule["expr"])
    return exprs


def promtool_parse(exprs):
    """Every expression through promtool's PromQL parser (Grafana variables substituted)."""
    promtool = shutil.which("promtool")
    if not promtool:
        print("check_dashboard: promtool not found, PromQL syntax not checked")
        return
    def plain(e):
        e = e.replace("$__rate_interval", "5m").replace("$__interval", "1m")
        return re.sub(r'\$\{?\w+\}?', ".*", e)
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"check:expr{i}", "expr": plain(e)}
                                                          for i, e in enumerate(exprs)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump(rules, f)
    try:
        r = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
        if r.returncode != 0:
            err("promtool", (r.stdout + r.stderr).strip())
        else:
            print(f"check_dashboard: promtool parsed {len(exprs)} expressions")
    finally:
        os.unlink(f.name)


def check_contract_doc(path):
    rows = {}
    with open(path) as f:
        for line in f:
            m = re.match(r'\|\s*(dynamocache_\w+)\s*\|\s*(\w+)\s*\|\s*([^|]*)\|', line)
            if m:
                labels = {l.split("=")[0].strip() for l in m.group(3).split(",") if l.strip() not in ("", "—", "-")}
                rows[m.group(1)] = (m.group(2), labels)
    if rows != METRICS:
        for name in sorted(set(rows) | set(METRICS)):
            if rows.get(name) != METRICS.get(name):
                err(path, f"{name}: document {rows.get(name)} vs checker {METRICS.get(name)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contract", help="contract document (markdown) to compare the metric list with")
    ap.add_argument("--dashboard", default=os.path.join(HERE, "grafana-dashboard.json"))
    ap.add_argument("--alerts", default=os.path.join(HERE, "alerts.yml"))
    args = ap.parse_args()
    if args.contract:
        check_contract_doc(args.contract)
    exprs = check_dashboard(args.dashboard) + check_alerts(args.alerts)
    promtool_parse(exprs)
    if errors:
        print("\n".join(errors))
        print(f"check_dashboard: FAILED ({len(errors)} problems)")
        return 1
    print(f"check_dashboard: OK ({len(exprs)} expressions in {os.path.basename(args.dashboard)} and "
          f"{os.path.basename(args.alerts)} use only contract metrics and labels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
