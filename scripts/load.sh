#!/usr/bin/env bash
# Load comparison on a release build listening on 127.0.0.1 only:
#   GET /healthz (no auth)  vs  GET /api/whoami with a key, with rate limits on (a key whose
#   rate is never reached, so every request pays for the check), off, and on Redis; then
#   what the access log (info, to a daily file) and HTTPS (keep-alive, --tls-self-signed)
#   cost /healthz.
# Target: the authenticated route reaches >= 80% of the unauthenticated one's throughput.
#
# Usage: scripts/load.sh [duration per round, default 10s] [connections, default 32]
#        ROUNDS=3 (alternating healthz/whoami rounds; medians are reported)
# Needs wrk (Debian: apt-get install wrk). The Redis case runs when redis-cli can reach
# 127.0.0.1:6379. Stops by itself; touches only 127.0.0.1.
set -euo pipefail
duration="${1:-10s}"
connections="${2:-32}"
root="$(cd "$(dirname "$0")/.." && pwd)"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="$root/target/release/portcullis"
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"

start() {  # start the server with extra environment "$@" (and $SERVE_ARGS); sets $url
  [ -n "$pid" ] && { kill "$pid"; wait "$pid" 2>/dev/null || true; }
  rm -f out.txt
  env PORTCULLIS_LOGGING__LEVEL=warn "$@" "$bin" serve --port 0 ${SERVE_ARGS:-} > out.txt 2> err.txt &
  pid=$!
  for _ in $(seq 50); do grep -q listening out.txt 2>/dev/null && break; sleep 0.1; done
  url="$(sed -n 's/^portcullis listening on //p' out.txt)"
}
run() { wrk -t2 -c"$connections" -d"$duration" "$@" | awk '/Requests\/sec/ {print $2}'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# This machine's throughput drifts by ±20% from one run to the next, so routes are compared
# in alternating rounds and the medians reported.
rounds="${ROUNDS:-3}"
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / b }'; }

start
key="$("$bin" keys create --owner load-test --role user --rate "1000000/s" 2>/dev/null)"
run "$url/healthz" >/dev/null  # warm-up
h=(); l=()
for _ in $(seq "$rounds"); do
  h+=("$(run "$url/healthz")")
  l+=("$(run -H "X-API-Key: $key" "$url/api/whoami")")
done
health="$(median "${h[@]}")"
limited="$(median "${l[@]}")"
start PORTCULLIS_LIMITS__ENABLED=false
u=()
for _ in $(seq "$rounds"); do u+=("$(run -H "X-API-Key: $key" "$url/api/whoami")"); done
unlimited="$(median "${u[@]}")"
echo "GET /healthz                          ${health} req/s"
echo "GET /api/whoami, limits on (memory)   ${limited} req/s  ($(pct "$limited" "$health") of healthz)"
echo "GET /api/whoami, limits off           ${unlimited} req/s  ($(pct "$unlimited" "$health") of healthz)"
if command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  start PORTCULLIS_STORAGE__REDIS_URL=redis://127.0.0.1:6379 PORTCULLIS_LIMITS__REDIS_PREFIX="pcload:$$:"
  redis_limited="$(run -H "X-API-Key: $key" "$url/api/whoami")"
  echo "GET /api/whoami, limits on Redis      ${redis_limited} req/s  ($(pct "$redis_limited" "$health") of healthz)"
fi
start PORTCULLIS_LOGGING__LEVEL=info PORTCULLIS_LOGGING__LOG_FILE="$work/logs/portcullis.log"
a=()
for _ in $(seq "$rounds"); do a+=("$(run "$url/healthz")"); done
logged="$(median "${a[@]}")"
echo "GET /healthz, access log to a file    ${logged} req/s  ($(pct "$logged" "$health") of healthz)"
SERVE_ARGS=--tls-self-signed start
t=()
for _ in $(seq "$rounds"); do t+=("$(run "$url/healthz")"); done
tls="$(median "${t[@]}")"
echo "GET /healthz over HTTPS (keep-alive)  ${tls} req/s  ($(pct "$tls" "$health") of healthz)"
