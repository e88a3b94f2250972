#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The CUDA backend as a loadable module: libomnicore and the plugin link no
CUDA library; `omni generate` on cuda-emu prints the golden text; and with
libcudart / libcublasLt / libcudnn hidden (the dynamic loader run with
--inhibit-cache, so only the default system directories are searched, where
no CUDA library lives) --device auto falls back to the cpu with a log line
that says why, while --device cuda:0 fails naming the missing library.
Standard library only. Prints TAP.
Arguments: omni libomnicore.so libgstomni.so libomnicore-cuda.so"""
import json
import os
import re
import shutil
import subprocess
import sys

OMNI, CORE, PLUGIN, CUDA_MODULE = sys.argv[1:5]
GOLDEN = os.path.join(os.environ["OMNI_TEST_SRCDIR"], "golden")
CUDA_LIBS = re.compile(r"lib(cudart|cublas|cublasLt|cudnn|cuda)\b[^\s]*")
results = []


def check(name, ok, detail=""):
    results.append((name, ok, detail))


def readelf(args, path):
    return subprocess.run(["readelf"] + args + [path], capture_output=True, text=True, check=True).stdout


def needed(path):
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf(["-d"], path))


def interpreter(path):
    m = re.search(r"Requesting program interpreter: ([^\]]+)\]", readelf(["-l"], path))
    return m.group(1)


LOADER = interpreter(OMNI)


def run(args, hidden=False, log=False):
    """Runs omni; with @log the core's info lines (GLib writes them to
    stdout) come before the generated text."""
    cmd = [OMNI] + args
    if hidden:
        cmd = [LOADER, "--inhibit-cache"] + cmd
    env = dict(os.environ, LC_ALL="C.UTF-8")
    env.pop("LD_LIBRARY_PATH", None)
    env.pop("G_MESSAGES_DEBUG", None)
    if log:
        env["G_MESSAGES_DEBUG"] = "omnicore"
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return p.returncode, p.stdout, p.stderr


def golden_args(model, device):
    d = os.path.join(GOLDEN, model)
    g = json.load(open(os.path.join(d, "golden.json"), encoding="utf-8"))
    args = ["generate", "--model", d, "--prompt", g["prompt"], "--max-tokens", str(len(g["greedy_ids"])),
            "--temperature", "0", "--device", device]
    if g["system"]:
        args += ["--system", g["system"]]
    return args, g["greedy_text"] + "\n"


# 1. Nothing in the core or the plugin links CUDA.
for path in (CORE, PLUGIN):
    libs = needed(path)
    bad = [l for l in libs if CUDA_LIBS.search(l)]
    check("%s links no CUDA library" % os.path.basename(path), libs and not bad, "NEEDED: %s" % libs)
check("libomnicore-cuda.so links libcudart", "libcudart.so.13" in " ".join(needed(CUDA_MODULE)) or
      any(l.startswith("libcudart") for l in needed(CUDA_MODULE)), str(needed(CUDA_MODULE)))

# 2. The hiding works: the loader, without its cache, does not find them.
p = subprocess.run([LOADER, "--inhibit-cache", "--list", CUDA_MODULE], capture_output=True, text=True)
missing = re.findall(r"(lib\S+)(?: => not found|: cannot open shared object file)", p.stdout + p.stderr)
check("hidden: the loader cannot find the CUDA libraries", any(CUDA_LIBS.search(m) for m in missing),
      p.stdout + p.stderr)

# The plugin loads with them hidden (in-process scan, private registry).
inspect = shutil.which("gst-inspect-1.0")
if inspect:
    env = dict(os.environ, GST_REGISTRY_FORK="no",
               GST_REGISTRY_1_0=os.path.join(os.environ.get("OMNI_TEST_BUILDDIR", "."), "hidden-registry.bin"))
    # a sanitizer build of the plugin in the (uninstrumented) gst-inspect:
    # its runtime must come first, and GStreamer's own leaks are not ours
    asan = [l for l in needed(PLUGIN) if l.startswith("libasan")]
    if asan:
        env["LD_PRELOAD"] = asan[0]
        env["ASAN_OPTIONS"] = "detect_leaks=0"
    p = subprocess.run([interpreter(inspect), "--inhibit-cache", inspect, PLUGIN], capture_output=True,
                       text=True, env=env)
    check("hidden: gst-inspect-1.0 loads the omni plugin", p.returncode == 0 and "omni" in p.stdout,
          "rc=%d out=%s err=%s" % (p.returncode, p.stdout[-1000:], p.stderr[-1000:]))

# 3. cuda-emu prints the golden text, libraries hidden or not (it needs none).
for model in ("qwen3-dense", "qwen3-dense-bf16", "qwen3-moe"):
    args, want = golden_args(model, "cuda-emu")
    rc, out, err = run(args)
    check("generate --device cuda-emu %s" % model, rc == 0 and out == want,
          "rc=%d out=%r want=%r err=%s" % (rc, out, want, err[-2000:]))
args, want = golden_args("qwen3-dense", "cuda-emu")
rc, out, err = run(args, hidden=True)
check("hidden: generate --device cuda-emu", rc == 0 and out == want, "rc=%d out=%r err=%s" % (rc, out, err[-2000:]))

# 4. Hidden: auto falls back to the cpu and says why; cuda:0 names the library.
args, want = golden_args("qwen3-dense", "auto")
rc, out, err = run(args, hidden=True)
check("hidden: generate --device auto runs on the cpu", rc == 0 and out == want,
      "rc=%d out=%r err=%s" % (rc, out, err[-2000:]))
rc, out, err = run(args, hidden=True, log=True)
check("hidden: the log says auto chose the cpu because CUDA could not be loaded",
      out.endswith(want) and re.search(r"device auto \(no CUDA: .*could not be loaded.*"
                                       r"lib(cudart|cublasLt|cudnn)[^)]*\): using the cpu backend", out),
      out[-3000:])
args, _ = golden_args("qwen3-dense", "cuda:0")
rc, out, err = run(args, hidden=True)
check("hidden: --device cuda:0 fails naming the CUDA library",
      rc != 0 and "CUDA runtime could not be loaded" in err and
      re.search(r"lib(cudart|cublasLt|cudnn)\S*\.so", err) is not None, "rc=%d err=%s" % (rc, err[-2000:]))

# 5. Libraries present but no GPU (this machine, CI): auto -> cpu, cuda:0 -> no device.
rc, out, err = run(golden_args("qwen3-dense", "auto")[0], log=True)
check("no GPU: generate --device auto runs on the cpu and says why", rc == 0 and out.endswith(want) and
      re.search(r"device auto \(no CUDA: .*\): using the cpu backend", out),
      "rc=%d out=%r err=%s" % (rc, out[-3000:], err[-2000:]))
rc, out, err = run(golden_args("qwen3-dense", "cuda:0")[0])
check("no GPU: --device cuda:0 fails", rc != 0 and "cuda:0" in err and
      ("no CUDA device" in err or "could not be loaded" in err), "rc=%d err=%s" % (rc, err[-2000:]))

print("1..%d" % len(results))
for i, (name, ok, detail) in enumerate(results, 1):
    print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
    if not ok:
        for line in str(detail).splitlines():
            print("# " + line)
sys.exit(0 if all(ok for _, ok, _ in results) else 1)
