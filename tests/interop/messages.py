"""Interoperability: the message drop (seed 004) over HTTPS, spoken to with Python's
`requests` (the seed's own test client) and `ssl`, on the SQL store and, when
PORTCULLIS_TEST_REDIS_URL is set, on Redis.

The server runs with `serve --tls-self-signed`; requests trusts only the development CA it
writes. Checked: the seed's two URLs and their allow list (405 with Allow), UUID4 ids, the
OWASP headers plus HSTS, burn-after-reading under concurrent readers, deletion by token, the
64 KiB limit, and TLS 1.2+ as seen by Python's ssl module.

Usage: python3 tests/interop/messages.py target/debug/portcullis
Prints "N passed, M failed" and exits non-zero on any failure.
"""

import concurrent.futures
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import uuid

import requests

RESULTS = {"passed": 0, "failed": 0}
OWASP = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}
# Refusals, compared whole as (status, JSON body, X-Error-Code).
NOT_FOUND = (404, {"error": "Not found", "message": "The requested resource does not exist"}, "not_found")
NOT_ALLOWED = (405, {"error": "Method not allowed",
                     "message": "This method is not allowed on this resource; see the Allow header"},
               "method_not_allowed")


def check(name, condition, detail=""):
    if condition:
        RESULTS["passed"] += 1
        print(f"ok   {name}")
    else:
        RESULTS["failed"] += 1
        print(f"FAIL {name} {detail}")


def answer(response):
    """(status, JSON body, X-Error-Code) of an answer: what a refusal check compares exactly.
    A body that is not JSON (a HEAD answer has none) is given as its text."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return response.status_code, body, response.headers.get("X-Error-Code")


def start(binary, work, extra_env):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_") and not k.endswith("_API_KEY")}
    env["PORTCULLIS_LOGGING__LEVEL"] = "warn"
    env["PORTCULLIS_STORAGE__DATA_DIR"] = os.path.join(work, "data")
    # Fifty-odd requests from one address within seconds: above the default per-address limit.
    env["PORTCULLIS_LIMITS__PER_ADDRESS"] = "6000/min burst 1000"
    env.update(extra_env)
    stderr = open(os.path.join(work, "server.stderr"), "w")
    server = subprocess.Popen([binary, "serve", "--port", "0", "--tls-self-signed"],
                              cwd=work, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    line = server.stdout.readline().strip()
    return server, stderr, line


def run(base, ca, label):
    http = requests.Session()
    # Without this, REQUESTS_CA_BUNDLE from the environment silently replaces `verify`.
    http.trust_env = False
    http.verify = ca

    root = http.get(f"{base}/")
    check(f"[{label}] GET / describes the service", root.status_code == 200 and root.json()["posting"] == "open",
          root.text)
    check(f"[{label}] OWASP headers and HSTS", all(root.headers.get(k) == v for k, v in OWASP.items()),
          dict(root.headers))

    posted = http.post(f"{base}/", json={"message": "Hello from requests"})
    body = posted.json()
    check(f"[{label}] POST / answers 201", posted.status_code == 201, posted.text)
    parsed = uuid.UUID(body["id"])
    check(f"[{label}] the id is a canonical UUID4", parsed.version == 4 and str(parsed) == body["id"], body["id"])
    check(f"[{label}] the URL is /msg/<id>", body["url"] == f"/msg/{body['id']}", body)
    check(f"[{label}] Location names the message", posted.headers.get("Location") == body["url"])

    read = http.get(f"{base}{body['url']}")
    check(f"[{label}] GET /msg/<id> returns the message",
          read.status_code == 200 and read.json()["message"] == "Hello from requests", read.text)

    for method in ("PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"):
        response = http.request(method, f"{base}/")
        # A HEAD answer has the same status and headers, and no body.
        expected = NOT_ALLOWED if method != "HEAD" else (405, "", "method_not_allowed")
        check(f"[{label}] {method} / is 405 with Allow: GET, POST",
              response.headers.get("Allow") == "GET, POST" and answer(response) == expected,
              f"{answer(response)} Allow: {response.headers.get('Allow')}")
    for method in ("POST", "PUT", "DELETE"):
        response = http.request(method, f"{base}{body['url']}")
        check(f"[{label}] {method} /msg/<id> is 405 with Allow: GET",
              response.headers.get("Allow") == "GET" and answer(response) == NOT_ALLOWED,
              f"{answer(response)} Allow: {response.headers.get('Allow')}")

    unknown = http.get(f"{base}/msg/{uuid.uuid4()}")
    malformed = http.get(f"{base}/msg/not-a-uuid")
    check(f"[{label}] unknown and malformed ids get the same 404",
          answer(unknown) == answer(malformed) == NOT_FOUND,
          f"{answer(unknown)} / {answer(malformed)}")

    burn = http.post(f"{base}/", json={"message": "once", "burn_after_reading": True}).json()
    url = f"{base}{burn['url']}"

    def fetch(_):
        with requests.Session() as session:
            session.trust_env = False
            session.verify = ca
            return answer(session.get(url))

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(fetch, range(12)))
    statuses = sorted(status for status, _, _ in answers)
    refusals = [a for a in answers if a[0] != 200]
    check(f"[{label}] 12 concurrent readers: exactly one gets a burn-after-reading message",
          statuses == [200] + [404] * 11 and all(a == NOT_FOUND for a in refusals),
          f"{statuses} {[a for a in refusals if a != NOT_FOUND]}")

    doomed = http.post(f"{base}/", json={"message": "delete me", "expires_in": "10m"}).json()
    wrong = http.post(f"{base}{doomed['delete_url']}", json={"delete_token": "x" * 43})
    right = http.post(f"{base}{doomed['delete_url']}", json={"delete_token": doomed["delete_token"]})
    gone = http.get(f"{base}{doomed['url']}")
    check(f"[{label}] delete: wrong token 404, right token 200, then gone",
          answer(wrong) == NOT_FOUND and right.status_code == 200 and answer(gone) == NOT_FOUND,
          (answer(wrong), right.status_code, answer(gone)))

    big = http.post(f"{base}/", json={"message": "x" * (64 * 1024 + 1)})
    check(f"[{label}] over 64 KiB is 413",
          answer(big) == (413, {"error": "Payload too large", "message": "The message exceeds 65536 bytes"},
                          "request.too_large"), answer(big))

    too_long = http.post(f"{base}/", json={"message": "x", "expires_in": "30d"})
    check(f"[{label}] a lifetime over the maximum is 400",
          answer(too_long) == (400, {"error": "Bad request", "message": "expires_in must be between 1s and 7days"},
                               "request.invalid"), answer(too_long))


def tls_versions(host, port, ca):
    versions = {}
    for name, version in (("1.2", ssl.TLSVersion.TLSv1_2), ("1.3", ssl.TLSVersion.TLSv1_3)):
        context = ssl.create_default_context(cafile=ca)
        context.minimum_version = version
        context.maximum_version = version
        with socket.create_connection((host, port)) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                versions[name] = (tls.version(), tls.cipher()[0])
    return versions


def main(binary):
    binary = os.path.abspath(binary)
    backends = [("sql", {})]
    redis = os.environ.get("PORTCULLIS_TEST_REDIS_URL")
    if redis:
        # Fail-closed: a Redis that is down fails the run instead of passing on local counts.
        backends.append(("redis", {"PORTCULLIS_STORAGE__REDIS_URL": redis,
                                   "PORTCULLIS_LIMITS__REDIS_PREFIX": f"pcinterop:{uuid.uuid4().hex}:",
                                   "PORTCULLIS_LIMITS__REDIS_FAILURE": "closed"}))
    elif os.environ.get("CI"):
        print("FAILED: PORTCULLIS_TEST_REDIS_URL is not set, and under CI the Redis half must run")
        sys.exit(1)
    else:
        print("NOT RUN: the Redis half — set PORTCULLIS_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379)")
    for label, extra in backends:
        work = tempfile.mkdtemp(prefix="portcullis-messages-")
        server, stderr, line = start(binary, work, extra)
        try:
            if not line.startswith("portcullis listening on https://"):
                check(f"[{label}] the server starts with --tls-self-signed", False,
                      f"first line {line!r}; stderr in {stderr.name}")
                continue
            port = int(line.rsplit(":", 1)[1])
            ca = os.path.join(work, "data", "tls", "dev-ca.pem")
            run(f"https://localhost:{port}", ca, label)
            versions = tls_versions("127.0.0.1", port, ca)
            check(f"[{label}] Python's ssl negotiates TLS 1.2 and 1.3 with AEAD suites",
                  versions["1.2"][0] == "TLSv1.2" and versions["1.3"][0] == "TLSv1.3"
                  and all(("GCM" in c or "CHACHA20" in c) for _, c in versions.values()), versions)
            try:
                requests.get(f"https://localhost:{port}/healthz", timeout=5)
                check(f"[{label}] a client without the CA is refused", False)
            except requests.exceptions.SSLError:
                check(f"[{label}] a client without the CA is refused", True)
        finally:
            server.terminate()
            server.wait(timeout=10)
            stderr.close()
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "target/debug/portcullis"))
