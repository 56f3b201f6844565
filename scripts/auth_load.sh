#!/usr/bin/env bash
# The authenticated request path under load, each way a client can authenticate, in one run
# on this machine: GET /api/whoami with a plain key, with seed 001's X-Token + X-Token-Hash, and
# RFC 9421 signed (a fresh nonce and `created` on every request); the plain key again with the
# limits in Redis; then an open-loop run at half the plain key's peak for latency percentiles.
# Every case uses the same generator (examples/loadgen/: one thread, 32 kept-alive
# connections, 1,000 keys with a session each), so the ratios compare the server, not the
# clients. For each: requests per second and the server's CPU time per request (user +
# system from /proc/<pid>/stat over the requests counted).
#
# Usage: scripts/auth_load.sh [seconds, default 5] [connections, default 32]
#        ROUNDS=3 (alternating rounds; medians)   REDIS_URL (default redis://127.0.0.1:6379)
# Only 127.0.0.1; stops by itself.
set -euo pipefail
seconds="${1:-5}"
connections="${2:-32}"
rounds="${ROUNDS:-1}"
redis_url="${REDIS_URL:-redis://127.0.0.1:6379}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin portcullis --example loadgen
bin="$root/target/release/portcullis"
loadgen="$root/target/release/examples/loadgen"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
hz="$(getconf CLK_TCK)"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# start NAME [ENV…]: a server in ./NAME on its own data directory; sets $url and $pid.
start() {
  local name="$1"; shift
  mkdir -p "$name"
  (cd "$name" && exec env PORTCULLIS_LOGGING__LEVEL=warn PORTCULLIS_LIMITS__PER_ADDRESS="1000000/s" \
    "$@" "$bin" serve --port 0 > out.txt 2> err.txt) &
  pid=$!; pids+=("$pid")
  for _ in $(seq 100); do grep -q listening "$name/out.txt" 2>/dev/null && break; sleep 0.1; done
  url="$(sed -n 's/^portcullis listening on //p' "$name/out.txt")"
}

# credentials NAME: 1,000 keys (rate never reached), each logged in once, into NAME/clients.
credentials() {
  python3 - "$url" "$(cat "$1/data/initial-admin.key")" > "$1/clients" <<'PY'
import http.client, json, sys, urllib.parse
url, admin = urllib.parse.urlsplit(sys.argv[1]), sys.argv[2]
conn = http.client.HTTPConnection(url.hostname, url.port)
def call(method, path, body, headers):
    conn.request(method, path, json.dumps(body), {"Content-Type": "application/json", **headers})
    response = conn.getresponse()
    answer = json.loads(response.read())
    assert response.status in (200, 201), answer
    return answer
for i in range(1, 1001):
    owner = f"load {i}"
    key = call("POST", "/api/keys", {"owner": owner, "role": "user", "rate": "1000000/s"},
               {"X-API-Key": admin})["key"]
    login = call("POST", "/user/login", {"username": owner, "key": key}, {})
    print(key, login["session_id"], login["session"])
PY
}

# measure PID URL MODE [loadgen options]: "rps cpu_us p50 p99".
measure() {
  local server="$1" target="$2" mode="$3" clients="$4"; shift 4
  local before after out
  before="$(ticks "$server")"
  out="$("$loadgen" "$target" "$mode" "$clients" --connections "$connections" --duration "$seconds" "$@")"
  after="$(ticks "$server")"
  grep -q 'errors=0$' <<< "$out" || { echo "errors: $out" >&2; exit 1; }
  awk -v b="$before" -v a="$after" -v hz="$hz" '{
      for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      printf "%.0f %.1f %s %s\n", f["rps"], 1e6 * (a - b) / hz / f["requests"], f["p50_us"], f["p99_us"] }' <<< "$out"
}
# Lua script calls Redis has served so far (rate checks; `redis-cli` from Debian's redis-tools).
script_calls() {
  redis-cli -u "$redis_url" info commandstats | awk -F'[=,:]' '/^cmdstat_eval(sha)?:/ { n += $3 } END { print n + 0 }'
}
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

start memory
memory_url="$url" memory_pid="$pid"
credentials memory
start redis PORTCULLIS_STORAGE__REDIS_URL="$redis_url" PORTCULLIS_LIMITS__REDIS_PREFIX="auth-load-$$:"
redis_url_="$url" redis_pid="$pid"
credentials redis

"$loadgen" "$memory_url/api/whoami" key memory/clients --duration 2 > /dev/null   # warm-up
"$loadgen" "$redis_url_/api/whoami" key redis/clients --duration 2 > /dev/null

declare -A rps cpu
per_call=""
cases=(key token-hash rfc9421 redis-key)
for c in "${cases[@]}"; do rps[$c]=""; cpu[$c]=""; done
for _ in $(seq "$rounds"); do
  for c in "${cases[@]}"; do
    case $c in
      redis-key)
        calls_before="$(script_calls)"
        r=$(measure "$redis_pid" "$redis_url_/api/whoami" key redis/clients)
        read -r a _ <<< "$r"
        per_call+="$(awk -v r="$a" -v s="$seconds" -v c="$(( $(script_calls) - calls_before ))" \
          'BEGIN { printf "%.1f", (c > 0 ? r * s / c : 0) }') " ;;
      *) r=$(measure "$memory_pid" "$memory_url/api/whoami" "$c" memory/clients) ;;
    esac
    read -r a b _ <<< "$r"
    rps[$c]+="$a "; cpu[$c]+="$b "
  done
done
label() {
  case $1 in
    key) echo "X-API-Key, limits in memory" ;;
    token-hash) echo "X-Token + X-Token-Hash (seed 001)" ;;
    rfc9421) echo "RFC 9421 signed, fresh nonce each" ;;
    redis-key) echo "X-API-Key, limits in Redis" ;;
  esac
}
key_rps="$(median ${rps[key]})"
printf '%-40s %10s %14s %10s\n' "GET /api/whoami" "req/s" "CPU µs/request" "of key"
for c in "${cases[@]}"; do
  r="$(median ${rps[$c]})"
  printf '%-40s %10s %14s %10s\n' "$(label "$c")" "$r" "$(median ${cpu[$c]})" \
    "$(awk -v r="$r" -v k="$key_rps" 'BEGIN { printf "%.2f", r / k }')"
done

echo "Redis: $(median $per_call) requests per rate-check round trip (leased cells)"

# Open loop at a quarter and at half the peak: latency from when each request was due.
for share in 4 2; do
  at=$((key_rps / share))
  read -r a b p50 p99 <<< "$(measure "$memory_pid" "$memory_url/api/whoami" key memory/clients --rate "$at")"
  echo "open loop at $at req/s (1/$share of the peak), X-API-Key: p50 ${p50} µs, p99 ${p99} µs, CPU ${b} µs/request"
done
