#!/usr/bin/env bash
# Pass-through latency: GetItem sent to a fixed-response upstream (nginx) directly and through DynamoCache,
# alternating in one run, so the difference is what the proxy adds. A benchmark, not a test.
#
#   Benchmarks/passthrough/run.sh            # REPS=3 DUR=10s CONNS="1 8"
# Needs nginx and wrk (apt-get install -y nginx-light wrk) and a release build of dynamo-cache.
# Placement on two cores: nginx and the proxy on CPU 0, wrk on CPU 1 (PIN=0 disables taskset).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
REPS=${REPS:-3}; DUR=${DUR:-10s}; CONNS=${CONNS:-"1 8"}; PIN=${PIN:-1}
UP_PORT=${UP_PORT:-18181}; PROXY_PORT=${PROXY_PORT:-18182}; ADMIN_PORT=${ADMIN_PORT:-18183}
RUN=$(mktemp -d /tmp/dynamo-cache-passthrough.XXXXXX)
server_cpu() { [[ $PIN == 1 ]] && echo "taskset -c 0"; true; }
client_cpu() { [[ $PIN == 1 ]] && echo "taskset -c 1"; true; }

(cd "$ROOT" && swift build -c release --product dynamo-cache >&2)
BIN="$(cd "$ROOT" && swift build -c release --show-bin-path)/dynamo-cache"

PAYLOAD=$(head -c 300 /dev/zero | tr '\0' 'x')
sed -e "s|@RUN@|$RUN|g" -e "s|@PORT@|$UP_PORT|g" -e "s|@PAYLOAD@|$PAYLOAD|g" "$HERE/upstream.conf.tmpl" >"$RUN/nginx.conf"
NGINX_PID=""; PROXY_PID=""
cleanup() {
  [[ -n $PROXY_PID ]] && kill -TERM "$PROXY_PID" 2>/dev/null; [[ -n $NGINX_PID ]] && kill -TERM "$NGINX_PID" 2>/dev/null
  wait 2>/dev/null; rm -rf "$RUN"
}
trap cleanup EXIT
$(server_cpu) nginx -c "$RUN/nginx.conf" -e stderr -g 'daemon off;' 2>"$RUN/nginx.stderr" &
NGINX_PID=$!
$(server_cpu) "$BIN" serve --listen "127.0.0.1:$PROXY_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
  --upstream "http://127.0.0.1:$UP_PORT" --threads 1 --log-level warning >"$RUN/proxy.out" 2>"$RUN/proxy.err" &
PROXY_PID=$!
for _ in $(seq 100); do grep -q ready "$RUN/proxy.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$RUN/proxy.out" || { cat "$RUN/proxy.err" >&2; exit 1; }

echo "date $(date -Is)  $(nproc) cpus  wrk -t1 -d$DUR  reps $REPS  pin $PIN  $(nginx -v 2>&1 | cut -d' ' -f3)"
printf '%-8s %5s %4s %9s %8s %8s %8s\n' target conns rep req/s p50_us p90_us p99_us
results=$RUN/results
for ((rep = 1; rep <= REPS; rep++)); do
  for c in $CONNS; do
    for target in direct proxy; do
      port=$UP_PORT; [[ $target == proxy ]] && port=$PROXY_PORT
      line=$($(client_cpu) wrk -t1 -c"$c" -d"$DUR" -s "$HERE/getitem.lua" "http://127.0.0.1:$port/" | grep '^RESULT')
      [[ $line == *"errors=0 non200=0"* ]] || { echo "errors in run: $line" >&2; exit 1; }
      eval "${line#RESULT }"
      echo "$target $c $rep $rps $p50_us $p90_us $p99_us" >>"$results"
      printf '%-8s %5s %4s %9s %8s %8s %8s\n' "$target" "$c" "$rep" "$rps" "$p50_us" "$p90_us" "$p99_us"
    done
  done
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print("\nmedians over reps; added = proxy - direct")
print(f"{'conns':>5} {'direct p50':>10} {'proxy p50':>9} {'added p50':>9} {'direct p99':>10} {'proxy p99':>9} {'added p99':>9} {'proxy/direct req/s':>18}")
for c in sorted({r[1] for r in rows}, key=int):
    def med(t, i): return statistics.median(float(r[i]) for r in rows if r[0] == t and r[1] == c)
    d50, p50, d99, p99 = med("direct", 4), med("proxy", 4), med("direct", 6), med("proxy", 6)
    print(f"{c:>5} {d50:>8.0f}us {p50:>7.0f}us {p50-d50:>7.0f}us {d99:>8.0f}us {p99:>7.0f}us {p99-d99:>7.0f}us {med('proxy',3)/med('direct',3):>18.2f}")
PY
