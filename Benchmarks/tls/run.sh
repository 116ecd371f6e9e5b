#!/usr/bin/env bash
# GetItem cache hits over TLS against plain HTTP: two DynamoCache nodes in front of one moto_server, one with
# --tls-cert/--tls-key (a certificate made here with openssl), both warmed with every key, then measured with
# `dynamo-cache bench` alternating between them in one run. A benchmark, not a test.
#
#   Benchmarks/tls/run.sh              # ITEMS=10000 SIZE=400 DUR=9s ROUNDS=3 CONNS=8
# Needs a release build of dynamo-cache (built here), openssl, and moto_server (ops/install-deps.sh).
# Placement on two cores: moto and both proxies on CPU 0, bench on CPU 1 (PIN=0 disables taskset).
# Connections are kept alive, as SDKs keep them: the TLS handshake is paid once per connection, so what is
# measured is the per-request cost of encryption.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ITEMS=${ITEMS:-10000}; SIZE=${SIZE:-400}; DUR=${DUR:-9s}; ROUNDS=${ROUNDS:-3}; CONNS=${CONNS:-8}; PIN=${PIN:-1}
MOTO_PORT=${MOTO_PORT:-18281}; PLAIN_PORT=${PLAIN_PORT:-18282}; TLS_PORT=${TLS_PORT:-18283}
RUN=$(mktemp -d /tmp/dynamo-cache-tls.XXXXXX)
server_cpu() { [[ $PIN == 1 ]] && echo "taskset -c 0"; true; }
client_cpu() { [[ $PIN == 1 ]] && echo "taskset -c 1"; true; }

(cd "$ROOT" && swift build -c release --product dynamo-cache >&2)
BIN="$(cd "$ROOT" && swift build -c release --show-bin-path)/dynamo-cache"

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null; rm -rf "$RUN"
}
trap cleanup EXIT

# A CA and a certificate for localhost, as a deployment would have from its own CA.
(cd "$RUN" \
  && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj "/CN=bench CA" \
       -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null \
  && openssl req -newkey rsa:2048 -nodes -keyout proxy.key -out proxy.csr -subj /CN=localhost 2>/dev/null \
  && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >proxy.ext \
  && openssl x509 -req -in proxy.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out proxy.pem -days 1 \
       -extfile proxy.ext 2>/dev/null)

$(server_cpu) "$ROOT/ops/moto-server.sh" "$MOTO_PORT" >"$RUN/moto.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 150); do (exec 3<>"/dev/tcp/127.0.0.1/$MOTO_PORT") 2>/dev/null && break; sleep 0.2; done
start_proxy() { # name port extra-args...
  local name=$1 port=$2; shift 2
  $(server_cpu) "$BIN" serve --listen "127.0.0.1:$port" --admin-listen 127.0.0.1:0 \
    --upstream "http://127.0.0.1:$MOTO_PORT" --threads 1 --log-level warning "$@" >"$RUN/$name.out" 2>"$RUN/$name.err" &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q ready "$RUN/$name.out" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$RUN/$name.out" || { cat "$RUN/$name.err" >&2; exit 1; }
}
start_proxy plain "$PLAIN_PORT"
start_proxy tls "$TLS_PORT" --tls-cert "$RUN/proxy.pem" --tls-key "$RUN/proxy.key"

BENCH=($(client_cpu) "$BIN" bench --items "$ITEMS" --item-size "$SIZE" --ca-file "$RUN/ca.pem")
# The table, loaded straight into moto; then every key read once through each proxy, so every read after is a hit.
"${BENCH[@]}" --target "direct=http://127.0.0.1:$MOTO_PORT" --workload get --requests 1 --rounds 1 --quiet >/dev/null
"${BENCH[@]}" --target "plain=http://127.0.0.1:$PLAIN_PORT" --target "tls=https://localhost:$TLS_PORT" \
  --workload get-once --requests "$ITEMS" --rounds 1 --warmup 0 --connections 16 --prepare never --quiet >/dev/null
echo "date $(date -Is)  $(nproc) cpus  $ITEMS items of $SIZE B  pin $PIN"
"${BENCH[@]}" --target "plain=http://127.0.0.1:$PLAIN_PORT" --target "tls=https://localhost:$TLS_PORT" \
  --workload get --keys uniform --duration "$DUR" --rounds "$ROUNDS" --warmup 2s --connections "$CONNS" \
  --prepare never "${@}"
