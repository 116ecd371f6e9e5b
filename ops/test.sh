#!/usr/bin/env bash
# The whole test suite: unit and in-process tests (swift test, here and in Benchmarks/), the fuzz targets (their
# seed corpora replayed, then briefly fuzzed), then the end-to-end differential suite that runs boto3 and the AWS
# CLI against moto_server directly and through the proxy (Tests/e2e, pytest).
# Each suite starts and stops the servers it needs on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
ops/install-deps.sh
source ops/env.sh   # python3, pytest, moto_server and aws from the project's .venv
swift build --product dynamo-cache
ops/check-config.sh "$(swift build --show-bin-path)/dynamo-cache"   # the example config names every option
swift test
for target in json requests expressions dataplane; do   # each seed corpus replays through its target, plainly built
  swift build --product "fuzz-$target" >/dev/null
  SWIFT_BACKTRACE=enable=no "$(swift build --show-bin-path)/fuzz-$target" "Tests/Fuzz/Corpus/$target"  # no hang on a crash
done
ops/fuzz.sh --brief   # libFuzzer with AddressSanitizer: each target 20 s or 20,000 inputs (ops/fuzz.sh for longer)
(cd Benchmarks && swift test)   # the hit-ratio simulator's own tests (the Benchmarks package builds apart)
DYNAMO_CACHE_BIN="$(swift build --show-bin-path)/dynamo-cache" python3 -m pytest -q Tests/e2e
