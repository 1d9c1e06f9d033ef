# Shared by scripts/demo.sh and scripts/test.sh: messages, installs, Redis checks.

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs apt-get as root: directly when we are root, through sudo otherwise.
apt_install() {
  local runner=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || fail "installing $* needs root: run 'apt-get install -y $*' as root"
    runner=(sudo)
  fi
  say "installing $* with apt-get (Debian package)"
  "${runner[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${runner[@]}" apt-get install -y -qq "$@"
}

require_node() {
  command -v node >/dev/null || fail "Node.js 20 or newer is needed: https://nodejs.org (or apt-get install nodejs on Debian 13)"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || fail "Node.js $(node -v) is too old: nadabot needs 20 or newer"
}

ensure_node_modules() {
  if [ ! -d node_modules ]; then
    say "installing npm dependencies (npm ci)"
    npm ci --no-audit --no-fund
  fi
}

# Grid captions echo the prompt; without a CJK font, 日本人女性 would render as boxes. The
# chat page's reactions (1️⃣, 🔁, ⏹) need a colour emoji font in a browser on this machine.
ensure_fonts() {
  local missing=()
  command -v fc-list >/dev/null || missing+=(fontconfig)
  [ -n "$(fc-list :lang=ja 2>/dev/null | head -n 1)" ] || missing+=(fonts-noto-cjk)
  fc-list 2>/dev/null | grep -qi 'emoji' || missing+=(fonts-noto-color-emoji)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

ensure_redis_server_binary() {
  command -v redis-server >/dev/null || apt_install redis-server
}

# True when a Redis answers PING at host $1, port $2 (bash's /dev/tcp; no client needed).
redis_answers() {
  local reply=''
  { exec 3<>"/dev/tcp/$1/$2"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  read -r -t 2 reply <&3 || true
  exec 3>&- 3<&-
  [[ "$reply" == +PONG* ]]
}

# Waits up to 10 s for a Redis at host $1, port $2.
wait_for_redis() {
  for _ in $(seq 1 50); do
    redis_answers "$1" "$2" && return 0
    sleep 0.2
  done
  fail "redis-server did not answer on $1:$2"
}

# A TCP port nothing listens on (asks the OS through Node).
free_port() {
  node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}
