"""Interoperability: clients written by others talk to the real server.

Python's `http-message-signatures` (RFC 9421) signs requests with the session token as the
HMAC-SHA256 key and the session id as `keyid`; `requests` does the HTTP; seed 001's
X-Token-Hash is computed with the standard library exactly as the seed's PHP does.

Usage: python3 tests/interop/signatures.py target/debug/portcullis
Prints "N passed, M failed" and exits non-zero on any failure.
"""

import datetime
import hashlib
import hmac
import os
import secrets
import subprocess
import sys
import tempfile
import time

import requests
from http_message_signatures import HTTPMessageSigner, algorithms


class SessionKeys:
    """Key resolver: the session token (UTF-8) is the HMAC key for its session id."""

    def __init__(self):
        self.keys = {}

    def resolve_private_key(self, key_id):
        return self.keys[key_id].encode()

    def resolve_public_key(self, key_id):
        return self.keys[key_id].encode()


RESULTS = {"passed": 0, "failed": 0}


def answer(response):
    """(status, JSON body, X-Error-Code) of an answer: what a refusal check compares exactly."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return response.status_code, body, response.headers.get("X-Error-Code")


def refused(message):
    """A signed request refused: 401, the seed's error shape, the failed check named."""
    return 401, {"error": "Invalid signature", "message": message}, "auth.signature"


def check(name, condition, detail=""):
    if condition:
        RESULTS["passed"] += 1
        print(f"ok   {name}")
    else:
        RESULTS["failed"] += 1
        print(f"FAIL {name} {detail}")


def main(binary):
    work = tempfile.mkdtemp(prefix="portcullis-interop-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_") and not k.endswith("_API_KEY")}
    env["PORTCULLIS_LOGGING__LEVEL"] = "warn"
    server = subprocess.Popen(
        [os.path.abspath(binary), "serve", "--port", "0"],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = server.stdout.readline().strip()
        base = line.removeprefix("portcullis listening on ")
        admin_key = open(os.path.join(work, "data", "initial-admin.key")).read().strip()
        run(base, admin_key)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


def run(base, admin_key):
    http = requests.Session()
    keys = SessionKeys()
    signer = HTTPMessageSigner(signature_algorithm=algorithms.HMAC_SHA256, key_resolver=keys)

    # A user key, then a form-encoded login as in the seed's curl example.
    created = http.post(f"{base}/api/keys", headers={"X-API-Key": admin_key}, json={"owner": "user1", "role": "user"})
    check("admin creates a user key", created.status_code == 201, created.text)
    user_key = created.json()["key"]
    login = http.post(f"{base}/user/login", data={"username": "user1", "key": user_key})
    body = login.json()
    check("form login succeeds in the seed shape", login.status_code == 200 and body["success"] is True, login.text)
    keys.keys[body["session_id"]] = body["session"]
    bad = http.post(f"{base}/user/login", data={"username": "user1", "key": "nope"})
    # The seed's own login shape: no X-Error-Code on this answer.
    check("bad login is uniform",
          answer(bad) == (401, {"success": False, "message": "Invalid credentials"}, None), answer(bad))

    def signed(method, path, session_id, json_body=None, created=None, nonce=None, covered=("@method", "@authority", "@target-uri")):
        request = requests.Request(method, f"{base}{path}", json=json_body).prepare()
        signer.sign(
            request,
            key_id=session_id,
            created=created,
            nonce=nonce or secrets.token_urlsafe(16),
            label="sig1",
            covered_component_ids=covered,
            body=request.body if request.body is not None else None,
        )
        return request

    # GET, signed by the library, no other credential.
    request = signed("GET", "/api/whoami", body["session_id"])
    response = http.send(request)
    check("library-signed GET is authenticated", response.status_code == 200 and response.json()["owner"] == "user1", response.text)
    replay = http.send(request)
    check("the same signature replayed is refused", answer(replay) == refused("nonce already used"), answer(replay))

    # An admin session signs a POST with a body: the library adds and covers Content-Digest.
    admin = http.post(f"{base}/api/login", json={"username": "admin", "key": admin_key}).json()
    keys.keys[admin["session_id"]] = admin["session"]
    request = signed("POST", "/api/keys", admin["session_id"], json_body={"owner": "App 1", "role": "user"},
                     covered=("@method", "@target-uri", "content-type"))
    check("the library sent a Content-Digest", "Content-Digest" in request.headers, str(request.headers))
    response = http.send(request)
    check("library-signed POST with digest creates a key", response.status_code == 201, response.text)

    request = signed("POST", "/api/keys", admin["session_id"], json_body={"owner": "App 2", "role": "user"},
                     covered=("@method", "@target-uri"))
    request.body = request.body.replace(b"user", b"admin")
    # Content-Length is not covered; left at the old length, the extra byte would be read as
    # the start of the next request on this connection (hyper's 400 for it).
    request.headers["Content-Length"] = str(len(request.body))
    response = http.send(request)
    check("a tampered body is refused",
          answer(response) == refused("content-digest does not match the body"), answer(response))

    stale = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=120)
    response = http.send(signed("GET", "/api/whoami", body["session_id"], created=stale))
    check("a stale signature is refused",
          answer(response) == refused("signature is stale or from the future"), answer(response))

    keys.keys["forged"] = "pcs_not_the_token"
    request = signed("GET", "/api/whoami", "forged")
    request.headers["Signature-Input"] = request.headers["Signature-Input"].replace('keyid="forged"', f'keyid="{body["session_id"]}"')
    response = http.send(request)
    check("a signature made with the wrong key is refused",
          answer(response) == refused("signature does not verify"), answer(response))

    # Seed 001's scheme, computed as its PHP client does.
    payload = b""
    token_hash = hmac.new((body["session"] + str(int(time.time()))).encode(), payload, hashlib.sha512).hexdigest()
    response = http.get(f"{base}/api/whoami", headers={"X-Token": user_key, "X-Token-Hash": token_hash})
    check("seed 001 X-Token-Hash is accepted", response.status_code == 200 and response.json()["owner"] == "user1", response.text)

    # Logout ends the session: its signatures stop working.
    response = http.send(signed("POST", "/user/logout", body["session_id"], covered=("@method", "@target-uri")))
    check("signed logout succeeds", response.status_code == 200 and response.json() == {"success": True}, response.text)
    response = http.send(signed("GET", "/api/whoami", body["session_id"]))
    check("an ended session's signatures are refused",
          answer(response) == refused("unknown or expired session"), answer(response))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "target/debug/portcullis"))
