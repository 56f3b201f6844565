#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (deny.toml): licences, bans (one TLS provider), sources
# (crates.io only) and advisories — the last against a local snapshot of the RustSec advisory
# database, offline, because this machine cannot fetch it. Fails on any advisory that affects
# a crate we build.
#
# Usage: scripts/supply_chain.sh            (installs cargo-deny 0.20.2 when it is missing)
#        ADVISORY_DB=/path/to/advisory-db   (default: ../shared/advisory-db beside the repo)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
snapshot="${ADVISORY_DB:-$root/../shared/advisory-db}"
if [[ ! -d "$snapshot/crates" ]]; then
  echo "no advisory database snapshot at $snapshot (set ADVISORY_DB)" >&2
  exit 1
fi
if ! cargo deny --version >/dev/null 2>&1; then
  echo "installing cargo-deny 0.20.2 (a few minutes)"
  cargo install --locked --quiet cargo-deny@0.20.2
fi
# cargo-deny reads the database from git (HEAD): the snapshot is data only, so it is put
# where cargo-deny looks for the default database (the folder name is derived from the
# default URL) and committed there once per snapshot.
db="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-3157b0e258782691"
stamp="$(cat "$snapshot/SNAPSHOT.txt" 2>/dev/null || echo unknown)"
if [[ ! -f "$db/.portcullis-snapshot" ]] || [[ "$(cat "$db/.portcullis-snapshot")" != "$stamp" ]]; then
  rm -rf "$db"
  mkdir -p "$db"
  cp -r "$snapshot"/. "$db"/
  echo "$stamp" > "$db/.portcullis-snapshot"
  git -C "$db" init -q
  git -C "$db" add -A
  git -C "$db" -c user.name=portcullis -c user.email=ci@localhost commit -qm "advisory snapshot"
fi
echo "advisory database: $(head -1 "$snapshot/SNAPSHOT.txt" 2>/dev/null || echo "$snapshot")"
# Offline needs the crates' metadata on disk.
cargo fetch --quiet
# Errors only on the console (duplicate versions are warnings: `cargo deny check bans` lists
# them); any error fails.
cargo deny -L error --offline check --hide-inclusion-graph

# The checks must be able to fail: a crate with a known advisory (time 0.1.43,
# RUSTSEC-2020-0071) must be refused by the same database — a snapshot that read as empty
# would otherwise pass everything — and OpenSSL by the same bans.
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
mkdir -p "$probe/src"
printf '[package]\nname = "advisory-probe"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n[dependencies]\ntime = "=0.1.43"\nopenssl-sys = "0.9"\n' > "$probe/Cargo.toml"
echo 'fn main() {}' > "$probe/src/main.rs"
cp deny.toml "$probe/deny.toml"
(cd "$probe" && cargo generate-lockfile --quiet && cargo fetch --quiet)
if out="$(cd "$probe" && cargo deny --offline check advisories --hide-inclusion-graph 2>&1)"; then
  echo "the advisory check passed a crate with a known advisory: the database is not being read" >&2
  exit 1
fi
if ! grep -q RUSTSEC-2020-0071 <<< "$out"; then
  echo "the advisory check failed the probe, but not for RUSTSEC-2020-0071:" >&2
  echo "$out" >&2
  exit 1
fi
echo "probe: time 0.1.43 refused (RUSTSEC-2020-0071), as it must be"
if out="$(cd "$probe" && cargo deny --offline check bans --hide-inclusion-graph 2>&1)"; then
  echo "the bans passed openssl-sys" >&2
  exit 1
fi
if ! grep -q "openssl-sys" <<< "$out"; then
  echo "the bans failed the probe, but not for openssl-sys:" >&2
  echo "$out" >&2
  exit 1
fi
echo "probe: openssl-sys refused by the bans, as it must be"
