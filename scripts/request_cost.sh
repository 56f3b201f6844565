#!/usr/bin/env bash
# Instructions per request (callgrind counts, repeatable whatever else the machine does):
# each route run with N requests and with none; the difference over N. Needs valgrind.
# Each route also with the log at info to a file (the access line's cost, writer thread included).
# Usage: scripts/request_cost.sh [N, default 2000]
set -euo pipefail
n="${1:-2000}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --quiet --example request_cost --manifest-path "$root/Cargo.toml"
bin="$root/target/release/examples/request_cost"
count() {  # instructions collected running "$@"
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$@" 2>&1 \
    | sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
for route in healthz whoami; do
  base="$(count "$route" 0)"
  full="$(count "$route" "$n")"
  echo "$route: $(( (full - base) / n )) instructions per request"
  base="$(count "$route" 0 logged)"
  full="$(count "$route" "$n" logged)"
  echo "$route with the access log at info to a file: $(( (full - base) / n )) instructions per request"
done
