#!/usr/bin/env bash
# The timing-sensitive suites, run again and again with two CPU hogs beside them: a test that fails only on a
# busy machine fails here. Usage: ops/busy-machine.sh [passes, default 10]
#   Swift: PacingTests, BenchWarningTests (the bench's loops over real sockets), ConnectionLimitTests (client timeouts),
#          DataPlaneTests (real sockets, graceful shutdown);
#   e2e:   test_overload (stalled storage server, slowloris), test_faults (late answers against
#          --upstream-timeout), test_stream_follower (propagation bounds), test_proxy_only (upstream timeouts).
# Everything else runs on virtual clocks (EmbeddedEventLoop, manual clocks).
set -euo pipefail
cd "$(dirname "$0")/.."
source ops/env.sh
passes=${1:-10}
swift build --build-tests
bin="$(swift build --show-bin-path)/dynamo-cache"
hogs=()
trap 'kill "${hogs[@]}" 2>/dev/null || true' EXIT
for _ in 1 2; do
    timeout 7200 sh -c 'while :; do :; done' &
    hogs+=($!)
done
started=$SECONDS
for pass in $(seq 1 "$passes"); do
    t0=$SECONDS
    swift test --skip-build --filter 'PacingTests|BenchWarningTests|ConnectionLimitTests|DataPlaneTests' >/tmp/busy-swift.log 2>&1 || {
        tail -40 /tmp/busy-swift.log
        echo "pass $pass: Swift suites FAILED with two CPU hogs running"
        exit 1
    }
    DYNAMO_CACHE_BIN="$bin" python3 -m pytest -q -p no:cacheprovider Tests/e2e/test_overload.py \
        Tests/e2e/test_faults.py Tests/e2e/test_stream_follower.py Tests/e2e/test_proxy_only.py \
        >/tmp/busy-e2e.log 2>&1 || {
        tail -40 /tmp/busy-e2e.log
        echo "pass $pass: e2e suites FAILED with two CPU hogs running"
        exit 1
    }
    echo "pass $pass/$passes green in $((SECONDS - t0)) s ($(grep -E 'Test run with' /tmp/busy-swift.log | tail -1 | sed 's/.*Test run with //'); e2e: $(tail -1 /tmp/busy-e2e.log))"
done
echo "$passes consecutive passes with two CPU hogs in $((SECONDS - started)) s"
