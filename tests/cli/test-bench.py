#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""`omni random-model` and `omni bench` on the tiny fixtures: a random
snapshot loads and runs (text and audio), is deterministic in its seed and
has the stated value scales; bench prints the expected rows with positive
numbers, valid JSON with -o json, reuses its random snapshot; bad options
name the option and the accepted values. Standard library only. Prints TAP."""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

OMNI = sys.argv[1]
SRC = os.environ["OMNI_TEST_SRCDIR"]
GOLDEN = os.path.join(SRC, "golden")
DENSE = os.path.join(GOLDEN, "qwen3-dense")
ASR = os.path.join(GOLDEN, "qwen3-asr")
results = []


def run(args, env_extra=None, drop_env=()):
    env = dict(os.environ, LC_ALL="C.UTF-8")
    for k in drop_env:
        env.pop(k, None)
    env.update(env_extra or {})
    p = subprocess.run([OMNI] + args, capture_output=True, text=True, env=env)
    return p.returncode, p.stdout, p.stderr


def check(name, ok, detail=""):
    results.append((name, ok, detail))


def read_safetensors(path):
    """{name: (dtype, shape, raw bytes)}"""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in header.items() if k != "__metadata__"}


def values(dtype, raw):
    if dtype == "F32":
        return struct.unpack("<%df" % (len(raw) // 4), raw)
    halves = struct.unpack("<%dH" % (len(raw) // 2), raw)
    return [struct.unpack("<f", struct.pack("<I", h << 16))[0] for h in halves]


def test_random_model(tmp):
    out = os.path.join(tmp, "dense")
    rc, _, err = run(["random-model", "--from", os.path.join(DENSE, "config.json"), "--out", out,
                      "--tokenizer", DENSE, "--dtype", "f32", "--seed", "7"])
    files = sorted(os.listdir(out)) if rc == 0 else []
    check("random-model writes a snapshot", rc == 0 and {"config.json", "model.safetensors",
          "tokenizer.json", "tokenizer_config.json"} <= set(files), "rc=%d files=%s err=%s" % (rc, files, err))
    if rc != 0:
        return
    mine = read_safetensors(os.path.join(out, "model.safetensors"))
    real = read_safetensors(os.path.join(DENSE, "model.safetensors"))
    same = {k: v[1] for k, v in mine.items()} == {k: v[1] for k, v in real.items()}
    check("random-model: the fixture's tensor names and shapes", same,
          "extra=%s missing=%s" % (sorted(set(mine) - set(real))[:3], sorted(set(real) - set(mine))[:3]))
    q = values(*[mine["model.layers.0.self_attn.q_proj.weight"][i] for i in (0, 2)])
    mean = sum(q) / len(q)
    sd = math.sqrt(sum((x - mean) ** 2 for x in q) / len(q))
    norm = values(*[mine["model.norm.weight"][i] for i in (0, 2)])
    check("random-model: linear std 0.02, norms 1", abs(mean) < 0.004 and 0.017 < sd < 0.023
          and all(x == 1.0 for x in norm), "mean=%g sd=%g norm=%s" % (mean, sd, norm[:4]))
    rc, gen, err = run(["generate", "--model", out, "--prompt", "Hello", "--max-tokens", "4",
                        "--temperature", "0", "--device", "cpu"])
    check("random-model: generate runs on it", rc == 0 and gen.strip() != "", "rc=%d err=%s" % (rc, err))
    # the same seed gives the same bytes, another seed others
    again, other = os.path.join(tmp, "dense-again"), os.path.join(tmp, "dense-other")
    for d, seed in ((again, "7"), (other, "8")):
        run(["random-model", "--from", os.path.join(DENSE, "config.json"), "--out", d,
             "--tokenizer", DENSE, "--dtype", "f32", "--seed", seed])
    blob = open(os.path.join(out, "model.safetensors"), "rb").read()
    check("random-model is deterministic in --seed",
          open(os.path.join(again, "model.safetensors"), "rb").read() == blob
          and open(os.path.join(other, "model.safetensors"), "rb").read() != blob)


def test_random_asr(tmp):
    out = os.path.join(tmp, "asr")
    rc, _, err = run(["random-model", "--from", os.path.join(ASR, "config.json"), "--out", out,
                      "--tokenizer", ASR])
    mine = read_safetensors(os.path.join(out, "model.safetensors")) if rc == 0 else {}
    real = read_safetensors(os.path.join(ASR, "model.safetensors"))
    check("random-model (Qwen3-ASR): the fixture's tensors, bf16, preprocessor_config.json",
          rc == 0 and {k: v[1] for k, v in mine.items()} == {k: v[1] for k, v in real.items()}
          and all(v[0] == "BF16" for v in mine.values())
          and os.path.exists(os.path.join(out, "preprocessor_config.json")), "rc=%d err=%s" % (rc, err))
    rc, text, err = run(["transcribe", "--model", out, "--max-tokens", "4", "--device", "cpu",
                         os.path.join(GOLDEN, "audio", "speech.wav")])
    check("random-model (Qwen3-ASR): transcribe runs on it", rc == 0 and "real-time factor" in err,
          "rc=%d err=%s" % (rc, err))


BENCH = ["-p", "8,16", "-n", "4", "-d", "0,8", "-r", "2", "-t", "1"]
WANT = ["pp8", "pp16", "tg4", "pp8 @ d8", "pp16 @ d8", "tg4 @ d8"]


def table_rows(out):
    rows = [l.split("|")[1:-1] for l in out.splitlines() if l.startswith("| ") and "---" not in l]
    return [[c.strip() for c in r] for r in rows[1:]]   # without the header


def test_bench_table():
    rc, out, err = run(["bench", "-m", DENSE] + BENCH)
    rows = table_rows(out) if rc == 0 else []
    tests = [r[6] for r in rows]

    def ok_row(r):
        ts = r[7].split("±")
        return r[0] == "qwen3-dense" and r[3] == "cpu" and r[4] == "1" and r[5] == "none" \
            and float(ts[0]) > 0 and float(ts[1]) >= 0 and r[1].endswith("GiB") and r[2].endswith("M")
    check("bench: the table's rows", rc == 0 and tests == WANT and all(ok_row(r) for r in rows),
          "rc=%d out=%s err=%s" % (rc, out, err))
    check("bench: ceiling and peak after the table",
          rc == 0 and "decode ceiling" in out and "prefill peak" in out
          and out.count("% of the ceiling") == 2 and out.count("% of the peak") == 4, out)


def test_bench_json():
    rc, out, err = run(["bench", "-m", DENSE, "-o", "json", "--quant", "none,int8"] + BENCH)
    try:
        objs = json.loads(out)
    except ValueError:
        objs = []
    tests = [(8, 0, 0), (16, 0, 0), (0, 4, 0), (8, 0, 8), (16, 0, 8), (0, 4, 8)]
    ok = rc == 0 and [(o["quant"], o["n_prompt"], o["n_gen"], o["n_depth"]) for o in objs] == \
        [("none",) + t for t in tests] + [("int8",) + t for t in tests]
    # int8 weights are smaller than the f32 fixture's (its 16-wide rows fill
    # half of each 32-element group, so 53 %, not 27 %)
    ok = ok and objs[6]["model_size"] < objs[0]["model_size"] * 0.6
    ok = ok and all(o["avg_ts"] > 0 and o["model_size"] > 0 and o["model_n_params"] > 0 for o in objs)
    ok = ok and all(o["ceiling_ts"] > 0 and o["percent_of_ceiling"] > 0 for o in objs if o["n_gen"])
    ok = ok and all(o["peak_gflops"] > 0 and o["percent_of_peak"] > 0 for o in objs if o["n_prompt"])
    check("bench -o json", ok, "rc=%d out=%s err=%s" % (rc, out[:2000], err))


def test_bench_random(tmp):
    args = ["bench", "--random-from", os.path.join(DENSE, "config.json"), "--cache-dir", tmp,
            "--tokenizer", DENSE, "-p", "8", "-n", "2", "-r", "1", "-t", "1"]
    rc1, out1, err1 = run(args)
    rc2, out2, err2 = run(args)
    check("bench --random-from makes its snapshot once",
          rc1 == 0 and rc2 == 0 and "writing a random snapshot" in err1
          and "writing a random snapshot" not in err2 and "config (random)" in out2,
          "rc=%d,%d err1=%s err2=%s out=%s" % (rc1, rc2, err1, err2, out2))


def test_errors(tmp):
    cfg = os.path.join(DENSE, "config.json")
    for args, needles, env in (
            (["bench", "-m", DENSE, "-p", "8,x"], ["-p/--n-prompt", "integers"], None),
            (["bench", "-m", DENSE, "-t", "0"], ["-t/--threads", "from 1"], None),
            (["bench", "-m", DENSE, "--quant", "int3"], ["--quant", "int8"], None),
            (["bench", "-m", DENSE, "-o", "xml"], ["-o/--output", "md or json"], None),
            (["bench", "-m", DENSE, "-r", "0"], ["-r/--repetitions"], None),
            (["bench"], ["--random-from"], None),
            (["bench", "-m", "/nonexistent/model"], ["/nonexistent/model"], None),
            (["random-model", "--from", cfg], ["--out"], None),
            (["random-model", "--from", cfg, "--out", os.path.join(tmp, "x"), "--dtype", "f16"],
             ["--dtype", "bf16 or f32"], None),
            (["random-model", "--from", "/nonexistent/config.json", "--out", os.path.join(tmp, "y")],
             ["/nonexistent/config.json"], None),
            (["random-model", "--from", cfg, "--out", os.path.join(tmp, "z")], ["--tokenizer"],
             "drop")):
        rc, _, err = run(args, drop_env=("OMNI_SHARED_DIR",) if env == "drop" else ())
        check("error: %s" % " ".join(args[:1] + args[-2:]),
              rc != 0 and all(n.lower() in err.lower() for n in needles),
              "rc=%d err=%r want %r" % (rc, err, needles))


with tempfile.TemporaryDirectory() as tmpdir:
    test_random_model(tmpdir)
    test_random_asr(tmpdir)
    test_bench_table()
    test_bench_json()
    test_bench_random(tmpdir)
    test_errors(tmpdir)

print("1..%d" % len(results))
for n, (name, ok, detail) in enumerate(results, 1):
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name))
    if not ok:
        print("# " + detail.replace("\n", "\n# "))
sys.exit(0 if all(ok for _, ok, _ in results) else 1)
