#!/usr/bin/env bash
# Load comparison: GET /api/whoami with a valid key against GET /healthz (no auth), on a
# release build listening on 127.0.0.1 only. Target: whoami >= 80% of healthz throughput.
#
# Usage: scripts/load.sh [duration, default 10s] [connections, default 32]
# Needs wrk (Debian: apt-get install wrk). Stops by itself; touches only 127.0.0.1.
set -euo pipefail
duration="${1:-10s}"
connections="${2:-32}"
root="$(cd "$(dirname "$0")/.." && pwd)"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="$root/target/release/portcullis"
work="$(mktemp -d)"
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
# Logs at warn so the log writer is not what is measured.
PORTCULLIS_LOGGING__LEVEL=warn "$bin" serve --port 0 > out.txt 2> err.txt &
pid=$!
for _ in $(seq 50); do grep -q listening out.txt 2>/dev/null && break; sleep 0.1; done
url="$(sed -n 's/^portcullis listening on //p' out.txt)"
key="$("$bin" keys create --owner load-test --role user 2>/dev/null)"
run() { wrk -t2 -c"$connections" -d"$duration" "$@" | awk '/Requests\/sec/ {print $2}'; }
run "$url/healthz" >/dev/null  # warm-up
health="$(run "$url/healthz")"
whoami="$(run -H "X-API-Key: $key" "$url/api/whoami")"
ratio="$(awk -v a="$whoami" -v b="$health" 'BEGIN { printf "%.0f", 100 * a / b }')"
echo "GET /healthz            ${health} req/s"
echo "GET /api/whoami (key)   ${whoami} req/s"
echo "authenticated / unauthenticated: ${ratio}%"
