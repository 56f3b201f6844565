"""Interoperability: the OpenAPI document judged by schemathesis, against the real server.

Checked:
- `GET /openapi.json` is public, JSON, OpenAPI 3.1, and the same document that
  `portcullis openapi` prints for the same settings;
- schemathesis (tests/interop/schemathesis/schemathesis.toml: every check, the stateful
  phase following the links it infers) finds nothing: no 5xx, no response that contradicts
  its schema, no status or header the document does not list;
- `[openapi] enabled = false` takes the document off the API (404).

The server runs with rate limits off and the lockout out of reach (schemathesis sends
thousands of requests from one address, many of them refused on purpose), an environment
admin key (which the API cannot revoke or disable, so the run cannot lock itself out), an
environment device key for the phone's routes, and a stand-in phone.

Usage: python3 tests/interop/openapi.py target/debug/portcullis
Prints "N passed, M failed" and exits non-zero on any failure.
"""

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

import requests

RESULTS = {"passed": 0, "failed": 0}
HERE = os.path.dirname(os.path.abspath(__file__))
ADMIN = "openapi-admin-" + os.urandom(16).hex()
DEVICE = "openapi-device-" + os.urandom(16).hex()


def check(name, condition, detail=""):
    if condition:
        RESULTS["passed"] += 1
        print(f"ok   {name}", flush=True)
    else:
        RESULTS["failed"] += 1
        print(f"FAIL {name} {detail}", flush=True)


class Phone(http.server.BaseHTTPRequestHandler):
    """The SMS gateway's stand-in: takes every message."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            message_id = json.loads(body).get("id", "x")
        except ValueError:
            message_id = "x"
        out = json.dumps({"id": message_id, "state": "Pending"}).encode()
        self.send_response(202)
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def do_GET(self):
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


def settings_file(work, phone_port, extra=""):
    path = os.path.join(work, "portcullis.toml")
    with open(path, "w") as f:
        f.write(f"""
[limits]
enabled = false
[auth]
lockout_threshold = 1000000
[sms]
device_url = "http://127.0.0.1:{phone_port}"
test_phone = "+14155550100"
{extra}
""")
    return path


def environment(work):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PORTCULLIS_") and not k.endswith("_API_KEY")}
    env["PORTCULLIS_LOGGING__LEVEL"] = "warn"
    env["PORTCULLIS_STORAGE__DATA_DIR"] = os.path.join(work, "data")
    env["ADMIN_API_KEY"] = ADMIN
    env["TERMUX_API_KEY"] = DEVICE
    return env


def start(binary, work, env):
    stderr = open(os.path.join(work, "server.stderr"), "a")
    server = subprocess.Popen([binary, "serve", "--port", "0"], cwd=work, env=env,
                              stdout=subprocess.PIPE, stderr=stderr, text=True)
    line = server.stdout.readline().strip()
    if not line.startswith("portcullis listening on "):
        server.kill()
        raise SystemExit(f"the server did not start: {line!r}; see {work}/server.stderr")
    return server, line.removeprefix("portcullis listening on ")


def main(binary):
    binary = os.path.abspath(binary)
    work = tempfile.mkdtemp()
    phone = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Phone)
    threading.Thread(target=phone.serve_forever, daemon=True).start()
    settings_file(work, phone.server_address[1])
    env = environment(work)
    http_client = requests.Session()
    http_client.trust_env = False
    server, base = start(binary, work, env)
    try:
        response = http_client.get(f"{base}/openapi.json")
        check("GET /openapi.json without a key is 200", response.status_code == 200,
              response.status_code)
        check("it is JSON", response.headers.get("Content-Type") == "application/json",
              response.headers.get("Content-Type"))
        document = response.json()
        check("it is OpenAPI 3.1", document.get("openapi") == "3.1.0", document.get("openapi"))
        printed = subprocess.run([binary, "openapi"], cwd=work, env=env, capture_output=True,
                                 text=True, check=False)
        check("`portcullis openapi` succeeds", printed.returncode == 0, printed.stderr)
        check("and prints the document the server serves",
              printed.returncode == 0 and json.loads(printed.stdout) == document)
        operations = sum(len([m for m in item if m in ("get", "post", "put", "delete", "patch")])
                         for item in document["paths"].values())
        check("the document describes every service (at least 49 operations)",
              operations >= 49, operations)

        st_env = dict(os.environ)
        st_env["PORTCULLIS_ST_ADMIN_KEY"] = ADMIN
        st_env["PORTCULLIS_ST_DEVICE_KEY"] = DEVICE
        st_env["PORTCULLIS_ST_HOOKS"] = os.path.join(HERE, "schemathesis", "hooks.py")
        report = os.path.join(work, "schemathesis")
        run = subprocess.run(
            ["schemathesis", "--config-file", os.path.join(HERE, "schemathesis", "schemathesis.toml"),
             "run", f"{base}/openapi.json", "--checks", "all", "--report-dir", report,
             "--output-truncate", "true"],
            cwd=work, env=st_env, capture_output=True, text=True, check=False)
        summary = run.stdout[run.stdout.find("SUMMARY"):] if "SUMMARY" in run.stdout else run.stdout[-3000:]
        check("schemathesis finds nothing", run.returncode == 0,
              f"(exit {run.returncode})\n{run.stdout[-20000:]}\n{run.stderr[-3000:]}")
        print(summary.strip())
        alive = server.poll() is None
        check("the server is still up after the run", alive)
    finally:
        server.terminate()
        server.wait()

    # The switch.
    settings_file(work, phone.server_address[1], "[openapi]\nenabled = false\n")
    server, base = start(binary, work, env)
    try:
        response = http_client.get(f"{base}/openapi.json")
        check("with [openapi] enabled = false, /openapi.json is 404", response.status_code == 404,
              response.status_code)
        check("in our error shape", response.json().get("error") == "Not found", response.text)
        printed = subprocess.run([binary, "openapi"], cwd=work, env=env, capture_output=True,
                                 text=True, check=False)
        paths = json.loads(printed.stdout)["paths"] if printed.returncode == 0 else {}
        check("`portcullis openapi` still prints it, without /openapi.json",
              printed.returncode == 0 and "/openapi.json" not in paths and "/api/keys" in paths,
              printed.stderr)
    finally:
        server.terminate()
        server.wait()
        phone.shutdown()

    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    if RESULTS["failed"] == 0:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"the run's files are in {work}")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
