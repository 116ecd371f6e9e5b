#!/usr/bin/env bash
# Builds the libFuzzer targets of Tests/Fuzz with AddressSanitizer and runs each for a bounded time.
#
#   ops/fuzz.sh [--seconds N] [--runs N] [--brief] [TARGET...] [-- LIBFUZZER-FLAG...]
#
#   TARGET      json, requests, expressions, dataplane (default: all four, one after another)
#   --seconds N stop each target after N seconds (default 120)
#   --runs N    stop each target after N inputs (default: no limit; whichever limit comes first stops it)
#   --brief     for CI: 20 s or 20,000 inputs per target
#   -- FLAGS    passed on to libFuzzer after this script's own (a later flag wins), e.g. -- -use_value_profile=1
#
# Each target fuzzes a copy of its seed corpus (Tests/Fuzz/Corpus/TARGET) in a temporary directory, so the
# repository's corpus never grows by itself; the directory, with the logs and any crash inputs, is printed at the
# end and kept. Exits 1 when a target crashed (or broke an invariant), 2 on a usage or build error.
#
# Reproduce a crash:  SWIFT_BACKTRACE=enable=no .build-fuzz/release/fuzz-TARGET CRASH-FILE
# (or build plainly, `swift build --product fuzz-TARGET`, and run the binary on the file: it replays inputs.)
#
# Needs only the Swift toolchain, which ships libFuzzer on Linux; installs nothing and opens no socket. The build
# uses its own scratch path (.build-fuzz, override with FUZZ_SCRATCH_PATH), never .build.
set -uo pipefail
cd "$(dirname "$0")/.."

usage() {
    sed -n '3,11p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

seconds=120
runs=""
targets=()
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) [ $# -ge 2 ] || usage; seconds="$2"; shift 2 ;;
        --runs) [ $# -ge 2 ] || usage; runs="$2"; shift 2 ;;
        --brief) seconds=20; runs=20000; shift ;;
        -h|--help) usage ;;
        json|requests|expressions|dataplane) targets+=("$1"); shift ;;
        --) shift; extra=("$@"); break ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
for n in "$seconds" ${runs:+"$runs"}; do
    case "$n" in ''|*[!0-9]*) echo "not a number: $n" >&2; usage ;; esac
done
[ ${#targets[@]} -gt 0 ] || targets=(json requests expressions dataplane)

scratch="${FUZZ_SCRATCH_PATH:-$PWD/.build-fuzz}"
# Release code runs several times faster per input than debug, and keeps ASan's checks. -enable-testing lets the
# dataplane target reach Server's internal handlers; -DFUZZING makes the executables hand over to libFuzzer
# instead of replaying inputs, through a declaration that needs the Extern feature (LibFuzzerDriver.swift).
build=(swift build -c release --scratch-path "$scratch"
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -enable-testing -Xswiftc -DFUZZING
    -Xswiftc -enable-experimental-feature -Xswiftc Extern)

work="$(mktemp -d "${TMPDIR:-/tmp}/dynamo-cache-fuzz.XXXXXX")"
started=$(date +%s)
for target in "${targets[@]}"; do
    # One product per invocation, as SwiftPM takes one --product; the modules they share build once.
    if ! timeout 3600 "${build[@]}" --product "fuzz-$target" >"$work/build.log" 2>&1; then
        # ld.gold warns about every exported local symbol of the sanitized objects; the warnings are harmless.
        grep -v "Cannot export local symbol" "$work/build.log" | tail -40 >&2
        echo "fuzz.sh: building fuzz-$target failed (log: $work/build.log)" >&2
        exit 2
    fi
done
bin="$(timeout 600 "${build[@]}" --show-bin-path)"
echo "fuzz.sh: built in $(($(date +%s) - started)) s ($bin)"

# The Swift runtime's backtracer would wait forever on a crashing fuzz binary; libFuzzer reports crashes itself.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
symbolizer="$(dirname "$(readlink -f "$(command -v swift)")")/llvm-symbolizer"
[ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="$symbolizer"

failed=0
for target in "${targets[@]}"; do
    case "$target" in
        dataplane) max_len=16384 ;;  # whole pipelined requests
        *) max_len=8192 ;;
    esac
    dir="$work/$target"
    mkdir -p "$dir/corpus" "$dir/crashes"
    cp Tests/Fuzz/Corpus/"$target"/* "$dir/corpus/"
    flags=(-max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10
        -dict=Tests/Fuzz/dynamodb.dict -artifact_prefix="$dir/crashes/" -print_final_stats=1)
    [ -n "$runs" ] && flags+=(-runs="$runs")
    flags+=(${extra[@]+"${extra[@]}"})
    timeout $((seconds + 300)) "$bin/fuzz-$target" "${flags[@]}" "$dir/corpus" >"$dir/log" 2>&1
    status=$?
    # libFuzzer ends a clean run with "Done N runs in S second(s)"; after a crash only its final stats say.
    done_line="$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$dir/log" | tail -1)"
    executed="$(awk '/^stat::number_of_executed_units:/ {n = $2} END {print n}' "$dir/log")"
    per_second="$(awk '/^stat::average_exec_per_sec:/ {n = $2} END {print n}' "$dir/log")"
    [ -n "$done_line" ] && executed="$(echo "$done_line" | awk '{print $2}')"
    crashes=("$dir"/crashes/*)
    [ -e "${crashes[0]}" ] || crashes=()
    if [ "$status" -eq 0 ] && [ ${#crashes[@]} -eq 0 ]; then
        echo "fuzz-$target: ok, ${executed:-?} inputs (${per_second:-?}/s)"
    else
        failed=1
        echo "fuzz-$target: CRASHED (exit $status) after ${executed:-?} inputs (${per_second:-?}/s)"
        for crash in "${crashes[@]}"; do echo "  input: $crash"; done
        # The finding itself: the runtime's or the sanitizer's message, and the top of the stack without the
        # frames of libFuzzer, the sanitizers and libc, demangled.
        grep -m1 -E 'Fatal error|ERROR: (AddressSanitizer|libFuzzer)' "$dir/log" | sed 's/^/  /'
        grep -E '^ *#[0-9]+ ' "$dir/log" \
            | grep -vE ' in (fuzzer::|__sanitizer|__asan|__lsan|__interceptor)|libc\.so|_start' \
            | head -8 | swift demangle --simplified | sed 's/^/  /'
        echo "  log: $dir/log"
    fi
done
echo "fuzz.sh: corpora, logs and crash inputs in $work"
exit "$failed"
