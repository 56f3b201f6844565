#!/usr/bin/env bash
# Campaign throughput against a stand-in phone: a release build sends N recipients (default
# 2000) through a small Python server that answers the android-sms-gateway API at once
# (202), with the pace set high enough (5000/s) that the worker, the store and the phone
# decide; prints messages per second. Also times `campaigns import` of the same file.
# Usage: scripts/campaign_throughput.sh [N] [sqlite (default) | postgres]
# postgres uses PORTCULLIS_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test)
# and creates and drops a database of its own. Touches only 127.0.0.1; stops by itself.
set -euo pipefail
n="${1:-2000}"
engine="${2:-sqlite}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="$root/target/release/portcullis"
work="$(mktemp -d)"
pids=()
db="pcthru_$$"
server="${PORTCULLIS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "$engine" = postgres ] && psql "$server" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
cat > phone.py <<'PY'
import http.server, json, sys
class Phone(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        out = json.dumps({"id": json.loads(body)["id"], "state": "Pending"}).encode()
        self.send_response(202); self.send_header("content-length", str(len(out))); self.end_headers(); self.wfile.write(out)
    def do_GET(self):
        self.send_response(200); self.send_header("content-length", "2"); self.end_headers(); self.wfile.write(b"{}")
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Phone)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
python3 phone.py > phone.port & pids+=($!)
for _ in $(seq 50); do [ -s phone.port ] && break; sleep 0.1; done
export PORTCULLIS_SMS__DEVICE_URL="http://127.0.0.1:$(cat phone.port)"
export PORTCULLIS_SMS__RATE=5000/s PORTCULLIS_SMS__DEVICE_RATE=5000/s PORTCULLIS_LOGGING__LEVEL=warn
if [ "$engine" = postgres ]; then
  psql "$server" -qc "CREATE DATABASE $db" >/dev/null
  export PORTCULLIS_STORAGE__URL="${server%/*}/$db"
  export PORTCULLIS_AUTH__SESSION_SECRET="$("$bin" keys generate)" PORTCULLIS_AUTH__AUDIT_SECRET="$("$bin" keys generate)"
fi
"$bin" serve --port 0 > out.txt 2> err.txt & pids+=($!)
for _ in $(seq 100); do grep -q listening out.txt 2>/dev/null && break; sleep 0.1; done
url="$(sed -n 's/^portcullis listening on //p' out.txt)"
admin="$(cat data/initial-admin.key)"
python3 -c "
import sys
print('name,phone')
for i in range($n): print('m%d,+1212%03d%04d' % (i, 200 + i // 10000, i % 10000))
" > list.csv
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
id=$(curl -s -X POST -H "X-API-Key: $admin" -H 'Content-Type: application/json' \
     -d '{"name":"throughput","message":"Hi {name}"}' "$url/api/campaign/create" | field id)
start=$(date +%s.%N)
"$bin" campaigns import list.csv --campaign "$id" > /dev/null
imported=$(date +%s.%N)
curl -s -X POST -H "X-API-Key: $admin" -H 'Content-Type: application/json' -d "{\"id\":\"$id\"}" "$url/api/campaign/start" > /dev/null
until [ "$(curl -s -H "X-API-Key: $admin" "$url/api/campaign/status?id=$id" | field state)" = completed ]; do sleep 0.2; done
done_at=$(date +%s.%N)
awk -v n="$n" -v s="$start" -v i="$imported" -v d="$done_at" -v e="$engine" \
  'BEGIN { printf "%s: import %d recipients %.2f s; sent %d in %.1f s = %.0f messages/s\n", e, n, i - s, n, d - i, n / (d - i) }'
