"""What the benchmark scripts under Benchmarks/ share: free loopback ports, waiting for a listener, reading the
proxy's /metrics and a process's resident memory. Each script puts this directory on sys.path to import it."""
import re
import socket
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def metric_sum(metrics, name, labels=""):
    """The sum of every series of `name` in the Prometheus text `metrics` whose labels contain `labels`."""
    return sum(float(m.group(2)) for m in re.finditer(rf"^{name}(\{{[^}}]*\}})? ([0-9.e+]+)$", metrics, re.M)
               if labels in (m.group(1) or ""))


def rss_bytes(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
