#!/usr/bin/env bash
# Start a local moto_server (the DynamoDB-compatible storage server DynamoCache
# forwards to in development, tests and CI).
#
#   ops/moto-server.sh [PORT]        default PORT: 8001 (dynamo-cache serve's default --upstream)
#
# Binds 127.0.0.1 only and runs in the foreground (Ctrl-C / SIGTERM stops it).
# Needs moto with its server extra, which ops/install-deps.sh installs into the project's .venv.
#
# Then, e.g.:
#   dynamo-cache serve            # listens on 127.0.0.1:8000, upstream http://127.0.0.1:8001
#   aws dynamodb list-tables --endpoint-url http://127.0.0.1:8000
# (any AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY work; moto reads the region from
# the SigV4 credential scope and does not check signatures).
set -euo pipefail
source "$(dirname "$0")/env.sh"   # the project's .venv first (install-deps.sh makes it)

PORT="${1:-8001}"
case "$PORT" in
  ''|*[!0-9]*) echo "usage: $0 [PORT]   (PORT must be a number, got '$PORT')" >&2; exit 2 ;;
esac
if [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
  echo "usage: $0 [PORT]   (PORT must be in 1..65535, got $PORT)" >&2; exit 2
fi

if command -v moto_server >/dev/null 2>&1; then
  exec moto_server --host 127.0.0.1 --port "$PORT"
fi

# Fall back to the module entry point of whichever Python has moto installed.
PY="${PYTHON:-python3}"
if "$PY" -c 'import moto.server' >/dev/null 2>&1; then
  exec "$PY" -m moto.server --host 127.0.0.1 --port "$PORT"
fi

echo "moto_server not found: run ops/install-deps.sh (it installs moto[server] into .venv)" >&2
exit 127
