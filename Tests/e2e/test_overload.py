"""A stalled storage server cannot make requests pile up in the proxy: past --upstream-max-inflight, requests
that need the storage server are refused at once with ThrottlingException (retried by every SDK) while cached
items go on being served."""
import concurrent.futures
import json
import re
import time

from e2e_support import ProxyProcess, admin_request, raw_post
from test_proxy_only import HoldingServer

T = "DynamoDB_20120810."


def get(key):
    return json.dumps({"TableName": "t", "Key": {"pk": {"S": key}}}).encode()


def test_a_stalled_storage_server_gets_at_most_the_limit_and_hits_are_served(binary, log_dir):
    def respond(target, body):
        if json.loads(body)["Key"]["pk"]["S"] == "hot":
            return 0, json.dumps({"Item": {"pk": {"S": "hot"}, "v": {"N": "1"}}}).encode()
        return None, b""  # stalled: never answers

    up = HoldingServer(delay=0, respond=respond)
    p = ProxyProcess(binary, f"http://127.0.0.1:{up.port}", log_dir, "proxy-overload",
                     extra_args=["--upstream-max-inflight", "20", "--upstream-timeout", "30s", "--shutdown-grace", "1s"])
    try:
        assert raw_post(p.data_port, get("hot"), T + "GetItem").status == 200      # cached from now on
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=120)
        started = time.monotonic()
        stalled = [pool.submit(raw_post, p.data_port, get(f"k{i}"), T + "GetItem", timeout=60) for i in range(100)]
        refused = []
        for future in concurrent.futures.as_completed(stalled, timeout=30):
            refused.append((future.result(), time.monotonic() - started))
            if len(refused) == 80:
                break
        assert len(refused) == 80, "80 of 100 requests beyond a limit of 20 must be answered"
        for r, after in refused:
            assert r.status == 400 and r.json()["__type"].endswith("#ThrottlingException"), (r.status, r.body)
            assert after < 10, f"a refusal took {after:.1f} s: it must not wait for the storage server"
        # Hits are served meanwhile, at once.
        t0 = time.monotonic()
        hit = raw_post(p.data_port, get("hot"), T + "GetItem")
        assert hit.status == 200 and hit.headers.get("x-dynamo-cache") == "hit", (hit.status, hit.headers)
        assert time.monotonic() - t0 < 2
        deadline = time.monotonic() + 10
        while len(up.requests) < 21 and time.monotonic() < deadline:  # the admitted 20 may still be on their way
            time.sleep(0.05)
        time.sleep(0.3)
        assert len(up.requests) == 21, f"the storage server got {len(up.requests)} requests (1 fill + 20 allowed)"
        metrics = admin_request(p.admin_port, "GET", "/metrics").body.decode()
        overloaded = re.search(r'dynamocache_upstream_errors_total\{kind="overloaded"\} (\d+)', metrics)
        assert overloaded and int(overloaded.group(1)) >= 80, overloaded
    finally:
        up.close()
        p.stop()
        pool.shutdown(wait=False, cancel_futures=True)
