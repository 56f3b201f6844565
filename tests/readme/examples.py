#!/usr/bin/env python3
"""Run the README's examples as a newcomer would: every ```sh and ```python block, top to
bottom, pasted into one shell in a fresh copy of the repository.

What it changes, and nothing else: the ports. 8080, 8443, 8081 and 8082 in the text become free ports
(and PORTCULLIS_SERVER__PORT says the same to a `portcullis serve` that names none). The copy
holds the files git tracks, as a fresh clone would; its `target/` is a link to this
checkout's, so the release build is the one already made (or made once).

A block runs unless the line before its fence is `<!-- readme: not run (why) -->`. A shell
block fails when any command in it fails (an ERR trap records it; `until`/`if` conditions do
not count). Python blocks run with `python3` in the same shell, so they see its exported
variables. A comment line in a shell block that shows a JSON object (`# {"owner":…}`) is a
promise about the output: some object the block printed must have exactly those keys, and
be exactly that object when the comment holds no placeholder (…) and no number.

Usage: python3 tests/readme/examples.py [README.md]   (exit 1 and the failing block on error)
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIP = re.compile(r"<!--\s*readme:\s*not run\b(.*?)-->")
FENCE = re.compile(r"^```(\S*)\s*$")
PORTS = ("8080", "8443", "8081", "8082")


def blocks(text):
    """(line number, language, code, skipped) for every fenced block."""
    lines = text.split("\n")
    found, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1), i
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        previous = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        found.append((start + 1, lang, "\n".join(lines[start + 1:j]) + "\n", SKIP.search(previous)))
        i = j + 1
    return found


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_checkout(where):
    """The tracked files of this checkout (as they are now), and a link to its target/."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                             capture_output=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        source = os.path.join(ROOT, name)
        if not os.path.isfile(source):
            continue
        os.makedirs(os.path.dirname(os.path.join(where, name)), exist_ok=True)
        shutil.copy2(source, os.path.join(where, name))
    os.makedirs(os.path.join(ROOT, "target"), exist_ok=True)
    os.symlink(os.path.join(ROOT, "target"), os.path.join(where, "target"))


def json_keys(text):
    """The key set of a JSON object written in a comment, with … as placeholders."""
    found = re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"\s*:', text)
    return frozenset(found)


def output_objects(text):
    """The JSON objects printed (curl adds no newline, so they may touch)."""
    decoder, objects, at = json.JSONDecoder(), [], 0
    while True:
        at = text.find("{", at)
        if at < 0:
            return objects
        try:
            value, end = decoder.raw_decode(text, at)
        except ValueError:
            at += 1
            continue
        if isinstance(value, dict):
            objects.append(value)
        at = end


def all_keys(value):
    """Every key of a JSON value, nested ones included (as `json_keys` reads a comment)."""
    if isinstance(value, dict):
        return set(value) | set().union(*(all_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(all_keys(v) for v in value))
    return set()


def exact_promise(shown):
    """A promise with no placeholder (…) and no number (times, counts) is the exact object."""
    if "…" in shown or any(c.isdigit() for c in shown):
        return None
    try:
        value = json.loads(shown)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def promises(code):
    """Key sets promised by `# {…}` comment lines (whole objects on one line)."""
    out = []
    for line in code.splitlines():
        m = re.match(r"^\s*#\s*(\{.*\})\s*$", line)
        if m:
            out.append((m.group(1), json_keys(m.group(1))))
    return out


def kill_tree(run_id):
    """Every process started by the examples carries RUN_ID in its environment."""
    marker = f"PORTCULLIS_README_RUN={run_id}".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marker in f.read().split(b"\0"):
                    os.kill(int(pid), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def main():
    readme = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "README.md")
    text = open(readme, encoding="utf-8").read()
    ports = {p: str(free_port()) for p in PORTS}
    run_id = uuid.uuid4().hex
    work = tempfile.mkdtemp(prefix="portcullis-readme-")
    fresh_checkout(work)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PORTCULLIS_") and not k.endswith("_API_KEY")}
    env.update({"PORTCULLIS_README_RUN": run_id, "PORTCULLIS_SERVER__PORT": ports["8080"],
                "HOME": os.environ.get("HOME", work)})
    out_path, err_path = os.path.join(work, ".readme.out"), os.path.join(work, ".readme.err")
    out, err = open(out_path, "wb"), open(err_path, "wb")
    shell = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=work, env=env,
                             stdin=subprocess.PIPE, stdout=out, stderr=err, start_new_session=True)
    failures = os.path.join(work, ".readme.failures")
    shell.stdin.write(
        f"set -E -o pipefail\ntrap 'echo \"line $LINENO: $BASH_COMMAND (exit $?)\" >> {failures}' ERR\n".encode())
    shell.stdin.flush()
    ran, skipped, failed = 0, [], None
    try:
        for n, (line, lang, code, skip) in enumerate(blocks(text)):
            if lang not in ("sh", "python"):
                continue
            if skip:
                skipped.append((line, skip.group(1).strip(" ()")))
                continue
            for old, new in ports.items():
                code = code.replace(f":{old}", f":{new}").replace(f"--port {old}", f"--port {new}")
            path = os.path.join(work, f".block{n}.{'sh' if lang == 'sh' else 'py'}")
            with open(path, "w", encoding="utf-8") as f:
                f.write(code)
            done = os.path.join(work, f".block{n}.done")
            command = f"source {path}" if lang == "sh" else f"python3 {path}"
            out.flush()
            start_out = os.path.getsize(out_path)
            start_err = os.path.getsize(err_path)
            shell.stdin.write(f"{command}\ntouch {done}\n".encode())
            shell.stdin.flush()
            limit = time.monotonic() + (900 if "cargo build" in code else 120)
            while not os.path.exists(done):
                if shell.poll() is not None:
                    failed = (line, lang, code, "the shell exited")
                    break
                if time.monotonic() > limit:
                    failed = (line, lang, code, "timed out")
                    break
                time.sleep(0.05)
            if failed:
                break
            with open(out_path, "rb") as f:
                f.seek(start_out)
                printed = f.read().decode(errors="replace")
            with open(err_path, "rb") as f:
                f.seek(start_err)
                complained = f.read().decode(errors="replace")
            ran += 1
            if os.path.exists(failures):
                why = open(failures).read()
                os.remove(failures)
                failed = (line, lang, code, f"{why}\n--- stdout\n{printed}\n--- stderr\n{complained}")
                break
            if lang == "sh":
                objects = output_objects(printed)
                for shown, keys in promises(code):
                    exact = exact_promise(shown)
                    if exact is not None and exact not in objects:
                        failed = (line, lang, code,
                                  f"the comment promises exactly {shown}\nbut no line printed is that object"
                                  f"\n--- stdout\n{printed}")
                        break
                    if keys and keys not in [frozenset(all_keys(o)) for o in objects]:
                        failed = (line, lang, code,
                                  f"the comment promises {shown}\nbut no line printed has exactly the keys "
                                  f"{sorted(keys)}\n--- stdout\n{printed}")
                        break
            if failed:
                break
            print(f"ok   README.md:{line} ({lang})", flush=True)
    finally:
        try:
            shell.stdin.close()
        except OSError:
            pass
        kill_tree(run_id)
        try:
            os.killpg(shell.pid, signal.SIGKILL)
        except OSError:
            pass
        shell.wait()
        out.close()
        err.close()
    for line, why in skipped:
        print(f"not run README.md:{line}: {why}")
    if failed:
        line, lang, code, why = failed
        print(f"FAILED README.md:{line} ({lang})\n{code}\n{why}")
        print(f"(the copy is kept in {work})")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print(f"{ran} examples ran, {len(skipped)} not run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
