"""The reliability benchmarks in Benchmarks/ run from a fresh clone and report what they promise: shortened here
(seconds instead of minutes, the debug binary, no pinning); their figures are not judged, only their shape."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(script, *args, timeout):
    out = subprocess.run([sys.executable, os.path.join(REPO, script), *args], capture_output=True, text=True,
                         timeout=timeout)
    return out


def test_the_soak_script_samples_memory_errors_and_p99_and_gives_a_verdict(binary, tmp_path):
    report = tmp_path / "soak.json"
    out = run("Benchmarks/soak/soak.py", "--bin", binary, "--minutes", "0.5", "--flat-minutes", "0.25",
              "--sample", "5", "--items", "300", "--peak-seconds", "3", "--no-pin", "--json", str(report),
              timeout=300)
    assert out.returncode in (0, 1), f"soak.py failed:\n{out.stdout}\n{out.stderr}"
    assert "RSS MiB" in out.stdout and "verdict: memory" in out.stdout, out.stdout
    document = json.loads(report.read_text())
    assert document["peak"] > 0 and len(document["samples"]) >= 4, document
    for sample in document["samples"]:
        assert sample["rss"] > 0 and sample["allocated"] > 0, sample  # jemalloc is the proxy's allocator
    assert {r["workload"] for r in document["results"]} == {"mix-95-5", "query"}
    assert document["flat"] == ("NOT flat" not in out.stdout.split("verdict:")[1].split(",")[0])


def test_the_stalled_server_script_shows_refusals_bounded_waiting_and_hits(binary):
    out = run("Benchmarks/overload/stalled.py", "--bin", binary, "--seconds", "5", "--connections", "300",
              "--upstream-max-inflight", "64", "--no-pin", timeout=180)
    assert out.returncode == 0, f"stalled.py failed:\n{out.stdout}\n{out.stderr}"
    lines = out.stdout
    assert "refused as overload (ThrottlingException):" in lines and "waiting on the storage server at most 64" in lines, lines
    assert "hot-key hits:" in lines and "jemalloc allocated:" in lines, lines


def test_the_memory_script_fills_the_cache_to_its_budget_and_reports_allocated_bytes(binary, tmp_path):
    report = tmp_path / "fill.json"
    out = run("Benchmarks/memory/fill.py", "--bin", binary, "--budget", "1MiB", "--sizes", "1000", "--no-pin",
              "--json", str(report), timeout=300)
    assert out.returncode == 0, f"fill.py failed:\n{out.stdout}\n{out.stderr}"
    assert "within the aim" in out.stdout, out.stdout
    (row,) = json.loads(report.read_text())["rows"]
    assert row["entries"] > 0 and row["allocated"] > 0, row  # jemalloc is the proxy's allocator
    assert 0.9 * (1 << 20) <= row["charged"] <= 1 << 20, row  # filled to its budget, never past it


def test_the_comparison_script_measures_every_target_from_cache_hits(binary, tmp_path):
    """Benchmarks/compare/run.py --quick: moto direct, nginx proxy_cache, the floor and the proxy, in one run; the
    cache targets' timed runs never reach moto."""
    import shutil
    if not (shutil.which("wrk") and (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx"))):
        import pytest
        if os.environ.get("CI"):
            pytest.fail("CI is set but wrk or nginx is missing (ops/install-deps.sh installs them)")
        pytest.skip("wrk or nginx is not installed (ops/install-deps.sh installs them)")
    out = run("Benchmarks/compare/run.py", "--quick", "--no-pin", "--bin", binary, "--out", str(tmp_path / "out"),
              timeout=400)
    assert out.returncode == 0, f"run.py failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["ok"], summary
    rows = summary["summary"]
    cached = [r for r in rows if r["target"] in ("nginx", "proxy", "nginx-query", "proxy-query")]
    assert cached and all(r["moto_requests"] == 0 for r in cached), cached
    assert {r["target"] for r in rows} >= {"moto", "nginx", "floor", "proxy"}, rows
