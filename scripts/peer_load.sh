#!/usr/bin/env bash
# Portcullis side by side with its peers, in one run on this machine: nginx answering
# GET /api/whoami from a static map of the same 1,000 keys (scripts/nginx/peer.conf), a bare
# hyper server (examples/hyper_floor.rs, also with our headers and through axum), and Portcullis's /healthz and /api/whoami with a key
# whose limits are checked but never reached. For each: requests per second (wrk -t1 -c32,
# keep-alive) and the server's CPU time per request (user + system from /proc/<pid>/stat
# over the requests wrk counted) — the figure this machine's noise moves least.
#
# Usage: scripts/peer_load.sh [duration, default 10s] [connections, default 32]
#        ROUNDS=3 (alternating rounds; medians)   PORTCULLIS_ENV="K=V …" (extra server env)
# Needs wrk and nginx (Debian: apt-get install wrk nginx-light). Only 127.0.0.1; stops by itself.
set -euo pipefail
duration="${1:-10s}"
connections="${2:-32}"
rounds="${ROUNDS:-3}"
root="$(cd "$(dirname "$0")/.." && pwd)"
for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install wrk nginx-light)" >&2; exit 1; }
done
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin portcullis --example hyper_floor
bin="$root/target/release/portcullis"
floor="$root/target/release/examples/hyper_floor"
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
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }

# Portcullis with 1,000 keys.
env PORTCULLIS_LOGGING__LEVEL=warn ${PORTCULLIS_ENV:-} "$bin" serve --port 0 > out.txt 2> err.txt &
pids+=($!); portcullis=$!
for _ in $(seq 100); do grep -q listening out.txt 2>/dev/null && break; sleep 0.1; done
url="$(sed -n 's/^portcullis listening on //p' out.txt)"
admin="$(cat data/initial-admin.key)"
# One client on one kept-alive connection (a curl per key took minutes).
python3 - "$url" "$admin" > keys.map <<'PY'
import http.client, json, sys, urllib.parse
url, admin = urllib.parse.urlsplit(sys.argv[1]), sys.argv[2]
conn = http.client.HTTPConnection(url.hostname, url.port)
for i in range(1, 1001):
    body = json.dumps({"owner": f"load {i % 100}", "role": "user", "rate": "1000000/s"})
    conn.request("POST", "/api/keys", body, {"X-API-Key": admin, "Content-Type": "application/json"})
    response = conn.getresponse()
    key = json.loads(response.read())["key"]
    print(f'"{key}" 1;')
PY
key="$(sed -n '500s/^"\([^"]*\)".*/\1/p' keys.map)"

# nginx on the same keys, the bare hyper floor.
nginx_port="$(free_port)"
cp "$root/scripts/nginx/peer.conf" nginx.conf
echo "listen 127.0.0.1:$nginx_port;" > listen.conf
nginx -p "$work" -c "$work/nginx.conf" 2> nginx.err &
pids+=($!); nginx_master=$!
# The floor in its three shapes (examples/hyper_floor.rs): bare; with Portcullis's headers;
# those headers through an axum Router with no middleware.
declare -A floor_pid floor_url
for shape in bare headers axum; do
  "$floor" 0 "$shape" > "floor-$shape.txt" &
  pids+=($!); floor_pid[$shape]=$!
  for _ in $(seq 50); do grep -q listening "floor-$shape.txt" 2>/dev/null && break; sleep 0.1; done
  floor_url[$shape]="$(sed -n 's/^listening on //p' "floor-$shape.txt")"
done
sleep 0.5
nginx_pids() { echo "$nginx_master $(pgrep -P "$nginx_master" | tr '\n' ' ')"; }

# One measurement: "req/s cpu_us" for a URL, the server pids, and wrk's extra arguments.
measure() {
  local target="$1" server_pids="$2"; shift 2
  local before after out
  before="$(ticks $server_pids)"
  out="$(wrk -t1 -c"$connections" -d"$duration" "$@" "$target")"
  after="$(ticks $server_pids)"
  awk -v b="$before" -v a="$after" -v hz="$hz" '
    /requests in/ { n = $1 } /Requests\/sec/ { r = $2 }
    END { printf "%.0f %.1f\n", r, 1e6 * (a - b) / hz / n }' <<< "$out"
}
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A rps cpu
cases=(nginx floor floor_headers floor_axum healthz whoami)
for c in "${cases[@]}"; do rps[$c]=""; cpu[$c]=""; done
wrk -t1 -c"$connections" -d2s -H "X-API-Key: $key" "$url/api/whoami" > /dev/null   # warm-up
for _ in $(seq "$rounds"); do
  for c in "${cases[@]}"; do
    case $c in
      nginx) r=$(measure "http://127.0.0.1:$nginx_port/api/whoami" "$(nginx_pids)" -H "X-API-Key: $key") ;;
      floor) r=$(measure "${floor_url[bare]}/" "${floor_pid[bare]}") ;;
      floor_headers) r=$(measure "${floor_url[headers]}/" "${floor_pid[headers]}") ;;
      floor_axum) r=$(measure "${floor_url[axum]}/" "${floor_pid[axum]}") ;;
      healthz) r=$(measure "$url/healthz" "$portcullis") ;;
      whoami) r=$(measure "$url/api/whoami" "$portcullis" -H "X-API-Key: $key") ;;
    esac
    rps[$c]+="${r% *} "; cpu[$c]+="${r#* } "
  done
done
printf '%-44s %10s %14s\n' "server" "req/s" "CPU µs/request"
label() {
  case $1 in
    nginx) echo "nginx, static map of the keys (peer)" ;;
    floor) echo "bare hyper (examples/hyper_floor)" ;;
    floor_headers) echo "bare hyper, Portcullis's response headers" ;;
    floor_axum) echo "… through axum's Router, no middleware" ;;
    healthz) echo "Portcullis GET /healthz" ;;
    whoami) echo "Portcullis GET /api/whoami, key + limits" ;;
  esac
}
for c in "${cases[@]}"; do
  printf '%-44s %10s %14s\n' "$(label "$c")" "$(median ${rps[$c]})" "$(median ${cpu[$c]})"
done
