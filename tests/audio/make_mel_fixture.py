#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Makes the mel fixtures of tests/audio (development tool; CI never runs it).

Real audio is made on the spot: espeak-ng speech, sox tones, sweeps and noise,
silence. Each clip is stored as a 16 kHz 16-bit mono WAV (the float32 samples
transformers sees are exactly int16 / 32768, which our WAV reader also
returns), and the features of transformers' WhisperFeatureExtractor, called as
the Qwen3-Omni processor calls it for one clip (padding=True, truncation=False,
return_attention_mask=True), are stored in mel-expected.safetensors:

  <clip>.torch   [128, k] f32  the torch path (what runs when torch is installed)
  <clip>.numpy   [128, k] f32  the float64 numpy path (no torch)
  <clip>.frames  [k]      i32  which frames those columns are (all, or every
                               8th and the last for the 30 s clip)
  <clip>.n_frames [1]     i32  frames of the whole clip (attention-mask sum)
  mel_filters    [201, 128] f32 the filter bank as the torch path uses it

plus asr-0.3s.* from Qwen3ASRFeatureExtractor (see below). It also remakes the
three small sox-made WAVs the reader test cross-checks (sox-*.wav) with sox's
own float conversion of them (sox-*.f32, interleaved channels).

asr-0.3s.* from Qwen3ASRFeatureExtractor (zero-pads to 8000 samples;
stored before its own padding of the mel axis to a multiple of 100 frames).

Needs: apt-get install espeak-ng sox; torch, transformers, numpy, safetensors.
Run from anywhere: python3 tests/audio/make_mel_fixture.py
"""
import json, os, subprocess, sys, tempfile, wave

import numpy as np
import torch
import transformers
from safetensors.numpy import save_file
from transformers import WhisperFeatureExtractor
from transformers.models.whisper import feature_extraction_whisper as fe_mod
from transformers.models.qwen3_asr.feature_extraction_qwen3_asr import Qwen3ASRFeatureExtractor

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
SR = 16000


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def read16(path):
    with wave.open(path) as w:
        assert w.getframerate() == SR and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").copy()


def sox_synth(tmp, name, seconds, *effects):
    path = os.path.join(tmp, name + ".wav")
    run("sox", "-R", "-n", "-r", str(SR), "-c", "1", "-b", "16", path,
        "synth", str(seconds), *effects)
    return read16(path)


def speech(tmp, name, text, voice="en"):
    raw = os.path.join(tmp, name + "-raw.wav")
    path = os.path.join(tmp, name + ".wav")
    run("espeak-ng", "-v", voice, "-w", raw, text)
    # 16 kHz, leading silence trimmed so short clips hold speech
    run("sox", "-R", raw, "-r", str(SR), "-b", "16", path, "silence", "1", "0.01", "0.5%")
    return read16(path)


def fit(x, n):
    x = x[:n]
    return np.concatenate([x, np.zeros(n - len(x), np.int16)])


def make_clips(tmp):
    s1 = speech(tmp, "yes", "Yes, exactly.")
    s2 = speech(tmp, "fox", "The quick brown fox jumps over the lazy dog, "
                "then counts to seven hundred and seventy seven.")
    s3 = speech(tmp, "de", "Guten Morgen! Wie spät ist es in Berlin?", "de")
    tone = sox_synth(tmp, "tone", 1, "sine", "440", "vol", "0.4")
    pink = sox_synth(tmp, "pink", 1, "pinknoise", "vol", "0.1")
    sweep = sox_synth(tmp, "sweep", 5, "sine", "100-7900", "vol", "0.3")
    white = sox_synth(tmp, "white", 3, "whitenoise", "vol", "0.02")
    chord = sox_synth(tmp, "chord", 2, "sine", "300", "sine", "2500", "vol", "0.25")
    mix1 = np.clip(tone.astype(np.int32) + pink, -32768, 32767).astype(np.int16)
    c30 = np.concatenate([s2, np.zeros(2 * SR, np.int16), sweep, white, chord, s3, s1])
    return {
        "clip-0.3s": fit(s1, int(0.3 * SR)),
        "clip-1s": fit(mix1, SR),
        "clip-7.77s": fit(s2, int(7.77 * SR)),
        "clip-30s": fit(c30, 30 * SR),
        # length not a multiple of the hop: the mask trim and the partial frame
        "clip-odd": fit(s3, 8417),
    }


def write16(path, x):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(x.astype("<i2").tobytes())


def extract(fe, pcm, use_torch):
    saved = fe_mod.is_torch_available
    fe_mod.is_torch_available = (lambda: True) if use_torch else (lambda: False)
    try:
        out = fe([pcm], sampling_rate=SR, padding=True, truncation=False,
                 return_attention_mask=True, return_tensors="np")
    finally:
        fe_mod.is_torch_available = saved
    return out["input_features"][0].astype(np.float32), int(out["attention_mask"][0].sum())


SOX_WAVS = {
    "sox-s24-stereo-44k1": ["-r", "44100", "-c", "2", "-b", "24", "synth", "0.01",
                            "sine", "1000", "sine", "300", "vol", "0.8"],
    "sox-f32-3ch-48k": ["-r", "48000", "-c", "3", "-e", "floating-point", "-b", "32",
                        "synth", "0.01", "sine", "500", "sine", "1500", "whitenoise",
                        "vol", "0.5"],
    "sox-u8-mono-8k": ["-r", "8000", "-c", "1", "-b", "8", "-e", "unsigned", "synth",
                       "0.02", "sine", "400", "vol", "0.7"],
}


def make_sox_wavs():
    for stem, args in SOX_WAVS.items():
        wav = os.path.join(DATA, stem + ".wav")
        opts, effects = args[:args.index("synth")], args[args.index("synth"):]
        run("sox", "-R", "-n", *opts, wav, *effects)
        run("sox", wav, "-t", "f32", "-e", "floating-point", os.path.join(DATA, stem + ".f32"))


def main():
    make_sox_wavs()
    fe = WhisperFeatureExtractor.from_pretrained(DATA)
    assert fe.feature_size == 128 and fe.n_fft == 400 and fe.hop_length == 160
    tensors = {"mel_filters": fe.mel_filters.astype(np.float32)}
    report = {"transformers": transformers.__version__, "torch": torch.__version__,
              "numpy": np.__version__, "clips": {}}
    with tempfile.TemporaryDirectory() as tmp:
        clips = make_clips(tmp)
    for name, x16 in clips.items():
        write16(os.path.join(DATA, name + ".wav"), x16)
        pcm = x16.astype(np.float32) / 32768.0
        ft, n = extract(fe, pcm, True)
        fn, n2 = extract(fe, pcm, False)
        assert ft.shape == (128, len(pcm) // 160) == fn.shape and n == n2 == len(pcm) // 160
        frames = np.arange(ft.shape[1])
        if name == "clip-30s":
            frames = np.unique(np.append(frames[::8], frames[-1]))
        tensors[name + ".torch"] = np.ascontiguousarray(ft[:, frames])
        tensors[name + ".numpy"] = np.ascontiguousarray(fn[:, frames])
        tensors[name + ".frames"] = frames.astype(np.int32)
        tensors[name + ".n_frames"] = np.array([n], np.int32)
        report["clips"][name] = {"samples": len(pcm), "frames": n,
                                 "max_abs_torch_vs_numpy": float(np.abs(ft - fn).max())}

    # silence: every feature is (log10(1e-10) + 4) / 4 = -1.5
    zeros = np.zeros(SR, np.float32)
    for use_torch in (True, False):
        f, _ = extract(fe, zeros, use_torch)
        assert np.all(f == np.float32(-1.5)), f
    report["silence"] = -1.5

    # Qwen3-ASR: short clips are zero-padded to min_length samples first
    asr = Qwen3ASRFeatureExtractor()
    pcm = clips["clip-0.3s"].astype(np.float32) / 32768.0
    out = asr([pcm], sampling_rate=SR, padding=True, truncation=False,
              return_attention_mask=True, return_tensors="np")
    feats = np.asarray(out["input_features"])[0]
    n = int(np.asarray(out["attention_mask"])[0].sum())
    assert n == asr.min_length // 160 and feats.shape[1] % 100 == 0
    padded = np.concatenate([pcm, np.zeros(asr.min_length - len(pcm), np.float32)])
    fn, _ = extract(fe, padded, False)
    tensors["asr-0.3s.torch"] = np.ascontiguousarray(feats[:, :n].astype(np.float32))
    tensors["asr-0.3s.numpy"] = np.ascontiguousarray(fn)
    tensors["asr-0.3s.frames"] = np.arange(n, dtype=np.int32)
    tensors["asr-0.3s.n_frames"] = np.array([n], np.int32)
    report["asr-0.3s"] = {"min_length": asr.min_length, "frames": n,
                          "padded_frames": int(feats.shape[1])}

    save_file(tensors, os.path.join(DATA, "mel-expected.safetensors"),
              metadata={"transformers": transformers.__version__})
    with open(os.path.join(DATA, "mel-expected.json"), "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    sys.exit(main())
