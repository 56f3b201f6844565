"""Interoperability: a client written with an independent JOSE library talks to the encrypted
config-file service of the real server.

`jwcrypto` builds the tokens (a compact JWS signed ES256 by the client, nested in a compact JWE
encrypted to the server key with ECDH-ES+A256KW or ECDH-ES, A256GCM) and the request bodies
(`dir`/A256GCM under the token's body_key), and decrypts the answers; `cryptography` checks the
raw r||s ES256 signature over each answer's `data`. This proves that the envelope is plain
standard JOSE, that every sealed answer (errors included) is signed by the key the token named
and encrypted under a fresh IV, that the file actions do what the contract says on disk
(comments kept, stale versions refused, bad INI refused, backups restorable), and that
per-client permissions and the token rules (expiry, lifetime, replay, issuer) hold.

Usage: python3 tests/interop/envelope.py target/debug/portcullis
Prints "N passed, M failed" and exits non-zero on any failure.
"""

import base64
import datetime
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwcrypto import jwe, jwk, jws

# Algorithms are always named explicitly, so that no library default decides what we accept.
TOKEN_ALGS = ("ECDH-ES+A256KW", "ECDH-ES")
BODY_ALGS = ["dir", "A256GCM"]

LAPTOP = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
PHONE = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
TABLET = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="

WG0 = f"""# wg0: edited through Portcullis; this comment must survive every edit
[Interface]
# the server's own end of the tunnel
Address = 10.0.0.1/24
ListenPort = 51820
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=

# laptop
[Peer]
PublicKey = {LAPTOP}
AllowedIPs = 10.0.0.2/32

# phone
[Peer]
PublicKey = {PHONE}
AllowedIPs = 10.0.0.3/32
"""

NOTES = "Free text, not INI.\nNo [sections] here = none.\n"

VERSION = re.compile(r"^sha256:[0-9a-f]{64}$")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(server_jwk, client_key, iss, alg="ECDH-ES+A256KW", iat=None, exp=None, jti=None, kid=None):
    """A token as the contract describes it: JWS (ES256, by the client) inside a JWE (to the server).

    Returns (compact token, body_key bytes)."""
    now = int(time.time())
    iat = now if iat is None else iat
    body_key = secrets.token_bytes(32)
    claims = {
        "iss": iss,
        "iat": iat,
        "exp": iat + 60 if exp is None else exp,
        "jti": jti or secrets.token_urlsafe(16),
        "body_key": b64url(body_key),
    }
    signed = jws.JWS(json.dumps(claims).encode())
    signed.add_signature(client_key, alg=None, protected=json.dumps({"alg": "ES256", "typ": "JWT"}))
    header = {"alg": alg, "enc": "A256GCM", "kid": kid or server_jwk["kid"], "cty": "JWT"}
    sealed = jwe.JWE(signed.serialize(compact=True).encode(), protected=json.dumps(header), algs=[alg, "A256GCM"])
    sealed.add_recipient(server_jwk)
    return sealed.serialize(compact=True), body_key


def body_jwk(body_key):
    return jwk.JWK(kty="oct", k=b64url(body_key))


def encrypt_body(obj, body_key):
    """The request body: compact JWE, alg dir, enc A256GCM, under the token's body_key."""
    sealed = jwe.JWE(json.dumps(obj).encode(), protected=json.dumps({"alg": "dir", "enc": "A256GCM"}), algs=BODY_ALGS)
    sealed.add_recipient(body_jwk(body_key))
    return sealed.serialize(compact=True)


def verify_response(resp_json, server_jwk, body_key):
    """Check the raw ES256 signature over `data`, then decrypt `data`. Raises on any failure."""
    data, signature = resp_json["data"], resp_json["signature"]
    if not isinstance(data, str) or not isinstance(signature, str) or "=" in signature:
        raise ValueError("data and signature must be strings, the signature unpadded base64url")
    raw = unb64url(signature)
    if len(raw) != 64:
        raise ValueError(f"signature is {len(raw)} bytes, not the raw 64-byte r||s")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    server_jwk.get_op_key("verify").verify(der, data.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    sealed = jwe.JWE(algs=BODY_ALGS)
    sealed.deserialize(data, key=body_jwk(body_key))
    return json.loads(sealed.payload)


def data_header_and_iv(resp_json):
    """The protected header and the IV of a response's `data` (compact JWE parts 0 and 2)."""
    parts = resp_json["data"].split(".")
    return json.loads(unb64url(parts[0])), parts[2]


def sections(text):
    """A minimal reading of an INI file: [(name, [(key, value), ...]), ...] in file order."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            found.append((line[1:line.index("]")], []))
        elif found and "=" in line:
            key, value = line.split("=", 1)
            found[-1][1].append((key.strip(), value.strip()))
    return found


def peer_keys(text):
    return [dict(entries).get("PublicKey") for name, entries in sections(text) if name == "Peer"]


RESULTS = {"passed": 0, "failed": 0}


def check(name, condition, detail=""):
    if condition:
        RESULTS["passed"] += 1
        print(f"ok   {name}")
    else:
        RESULTS["failed"] += 1
        print(f"FAIL {name} {detail}")


def toml_str(text):
    return json.dumps(text)  # a JSON string is a valid TOML basic string


def main(binary):
    work = tempfile.mkdtemp(prefix="portcullis-interop-")
    binary = os.path.abspath(binary)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_") and not k.endswith("_API_KEY")}
    env["PORTCULLIS_LOGGING__LEVEL"] = "warn"
    env["PORTCULLIS_STORAGE__DATA_DIR"] = os.path.join(work, "data")

    clients = {}
    for name in ("alice", "bob"):
        subprocess.run([binary, "jose", "keygen", "--name", name, "--dir", work],
                       cwd=work, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(work, f"{name}.key.pem"), "rb") as f:
            clients[name] = jwk.JWK.from_pem(f.read())
    # Never registered with the server.
    clients["mallory"] = jwk.JWK.from_pyca(ec.generate_private_key(ec.SECP256R1()))

    paths = {"wg0": os.path.join(work, "wg0.conf"), "notes": os.path.join(work, "notes.txt")}
    with open(paths["wg0"], "w") as f:
        f.write(WG0)
    with open(paths["notes"], "w") as f:
        f.write(NOTES)
    public = {name: open(os.path.join(work, f"{name}.pub.pem")).read().strip() for name in ("alice", "bob")}
    every_action = ["list_files", "read_file", "write_file", "read_section", "write_section",
                    "delete_section", "list_backups", "restore_backup"]
    config = os.path.join(work, "portcullis.toml")
    with open(config, "w") as f:
        f.write(f"""# This script sends some forty requests from one address within seconds; the default
# per-address limit on /api/config (60/min, burst 20) would answer 429 halfway through.
[limits]
per_address = "6000/min burst 1000"

[files]
wireguard_wg0 = {{ path = {toml_str(paths["wg0"])}, backup = true }}
notes = {{ path = {toml_str(paths["notes"])}, format = "text", backup = false }}

[client_keys.alice]
public_key = \"\"\"
{public["alice"]}
\"\"\"
files = ["wireguard_wg0", "notes"]
actions = {json.dumps(every_action)}

[client_keys.bob]
public_key = \"\"\"
{public["bob"]}
\"\"\"
files = ["wireguard_wg0"]
actions = ["read_file", "list_files"]
""")

    stderr = open(os.path.join(work, "server.stderr"), "w")
    server = subprocess.Popen(
        [binary, "serve", "--port", "0", "--config", config],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
    )
    try:
        line = server.stdout.readline().strip()
        if not line.startswith("portcullis listening on http://"):
            check("the server starts", False, f"first line {line!r}; stderr in {stderr.name}")
        else:
            run(line.removeprefix("portcullis listening on "), clients, paths)
    finally:
        server.terminate()
        server.wait(timeout=10)
        stderr.close()
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


def run(base, clients, paths):
    http = requests.Session()

    def disk(name="wg0"):
        with open(paths[name]) as f:
            return f.read()

    # The server's key set, as any JOSE client would fetch it.
    jwks = http.get(f"{base}/.well-known/jwks.json", timeout=10)
    keys = jwks.json().get("keys") if jwks.status_code == 200 else None
    first = keys[0] if keys else {}
    check("JWKS lists the server's P-256 public key with a kid",
          jwks.status_code == 200 and first.get("kty") == "EC" and first.get("crv") == "P-256"
          and bool(first.get("kid")) and first.get("x") and first.get("y"), jwks.text)
    check("JWKS never holds a private part", bool(keys) and all("d" not in k for k in keys), jwks.text)
    server_jwk = jwk.JWK(**{k: v for k, v in first.items() if k in ("kty", "crv", "x", "y", "kid")})
    check("the kid is the key's RFC 7638 thumbprint", server_jwk.thumbprint() == first.get("kid"), str(first))

    sealed_seen = []  # (HTTP status, decrypted data, response JSON) of every sealed answer

    def post(token=None, body="", authorization=None):
        headers = {"Content-Type": "application/jose"}
        if authorization is not None:
            headers["Authorization"] = authorization
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return http.post(f"{base}/api/config", data=body.encode(), headers=headers, timeout=10)

    def open_response(response, body_key):
        """(HTTP status, decrypted data) for a sealed answer, (HTTP status, JSON) for a plain one."""
        try:
            doc = response.json()
        except ValueError:
            return response.status_code, {"_not_json": response.text}
        if isinstance(doc, dict) and "data" in doc and "signature" in doc:
            try:
                data = verify_response(doc, server_jwk, body_key)
            except Exception as err:  # reported by the check that reads the answer
                return response.status_code, {"_invalid_envelope": repr(err)}
            sealed_seen.append((response.status_code, data, doc))
            return response.status_code, data
        return response.status_code, doc

    def send(action, client="alice", alg="ECDH-ES+A256KW", iss=None, **overrides):
        """The raw response to one request, and the body key it is sealed under."""
        token, body_key = make_token(server_jwk, clients[client], iss or client, alg=alg, **overrides)
        return post(token, encrypt_body(action, body_key)), body_key

    def call(action, client="alice", alg="ECDH-ES+A256KW", iss=None, **overrides):
        return open_response(*send(action, client=client, alg=alg, iss=iss, **overrides))

    def plain(response):
        """A refusal before the body key is known, as (status, JSON body, X-Error-Code). Checks
        compare it whole with (status, {"error": ..., "message": ...}, code): plain JSON with
        exactly those two fields, nothing sealed, and the code in the header."""
        try:
            doc = response.json()
        except ValueError:
            doc = {"_not_json": response.text}
        return response.status_code, doc, response.headers.get("X-Error-Code")

    def sealed_error(status, doc):
        """A refusal inside the envelope, as (HTTP status, status, error, message) of the
        decrypted document; a plain or unverifiable answer has no such fields."""
        return status, doc.get("status"), doc.get("error"), doc.get("message")

    # list_files: each client sees only its own files.
    status, doc = call({"action": "list_files"})
    listed = {f.get("name"): f for f in doc.get("files", [])}
    check("alice lists both files (ECDH-ES+A256KW)",
          status == 200 and set(listed) == {"wireguard_wg0", "notes"}
          and listed["wireguard_wg0"].get("format") == "ini" and listed["wireguard_wg0"].get("backup") is True
          and listed["notes"].get("format") == "text" and listed["notes"].get("backup") is False, str(doc))
    status, doc = call({"action": "list_files"}, client="bob")
    check("bob lists only wireguard_wg0",
          status == 200 and [f.get("name") for f in doc.get("files", [])] == ["wireguard_wg0"], str(doc))

    # read_file with direct key agreement.
    status, doc = call({"action": "read_file", "file": "wireguard_wg0"}, alg="ECDH-ES")
    v0 = doc.get("version", "")
    check("read_file (ECDH-ES) returns the exact content and a sha256 version",
          status == 200 and doc.get("file") == "wireguard_wg0" and doc.get("content") == WG0
          and v0.startswith("sha256:") and VERSION.match(v0), str(doc))
    stamp = doc.get("timestamp", "")
    try:
        datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        parsed = True
    except ValueError:
        parsed = False
    check("the answer repeats the HTTP status and has a timestamp and a message",
          doc.get("status") == status and parsed and isinstance(doc.get("message"), str), str(doc))
    status, doc = call({"action": "read_file", "file": "notes"})
    check("alice reads the text file", status == 200 and doc.get("content") == NOTES, str(doc))

    # write_file, guarded by the version just read; the old content is backed up.
    w1 = WG0.replace("AllowedIPs = 10.0.0.3/32", "AllowedIPs = 10.0.0.3/32, fd00::3/128")
    status, doc = call({"action": "write_file", "file": "wireguard_wg0", "content": w1, "if_version": v0})
    v1, first_backup = doc.get("version", ""), doc.get("backup")
    check("write_file with the current if_version succeeds and returns a backup id",
          status == 200 and VERSION.match(v1) and v1 != v0 and isinstance(first_backup, str) and first_backup,
          str(doc))
    check("the file on disk is the new content", disk() == w1)
    status, doc = call({"action": "list_backups", "file": "wireguard_wg0"})
    backups = doc.get("backups", [])
    check("list_backups shows that backup",
          status == 200 and first_backup in [b.get("id") for b in backups]
          and all({"id", "created_at", "size", "version"} <= set(b) for b in backups), str(doc))
    status, doc = call({"action": "write_file", "file": "wireguard_wg0", "content": WG0, "if_version": v0})
    check("write_file with a stale if_version is 409 in the envelope",
          sealed_error(status, doc) == (409, 409, "Version conflict",
                                        f"file `wireguard_wg0` has changed: it is at version {v1}")
          and doc.get("current_version") == v1, f"{status} {doc}")
    check("a refused write leaves the file alone", disk() == w1)

    # Sections: read one peer, add one, replace it, delete it.
    status, doc = call({"action": "read_section", "file": "wireguard_wg0", "section": "Peer",
                        "where": {"PublicKey": LAPTOP}})
    section = doc.get("section", {})
    check("read_section Peer where PublicKey finds that peer",
          status == 200 and section.get("name") == "Peer" and isinstance(section.get("index"), int)
          and section.get("entries") == [["PublicKey", LAPTOP], ["AllowedIPs", "10.0.0.2/32"]]
          and doc.get("version") == v1, str(doc))
    status, doc = call({"action": "write_section", "file": "wireguard_wg0", "section": "Peer",
                        "where": {"PublicKey": TABLET},
                        "entries": [["PublicKey", TABLET], ["AllowedIPs", "10.0.0.4/32"]], "if_version": v1})
    v2 = doc.get("version", "")
    check("write_section adds a new peer", status == 200 and doc.get("outcome") == "added" and VERSION.match(v2), str(doc))
    check("the new peer is on disk", peer_keys(disk()) == [LAPTOP, PHONE, TABLET], disk())
    status, doc = call({"action": "write_section", "file": "wireguard_wg0", "section": "Peer",
                        "where": {"PublicKey": TABLET},
                        "entries": [["PublicKey", TABLET], ["AllowedIPs", "10.0.0.5/32"]], "if_version": v2})
    v3 = doc.get("version", "")
    check("write_section again replaces it", status == 200 and doc.get("outcome") == "replaced" and VERSION.match(v3), str(doc))
    tablets = [entries for name, entries in sections(disk()) if name == "Peer" and dict(entries).get("PublicKey") == TABLET]
    check("the peer is on disk once, replaced",
          tablets == [[("PublicKey", TABLET), ("AllowedIPs", "10.0.0.5/32")]] and peer_keys(disk()) == [LAPTOP, PHONE, TABLET],
          disk())
    check("the operator's comments survive the edits",
          all(c in disk() for c in ("# wg0: edited through Portcullis; this comment must survive every edit",
                                    "# the server's own end of the tunnel", "# laptop", "# phone")), disk())
    status, doc = call({"action": "delete_section", "file": "wireguard_wg0", "section": "Peer",
                        "where": {"PublicKey": TABLET}, "if_version": v3})
    check("delete_section removes the peer",
          status == 200 and VERSION.match(doc.get("version", "")) and peer_keys(disk()) == [LAPTOP, PHONE]
          and TABLET not in disk(), str(doc))

    # Content that is not INI is refused and never reaches the disk.
    before = disk()
    status, doc = call({"action": "write_file", "file": "wireguard_wg0",
                        "content": "[Interface]\ngarbage line without equals\n"})
    check("write_file of text that is not INI is 400",
          sealed_error(status, doc) == (400, 400, "Bad request", "line 2: expected `Key = Value`, a `[Section]` header or a comment"), f"{status} {doc}")
    check("the file is unchanged after the refused write", disk() == before)

    status, doc = call({"action": "restore_backup", "file": "wireguard_wg0", "backup": first_backup})
    check("restore_backup brings back the original content",
          status == 200 and doc.get("version") == v0 and disk() == WG0, str(doc))

    status, doc = call({"action": "read_section", "file": "notes", "section": "Peer"})
    check("read_section on a text file is 400",
          sealed_error(status, doc) == (400, 400, "Bad request", "files in `text` format have no sections; read or write the whole file"), f"{status} {doc}")

    # Permissions.
    status, doc = call({"action": "write_file", "file": "wireguard_wg0", "content": "# bob was here\n"}, client="bob")
    check("bob may not write: 403 in the envelope",
          sealed_error(status, doc) == (403, 403, "Forbidden", "client `bob` may not use `write_file`"),
          f"{status} {doc}")
    check("bob's refused write leaves the file alone", disk() == WG0)
    status, doc = call({"action": "read_file", "file": "notes"}, client="bob")
    check("bob may not read notes: 403",
          sealed_error(status, doc) == (403, 403, "Forbidden", "client `bob` may not use file `notes`")
          and "content" not in doc, f"{status} {doc}")

    # Clients name files, never paths.
    status, doc = call({"action": "read_file", "file": "nope"})
    check("an unknown file is 404 in the envelope",
          sealed_error(status, doc) == (404, 404, "Unknown file", "unknown file `nope`"), f"{status} {doc}")
    status, doc = call({"action": "read_file", "file": "../../etc/passwd"})
    check("a path is not a file name: 404",
          sealed_error(status, doc) == (404, 404, "Unknown file", "unknown file `../../etc/passwd`")
          and "content" not in doc, f"{status} {doc}")

    # Token rules: refusals before the body key is known are plain JSON.
    token, body_key = make_token(server_jwk, clients["alice"], "alice")
    body = encrypt_body({"action": "list_files"}, body_key)
    first_status, _ = open_response(post(token, body), body_key)
    refused = plain(post(token, body))
    check("a replayed token is refused with 401 plain JSON",
          first_status == 200 and refused == (401, {"error": "Authentication required", "message": "token already used"},
                                              "envelope.replayed"), f"{first_status} {refused}")
    expired = (401, {"error": "Authentication required", "message": "token expired or not yet valid"}, "envelope.expired")
    forged = (403, {"error": "Signature validation failed", "message": "token signature could not be verified"},
              "envelope.signature")
    now = int(time.time())
    refused = plain(send({"action": "list_files"}, iat=now - 1000, exp=now - 900)[0])
    check("an expired token is 401", refused == expired, str(refused))
    refused = plain(send({"action": "list_files"}, iat=now + 600, exp=now + 660)[0])
    check("a token issued in the future (beyond 30 s) is 401", refused == expired, str(refused))
    refused = plain(send({"action": "list_files"}, iat=now, exp=now + 301)[0])
    too_long = (401, {"error": "Authentication required",
                      "message": "token lives too long: exp - iat may be at most 300 s"}, "envelope.too_long")
    check("a token valid for more than 300 s is 401, said to live too long", refused == too_long, str(refused))
    status, doc = call({"action": "list_files"}, iat=now, exp=now + 300)
    check("a token valid for exactly 300 s is accepted", status == 200 and doc.get("status") == 200, f"{status} {doc}")
    refused = plain(send({"action": "list_files"}, kid="not-a-server-key")[0])
    check("a token naming an unknown kid is 401",
          refused == (401, {"error": "Authentication required", "message": "token cannot be decrypted"},
                      "envelope.undecryptable"), str(refused))
    refused = plain(send({"action": "list_files"}, client="mallory", iss="alice")[0])
    check("a token signed by mallory claiming to be alice is 403 plain JSON", refused == forged, str(refused))
    refused = plain(send({"action": "list_files"}, client="mallory")[0])
    check("a token from an unknown issuer is 403", refused == forged, str(refused))
    refused = plain(post(body=body))
    check("no Authorization header is 401",
          refused == (401, {"error": "Authentication required",
                            "message": "Authorization header with a Bearer token required"}, "envelope.missing"),
          str(refused))
    refused = plain(post(authorization="Bearer not.a.jwe"))
    check("a Bearer value that is not a JWE is 400",
          refused == (400, {"error": "Bad request",
                            "message": "token: malformed JOSE object: a compact JWE has five parts"},
                      "envelope.malformed"), str(refused))
    response = http.get(f"{base}/api/config", timeout=10)
    refused = plain(response)
    check("GET /api/config is 405 with Allow: POST",
          response.headers.get("Allow", "").replace(" ", "") == "POST"
          and refused == (405, {"error": "Method not allowed",
                                "message": "This method is not allowed on this resource; see the Allow header"},
                          "method_not_allowed"),
          f"{refused} Allow: {response.headers.get('Allow')}")

    # Once the token is good, even a bad body is answered inside the envelope.
    token, body_key = make_token(server_jwk, clients["alice"], "alice")
    response = post(token, "this is not a JWE")
    raw = response.json()
    try:
        doc = verify_response(raw, server_jwk, body_key)
    except Exception as err:
        doc = {"_invalid_envelope": repr(err)}
    check("a body that is not a JWE is 400, signed and sealed under the body key",
          sealed_error(response.status_code, doc)
          == (400, 400, "Bad request", "body must be a compact JWE (dir, A256GCM) under body_key: "
                                       "malformed JOSE object: a compact JWE has five parts"),
          f"{response.status_code} {doc}")

    # Every sealed answer: dir/A256GCM, status repeated, and never an IV twice.
    headers = [data_header_and_iv(doc)[0] for _, _, doc in sealed_seen]
    ivs = [data_header_and_iv(doc)[1] for _, _, doc in sealed_seen]
    check("every response data is a JWE with alg dir, enc A256GCM",
          len(headers) >= 2 and all(h.get("alg") == "dir" and h.get("enc") == "A256GCM" for h in headers), str(headers))
    check("every sealed answer repeats its HTTP status",
          all(data.get("status") == status for status, data, _ in sealed_seen),
          str([(s, d.get("status")) for s, d, _ in sealed_seen]))
    check("no two responses share an IV", len(ivs) >= 2 and len(set(ivs)) == len(ivs), str(ivs))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "target/debug/portcullis"))
