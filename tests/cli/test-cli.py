#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The `omni` command line against the fixtures: generate must print what
transformers' greedy generation printed, tokenize/detokenize must agree with
Hugging Face tokenizers, and bad arguments must fail with a useful message.
Standard library only (CI has no torch). Prints TAP."""
import json
import os
import subprocess
import sys

OMNI = sys.argv[1]
SRC = os.environ["OMNI_TEST_SRCDIR"]
GOLDEN = os.path.join(SRC, "golden")
results = []


def run(args, stdin=None):
    p = subprocess.run([OMNI] + args, input=stdin, capture_output=True, text=True,
                       env=dict(os.environ, LC_ALL="C.UTF-8"))
    return p.returncode, p.stdout, p.stderr


def check(name, ok, detail=""):
    results.append((name, ok, detail))


def test_generate(model):
    d = os.path.join(GOLDEN, model)
    g = json.load(open(os.path.join(d, "golden.json"), encoding="utf-8"))
    args = ["generate", "--model", d, "--prompt", g["prompt"], "--max-tokens",
            str(len(g["greedy_ids"])), "--temperature", "0"]
    if g["system"]:
        args += ["--system", g["system"]]
    rc, out, err = run(args)
    check("generate " + model, rc == 0 and out == g["greedy_text"] + "\n",
          "rc=%d out=%r want=%r err=%s" % (rc, out, g["greedy_text"] + "\n", err))


def test_tokenize_roundtrip():
    d = os.path.join(GOLDEN, "qwen3-dense")
    cases = json.load(open(os.path.join(SRC, "text", "corpus-ids.json"), encoding="utf-8"))["cases"]
    cases = [c for c in cases if "\0" not in c["text"]]   # argv-free, but keep JSON simple
    rc, out, err = run(["tokenize", "--model", d, "--json"],
                       json.dumps([c["text"] for c in cases]))
    ids = json.loads(out) if rc == 0 else None
    bad = [c["text"] for c, i in zip(cases, ids or []) if i != c["ids"]]
    check("tokenize %d strings" % len(cases), ids is not None and len(ids) == len(cases) and not bad,
          "rc=%d err=%s first mismatch=%r" % (rc, err, bad[:1]))
    rc, out, err = run(["detokenize", "--model", d, "--json"], json.dumps([c["ids"] for c in cases]))
    texts = json.loads(out) if rc == 0 else []
    bad = [c["nfc"] for c, t in zip(cases, texts) if t != c["nfc"]]
    check("detokenize is the inverse (NFC)", rc == 0 and len(texts) == len(cases) and not bad,
          "rc=%d err=%s first mismatch=%r" % (rc, err, bad[:1]))


def test_errors():
    d = os.path.join(GOLDEN, "qwen3-dense")
    cases = [
        (["generate", "--model", "/nonexistent/model", "--prompt", "x"], "/nonexistent/model"),
        (["generate", "--model", d, "--prompt", "x", "--device", "tpu"], "tpu"),
        (["generate", "--model", d, "--prompt", "x", "--top-p", "2"], "--top-p"),
        (["generate", "--model", d], "--prompt"),
        (["generate", "--model", d, "--prompt", "x", "--chat", "--raw"], "--raw"),
        (["tokenize", "--model", d, "--json"], "JSON"),
        (["detokenize", "--model", d, "--json"], "element 0"),
        (["frobnicate"], "unknown command"),
    ]
    stdins = {5: "{\"not\": \"an array\"}", 6: "[[1, -5]]"}
    for k, (args, needle) in enumerate(cases):
        rc, out, err = run(args, stdins.get(k, ""))
        check("error: %s" % " ".join(args[:1] + args[3:] if len(args) > 3 else args),
              rc != 0 and needle.lower() in err.lower(), "rc=%d err=%r want %r" % (rc, err, needle))


for m in ("qwen3-dense", "qwen3-dense-bf16", "qwen3-moe"):
    test_generate(m)
test_tokenize_roundtrip()
test_errors()

print("1..%d" % len(results))
for n, (name, ok, detail) in enumerate(results, 1):
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name))
    if not ok:
        print("# " + detail.replace("\n", "\n# "))
sys.exit(0 if all(ok for _, ok, _ in results) else 1)
