#!/usr/bin/env bash
# POST /api/keys/verify against GET /api/whoami, side by side in one run: the verification
# API is meant to cost what an authenticated request costs. wrk -t1 -c32, keep-alive, logs at
# warn; the verifier's and the client's keys get rates that are never reached. Prints req/s
# and the server's CPU µs per request (user + system from /proc/<pid>/stat), median of ROUNDS.
#
# Usage: scripts/verify_load.sh [duration, default 5s]   ROUNDS=3
# Needs wrk. Only 127.0.0.1; stops by itself.
set -euo pipefail
duration="${1:-5s}"
rounds="${ROUNDS:-3}"
root="$(cd "$(dirname "$0")/.." && pwd)"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin portcullis
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
PORTCULLIS_LOGGING__LEVEL=warn "$root/target/release/portcullis" serve --port 0 > out.txt 2> err.txt &
server=$!
for _ in $(seq 100); do grep -q listening out.txt 2>/dev/null && break; sleep 0.1; done
url="$(sed -n 's/^portcullis listening on //p' out.txt)"
admin="$(cat data/initial-admin.key)"
key() {
  curl -s -X POST -H "X-API-Key: $admin" -H 'Content-Type: application/json' \
    -d "{\"owner\": \"$1\", \"role\": \"$2\", \"rate\": \"1000000/s\"}" "$url/api/keys" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])'
}
verifier="$(key "Billing service" verifier)"
client="$(key "Client 7" user)"
cat > verify.lua <<LUA
wrk.method = "POST"
wrk.headers["X-API-Key"] = "$verifier"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"key": "$client"}'
LUA
hz="$(getconf CLK_TCK)"
ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
measure() {
  local before after out
  before="$(ticks)"
  out="$(wrk -t1 -c32 -d"$duration" "$@")"
  after="$(ticks)"
  awk -v b="$before" -v a="$after" -v hz="$hz" '
    /requests in/ { n = $1 } /Requests\/sec/ { r = $2 }
    END { printf "%.0f %.1f\n", r, 1e6 * (a - b) / hz / n }' <<< "$out"
}
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
wrk -t1 -c32 -d2s -H "X-API-Key: $client" "$url/api/whoami" > /dev/null
declare -a wr wc vr vc
for _ in $(seq "$rounds"); do
  r=$(measure -H "X-API-Key: $client" "$url/api/whoami"); wr+=("${r% *}"); wc+=("${r#* }")
  r=$(measure -s verify.lua "$url/api/keys/verify"); vr+=("${r% *}"); vc+=("${r#* }")
done
printf '%-40s %10s %14s\n' "request" "req/s" "CPU µs/request"
printf '%-40s %10s %14s\n' "GET /api/whoami (the client's key)" "$(median "${wr[@]}")" "$(median "${wc[@]}")"
printf '%-40s %10s %14s\n' "POST /api/keys/verify (that key)" "$(median "${vr[@]}")" "$(median "${vc[@]}")"
