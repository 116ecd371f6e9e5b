#!/usr/bin/env bash
# Pass-through cost: GetItem sent to a fixed-response upstream (nginx) directly, through DynamoCache forwarding
# the client's signature (`proxy`), and through DynamoCache re-signing every request with its own credentials
# (`proxy-sign`, --upstream-auth sign), alternating in one run. The differences are what the proxy adds and what
# signing adds; the proxies' CPU time over their requests gives the CPU cost per request. A benchmark, not a test.
#
#   Benchmarks/passthrough/run.sh            # REPS=3 DUR=10s CONNS="1 8" TARGETS="direct proxy proxy-sign"
#   BASE_BIN=/path/to/older/dynamo-cache Benchmarks/passthrough/run.sh   # adds target `base`: that build, forwarding
# Needs nginx and wrk (apt-get install -y nginx-light wrk) and a release build of dynamo-cache.
# Placement on two cores: nginx and the proxies on CPU 0, wrk on CPU 1 (PIN=0 disables taskset).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
REPS=${REPS:-3}; DUR=${DUR:-10s}; CONNS=${CONNS:-"1 8"}; PIN=${PIN:-1}
TARGETS=${TARGETS:-"direct proxy proxy-sign"}
UP_PORT=${UP_PORT:-18181}; PROXY_PORT=${PROXY_PORT:-18182}; ADMIN_PORT=${ADMIN_PORT:-18183}
SIGN_PORT=${SIGN_PORT:-18184}; SIGN_ADMIN_PORT=${SIGN_ADMIN_PORT:-18185}
BASE_PORT=${BASE_PORT:-18186}; BASE_ADMIN_PORT=${BASE_ADMIN_PORT:-18187}
if [[ -n ${BASE_BIN:-} && $TARGETS != *base* ]]; then TARGETS="$TARGETS base"; fi
RUN=$(mktemp -d /tmp/dynamo-cache-passthrough.XXXXXX)
server_cpu() { [[ $PIN == 1 ]] && echo "taskset -c 0"; true; }
client_cpu() { [[ $PIN == 1 ]] && echo "taskset -c 1"; true; }

(cd "$ROOT" && swift build -c release --product dynamo-cache >&2)
BIN="$(cd "$ROOT" && swift build -c release --show-bin-path)/dynamo-cache"

PAYLOAD=$(head -c 300 /dev/zero | tr '\0' 'x')
sed -e "s|@RUN@|$RUN|g" -e "s|@PORT@|$UP_PORT|g" -e "s|@PAYLOAD@|$PAYLOAD|g" "$HERE/upstream.conf.tmpl" >"$RUN/nginx.conf"
NGINX_PID=""; PROXY_PID=""; SIGN_PID=""; BASE_PID=""
cleanup() {
  for pid in $PROXY_PID $SIGN_PID $BASE_PID $NGINX_PID; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null; rm -rf "$RUN"
}
trap cleanup EXIT
$(server_cpu) nginx -c "$RUN/nginx.conf" -e stderr -g 'daemon off;' 2>"$RUN/nginx.stderr" &
NGINX_PID=$!
$(server_cpu) "$BIN" serve --listen "127.0.0.1:$PROXY_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
  --upstream "http://127.0.0.1:$UP_PORT" --threads 1 --log-level warning >"$RUN/proxy.out" 2>"$RUN/proxy.err" &
PROXY_PID=$!
# The signing proxy's own (placeholder) credentials: nginx never checks them. A session token of STS's size,
# so that the signed request is as large as with temporary credentials.
env AWS_ACCESS_KEY_ID=AKIDPROXY AWS_SECRET_ACCESS_KEY=proxy-secret AWS_SESSION_TOKEN="$(head -c 600 /dev/zero | tr '\0' 't')" \
  $(server_cpu) "$BIN" serve --listen "127.0.0.1:$SIGN_PORT" --admin-listen "127.0.0.1:$SIGN_ADMIN_PORT" \
  --upstream "http://127.0.0.1:$UP_PORT" --upstream-auth sign --region us-east-1 --threads 1 --log-level warning \
  >"$RUN/sign.out" 2>"$RUN/sign.err" &
SIGN_PID=$!
ready=(proxy sign)
if [[ -n ${BASE_BIN:-} ]]; then
  $(server_cpu) "$BASE_BIN" serve --listen "127.0.0.1:$BASE_PORT" --admin-listen "127.0.0.1:$BASE_ADMIN_PORT" \
    --upstream "http://127.0.0.1:$UP_PORT" --threads 1 --log-level warning >"$RUN/base.out" 2>"$RUN/base.err" &
  BASE_PID=$!
  ready+=(base)
fi
for f in "${ready[@]}"; do
  for _ in $(seq 100); do grep -q ready "$RUN/$f.out" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$RUN/$f.out" || { cat "$RUN/$f.err" >&2; exit 1; }
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)
echo "date $(date -Is)  $(nproc) cpus  wrk -t1 -d$DUR  reps $REPS  pin $PIN  $(nginx -v 2>&1 | cut -d' ' -f3)"
printf '%-10s %5s %4s %9s %8s %8s %8s %12s\n' target conns rep req/s p50_us p90_us p99_us cpu_us/req
results=$RUN/results
for ((rep = 1; rep <= REPS; rep++)); do
  for c in $CONNS; do
    for target in $TARGETS; do
      case $target in
        direct) port=$UP_PORT; pid="" ;;
        proxy) port=$PROXY_PORT; pid=$PROXY_PID ;;
        proxy-sign) port=$SIGN_PORT; pid=$SIGN_PID ;;
        base) port=$BASE_PORT; pid=$BASE_PID ;;
        *) echo "unknown target $target" >&2; exit 2 ;;
      esac
      before=0; [[ -n $pid ]] && before=$(cpu_ticks "$pid")
      line=$($(client_cpu) wrk -t1 -c"$c" -d"$DUR" -s "$HERE/getitem.lua" "http://127.0.0.1:$port/" | grep '^RESULT')
      [[ $line == *"errors=0 non200=0"* ]] || { echo "errors in run: $line" >&2; exit 1; }
      eval "${line#RESULT }"
      cpu="-"
      if [[ -n $pid ]]; then
        cpu=$(python3 -c "print(f'{($(cpu_ticks "$pid") - $before) / $TICK / $requests * 1e6:.1f}')")
      fi
      echo "$target $c $rep $rps $p50_us $p90_us $p99_us $cpu" >>"$results"
      printf '%-10s %5s %4s %9s %8s %8s %8s %12s\n' "$target" "$c" "$rep" "$rps" "$p50_us" "$p90_us" "$p99_us" "$cpu"
    done
  done
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
targets = list(dict.fromkeys(r[0] for r in rows))
print("\nmedians over reps; added = target - direct; CPU = the proxy process's user+system time per request")
print(f"{'conns':>5} {'target':>10} {'req/s':>8} {'p50':>7} {'p99':>7} {'added p50':>9} {'added p99':>9} {'CPU/req':>8}")
for c in sorted({r[1] for r in rows}, key=int):
    def med(t, i):
        values = [float(r[i]) for r in rows if r[0] == t and r[1] == c and r[i] != "-"]
        return statistics.median(values) if values else None
    for t in targets:
        d50, d99 = med("direct", 4), med("direct", 6)
        p50, p99, cpu = med(t, 4), med(t, 6), med(t, 7)
        added = (f"{p50 - d50:>7.0f}us {p99 - d99:>7.0f}us" if d50 is not None and t != "direct"
                 else f"{'':>9} {'':>9}")
        print(f"{c:>5} {t:>10} {med(t, 3):>8.0f} {p50:>5.0f}us {p99:>5.0f}us {added} "
              f"{(f'{cpu:.1f}us' if cpu is not None else '-'):>8}")
    if med("proxy", 7) is not None and med("proxy-sign", 7) is not None:
        print(f"{c:>5} signing adds {med('proxy-sign', 7) - med('proxy', 7):.1f} us of proxy CPU per request, "
              f"{med('proxy-sign', 4) - med('proxy', 4):.0f} us to p50")
PY
