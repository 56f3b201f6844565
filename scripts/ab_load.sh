#!/usr/bin/env bash
# A/B of two Portcullis builds (or one build under two environments) in one run, so that this
# noisy machine's drift falls on both alike: each server gets a key whose limits are never
# reached, then rounds alternate A and B on `/healthz` and `/api/whoami` (wrk -t1 -c32,
# keep-alive) and print the server's CPU time per request (user + system from /proc/<pid>/stat
# over the requests wrk counted) and requests per second, then the medians.
#
# Usage: scripts/ab_load.sh BIN_A BIN_B [rounds, default 4] [duration, default 5s]
#        A_ENV="K=V …" B_ENV="K=V …" (extra environment for each server)
# Example, a change against the last commit:
#   git stash; cargo build --release --bin portcullis; cp target/release/portcullis /tmp/before
#   git stash pop; cargo build --release --bin portcullis
#   scripts/ab_load.sh /tmp/before target/release/portcullis
# Needs wrk. Only 127.0.0.1; stops by itself.
set -euo pipefail
bin_a="$1"
bin_b="$2"
rounds="${3:-4}"
duration="${4:-5s}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
hz="$(getconf CLK_TCK)"

# Start one server in its own directory; prints "pid url key".
start() {
  local name="$1" bin="$2" extra="$3"
  mkdir -p "$work/$name"
  (cd "$work/$name" && exec env PORTCULLIS_LOGGING__LEVEL=warn $extra "$bin" serve --port 0 \
    > out.txt 2> err.txt) &
  local pid=$!
  for _ in $(seq 100); do grep -q listening "$work/$name/out.txt" 2>/dev/null && break; sleep 0.1; done
  local url admin key
  url="$(sed -n 's/^portcullis listening on //p' "$work/$name/out.txt")"
  admin="$(cat "$work/$name/data/initial-admin.key")"
  key="$(curl -sf -X POST "$url/api/keys" -H "X-API-Key: $admin" -H 'Content-Type: application/json' \
    -d '{"owner":"ab","role":"user","rate":"1000000/s"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')"
  echo "$pid $url $key"
}
read -r pid_a url_a key_a < <(start a "$bin_a" "${A_ENV:-}")
pids+=("$pid_a")
read -r pid_b url_b key_b < <(start b "$bin_b" "${B_ENV:-}")
pids+=("$pid_b")

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# "cpu_us rps" for one wrk run against a server.
measure() {
  local pid="$1" target="$2"; shift 2
  local before after out
  before="$(ticks "$pid")"
  out="$(wrk -t1 -c32 -d"$duration" "$@" "$target")"
  after="$(ticks "$pid")"
  awk -v b="$before" -v a="$after" -v hz="$hz" '
    /requests in/ { n = $1 } /Requests\/sec/ { r = $2 }
    END { printf "%.2f %.0f\n", 1e6 * (a - b) / hz / n, r }' <<< "$out"
}
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (a[int((NR + 1) / 2)] + a[int(NR / 2) + 1]) / 2 }'; }

declare -A cpu rps
for round in $(seq "$rounds"); do
  for side in a b; do
    pid_var="pid_$side"; url_var="url_$side"; key_var="key_$side"
    read -r c r < <(measure "${!pid_var}" "${!url_var}/healthz")
    cpu[$side,healthz]+="$c "; rps[$side,healthz]+="$r "
    read -r c r < <(measure "${!pid_var}" "${!url_var}/api/whoami" -H "X-API-Key: ${!key_var}")
    cpu[$side,whoami]+="$c "; rps[$side,whoami]+="$r "
  done
done
printf '%-10s %-3s %-40s %-40s %s\n' route "" "CPU µs per request (rounds)" "req/s (rounds)" "median µs · req/s"
for route in healthz whoami; do
  for side in a b; do
    # shellcheck disable=SC2086
    printf '%-10s %-3s %-40s %-40s %s · %s\n' "$route" "${side^^}" "${cpu[$side,$route]}" "${rps[$side,$route]}" \
      "$(median ${cpu[$side,$route]})" "$(median ${rps[$side,$route]})"
  done
done
