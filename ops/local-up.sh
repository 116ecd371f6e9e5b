#!/usr/bin/env bash
# Brings up a local storage server (moto_server) with DynamoCache in front of it, in the foreground:
#   clients -> http://127.0.0.1:8000 (DynamoCache) -> http://127.0.0.1:8001 (moto_server)
# Ctrl-C (or SIGTERM) stops both. Ports: PROXY_PORT, MOTO_PORT, ADMIN_PORT; build: CONFIGURATION=debug|release.
set -euo pipefail
cd "$(dirname "$0")/.."
PROXY_PORT=${PROXY_PORT:-8000}
MOTO_PORT=${MOTO_PORT:-8001}
ADMIN_PORT=${ADMIN_PORT:-9090}
CONFIGURATION=${CONFIGURATION:-release}

DYNAMO_CACHE_NO_BROWSER=1 DYNAMO_CACHE_NO_TLS_TOOLS=1 DYNAMO_CACHE_NO_HAPROXY=1 DYNAMO_CACHE_NO_BENCH_TOOLS=1 \
  ops/install-deps.sh
swift build -c "$CONFIGURATION" --product dynamo-cache
BIN="$(swift build -c "$CONFIGURATION" --show-bin-path)/dynamo-cache"

MOTO_PID=""
PROXY_PID=""
stop() {
  [[ -n $PROXY_PID ]] && kill -TERM "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null
  [[ -n $MOTO_PID ]] && kill -TERM "$MOTO_PID" 2>/dev/null && wait "$MOTO_PID" 2>/dev/null
  true
}
trap stop EXIT
trap 'exit 130' INT TERM

ops/moto-server.sh "$MOTO_PORT" >/tmp/dynamo-cache-moto.$MOTO_PORT.log 2>&1 &
MOTO_PID=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$MOTO_PORT") 2>/dev/null && break
  kill -0 "$MOTO_PID" 2>/dev/null || { cat /tmp/dynamo-cache-moto.$MOTO_PORT.log >&2; exit 1; }
  sleep 0.1
done
echo "moto_server on http://127.0.0.1:$MOTO_PORT (log: /tmp/dynamo-cache-moto.$MOTO_PORT.log)"

"$BIN" serve --listen "127.0.0.1:$PROXY_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
  --upstream "http://127.0.0.1:$MOTO_PORT" &
PROXY_PID=$!
cat <<MSG
Try it (any credentials work with moto):
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1
  aws dynamodb list-tables --endpoint-url http://127.0.0.1:$PROXY_PORT
Ctrl-C stops the proxy and moto_server.
MSG
wait "$PROXY_PID"
