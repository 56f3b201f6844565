"""Interoperability: `/metrics` read by the Prometheus project's own Python client parser
(`prometheus_client.openmetrics.parser`, the OpenMetrics text format the server writes),
with a `monitor` key on the API and without a key on the private listener.

Checked: the exposition parses whole; the families and their types; the request counter and
latency histogram by route pattern for requests this script made; authentication outcomes;
that no label value is a key, a raw path, an address or a message id; and that the
histogram's buckets are cumulative and end at +Inf with the count.

Usage: python3 tests/interop/metrics.py target/debug/portcullis
Prints "N passed, M failed" and exits non-zero on any failure.
"""

import os
import socket
import subprocess
import sys
import tempfile

import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families

RESULTS = {"passed": 0, "failed": 0}


def check(name, condition, detail=""):
    if condition:
        RESULTS["passed"] += 1
        print(f"ok   {name}")
    else:
        RESULTS["failed"] += 1
        print(f"FAIL {name} {detail}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(binary):
    binary = os.path.abspath(binary)
    work = tempfile.mkdtemp()
    private = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_") and not k.endswith("_API_KEY")}
    env["PORTCULLIS_LOGGING__LEVEL"] = "warn"
    env["PORTCULLIS_STORAGE__DATA_DIR"] = os.path.join(work, "data")
    env["PORTCULLIS_METRICS__LISTEN"] = private
    stderr = open(os.path.join(work, "server.stderr"), "w")
    server = subprocess.Popen([binary, "serve", "--port", "0"], cwd=work, env=env,
                              stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        base = server.stdout.readline().strip().removeprefix("portcullis listening on ")
        with open(os.path.join(work, "data", "initial-admin.key")) as f:
            admin = f.read().strip()
        http = requests.Session()
        http.trust_env = False

        def create(role):
            response = http.post(f"{base}/api/keys", headers={"X-API-Key": admin},
                                 json={"owner": f"{role} owner", "role": role})
            return response.json()["key"]

        monitor, user = create("monitor"), create("user")
        for _ in range(5):
            http.get(f"{base}/api/whoami", headers={"X-API-Key": user})
        http.get(f"{base}/api/whoami", headers={"X-API-Key": "a-key-nobody-issued-but-long-enough"})
        http.get(f"{base}/api/keys/3k9x0m2q7d1a", headers={"X-API-Key": admin})
        posted = http.post(f"{base}/", json={"message": "counted, never shown"}).json()
        http.get(f"{base}{posted['url']}")

        response = http.get(f"{base}/metrics", headers={"X-API-Key": monitor})
        check("GET /metrics with a monitor key is 200", response.status_code == 200, response.status_code)
        check("the content type is OpenMetrics text",
              response.headers.get("Content-Type") == "application/openmetrics-text; version=1.0.0; charset=utf-8",
              response.headers.get("Content-Type"))
        try:
            families = {f.name: f for f in text_string_to_metric_families(response.text)}
            check("the exposition parses with prometheus_client's OpenMetrics parser", True)
        except Exception as err:  # the parser's own error says where
            check("the exposition parses with prometheus_client's OpenMetrics parser", False, err)
            return
        expected = {
            "portcullis_http_requests": "counter",
            "portcullis_http_request_duration_seconds": "histogram",
            "portcullis_auth_outcomes": "counter",
            "portcullis_rate_limit_decisions": "counter",
            "portcullis_lockout_refusals": "counter",
            "portcullis_audit_records_written": "counter",
            "portcullis_audit_write_seconds": "histogram",
            "portcullis_audit_queue_depth": "gauge",
            "portcullis_store_pool_connections": "gauge",
            "portcullis_redis_up": "gauge",
            "portcullis_messages": "counter",
            "portcullis_messages_live": "gauge",
        }
        for name, kind in expected.items():
            check(f"{name} is a {kind}", name in families and families[name].type == kind,
                  families.get(name) and families[name].type)

        def value(family, sample_name, **labels):
            for sample in families[family].samples:
                if sample.name == sample_name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return sample.value
            return None

        check("5 whoami answered 200, counted by route pattern",
              value("portcullis_http_requests", "portcullis_http_requests_total",
                    route="/api/whoami", method="GET", status="200") == 5)
        check("the refused one as a 401",
              value("portcullis_http_requests", "portcullis_http_requests_total",
                    route="/api/whoami", status="401") == 1)
        check("a key id in a path is counted under its pattern",
              value("portcullis_http_requests", "portcullis_http_requests_total",
                    route="/api/keys/{id}", status="404") == 1)
        check("the refusal by reason",
              value("portcullis_auth_outcomes", "portcullis_auth_outcomes_total",
                    outcome="refused", reason="unknown_key") == 1)
        check("one message posted", value("portcullis_messages", "portcullis_messages_total", event="posted") == 1)

        buckets = [s for s in families["portcullis_http_request_duration_seconds"].samples
                   if s.name.endswith("_bucket") and s.labels.get("route") == "/api/whoami"]
        counts = [s.value for s in buckets]
        check("latency buckets are cumulative and end at +Inf with the count",
              counts == sorted(counts) and buckets[-1].labels["le"] == "+Inf"
              and counts[-1] == value("portcullis_http_request_duration_seconds",
                                      "portcullis_http_request_duration_seconds_count", route="/api/whoami") == 6,
              counts)

        labels = {v for f in families.values() for s in f.samples for v in s.labels.values()}
        forbidden = [user, monitor, admin, "127.0.0.1", "3k9x0m2q7d1a", posted["id"]]
        check("no label value is a key, a raw path, an address or a message id",
              not any(secret in label for secret in forbidden for label in labels), sorted(labels))

        plain = http.get(f"http://{private}/metrics")
        check("the private listener answers without a key", plain.status_code == 200, plain.status_code)
        parsed = list(text_string_to_metric_families(plain.text))
        check("and its exposition parses too", len(parsed) >= len(expected), len(parsed))
        check("the API refuses a user key", http.get(f"{base}/metrics", headers={"X-API-Key": user}).status_code == 403)
    finally:
        server.terminate()
        server.wait(timeout=10)
        stderr.close()
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    sys.exit(1 if RESULTS["failed"] else 0)


if __name__ == "__main__":
    main(sys.argv[1])
