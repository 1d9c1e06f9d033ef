#!/usr/bin/env bash
# Runs nadabot's whole test suite, installing what is missing first: npm packages, Redis
# and Debian's Chromium (for the browser test of the local chat). Starts a throw-away Redis
# on a free port unless REDIS_URL names one, and stops it afterwards.
#
#   bash scripts/test.sh                       # everything
#   bash scripts/test.sh test/chat-parse.test.ts
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

require_node
ensure_node_modules
ensure_redis_server_binary
ensure_fonts
[ -x /usr/bin/chromium ] || apt_install chromium

started_redis=''
cleanup() {
  if [ -n "$started_redis" ]; then
    say "stopping the test Redis (port $started_redis)"
    redis-cli -p "$started_redis" shutdown nosave >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

if [ -z "${REDIS_URL:-}" ]; then
  port=$(free_port)
  say "starting a test Redis on port $port (no persistence)"
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no >/dev/null
  started_redis="$port"
  wait_for_redis 127.0.0.1 "$port"
  export REDIS_URL="redis://127.0.0.1:$port"
fi

# quiet logs unless asked: a failing test prints what it needs
export NADABOT_LOG_LEVEL="${NADABOT_LOG_LEVEL:-warn}"

say "running the tests (npx vitest run $*)"
npx vitest run "$@"
