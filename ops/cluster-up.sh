#!/usr/bin/env bash
# Brings up a local three-node DynamoCache cluster behind a load balancer, in the foreground:
#
#   clients -> http://127.0.0.1:8000 (HAProxy, round robin per request)
#           -> http://127.0.0.1:8101..8103 (three DynamoCache nodes, --streams auto; admin 9101..9103)
#           -> http://127.0.0.1:8001 (moto_server: DynamoDB and, on the same port, DynamoDB Streams)
#
# Each node follows the DynamoDB Stream of every table it caches that has one, so a write through any node (or
# straight to moto_server) is seen by every node within about one poll (--stream-poll-interval, 250ms).
# Ctrl-C (or SIGTERM) stops everything it started. It also stops when any of its processes exits.
#
# Environment (all optional):
#   LB_PORT (8000), MOTO_PORT (8001), NODE_PORTS ("8101 8102 8103"), ADMIN_PORTS ("9101 9102 9103"): ports on
#     127.0.0.1; as many nodes as NODE_PORTS names (ADMIN_PORTS must name as many)
#   REGION (us-east-1): the region the nodes' stream followers sign their calls for
#   NODE_ARGS: more `dynamo-cache serve` options for every node, e.g. "--item-ttl 1m --log-level debug"
#   DYNAMO_CACHE_BIN: the proxy binary to run; unset, it is built as local-up.sh does (CONFIGURATION=debug|release,
#     default release)
#   CLUSTER_UP_SECONDS: stop everything and exit 0 after this many seconds (0, the default: run until stopped)
#   CLUSTER_LOG_DIR (/tmp/dynamo-cache-cluster.$LB_PORT): logs and the generated haproxy.cfg
# Other DYNAMO_CACHE_* variables reach the nodes (each one configures the option it names).
set -euo pipefail
cd "$(dirname "$0")/.."
LB_PORT=${LB_PORT:-8000}
MOTO_PORT=${MOTO_PORT:-8001}
read -r -a NODE_PORTS <<<"${NODE_PORTS:-8101 8102 8103}"
read -r -a ADMIN_PORTS <<<"${ADMIN_PORTS:-9101 9102 9103}"
REGION=${REGION:-us-east-1}
read -r -a EXTRA_NODE_ARGS <<<"${NODE_ARGS:-}"
CONFIGURATION=${CONFIGURATION:-release}
CLUSTER_UP_SECONDS=${CLUSTER_UP_SECONDS:-0}
LOG_DIR=${CLUSTER_LOG_DIR:-/tmp/dynamo-cache-cluster.$LB_PORT}

for p in "$LB_PORT" "$MOTO_PORT" "${NODE_PORTS[@]}" "${ADMIN_PORTS[@]}" "$CLUSTER_UP_SECONDS"; do
  [[ $p =~ ^[0-9]+$ ]] || { echo "cluster-up: not a number: '$p'" >&2; exit 2; }
done
if ((${#NODE_PORTS[@]} == 0 || ${#NODE_PORTS[@]} != ${#ADMIN_PORTS[@]})); then
  echo "cluster-up: NODE_PORTS and ADMIN_PORTS must name as many ports (got ${#NODE_PORTS[@]} and ${#ADMIN_PORTS[@]})" >&2
  exit 2
fi

DYNAMO_CACHE_NO_BROWSER=1 DYNAMO_CACHE_NO_TLS_TOOLS=1 DYNAMO_CACHE_NO_BENCH_TOOLS=1 ops/install-deps.sh   # moto_server, haproxy, ...
if [[ -n ${DYNAMO_CACHE_BIN:-} ]]; then
  BIN=$DYNAMO_CACHE_BIN
  [[ -x $BIN ]] || { echo "cluster-up: DYNAMO_CACHE_BIN=$BIN is not an executable" >&2; exit 2; }
else
  swift build -c "$CONFIGURATION" --product dynamo-cache
  BIN="$(swift build -c "$CONFIGURATION" --show-bin-path)/dynamo-cache"
fi
mkdir -p "$LOG_DIR"

PIDS=()      # every process started, in start order
NAMES=()
stop() {
  trap - EXIT INT TERM
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do   # the load balancer first, moto_server last
    kill -TERM "${PIDS[i]}" 2>/dev/null || true
  done
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    wait "${PIDS[i]}" 2>/dev/null || true
  done
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started() { PIDS+=("$1"); NAMES+=("$2"); }

# wait_ready NAME PID LOG CHECK...: until CHECK succeeds (60 s at most), failing if PID exits first.
wait_ready() {
  local name=$1 pid=$2 log=$3
  shift 3
  for _ in $(seq 600); do
    "$@" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "cluster-up: $name exited; its log ($log):" >&2; tail -n 30 "$log" >&2; exit 1; }
    sleep 0.1
  done
  echo "cluster-up: $name not ready within 60 s; its log ($log):" >&2
  tail -n 30 "$log" >&2
  exit 1
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1"); }

ops/moto-server.sh "$MOTO_PORT" >"$LOG_DIR/moto.log" 2>&1 &
started $! moto_server
wait_ready moto_server $! "$LOG_DIR/moto.log" port_open "$MOTO_PORT"

# The nodes sign their stream followers' calls (moto_server does not check signatures): fixed local keys, so
# whatever AWS credentials this shell holds are never used. DYNAMO_CACHE_BIN is this script's, not an option.
for i in "${!NODE_PORTS[@]}"; do
  n=$((i + 1))
  env -u DYNAMO_CACHE_BIN -u AWS_SESSION_TOKEN -u AWS_PROFILE -u AWS_ROLE_ARN -u AWS_WEB_IDENTITY_TOKEN_FILE \
    AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_EC2_METADATA_DISABLED=true \
    "$BIN" serve --listen "127.0.0.1:${NODE_PORTS[i]}" --admin-listen "127.0.0.1:${ADMIN_PORTS[i]}" \
    --upstream "http://127.0.0.1:$MOTO_PORT" --region "$REGION" --streams auto ${EXTRA_NODE_ARGS[@]+"${EXTRA_NODE_ARGS[@]}"} \
    >"$LOG_DIR/node$n.log" 2>&1 &
  started $! "node$n"
done
for i in "${!NODE_PORTS[@]}"; do
  n=$((i + 1))
  # The node prints its ready line once both listeners accept.
  wait_ready "node$n" "${PIDS[i + 1]}" "$LOG_DIR/node$n.log" grep -q '^dynamo-cache ready: ' "$LOG_DIR/node$n.log"
done

# HAProxy in HTTP mode, not TCP mode: SDKs and the AWS CLI keep one connection alive for many requests, and TCP
# mode balances connections, so a client would stay on one node for as long as its connection lives. HTTP mode
# balances each request (round robin) while keeping both sides' connections alive, checks each node's
# /readyz on its admin port, and names the node that answered in X-Dynamo-Cache-Node. It changes no request
# header (Host, Authorization and X-Amz-* reach the node as the client signed them), so --client-auth sigv4 on
# the nodes still verifies client signatures; the cost is HAProxy parsing HTTP (tens of microseconds).
CFG="$LOG_DIR/haproxy.cfg"
{
  cat <<CFG
global
    log stderr format raw local0 notice
    maxconn 4096

defaults
    mode http
    log global
    option dontlognull
    timeout connect 2s
    timeout client 60s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 20s
    retries 2
    option redispatch

frontend dynamodb
    bind 127.0.0.1:$LB_PORT
    default_backend dynamo_cache_nodes

backend dynamo_cache_nodes
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz
    http-response set-header X-Dynamo-Cache-Node %[srv_name]
CFG
  for i in "${!NODE_PORTS[@]}"; do
    echo "    server node$((i + 1)) 127.0.0.1:${NODE_PORTS[i]} check port ${ADMIN_PORTS[i]} inter 1s fall 2 rise 1"
  done
} >"$CFG"
haproxy -c -q -f "$CFG"
haproxy -db -f "$CFG" >"$LOG_DIR/haproxy.log" 2>&1 &
started $! haproxy
wait_ready haproxy $! "$LOG_DIR/haproxy.log" port_open "$LB_PORT"

nodes=""
for i in "${!NODE_PORTS[@]}"; do
  nodes+=" node$((i + 1))=http://127.0.0.1:${NODE_PORTS[i]} (admin http://127.0.0.1:${ADMIN_PORTS[i]})"
done
cat <<MSG
cluster-up ready: lb=http://127.0.0.1:$LB_PORT moto=http://127.0.0.1:$MOTO_PORT
nodes:$nodes
logs and haproxy.cfg: $LOG_DIR
Try it (any credentials work with moto_server):
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=$REGION
  aws dynamodb create-table --endpoint-url http://127.0.0.1:$LB_PORT --table-name users \\
    --attribute-definitions AttributeName=id,AttributeType=S --key-schema AttributeName=id,KeyType=HASH \\
    --billing-mode PAY_PER_REQUEST --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES
  aws dynamodb get-item --endpoint-url http://127.0.0.1:$LB_PORT --table-name users --key '{"id":{"S":"u1"}}'
  curl -s http://127.0.0.1:${ADMIN_PORTS[0]}/stats | python3 -m json.tool    # "streams": each table's follower
MSG
if ((CLUSTER_UP_SECONDS > 0)); then
  echo "Stops by itself after ${CLUSTER_UP_SECONDS}s (CLUSTER_UP_SECONDS); Ctrl-C stops it sooner."
else
  echo "Ctrl-C stops the load balancer, the nodes and moto_server."
fi

deadline=$((SECONDS + CLUSTER_UP_SECONDS))
while true; do
  for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[i]}" 2>/dev/null; then
      echo "cluster-up: ${NAMES[i]} exited; stopping the rest" >&2
      exit 1
    fi
  done
  if ((CLUSTER_UP_SECONDS > 0 && SECONDS >= deadline)); then
    echo "cluster-up: ${CLUSTER_UP_SECONDS}s are up; stopping"
    exit 0
  fi
  sleep 0.5 &
  wait $! || true    # a signal interrupts wait at once, so the traps run without delay
done
