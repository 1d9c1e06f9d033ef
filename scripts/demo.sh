#!/usr/bin/env bash
# Starts the nadabot demo on this machine: a worker with the bundled demo models and the
# local web chat. Installs what is missing (npm packages; Redis with apt-get on Debian),
# starts a Redis if none answers, then prints the chat's address.
#
#   bash scripts/demo.sh                    # http://127.0.0.1:8787/
#   NADABOT_PORT=9000 bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

require_node
ensure_node_modules
( ensure_fonts ) || say "no CJK or emoji font could be installed: Japanese or Chinese captions on the grids, and emoji on the page, may show as boxes"

# Redis: use the one REDIS_URL names, or start one on its port
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
hostport="${REDIS_URL#*://}"
hostport="${hostport#*@}"
hostport="${hostport%%/*}"
redis_host="${hostport%:*}"
redis_port="${hostport##*:}"
[ "$redis_port" != "$hostport" ] || redis_port=6379
if redis_answers "$redis_host" "$redis_port"; then
  say "Redis answers at $REDIS_URL"
else
  ensure_redis_server_binary
  say "starting redis-server on port $redis_port (it keeps running; stop it with: redis-cli -p $redis_port shutdown)"
  redis-server --port "$redis_port" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no >/dev/null
  wait_for_redis "$redis_host" "$redis_port"
fi

say "starting nadabot: a worker and the local chat at http://${NADABOT_HOST:-127.0.0.1}:${NADABOT_PORT:-8787}/ (Ctrl-C stops both)"
exec node bin/nadabot.js demo
