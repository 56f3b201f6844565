#!/usr/bin/env bash
# One node vs three on one PostgreSQL database, on this machine: authenticated requests
# (GET /api/whoami with a key whose rate is never reached) per second, the same total
# connections either way. The machine has the same cores for both runs, so the point is
# the shape (what a node costs, that nothing serialises across nodes), not a speed-up.
#
# Usage: scripts/cluster_load.sh [duration, default 10s] [connections, default 30] [redis]
#   With "redis" as third argument the nodes share limits through 127.0.0.1:6379.
# Needs wrk and a PostgreSQL server at PORTCULLIS_TEST_POSTGRES_URL (default
# postgres://postgres@127.0.0.1:5432/test); creates and drops a database of its own.
set -euo pipefail
duration="${1:-10s}"
connections="${2:-30}"
redis="${3:-}"
root="$(cd "$(dirname "$0")/.." && pwd)"
server="${PORTCULLIS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="$root/target/release/portcullis"
work="$(mktemp -d)"
db="pcload_$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$server" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql "$server" -qc "CREATE DATABASE $db" >/dev/null
export PORTCULLIS_STORAGE__URL="${server%/*}/$db"
export PORTCULLIS_AUTH__SESSION_SECRET="$("$bin" keys generate)"
export PORTCULLIS_AUTH__AUDIT_SECRET="$("$bin" keys generate)"
export PORTCULLIS_LOGGING__LEVEL=error
if [ "$redis" = redis ]; then
  export PORTCULLIS_STORAGE__REDIS_URL=redis://127.0.0.1:6379
  export PORTCULLIS_LIMITS__REDIS_PREFIX="pcload:$$:"
fi
"$bin" migrate >/dev/null
key="$("$bin" keys create --owner load-test --role user --rate "1000000/s" 2>/dev/null)"

start_nodes() {  # start $1 nodes; sets urls[] and pids[]
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=(); urls=()
  for i in $(seq "$1"); do
    mkdir -p "$work/node$i"
    (cd "$work/node$i" && exec "$bin" serve --port 0 > out.txt 2> err.txt) &
    pids+=($!)
  done
  for i in $(seq "$1"); do
    for _ in $(seq 100); do grep -q listening "$work/node$i/out.txt" 2>/dev/null && break; sleep 0.1; done
    urls+=("$(sed -n 's/^portcullis listening on //p' "$work/node$i/out.txt")")
  done
}
cpu_ticks() { local t=0; for p in "${pids[@]}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
load() {  # wrk against each node at once, connections shared out; prints total req/s and CPU µs/request
  local n=${#urls[@]} per=$((connections / ${#urls[@]})) before after total=0
  for u in "${urls[@]}"; do wrk -t1 -c"$per" -d2s -H "X-API-Key: $key" "$u/api/whoami" >/dev/null; done
  before="$(cpu_ticks)"
  for i in $(seq 0 $((n - 1))); do
    wrk -t1 -c"$per" -d"$duration" -H "X-API-Key: $key" "${urls[$i]}/api/whoami" > "$work/wrk$i.txt" &
  done
  wait $(jobs -p | tail -n "$n")
  after="$(cpu_ticks)"
  local requests=0
  for i in $(seq 0 $((n - 1))); do
    total=$(awk -v t="$total" '/Requests\/sec/ {print t + $2}' "$work/wrk$i.txt")
    requests=$(awk -v r="$requests" '/requests in/ {print r + $1}' "$work/wrk$i.txt")
  done
  local hz; hz="$(getconf CLK_TCK)"
  awk -v t="$total" -v c="$((after - before))" -v r="$requests" -v hz="$hz" \
    'BEGIN { printf "%.0f req/s, %.1f µs server CPU per request", t, 1e6 * c / hz / r }'
}
start_nodes 1
echo "1 node:  $(load)"
start_nodes 3
echo "3 nodes: $(load)"
