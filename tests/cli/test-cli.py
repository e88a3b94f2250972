#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The `omni` command line against the fixtures: generate must print what
transformers' greedy generation printed, tokenize/detokenize must agree with
Hugging Face tokenizers, and bad arguments must fail with a useful message.
Standard library only (CI has no torch). Prints TAP."""
import json
import os
import struct
import subprocess
import sys
import tempfile
import wave

OMNI = sys.argv[1]
SRC = os.environ["OMNI_TEST_SRCDIR"]
GOLDEN = os.path.join(SRC, "golden")
results = []


def run(args, stdin=None, gst=False):
    env = dict(os.environ, LC_ALL="C.UTF-8")
    if gst:   # GStreamer in-process: full malloc stacks under ASan (see meson.build)
        env["ASAN_OPTIONS"] = os.environ.get("OMNI_TEST_GST_ASAN_OPTIONS", "")
    p = subprocess.run([OMNI] + args, input=stdin, capture_output=True, text=True, env=env)
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


def audio_case(model, name):
    g = json.load(open(os.path.join(GOLDEN, model, "golden.json"), encoding="utf-8"))
    return next(c for c in g["cases"] if c["name"] == name)


def test_audio_golden():
    """caption / transcribe print the golden greedy text (stripped, as the
    engine returns transcripts) and the real-time factor."""
    wav = os.path.join(GOLDEN, "audio", "speech.wav")
    for model, cmd, case, extra in (
            ("qwen3-omni-thinker", "caption", "caption_speech", []),
            ("qwen3-asr", "transcribe", "transcribe_speech", []),
            ("qwen3-asr", "transcribe", "transcribe_speech_english", ["--language", "English"]),
            ("qwen3-asr", "transcribe", "transcribe_speech_context",
             ["--prompt", "Hotwords: Qwen, GStreamer"])):
        want = audio_case(model, case)["greedy_text"].strip() + "\n"
        rc, out, err = run([cmd, "--model", os.path.join(GOLDEN, model), "--max-tokens", "32",
                            "--device", "cpu"] + extra + [wav])
        check("%s %s" % (cmd, case), rc == 0 and out == want and "real-time factor" in err,
              "rc=%d out=%r want=%r err=%s" % (rc, out, want, err))


def write_wav(path, rate, samples):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", v) for v in samples))


def test_audio_long_and_json(tmp):
    """61 s go in three pieces with their times; --json gives one object each;
    a 44.1 kHz stereo file is resampled."""
    d = os.path.join(GOLDEN, "qwen3-asr")
    long_wav = os.path.join(tmp, "long.wav")
    write_wav(long_wav, 8000, [int(3000 * ((i // 40) % 2) - 1500) for i in range(61 * 8000)])
    rc, out, err = run(["transcribe", "--model", d, "--max-tokens", "2", long_wav])
    lines = out.splitlines()
    check("transcribe 61 s in 30 s pieces",
          rc == 0 and len(lines) == 3 and lines[0].startswith("[   0.00 -->   30.00]")
          and lines[2].startswith("[  60.00 -->   61.00]"), "rc=%d out=%r err=%s" % (rc, out, err))
    rc, out, err = run(["transcribe", "--model", d, "--max-tokens", "2", "--json", "--language", "de",
                        long_wav])
    objs = [json.loads(l) for l in out.splitlines()] if rc == 0 else []
    check("transcribe --json", len(objs) == 3 and objs[1]["start"] == 30 and objs[2]["end"] == 61
          and all(o["language"] == "de" for o in objs), "rc=%d out=%r err=%s" % (rc, out, err))
    stereo = os.path.join(SRC, "audio", "data", "sox-s24-stereo-44k1.wav")
    rc, out, err = run(["transcribe", "--model", d, "--max-tokens", "4", stereo])
    check("transcribe a 44.1 kHz stereo WAV", rc == 0 and out.strip() != "",
          "rc=%d out=%r err=%s" % (rc, out, err))


def test_audio_errors(tmp):
    wav = os.path.join(GOLDEN, "audio", "short.wav")
    empty = os.path.join(tmp, "empty.wav")
    write_wav(empty, 16000, [])
    asr, omni = os.path.join(GOLDEN, "qwen3-asr"), os.path.join(GOLDEN, "qwen3-omni-thinker")
    for args, needle in (
            (["caption", "--model", asr, wav], "transcribes"),
            (["transcribe", "--model", os.path.join(GOLDEN, "qwen3-dense"), wav], "no audio encoder"),
            (["transcribe", "--model", asr, "--language", "Klingon", wav], "Klingon"),
            (["transcribe", "--model", asr, os.path.join(tmp, "missing.wav")], "missing.wav"),
            (["transcribe", "--model", asr, empty], "no audio"),
            (["caption", "--model", omni], "FILE.wav")):
        rc, out, err = run(args)
        check("error: %s %s" % (args[0], needle), rc != 0 and needle.lower() in err.lower(),
              "rc=%d err=%r want %r" % (rc, err, needle))


def test_describe(tmp):
    """describe prints the golden greedy text of a picture; a clip decoded
    from a video file runs; undecodable files and text models fail clearly."""
    vl = os.path.join(GOLDEN, "qwen3-vl")
    g = json.load(open(os.path.join(vl, "golden.json"), encoding="utf-8"))
    for c in g["cases"]:
        if c["kind"] != "image":
            continue
        rc, out, err = run(["describe", "--model", vl, "--max-tokens", "32", "--device", "cpu",
                            "--prompt", c["user_text"], os.path.normpath(os.path.join(vl, c["source"]))],
                            gst=True)
        check("describe " + c["name"], rc == 0 and out == c["greedy_text"] + "\n",
              "rc=%d out=%r want=%r err=%s" % (rc, out, c["greedy_text"], err))
    avi = os.path.join(tmp, "ball.avi")
    subprocess.run(["gst-launch-1.0", "-q", "videotestsrc", "pattern=ball", "num-buffers=12", "!",
                    "video/x-raw,width=160,height=120,framerate=4/1", "!", "jpegenc", "!", "avimux",
                    "!", "filesink", "location=" + avi], check=True)
    rc, out, err = run(["describe", "--model", vl, "--max-tokens", "4", "--video", avi], gst=True)
    check("describe --video", rc == 0 and out.strip() != "", "rc=%d out=%r err=%s" % (rc, out, err))
    bad = os.path.join(tmp, "broken.png")
    with open(bad, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    img = os.path.join(GOLDEN, "images", "ball-64x48.png")
    for args, needle in (
            (["describe", "--model", vl, bad], "no picture could be decoded"),
            (["describe", "--model", os.path.join(GOLDEN, "qwen3-dense"), img], "no vision encoder"),
            (["describe", "--model", vl], "IMAGE"),
            (["describe", "--model", vl, "--min-visual-tokens", "9", "--max-visual-tokens", "4", img],
             "token budget")):
        rc, out, err = run(args, gst=True)
        check("error: describe %s" % needle, rc != 0 and needle.lower() in err.lower(),
              "rc=%d err=%r want %r" % (rc, err, needle))


for m in ("qwen3-dense", "qwen3-dense-bf16", "qwen3-moe"):
    test_generate(m)
test_tokenize_roundtrip()
test_errors()
test_audio_golden()
with tempfile.TemporaryDirectory() as tmpdir:
    test_audio_long_and_json(tmpdir)
    test_audio_errors(tmpdir)
    test_describe(tmpdir)

print("1..%d" % len(results))
for n, (name, ok, detail) in enumerate(results, 1):
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name))
    if not ok:
        print("# " + detail.replace("\n", "\n# "))
sys.exit(0 if all(ok for _, ok, _ in results) else 1)
