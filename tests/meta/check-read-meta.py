#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Run examples/read-meta.py with a non-ASCII text and check what it prints.

Usage: check-read-meta.py EXAMPLE. Runs EXAMPLE with this interpreter, so the
interpreter must have `gi`; GI_TYPELIB_PATH and LD_LIBRARY_PATH must point at
the build tree (tests/meta/meson.build sets them).
"""
import json
import os
import subprocess
import sys

TEXT = "Hello 你好 👩‍👩‍👧‍👦 مرحبا"


def fail(msg, out):
    sys.stderr.write("FAIL: %s\n--- example output ---\n%s\n" % (msg, out))
    sys.exit(1)


def main():
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    proc = subprocess.run([sys.executable, sys.argv[1], TEXT], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=120)
    out = proc.stdout.decode("utf-8")
    err = proc.stderr.decode("utf-8", "replace")
    sys.stdout.write(out)
    sys.stderr.write(err)
    if proc.returncode != 0:
        fail("example exited with %d" % proc.returncode, out)
    if "CRITICAL" in err or "WARNING" in err:
        fail("example logged a warning", err)

    texts = [ln for ln in out.splitlines() if ln.startswith("  transcript")]
    if len(texts) != 3 or not all(ln.endswith(": " + TEXT) for ln in texts):
        fail("expected 3 transcript lines ending in the text", out)
    metas = [json.loads(ln[len("  json: "):]) for ln in out.splitlines()
             if ln.startswith("  json: ")]
    if len(metas) != 6:
        fail("expected 6 JSON lines, got %d" % len(metas), out)
    for i, m in enumerate(metas):
        seq, is_transcript = divmod(i, 2)[0], i % 2 == 0
        want = {
            "kind": "transcript" if is_transcript else "translation",
            "text": TEXT if is_transcript else "bonjour de gst-omni",
            "language": "en" if is_transcript else "fr",
            "source_language": None if is_transcript else "en",
            "pts": seq * 100000000, "running_time": seq * 100000000,
            "duration": 100000000, "final": True, "seq": seq,
            "speaker": "speaker-1" if is_transcript else None,
            "model_id": ("Qwen/Qwen3-Omni-30B-A3B-Captioner" if is_transcript
                         else None),
        }
        for key, value in want.items():
            if m.get(key, "<absent>") != value:
                fail("meta %d: %s is %r, expected %r"
                     % (i, key, m.get(key, "<absent>"), value), out)
    print("ok: 3 buffers, 6 metas read back through GI")


if __name__ == "__main__":
    main()
