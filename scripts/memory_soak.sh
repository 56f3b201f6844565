#!/usr/bin/env bash
# Memory under a long and wide load: the server's resident set while it answers millions of
# requests from many keys and many client addresses, including a flood of failed
# authentications from addresses it has never seen (each one a rate-limit bucket, a lockout
# entry and an audit record). Every map that such a load fills has a capacity (key cache,
# unknown-key cache, limiter buckets, lockout entries, audit queue); this shows the
# capacities, not the load, set the ceiling.
#
# The keys are real ones written straight into the store (examples/fill_store.rs: the API
# would take minutes for 100,000); the server believes X-Forwarded-For from 127.0.0.1, so each
# request can come from its own address. Rounds alternate an authenticated phase (every key in
# turn, from every address in turn) and a failing phase (a mistyped key, from every address),
# and the resident set (VmRSS) is read after each phase; the high-water mark (VmHWM) at the end.
#
# Usage: scripts/memory_soak.sh [requests, default 10000000] [keys, default 100000]
#        [addresses, default 1000000]
#        ROUNDS=2 (rounds the requests are split into)   LIMIT_MIB=256 (fail above this high-water mark)
# Only 127.0.0.1; stops by itself (≈ 4 minutes with the defaults on the 2-core machine).
set -euo pipefail
requests="${1:-10000000}"
keys="${2:-100000}"
addresses="${3:-1000000}"
rounds="${ROUNDS:-2}"
limit_mib="${LIMIT_MIB:-256}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin portcullis \
  --example loadgen --example fill_store
bin="$root/target/release/portcullis"
loadgen="$root/target/release/examples/loadgen"
fill="$root/target/release/examples/fill_store"
work="$(mktemp -d)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

# The key cache holds every key (an operator with 100,000 busy keys sizes it so); limits are
# on, at rates this load does not reach, so every request is counted without being refused.
serve() {
  env PORTCULLIS_LOGGING__LEVEL=warn \
    PORTCULLIS_SERVER__TRUSTED_PROXIES=127.0.0.1 \
    PORTCULLIS_AUTH__CACHE_CAPACITY="$keys" \
    PORTCULLIS_LIMITS__ROLES__USER="1000000/s" \
    "$bin" serve --port 0 > out.txt 2> err.txt &
  pid=$!
  for _ in $(seq 100); do grep -q listening out.txt 2>/dev/null && break; sleep 0.1; done
  url="$(sed -n 's/^portcullis listening on //p' out.txt)"
  [ -n "$url" ] || { cat err.txt >&2; exit 1; }
}
mib() { awk -v field="$1:" '$1 == field { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"; }

# A first start makes the data directory and its secrets; then the keys go into the store.
serve
kill "$pid"; wait "$pid" 2>/dev/null || true
"$fill" data/portcullis.db "$keys" 0 "$(cat data/audit.key)" keys.txt > /dev/null
# A mistyped key: well-formed, its checksum wrong (the last character changed).
token="$(head -1 keys.txt)"
if [ "${token: -1}" = 0 ]; then echo "${token%?}1"; else echo "${token%?}0"; fi > wrong.txt
serve
echo "server started with $keys keys in the store: RSS $(mib VmRSS) MiB"

per_round=$(( requests / rounds ))
failing=$(( per_round < addresses ? per_round / 10 : addresses ))
authenticated=$(( per_round - failing ))
sent=0
for round in $(seq "$rounds"); do
  out="$("$loadgen" "$url/api/whoami" key keys.txt --requests "$authenticated" --addresses "$addresses")"
  errors="$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<< "$out")"
  rps="$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<< "$out")"
  sent=$(( sent + authenticated ))
  echo "round $round: $authenticated authenticated requests ($rps req/s, $errors not 200): RSS $(mib VmRSS) MiB after $sent"
  out="$("$loadgen" "$url/api/whoami" key wrong.txt --requests "$failing" --addresses "$addresses" 2> /dev/null)"
  refused="$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<< "$out")"
  sent=$(( sent + failing ))
  echo "round $round: $failing with a mistyped key, each from another address ($refused refused): RSS $(mib VmRSS) MiB after $sent"
done
hwm="$(mib VmHWM)"
echo "after $sent requests from $keys keys and $addresses addresses: RSS $(mib VmRSS) MiB, high-water mark $hwm MiB"
if [ -n "$limit_mib" ] && awk -v h="$hwm" -v l="$limit_mib" 'BEGIN { exit !(h > l) }'; then
  echo "FAIL: the high-water mark is above $limit_mib MiB" >&2
  exit 1
fi
